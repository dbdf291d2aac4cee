//! The estimate when agents serve several queues: a freed agent takes the earliest caller
//! of any queue it serves, so callers of other queues compete for the shared agents.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand::Rng;

use super::group::ReadyByKey;
use super::{exp_sample, pick_bound, AgentLoad, Estimate, EwtConfig, EwtModel, Offer, Secs};

/// One queue taking part in a shared estimate.
#[derive(Clone, Copy, Debug)]
pub struct SharedQueue<'a> {
    /// The queue's handle-time and patience memory.
    pub model: &'a EwtModel,
    /// Wrap-up after each of its calls, seconds.
    pub wrap_up: f64,
    /// Its callers served before the caller being estimated, in order: (order key, may abandon).
    pub ahead: &'a [(u64, bool)],
}

/// One agent taking part in a shared estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedAgent {
    /// What the agent is doing now.
    pub load: AgentLoad,
    /// Index of the queue whose handle times describe the current call.
    pub current: usize,
    /// Bit `i` set when the agent serves queue `i`.
    pub serves: u64,
}

/// Wait estimate for a caller (order key `own_key`) of queue `queues[own]` when agents are
/// shared between queues: a freed agent takes the earliest caller of any queue it serves, so
/// callers of other queues that joined earlier compete for the shared agents, and agents that
/// do not serve the caller's queue still drain those competitors. An offer that rings out
/// holds back the rang-out caller and the callers behind it (by key) for the ring timeout,
/// not the earlier callers of other queues. Up to 64 queues.
#[allow(clippy::too_many_arguments)]
pub fn estimate_shared<R: Rng>(
    rng: &mut R,
    cfg: &EwtConfig,
    queues: &[SharedQueue<'_>],
    agents: &[SharedAgent],
    own: usize,
    own_key: u64,
    within: f64,
    quantile: f64,
) -> Option<Estimate> {
    let own_bit = 1u64.checked_shl(own as u32)?;
    let own_q = queues.get(own)?;
    if !agents.iter().any(|a| a.serves & own_bit != 0) || queues.len() > 64 {
        return None;
    }
    let patience: Vec<Option<f64>> = queues.iter().map(|q| q.model.mean_patience()).collect();
    let own_patience = own_q.model.mean_patience();
    let total_ahead: usize = queues.iter().map(|q| q.ahead.len()).sum();
    let mut samples = cfg.samples.max(8);
    if total_ahead > cfg.exact_ahead {
        samples = (samples * cfg.exact_ahead / total_ahead).max(16);
    }
    let mut abandon: Vec<Vec<f64>> = queues
        .iter()
        .map(|q| Vec::with_capacity(q.ahead.len()))
        .collect();
    let mut ptr = vec![0usize; queues.len()];
    let mut heap: BinaryHeap<Reverse<(Secs, usize)>> = BinaryHeap::with_capacity(agents.len());
    let mut out = Vec::with_capacity(samples);
    let mut ready = ReadyByKey::default();
    let mut within_weight = 0.0;
    for _ in 0..samples {
        heap.clear();
        for (g, a) in agents.iter().enumerate() {
            let q = queues.get(a.current).unwrap_or(own_q);
            let t = match a.load {
                AgentLoad::FreeIn(s) => s.max(0.0),
                AgentLoad::Busy { age } => q.model.sample_residual(rng, age.max(0.0)) + q.wrap_up,
                AgentLoad::Starting => {
                    q.model.answer_delay(rng) + q.model.sample_handle(rng) + q.wrap_up
                }
            };
            heap.push(Reverse((Secs(t), g)));
        }
        for (i, q) in queues.iter().enumerate() {
            abandon[i].clear();
            let p = patience[i];
            abandon[i].extend(q.ahead.iter().map(|(_, can)| match (can, p) {
                (true, Some(p)) => exp_sample(rng, p),
                _ => f64::INFINITY,
            }));
            ptr[i] = 0;
        }
        ready.clear();
        let mut ring_outs = 0usize;
        let wait = loop {
            let Some(Reverse((Secs(p), g))) = heap.pop() else {
                break f64::INFINITY;
            };
            let serves = agents[g].serves;
            // The earliest caller this agent can take: callers who left before they could
            // be offered (a ring-out holds back that caller and those behind it) are gone.
            let mut best: Option<(u64, usize)> = None;
            for (i, q) in queues.iter().enumerate() {
                if serves & (1u64 << i) == 0 {
                    continue;
                }
                while let Some((k, _)) = q.ahead.get(ptr[i]) {
                    if abandon[i][ptr[i]] >= p.max(ready.at(*k)) {
                        break;
                    }
                    ptr[i] += 1;
                }
                if let Some((k, _)) = q.ahead.get(ptr[i]) {
                    if best.is_none_or(|(bk, _)| *k < bk) {
                        best = Some((*k, i));
                    }
                }
            }
            let is_own = serves & own_bit != 0 && best.is_none_or(|(k, _)| own_key < k);
            let (key, i) = if is_own {
                (own_key, own)
            } else {
                match best {
                    Some(b) => b,
                    None => continue, // nobody to take in its queues, ever: idle
                }
            };
            let q = &queues[i];
            let t = p.max(ready.at(key));
            let ring = match q.model.play_offer(rng) {
                Offer::RingOut => {
                    ring_outs += 1;
                    if ring_outs > 10_000 {
                        break f64::INFINITY;
                    }
                    let until = t + q.model.ringing.timeout;
                    ready.ring_out(key, until);
                    if let Some(p) = q.model.ringing.pause {
                        heap.push(Reverse((Secs(until + p), g)));
                    }
                    continue;
                }
                Offer::Answer(d) => d,
            };
            ring_outs = 0;
            if is_own {
                break t + ring;
            }
            ptr[i] += 1;
            heap.push(Reverse((
                Secs(t + ring + q.model.sample_handle(rng) + q.wrap_up),
                g,
            )));
        };
        let weight = match own_patience {
            Some(p) => (-wait / p).exp(),
            None => 1.0,
        };
        if wait <= within {
            within_weight += weight;
        }
        out.push((wait, weight));
    }
    let bound = pick_bound(&mut out, quantile);
    Some(Estimate {
        bound: if bound.is_finite() { bound } else { 86_400.0 },
        p_answered_within: within_weight / samples as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn earlier_callers_of_a_sharing_queue_delay_the_caller() {
        let mut a = EwtModel::new(EwtConfig::default(), 100.0);
        let mut b = EwtModel::new(EwtConfig::default(), 100.0);
        for i in 0..200 {
            a.record_handle(90.0 + (i % 20) as f64);
            b.record_handle(90.0 + (i % 20) as f64);
        }
        let cfg = EwtConfig::default();
        // One agent serving both queues, 10 s into a call.
        let agents = [SharedAgent {
            load: AgentLoad::Busy { age: 10.0 },
            current: 0,
            serves: 0b11,
        }];
        let none: [(u64, bool); 0] = [];
        let rivals = [(1u64, false), (2u64, false)];
        let est = |ahead_b: &[(u64, bool)]| {
            let mut rng = SmallRng::seed_from_u64(5);
            let qs = [
                SharedQueue {
                    model: &a,
                    wrap_up: 0.0,
                    ahead: &none,
                },
                SharedQueue {
                    model: &b,
                    wrap_up: 0.0,
                    ahead: ahead_b,
                },
            ];
            estimate_shared(&mut rng, &cfg, &qs, &agents, 0, 10, 20.0, 0.8).unwrap()
        };
        let alone = est(&none);
        let behind_two = est(&rivals);
        assert!(alone.bound < 110.0, "{alone:?}");
        assert!(behind_two.bound > 250.0, "{behind_two:?}");
        // Nobody serving the caller's queue: no estimate.
        let other_only = [SharedAgent {
            serves: 0b10,
            ..agents[0]
        }];
        let mut rng = SmallRng::seed_from_u64(5);
        let qs = [
            SharedQueue {
                model: &a,
                wrap_up: 0.0,
                ahead: &none,
            },
            SharedQueue {
                model: &b,
                wrap_up: 0.0,
                ahead: &none,
            },
        ];
        assert!(estimate_shared(&mut rng, &cfg, &qs, &other_only, 0, 10, 20.0, 0.8).is_none());
    }
}
