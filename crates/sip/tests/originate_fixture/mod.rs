//! Shared setup of the originated-call tests (originate.rs, originate_refer.rs): the B2BUA X
//! and a scripted far end B on the simulated network, originating a call, and reading the
//! B2BUA's events and the requests on the wire.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use switchboard_sip::{CallEvent, CallKey, Transport, TxEvent};
use switchboard_sip_message::{parse_datagram, Limits, Message, Method, NameAddr, Request, Uri};

use crate::sim::{addr, B2buaNode, NetConfig, SimNet, Ua};

pub const A: &str = "10.0.0.1:5060";
pub const X: &str = "10.0.0.5:5060";
pub const B: &str = "10.0.0.2:5060";
/// Nobody listens here.
pub const VOID: &str = "10.0.0.99:5060";

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// X and a scripted far end B (answers 200 after `answer_after`, ringing first).
pub fn pair(
    seed: u64,
    cfg: NetConfig,
    final_status: Option<(u16, Duration)>,
) -> (SimNet, usize, usize) {
    let mut net = SimNet::new(seed, cfg);
    let e = net.epoch;
    let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), seed + 1, e)));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, seed + 2, e)));
    net.node::<Ua>(b).script.invite_final = final_status;
    (net, x, b)
}

pub fn caller_id() -> NameAddr {
    NameAddr::parse("\"Support\" <sip:support@example.com>;tag=stale").expect("from")
}

pub fn originate_to(net: &mut SimNet, x: usize, dest: &str, extra: &[(String, String)]) -> CallKey {
    let now = net.now;
    let target = Uri::parse(&format!("sip:customer@{dest}")).expect("uri");
    net.node::<B2buaNode>(x)
        .core
        .originate(
            now,
            target,
            addr(dest),
            Transport::Udp,
            caller_id(),
            Bytes::from_static(b"v=0\r\na=callback\r\n"),
            extra,
        )
        .expect("originate")
}

pub fn originate(net: &mut SimNet, x: usize) -> CallKey {
    originate_to(net, x, B, &[])
}

/// The B2BUA's events for `call`, in order.
pub fn events_of(net: &mut SimNet, x: usize, call: CallKey) -> Vec<CallEvent> {
    net.node::<B2buaNode>(x)
        .events
        .iter()
        .map(|(_, e)| e.clone())
        .filter(|e| event_call(e) == Some(call))
        .collect()
}

pub fn event_call(e: &CallEvent) -> Option<CallKey> {
    match e {
        CallEvent::Incoming { call, .. }
        | CallEvent::Progress { call, .. }
        | CallEvent::AnswerFromB { call, .. }
        | CallEvent::BFailed { call, .. }
        | CallEvent::LegConfirmed { call, .. }
        | CallEvent::Reinvite { call, .. }
        | CallEvent::InDialogRequest { call, .. }
        | CallEvent::InDialogResponse { call, .. }
        | CallEvent::BHungUp { call }
        | CallEvent::Ended { call, .. } => Some(*call),
        _ => None,
    }
}

/// A short name per event, to compare sequences.
pub fn names(evs: &[CallEvent]) -> Vec<String> {
    evs.iter()
        .map(|e| match e {
            CallEvent::Progress { status, .. } => format!("Progress({})", status.0),
            CallEvent::AnswerFromB { .. } => "AnswerFromB".into(),
            CallEvent::BFailed { status, .. } => format!("BFailed({})", status.0),
            CallEvent::LegConfirmed { leg, .. } => format!("LegConfirmed({leg:?})"),
            CallEvent::Ended { reason, .. } => format!("Ended({reason:?})"),
            CallEvent::InDialogRequest { req, leg, .. } => {
                format!("InDialogRequest({},{leg:?})", req.method.as_str())
            }
            CallEvent::InDialogResponse { resp, .. } => {
                format!("InDialogResponse({})", resp.status.0)
            }
            other => format!("{other:?}"),
        })
        .collect()
}

pub fn request_on_wire(net: &SimNet, from: &str, method: &str) -> Vec<Request> {
    net.sent_by(addr(from), method)
        .iter()
        .filter_map(|w| match parse_datagram(&w.bytes, &Limits::default()) {
            Ok(Message::Request(r)) => Some(r),
            _ => None,
        })
        .collect()
}

pub fn is_new(method: Method) -> impl Fn(&TxEvent) -> bool {
    move |e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == method)
}
