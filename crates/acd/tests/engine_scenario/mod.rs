//! The fixture the engine scenario tests share (engine.rs, engine_lifecycle.rs): one queue
//! `Q` (and `Q2`) with agents logged in one second apart, and filters over the engine's output.
// Each test binary that includes this module uses a subset of it.
#![allow(dead_code)]

use std::time::Duration;

use switchboard_acd::*;

pub(crate) const Q: QueueId = QueueId(1);
pub(crate) const Q2: QueueId = QueueId(2);

pub(crate) fn t(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub(crate) fn drain(acd: &mut Acd) -> Vec<Output> {
    std::iter::from_fn(|| acd.poll_output()).collect()
}

pub(crate) fn offers(outs: &[Output]) -> Vec<(CallId, AgentId)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Offer { call, agent, .. } => Some((*call, *agent)),
            _ => None,
        })
        .collect()
}

pub(crate) fn announces(outs: &[Output]) -> Vec<(CallId, usize, Option<Duration>, Spoken)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Announce {
                call,
                position,
                ewt_bound,
                spoken,
                ..
            } => Some((*call, *position, *ewt_bound, *spoken)),
            _ => None,
        })
        .collect()
}

pub(crate) fn exits(outs: &[Output]) -> Vec<(CallId, ExitReason)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Exit { call, reason, .. } => Some((*call, reason.clone())),
            _ => None,
        })
        .collect()
}

/// An engine with one queue and `n` agents (ids 1..=n) logged in one second apart, so agent 1
/// has been idle longest.
pub(crate) fn setup(strategy: Strategy, n: u32, tweak: impl FnOnce(&mut QueueConfig)) -> Acd {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(strategy);
    tweak(&mut qc);
    acd.add_queue(Q, qc).unwrap();
    for i in 1..=n {
        acd.add_agent(AgentConfig::new(AgentId(i), vec![Q]))
            .unwrap();
        acd.handle_login(t(u64::from(i)), AgentId(i)).unwrap();
    }
    drain(&mut acd);
    acd
}

pub(crate) fn join(acd: &mut Acd, now: u64, call: u64) -> Vec<Output> {
    acd.handle_join(t(now), Join::new(CallId(call), Q)).unwrap();
    drain(acd)
}

/// Answer and finish a call (queues in these tests have no wrap-up or a short one).
pub(crate) fn serve(acd: &mut Acd, now: u64, call: u64, agent: u32, handle: u64) -> Vec<Output> {
    acd.handle_offer_answered(t(now), CallId(call), AgentId(agent))
        .unwrap();
    acd.handle_call_ended(t(now + handle), CallId(call))
        .unwrap();
    drain(acd)
}
