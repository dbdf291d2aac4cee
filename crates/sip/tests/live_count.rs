//! `B2bua::live_len` is a counter kept on every insert, end and removal (it is read while
//! draining at shutdown, so it must not walk the calls). Property: over random sequences
//! of calls in, calls out, answers, failures, hang-ups from either side and from the
//! application, under random loss and duplication, the counter equals a walk over every
//! call the test has seen, after every simulation step.

mod sim;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use sim::{addr, B2buaNode, NetConfig, SimNet, Ua};
use switchboard_sip::{CallEvent, CallKey, Transport};
use switchboard_sip_message::{NameAddr, Uri};

const A: &str = "10.0.0.1:5060";
const B: &str = "10.0.0.2:5060";
const X: &str = "10.0.0.5:5060";

#[derive(Clone, Debug)]
enum Op {
    /// A calls X (X routes it to B).
    Invite,
    /// X originates a call to B.
    Originate,
    /// A hangs up its n-th dialog (modulo the live ones).
    ByeFromA(usize),
    /// B hangs up its n-th dialog.
    ByeFromB(usize),
    /// The application hangs up the n-th call X knows.
    Hangup(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Invite),
        1 => Just(Op::Originate),
        2 => any::<usize>().prop_map(Op::ByeFromA),
        1 => any::<usize>().prop_map(Op::ByeFromB),
        2 => any::<usize>().prop_map(Op::Hangup),
    ]
}

/// Every call key X has announced or the test originated.
fn seen(net: &mut SimNet, x: usize, originated: &BTreeSet<CallKey>) -> BTreeSet<CallKey> {
    let mut keys = originated.clone();
    for (_, e) in &net.node::<B2buaNode>(x).events {
        if let CallEvent::Incoming { call, .. } = e {
            keys.insert(*call);
        }
    }
    keys
}

/// The counter and the walk over the seen calls, which must agree.
fn counts(net: &mut SimNet, x: usize, originated: &BTreeSet<CallKey>) -> (usize, usize) {
    let keys = seen(net, x, originated);
    let core = &net.node::<B2buaNode>(x).core;
    let walked = keys
        .iter()
        .filter(|k| core.call(**k).is_some_and(|c| !c.is_ended()))
        .count();
    (core.live_len(), walked)
}

/// Runs `d` of simulated time, checking the counter after every step.
fn run_checked(
    net: &mut SimNet,
    x: usize,
    originated: &BTreeSet<CallKey>,
    d: Duration,
) -> Result<(), TestCaseError> {
    let end = net.now + d;
    let mut failed = None;
    net.run_until(d, |n| {
        let (counter, walked) = counts(n, x, originated);
        if counter != walked && failed.is_none() {
            failed = Some((n.elapsed(), counter, walked));
        }
        failed.is_some()
    });
    net.now = net.now.max(end);
    if let Some((at, counter, walked)) = failed {
        return Err(TestCaseError::fail(format!(
            "at {at:?}: live_len {counter}, walk {walked}"
        )));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(0x11fe), ..ProptestConfig::with_cases(48) })]

    #[test]
    fn live_len_equals_the_walk(
        seed in any::<u64>(),
        loss in 0.0f64..0.15,
        dup in 0.0f64..0.15,
        b_final in prop_oneof![Just(Some(200u16)), Just(Some(486)), Just(Some(603)), Just(None)],
        b_delay_ms in 0u64..3000,
        ops in prop::collection::vec((op(), 0u64..2500), 1..24),
    ) {
        let mut net = SimNet::new(seed, NetConfig {
            latency: Duration::from_millis(20),
            jitter: Duration::from_millis(30),
            loss,
            duplicate: dup,
        });
        let e = net.epoch;
        let a = net.add(Box::new(Ua::new(addr(A), Transport::Udp, seed, e)));
        let x = net.add(Box::new(B2buaNode::new(addr(X), addr(B), seed ^ 1, e)));
        let b = net.add(Box::new(Ua::new(addr(B), Transport::Udp, seed ^ 2, e)));
        net.node::<Ua>(b).script.invite_final = b_final.map(|s| (s, Duration::from_millis(b_delay_ms)));
        let mut originated = BTreeSet::new();
        for (op, wait_ms) in ops {
            let now = net.now;
            match op {
                Op::Invite => {
                    net.node::<Ua>(a).invite(now, addr(X));
                }
                Op::Originate => {
                    let from = NameAddr::parse(&format!("<sip:x@{X}>")).expect("from");
                    let target = Uri::parse(&format!("sip:b@{B}")).expect("uri");
                    let k = net.node::<B2buaNode>(x).core.originate(
                        now, target, addr(B), Transport::Udp, from,
                        Bytes::from_static(b"v=0\r\n"), &[],
                    );
                    if let Ok(k) = k {
                        originated.insert(k);
                    }
                }
                Op::ByeFromA(n) | Op::ByeFromB(n) => {
                    let ua = if matches!(op, Op::ByeFromA(_)) { a } else { b };
                    let node = net.node::<Ua>(ua);
                    let live: Vec<_> = node.peers.keys().copied()
                        .filter(|d| node.dialogs.get(*d).is_some_and(|dl| dl.state == switchboard_sip::DialogState::Confirmed))
                        .collect();
                    if !live.is_empty() {
                        node.bye(now, live[n % live.len()]);
                    }
                }
                Op::Hangup(n) => {
                    let keys: Vec<_> = seen(&mut net, x, &originated).into_iter().collect();
                    if !keys.is_empty() {
                        let _ = net.node::<B2buaNode>(x).core.hangup(now, keys[n % keys.len()]);
                    }
                }
            }
            run_checked(&mut net, x, &originated, Duration::from_millis(wait_ms))?;
        }
        // Everything settles: ended calls go once their transactions end; whatever is
        // still up is counted by both.
        run_checked(&mut net, x, &originated, Duration::from_secs(120))?;
        let (counter, walked) = counts(&mut net, x, &originated);
        prop_assert_eq!(counter, walked);
        let core = &net.node::<B2buaNode>(x).core;
        prop_assert!(core.live_len() <= core.len());
    }
}
