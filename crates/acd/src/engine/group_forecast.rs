//! The forecast of a group of queues sharing agents, as the engine keeps it (the model is
//! `ewt/group.rs`; docs/decisions/0049-ewt-forecast-for-shared-agents.md says why).
//!
//! A caller whose queue's agents also serve other queues is estimated over the queues its
//! queue's members serve (its *group*, the queue ids sorted): the per-caller shared Monte
//! Carlo plays them together. The engine keeps one [`GroupForecast`] per group, keyed by
//! those ids, so every caller of every queue with the same group reads it. It holds while:
//! no queue of the group changed its epoch (nobody left, was offered or became or stopped
//! being a callback; nobody was inserted ahead of others); nobody joined any of them with a
//! key below the last caller played (a priority caller joining queue A is ahead of queue B's
//! callers too); every agent is as the forecast left it (same state `age` seconds on, same
//! queues, on a call of the same queue); and it is at most `EwtConfig::reuse_for` old.
//! It also plays `JOINERS` callers joining behind everyone in the queue of the caller that
//! made it: while every caller who joined the group since joined that queue, their
//! announcements read it too. Beyond those 64, the first joiner gets its own estimate and
//! the second makes a new forecast; while callers join several queues of the group (not
//! played), they get their own estimates and a new forecast is made at most once a second
//! (`MIXED_JOINERS_REMAKE`), not once per two joins. As for one queue, the first estimate
//! after a change is the caller's own and the second in the same state of the group makes
//! the forecast, unless the last forecast served a round of announcements (8 reads or more,
//! and it is under `reuse_for` old): then the first estimate after a change makes the next
//! forecast at once (a storm changes about once per answered call; paying a per-caller
//! estimate at depth for each change was an eighth of the cost).
//!
//! Where who may take whom matters (`lanes.rs`: a caller needing skills or a tenant, or
//! skill tiers), the same state keeps a forecast made in lanes, read only by estimates in
//! lanes; a queue alone is then a group of one. Its joiners have no needs: a joiner with
//! needs gets its own estimate, as a joiner of another queue does.

use super::*;
use crate::ewt::{GroupCaller, GroupForecast, Lanes};

/// Callers expected to join behind the group's line (in the queue of the caller that made
/// the forecast) before it is replaced: their positions are played too.
const JOINERS: usize = 64;

/// While callers join several queues of a group, a forecast that still holds for the
/// callers it played is remade for the joiners at most this often (seconds); joiners in
/// between get their own estimate.
const MIXED_JOINERS_REMAKE: f64 = 1.0;

/// Reads of a forecast from which the group counts as announcing in rounds (see `reads`).
const ROUND_READS: u32 = 8;

/// One group's forecast and what it was made from.
#[derive(Debug, Default)]
pub(super) struct GroupState {
    forecast: GroupForecast,
    /// Per queue of the group, in order: its epoch and order length when made.
    made: Option<Vec<(u64, usize)>>,
    /// Keys of the callers played, ascending (a caller's position is its index); the
    /// joiners played come after them.
    keys: Vec<u64>,
    /// The queue (index in the group) whose joiners were played.
    joiners_queue: usize,
    /// The epochs and time of the last estimate that found no forecast holding.
    first_reader: Option<(Vec<u64>, f64)>,
    /// Estimates read from the current forecast: a group whose last forecast served a
    /// round of announcements makes the next one at the first estimate after a change.
    reads: u32,
    /// Made playing who may take whom (`lanes.rs`): only such estimates read it.
    in_lanes: bool,
}

impl GroupState {
    /// Bytes held on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.forecast.heap_bytes()
            + self.keys.capacity() * 8
            + self.made.as_ref().map_or(0, |m| m.capacity() * 16)
    }
}

impl Acd {
    /// The agents of `group` (queue ids, sorted) as the shared estimate sees them, and
    /// their ids. With `available`, available agents too (free now): in lanes one may take
    /// a caller it does not fit yet once that caller's tier widens.
    pub(super) fn shared_agents(
        &self,
        now: Duration,
        group: &[QueueId],
        available: bool,
    ) -> (Vec<SharedAgent>, Vec<AgentId>) {
        let mut agents = Vec::new();
        let mut ids = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in group {
            let Some(q) = self.queues.get(r) else {
                continue;
            };
            for m in &q.members {
                if !seen.insert(*m) {
                    continue;
                }
                let Some(a) = self.agents.get(m) else {
                    continue;
                };
                let load = match &a.state {
                    AgentState::Ringing { .. } | AgentState::Reserved { .. } => AgentLoad::Starting,
                    AgentState::Busy { .. } => AgentLoad::Busy {
                        age: secs(now.saturating_sub(a.call_started)),
                    },
                    AgentState::WrapUp { until } => {
                        AgentLoad::FreeIn(secs(until.saturating_sub(now)))
                    }
                    AgentState::Available if available => AgentLoad::FreeIn(0.0),
                    _ => continue,
                };
                let on = match &a.state {
                    AgentState::Ringing { call } | AgentState::Reserved { call } => Some(*call),
                    _ => a.current.map(|x| x.0),
                };
                let current = on
                    .and_then(|c| self.calls.get(&c))
                    .and_then(|c| group.iter().position(|r| *r == c.queue))
                    .unwrap_or(0);
                let serves = a
                    .cfg
                    .queues
                    .iter()
                    .filter_map(|q| group.iter().position(|r| r == q))
                    .fold(0u64, |mask, i| mask | (1u64 << i));
                agents.push(SharedAgent {
                    load,
                    current,
                    serves,
                });
                ids.push(*m);
            }
        }
        (agents, ids)
    }

    /// The estimate of `call` (of `group[own]`) from the group's forecast, made anew when
    /// it no longer holds. `None` when the forecast cannot serve this caller (it joined
    /// after the forecast was made, or it is the first estimate since the group changed):
    /// the caller gets its own estimate. With `lanes`, the forecast plays who may take whom
    /// (`lanes.rs`; `ids` are the agents' ids) and covers joiners with no needs only.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn group_estimate(
        &mut self,
        now: Duration,
        call: CallId,
        group: &[QueueId],
        own: usize,
        agents: &[SharedAgent],
        ids: &[AgentId],
        within: f64,
        lanes: bool,
    ) -> Option<Option<Estimate>> {
        let c = self.calls.get(&call)?;
        let key = c.key;
        let plain = !c.is_needy();
        let now_s = secs(now);
        let max_age = self.cfg.ewt.reuse_for;
        let queues = &self.queues;
        let st = self.groups.entry(group.to_vec()).or_default();
        let last_played = st.keys.last().copied().unwrap_or(0);
        let unchanged = st.made.as_ref().is_some_and(|made| {
            made.len() == group.len()
                && made.iter().zip(group).all(|((epoch, len), r)| {
                    queues.get(r).is_some_and(|q| {
                        q.epoch == *epoch
                            && q.order.len() >= *len
                            && q.order.get(*len).is_none_or(|(k, _)| *k > last_played)
                    })
                })
        });
        let holds = unchanged && st.in_lanes == lanes && st.forecast.holds(now_s, agents, max_age);
        // In lanes the joiners played have no needs: a joiner with needs is not one of them.
        // (A joiner without needs behind one with needs reads the position it would have
        // behind a joiner without: a little long, as that one may leave it an agent.)
        let plain_joiner = !lanes || plain;
        if holds {
            // Joined since it was made: played if everyone who joined since joined the
            // joiners' queue (then its place among them is its place in that order).
            let joined_only_there = st.made.as_ref().is_some_and(|made| {
                made.iter()
                    .zip(group)
                    .enumerate()
                    .all(|(i, ((_, len), r))| {
                        i == st.joiners_queue
                            || queues.get(r).is_some_and(|q| q.order.len() == *len)
                    })
            });
            let pos = match st.keys.binary_search(&key) {
                Ok(pos) => Some(pos),
                Err(_) if own == st.joiners_queue && joined_only_there && plain_joiner => {
                    let made = st.made.as_ref()?;
                    let idx = queues.get(&group[own])?.index_of(key)?;
                    Some(st.keys.len() + idx.checked_sub(made.get(own)?.1)?)
                }
                Err(_) => None,
            };
            if let Some(pos) = pos.filter(|p| *p < st.forecast.positions()) {
                let level = queues.get(&group[own])?.model.level();
                st.reads = st.reads.saturating_add(1);
                return Some(st.forecast.estimate(pos, own, now_s, within, level));
            }
            // A joiner it does not cover. Beyond the joiners played (all in one queue): as
            // after a change, its own estimate first, a new forecast for the next. Joiners
            // of several queues (a storm filling them all): their own estimates, and a new
            // forecast at most once a second, not one per two joins.
            if !(joined_only_there && plain_joiner)
                && now_s - st.forecast.made_at() < MIXED_JOINERS_REMAKE
            {
                return None;
            }
        }
        let epochs: Vec<u64> = group
            .iter()
            .map(|r| queues.get(r).map_or(0, |q| q.epoch))
            .collect();
        let second = st
            .first_reader
            .as_ref()
            .is_some_and(|(e, at)| *e == epochs && (0.0..=max_age).contains(&(now_s - at)));
        // A round of announcements is under way (the last forecast served several): the
        // first estimate after a change makes the next one instead of paying its own.
        let busy = st.reads >= ROUND_READS && now_s - st.forecast.made_at() <= max_age;
        if !second && !busy {
            st.first_reader = Some((epochs, now_s));
            return None;
        }
        st.first_reader = None;
        st.reads = 0;
        self.make_group_forecast(now, group, own, agents, ids, lanes);
        let st = self.groups.get_mut(group)?;
        let pos = st.keys.binary_search(&key).ok()?;
        let level = self.queues.get(&group[own])?.model.level();
        Some(st.forecast.estimate(pos, own, now_s, within, level))
    }

    /// Play `group`'s future from `now` for every caller of its queues and `JOINERS`
    /// joining `group[joiners]` behind them (in `lanes`, joiners with no needs).
    fn make_group_forecast(
        &mut self,
        now: Duration,
        group: &[QueueId],
        joiners: usize,
        agents: &[SharedAgent],
        ids: &[AgentId],
        lanes: bool,
    ) {
        let made: Vec<(u64, usize)> = group
            .iter()
            .map(|r| {
                self.queues
                    .get(r)
                    .map_or((0, 0), |q| (q.epoch, q.order.len()))
            })
            .collect();
        let (mut callers, mut calls) = self.group_callers(group, u64::MAX);
        let played = callers.len();
        let last = callers.last().map_or(0, |c| c.key);
        callers.extend((1..=JOINERS as u64).map(|j| GroupCaller {
            queue: joiners,
            key: last.saturating_add(j),
            may_abandon: true,
        }));
        calls.resize(callers.len(), None);
        let who = if lanes {
            self.lanes_for(now, group, ids, &callers, &calls, agents)
        } else {
            Lanes::by_queue(&callers, agents)
        };
        let mut views = Vec::with_capacity(group.len());
        for r in group {
            let Some(q) = self.queues.get(r) else {
                return;
            };
            views.push(SharedQueue {
                model: &q.model,
                wrap_up: secs(q.cfg.wrap_up),
                ahead: &[],
            });
        }
        let st = self.groups.entry(group.to_vec()).or_default();
        let ok = st.forecast.make_in_lanes(
            &self.cfg.ewt,
            &mut self.rng,
            secs(now),
            &views,
            &callers,
            agents,
            &who,
        );
        st.in_lanes = lanes;
        st.keys.clear();
        st.keys.extend(callers[..played].iter().map(|c| c.key));
        st.joiners_queue = joiners;
        st.keys.shrink_to_fit();
        st.made = ok.then_some(made);
        self.forecasts_made += 1;
    }
}
