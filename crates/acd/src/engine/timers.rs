//! Timers as data: arming a deadline and what each kind does when it fires (offer
//! timeout, wrap-up end, announcement, maximum wait, overflow, skill tier, callback retry).

use super::*;

impl Acd {
    pub(super) fn arm(&mut self, at: Duration, t: Timer) {
        self.timer_seq += 1;
        self.timers.push(Reverse((at, self.timer_seq, t)));
    }

    pub(super) fn fire(&mut self, now: Duration, at: Duration, timer: Timer) {
        match timer {
            Timer::Offer(call) => {
                let agents = match self.calls.get(&call).map(|c| &c.state) {
                    Some(CallState::Offered { agents, deadline }) if *deadline == at => {
                        agents.clone()
                    }
                    _ => return,
                };
                if let Some(c) = self.calls.get_mut(&call) {
                    c.state = CallState::Waiting;
                }
                self.order_changed(call);
                for a in agents {
                    self.out.push_back(Output::CancelOffer { call, agent: a });
                    self.rona(now, a, call);
                }
                self.after_offer_lapsed(now, call);
            }
            Timer::WrapEnd(agent) => {
                if self.agents.get(&agent).map(|a| &a.state)
                    == Some(&AgentState::WrapUp { until: at })
                {
                    self.make_available(now, agent);
                }
            }
            Timer::RonaEnd(agent) => {
                let Some(a) = self.agents.get_mut(&agent) else {
                    return;
                };
                let still_rona =
                    matches!(&a.state, AgentState::Paused { reason } if reason == RONA);
                if a.rona_until != Some(at) || !still_rona {
                    return;
                }
                a.rona_until = None;
                let after = self.cfg.rona_unpause_after.unwrap_or_default();
                self.out
                    .push_back(Output::Log(Event::RonaUnpaused { agent, after }));
                self.make_available(now, agent);
            }
            Timer::Announce(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.next_announce != Some(at) {
                    return;
                }
                let every = c
                    .announce_every
                    .or_else(|| self.queues.get(&c.queue).and_then(|q| q.cfg.announce_every))
                    .filter(|d| !d.is_zero());
                let waiting = matches!(c.state, CallState::Waiting);
                if waiting {
                    let est = self.estimate(now, call, 0.0);
                    self.announce(now, at, call, est.map(|e| e.0));
                }
                if let (Some(every), Some(c)) = (every, self.calls.get_mut(&call)) {
                    let next = next_due(at, every, now);
                    c.next_announce = Some(next);
                    self.arm(next, Timer::Announce(call));
                }
            }
            Timer::MaxWait(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.max_wait_at != Some(at) {
                    return;
                }
                match &c.state {
                    CallState::Waiting => {
                        let target = self
                            .queues
                            .get(&c.queue)
                            .and_then(|q| q.cfg.max_wait.as_ref())
                            .map(|m| m.target.clone())
                            .unwrap_or_default();
                        self.leave(now, call, Outcome::Exited(ExitReason::MaxWait { target }));
                    }
                    CallState::Offered { .. } => {} // re-checked when the offer lapses
                    _ => {}
                }
            }
            Timer::Overflow(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.overflow_at != Some(at) {
                    return;
                }
                let to = self
                    .queues
                    .get(&c.queue)
                    .and_then(|q| q.cfg.overflow.as_ref())
                    .map(|o| o.to.clone());
                if let (Some(to), CallState::Waiting) = (to, &c.state) {
                    self.overflow_to_reserve(now, call, &to);
                }
            }
            Timer::Tier(call) => {
                let Some(c) = self.calls.get(&call) else {
                    return;
                };
                if c.tier_at != Some(at) {
                    return;
                }
                let waited = now.saturating_sub(c.joined_at);
                let next = self.queues.get(&c.queue).and_then(|q| {
                    q.cfg
                        .skill_tiers
                        .iter()
                        .map(|t| t.after)
                        .find(|a| *a > waited)
                });
                let joined = c.joined_at;
                if let Some(c) = self.calls.get_mut(&call) {
                    c.tier_at = next.map(|n| joined + n);
                }
                if let Some(n) = next {
                    self.arm(joined + n, Timer::Tier(call));
                }
                if self.calls.get(&call).is_some_and(|c| c.unassigned(now)) {
                    self.dispatch_call(now, call);
                }
            }
            Timer::CallbackRetry(call) => {
                let ok = matches!(
                    self.calls.get(&call).map(|c| &c.state),
                    Some(CallState::CallbackWaiting { eligible_at, .. }) if *eligible_at == at
                );
                if ok {
                    self.dispatch_call(now, call);
                }
            }
        }
    }
}

/// The next periodic deadline after one due at `due` was handled at `now`: on the caller's
/// own schedule (`due + every`, so a late wakeup does not shift every later announcement),
/// skipping the periods that are already past (one announcement, never a burst to catch up).
pub(super) fn next_due(due: Duration, every: Duration, now: Duration) -> Duration {
    let next = due + every;
    if next > now {
        return next;
    }
    let every_ns = every.as_nanos().max(1);
    let skipped = (now - next).as_nanos() / every_ns + 1;
    let skip = u32::try_from(skipped).unwrap_or(u32::MAX);
    next.checked_add(every.saturating_mul(skip))
        .unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::next_due;
    use std::time::Duration;

    fn s(v: u64) -> Duration {
        Duration::from_secs(v)
    }

    #[test]
    fn the_next_deadline_keeps_the_schedule_and_skips_past_periods() {
        // On time and late within a period: the schedule does not move.
        assert_eq!(next_due(s(61), s(60), s(61)), s(121));
        assert_eq!(next_due(s(61), s(60), s(64)), s(121));
        // Exactly one period late: that deadline is now, so the next one is a period on.
        assert_eq!(next_due(s(61), s(60), s(121)), s(181));
        // 150 s late: 121 and 181 are past, one announcement now, the next at 241.
        assert_eq!(next_due(s(61), s(60), s(211)), s(241));
        assert_eq!(next_due(s(61), s(60), s(240)), s(241));
    }
}
