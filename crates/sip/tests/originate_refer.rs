//! In-dialog requests with arbitrary bodies on the simulated network: REFER from the far
//! end of an originated leg and of an inbound A leg, accepted with 202 and reported with a
//! NOTIFY (message/sipfrag).

mod originate_fixture;
mod sim;

use bytes::Bytes;
use originate_fixture::*;
use sim::{addr, B2buaNode, NetConfig, SimNet, Ua};
use switchboard_sip::{CallEvent, CallKey, Leg, Transport, TxEvent, TxKey};
use switchboard_sip_message::{HeaderName, Method, StatusCode};

/// `peer` sends REFER on its dialog with X; returns the REFER's client transaction.
fn send_refer(net: &mut SimNet, peer: usize) -> TxKey {
    let now = net.now;
    let ua = net.node::<Ua>(peer);
    let d = *ua.peers.keys().next().expect("peer dialog");
    let dest = ua.peers[&d];
    let mut req = ua
        .dialogs
        .get_mut(d)
        .expect("dialog")
        .request(Method::Refer);
    req.headers
        .push(HeaderName::ReferTo, "<sip:queue-2@10.0.0.5>");
    ua.send(now, dest, req)
}

/// X accepts the REFER reported on `leg` with 202 and reports success with a NOTIFY.
/// With `helper`, via `send_refer_notify` (a 100 Trying, then the final 200).
fn accept_refer_and_notify(
    net: &mut SimNet,
    x: usize,
    call: CallKey,
    leg: Leg,
    helper: bool,
) -> TxKey {
    assert!(net.run_until(secs(5), |n| {
        n.node::<B2buaNode>(x).has_event(|e| {
            matches!(e,
        CallEvent::InDialogRequest { req, leg: l, .. } if req.method == Method::Refer && *l == leg)
        })
    }));
    let (tx, refer_to) = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::InDialogRequest {
                call: c, tx, req, ..
            } if *c == call => Some((*tx, req.headers.refer_to().ok().flatten())),
            _ => None,
        })
        .expect("REFER event for this call");
    assert_eq!(
        refer_to.map(|r| r.uri.to_string()).as_deref(),
        Some("sip:queue-2@10.0.0.5")
    );
    let now = net.now;
    let core = &mut net.node::<B2buaNode>(x).core;
    core.respond(now, tx, StatusCode(202), None).expect("202");
    if helper {
        core.send_refer_notify(now, call, leg, StatusCode(100), false)
            .expect("NOTIFY 100");
        net.run_for(secs(2));
        let now = net.now;
        return net
            .node::<B2buaNode>(x)
            .core
            .send_refer_notify(now, call, leg, StatusCode::OK, true)
            .expect("NOTIFY 200");
    }
    let extra = vec![
        ("Event".to_string(), "refer".to_string()),
        (
            "Subscription-State".to_string(),
            "terminated;reason=noresource".to_string(),
        ),
        ("CSeq".to_string(), "999 NOTIFY".to_string()),
    ];
    core.send_in_dialog_with(
        now,
        call,
        leg,
        Method::Notify,
        Some((
            Bytes::from_static(b"SIP/2.0 200 OK\r\n"),
            "message/sipfrag;version=2.0",
        )),
        &extra,
    )
    .expect("NOTIFY")
}

fn check_notify(net: &mut SimNet, x: usize, peer: usize, refer: TxKey, notify: TxKey) {
    net.run_for(secs(40));
    assert_eq!(net.node::<Ua>(peer).responses(refer), vec![202]);
    // The last NOTIFY is the final report.
    let notify_req = net
        .node::<Ua>(peer)
        .events
        .iter()
        .rev()
        .find_map(|(_, e)| match e {
            TxEvent::NewRequest { req, .. } if req.method == Method::Notify => Some(req.clone()),
            _ => None,
        })
        .expect("peer got the NOTIFY");
    let h = &notify_req.headers;
    assert_eq!(h.get(&HeaderName::Event), Some("refer"));
    assert_eq!(
        h.get(&HeaderName::parse("Subscription-State")),
        Some("terminated;reason=noresource")
    );
    assert_eq!(h.content_type(), Some("message/sipfrag;version=2.0"));
    assert_eq!(&notify_req.body[..], b"SIP/2.0 200 OK\r\n");
    let cseq = h.cseq().expect("cseq");
    assert_eq!(cseq.method, Method::Notify);
    assert_ne!(cseq.seq, 999, "the dialog's CSeq, not the application's");
    assert_eq!(h.get_all(&HeaderName::CSeq).count(), 1);
    assert!(net.node::<B2buaNode>(x).has_event(|e| matches!(e,
        CallEvent::InDialogResponse { tx, resp, .. } if *tx == notify && resp.status.0 == 200)));
}

#[test]
fn refer_on_an_originated_leg_is_accepted_and_notified() {
    let (mut net, x, b) = pair(9, NetConfig::default(), Some((200, secs(1))));
    let call = originate(&mut net, x);
    assert!(net.run_until(secs(5), |n| n
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. }))));
    let refer = send_refer(&mut net, b);
    let notify = accept_refer_and_notify(&mut net, x, call, Leg::B, false);
    check_notify(&mut net, x, b, refer, notify);
    let evs = names(&events_of(&mut net, x, call));
    assert!(
        evs.contains(&"InDialogRequest(REFER,B)".to_string()),
        "{evs:?}"
    );
    assert!(
        !evs.iter().any(|e| e.starts_with("Ended")),
        "the call stays up: {evs:?}"
    );
}

#[test]
fn refer_on_an_inbound_a_leg_is_accepted_and_notified() {
    let mut net = SimNet::new(10, NetConfig::default());
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, 11, e)));
    let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), 12, e)));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 13, e)));
    net.node::<Ua>(b).script.invite_final = Some((200, secs(1)));
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    assert!(net.run_until(secs(10), |n| n
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::LegConfirmed { leg: Leg::A, .. }))));
    let call = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::Incoming { call, .. } => Some(*call),
            _ => None,
        })
        .expect("incoming");
    assert!(!net
        .node::<B2buaNode>(x)
        .core
        .call(call)
        .expect("call")
        .is_originated());
    let refer = send_refer(&mut net, a);
    let notify = accept_refer_and_notify(&mut net, x, call, Leg::A, true);
    check_notify(&mut net, x, a, refer, notify);
    let states: Vec<(String, Bytes)> = net
        .node::<Ua>(a)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            TxEvent::NewRequest { req, .. } if req.method == Method::Notify => Some((
                req.headers
                    .get(&HeaderName::parse("Subscription-State"))
                    .unwrap_or("")
                    .to_string(),
                req.body.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (
                "active;expires=60".to_string(),
                Bytes::from_static(b"SIP/2.0 100 Trying\r\n")
            ),
            (
                "terminated;reason=noresource".to_string(),
                Bytes::from_static(b"SIP/2.0 200 OK\r\n")
            ),
        ]
    );
}
