//! Originated calls through a peer that challenges INVITEs (a carrier's 407): the core
//! re-sends the INVITE with the responder's credentials (next CSeq, same Call-ID and From
//! tag), and a responder that gives up makes the challenge the call's failure.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::{addr, B2buaNode, NetConfig, SimNet, Ua};
use switchboard_sip::{CallEvent, CallKey, ChallengeResponder, Transport};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Message, NameAddr, Request, Response, Uri,
};

const X: &str = "10.0.0.5:5060";
const B: &str = "10.0.0.2:5060";

#[derive(Debug)]
struct Fixed {
    left: u32,
}

impl ChallengeResponder for Fixed {
    fn respond(&mut self, invite: &Request, challenge: &Response) -> Option<(HeaderName, String)> {
        assert_eq!(challenge.status.0, 407);
        assert!(invite.headers.get(&HeaderName::Via).is_some(), "as sent");
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        Some((
            HeaderName::ProxyAuthorization,
            r#"Digest username="acct", realm="carrier", nonce="n1", uri="sip:x", response="0""#
                .to_owned(),
        ))
    }
}

fn run(left: u32) -> (SimNet, usize, CallKey) {
    let mut net = SimNet::new(7, NetConfig::default());
    let e = net.epoch;
    let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), 8, e)));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 9, e)));
    net.node::<Ua>(b).script.challenge_invites = true;
    let now = net.now;
    let call = net
        .node::<B2buaNode>(x)
        .core
        .originate_with_auth(
            now,
            Uri::parse(&format!("sip:+74951234567@{B}")).expect("uri"),
            addr(B),
            Transport::Udp,
            NameAddr::parse("<sip:+74950000000@example.com>").expect("from"),
            Bytes::from_static(b"v=0\r\n"),
            &[],
            Box::new(Fixed { left }),
        )
        .expect("originate");
    net.run_for(Duration::from_secs(40));
    (net, x, call)
}

fn invites(net: &SimNet) -> Vec<Request> {
    net.sent_by(addr(X), "INVITE")
        .iter()
        .filter_map(|w| match parse_datagram(&w.bytes, &Limits::default()) {
            Ok(Message::Request(r)) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn a_challenged_invite_is_resent_with_credentials_and_answered() {
    let (mut net, x, call) = run(1);
    let inv = invites(&net);
    assert_eq!(inv.len(), 2, "the first INVITE and the authenticated one");
    let (a, b) = (&inv[0], &inv[1]);
    assert!(a.headers.get(&HeaderName::ProxyAuthorization).is_none());
    assert!(b.headers.get(&HeaderName::ProxyAuthorization).is_some());
    assert_eq!(a.headers.call_id().unwrap(), b.headers.call_id().unwrap());
    assert_eq!(
        a.headers.from().unwrap().tag(),
        b.headers.from().unwrap().tag()
    );
    assert_eq!(
        b.headers.cseq().unwrap().seq,
        a.headers.cseq().unwrap().seq + 1
    );
    assert_ne!(
        a.headers.top_via().unwrap().branch(),
        b.headers.top_via().unwrap().branch(),
        "a new transaction"
    );
    assert_eq!(b.headers.get_all(&HeaderName::Via).count(), 1);
    assert_eq!(
        net.sent_by(addr(X), "ACK").len(),
        2,
        "ACK for 407 and for 200"
    );
    let evs: Vec<CallEvent> = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert!(evs
        .iter()
        .any(|e| matches!(e, CallEvent::AnswerFromB { call: c, .. } if *c == call)));
    assert!(!evs.iter().any(|e| matches!(e, CallEvent::BFailed { .. })));
}

#[test]
fn a_responder_that_gives_up_fails_the_call_with_the_challenge() {
    let (mut net, x, call) = run(0);
    assert_eq!(invites(&net).len(), 1);
    let failed = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .any(|(_, e)| matches!(e, CallEvent::BFailed { call: c, status } if *c == call && status.0 == 407));
    assert!(failed);
}

#[test]
fn a_plain_request_reports_its_final_response_once_or_a_timeout() {
    let mut net = SimNet::new(11, NetConfig::default());
    let e = net.epoch;
    let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), 12, e)));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 13, e)));
    net.node::<Ua>(b).script.non_invite = Some(401);
    let mk = || {
        let mut r = Request::new(
            switchboard_sip_message::Method::Register,
            Uri::parse("sip:carrier").unwrap(),
        );
        r.headers.push(HeaderName::From, "<sip:a@carrier>;tag=1");
        r.headers.push(HeaderName::To, "<sip:a@carrier>");
        r.headers.push(HeaderName::CallId, "reg-1");
        r.headers.push(HeaderName::CSeq, "1 REGISTER");
        r
    };
    let now = net.now;
    let tx = net
        .node::<B2buaNode>(x)
        .core
        .send_request(now, addr(B), Transport::Udp, mk())
        .expect("send");
    let void = net
        .node::<B2buaNode>(x)
        .core
        .send_request(now, addr("10.0.0.99:5060"), Transport::Udp, mk())
        .expect("send");
    net.run_for(Duration::from_secs(40));
    let results: Vec<(u16, bool)> = net
        .node::<B2buaNode>(x)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            CallEvent::RequestResult {
                tx: t,
                status,
                resp,
            } if *t == tx || *t == void => Some((status.0, resp.is_some())),
            _ => None,
        })
        .collect();
    assert_eq!(results, vec![(401, true), (408, false)]);
}
