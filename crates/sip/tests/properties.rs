//! Properties over random network conditions, and robustness against the torture corpus.

mod sim;

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sim::{addr, B2buaNode, NetConfig, SimNet, Ua};
use switchboard_sip::{
    B2bua, B2buaConfig, B2buaOutput, Output, TransactionLayer, Transport, TxConfig, TxEvent,
    UasPolicy,
};
use switchboard_sip_message::{parse_datagram, Limits, Message, Method, NameAddr};

const A: &str = "10.0.0.1:5060";
const B: &str = "10.0.0.2:5060";
const X: &str = "10.0.0.5:5060";

fn net_config(loss: f64, dup: f64, jitter_ms: u64) -> NetConfig {
    NetConfig {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(jitter_ms),
        loss,
        duplicate: dup,
    }
}

fn pair(seed: u64, cfg: NetConfig) -> (SimNet, usize, usize) {
    let mut net = SimNet::new(seed, cfg);
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, seed, e)));
    let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, seed ^ 0xabc, e)));
    (net, a, b)
}

proptest! {
    // Fixed seed: the suite is deterministic. (Bumped to 2,000 cases x 4 random-seed runs while
    // developing; one bug found, kept below as a regression test.)
    #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(0x5eed), ..ProptestConfig::with_cases(64) })]

    /// A non-INVITE transaction ends in exactly one of "final response" or "timer F", the
    /// server sees the request once, and both layers are empty afterwards.
    #[test]
    fn non_invite_has_one_outcome(seed in any::<u64>(), loss in 0.0f64..0.4, dup in 0.0f64..0.3, jitter in 0u64..100) {
        let (mut net, a, b) = pair(seed, net_config(loss, dup, jitter));
        let now = net.now;
        let req = net.node::<Ua>(a).request(Method::Options, addr(B));
        let k = net.node::<Ua>(a).send(now, addr(B), req);
        net.run_for(Duration::from_secs(80));
        let uac = net.node::<Ua>(a);
        let finals = uac.responses(k).into_iter().filter(|s| *s >= 200).count();
        let timeout = uac.has_event(|e| matches!(e, TxEvent::Timeout { .. }));
        prop_assert!(finals + usize::from(timeout) == 1, "finals {} timeout {}", finals, timeout);
        prop_assert!(uac.tl.is_empty());
        let uas = net.node::<Ua>(b);
        let news = uas.events.iter().filter(|(_, e)| matches!(e, TxEvent::NewRequest { .. })).count();
        prop_assert!(news <= 1);
        prop_assert!(uas.tl.is_empty());
    }

    /// An INVITE ends in exactly one final (reported once) or timer B; the UAS sees it once;
    /// after the absorb windows nothing is left.
    #[test]
    fn invite_has_one_outcome(seed in any::<u64>(), loss in 0.0f64..0.3, dup in 0.0f64..0.3, jitter in 0u64..100) {
        let (mut net, a, b) = pair(seed, net_config(loss, dup, jitter));
        let now = net.now;
        let k = net.node::<Ua>(a).invite(now, addr(B));
        net.run_for(Duration::from_secs(120));
        let uac = net.node::<Ua>(a);
        let finals = uac.responses(k).into_iter().filter(|s| *s >= 200).count();
        let timeout = uac.has_event(|e| matches!(e, TxEvent::Timeout { .. }));
        prop_assert!(finals + usize::from(timeout) == 1, "finals {} timeout {}", finals, timeout);
        prop_assert!(uac.tl.is_empty());
        let uas = net.node::<Ua>(b);
        let news = uas.events.iter().filter(|(_, e)| matches!(e, TxEvent::NewRequest { .. })).count();
        prop_assert!(news <= 1);
        prop_assert!(uas.tl.is_empty());
    }

    /// A cancels at a random moment while B answers after a random delay: A sees exactly one
    /// final (200 or 487), an answered B is always ACKed and then BYEd or kept in the call, and
    /// X ends empty.
    #[test]
    fn cancel_races_answer_at_any_moment(seed in any::<u64>(), cancel_ms in 0u64..1500, answer_ms in 0u64..1500, latency in 1u64..80) {
        let cfg = NetConfig { latency: Duration::from_millis(latency), ..NetConfig::default() };
        let mut net = SimNet::new(seed, cfg);
        let e = net.epoch;
        let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, seed, e)));
        let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), seed ^ 1, e)));
        let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, seed ^ 2, e)));
        net.node::<Ua>(b).script.invite_final = Some((200, Duration::from_millis(answer_ms)));
        let now = net.now;
        let k = net.node::<Ua>(a).invite(now, addr(X));
        net.run_for(Duration::from_millis(cancel_ms));
        let now = net.now;
        let _ = net.node::<Ua>(a).tl.cancel(now, k); // may be too late: fine
        net.run_for(Duration::from_secs(10));
        let finals: Vec<u16> = net.node::<Ua>(a).responses(k).into_iter().filter(|s| *s >= 200).collect();
        prop_assert!(finals == vec![200] || finals == vec![487], "finals {:?}", finals);
        if finals == vec![200] {
            let da = *net.node::<Ua>(a).peers.keys().next().expect("A dialog");
            let now = net.now;
            net.node::<Ua>(a).bye(now, da);
        }
        net.run_for(Duration::from_secs(100));
        let b_answered = net.sent_by(addr(B), "SIP/2.0 200").iter().any(|w| w.cseq == "INVITE");
        let ub = net.node::<Ua>(b);
        let acked = ub.has_event(|e| matches!(e, TxEvent::AckFor2xx { .. }));
        let byed = ub.has_event(|e| matches!(e, TxEvent::NewRequest { req, .. } if req.method == Method::Bye));
        prop_assert_eq!(acked, b_answered, "an answered B is ACKed, an unanswered one never");
        prop_assert_eq!(byed, b_answered, "an answered B is released");
        prop_assert!(net.node::<B2buaNode>(x).core.is_empty());
    }

    /// A B2BUA call (A -> X -> B, answer, ACKs, BYE from A) under random impairment either
    /// completes or fails cleanly; either way X ends with no call, dialog or transaction.
    #[test]
    fn b2bua_call_always_cleans_up(seed in any::<u64>(), loss in 0.0f64..0.2, dup in 0.0f64..0.2, jitter in 0u64..80) {
        let mut net = SimNet::new(seed, net_config(loss, dup, jitter));
        let e = net.epoch;
        let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, seed, e)));
        let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), seed ^ 1, e)));
        let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, seed ^ 2, e)));
        net.node::<Ua>(b).script.invite_final = Some((200, Duration::from_millis(500)));
        let now = net.now;
        let k = net.node::<Ua>(a).invite(now, addr(X));
        let answered = net.run_until(Duration::from_secs(64), |n| n.node::<Ua>(a).responses(k).contains(&200));
        if answered {
            let da = *net.node::<Ua>(a).peers.keys().next().expect("A dialog");
            let now = net.now;
            net.node::<Ua>(a).bye(now, da);
        }
        net.run_for(Duration::from_secs(200));
        let xn = net.node::<B2buaNode>(x);
        prop_assert!(xn.core.is_empty(), "call left: answered={}", answered);
        prop_assert!(xn.core.dialogs().is_empty());
        prop_assert!(xn.core.transactions().is_empty());
        let finals: Vec<u16> = net.node::<Ua>(a).responses(k).into_iter().filter(|s| *s >= 200).collect();
        prop_assert!(finals.len() <= 1, "finals {:?}", finals);
    }
}

fn corpus_messages() -> Vec<(String, Message)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/sip-torture");
    let manifest = std::fs::read_to_string(format!("{dir}/manifest.tsv")).expect("manifest");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter_map(|f| {
            let bytes = std::fs::read(format!("{dir}/{f}")).ok()?;
            parse_datagram(&bytes, &Limits::default())
                .ok()
                .map(|m| (f.to_string(), m))
        })
        .collect()
}

/// Every corpus message that parses goes through a transaction layer and a B2BUA (twice, to
/// hit the retransmission paths) without a panic, and everything they send parses again.
#[test]
fn torture_corpus_through_the_cores() {
    let msgs = corpus_messages();
    assert!(msgs.len() > 30, "corpus not found");
    let now = sim::epoch();
    let me = addr("192.0.2.200:5060");
    let mut tl = TransactionLayer::new(TxConfig::new(me), 1);
    let mut b2 = B2bua::new(
        B2buaConfig {
            tx: TxConfig::new(me),
            contact: NameAddr::parse("<sip:sb@192.0.2.200>").expect("contact"),
            policy: UasPolicy::default(),
            relay_failures: true,
            keep_a_when_b_hangs_up: false,
            session_timers: None,
        },
        2,
    );
    let from = addr("192.0.2.1:5060");
    let mut sent = 0;
    for round in 0..2 {
        for (file, m) in &msgs {
            let t = now + Duration::from_millis(round * 100);
            tl.handle_message(t, from, Transport::Udp, m.clone());
            b2.handle_message(t, from, Transport::Udp, m.clone());
            while let Some(o) = tl.poll_output() {
                if let Output::Transmit { bytes, .. } = o {
                    assert!(
                        parse_datagram(&bytes, &Limits::default()).is_ok(),
                        "{file}: we sent garbage"
                    );
                    sent += 1;
                }
            }
            while let Some(o) = b2.poll_output() {
                if let B2buaOutput::Transmit { bytes, .. } = o {
                    assert!(
                        parse_datagram(&bytes, &Limits::default()).is_ok(),
                        "{file}: B2BUA sent garbage"
                    );
                    sent += 1;
                }
            }
        }
    }
    // Timers run out; nothing panics.
    tl.handle_timeout(now + Duration::from_secs(120));
    b2.handle_timeout(now + Duration::from_secs(120));
    while tl.poll_output().is_some() {}
    while b2.poll_output().is_some() {}
    assert!(sent > msgs.len(), "requests were answered");
}

/// Found by `invite_has_one_outcome`: a duplicated 200 delivered twice before the TU had sent
/// its ACK was reported twice.
#[test]
fn duplicated_2xx_before_the_ack_is_reported_once() {
    let (mut net, a, _b) = pair(
        12833793045192582581,
        net_config(0.2663839087165411, 0.2664773832360364, 0),
    );
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(Duration::from_secs(120));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 200]);
}
