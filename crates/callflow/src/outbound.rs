//! Calls the engine places itself, as instances of the same [`Call`]: an ACD callback
//! (the reserved agent and the customer, dialled one after the other, then bridged), an
//! agent's own call to a number (the agent's INVITE waits for the far end), and a
//! campaign's call to a row's number (once answered it runs like an inbound call: the
//! dialplan or the campaign's queue). Such a call starts in [`Phase::Dialing`] with a
//! ring-timeout timer ([`Timer::Ring`]); the driver dials what [`Output::Dial`] names and
//! reports the answer ([`Call::handle_dial_answered`]) or the failure
//! ([`Call::handle_dial_failed`]). The flow decides what comes next (the next leg, the
//! bridge, the campaign's dialplan), the status an agent's phone hears when the far end is
//! not reached, and the end: `callback_failed`, `outbound_failed`, `not_answered`,
//! `refused`, or the answered call's `callback` / `outbound` disposition and talk time.

use std::time::{Duration, Instant};

use switchboard_events::{Disposition, EndReason, Event};

use crate::call::{Call, Ending};
use crate::output::{AcdRequest, Output, SipRequest};
use crate::phase::Phase;
use crate::timers::Timer;

/// Who one leg of an outbound call calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dial {
    /// A user's registered phone.
    Agent(String),
    /// A number, through the trunks.
    Number(String),
}

/// What the engine places the call for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// An ACD callback of `queue`, with the reserved `agent`.
    Callback { queue: String, agent: String },
    /// `agent`'s own call to a number; their phone's INVITE is answered only when the far
    /// end answers.
    AgentCall { agent: String },
    /// A campaign's call to one row: answered, it goes on in the dialplan's hands.
    Campaign { campaign: String },
}

/// An outbound call to place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    pub purpose: Purpose,
    /// The legs, dialled one after the other (each after the previous one answered); the
    /// last one's answer bridges them. At least one.
    pub legs: Vec<Dial>,
    /// How long one leg may ring.
    pub ring_timeout: Duration,
}

/// Why a leg was not answered (or the call could not be placed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialFailure {
    /// No trunk could take the call (none configured, or all at their limits).
    NoTrunk,
    /// The far end (or the last trunk) answered with this final status.
    Status(u16),
    /// It rang past the ring timeout (the flow's timer; the driver cancels the leg).
    RingTimeout,
    /// The answer was unusable (no common codec, no media).
    Unusable,
    /// The originator gave up while it rang (an agent hung up their own call).
    Aborted,
    /// The server is stopping.
    Shutdown,
    /// The dialled call was ended on our side while it rang (a hang-up over the API, the
    /// call's own task or the SIP driver ending it; `reason` says which): the dial stops
    /// there and no other trunk is tried.
    Ended(EndReason),
    /// The dial's channel to the SIP driver closed while the driver still ran (a lost
    /// reply or signal lane: a bug, not the server stopping).
    InternalError,
    /// Refused before dialling (dial permissions, no trunk configured, no RTP port, ...):
    /// the originator hears `status`.
    Refused { status: u16, why: String },
}

impl DialFailure {
    /// The words `call.end`'s `detail` records (snake_case, never Rust Debug text).
    pub fn detail(&self) -> String {
        match self {
            DialFailure::NoTrunk => "no_trunk".to_string(),
            DialFailure::Status(s) => format!("failed {s}"),
            DialFailure::RingTimeout => "ring_timeout".to_string(),
            DialFailure::Unusable => "unusable_answer".to_string(),
            DialFailure::Aborted => "aborted".to_string(),
            DialFailure::Shutdown => "shutdown".to_string(),
            DialFailure::Ended(reason) => format!("ended {reason}"),
            DialFailure::InternalError => "internal_error".to_string(),
            DialFailure::Refused { why, .. } => why.clone(),
        }
    }

    /// The final status a leg answered with, if one did.
    pub fn status(&self) -> Option<u16> {
        match self {
            DialFailure::Status(s) | DialFailure::Refused { status: s, .. } => Some(*s),
            _ => None,
        }
    }

    /// The status an agent's phone hears for its own call that did not reach the far
    /// end: the far end's failure as it said it (busy, not found, declined, ...), 502 for
    /// our trunk's credentials failing or a non-final status, 480 after the ring
    /// timeout, 488 for an unusable answer, 503 when no trunk or the server could take
    /// it (or the server ended the dial), 500 when the dial lost its channel to the SIP driver. `None` when the agent
    /// gave up (nothing to answer).
    pub fn originator_status(&self) -> Option<u16> {
        Some(match self {
            DialFailure::Status(s) if (400..700).contains(s) && !matches!(s, 401 | 407) => *s,
            DialFailure::Status(_) => 502,
            DialFailure::RingTimeout => 480,
            DialFailure::Unusable => 488,
            DialFailure::NoTrunk | DialFailure::Shutdown | DialFailure::Ended(_) => 503,
            DialFailure::InternalError => 500,
            DialFailure::Refused { status, .. } => *status,
            DialFailure::Aborted => return None,
        })
    }
}

/// The outbound part of a call: what it was placed for and how far dialling got.
#[derive(Clone, Debug)]
pub(crate) struct OutboundState {
    purpose: Purpose,
    legs: Vec<Dial>,
    ring_timeout: Duration,
    /// Legs answered so far.
    answered: usize,
    failure: Option<DialFailure>,
    /// The call was bridged (the last leg answered).
    connected: bool,
    /// Its agent transferred it (a blind REFER): from then on it ends like an inbound
    /// call, with the agent it was transferred to.
    transferred: bool,
}

impl Call {
    /// A call the engine places, started at `now`: it dials its first leg
    /// ([`Output::Dial`]) with the ring timeout running.
    pub fn outbound(now: Instant, call: Outbound) -> Call {
        let mut c = Call::new(now);
        let first = call.legs.first().cloned();
        c.phase = Phase::Dialing {
            to: first.clone().unwrap_or(Dial::Number(String::new())),
        };
        c.outbound = Some(OutboundState {
            purpose: call.purpose,
            legs: call.legs,
            ring_timeout: call.ring_timeout,
            answered: 0,
            failure: None,
            connected: false,
            transferred: false,
        });
        match first {
            Some(to) => {
                c.timers.set(Timer::Ring, Some(now + call.ring_timeout));
                c.out.push_back(Output::Dial(to));
            }
            None => c.fail(DialFailure::Refused {
                status: 500,
                why: "nothing_to_dial".to_string(),
            }),
        }
        c
    }

    /// What the call was placed for (`None` for an inbound call).
    pub fn purpose(&self) -> Option<&Purpose> {
        self.outbound.as_ref().map(|o| &o.purpose)
    }

    /// Why the call was not answered, once decided.
    pub fn dial_failure(&self) -> Option<&DialFailure> {
        self.outbound.as_ref().and_then(|o| o.failure.as_ref())
    }

    /// The leg being dialled answered at `now`: the next leg is dialled, or (the last
    /// one) the legs are bridged. A campaign call goes to the dialplan (`Phase::Ivr`):
    /// the driver then runs the campaign's dialplan or queue.
    pub fn handle_dial_answered(&mut self, now: Instant) {
        if !matches!(self.phase, Phase::Dialing { .. }) {
            return;
        }
        let Some(o) = self.outbound.as_mut() else {
            return;
        };
        o.answered += 1;
        self.timers.set(Timer::Ring, None);
        if let Some(next) = o.legs.get(o.answered).cloned() {
            self.timers.set(Timer::Ring, Some(now + o.ring_timeout));
            self.phase = Phase::Dialing { to: next.clone() };
            self.out.push_back(Output::Dial(next));
            return;
        }
        o.connected = true;
        let (queue, agent, wait_s) = match &o.purpose {
            Purpose::Callback { queue, agent } => {
                self.out
                    .push_back(Output::Acd(AcdRequest::CallbackResult { connected: true }));
                // The customer waited in the queue on the call that asked for it.
                (queue.clone(), agent.clone(), 0.0)
            }
            Purpose::AgentCall { agent } => {
                self.out
                    .push_back(Output::Sip(SipRequest::AnswerOriginator));
                let wait = now.saturating_duration_since(self.started).as_secs_f64();
                (String::new(), agent.clone(), wait)
            }
            Purpose::Campaign { .. } => {
                self.phase = Phase::Ivr;
                return;
            }
        };
        self.phase = Phase::Bridged {
            queue,
            agent,
            answered_at: now,
            direct: true,
        };
        self.log(Event::CallBridge { wait_s });
        self.log(Event::CallConnected {});
    }

    /// The leg being dialled (or the call, before dialling) failed: the call hangs up
    /// what it had and ends (`Output::HangUp`).
    /// Once a failure is decided (e.g. the ring timeout), later reports change nothing.
    pub fn handle_dial_failed(&mut self, _now: Instant, failure: DialFailure) {
        if matches!(self.phase, Phase::Dialing { .. }) && self.dial_failure().is_none() {
            self.fail(failure);
        }
    }

    /// The ring timeout passed: cancel the ringing leg and fail the call.
    pub(crate) fn ring_timeout(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Dialing { .. })
            && self.dial_failure().is_none()
            && self.timers.expire(Timer::Ring, now)
        {
            self.out.push_back(Output::Sip(SipRequest::CancelDial));
            self.fail(DialFailure::RingTimeout);
        }
    }

    fn fail(&mut self, failure: DialFailure) {
        let Some(o) = self.outbound.as_mut() else {
            return;
        };
        self.timers.set(Timer::Ring, None);
        // `call.end`'s reason says what happened to the leg: the server stopping or
        // ending the dial itself (its own reason, e.g. `api_hangup`), the dial policy refusing the number (`refused`), the agent giving up on their own
        // call, or else the far end not answering (busy, no answer, failed, no trunk).
        let reason = match (&o.purpose, &failure) {
            (Purpose::AgentCall { .. }, DialFailure::Aborted) => EndReason::CallerCancelled,
            (Purpose::AgentCall { .. }, _) => {
                if let Some(status) = failure.originator_status() {
                    self.out
                        .push_back(Output::Sip(SipRequest::RejectOriginator { status }));
                }
                match failure {
                    DialFailure::Shutdown => EndReason::Shutdown,
                    DialFailure::Ended(reason) => reason,
                    DialFailure::InternalError => EndReason::SignallingLost,
                    DialFailure::Refused { .. } => EndReason::Refused,
                    _ => EndReason::NotAnswered,
                }
            }
            (_, DialFailure::Shutdown) => EndReason::Shutdown,
            (_, DialFailure::Ended(reason)) => *reason,
            (_, DialFailure::InternalError) => EndReason::SignallingLost,
            (Purpose::Callback { .. }, _) => EndReason::CallbackLegFailed,
            (Purpose::Campaign { .. }, _) => EndReason::NotAnswered,
        };
        o.failure = Some(failure);
        self.out.push_back(Output::HangUp(reason));
    }

    /// A bridged agent's own call is transferred by its agent: it is the transfer's call
    /// from now on (its end is an inbound call's, with the agent it reached).
    pub(crate) fn outbound_transferred(&mut self) {
        if let Some(o) = self.outbound.as_mut() {
            o.transferred = true;
        }
    }

    /// The end of a call placed by the engine, or `None` for any other call (and for a
    /// campaign call once answered, or a placed call its agent transferred: it ends like
    /// an inbound call).
    pub(crate) fn outbound_end(&mut self, now: Instant, reason: EndReason) -> Option<Ending> {
        let o = self.outbound.as_ref()?;
        if matches!(o.purpose, Purpose::Campaign { .. }) && o.answered > 0 || o.transferred {
            return None;
        }
        let duration_s = now.saturating_duration_since(self.started).as_secs_f64();
        let (disposition, talk_s, tell_acd) = match (&self.phase, &o.purpose) {
            (
                Phase::Bridged { answered_at, .. },
                Purpose::Callback { .. } | Purpose::AgentCall { .. },
            ) => {
                let talk = now.saturating_duration_since(*answered_at).as_secs_f64();
                let callback = matches!(o.purpose, Purpose::Callback { .. });
                let d = if callback {
                    Disposition::Callback
                } else {
                    Disposition::Outbound
                };
                (d, Some(talk), callback)
            }
            (_, purpose) => {
                let refused = matches!(o.failure, Some(DialFailure::Refused { .. }));
                let d = match purpose {
                    Purpose::Callback { .. } => Disposition::CallbackFailed,
                    Purpose::AgentCall { .. } if refused => Disposition::Refused,
                    Purpose::AgentCall { .. } => Disposition::OutboundFailed,
                    Purpose::Campaign { .. } => Disposition::NotAnswered,
                };
                if matches!(purpose, Purpose::Callback { .. }) {
                    self.out
                        .push_back(Output::Acd(AcdRequest::CallbackResult { connected: false }));
                }
                (d, None, false)
            }
        };
        if tell_acd {
            self.out.push_back(Output::Acd(AcdRequest::CallEnded));
        }
        let (queue, agent) = match &o.purpose {
            Purpose::Callback { queue, agent } => (queue.clone(), agent.clone()),
            Purpose::AgentCall { agent } => (String::new(), agent.clone()),
            Purpose::Campaign { .. } => (String::new(), String::new()),
        };
        Some(Ending {
            reason,
            disposition,
            queue,
            agent,
            duration_s,
            talk_s,
        })
    }
}
