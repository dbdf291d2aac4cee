//! Routing: which agents may take which call, the queue strategies that pick among
//! them, offers and their answers, refusals and no-answer (RONA), and re-offering.

use super::*;

impl Acd {
    /// The agent answered the offered call. Other agents ringing for it (ring-all) get a
    /// `CancelOffer`. A stale answer (someone else won) is an error: hang that leg up.
    pub fn handle_offer_answered(
        &mut self,
        now: Duration,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallState::Offered { agents, deadline } = &c.state else {
            return Err(AcdError::StaleOffer { call, agent });
        };
        let deadline = *deadline;
        if !agents.contains(&agent)
            || self.agents.get(&agent).map(|a| &a.state) != Some(&AgentState::Ringing { call })
        {
            return Err(AcdError::StaleOffer { call, agent });
        }
        let others: Vec<AgentId> = agents.iter().copied().filter(|a| *a != agent).collect();
        let qid = c.queue;
        let key = c.key;
        let waited = now.saturating_sub(c.joined_at);
        let join_bound = c.join_bound;
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::Connected { agent };
            c.next_announce = None;
        }
        self.forget_away_of(call);
        if let Some(q) = self.queues.get_mut(&qid) {
            q.remove(key);
            q.stats.answered += 1;
            q.model.record_departure(secs(waited), false);
            // Rang from `deadline - ring_timeout` until now.
            let rang = q
                .cfg
                .ring_timeout
                .saturating_sub(deadline.saturating_sub(now));
            q.model.record_offer(Some(secs(rang)));
            if let Some(b) = join_bound {
                q.model.record_coverage(waited <= b);
            }
            if let Some(i) = q.members.iter().position(|m| *m == agent) {
                q.answered_by[i] += 1;
            }
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.call_started = now;
            a.current = Some((call, BusyKind::Queue));
        }
        self.set_state(
            agent,
            AgentState::Busy {
                call: Some(call),
                kind: BusyKind::Queue,
            },
        );
        self.out.push_back(Output::Log(Event::Waited {
            call,
            queue: qid,
            waited,
            outcome: Outcome::Answered,
        }));
        for o in others {
            self.out.push_back(Output::CancelOffer { call, agent: o });
            self.release_agent(now, o);
        }
        Ok(())
    }

    /// The offer to `agent` failed. `Rejected`: the agent stays available but is not offered
    /// this call again. `NoAnswer`: RONA, the agent is paused with reason `rona`.
    /// `Unreachable`: the agent becomes unreachable. The call is re-offered.
    pub fn handle_offer_failed(
        &mut self,
        now: Duration,
        call: CallId,
        agent: AgentId,
        failure: OfferFailure,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let ringing = matches!(&c.state, CallState::Offered { agents, .. } if agents.contains(&agent))
            && self.agents.get(&agent).map(|a| &a.state) == Some(&AgentState::Ringing { call });
        if !ringing {
            return Err(AcdError::StaleOffer { call, agent });
        }
        self.drop_from_offer(call, agent);
        match failure {
            OfferFailure::Rejected => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.declined.push(agent);
                }
                self.redispatch_if_unoffered(now, call);
                self.make_available(now, agent);
            }
            OfferFailure::NoAnswer => {
                self.rona(now, agent, call);
                self.redispatch_if_unoffered(now, call);
            }
            OfferFailure::Unreachable => {
                self.set_state(agent, AgentState::Unreachable);
                self.redispatch_if_unoffered(now, call);
                self.check_empty(now, agent);
            }
        }
        Ok(())
    }

    /// Minimum proficiency relaxation for a call that has waited `waited` in `q`.
    pub(super) fn eligible(
        &self,
        agent: &Agent,
        call: &Call,
        q: &Queue,
        now: Duration,
    ) -> Option<u32> {
        if agent.state != AgentState::Available
            || call.declined.contains(&agent.cfg.id)
            || agent.off_queues.contains(&call.queue)
        {
            return None;
        }
        Self::fit(agent, call, q, now)
    }

    /// Whether `agent` has what `call` needs now (tenant, the call's skills and those of the
    /// skill tier in force after its wait), whatever the agent is doing: the skill score, or
    /// `None` when it does not fit.
    pub(super) fn fit(agent: &Agent, call: &Call, q: &Queue, now: Duration) -> Option<u32> {
        let waited = now.saturating_sub(call.joined_at);
        Self::fit_tier(
            agent,
            &call.skills,
            call.tenant,
            q,
            tier_in_force(q, waited),
        )
    }

    /// Whether `agent` has what a call of `q` with `skills` and `tenant` needs while `tier`
    /// applies: the skill score, or `None` when it does not fit.
    pub(super) fn fit_tier(
        agent: &Agent,
        skills: &[crate::config::SkillReq],
        tenant: Option<crate::ids::TenantId>,
        q: &Queue,
        tier: Option<&crate::config::SkillTier>,
    ) -> Option<u32> {
        let tenant_ok =
            |t: Option<crate::ids::TenantId>| t.is_none_or(|x| agent.cfg.tenants.contains(&x));
        if !tenant_ok(tenant) || !tenant_ok(q.cfg.tenant) {
            return None;
        }
        let relax = tier.map(|t| t.relax).unwrap_or(0);
        let have = |skill| {
            agent
                .cfg
                .skills
                .iter()
                .find(|(s, _)| *s == skill)
                .map(|(_, p)| *p)
                .unwrap_or(0)
        };
        let mut score = 0u32;
        for req in skills {
            let need = req.min.saturating_sub(relax).max(1);
            let p = have(req.skill);
            if p < need {
                return None;
            }
            score += u32::from(p);
        }
        for req in tier.map(|t| t.skills.as_slice()).unwrap_or_default() {
            let p = have(req.skill);
            if p < req.min.max(1) {
                return None;
            }
            if !skills.iter().any(|c| c.skill == req.skill) {
                score += u32::from(p);
            }
        }
        Some(score)
    }

    /// Try to give `call` to one (or, for ring-all, every) qualified available agent.
    pub(super) fn dispatch_call(&mut self, now: Duration, call: CallId) {
        loop {
            if self.available == 0 {
                return;
            }
            let Some(c) = self.calls.get(&call) else {
                return;
            };
            if !c.unassigned(now) {
                return;
            }
            let Some(q) = self.queues.get(&c.queue) else {
                return;
            };
            let mut cands: Vec<(usize, AgentId, u32)> = Vec::new();
            for (i, m) in q.members.iter().enumerate() {
                if let Some(a) = self.agents.get(m) {
                    if let Some(score) = self.eligible(a, c, q, now) {
                        cands.push((i, *m, score));
                    }
                }
            }
            if !c.origins.is_empty() {
                // Agents of the queues it overflowed out of may take it too.
                let n = q.members.len();
                for (j, (m, score)) in self
                    .origin_candidates(now, c, &q.members)
                    .into_iter()
                    .enumerate()
                {
                    cands.push((n + j, m, score));
                }
            }
            if cands.is_empty() {
                return;
            }
            let idle = |a: AgentId| {
                self.agents
                    .get(&a)
                    .map(|x| x.idle_since)
                    .unwrap_or_default()
            };
            let strategy = q.cfg.strategy;
            let qid = c.queue;
            if strategy == Strategy::RingAll && matches!(c.state, CallState::Waiting) {
                // Ring everyone whose first call this is; agents who qualify for an earlier
                // call (e.g. both widened at the same instant) take that one first.
                let mut ring = Vec::new();
                let mut earlier: Vec<CallId> = Vec::new();
                for (_, a, _) in &cands {
                    match self.best_call_for(now, *a) {
                        Some(b) if b == call => ring.push(*a),
                        Some(b) if !earlier.contains(&b) => earlier.push(b),
                        _ => {}
                    }
                }
                if !ring.is_empty() {
                    self.offer(now, call, ring);
                    return;
                }
                if earlier.is_empty() {
                    return;
                }
                earlier.sort_by_key(|c| self.calls.get(c).map(|x| x.key));
                for e in earlier {
                    self.dispatch_call(now, e);
                }
                continue;
            }
            let pick = match strategy {
                Strategy::RingAll | Strategy::LongestIdle | Strategy::SkillsLongestIdle => {
                    cands.iter().min_by_key(|x| (idle(x.1), x.0)).map(|x| x.1)
                }
                Strategy::SkillsBest => cands
                    .iter()
                    .min_by_key(|x| (Reverse(x.2), idle(x.1), x.0))
                    .map(|x| x.1),
                Strategy::FewestCalls => cands
                    .iter()
                    .min_by_key(|x| (q.answered_by.get(x.0).copied().unwrap_or(0), idle(x.1), x.0))
                    .map(|x| x.1),
                Strategy::RoundRobin => {
                    let start = q.rr_next;
                    cands.iter().min_by_key(|x| (x.0 < start, x.0)).map(|x| x.1)
                }
                Strategy::Random => {
                    let i = self.rng.gen_range(0..cands.len());
                    cands.get(i).map(|x| x.1)
                }
            };
            let Some(agent) = pick else {
                return;
            };
            if strategy == Strategy::RoundRobin {
                if let Some(q) = self.queues.get_mut(&qid) {
                    if let Some(i) = q.members.iter().position(|m| *m == agent) {
                        q.rr_next = (i + 1) % q.members.len().max(1);
                    }
                }
            }
            // The agent takes the earliest call they qualify for: usually this one.
            if !self.assign_agent(now, agent) {
                return;
            }
        }
    }

    /// Give an available agent the first call (priority, then FIFO) they qualify for across
    /// their queues. Returns whether something was offered.
    pub(super) fn assign_agent(&mut self, now: Duration, agent: AgentId) -> bool {
        let Some(call) = self.best_call_for(now, agent) else {
            return false;
        };
        self.offer(now, call, vec![agent]);
        true
    }

    /// The first call (priority, then FIFO) an available agent qualifies for across their
    /// queues.
    pub(super) fn best_call_for(&self, now: Duration, agent: AgentId) -> Option<CallId> {
        let a = self.agents.get(&agent)?;
        if a.state != AgentState::Available {
            return None;
        }
        let mut best: Option<(u64, CallId)> = None;
        for qid in &a.cfg.queues {
            let Some(q) = self.queues.get(qid) else {
                continue;
            };
            for (key, cid) in &q.order {
                if best.is_some_and(|(k, _)| k <= *key) {
                    break;
                }
                let Some(c) = self.calls.get(cid) else {
                    continue;
                };
                if c.unassigned(now) && self.eligible(a, c, q, now).is_some() {
                    best = Some((*key, *cid));
                    break;
                }
            }
            if let Some(found) = self.first_away_for(now, a, *qid, q, best.map(|b| b.0)) {
                best = Some(found);
            }
        }
        best.map(|(_, c)| c)
    }

    /// A waiting callback entry is placed now through `agent`: the entry is dialling (one
    /// more attempt), the agent is reserved for it and [`Output::Callback`] asks the
    /// driver to place it. Its turn coming and click-to-call both end here.
    pub(super) fn dial_callback(
        &mut self,
        call: CallId,
        qid: QueueId,
        number: PhoneNumber,
        attempts: u32,
        agent: AgentId,
        order: crate::config::CallbackOrder,
    ) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.state = CallState::CallbackDialing {
                number: number.clone(),
                attempts: attempts + 1,
                agent,
            };
        }
        self.order_changed(call);
        self.set_state(agent, AgentState::Reserved { call });
        self.out.push_back(Output::Callback {
            call,
            queue: qid,
            number,
            agent,
            order,
            attempt: attempts + 1,
        });
    }

    pub(super) fn offer(&mut self, now: Duration, call: CallId, agents: Vec<AgentId>) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let qid = c.queue;
        let Some(q) = self.queues.get(&qid) else {
            return;
        };
        if cfg!(debug_assertions) {
            for ag in &agents {
                if let Some(a) = self.agents.get(ag).filter(|_| q.members.contains(ag)) {
                    for (key, other) in &q.order {
                        if *key >= c.key {
                            break;
                        }
                        if let Some(o) = self.calls.get(other) {
                            if o.unassigned(now) && self.eligible(a, o, q, now).is_some() {
                                self.order_violations += 1;
                            }
                        }
                    }
                }
            }
        }
        let ring = q.cfg.ring_timeout;
        let policy = q.cfg.callback;
        match c.state.clone() {
            CallState::CallbackWaiting {
                number, attempts, ..
            } => {
                let Some(agent) = agents.first().copied() else {
                    return;
                };
                self.dial_callback(call, qid, number, attempts, agent, policy.order);
            }
            _ => {
                let deadline = now + ring;
                for a in &agents {
                    self.set_state(*a, AgentState::Ringing { call });
                    self.out.push_back(Output::Offer {
                        call,
                        agent: *a,
                        queue: qid,
                    });
                }
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Offered { agents, deadline };
                }
                self.order_changed(call);
                self.arm(deadline, Timer::Offer(call));
            }
        }
    }

    /// After every offer of a call lapsed: enforce a max wait or overflow that came due while
    /// it was ringing, else offer it again.
    pub(super) fn after_offer_lapsed(&mut self, now: Duration, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let q = self.queues.get(&c.queue);
        if c.max_wait_at.is_some_and(|t| t <= now) {
            let target = q
                .and_then(|q| q.cfg.max_wait.as_ref())
                .map(|m| m.target.clone())
                .unwrap_or_default();
            self.leave(now, call, Outcome::Exited(ExitReason::MaxWait { target }));
            return;
        }
        if c.overflow_at.is_some_and(|t| t <= now) {
            if let Some(to) = q
                .and_then(|q| q.cfg.overflow.as_ref())
                .map(|o| o.to.clone())
            {
                self.overflow_to_reserve(now, call, &to);
                return;
            }
        }
        self.dispatch_call(now, call);
    }

    pub(super) fn rona(&mut self, now: Duration, agent: AgentId, call: CallId) {
        self.set_state(
            agent,
            AgentState::Paused {
                reason: RONA.to_string(),
            },
        );
        self.out.push_back(Output::Log(Event::Rona { agent, call }));
        let queue = self.calls.get(&call).map(|c| c.queue);
        if let Some(q) = queue.and_then(|q| self.queues.get_mut(&q)) {
            q.model.record_offer(None);
        }
        if let Some(after) = self.cfg.rona_unpause_after {
            let until = now + after;
            if let Some(a) = self.agents.get_mut(&agent) {
                a.rona_until = Some(until);
            }
            self.arm(until, Timer::RonaEnd(agent));
        }
    }

    pub(super) fn drop_from_offer(&mut self, call: CallId, agent: AgentId) {
        if let Some(c) = self.calls.get_mut(&call) {
            if let CallState::Offered { agents, .. } = &mut c.state {
                agents.retain(|a| *a != agent);
                if agents.is_empty() {
                    c.state = CallState::Waiting;
                }
            }
        }
        self.order_changed(call);
    }

    pub(super) fn redispatch_if_unoffered(&mut self, now: Duration, call: CallId) {
        if self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Waiting))
        {
            self.after_offer_lapsed(now, call);
        }
    }

    /// Turn an offered call back into a waiting one and return the agents that were ringing
    /// (still in `Ringing`; the caller cancels and releases them).
    pub(super) fn take_offer_agents(&mut self, call: CallId) -> Vec<AgentId> {
        match self.calls.get_mut(&call) {
            Some(c) => match std::mem::replace(&mut c.state, CallState::Waiting) {
                CallState::Offered { agents, .. } => agents,
                other => {
                    c.state = other;
                    Vec::new()
                }
            },
            None => Vec::new(),
        }
    }
}

/// The skill tier of `q` in force after `waited`: the one with the largest `after` not
/// above it.
pub(super) fn tier_in_force(q: &Queue, waited: Duration) -> Option<&crate::config::SkillTier> {
    q.cfg
        .skill_tiers
        .iter()
        .filter(|t| t.after <= waited)
        .max_by_key(|t| t.after)
}
