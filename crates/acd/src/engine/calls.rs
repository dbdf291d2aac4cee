//! The caller's side: joining a queue (or resuming a place), hanging up, leaving on a
//! key or an exit, asking for and resolving callbacks, and the internal moves between
//! queues (enter, leave, overflow, a callback going back to its queue).

use super::*;

impl Acd {
    /// A caller joins a queue. Outputs: an `Offer` if an agent is free, else an `Announce`
    /// (if configured), or an `Exit`/`Overflow` if the queue refuses or overflows the call.
    pub fn handle_join(&mut self, now: Duration, join: Join) -> Result<(), AcdError> {
        let qid = join.queue;
        let q = self.queues.get(&qid).ok_or(AcdError::UnknownQueue(qid))?;
        if self.calls.contains_key(&join.call) {
            return Err(AcdError::DuplicateCall(join.call));
        }
        let refuse = if !q.cfg.join_when_empty && !self.staffed(qid) {
            Some(ExitReason::NoAgents)
        } else if q.cfg.max_len.is_some_and(|m| q.order.len() >= m) {
            Some(ExitReason::QueueFull)
        } else {
            None
        };
        if let Some(reason) = refuse {
            if let Some(q) = self.queues.get_mut(&qid) {
                q.stats.refused += 1;
            }
            self.out.push_back(Output::Exit {
                call: join.call,
                queue: qid,
                reason,
            });
            return Ok(());
        }
        let mut resumed = None;
        if let Some(num) = &join.caller {
            if let Some(r) = self.resume.remove(num) {
                if r.queue == qid && r.expires >= now {
                    resumed = Some(r.key);
                }
            }
        }
        let key = match resumed {
            Some(k) => k,
            None => {
                self.seq += 1;
                (u64::from(255 - join.priority) << SEQ_BITS) | self.seq
            }
        };
        let call = Call {
            queue: qid,
            key,
            skills: join.skills,
            tenant: join.tenant,
            caller: join.caller,
            data: join.data,
            joined_at: now,
            state: CallState::Waiting,
            declined: Vec::new(),
            join_bound: None,
            next_announce: None,
            announce_every: join.announce_every,
            max_wait_at: None,
            overflow_at: None,
            origins: Vec::new(),
            tier_at: None,
        };
        self.calls.insert(join.call, call);
        self.enter_queue(now, join.call, qid, resumed.is_some());
        Ok(())
    }

    /// The caller hung up (or the connected call ended). Waiting or ringing: counted as
    /// abandoned, offers cancelled, place remembered for resume. Connected: the agent goes to
    /// wrap-up. A callback entry ignores the end of the caller's original leg.
    pub fn handle_call_ended(&mut self, now: Duration, call: CallId) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        match &c.state {
            CallState::CallbackWaiting { .. } | CallState::CallbackDialing { .. } => Ok(()),
            CallState::Connected { agent } => {
                let agent = *agent;
                let qid = c.queue;
                let Some(c) = self.calls.remove(&call) else {
                    return Ok(());
                };
                let _ = c;
                let started = self.agents.get(&agent).map(|a| a.call_started);
                let wrap = self
                    .queues
                    .get(&qid)
                    .map(|q| q.cfg.wrap_up)
                    .unwrap_or_default();
                if let (Some(started), Some(q)) = (started, self.queues.get_mut(&qid)) {
                    q.model.record_handle(secs(now.saturating_sub(started)));
                }
                if let Some(a) = self.agents.get_mut(&agent) {
                    if a.current.is_some_and(|(c, _)| c == call) {
                        a.current = None;
                    }
                }
                let on_it = self.agents.get(&agent).is_some_and(
                    |a| matches!(a.state, AgentState::Busy { call: Some(x), .. } if x == call),
                );
                if on_it {
                    if wrap > Duration::ZERO {
                        let until = now + wrap;
                        self.set_state(agent, AgentState::WrapUp { until });
                        self.arm(until, Timer::WrapEnd(agent));
                    } else {
                        self.make_available(now, agent);
                    }
                }
                Ok(())
            }
            CallState::Waiting | CallState::Offered { .. } => {
                let qid = c.queue;
                let key = c.key;
                let window = self
                    .queues
                    .get(&qid)
                    .map(|q| q.cfg.resume_window)
                    .unwrap_or_default();
                if let Some(num) = c.caller.clone() {
                    if window > Duration::ZERO {
                        if self.resume.len() > 4096 {
                            self.resume.retain(|_, r| r.expires >= now);
                        }
                        self.resume.insert(
                            num,
                            ResumeEntry {
                                queue: qid,
                                key,
                                expires: now + window,
                            },
                        );
                    }
                }
                self.leave(now, call, Outcome::Abandoned);
                Ok(())
            }
        }
    }

    /// The caller left the queue for a reason decided outside the engine (the dialplan's
    /// own exit key or maximum wait for this call). Counted as that exit, not as an
    /// abandon; offers are cancelled. No `Exit` output follows: the caller of this
    /// function already knows.
    pub fn handle_exit(
        &mut self,
        now: Duration,
        call: CallId,
        reason: ExitReason,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !c.on_line() {
            return Err(AcdError::NotWaiting(call));
        }
        self.leave(now, call, Outcome::Exited(reason));
        // `leave` announces exits to the server; this one came from the server.
        self.out
            .retain(|o| !matches!(o, Output::Exit { call: c, .. } if *c == call));
        Ok(())
    }

    /// The caller pressed `key`. If it is the queue's exit key the call leaves with
    /// `Exit{ExitKey}`; other keys are ignored (the dialplan may use them, e.g. for callback).
    pub fn handle_key(&mut self, now: Duration, call: CallId, key: char) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !c.on_line() {
            return Err(AcdError::NotWaiting(call));
        }
        let exit = self
            .queues
            .get(&c.queue)
            .and_then(|q| q.cfg.exit_key)
            .is_some_and(|k| k == key);
        if exit {
            self.leave(now, call, Outcome::Exited(ExitReason::ExitKey { key }));
        }
        Ok(())
    }

    /// The caller asked to be called back at `number` and will hang up. The entry keeps its
    /// place; when it reaches an agent the engine emits `Callback`.
    pub fn handle_callback_request(
        &mut self,
        now: Duration,
        call: CallId,
        number: PhoneNumber,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !c.on_line() {
            return Err(AcdError::NotWaiting(call));
        }
        let ringing = self.take_offer_agents(call);
        let Some(c) = self.calls.get_mut(&call) else {
            return Ok(());
        };
        let waited = now.saturating_sub(c.joined_at);
        let qid = c.queue;
        c.state = CallState::CallbackWaiting {
            number,
            attempts: 0,
            eligible_at: now,
        };
        c.next_announce = None;
        c.max_wait_at = None;
        c.overflow_at = None;
        self.order_changed(call);
        self.out.push_back(Output::Log(Event::Waited {
            call,
            queue: qid,
            waited,
            outcome: Outcome::CallbackRequested,
        }));
        for a in ringing {
            self.out.push_back(Output::CancelOffer { call, agent: a });
            self.release_agent(now, a);
        }
        self.dispatch_call(now, call);
        Ok(())
    }

    /// A callback asked for outside any call (a web "call me back"): a callback entry for
    /// `number` joins `queue`'s line now, in turn behind those already waiting, and is not
    /// placed before `not_before` (a scheduled callback; `now` or earlier: as soon as its
    /// turn comes). Its turn then works like a caller's callback: `Callback` when an agent
    /// is reserved for it, and [`Acd::handle_callback_result`] after each attempt.
    pub fn handle_callback_schedule(
        &mut self,
        now: Duration,
        call: CallId,
        queue: QueueId,
        number: PhoneNumber,
        not_before: Duration,
    ) -> Result<(), AcdError> {
        self.place_callback(now, call, queue, number, not_before, None)
    }

    /// A callback entry scheduled before a restart comes back into `queue`'s line. Like
    /// [`Acd::handle_callback_schedule`], but its wait counts from `joined_at` (engine time,
    /// at or before `now`: when it was first scheduled) and its `Joined` log says `resumed`
    /// (it was offered once already). Restoring entries in the order they were first
    /// scheduled gives them back their places relative to each other, ahead of anything
    /// that joins after them.
    pub fn handle_callback_restore(
        &mut self,
        now: Duration,
        call: CallId,
        queue: QueueId,
        number: PhoneNumber,
        not_before: Duration,
        joined_at: Duration,
    ) -> Result<(), AcdError> {
        self.place_callback(
            now,
            call,
            queue,
            number,
            not_before,
            Some(joined_at.min(now)),
        )
    }

    /// A callback entry joins the line; `restored_from`: the engine time it first joined
    /// (a restored entry), `None` for a new one.
    fn place_callback(
        &mut self,
        now: Duration,
        call: CallId,
        queue: QueueId,
        number: PhoneNumber,
        not_before: Duration,
        restored_from: Option<Duration>,
    ) -> Result<(), AcdError> {
        if !self.queues.contains_key(&queue) {
            return Err(AcdError::UnknownQueue(queue));
        }
        if self.calls.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        self.seq += 1;
        let key = (255u64 << SEQ_BITS) | self.seq;
        let eligible_at = not_before.max(now);
        self.calls.insert(
            call,
            Call {
                queue,
                key,
                skills: Vec::new(),
                tenant: None,
                caller: None,
                data: Vec::new(),
                joined_at: restored_from.unwrap_or(now),
                state: CallState::CallbackWaiting {
                    number,
                    attempts: 0,
                    eligible_at,
                },
                declined: Vec::new(),
                join_bound: None,
                next_announce: None,
                announce_every: None,
                max_wait_at: None,
                overflow_at: None,
                origins: Vec::new(),
                tier_at: None,
            },
        );
        let position = match self.queues.get_mut(&queue) {
            Some(q) => {
                let needy = self.calls.get(&call).is_some_and(Call::is_needy);
                q.insert(key, call, needy);
                q.epoch += 1; // a callback entry, even at the end: nobody waits on its patience
                q.stats.joined += 1;
                q.index_of(key).map(|i| i + 1).unwrap_or(0)
            }
            None => 0,
        };
        self.out.push_back(Output::Log(Event::Joined {
            call,
            queue,
            position,
            resumed: restored_from.is_some(),
        }));
        if eligible_at > now {
            self.arm(eligible_at, Timer::CallbackRetry(call));
        } else {
            self.dispatch_call(now, call);
        }
        Ok(())
    }

    /// Cancels a callback entry that is waiting for its turn or its time (counted in
    /// `callbacks_cancelled`). One being placed right now cannot be cancelled
    /// ([`AcdError::CallbackInProgress`]).
    pub fn handle_callback_cancel(&mut self, _now: Duration, call: CallId) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        match c.state {
            CallState::CallbackWaiting { .. } => {}
            CallState::CallbackDialing { .. } => return Err(AcdError::CallbackInProgress(call)),
            _ => return Err(AcdError::NoCallback(call)),
        }
        let (qid, key) = (c.queue, c.key);
        self.forget_away_of(call);
        self.calls.remove(&call);
        if let Some(q) = self.queues.get_mut(&qid) {
            q.remove(key);
            q.stats.callbacks_cancelled += 1;
        }
        Ok(())
    }

    /// An agent takes a waiting callback entry now (click-to-call on the agent desktop):
    /// its `at` and its place in the line are skipped, the agent is reserved and
    /// [`Output::Callback`] asks the server to place it, as when its turn comes. The agent
    /// must be available and a member of the entry's queue; a callback already being
    /// placed is [`AcdError::CallbackInProgress`].
    pub fn start_callback_now(
        &mut self,
        _now: Duration,
        call: CallId,
        agent: AgentId,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let (number, attempts) = match &c.state {
            CallState::CallbackWaiting {
                number, attempts, ..
            } => (number.clone(), *attempts),
            CallState::CallbackDialing { .. } => return Err(AcdError::CallbackInProgress(call)),
            _ => return Err(AcdError::NoCallback(call)),
        };
        let qid = c.queue;
        let q = self.queues.get(&qid).ok_or(AcdError::UnknownQueue(qid))?;
        let a = self
            .agents
            .get(&agent)
            .ok_or(AcdError::UnknownAgent(agent))?;
        if !q.members.contains(&agent) {
            return Err(AcdError::NotMember { agent, queue: qid });
        }
        if a.state != AgentState::Available {
            return Err(AcdError::NotAvailable(agent));
        }
        let order = q.cfg.callback.order;
        self.dial_callback(call, qid, number, attempts, agent, order);
        Ok(())
    }

    /// Outcome of a callback the engine asked for.
    pub fn handle_callback_result(
        &mut self,
        now: Duration,
        call: CallId,
        result: CallbackResult,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallState::CallbackDialing {
            number,
            attempts,
            agent,
        } = &c.state
        else {
            return Err(AcdError::NoCallback(call));
        };
        let (number, attempts, agent) = (number.clone(), *attempts, *agent);
        let qid = c.queue;
        let key = c.key;
        let waited = now.saturating_sub(c.joined_at);
        match result {
            CallbackResult::Connected => {
                self.forget_away_of(call);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Connected { agent };
                }
                if let Some(q) = self.queues.get_mut(&qid) {
                    q.remove(key);
                    q.stats.answered += 1;
                }
                if let Some(a) = self.agents.get_mut(&agent) {
                    a.call_started = now;
                    a.current = Some((call, BusyKind::Callback));
                }
                self.set_state(
                    agent,
                    AgentState::Busy {
                        call: Some(call),
                        kind: BusyKind::Callback,
                    },
                );
                self.out.push_back(Output::Log(Event::Waited {
                    call,
                    queue: qid,
                    waited,
                    outcome: Outcome::Answered,
                }));
            }
            CallbackResult::Failed => {
                let max = self
                    .queues
                    .get(&qid)
                    .map(|q| q.cfg.callback)
                    .map(|p| (p.max_attempts.max(1), p.retry_after))
                    .unwrap_or((1, Duration::ZERO));
                if attempts >= max.0 {
                    self.forget_away_of(call);
                    if let Some(q) = self.queues.get_mut(&qid) {
                        q.remove(key);
                        q.stats.callback_failed += 1;
                    }
                    self.calls.remove(&call);
                    self.out.push_back(Output::Exit {
                        call,
                        queue: qid,
                        reason: ExitReason::CallbackFailed,
                    });
                } else if let Some(c) = self.calls.get_mut(&call) {
                    let at = now + max.1;
                    c.state = CallState::CallbackWaiting {
                        number,
                        attempts,
                        eligible_at: at,
                    };
                    self.order_changed(call);
                    self.arm(at, Timer::CallbackRetry(call));
                }
                self.release_agent(now, agent);
            }
        }
        Ok(())
    }

    /// Put a call (already in `calls`, with `queue` set) into `qid`'s order and start its
    /// timers, offer it, announce it.
    pub(super) fn enter_queue(&mut self, now: Duration, call: CallId, qid: QueueId, resumed: bool) {
        let Some(q) = self.queues.get_mut(&qid) else {
            return;
        };
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.queue = qid;
        c.joined_at = now;
        q.insert(c.key, call, c.is_needy());
        q.stats.joined += 1;
        c.max_wait_at = q.cfg.max_wait.as_ref().map(|m| now + m.after);
        c.overflow_at = q
            .cfg
            .overflow
            .as_ref()
            .and_then(|o| o.after_wait)
            .map(|w| now + w);
        c.tier_at = q.cfg.skill_tiers.first().map(|t| now + t.after);
        let position = q.index_of(c.key).map(|i| i + 1).unwrap_or(0);
        let timers: Vec<(Duration, Timer)> = [
            c.max_wait_at.map(|t| (t, Timer::MaxWait(call))),
            c.overflow_at.map(|t| (t, Timer::Overflow(call))),
            c.tier_at.map(|t| (t, Timer::Tier(call))),
        ]
        .into_iter()
        .flatten()
        .collect();
        let announce_at_join = q.cfg.announce_at_join;
        let every = c.announce_every.or(q.cfg.announce_every);
        let overflow = q.cfg.overflow.clone();
        let sl = q.cfg.service_level;
        for (t, k) in timers {
            self.arm(t, k);
        }
        self.out.push_back(Output::Log(Event::Joined {
            call,
            queue: qid,
            position,
            resumed,
        }));
        self.dispatch_call(now, call);
        if !self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(c.state, CallState::Waiting))
        {
            return;
        }
        let predict_sl = overflow.as_ref().is_some_and(|o| {
            o.predicted_sl_below.is_some()
                && o.to
                    .iter()
                    .any(|t| *t != qid && self.queues.contains_key(t))
        });
        if announce_at_join || predict_sl {
            let est = self.estimate(now, call, secs(sl.within));
            if predict_sl {
                if let (Some(o), Some((_, p))) = (&overflow, est) {
                    if o.predicted_sl_below.is_some_and(|below| p < below) {
                        self.overflow_to_reserve(now, call, &o.to);
                        return;
                    }
                }
            }
            if announce_at_join {
                let bound = est.map(|e| e.0);
                if let Some(c) = self.calls.get_mut(&call) {
                    c.join_bound = bound;
                }
                self.announce(now, now, call, bound);
            }
        }
        if let Some(every) = every.filter(|d| !d.is_zero()) {
            if let Some(c) = self.calls.get_mut(&call) {
                c.next_announce = Some(now + every);
            }
            self.arm(now + every, Timer::Announce(call));
        }
    }

    /// Remove a call from its queue for `outcome` (not answered), cancelling offers.
    pub(super) fn leave(&mut self, now: Duration, call: CallId, outcome: Outcome) {
        let Some(c) = self.calls.remove(&call) else {
            return;
        };
        self.forget_away(&c.origins, c.key);
        let qid = c.queue;
        let waited = now.saturating_sub(c.joined_at);
        let was_callback = c.is_callback();
        if let Some(q) = self.queues.get_mut(&qid) {
            q.remove(c.key);
            match &outcome {
                Outcome::Abandoned => q.stats.abandoned += 1,
                Outcome::Exited(ExitReason::MaxWait { .. }) => q.stats.timed_out += 1,
                Outcome::Exited(ExitReason::ExitKey { .. }) => q.stats.exited += 1,
                Outcome::Exited(ExitReason::NoAgents) => q.stats.left_empty += 1,
                Outcome::Exited(_) => q.stats.callback_failed += 1,
                Outcome::Overflowed(_) => q.stats.overflowed += 1,
                Outcome::Answered | Outcome::CallbackRequested => {}
            }
            if !was_callback {
                q.model
                    .record_departure(secs(waited), outcome == Outcome::Abandoned);
            }
        }
        let mut freed = Vec::new();
        match c.state {
            CallState::Offered { agents, .. } => {
                for a in agents {
                    self.out.push_back(Output::CancelOffer { call, agent: a });
                    freed.push(a);
                }
            }
            CallState::CallbackDialing { agent, .. } => freed.push(agent),
            _ => {}
        }
        if !was_callback {
            self.out.push_back(Output::Log(Event::Waited {
                call,
                queue: qid,
                waited,
                outcome: outcome.clone(),
            }));
        }
        if let Outcome::Exited(reason) = outcome {
            self.out.push_back(Output::Exit {
                call,
                queue: qid,
                reason,
            });
        }
        for a in freed {
            let state_ok = self.agents.get(&a).is_some_and(|x| {
                matches!(x.state, AgentState::Ringing { call: c } | AgentState::Reserved { call: c } if c == call)
            });
            if state_ok {
                self.release_agent(now, a);
            }
        }
    }

    pub(super) fn overflow(&mut self, now: Duration, call: CallId, to: QueueId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if !matches!(c.state, CallState::Waiting) || !self.queues.contains_key(&to) {
            return;
        }
        let from = c.queue;
        let key = c.key;
        let waited = now.saturating_sub(c.joined_at);
        if let Some(q) = self.queues.get_mut(&from) {
            q.remove(key);
            q.stats.overflowed += 1;
            q.model.record_departure(secs(waited), false);
            Queue::insert_in(&mut q.away, key, call);
        }
        self.out.push_back(Output::Log(Event::Waited {
            call,
            queue: from,
            waited,
            outcome: Outcome::Overflowed(to),
        }));
        self.out.push_back(Output::Overflow { call, from, to });
        if let Some(c) = self.calls.get_mut(&call) {
            c.next_announce = None;
            c.join_bound = None;
            c.declined.clear();
            if !c.origins.contains(&from) {
                c.origins.push(from);
            }
            // Back where it started (a ring of overflows): no longer away from there.
            c.origins.retain(|o| *o != to);
        }
        if let Some(q) = self.queues.get_mut(&to) {
            q.remove_in_away(key);
        }
        self.enter_queue(now, call, to, false);
    }

    /// A callback reservation fell through without an attempt (agent logged out etc.).
    pub(super) fn return_callback(&mut self, now: Duration, call: CallId) {
        if let Some(c) = self.calls.get_mut(&call) {
            if let CallState::CallbackDialing {
                number,
                attempts,
                agent,
            } = &c.state
            {
                self.out.push_back(Output::CancelOffer {
                    call,
                    agent: *agent,
                });
                c.state = CallState::CallbackWaiting {
                    number: number.clone(),
                    attempts: attempts.saturating_sub(1),
                    eligible_at: now,
                };
                self.order_changed(call);
                self.dispatch_call(now, call);
            }
        }
    }
}
