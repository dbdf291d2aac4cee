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
        if related.len() > 1 {
            let e = self.estimate_across(now, call, &related, within)?;
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

    /// The estimate when the queue's agents also serve other queues (`related[0]` is the
    /// caller's queue).
    pub(super) fn estimate_across(
        &mut self,
        now: Duration,
        call: CallId,
        related: &[QueueId],
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
        let mut agents = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for r in related {
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
                    _ => continue,
                };
                let on = match &a.state {
                    AgentState::Ringing { call } | AgentState::Reserved { call } => Some(*call),
                    _ => a.current.map(|x| x.0),
                };
                let current = on
                    .and_then(|c| self.calls.get(&c))
                    .and_then(|c| related.iter().position(|r| *r == c.queue))
                    .unwrap_or(0);
                let serves = a
                    .cfg
                    .queues
                    .iter()
                    .filter_map(|q| related.iter().position(|r| r == q))
                    .fold(0u64, |mask, i| mask | (1u64 << i));
                agents.push(SharedAgent {
                    load,
                    current,
                    serves,
                });
            }
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
        let level = views.first()?.model.level();
        estimate_shared(
            &mut self.rng,
            &self.cfg.ewt,
            &views,
            &agents,
            0,
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
