//! B2BUA calls end to end on the simulated network: caller A, the B2BUA X, callee B.

mod sim;

use std::time::Duration;

use bytes::Bytes;
use sim::{addr, B2buaNode, NetConfig, SimNet, Ua};
use switchboard_sip::{CallEvent, EndReason, Leg, Transport, TxEvent};
use switchboard_sip_message::{parse_datagram, HeaderName, Limits, Message, Method};

const A: &str = "10.0.0.1:5060";
const X: &str = "10.0.0.5:5060";
const B: &str = "10.0.0.2:5060";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn trio(seed: u64, cfg: NetConfig) -> (SimNet, usize, usize, usize) {
    let mut net = SimNet::new(seed, cfg);
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, seed, e)));
    let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), seed + 1, e)));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, seed + 2, e)));
    net.node::<Ua>(b).script.invite_final = Some((200, secs(1)));
    (net, a, x, b)
}

fn call_id(bytes: &Bytes) -> String {
    match parse_datagram(bytes, &Limits::default()) {
        Ok(Message::Request(r)) => r.headers.call_id().unwrap_or("").to_string(),
        _ => String::new(),
    }
}

fn body_of_response(net: &SimNet, from: &str, cseq: &str) -> Option<Bytes> {
    net.sent_by(addr(from), "SIP/2.0 200")
        .iter()
        .filter(|w| w.cseq == cseq && !w.dropped)
        .find_map(|w| match parse_datagram(&w.bytes, &Limits::default()) {
            Ok(Message::Response(r)) => Some(r.body),
            _ => None,
        })
}

#[test]
fn full_call_relays_answer_acks_and_bye_under_10_percent_loss() {
    let mut dropped = 0;
    for seed in 0..20 {
        let cfg = NetConfig {
            latency: Duration::from_millis(25),
            jitter: Duration::from_millis(10),
            loss: 0.10,
            duplicate: 0.0,
        };
        let (mut net, a, x, b) = trio(seed, cfg);
        let now = net.now;
        let k = net.node::<Ua>(a).invite(now, addr(X));
        let answered = net.run_until(secs(64), |n| n.node::<Ua>(a).responses(k).contains(&200));
        assert!(answered, "seed {seed}: A never got the 200");
        // Let the ACKs settle, then A hangs up.
        net.run_until(secs(64), |n| {
            let xn = n.node::<B2buaNode>(x);
            xn.has_event(|e| matches!(e, CallEvent::LegConfirmed { leg: Leg::A, .. }))
        });
        let da = *net.node::<Ua>(a).peers.keys().next().expect("A dialog");
        let now = net.now;
        let bye = net.node::<Ua>(a).bye(now, da);
        let done = net.run_until(secs(64), |n| {
            n.node::<Ua>(a).responses(bye).contains(&200)
                && n.node::<Ua>(b).has_event(
                    |e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye),
                )
        });
        assert!(done, "seed {seed}: BYE did not cross");
        net.run_for(secs(70));

        let xn = net.node::<B2buaNode>(x);
        assert!(
            xn.has_event(|e| matches!(e, CallEvent::LegConfirmed { leg: Leg::B, .. })),
            "seed {seed}"
        );
        assert!(
            xn.has_event(|e| matches!(e, CallEvent::LegConfirmed { leg: Leg::A, .. })),
            "seed {seed}"
        );
        assert!(
            xn.has_event(|e| matches!(
                e,
                CallEvent::Ended {
                    reason: EndReason::Bye(Leg::A),
                    ..
                }
            )),
            "seed {seed}"
        );
        assert!(xn.core.is_empty(), "seed {seed}: call not cleaned up");
        assert!(
            xn.core.transactions().is_empty(),
            "seed {seed}: transactions left"
        );
        assert!(xn.core.dialogs().is_empty(), "seed {seed}: dialogs left");

        // Independent Call-IDs per leg, SDP passed through the media hook both ways.
        let inv_a = net.sent_by(addr(A), "INVITE")[0].bytes.clone();
        let inv_b = net.sent_by(addr(X), "INVITE")[0].bytes.clone();
        assert_ne!(call_id(&inv_a), call_id(&inv_b), "seed {seed}");
        let b_offer = String::from_utf8_lossy(&inv_b).into_owned();
        assert!(b_offer.contains("a=anchored-b"), "seed {seed}");
        let a_answer = body_of_response(&net, X, "INVITE").expect("200 to A");
        assert!(
            String::from_utf8_lossy(&a_answer).contains("a=anchored-a"),
            "seed {seed}"
        );
        let finals: Vec<u16> = net
            .node::<Ua>(a)
            .responses(k)
            .into_iter()
            .filter(|s| *s >= 200)
            .collect();
        assert_eq!(finals, vec![200], "seed {seed}");
        dropped += net.wire.iter().filter(|w| w.dropped).count();
    }
    assert!(
        dropped > 20,
        "the loss model dropped only {dropped} packets"
    );
}

#[test]
fn a_cancels_then_b_is_cancelled_and_a_gets_487() {
    let (mut net, a, x, b) = trio(50, NetConfig::default());
    net.node::<Ua>(b).script.invite_final = None;
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    assert!(net.run_until(secs(5), |n| n.node::<Ua>(a).responses(k).contains(&180)));
    let now = net.now;
    net.node::<Ua>(a).tl.cancel(now, k).expect("cancel");
    net.run_for(secs(60));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 487]);
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::Cancelled { .. })));
    assert_eq!(net.sent_by(addr(B), "SIP/2.0 487").len(), 1);
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(
        e,
        CallEvent::Ended {
            reason: EndReason::Cancelled,
            ..
        }
    )));
    assert!(xn.core.is_empty());
}

#[test]
fn b_answering_after_a_cancelled_gets_ack_and_bye() {
    let cfg = NetConfig {
        latency: Duration::from_millis(50),
        ..NetConfig::default()
    };
    let (mut net, a, x, b) = trio(51, cfg);
    net.node::<Ua>(b).script.invite_final = Some((200, Duration::from_millis(300)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    assert!(net.run_until(secs(5), |n| n.node::<Ua>(a).responses(k).contains(&180)));
    // B's 200 leaves B 300 ms after the INVITE reached it; the CANCEL to B arrives later.
    net.run_for(Duration::from_millis(200));
    let now = net.now;
    net.node::<Ua>(a).tl.cancel(now, k).expect("cancel");
    net.run_for(secs(60));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 487]);
    let ub = net.node::<Ua>(b);
    assert!(
        ub.has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })),
        "X ACKs the late 200"
    );
    assert!(
        ub.has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)),
        "then BYEs B"
    );
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn b_rejection_is_relayed_to_a() {
    let (mut net, a, x, b) = trio(52, NetConfig::default());
    net.node::<Ua>(b).script.invite_final = Some((486, Duration::from_millis(500)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(60));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 486]);
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::BFailed { status, .. } if status.0 == 486)));
    assert!(xn.has_event(
        |e| matches!(e, CallEvent::Ended { reason: EndReason::Rejected(s), .. } if s.0 == 486)
    ));
    assert!(xn.core.is_empty());
}

#[test]
fn bye_from_b_reaches_a() {
    let (mut net, a, x, b) = trio(53, NetConfig::default());
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    let db = *net.node::<Ua>(b).peers.keys().next().expect("B dialog");
    let now = net.now;
    let bye = net.node::<Ua>(b).bye(now, db);
    net.run_for(secs(60));
    assert_eq!(net.node::<Ua>(b).responses(bye), vec![200]);
    assert!(net
        .node::<Ua>(a)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    assert_eq!(
        net.sent_by(addr(A), "SIP/2.0 200").len(),
        1,
        "A answers the relayed BYE"
    );
    assert!(net.node::<B2buaNode>(x).has_event(|e| matches!(
        e,
        CallEvent::Ended {
            reason: EndReason::Bye(Leg::B),
            ..
        }
    )));
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn reinvite_for_hold_surfaces_the_sdp_and_is_answered() {
    let (mut net, a, x, _b) = trio(54, NetConfig::default());
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    let da = *net.node::<Ua>(a).peers.keys().next().expect("A dialog");
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let mut reinv = ua
        .dialogs
        .get_mut(da)
        .expect("dialog")
        .request(Method::Invite);
    reinv
        .headers
        .push(HeaderName::ContentType, "application/sdp");
    reinv.body = Bytes::from_static(b"v=0\r\na=sendonly\r\n");
    let k = ua.send(now, addr(X), reinv);
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 200]);
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::Reinvite { leg: Leg::A, sdp, .. } if sdp.ends_with(b"a=sendonly\r\n"))));
    assert!(!xn.has_event(|e| matches!(e, CallEvent::Ended { .. })));
    let acks = net.sent_by(addr(A), "ACK").len();
    assert_eq!(
        acks, 2,
        "ACK for the initial 200 and for the re-INVITE's 200"
    );
}

#[test]
fn b2bua_answers_options_and_rejects_unsupported_require() {
    let (mut net, a, x, _b) = trio(55, NetConfig::default());
    let now = net.now;
    let ua = net.node::<Ua>(a);
    let opt = ua.request(Method::Options, addr(X));
    let ko = ua.send(now, addr(X), opt);
    let mut inv = ua.request(Method::Invite, addr(X));
    inv.headers.push(HeaderName::Require, "100rel, timer-x");
    let ki = ua.send(now, addr(X), inv);
    net.run_for(secs(40));
    assert_eq!(net.node::<Ua>(a).responses(ko), vec![200]);
    assert_eq!(net.node::<Ua>(a).responses(ki), vec![100, 420]);
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn ivr_answers_first_then_bridges_to_the_second_agent_after_the_first_rejects() {
    const B2: &str = "10.0.0.3:5060";
    let mut net = SimNet::new(56, NetConfig::default());
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, 1, e)));
    let x = net.add(Box::new(B2buaNode::ivr(
        addr(X),
        &[addr(B), addr(B2)],
        2,
        e,
    )));
    let b1 = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 3, e)));
    let b2 = net.add(Box::new(Ua::new(addr(B2), Transport::Udp, 4, e)));
    net.node::<Ua>(b1).script.invite_final = Some((486, Duration::from_millis(300)));
    net.node::<Ua>(b2).script.invite_final = Some((200, Duration::from_millis(300)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    // A was answered by the IVR before any agent was called, and stays up.
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 200]);
    let first_b_invite = net.sent_by(addr(X), "INVITE")[0].sent;
    let a_answer = net.sent_by(addr(X), "SIP/2.0 200")[0].sent;
    assert!(a_answer < first_b_invite);
    assert_eq!(net.sent_by(addr(B), "SIP/2.0 486").len(), 1);
    assert!(net
        .node::<Ua>(b2)
        .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })));
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::BFailed { status, .. } if status.0 == 486)));
    assert!(xn.has_event(|e| matches!(e, CallEvent::AnswerFromB { .. })));
    assert!(!xn.has_event(|e| matches!(e, CallEvent::Ended { .. })));
    assert_eq!(xn.core.len(), 1);
    // The caller hangs up: the BYE goes to the agent that answered.
    let da = *net.node::<Ua>(a).peers.keys().next().expect("A dialog");
    let now = net.now;
    net.node::<Ua>(a).bye(now, da);
    net.run_for(secs(60));
    assert!(net
        .node::<Ua>(b2)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    assert!(!net
        .node::<Ua>(b1)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

fn call_key(net: &mut SimNet, x: usize) -> switchboard_sip::CallKey {
    net.node::<B2buaNode>(x)
        .events
        .iter()
        .find_map(|(_, e)| match e {
            CallEvent::Incoming { call, .. } => Some(*call),
            _ => None,
        })
        .expect("a call")
}

#[test]
fn b2bua_reinvites_a_leg_and_acks_the_answer() {
    let (mut net, a, x, b) = trio(57, NetConfig::default());
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    let call = call_key(&mut net, x);
    let now = net.now;
    let tx = net
        .node::<B2buaNode>(x)
        .core
        .send_in_dialog(
            now,
            call,
            Leg::B,
            Method::Invite,
            Some(Bytes::from_static(b"v=0\r\na=sendonly\r\n")),
        )
        .expect("re-INVITE");
    net.run_for(secs(5));
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::InDialogResponse { tx: t, resp, .. } if *t == tx && resp.status.0 == 200)));
    let ub = net.node::<Ua>(b);
    let acks = ub
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::AckFor2xx { .. }))
        .count();
    assert_eq!(acks, 2, "initial INVITE and re-INVITE both ACKed");
    assert!(ub.has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Invite && req.body.ends_with(b"a=sendonly\r\n"))));
}

#[test]
fn reinvite_glare_gets_491_on_both_sides() {
    let (mut net, a, x, b) = trio(58, NetConfig::default());
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    let call = call_key(&mut net, x);
    let db = *net.node::<Ua>(b).peers.keys().next().expect("B dialog");
    let now = net.now;
    let tx = net
        .node::<B2buaNode>(x)
        .core
        .send_in_dialog(
            now,
            call,
            Leg::B,
            Method::Invite,
            Some(Bytes::from_static(b"v=0\r\n")),
        )
        .expect("re-INVITE");
    let ub = net.node::<Ua>(b);
    let mut reinv = ub
        .dialogs
        .get_mut(db)
        .expect("dialog")
        .request(Method::Invite);
    reinv
        .headers
        .push(HeaderName::ContentType, "application/sdp");
    reinv.body = Bytes::from_static(b"v=0\r\n");
    let kb = ub.send(now, addr(X), reinv);
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(b).responses(kb), vec![100, 491]);
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::InDialogResponse { tx: t, resp, .. } if *t == tx && resp.status.0 == 491)));
    assert!(
        !xn.has_event(|e| matches!(e, CallEvent::Reinvite { .. })),
        "the crossing re-INVITE never reaches the app"
    );
}

#[test]
fn early_media_from_b_is_reported_and_can_be_anchored_to_a() {
    let (mut net, a, x, b) = trio(59, NetConfig::default());
    net.node::<Ua>(b).script.invite_final = Some((200, secs(2)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(Duration::from_millis(500));
    let call = call_key(&mut net, x);
    let now = net.now;
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::Progress { status, sdp, .. } if status.0 == 180 && sdp.is_empty())));
    xn.core
        .progress_a(
            now,
            call,
            switchboard_sip_message::StatusCode::SESSION_PROGRESS,
            Some(Bytes::from_static(b"v=0\r\na=early\r\n")),
        )
        .expect("183");
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 183, 200]);
    let early = net.sent_by(addr(X), "SIP/2.0 183")[0].bytes.clone();
    assert!(String::from_utf8_lossy(&early).contains("a=early"));
    let now = net.now;
    let xn = net.node::<B2buaNode>(x);
    assert!(
        xn.core
            .progress_a(
                now,
                call,
                switchboard_sip_message::StatusCode::RINGING,
                None
            )
            .is_err(),
        "A already answered"
    );
}

#[test]
fn tcp_caller_udp_callee_call_completes_without_retransmissions_on_tcp() {
    let mut net = SimNet::new(60, NetConfig::default());
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Tcp, 1, e)));
    let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), 2, e)));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 3, e)));
    net.node::<Ua>(b).script.invite_final = Some((200, secs(1)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 200]);
    let da = *net.node::<Ua>(a).peers.keys().next().expect("A dialog");
    let now = net.now;
    net.node::<Ua>(a).bye(now, da);
    net.run_for(secs(60));
    // Everything between A and X went over TCP, once.
    let a_side: Vec<_> = net
        .wire
        .iter()
        .filter(|w| w.from == addr(A) || w.to == addr(A))
        .collect();
    assert!(a_side.iter().all(|w| w.transport == Transport::Tcp));
    assert_eq!(
        net.sent_by(addr(X), "SIP/2.0 200")
            .iter()
            .filter(|w| w.to == addr(A))
            .count(),
        2,
        "200 INVITE + 200 BYE, no retransmission"
    );
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn transport_error_on_a_releases_b() {
    let (mut net, a, x, b) = trio(61, NetConfig::default());
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    let call = call_key(&mut net, x);
    // X sends INFO to A and the driver reports that A is unreachable.
    let now = net.now;
    let xn = net.node::<B2buaNode>(x);
    let tx = xn
        .core
        .send_in_dialog(now, call, Leg::A, Method::Info, None)
        .expect("INFO");
    xn.core.handle_transport_error(now, tx);
    net.run_for(secs(60));
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(
        e,
        CallEvent::Ended {
            reason: EndReason::TransportError(Leg::A),
            ..
        }
    )));
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn agent_no_answer_is_cancelled_and_the_next_agent_is_tried() {
    const B2: &str = "10.0.0.3:5060";
    let mut net = SimNet::new(62, NetConfig::default());
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, 1, e)));
    let x = net.add(Box::new(B2buaNode::ivr(
        addr(X),
        &[addr(B), addr(B2)],
        2,
        e,
    )));
    let b1 = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 3, e)));
    let b2 = net.add(Box::new(Ua::new(addr(B2), Transport::Udp, 4, e)));
    net.node::<Ua>(b1).script.invite_final = None; // rings forever
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(15));
    let call = call_key(&mut net, x);
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .cancel_b(now, call)
        .expect("cancel B");
    net.run_for(secs(10));
    assert!(net
        .node::<Ua>(b1)
        .has_event(|e| matches!(e, TxEvent::Cancelled { .. })));
    assert!(
        net.node::<Ua>(b2)
            .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })),
        "next agent answered"
    );
    assert_eq!(
        net.node::<Ua>(a).responses(k),
        vec![100, 200],
        "A never saw the 487"
    );
    let now = net.now;
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::BFailed { status, .. } if status.0 == 487)));
    assert!(!xn.has_event(|e| matches!(e, CallEvent::Ended { .. })));
    assert!(xn.core.cancel_b(now, call).is_err(), "B is answered now");
}

#[test]
fn one_call_keeps_its_caller_when_the_agent_hangs_up_where_the_core_does_not() {
    use switchboard_sip::{B2bua, B2buaConfig, TxConfig, UasPolicy};
    let mut net = SimNet::new(64, NetConfig::default());
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, 1, e)));
    let mut node = B2buaNode::ivr(addr(X), &[addr(B)], 2, e);
    node.core = B2bua::new(
        B2buaConfig {
            tx: TxConfig::new(addr(X)),
            contact: switchboard_sip_message::NameAddr::parse(&format!("<sip:b2bua@{X}>"))
                .expect("contact"),
            policy: UasPolicy::default(),
            relay_failures: false,
            keep_a_when_b_hangs_up: false,
            session_timers: None,
        },
        2,
    );
    let x = net.add(Box::new(node));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 3, e)));
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    let call = call_key(&mut net, x);
    net.node::<B2buaNode>(x)
        .core
        .keep_a_when_b_hangs_up(call)
        .expect("live call");
    let db = *net.node::<Ua>(b).peers.keys().next().expect("B dialog");
    let now = net.now;
    net.node::<Ua>(b).bye(now, db);
    net.run_for(secs(5));
    assert!(net
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::BHungUp { .. })));
    assert!(!net
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::Ended { .. })));
    assert!(!net
        .node::<Ua>(a)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
}

#[test]
fn agent_hangup_keeps_the_caller_and_release_b_allows_a_new_agent() {
    const B2: &str = "10.0.0.3:5060";
    let mut net = SimNet::new(63, NetConfig::default());
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, 1, e)));
    let x = net.add(Box::new(B2buaNode::ivr(addr(X), &[addr(B)], 2, e)));
    let b1 = net.add(Box::new(Ua::new(addr(B), Transport::Udp, 3, e)));
    let b2 = net.add(Box::new(Ua::new(addr(B2), Transport::Udp, 4, e)));
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(X));
    net.run_for(secs(5));
    let call = call_key(&mut net, x);
    // The agent hangs up: A stays.
    let db = *net.node::<Ua>(b1).peers.keys().next().expect("B dialog");
    let now = net.now;
    let kb = net.node::<Ua>(b1).bye(now, db);
    net.run_for(secs(5));
    assert_eq!(net.node::<Ua>(b1).responses(kb), vec![200]);
    assert!(net
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::BHungUp { .. })));
    assert!(!net
        .node::<Ua>(a)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    // Bridge to a second agent, then release it from the application side.
    let now = net.now;
    let target = switchboard_sip_message::Uri::parse("sip:agent@10.0.0.3:5060").expect("uri");
    net.node::<B2buaNode>(x)
        .core
        .route(
            now,
            call,
            target,
            addr(B2),
            Transport::Udp,
            Bytes::from_static(b"v=0\r\n"),
        )
        .expect("route again");
    net.run_for(secs(5));
    assert!(net
        .node::<Ua>(b2)
        .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })));
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .release_b(now, call)
        .expect("release");
    net.run_for(secs(60));
    assert!(net
        .node::<Ua>(b2)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    assert!(!net
        .node::<Ua>(a)
        .has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye)));
    let xn = net.node::<B2buaNode>(x);
    assert!(!xn.has_event(|e| matches!(e, CallEvent::Ended { .. })));
    assert_eq!(xn.core.len(), 1, "A is still up");
}
