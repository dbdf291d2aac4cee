//! Who may take which caller, and from when: the eligibility *lanes* the group forecast
//! plays (decision 0051).
//!
//! The engine gives a freed agent the earliest caller (priority, then join order) it
//! qualifies for: the caller's tenant, its skills at their minimum proficiency, and those
//! of the skill tier in force after the caller's wait. For the forecast every caller walks
//! through lanes: a lane is one set of agents (bit `i` of an agent's mask: it may take
//! callers of lane `i`), a caller is in one lane at a time and moves to its next lane at a
//! known time (a tier widening its needs). A freed agent takes the earliest caller, by key,
//! that is in one of its lanes at that moment; with nobody to take now but someone entering
//! one of its lanes later, it stays free until then.
//!
//! Within one lane, the callers in key order must enter it in time order (the engine makes
//! one lane per queue, needs, tier and, where tiers exist, priority, so this holds): the
//! play then looks only at the first caller of each lane, as it does for queues.
//!
//! Without lanes (no skills, no tenants, no tiers) a lane is a queue: [`Lanes::by_queue`].

use super::{GroupCaller, SharedAgent};

/// At most this many lanes in one forecast (a bit per lane in an agent's mask).
pub const MAX_LANES: usize = 64;

/// The lanes of one forecast: each caller's lanes over time and each agent's lanes.
#[derive(Clone, Debug, Default)]
pub struct Lanes {
    /// Per caller, in the forecast's key order: its steps, a range of `steps`.
    spans: Vec<(u32, u32)>,
    /// `(from, lane)`: in `lane` from `from` seconds after the forecast's start (the first
    /// step of a caller: from the start).
    steps: Vec<(f64, u8)>,
    /// Per agent, in the forecast's agent order: bit `i` when it may take lane `i`.
    agents: Vec<u64>,
    /// Lanes used (highest lane + 1).
    count: usize,
}

/// A caller's stay in one lane: `[from, until)` seconds after the forecast's start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Stay {
    /// The caller (index in key order).
    pub g: usize,
    /// Lane.
    pub lane: usize,
    /// Enters the lane.
    pub from: f64,
    /// Leaves it for its next lane.
    pub until: f64,
}

impl Lanes {
    /// No callers, no agents.
    pub fn clear(&mut self) {
        self.spans.clear();
        self.steps.clear();
        self.agents.clear();
        self.count = 0;
    }

    /// The next caller in key order: in `steps[0].1` from the start, then in each next
    /// lane from its time (seconds after the forecast's start, increasing). `false` (and
    /// nothing added) when `steps` is empty or names a lane beyond [`MAX_LANES`].
    pub fn push_caller(&mut self, steps: &[(f64, usize)]) -> bool {
        if steps.is_empty() || steps.iter().any(|(_, l)| *l >= MAX_LANES) {
            return false;
        }
        let start = self.steps.len() as u32;
        for (i, (from, lane)) in steps.iter().enumerate() {
            let from = if i == 0 { f64::NEG_INFINITY } else { *from };
            self.steps.push((from, *lane as u8));
            self.count = self.count.max(lane + 1);
        }
        self.spans.push((start, self.steps.len() as u32));
        true
    }

    /// The next agent (in the forecast's agent order) and the lanes it may take.
    pub fn push_agent(&mut self, mask: u64) {
        self.agents.push(mask);
    }

    /// Callers added.
    pub fn callers(&self) -> usize {
        self.spans.len()
    }

    /// Agents added.
    pub fn agents(&self) -> usize {
        self.agents.len()
    }

    /// Lanes used.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Every agent takes every caller of the queues it serves: one lane per set of queues
    /// served by the same agents (a lane per queue, queues with the same agents sharing
    /// one: an agent takes the earliest caller of them by key either way).
    pub fn by_queue(callers: &[GroupCaller], agents: &[SharedAgent]) -> Lanes {
        // Queue i's agents, as the bit i column of the agents' masks; equal columns share
        // a lane.
        let queues = callers
            .iter()
            .map(|c| c.queue + 1)
            .max()
            .unwrap_or(0)
            .min(64);
        let column = |i: usize| -> Vec<bool> {
            agents.iter().map(|a| a.serves & (1u64 << i) != 0).collect()
        };
        let columns: Vec<Vec<bool>> = (0..queues).map(column).collect();
        let mut lane_of = vec![0usize; queues];
        let mut firsts: Vec<usize> = Vec::new();
        for i in 0..queues {
            match firsts.iter().position(|f| columns[*f] == columns[i]) {
                Some(l) => lane_of[i] = l,
                None => {
                    lane_of[i] = firsts.len();
                    firsts.push(i);
                }
            }
        }
        let mut l = Lanes::default();
        for c in callers {
            let lane = lane_of.get(c.queue).copied().unwrap_or(MAX_LANES - 1);
            l.push_caller(&[(0.0, lane)]);
        }
        for a in agents {
            let mut mask = 0u64;
            for (lane, first) in firsts.iter().enumerate() {
                if a.serves & (1u64 << first) != 0 {
                    mask |= 1u64 << lane;
                }
            }
            l.push_agent(mask);
        }
        l
    }

    /// Agent `a`'s lanes.
    pub(super) fn agent(&self, a: usize) -> u64 {
        self.agents.get(a).copied().unwrap_or(0)
    }

    /// Caller `g`'s stays, in time order.
    pub(super) fn stays(&self, g: usize) -> impl Iterator<Item = Stay> + '_ {
        let (s, e) = self.spans.get(g).copied().unwrap_or((0, 0));
        let steps = &self.steps[s as usize..e as usize];
        steps.iter().enumerate().map(move |(i, (from, lane))| Stay {
            g,
            lane: usize::from(*lane),
            from: *from,
            until: steps.get(i + 1).map_or(f64::INFINITY, |n| n.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_stays_in_each_lane_until_its_next() {
        let mut l = Lanes::default();
        assert!(l.push_caller(&[(-5.0, 2), (30.0, 0)]));
        assert!(!l.push_caller(&[]));
        assert!(!l.push_caller(&[(0.0, MAX_LANES)]));
        assert_eq!(l.callers(), 1);
        assert_eq!(l.count(), 3);
        let s: Vec<Stay> = l.stays(0).collect();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].lane, s[0].from, s[0].until),
            (2, f64::NEG_INFINITY, 30.0)
        );
        assert_eq!((s[1].lane, s[1].from, s[1].until), (0, 30.0, f64::INFINITY));
        assert_eq!(l.stays(7).count(), 0);
    }

    #[test]
    fn queues_with_the_same_agents_share_a_lane() {
        use crate::ewt::AgentLoad;
        let caller = |queue| GroupCaller {
            queue,
            key: queue as u64,
            may_abandon: true,
        };
        let agent = |serves| SharedAgent {
            load: AgentLoad::FreeIn(0.0),
            current: 0,
            serves,
        };
        // Queues 0 and 2 have agents 0 and 1; queue 1 has agent 1 only.
        let l = Lanes::by_queue(
            &[caller(0), caller(1), caller(2)],
            &[agent(0b101), agent(0b111)],
        );
        assert_eq!(l.count(), 2);
        let lane = |g| l.stays(g).next().unwrap().lane;
        assert_eq!(lane(0), lane(2));
        assert_ne!(lane(0), lane(1));
        assert_eq!(l.agent(0), 1 << lane(0));
        assert_eq!(l.agent(1), (1 << lane(0)) | (1 << lane(1)));
    }
}
