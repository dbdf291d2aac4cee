//! Ring-all forking in the B2BUA: one caller, several agent legs ringing at once.
//!
//! Each agent leg of a forked call is its own originated SIP call (a UAC INVITE to the
//! agent's registered contact). This driver, the single owner of the B2BUA, decides the
//! race: the first leg whose 2xx is reported wins and is moved into the caller's call as
//! its leg B (`transplant_b`), so everything after the answer (bridge, transfer, hangup)
//! is the same as for a leg routed to one agent. Every other leg of that call is hung up
//! at once: CANCEL while ringing, and a 2xx that crosses the CANCEL is ACKed and BYEd by
//! the B2BUA core (RFC 3261 §15, forking race). The call task learns only what it must act
//! on: the winner's answer, and legs that failed on their own (busy, no answer, gone); legs
//! the driver hung up are not reported (the task forgets them when it learns the winner).
//! See docs/decisions/0026-ring-all-forking.md.

use std::collections::HashMap;

use super::*;

/// One agent leg of a forked call.
#[derive(Debug)]
struct ForkLeg<K = CallKey> {
    /// The caller's call this leg rings for.
    parent: K,
    /// The agent (user name) it rings.
    agent: String,
    /// Hung up by us (lost the race, the offer was withdrawn, the caller left): its
    /// remaining events are not reported.
    dropped: bool,
}

/// The driver's table of forked legs, indexed by the caller's call too: a call's end
/// looks up its own legs instead of walking every ringing leg (issue #11).
/// (Generic over the key only so that it can be tested without a B2BUA.)
#[derive(Debug)]
pub(super) struct Forks<K = CallKey> {
    legs: HashMap<K, ForkLeg<K>>,
    by_parent: HashMap<K, Vec<K>>,
}

impl<K> Default for Forks<K> {
    fn default() -> Self {
        Forks {
            legs: HashMap::new(),
            by_parent: HashMap::new(),
        }
    }
}

impl<K: Copy + Eq + std::hash::Hash> Forks<K> {
    fn insert(&mut self, leg: K, fork: ForkLeg<K>) {
        self.by_parent.entry(fork.parent).or_default().push(leg);
        if let Some(old) = self.legs.insert(leg, fork) {
            self.unindex(leg, old.parent);
        }
    }

    fn remove(&mut self, leg: K) {
        if let Some(old) = self.legs.remove(&leg) {
            self.unindex(leg, old.parent);
        }
    }

    fn unindex(&mut self, leg: K, parent: K) {
        if let Some(v) = self.by_parent.get_mut(&parent) {
            if let Some(i) = v.iter().position(|k| *k == leg) {
                v.swap_remove(i);
            }
            if v.is_empty() {
                self.by_parent.remove(&parent);
            }
        }
    }

    /// The legs still ringing (not dropped) for `parent`.
    fn of_parent(&self, parent: K) -> Vec<K> {
        self.by_parent
            .get(&parent)
            .into_iter()
            .flatten()
            .filter(|k| self.legs.get(k).is_some_and(|l| !l.dropped))
            .copied()
            .collect()
    }
}

impl SipDriver {
    /// Rings `agent` as one more leg of `parent`'s ring-all offer. A leg that cannot be
    /// placed (the agent has no registered contact) is reported as failed at once.
    pub(super) fn fork_to_user(
        &mut self,
        now: Instant,
        parent: CallKey,
        agent: String,
        sdp: Bytes,
        headers: Vec<(String, String)>,
    ) {
        match self.originate_user(now, &agent, sdp, &headers) {
            Some(leg) => {
                self.forks.insert(
                    leg,
                    ForkLeg {
                        parent,
                        agent,
                        dropped: false,
                    },
                );
            }
            None => self.signal(
                parent,
                CallSignal::ForkFailed {
                    agent,
                    status: StatusCode::TEMPORARILY_UNAVAILABLE,
                },
            ),
        }
    }

    /// The call task withdrew the offer to `agent` (ring timeout, the caller left the
    /// queue): hang that leg up without reporting it.
    pub(super) fn cancel_fork(&mut self, now: Instant, parent: CallKey, agent: &str) {
        let key = self
            .forks
            .of_parent(parent)
            .into_iter()
            .find(|k| self.forks.legs.get(k).is_some_and(|l| l.agent == agent));
        if let Some(k) = key {
            self.drop_fork(now, k);
        }
    }

    /// The caller's call is over: hang up every leg still ringing for it.
    pub(super) fn forks_parent_gone(&mut self, now: Instant, parent: CallKey) {
        for k in self.forks.of_parent(parent) {
            self.drop_fork(now, k);
        }
    }

    fn drop_fork(&mut self, now: Instant, leg: CallKey) {
        if let Some(l) = self.forks.legs.get_mut(&leg) {
            l.dropped = true;
        }
        // CANCEL while ringing, BYE once answered; a 2xx crossing the CANCEL is ACKed
        // and BYEd by the core. An error means the leg is already gone.
        if self.b2bua.hangup(now, leg).is_err() {
            self.forks.remove(leg);
        }
    }

    /// Takes the B2BUA event if it belongs to a forked leg (true), else leaves it to the
    /// ordinary dispatch (false).
    pub(super) fn fork_event(&mut self, now: Instant, ev: &CallEvent) -> bool {
        let call = match ev {
            CallEvent::Progress { call, .. }
            | CallEvent::AnswerFromB { call, .. }
            | CallEvent::BFailed { call, .. }
            | CallEvent::LegConfirmed { call, .. }
            | CallEvent::Reinvite { call, .. }
            | CallEvent::InDialogRequest { call, .. }
            | CallEvent::Ended { call, .. } => *call,
            _ => return false,
        };
        let Some(leg) = self.forks.legs.get(&call) else {
            return false;
        };
        let (parent, agent, dropped) = (leg.parent, leg.agent.clone(), leg.dropped);
        match ev {
            CallEvent::AnswerFromB { sdp, .. } => {
                if dropped {
                    // Hung up while the 2xx was on its way: the core sends the BYE.
                    return true;
                }
                if !self.calls.contains_key(&parent) {
                    // The caller is gone: ACKed already, now BYE.
                    tracing::info!(agent = %agent, "late answer from a ring-all leg; hanging it up");
                    self.drop_fork(now, call);
                    return true;
                }
                // A campaign call's callee is its core call's leg B: the winning leg stays a
                // call of its own (sip_driver/callee_calls.rs).
                let joined = if self.adopt_agent_leg(parent, call) {
                    Ok(())
                } else {
                    self.b2bua.transplant_b(now, call, parent)
                };
                match joined {
                    Ok(()) => {
                        // The race is decided: every other leg of this offer is dropped
                        // now, so a later answer from one of them can never win. (A later
                        // ring-all offer of the same caller, e.g. after a transfer, starts
                        // a new race with new legs.)
                        self.forks.remove(call);
                        for other in self.forks.of_parent(parent) {
                            self.drop_fork(now, other);
                        }
                        self.signal(
                            parent,
                            CallSignal::ForkAnswered {
                                agent,
                                sdp: sdp.clone(),
                                arrived: self.message_arrival(),
                            },
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, agent = %agent, "ring-all answer could not join the call");
                        self.drop_fork(now, call);
                        self.signal(
                            parent,
                            CallSignal::ForkFailed {
                                agent,
                                status: StatusCode::SERVER_INTERNAL_ERROR,
                            },
                        );
                    }
                }
            }
            CallEvent::BFailed { status, .. } => {
                if let Some(l) = self.forks.legs.get_mut(&call) {
                    l.dropped = true;
                }
                if !dropped {
                    self.signal(
                        parent,
                        CallSignal::ForkFailed {
                            agent,
                            status: *status,
                        },
                    );
                }
            }
            CallEvent::Ended { reason, .. } => {
                self.forks.remove(call);
                if !dropped {
                    tracing::debug!(?reason, agent = %agent, "ring-all leg ended");
                    self.signal(
                        parent,
                        CallSignal::ForkFailed {
                            agent,
                            status: StatusCode::REQUEST_TERMINATED,
                        },
                    );
                }
            }
            CallEvent::Reinvite { tx, .. } | CallEvent::InDialogRequest { tx, .. } => {
                // Only an answered leg has a dialog, and an answered leg has either won
                // (no longer a fork) or is being hung up.
                let _ = self.b2bua.respond(now, *tx, StatusCode(481), None);
            }
            _ => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(parent: u32, agent: &str) -> ForkLeg<u32> {
        ForkLeg {
            parent,
            agent: agent.to_string(),
            dropped: false,
        }
    }

    #[test]
    fn legs_are_found_by_their_caller_and_leave_no_index_behind() {
        let mut f = Forks::<u32>::default();
        f.insert(10, leg(1, "alice"));
        f.insert(11, leg(1, "bob"));
        f.insert(20, leg(2, "carol"));
        let mut of1 = f.of_parent(1);
        of1.sort();
        assert_eq!(of1, vec![10, 11]);
        assert_eq!(f.of_parent(2), vec![20]);
        assert_eq!(f.of_parent(3), Vec::<u32>::new());
        f.legs.get_mut(&10).expect("leg").dropped = true;
        assert_eq!(f.of_parent(1), vec![11], "a dropped leg is not ringing");
        f.remove(10);
        f.remove(11);
        assert!(
            !f.by_parent.contains_key(&1),
            "the caller's index entry goes with its last leg"
        );
        f.remove(20);
        f.remove(20);
        assert!(f.legs.is_empty() && f.by_parent.is_empty());
    }
}
