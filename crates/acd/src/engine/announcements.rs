//! Estimated wait: the per-call estimate (within one queue or shared across queues
//! with common agents) and the periodic announcement of position and wait.

use super::*;

impl Acd {
    pub(super) fn estimate(
        &mut self,
        now: Duration,
        call: CallId,
        within: f64,
    ) -> Option<(Duration, f64)> {
        let c = self.calls.get(&call)?;
        let q = self.queues.get(&c.queue)?;
        let idx = q.index_of(c.key)?;
        // Queues whose callers compete for this queue's agents.
        let mut related = vec![c.queue];
        for m in &q.members {
            if let Some(a) = self.agents.get(m) {
                for r in &a.cfg.queues {
                    if !related.contains(r) && related.len() < 64 {
                        related.push(*r);
                    }
                }
            }
        }
        // Who may take whom matters (skills, tenants, tiers): play it (`lanes.rs`).
        let lanes = self.needs_lanes(&related);
        if related.len() > 1 || lanes {
            // One group for every queue with the same related queues: ids sorted.
            related.sort_unstable();
            let own = related.iter().position(|r| *r == c.queue)?;
            let (agents, ids) = self.shared_agents(now, &related, lanes);
            if let Some(e) =
                self.group_estimate(now, call, &related, own, &agents, &ids, within, lanes)
            {
                return e.map(to_duration);
            }
            let e = if lanes {
                self.estimate_in_lanes(now, call, &related, own, &agents, &ids, within)?
            } else {
                self.estimate_across(call, &related, own, &agents, within)?
            };
            return Some(to_duration(e));
        }
        self.loads.clear();
        self.load_ids.clear();
        // Only agents with what this caller needs (skills, tenant) can end the wait; while
        // none has it, the tiers may still widen: count every member.
        let fits = |a: &Agent| Self::fit(a, c, q, now).is_some();
        let any_fits = q
            .members
            .iter()
            .filter_map(|m| self.agents.get(m))
            .any(&fits);
        for m in &q.members {
            let Some(a) = self.agents.get(m) else {
                continue;
            };
            if any_fits && !fits(a) {
                continue;
            }
            let load = match &a.state {
                AgentState::Ringing { .. } | AgentState::Reserved { .. } => AgentLoad::Starting,
                AgentState::Busy { .. } => AgentLoad::Busy {
                    age: secs(now.saturating_sub(a.call_started)),
                },
                AgentState::WrapUp { until } => AgentLoad::FreeIn(secs(until.saturating_sub(now))),
                _ => continue,
            };
            self.loads.push(load);
            self.load_ids.push(*m);
        }
        let qid = c.queue;
        if let Some(e) = self.forecast_estimate(now, qid, idx, within) {
            return e.map(to_duration);
        }
        // No forecast for this caller (it sees other agents than the one that holds, or it
        // is the first estimate since the queue changed): its own simulation.
        let c = self.calls.get(&call)?;
        let q = self.queues.get(&c.queue)?;
        self.ahead.clear();
        for (_, other) in q.order.iter().take(idx) {
            match self.calls.get(other).map(|o| &o.state) {
                Some(CallState::Waiting) => self.ahead.push(true),
                Some(CallState::CallbackWaiting { .. }) => self.ahead.push(false),
                _ => {}
            }
        }
        let wrap = secs(q.cfg.wrap_up);
        let q = self.queues.get_mut(&qid)?;
        let e = q
            .model
            .estimate(&mut self.rng, &self.ahead, &self.loads, wrap, within)?;
        Some(to_duration(e))
    }

    /// The estimate when the queue's agents also serve other queues (`related[own]` is the
    /// caller's queue; `agents` as [`Acd::shared_agents`] sees them).
    pub(super) fn estimate_across(
        &mut self,
        call: CallId,
        related: &[QueueId],
        own: usize,
        agents: &[SharedAgent],
        within: f64,
    ) -> Option<Estimate> {
        let own_key = self.calls.get(&call)?.key;
        let mut aheads: Vec<Vec<(u64, bool)>> = Vec::with_capacity(related.len());
        for r in related {
            let mut v = Vec::new();
            if let Some(q) = self.queues.get(r) {
                for (k, other) in &q.order {
                    if *k >= own_key {
                        break;
                    }
                    match self.calls.get(other).map(|o| &o.state) {
                        Some(CallState::Waiting) => v.push((*k, true)),
                        Some(CallState::CallbackWaiting { .. }) => v.push((*k, false)),
                        _ => {}
                    }
                }
            }
            aheads.push(v);
        }
        let mut views = Vec::with_capacity(related.len());
        for (r, ahead) in related.iter().zip(&aheads) {
            let q = self.queues.get(r)?;
            views.push(SharedQueue {
                model: &q.model,
                wrap_up: secs(q.cfg.wrap_up),
                ahead,
            });
        }
        let level = views.get(own)?.model.level();
        estimate_shared(
            &mut self.rng,
            &self.cfg.ewt,
            &views,
            agents,
            own,
            own_key,
            within,
            level,
        )
    }

    /// Announces position and `bound` to `call` now; `due` is when it should have been.
    pub(super) fn announce(
        &mut self,
        now: Duration,
        due: Duration,
        call: CallId,
        bound: Option<Duration>,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let qid = c.queue;
        let waited = now.saturating_sub(c.joined_at);
        let position = self.position(call).unwrap_or(0);
        self.out.push_back(Output::Announce {
            call,
            queue: qid,
            position,
            ewt_bound: bound,
            spoken: Spoken::from_bound(bound),
            due,
        });
        self.out.push_back(Output::Log(Event::Predicted {
            call,
            queue: qid,
            position,
            bound,
            waited,
        }));
    }
}
