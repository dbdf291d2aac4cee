//! Who may take whom, as the wait estimates play it (decision 0051; the model is
//! `ewt/lanes.rs`).
//!
//! When a caller of a queue (or of a group of queues sharing agents) needs skills or a
//! tenant, or a queue widens its needs with skill tiers, the engine does not give every
//! member every caller: a freed agent takes the earliest caller it qualifies for. The
//! estimates then play exactly that. Callers fall into *classes* (queue, skills with their
//! minimums, tenant and, where the queue has tiers, priority); each class has one lane per
//! step of the queue's tiers (before the first, then each `after`), holding the agents that
//! fit the class while that step applies (`Acd::fit_tier`, the routing's own test, logged
//! out of the queue excepted). A caller is in its class's lane for the step in force after
//! its wait and moves on at each later `after`. A class nobody ever fits counts every member
//! (as the one-queue estimate always did: the configuration may still change), so such a
//! caller is not told the wait is endless. More than [`MAX_LANES`] lanes: every member takes
//! every caller of its queues, the estimate without eligibility.

use std::collections::HashMap;

use super::routing::tier_in_force;
use super::*;
use crate::ewt::{GroupCaller, GroupForecast, Lanes, MAX_LANES};
use crate::ids::{SkillId, TenantId};

/// What sets a caller's lanes apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Class {
    /// Index of its queue in the group.
    queue: usize,
    skills: Vec<(SkillId, u8)>,
    tenant: Option<TenantId>,
    /// Its priority where its queue has tiers (callers of one lane must enter it in key
    /// order); 0 elsewhere.
    priority: u64,
}

/// The lanes handed out while building a forecast's lanes.
#[derive(Default)]
struct LaneTable {
    /// The next lane.
    next: usize,
    /// Lanes without tier steps, by their agents (a bit per agent).
    shared: HashMap<Vec<u64>, usize>,
}

impl Acd {
    /// Whether estimates for callers of `group` must play who may take whom: a queue of it
    /// has skill tiers, or a caller in it needs skills or a tenant.
    pub(super) fn needs_lanes(&self, group: &[QueueId]) -> bool {
        group
            .iter()
            .filter_map(|r| self.queues.get(r))
            .any(|q| !q.cfg.skill_tiers.is_empty() || !q.needy.is_empty())
    }

    /// The lanes of `callers` (in key order; `calls[g]` the engine's call, `None` for a
    /// joiner expected behind them: no needs, joining now) and of the agents `ids` of
    /// `group`, seen at `now`.
    pub(super) fn lanes_for(
        &self,
        now: Duration,
        group: &[QueueId],
        ids: &[AgentId],
        callers: &[GroupCaller],
        calls: &[Option<CallId>],
        agents: &[SharedAgent],
    ) -> Lanes {
        let mut lanes = Lanes::default();
        let mut masks = vec![0u64; ids.len()];
        let mut classes: HashMap<Class, Vec<(f64, usize)>> = HashMap::new();
        let mut table = LaneTable::default();
        let mut steps = Vec::new();
        for (g, c) in callers.iter().enumerate() {
            let call = calls
                .get(g)
                .copied()
                .flatten()
                .and_then(|id| self.calls.get(&id));
            let Some(q) = group.get(c.queue).and_then(|r| self.queues.get(r)) else {
                return Lanes::by_queue(callers, agents);
            };
            let class = Class {
                queue: c.queue,
                skills: call.map_or_else(Vec::new, |x| {
                    x.skills.iter().map(|s| (s.skill, s.min)).collect()
                }),
                tenant: call.and_then(|x| x.tenant),
                priority: if q.cfg.skill_tiers.is_empty() {
                    0
                } else {
                    c.key >> SEQ_BITS
                },
            };
            if !classes.contains_key(&class) {
                let Some(segs) = self.class_lanes(group, &class, ids, &mut masks, &mut table)
                else {
                    return Lanes::by_queue(callers, agents);
                };
                classes.insert(class.clone(), segs);
            }
            let segs = &classes[&class];
            let waited = call.map_or(0.0, |x| secs(now.saturating_sub(x.joined_at)));
            steps.clear();
            for (after, lane) in segs {
                let from = after - waited;
                if from <= 0.0 {
                    steps.clear();
                }
                steps.push((from.max(0.0), *lane));
            }
            if !lanes.push_caller(&steps) {
                return Lanes::by_queue(callers, agents);
            }
        }
        for m in masks {
            lanes.push_agent(m);
        }
        lanes
    }

    /// The lanes of one class, one per step of its queue's tiers: `(after, lane)`, setting
    /// each lane's bit on the agents that fit it. A class whose queue has no tiers shares
    /// its lane with every such class of the same agents (`shared`: agent set to lane),
    /// whatever their queue: an agent takes the earliest of them by key either way, and
    /// all are in it from the start. `None` beyond [`MAX_LANES`].
    fn class_lanes(
        &self,
        group: &[QueueId],
        class: &Class,
        ids: &[AgentId],
        masks: &mut [u64],
        lanes: &mut LaneTable,
    ) -> Option<Vec<(f64, usize)>> {
        let qid = *group.get(class.queue)?;
        let q = self.queues.get(&qid)?;
        let mut afters: Vec<Duration> = std::iter::once(Duration::ZERO)
            .chain(q.cfg.skill_tiers.iter().map(|t| t.after))
            .collect();
        afters.sort_unstable();
        afters.dedup();
        let skills: Vec<crate::config::SkillReq> = class
            .skills
            .iter()
            .map(|(skill, min)| crate::config::SkillReq {
                skill: *skill,
                min: *min,
            })
            .collect();
        let takes = |a: &Agent| a.cfg.queues.contains(&qid) && !a.off_queues.contains(&qid);
        let words = ids.len().div_ceil(64);
        // Per step: the agents that fit, one bit per agent.
        let mut sets: Vec<(f64, Vec<u64>)> = Vec::with_capacity(afters.len());
        let mut anyone = false;
        for after in afters {
            let tier = tier_in_force(q, after);
            let mut set = vec![0u64; words];
            for (i, id) in ids.iter().enumerate() {
                let Some(a) = self.agents.get(id) else {
                    continue;
                };
                if takes(a) && Self::fit_tier(a, &skills, class.tenant, q, tier).is_some() {
                    set[i / 64] |= 1u64 << (i % 64);
                    anyone = true;
                }
            }
            sets.push((secs(after), set));
        }
        if !anyone {
            // Nobody ever fits: every member counts (see the module's doc).
            sets.truncate(1);
            for (i, id) in ids.iter().enumerate() {
                if self.agents.get(id).is_some_and(takes) {
                    sets[0].1[i / 64] |= 1u64 << (i % 64);
                }
            }
        }
        let mut segs = Vec::with_capacity(sets.len());
        let alone = sets.len() == 1;
        for (after, set) in sets {
            let known = if alone {
                lanes.shared.get(&set).copied()
            } else {
                None
            };
            let lane = match known {
                Some(lane) => lane,
                None => {
                    let lane = lanes.next;
                    if lane >= MAX_LANES {
                        return None;
                    }
                    lanes.next += 1;
                    for (i, m) in masks.iter_mut().enumerate() {
                        if set[i / 64] & (1u64 << (i % 64)) != 0 {
                            *m |= 1u64 << lane;
                        }
                    }
                    if alone {
                        lanes.shared.insert(set, lane);
                    }
                    lane
                }
            };
            segs.push((after, lane));
        }
        Some(segs)
    }

    /// The callers of `group` waiting (or waiting as callback entries) with a key below
    /// `below`, in key order, and their calls.
    pub(super) fn group_callers(
        &self,
        group: &[QueueId],
        below: u64,
    ) -> (Vec<GroupCaller>, Vec<Option<CallId>>) {
        let mut v: Vec<(GroupCaller, Option<CallId>)> = Vec::new();
        for (i, r) in group.iter().enumerate() {
            let Some(q) = self.queues.get(r) else {
                continue;
            };
            for (k, c) in &q.order {
                if *k >= below {
                    break;
                }
                let may_abandon = match self.calls.get(c).map(|c| &c.state) {
                    Some(CallState::Waiting) => true,
                    Some(CallState::CallbackWaiting { .. }) => false,
                    _ => continue,
                };
                v.push((
                    GroupCaller {
                        queue: i,
                        key: *k,
                        may_abandon,
                    },
                    Some(*c),
                ));
            }
        }
        v.sort_unstable_by_key(|(c, _)| c.key);
        v.into_iter().unzip()
    }

    /// The caller's own estimate in lanes (no forecast holds for it): `call` of
    /// `group[own]`, behind every caller of the group with a lower key.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn estimate_in_lanes(
        &mut self,
        now: Duration,
        call: CallId,
        group: &[QueueId],
        own: usize,
        agents: &[SharedAgent],
        ids: &[AgentId],
        within: f64,
    ) -> Option<Estimate> {
        let key = self.calls.get(&call)?.key;
        let (mut callers, mut calls) = self.group_callers(group, key);
        callers.push(GroupCaller {
            queue: own,
            key,
            may_abandon: true,
        });
        calls.push(Some(call));
        let lanes = self.lanes_for(now, group, ids, &callers, &calls, agents);
        let mut views = Vec::with_capacity(group.len());
        for r in group {
            let q = self.queues.get(r)?;
            views.push(SharedQueue {
                model: &q.model,
                wrap_up: secs(q.cfg.wrap_up),
                ahead: &[],
            });
        }
        let level = views.get(own)?.model.level();
        GroupForecast::estimate_alone(
            &self.cfg.ewt,
            &mut self.rng,
            &views,
            &callers,
            agents,
            &lanes,
            within,
            level,
        )
    }
}
