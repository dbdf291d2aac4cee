//! The agent's side: login and logout, reachability, pause and unpause, wrap-up, calls
//! outside the ACD, and the agent state transitions they cause.

use super::*;

impl Acd {
    /// The agent logs in and becomes available.
    pub fn handle_login(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if a.state == AgentState::LoggedOut {
            self.make_available(now, agent);
        }
        Ok(())
    }

    /// The agent logs out. A ringing offer is withdrawn and the call re-offered; a call in
    /// progress continues, but the agent is not offered anything afterwards.
    pub fn handle_logout(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        self.agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        self.take_out(now, agent, AgentState::LoggedOut);
        Ok(())
    }

    /// The agent's device became unreachable (registration lost, transport failure): never
    /// offered until [`Acd::handle_reachable`].
    pub fn handle_unreachable(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        self.agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        self.take_out(now, agent, AgentState::Unreachable);
        Ok(())
    }

    /// The agent's device is reachable again: the agent becomes available.
    pub fn handle_reachable(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if a.state == AgentState::Unreachable {
            self.make_available(now, agent);
        }
        Ok(())
    }

    /// Pause with a reason. If the agent is on a call, ringing or reserved, the pause takes
    /// effect when that ends (a ringing offer is withdrawn at once).
    pub fn handle_pause(
        &mut self,
        now: Duration,
        agent: AgentId,
        reason: String,
    ) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        match a.state.clone() {
            AgentState::LoggedOut | AgentState::Unreachable => {
                return Err(AcdError::NotLoggedIn(agent))
            }
            AgentState::Available | AgentState::WrapUp { .. } | AgentState::Paused { .. } => {
                self.set_state(agent, AgentState::Paused { reason });
            }
            AgentState::Ringing { call } => {
                self.drop_from_offer(call, agent);
                self.out.push_back(Output::CancelOffer { call, agent });
                self.set_state(agent, AgentState::Paused { reason });
                self.redispatch_if_unoffered(now, call);
            }
            AgentState::Busy { .. } | AgentState::Reserved { .. } => {
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.pending_pause = Some(reason);
                }
            }
        }
        Ok(())
    }

    /// Unpause (also cancels a pending pause).
    pub fn handle_unpause(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        a.pending_pause = None;
        if matches!(a.state, AgentState::Paused { .. }) {
            self.make_available(now, agent);
        }
        Ok(())
    }

    /// The agent finished wrap-up early ("end wrap-up"): available now (or paused, if a
    /// pause waits), and the wrap-up timer lapses unused. [`AcdError::NotInWrapUp`] when the
    /// agent is not in wrap-up (nothing changes).
    pub fn handle_wrap_up_done(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if !matches!(a.state, AgentState::WrapUp { .. }) {
            return Err(AcdError::NotInWrapUp(agent));
        }
        self.make_available(now, agent);
        Ok(())
    }

    /// The agent, if `queue` is one of its configured queues (the ones it may log into).
    fn member_of(&mut self, agent: AgentId, queue: QueueId) -> Result<&mut Agent, AcdError> {
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if !a.cfg.queues.contains(&queue) {
            return Err(AcdError::NotMember { agent, queue });
        }
        Ok(a)
    }

    /// The agent logs out of one of its configured queues: it is not offered that queue's
    /// calls until [`Acd::handle_queue_login`]. A ringing offer from that queue is withdrawn
    /// and the call re-offered; a call in progress continues. The agent's state (and its
    /// other queues) are unchanged; the membership outlives a device logout and login.
    pub fn handle_queue_logout(
        &mut self,
        now: Duration,
        agent: AgentId,
        queue: QueueId,
    ) -> Result<(), AcdError> {
        let a = self.member_of(agent, queue)?;
        if a.off_queues.contains(&queue) {
            return Ok(());
        }
        a.off_queues.push(queue);
        let state = a.state.clone();
        self.out.push_back(Output::Log(Event::QueueMembership {
            agent,
            queue,
            active: false,
        }));
        if let AgentState::Ringing { call } = state {
            if self.calls.get(&call).is_some_and(|c| c.queue == queue) {
                self.drop_from_offer(call, agent);
                self.out.push_back(Output::CancelOffer { call, agent });
                self.redispatch_if_unoffered(now, call);
                self.release_agent(now, agent);
            }
        }
        self.check_empty(now, agent);
        Ok(())
    }

    /// The agent logs (back) into one of its configured queues; if available, it takes the
    /// best call waiting there (or in its other queues).
    pub fn handle_queue_login(
        &mut self,
        now: Duration,
        agent: AgentId,
        queue: QueueId,
    ) -> Result<(), AcdError> {
        let a = self.member_of(agent, queue)?;
        let Some(i) = a.off_queues.iter().position(|q| *q == queue) else {
            return Ok(());
        };
        a.off_queues.remove(i);
        let available = a.state == AgentState::Available;
        self.out.push_back(Output::Log(Event::QueueMembership {
            agent,
            queue,
            active: true,
        }));
        if available {
            self.assign_agent(now, agent);
        }
        Ok(())
    }

    /// The agent is on a call that did not come from a queue (direct, transfer, outbound):
    /// busy everywhere. A ringing offer is withdrawn; a pause is kept for afterwards.
    pub fn handle_agent_busy(
        &mut self,
        now: Duration,
        agent: AgentId,
        kind: BusyKind,
    ) -> Result<(), AcdError> {
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        a.direct = Some(kind);
        let busy = AgentState::Busy { call: None, kind };
        match a.state.clone() {
            // Logged-out and unreachable agents stay so; they come back busy.
            AgentState::LoggedOut | AgentState::Unreachable | AgentState::Busy { .. } => {
                return Ok(())
            }
            AgentState::Available | AgentState::WrapUp { .. } => {}
            AgentState::Paused { reason } => {
                a.pending_pause = Some(reason);
            }
            AgentState::Ringing { call } => {
                self.drop_from_offer(call, agent);
                self.out.push_back(Output::CancelOffer { call, agent });
                self.set_state(agent, busy.clone());
                self.redispatch_if_unoffered(now, call);
            }
            AgentState::Reserved { call } => {
                self.set_state(agent, busy.clone());
                self.return_callback(now, call);
            }
        }
        if let Some(a) = self.agents.get_mut(&agent) {
            a.call_started = now;
        }
        self.set_state(agent, busy);
        Ok(())
    }

    /// The non-queue call ended: the agent becomes available (or paused, if a pause waits).
    pub fn handle_agent_idle(&mut self, now: Duration, agent: AgentId) -> Result<(), AcdError> {
        let a = self
            .agents
            .get_mut(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        a.direct = None;
        if matches!(a.state, AgentState::Busy { call: None, .. }) {
            self.make_available(now, agent);
        }
        Ok(())
    }

    pub(super) fn set_state(&mut self, agent: AgentId, state: AgentState) {
        if let Some(a) = self.agents.get_mut(&agent) {
            if a.state == state {
                return;
            }
            if a.state == AgentState::Available {
                self.available -= 1;
            }
            if state == AgentState::Available {
                self.available += 1;
            }
            a.state = state.clone();
            self.out
                .push_back(Output::Log(Event::AgentState { agent, state }));
        }
    }

    pub(super) fn staffed(&self, q_id: QueueId) -> bool {
        self.queues.get(&q_id).is_some_and(|q| {
            q.members.iter().any(|m| {
                self.agents.get(m).is_some_and(|a| {
                    !matches!(a.state, AgentState::LoggedOut | AgentState::Unreachable)
                        && !a.off_queues.contains(&q_id)
                })
            })
        })
    }

    /// Agent becomes available (or paused if a pause is pending) and takes the best call;
    /// its idle time starts now (longest-idle counts from the end of its last call).
    pub(super) fn make_available(&mut self, now: Duration, agent: AgentId) {
        self.free_agent(now, agent, true);
    }

    /// An agent freed from an offer or reservation without having taken a call: same as
    /// [`make_available`](Self::make_available), but its idle time keeps running.
    pub(super) fn release_agent(&mut self, now: Duration, agent: AgentId) {
        self.free_agent(now, agent, false);
    }

    /// The one place an agent leaves an offer, reservation or call: back to the busy state
    /// it still has elsewhere, to a pending pause, or to Available and the next call.
    pub(super) fn free_agent(&mut self, now: Duration, agent: AgentId, restart_idle: bool) {
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        if let Some((call, kind)) = a.current {
            self.set_state(
                agent,
                AgentState::Busy {
                    call: Some(call),
                    kind,
                },
            );
            return;
        }
        if let Some(kind) = a.direct {
            self.set_state(agent, AgentState::Busy { call: None, kind });
            return;
        }
        if let Some(reason) = a.pending_pause.take() {
            self.set_state(agent, AgentState::Paused { reason });
            return;
        }
        if restart_idle {
            a.idle_since = now;
        }
        self.set_state(agent, AgentState::Available);
        self.assign_agent(now, agent);
    }

    pub(super) fn take_out(&mut self, now: Duration, agent: AgentId, to: AgentState) {
        let Some(a) = self.agents.get_mut(&agent) else {
            return;
        };
        a.pending_pause = None;
        match a.state.clone() {
            AgentState::Ringing { call } => {
                self.drop_from_offer(call, agent);
                self.out.push_back(Output::CancelOffer { call, agent });
                self.set_state(agent, to);
                self.redispatch_if_unoffered(now, call);
            }
            AgentState::Reserved { call } => {
                self.set_state(agent, to);
                self.return_callback(now, call);
            }
            _ => self.set_state(agent, to),
        }
        self.check_empty(now, agent);
    }

    pub(super) fn check_empty(&mut self, now: Duration, agent: AgentId) {
        let Some(queues) = self.agents.get(&agent).map(|a| a.cfg.queues.clone()) else {
            return;
        };
        for qid in queues {
            let leave = self
                .queues
                .get(&qid)
                .is_some_and(|q| q.cfg.leave_when_empty && !q.order.is_empty());
            if leave && !self.staffed(qid) {
                // Only callers nobody is handling leave: a caller who overflowed here may be
                // ringing (or have its callback dialled by) an agent of the queue it came
                // from, and keeps waiting while any of those queues is staffed.
                let calls: Vec<CallId> = self
                    .queues
                    .get(&qid)
                    .map(|q| q.order.iter().map(|(_, c)| *c).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| {
                        self.calls.get(c).is_some_and(|call| {
                            matches!(
                                call.state,
                                CallState::Waiting | CallState::CallbackWaiting { .. }
                            ) && !call.origins.iter().any(|o| self.staffed(*o))
                        })
                    })
                    .collect();
                for c in calls {
                    self.leave(now, c, Outcome::Exited(ExitReason::NoAgents));
                }
            }
        }
    }
}
