//! Originated calls (no A leg), end to end on the simulated network: the B2BUA X calls the
//! far end B. REFER/NOTIFY on such calls: originate_refer.rs.

mod originate_fixture;
mod sim;

use std::time::Duration;

use bytes::Bytes;
use originate_fixture::*;
use proptest::prelude::*;
use sim::{addr, B2buaNode, NetConfig, Ua};
use switchboard_sip::{
    B2bua, B2buaConfig, B2buaError, B2buaOutput, CallEvent, EndReason, Leg, Transport, TxConfig,
    TxEvent, UasPolicy,
};
use switchboard_sip_message::{HeaderName, Method, NameAddr, StatusCode, Uri};

#[test]
fn originated_call_rings_answers_is_acked_and_ends_on_far_end_bye() {
    let (mut net, x, b) = pair(1, NetConfig::default(), Some((200, secs(2))));
    let extra = vec![
        ("X-Switchboard-Callback".to_string(), "42".to_string()),
        ("Call-ID".to_string(), "hijack".to_string()),
        ("Bad Name".to_string(), "x".to_string()),
        (
            "Alert-Info".to_string(),
            "<urn:alert:service:call-back>".to_string(),
        ),
    ];
    let call = originate_to(&mut net, x, B, &extra);
    assert!(net
        .node::<B2buaNode>(x)
        .core
        .call(call)
        .expect("call")
        .is_originated());
    assert!(net.run_until(secs(10), |n| n
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. }))));
    net.run_for(secs(1));

    // The INVITE: our From (fresh tag), our Contact, own Call-ID, extra headers filtered.
    let invites = request_on_wire(&net, X, "INVITE");
    assert_eq!(invites.len(), 1);
    let inv = &invites[0];
    let from = inv.headers.from().expect("from");
    assert_eq!(from.uri.to_string(), "sip:support@example.com");
    assert_eq!(from.display.as_deref(), Some("Support"));
    assert!(from.tag().is_some_and(|t| t != "stale"), "fresh tag");
    assert_eq!(
        inv.headers.to().expect("to").uri.to_string(),
        format!("sip:customer@{B}")
    );
    assert_ne!(inv.headers.call_id().expect("call-id"), "hijack");
    assert_eq!(inv.headers.get_all(&HeaderName::CallId).count(), 1);
    assert_eq!(inv.headers.cseq().expect("cseq").seq, 1);
    assert_eq!(
        inv.headers.get(&HeaderName::Contact),
        Some(format!("<sip:b2bua@{X}>").as_str())
    );
    assert_eq!(
        inv.headers
            .get(&HeaderName::parse("X-Switchboard-Callback")),
        Some("42")
    );
    assert_eq!(
        inv.headers.get(&HeaderName::parse("Alert-Info")),
        Some("<urn:alert:service:call-back>")
    );
    assert!(inv.headers.iter().all(|h| h.name.as_str() != "Bad Name"));
    assert_eq!(inv.headers.content_type(), Some("application/sdp"));
    assert_eq!(&inv.body[..], b"v=0\r\na=callback\r\n");

    {
        let xn = net.node::<B2buaNode>(x);
        let c = xn.core.call(call).expect("call up");
        assert!(c.b_answered() && !c.a_answered() && c.a_dialog().is_none());
    }
    // The far end hangs up.
    let d = *net.node::<Ua>(b).peers.keys().next().expect("B dialog");
    let now = net.now;
    let bye = net.node::<Ua>(b).bye(now, d);
    net.run_for(secs(70));
    assert_eq!(net.node::<Ua>(b).responses(bye), vec![200]);
    assert_eq!(
        names(&events_of(&mut net, x, call)),
        vec![
            "Progress(180)",
            "LegConfirmed(B)",
            "AnswerFromB",
            "Ended(Bye(B))"
        ]
    );
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.has_event(|e| matches!(e, CallEvent::AnswerFromB { sdp, .. } if sdp.is_empty())));
    assert!(
        xn.core.is_empty(),
        "call removed once its transactions ended"
    );
    assert_eq!(net.sent_by(addr(X), "BYE").len(), 0, "nothing to release");
}

#[test]
fn originated_call_busy_fails_and_ends() {
    let (mut net, x, b) = pair(2, NetConfig::default(), Some((486, secs(1))));
    let call = originate(&mut net, x);
    net.run_for(secs(60));
    assert_eq!(
        names(&events_of(&mut net, x, call)),
        vec![
            "Progress(180)",
            "BFailed(486)",
            "Ended(Rejected(StatusCode(486)))"
        ]
    );
    assert_eq!(request_on_wire(&net, X, "ACK").len(), 1, "ACK for the 486");
    assert!(net.node::<Ua>(b).tl.is_empty());
    let xn = net.node::<B2buaNode>(x);
    assert!(xn.core.is_empty());
    let now = net.now;
    assert_eq!(
        net.node::<B2buaNode>(x).core.hangup(now, call),
        Err(B2buaError::NoSuchCall)
    );
}

#[test]
fn originated_call_to_nobody_times_out() {
    let (mut net, x, _b) = pair(3, NetConfig::default(), None);
    let call = originate_to(&mut net, x, VOID, &[]);
    net.run_for(secs(40));
    assert_eq!(
        names(&events_of(&mut net, x, call)),
        vec!["BFailed(408)", "Ended(Timeout(B))"]
    );
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn originated_call_transport_error_fails_and_ends() {
    let cfg = B2buaConfig {
        tx: TxConfig::new(addr(X)),
        contact: NameAddr::parse(&format!("<sip:b2bua@{X}>")).expect("contact"),
        policy: UasPolicy::default(),
        relay_failures: true,
        keep_a_when_b_hangs_up: false,
        session_timers: None,
    };
    let mut core = B2bua::new(cfg, 4);
    let now = sim::epoch();
    let call = core
        .originate(
            now,
            Uri::parse("sip:customer@example.com").expect("uri"),
            addr(B),
            Transport::Tcp,
            caller_id(),
            Bytes::new(),
            &[],
        )
        .expect("originate");
    let mut tx = None;
    while let Some(o) = core.poll_output() {
        match o {
            B2buaOutput::Transmit { tx: t, bytes, .. } => {
                assert!(bytes.starts_with(b"INVITE "));
                assert!(!String::from_utf8_lossy(&bytes).contains("Content-Type"));
                tx = t;
            }
            B2buaOutput::Event(e) => panic!("no event before anything happens: {e:?}"),
        }
    }
    core.handle_transport_error(now, tx.expect("the INVITE names its transaction"));
    let mut evs = Vec::new();
    while let Some(o) = core.poll_output() {
        if let B2buaOutput::Event(e) = o {
            evs.push(e);
        }
    }
    assert_eq!(
        evs,
        vec![
            CallEvent::BFailed {
                call,
                status: StatusCode(503)
            },
            CallEvent::Ended {
                call,
                reason: EndReason::TransportError(Leg::B)
            }
        ]
    );
    assert!(core.call(call).is_none(), "nothing left to wait for");
    assert!(core.is_empty());
}

#[test]
fn hangup_while_ringing_cancels_and_acks_the_487() {
    let (mut net, x, b) = pair(5, NetConfig::default(), None); // rings forever
    let call = originate(&mut net, x);
    assert!(net.run_until(secs(5), |n| n
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::Progress { .. }))));
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .hangup(now, call)
        .expect("hangup");
    net.run_for(secs(60));
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::Cancelled { .. })));
    assert_eq!(request_on_wire(&net, X, "CANCEL").len(), 1);
    let finals: Vec<_> = net
        .sent_by(addr(B), "SIP/2.0 487")
        .iter()
        .map(|w| w.cseq.clone())
        .collect();
    assert_eq!(finals, vec!["INVITE"]);
    let acks = request_on_wire(&net, X, "ACK");
    assert_eq!(acks.len(), 1, "ACK for the 487");
    let evs = events_of(&mut net, x, call);
    assert!(
        !evs.iter().any(|e| matches!(e, CallEvent::Ended { .. })),
        "no Ended after hangup: {:?}",
        names(&evs)
    );
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn hangup_when_answered_sends_bye() {
    let (mut net, x, b) = pair(6, NetConfig::default(), Some((200, secs(1))));
    let call = originate(&mut net, x);
    assert!(net.run_until(secs(5), |n| n
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::AnswerFromB { .. }))));
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .hangup(now, call)
        .expect("hangup");
    net.run_for(secs(60));
    assert!(net.node::<Ua>(b).has_event(is_new(Method::Bye)));
    let evs = events_of(&mut net, x, call);
    assert!(!evs.iter().any(|e| matches!(e, CallEvent::Ended { .. })));
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn hangup_crossing_the_200_acks_then_byes() {
    let cfg = NetConfig {
        latency: Duration::from_millis(50),
        ..NetConfig::default()
    };
    // B answers 60 ms after the INVITE: its 200 is on the wire before our CANCEL arrives.
    let (mut net, x, b) = pair(11, cfg, Some((200, Duration::from_millis(60))));
    let call = originate(&mut net, x);
    assert!(net.run_until(secs(5), |n| n
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::Progress { .. }))));
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .hangup(now, call)
        .expect("hangup");
    net.run_for(secs(60));
    assert_eq!(request_on_wire(&net, X, "CANCEL").len(), 1);
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })));
    assert!(
        net.node::<Ua>(b).has_event(is_new(Method::Bye)),
        "the answered leg is released"
    );
    let evs = names(&events_of(&mut net, x, call));
    assert!(
        !evs.iter()
            .any(|e| e.starts_with("Ended") || e == "AnswerFromB"),
        "{evs:?}"
    );
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn cancel_b_on_an_originated_call_fails_then_ends_cancelled() {
    let (mut net, x, b) = pair(7, NetConfig::default(), None);
    let call = originate(&mut net, x);
    assert!(net.run_until(secs(5), |n| n
        .node::<B2buaNode>(x)
        .has_event(|e| matches!(e, CallEvent::Progress { .. }))));
    let now = net.now;
    net.node::<B2buaNode>(x)
        .core
        .cancel_b(now, call)
        .expect("cancel");
    net.run_for(secs(60));
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::Cancelled { .. })));
    assert_eq!(
        names(&events_of(&mut net, x, call)),
        vec!["Progress(180)", "BFailed(487)", "Ended(Cancelled)"]
    );
    assert!(net.node::<B2buaNode>(x).core.is_empty());
}

#[test]
fn a_leg_operations_on_an_originated_call_are_refused() {
    let (mut net, x, _b) = pair(8, NetConfig::default(), Some((200, secs(1))));
    let call = originate(&mut net, x);
    let now = net.now;
    let core = &mut net.node::<B2buaNode>(x).core;
    let sdp = Bytes::from_static(b"v=0\r\n");
    let refused = B2buaError::InvalidState("originated call has no A leg");
    assert_eq!(core.answer_a(now, call, sdp.clone()), Err(refused.clone()));
    assert_eq!(
        core.reject(now, call, StatusCode(486)),
        Err(refused.clone())
    );
    assert!(core.progress_a(now, call, StatusCode(180), None).is_err());
    assert!(core
        .route(
            now,
            call,
            Uri::parse("sip:x@10.0.0.3").expect("uri"),
            addr("10.0.0.3:5060"),
            Transport::Udp,
            sdp.clone()
        )
        .is_err());
    assert!(core
        .send_in_dialog(now, call, Leg::A, Method::Info, None)
        .is_err());
    assert!(
        core.send_in_dialog(now, call, Leg::B, Method::Info, None)
            .is_err(),
        "B has no dialog before it answers"
    );
    net.run_for(secs(5));
    let now = net.now;
    let core = &mut net.node::<B2buaNode>(x).core;
    assert_eq!(core.release_b(now, call), Err(refused));
    assert!(core
        .send_in_dialog_with(now, call, Leg::B, Method::Ack, None, &[])
        .is_err());
    let info = core
        .send_in_dialog(now, call, Leg::B, Method::Info, Some(sdp))
        .expect("INFO on B");
    net.run_for(secs(5));
    let evs = events_of(&mut net, x, call);
    assert!(evs.iter().any(|e| matches!(e,
        CallEvent::InDialogResponse { tx, leg: Leg::B, resp, .. } if *tx == info && resp.status.0 == 200)));
}

#[test]
fn originated_calls_complete_under_10_percent_loss() {
    for seed in 0..20 {
        let cfg = NetConfig {
            latency: Duration::from_millis(25),
            jitter: Duration::from_millis(10),
            loss: 0.10,
            duplicate: 0.02,
        };
        let (mut net, x, b) = pair(100 + seed, cfg, Some((200, secs(1))));
        let call = originate(&mut net, x);
        let up = net.run_until(secs(64), |n| {
            n.node::<Ua>(b)
                .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. }))
        });
        assert!(up, "seed {seed}: B never got our ACK");
        net.run_for(secs(2));
        if seed % 2 == 0 {
            let d = *net.node::<Ua>(b).peers.keys().next().expect("B dialog");
            let now = net.now;
            let bye = net.node::<Ua>(b).bye(now, d);
            net.run_for(secs(70));
            assert!(
                net.node::<Ua>(b).responses(bye).contains(&200),
                "seed {seed}: BYE unanswered"
            );
            let evs = names(&events_of(&mut net, x, call));
            assert_eq!(
                evs.iter()
                    .filter(|e| e.starts_with("Ended"))
                    .collect::<Vec<_>>(),
                vec!["Ended(Bye(B))"],
                "seed {seed}: {evs:?}"
            );
        } else {
            let now = net.now;
            net.node::<B2buaNode>(x)
                .core
                .hangup(now, call)
                .expect("hangup");
            net.run_for(secs(70));
            assert!(
                net.node::<Ua>(b).has_event(is_new(Method::Bye)),
                "seed {seed}: BYE never arrived"
            );
        }
        let evs = names(&events_of(&mut net, x, call));
        assert_eq!(
            evs.iter().filter(|e| *e == "AnswerFromB").count(),
            1,
            "seed {seed}: {evs:?}"
        );
        assert!(
            net.node::<B2buaNode>(x).core.is_empty(),
            "seed {seed}: call leaked"
        );
    }
}

#[derive(Clone, Debug)]
enum Op {
    Wait(u64),
    Hangup,
    CancelB,
    ReleaseB,
    AnswerA,
    Reject,
    Info(bool),
    Notify,
    FarEndBye,
    Reinvite,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..3000).prop_map(Op::Wait),
        Just(Op::Hangup),
        Just(Op::CancelB),
        Just(Op::ReleaseB),
        Just(Op::AnswerA),
        Just(Op::Reject),
        any::<bool>().prop_map(Op::Info),
        Just(Op::Notify),
        Just(Op::FarEndBye),
        Just(Op::Reinvite),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any sequence of application calls and far-end actions on an originated call, over a
    /// lossy network: nothing panics, at most one `Ended`, and after a final hangup the call
    /// is gone.
    #[test]
    fn originated_calls_survive_random_sequences(
        seed in 0u64..1000,
        final_status in prop_oneof![Just(200u16), Just(486), Just(603), Just(0)],
        answer_ms in 0u64..4000,
        ops in proptest::collection::vec(op(), 0..10),
    ) {
        let cfg = NetConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(15),
            loss: 0.1,
            duplicate: 0.05,
        };
        let fin = (final_status != 0).then(|| (final_status, Duration::from_millis(answer_ms)));
        let (mut net, x, b) = pair(seed, cfg, fin);
        let call = originate(&mut net, x);
        for op in ops {
            let now = net.now;
            let sdp = Bytes::from_static(b"v=0\r\n");
            match op {
                Op::Wait(ms) => net.run_for(Duration::from_millis(ms)),
                Op::FarEndBye => {
                    let ua = net.node::<Ua>(b);
                    if let Some(&d) = ua.peers.keys().next() {
                        let live = ua.dialogs.get(d).is_some_and(|d| {
                            d.state != switchboard_sip::DialogState::Terminating
                        });
                        if live {
                            ua.bye(now, d);
                        }
                    }
                }
                Op::Reinvite => {
                    let ua = net.node::<Ua>(b);
                    if let Some(&d) = ua.peers.keys().next() {
                        let dest = ua.peers[&d];
                        if let Some(dl) = ua.dialogs.get_mut(d) {
                            let mut r = dl.request(Method::Invite);
                            r.headers.push(HeaderName::ContentType, "application/sdp");
                            r.body = sdp.clone();
                            ua.send(now, dest, r);
                        }
                    }
                }
                other => {
                    let core = &mut net.node::<B2buaNode>(x).core;
                    let _ = match other {
                        Op::Hangup => core.hangup(now, call),
                        Op::CancelB => core.cancel_b(now, call),
                        Op::ReleaseB => core.release_b(now, call),
                        Op::AnswerA => core.answer_a(now, call, sdp),
                        Op::Reject => core.reject(now, call, StatusCode(480)),
                        Op::Info(a) => {
                            let leg = if a { Leg::A } else { Leg::B };
                            core.send_in_dialog(now, call, leg, Method::Info, None).map(|_| ())
                        }
                        _ => core
                            .send_in_dialog_with(
                                now,
                                call,
                                Leg::B,
                                Method::Notify,
                                Some((Bytes::from_static(b"SIP/2.0 100 Trying\r\n"), "message/sipfrag")),
                                &[("Event".into(), "refer".into())],
                            )
                            .map(|_| ()),
                    };
                }
            }
        }
        let now = net.now;
        let _ = net.node::<B2buaNode>(x).core.hangup(now, call);
        net.run_for(secs(120));
        let evs = events_of(&mut net, x, call);
        let ended = evs.iter().filter(|e| matches!(e, CallEvent::Ended { .. })).count();
        prop_assert!(ended <= 1, "{:?}", names(&evs));
        let a_leg_events = evs.iter().any(|e| matches!(e, CallEvent::LegConfirmed { leg: Leg::A, .. }
            | CallEvent::BHungUp { .. } | CallEvent::Incoming { .. }));
        prop_assert!(!a_leg_events, "{:?}", names(&evs));
        let answers = evs.iter().filter(|e| matches!(e, CallEvent::AnswerFromB { .. })).count();
        prop_assert!(answers <= 1, "{:?}", names(&evs));
        if let Some(pos) = evs.iter().position(|e| matches!(e, CallEvent::Ended { .. })) {
            // Only responses to requests already under way may follow the end.
            let late_ok = evs[pos + 1..].iter().all(|e| matches!(e,
                CallEvent::InDialogResponse { .. } | CallEvent::BFailed { .. }));
            prop_assert!(late_ok, "{:?}", names(&evs));
        }
        prop_assert!(net.node::<B2buaNode>(x).core.is_empty(), "leaked: {:?}", names(&evs));
    }
}
