//! Calls we originated whose callee is the caller side of a call task (campaign calls).
//!
//! A campaign call is placed through a trunk: in the B2BUA core it is an originated call
//! whose only leg is the callee, reported as leg B. Once answered, the call task runs it
//! exactly like an inbound call (dialplan, queue, agent offer, bridge, recording), with the
//! callee as its leg A. This driver makes that true on the SIP side:
//!
//! - the callee's events are reported to the task as leg A (an INFO digit, a re-INVITE for
//!   hold, a BYE: `caller_hangup`);
//! - ringing an agent for it (`RouteToUser`) originates a second call to the agent's
//!   contact, and that call's events reach the task as leg B of the callee's call
//!   (progress, answer, failure, in-dialog requests, the agent's BYE), so the task's
//!   commands for leg B (cancel, release, REFER NOTIFY, hang up) go to that call.
//!
//! Either side ending ends the other, as the core does for an inbound call's two legs.
//! The same call task code therefore serves inbound and campaign calls; bridging two
//! originated calls in a task of its own (as `callback.rs` does) would have needed a second
//! queue/offer/bridge path. An attended transfer (REFER with Replaces) by the agent of a
//! campaign call works as for an inbound call: the colleague's leg of the consultation
//! cannot move into the callee's call (its only leg is the callee), so it is split off into
//! a call of its own that becomes the callee's agent leg (`colleague_joins_callee`).

use std::collections::{HashMap, HashSet};

use super::*;

/// One agent leg rung for a callee's call.
#[derive(Debug)]
struct AgentLeg {
    /// The callee's call.
    callee: CallKey,
    /// Its outcome was reported (it failed) or the task let it go (released, cancelled and
    /// failed): its remaining events are not reported.
    done: bool,
    /// The agent's side of that call: B when we rang the agent, A when the agent's own
    /// INVITE placed it (an agent's own call that became a call task to be transferred).
    side: Leg,
}

/// The driver's table of callee-led calls and their agent legs.
#[derive(Debug, Default)]
pub(super) struct CalleeCalls {
    /// Originated calls whose callee is the call task's leg A.
    callees: HashSet<CallKey>,
    /// Agent leg -> what it belongs to.
    legs: HashMap<CallKey, AgentLeg>,
    /// Callee's call -> its current agent leg.
    agent_of: HashMap<CallKey, CallKey>,
}

/// The same end, seen from the side the callee plays for its task (leg A).
fn as_caller(reason: &switchboard_sip::b2bua::EndReason) -> switchboard_sip::b2bua::EndReason {
    use switchboard_sip::b2bua::EndReason as E;
    match reason {
        E::Bye(Leg::B) => E::Bye(Leg::A),
        E::Timeout(Leg::B) => E::Timeout(Leg::A),
        E::TransportError(Leg::B) => E::TransportError(Leg::A),
        other => other.clone(),
    }
}

impl SipDriver {
    /// From now on `call` (an answered call we originated) is the caller side of its task.
    pub(super) fn callee_leads(&mut self, call: CallKey) {
        if self.b2bua.call(call).is_some_and(|c| c.is_originated()) {
            self.callee_calls.callees.insert(call);
        }
    }

    /// Takes a command meant for a callee-led call's leg B (None: handled here), or passes
    /// it on.
    pub(super) fn callee_command(&mut self, now: Instant, cmd: SipCommand) -> Option<SipCommand> {
        let callee_led = |c: &CallKey| self.callee_calls.callees.contains(c);
        match cmd {
            SipCommand::RouteToUser {
                call,
                user,
                sdp,
                headers,
            } if callee_led(&call) => {
                self.ring_agent_for_callee(now, call, &user, sdp, &headers);
                None
            }
            SipCommand::CancelB { call } if callee_led(&call) => {
                if let Some(&leg) = self.callee_calls.agent_of.get(&call) {
                    // The CANCEL's 487 comes back as the leg's BFailed (or its 2xx, if it
                    // crossed), reported to the task as for an inbound call's leg B.
                    if let Err(e) = self.b2bua.cancel_b(now, leg) {
                        tracing::debug!(error = %e, "cancel of a campaign call's agent leg");
                    }
                }
                None
            }
            SipCommand::ReleaseB { call } if callee_led(&call) => {
                self.drop_agent_leg(now, call);
                None
            }
            SipCommand::ReferNotify { call, leg, status } if callee_led(&call) => {
                // The agent's REFER came on the agent leg (its leg B); the callee's on the
                // callee's call (also its leg B in the core).
                let target = match leg {
                    Leg::B => self.callee_calls.agent_of.get(&call).map(|l| {
                        let side = self.callee_calls.legs.get(l).map_or(Leg::B, |a| a.side);
                        (*l, side)
                    }),
                    Leg::A => Some((call, Leg::B)),
                };
                if let Some((t, side)) = target {
                    if let Err(e) = self.b2bua.send_refer_notify(now, t, side, status, true) {
                        tracing::debug!(error = %e, "REFER NOTIFY on a campaign call");
                    }
                }
                None
            }
            SipCommand::Transplant { from, to } if callee_led(&to) => {
                self.colleague_joins_callee(now, from, to);
                None
            }
            SipCommand::Hangup { call } if callee_led(&call) => {
                self.callee_call_gone(now, call);
                Some(SipCommand::Hangup { call })
            }
            other => Some(other),
        }
    }

    /// An attended transfer by a campaign call's agent: the colleague's leg (`from`'s leg
    /// B, the consultation call) becomes the callee's agent leg. The core cannot move it
    /// into the callee's call (its only leg is the callee), so it goes into a call of its
    /// own (`B2bua::split_off_b`, which hangs up the first agent's consultation leg), or,
    /// when the consultation was itself a call we placed (the agent's own call to a
    /// number), that call is the agent leg as it is. The first agent's leg was released
    /// before (`ReleaseB`).
    fn colleague_joins_callee(&mut self, now: Instant, from: CallKey, callee: CallKey) {
        let placed = self.b2bua.call(from).is_some_and(|c| c.is_originated());
        let leg = if placed {
            Ok(from)
        } else {
            self.b2bua.split_off_b(now, from)
        };
        match leg {
            Ok(leg) => {
                self.calls.remove(&from);
                self.trunk_call_moved(from, leg);
                self.drop_agent_leg(now, callee);
                self.callee_calls.legs.insert(
                    leg,
                    AgentLeg {
                        callee,
                        done: false,
                        side: Leg::B,
                    },
                );
                self.callee_calls.agent_of.insert(callee, leg);
            }
            Err(e) => {
                tracing::warn!(error = %e, "attended transfer into a campaign call failed; the consultation is hung up");
                let _ = self.b2bua.hangup(now, from);
                if let Some(t) = self.calls.remove(&from) {
                    let _ = t.send(CallSignal::Ended(switchboard_callflow::Hangup::Local(
                        switchboard_events::EndReason::LocalHangup,
                    )));
                }
            }
        }
    }

    fn ring_agent_for_callee(
        &mut self,
        now: Instant,
        callee: CallKey,
        user: &str,
        sdp: Bytes,
        headers: &[(String, String)],
    ) {
        // A leg still there from an earlier offer is gone by now (the task released or
        // cancelled it); never two at once.
        self.drop_agent_leg(now, callee);
        match self.originate_user(now, user, sdp, headers) {
            Some(leg) => {
                self.callee_calls.legs.insert(
                    leg,
                    AgentLeg {
                        callee,
                        done: false,
                        side: Leg::B,
                    },
                );
                self.callee_calls.agent_of.insert(callee, leg);
            }
            None => self.signal(
                callee,
                CallSignal::BFailed(StatusCode::TEMPORARILY_UNAVAILABLE),
            ),
        }
    }

    /// An agent's own call is transferred by its agent: the far end's call (`callee`, which
    /// we originated) leads a call task from now on, and the agent's call (`agent`, placed
    /// by the agent's INVITE: the agent is its side A) is that task's agent leg. Its
    /// events no longer go to the placed call's driver.
    pub(super) fn adopt_placed_agent_leg(&mut self, callee: CallKey, agent: CallKey) {
        self.callee_leads(callee);
        if !self.callee_calls.callees.contains(&callee) {
            tracing::warn!(
                "a placed call's far end is not a call we originated; its agent leg stays as it is"
            );
            return;
        }
        let side = if self.b2bua.call(agent).is_some_and(|c| c.is_originated()) {
            Leg::B
        } else {
            Leg::A
        };
        self.calls.remove(&agent);
        self.callee_calls.legs.insert(
            agent,
            AgentLeg {
                callee,
                done: false,
                side,
            },
        );
        self.callee_calls.agent_of.insert(callee, agent);
    }

    /// A ring-all leg of a callee-led call won: it becomes the call's agent leg (true), or
    /// `callee` is an ordinary call (false: the leg is moved into it).
    pub(super) fn adopt_agent_leg(&mut self, callee: CallKey, leg: CallKey) -> bool {
        if !self.callee_calls.callees.contains(&callee) {
            return false;
        }
        self.callee_calls.legs.insert(
            leg,
            AgentLeg {
                callee,
                done: false,
                side: Leg::B,
            },
        );
        self.callee_calls.agent_of.insert(callee, leg);
        true
    }

    /// Hangs up the callee's agent leg (BYE, or CANCEL while ringing) without reporting it.
    fn drop_agent_leg(&mut self, now: Instant, callee: CallKey) {
        let Some(leg) = self.callee_calls.agent_of.remove(&callee) else {
            return;
        };
        if let Some(l) = self.callee_calls.legs.get_mut(&leg) {
            l.done = true;
        }
        if self.b2bua.hangup(now, leg).is_err() {
            self.callee_calls.legs.remove(&leg);
        }
    }

    /// The callee's call is over (hung up by its task, or shut down): its agent leg goes too.
    pub(super) fn callee_call_gone(&mut self, now: Instant, callee: CallKey) {
        if self.callee_calls.callees.remove(&callee) {
            self.drop_agent_leg(now, callee);
        }
    }

    /// Rewrites a core event of a callee-led call or its agent leg into what the task
    /// expects (None: handled here).
    pub(super) fn callee_event(&mut self, now: Instant, ev: CallEvent) -> Option<CallEvent> {
        let call = match &ev {
            CallEvent::Progress { call, .. }
            | CallEvent::AnswerFromB { call, .. }
            | CallEvent::BFailed { call, .. }
            | CallEvent::LegConfirmed { call, .. }
            | CallEvent::Reinvite { call, .. }
            | CallEvent::InDialogRequest { call, .. }
            | CallEvent::SessionExpired { call, .. }
            | CallEvent::Ended { call, .. } => *call,
            _ => return Some(ev),
        };
        if self.callee_calls.callees.contains(&call) {
            return self.callee_side_event(now, ev);
        }
        let Some(leg) = self.callee_calls.legs.get(&call) else {
            return Some(ev);
        };
        let (callee, done) = (leg.callee, leg.done);
        match ev {
            CallEvent::Ended { reason, .. } => {
                self.callee_calls.legs.remove(&call);
                if !done {
                    // The agent hung up (or their leg failed without a final answer): the
                    // callee's call ends, as an inbound call's A does when B sends BYE.
                    let how = crate::core_events::hangup(&reason);
                    self.end_for_agent_leg(
                        now,
                        callee,
                        how.as_party(switchboard_events::Party::Agent),
                    );
                }
                None
            }
            CallEvent::SessionExpired { .. } => {
                tracing::info!("a campaign call's agent leg stopped refreshing its session (RFC 4028): ending the call");
                self.callee_calls.legs.remove(&call);
                let _ = self.b2bua.hangup(now, call);
                if !done {
                    self.end_for_agent_leg(
                        now,
                        callee,
                        switchboard_callflow::Hangup::Leg {
                            party: switchboard_events::Party::Agent,
                            how: switchboard_callflow::LegEnd::SessionExpired,
                        },
                    );
                }
                None
            }
            _ if done => {
                if let CallEvent::Reinvite { tx, .. } | CallEvent::InDialogRequest { tx, .. } = ev {
                    let _ = self.b2bua.respond(now, tx, StatusCode(481), None);
                }
                None
            }
            CallEvent::BFailed { status, .. } => {
                if let Some(l) = self.callee_calls.legs.get_mut(&call) {
                    l.done = true;
                }
                if self.callee_calls.agent_of.get(&callee) == Some(&call) {
                    self.callee_calls.agent_of.remove(&callee);
                }
                Some(CallEvent::BFailed {
                    call: callee,
                    status,
                })
            }
            CallEvent::Progress { status, sdp, .. } => Some(CallEvent::Progress {
                call: callee,
                status,
                sdp,
            }),
            CallEvent::AnswerFromB { sdp, .. } => {
                Some(CallEvent::AnswerFromB { call: callee, sdp })
            }
            CallEvent::Reinvite { tx, sdp, .. } => Some(CallEvent::Reinvite {
                call: callee,
                leg: Leg::B,
                tx,
                sdp,
            }),
            CallEvent::InDialogRequest { tx, req, .. } => Some(CallEvent::InDialogRequest {
                call: callee,
                leg: Leg::B,
                tx,
                req,
            }),
            _ => None,
        }
    }

    /// The agent's leg is gone on its own: the callee's call ends with `why`.
    fn end_for_agent_leg(
        &mut self,
        now: Instant,
        callee: CallKey,
        why: switchboard_callflow::Hangup,
    ) {
        self.callee_calls.agent_of.remove(&callee);
        self.callee_calls.callees.remove(&callee);
        let _ = self.b2bua.hangup(now, callee);
        self.trunk_call_gone(callee);
        if let Some(t) = self.calls.remove(&callee) {
            let _ = t.send(CallSignal::Ended(why));
        }
    }

    /// An event of the callee's own call: its only leg is the task's leg A.
    fn callee_side_event(&mut self, now: Instant, ev: CallEvent) -> Option<CallEvent> {
        match ev {
            CallEvent::Reinvite { call, tx, sdp, .. } => Some(CallEvent::Reinvite {
                call,
                leg: Leg::A,
                tx,
                sdp,
            }),
            CallEvent::InDialogRequest { call, tx, req, .. } => Some(CallEvent::InDialogRequest {
                call,
                leg: Leg::A,
                tx,
                req,
            }),
            CallEvent::Ended { call, reason } => {
                self.callee_call_gone(now, call);
                Some(CallEvent::Ended {
                    call,
                    reason: as_caller(&reason),
                })
            }
            CallEvent::SessionExpired { call, .. } => {
                self.callee_call_gone(now, call);
                Some(CallEvent::SessionExpired { call, leg: Leg::A })
            }
            other => Some(other),
        }
    }
}
