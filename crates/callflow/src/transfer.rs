//! Transfers: where the caller goes when the dialplan, an agent's REFER or the HTTP API
//! sends it somewhere (a queue, a user's phone, an outside number), what happens while a
//! transfer target rings (answered, not reached, the caller hung up), and the attended
//! handover of an agent leg between two calls. The driver resolves a target's name (it
//! knows the configuration and the dial policy) and carries out the decisions: joining a
//! queue, dialling, moving SIP legs and media.

use std::time::Instant;

use switchboard_events::{
    EndReason, Event, TransferFailure, TransferKind, TransferOrigin, TransferTo,
};

use crate::call::Call;
use crate::output::{AcdRequest, Logged, MediaCommand, Output, SipRequest};
use crate::phase::Phase;

/// A transfer target the driver resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A queue by name: the caller waits in it.
    Queue(String),
    /// A configured user: their phone rings.
    User(String),
    /// An outside number the dial policy admitted (canonical): dialled through the trunks.
    Number(String),
}

/// A transfer asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// Who asks.
    pub origin: TransferOrigin,
    /// Where to, or why the target does not resolve.
    pub dest: Result<Destination, TransferFailure>,
    /// The name or number as asked (for the log).
    pub target: String,
    /// Who asked over the HTTP API.
    pub by: Option<String>,
    /// Where the caller waits when a rung target is not reached and the call has no queue
    /// of its own (the dialplan's fallback queue); `None`: the call ends then (an agent's
    /// consultation whose colleague is not reached).
    pub fallback: Option<String>,
}

/// What the driver does with a transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferDecision {
    /// Join `queue` now (the driver's queue join: the ACD, then
    /// [`Call::handle_queue_join`]).
    Queue { queue: String },
    /// Ring `target` and report [`Call::handle_transfer_answered`] or
    /// [`Call::handle_transfer_failed`]. The caller hears music meanwhile (see outputs).
    Dial { to: TransferTo, target: String },
    /// Ask the ACD to move the waiting caller to `queue`, then report
    /// [`Call::handle_waiting_moved`] (only over the API).
    MoveWaiting { from: String, queue: String },
    /// Nothing happens (the reason is logged; see outputs).
    Nothing,
}

/// Why a transfer is refused (the call stays as it is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransferRefusal {
    /// The target names no queue, user or number (REFER: 404; API: 404).
    UnknownTarget,
    /// The dial policy refuses the number (REFER: 403).
    NumberRefused,
    /// The call is in no phase to be transferred: only a bridged call, or over the API a
    /// caller waiting in a queue (to another queue) (REFER: 403; API: 409).
    NotTransferable,
    /// Over the API, to the agent the call is already with (409).
    AlreadyWith(String),
    /// An attended transfer of a call whose agent leg is a call of its own (a campaign's
    /// callee lead): the colleague's leg cannot be moved into it (501).
    CannotMoveLeg,
}

/// A transfer's target answered: bridge it to the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferAnswered {
    pub queue: String,
    /// The user's name; empty for a number.
    pub agent: String,
    /// Where the caller waits after this leg if it is transferred again without a queue.
    pub fallback: Option<String>,
}

/// What a transfer rings right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ringing {
    to: TransferTo,
    target: String,
    fallback: Option<String>,
}

/// The call whose agent leg an attended transfer took over, as the taken call reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandedLeg {
    /// The queue the colleague's call came from (empty when none).
    pub queue: String,
    /// The colleague.
    pub agent: String,
    /// The colleague was rung by the engine itself (no ACD call of its own to end).
    pub direct: bool,
}

impl Call {
    /// A transfer of this call. A bridged call lets its agent go first (logged as a
    /// `call.transfer`; the agent wraps up unless the engine rang them itself); a call in
    /// the dialplan goes at once. `prompt_playing`: the caller still hears a prompt (the
    /// music starts when it ends).
    pub fn handle_transfer(
        &mut self,
        _now: Instant,
        t: Transfer,
        prompt_playing: bool,
    ) -> Result<TransferDecision, TransferRefusal> {
        match &self.phase {
            Phase::Bridged { .. } => {
                let dest = match t.dest {
                    Ok(d) => d,
                    Err(TransferFailure::Refused) => return Err(TransferRefusal::NumberRefused),
                    Err(_) => return Err(TransferRefusal::UnknownTarget),
                };
                if let (TransferOrigin::Api, Destination::User(u)) = (t.origin, &dest) {
                    if Some(u.as_str()) == self.phase.agent() {
                        return Err(TransferRefusal::AlreadyWith(u.clone()));
                    }
                }
                let (to_queue, to_agent, to_number) = match &dest {
                    Destination::Queue(q) => (Some(q.clone()), None, None),
                    Destination::User(u) => (None, Some(u.clone()), None),
                    Destination::Number(n) => (None, None, Some(n.clone())),
                };
                self.log(Event::CallTransfer {
                    kind: TransferKind::Blind,
                    to_queue,
                    to_agent,
                    by: t.by,
                    to_number,
                });
                let from_queue = self.phase.queue().unwrap_or_default().to_string();
                self.handle_agent_released();
                self.outbound_transferred();
                let fallback = Some(from_queue.clone())
                    .filter(|q| !q.is_empty())
                    .or(t.fallback);
                Ok(self.go(t.origin, dest, from_queue, fallback, false))
            }
            Phase::Queued { queue, .. } if t.origin == TransferOrigin::Api => match t.dest {
                Ok(Destination::Queue(q)) => Ok(TransferDecision::MoveWaiting {
                    from: queue.clone(),
                    queue: q,
                }),
                Err(_) => Err(TransferRefusal::UnknownTarget),
                Ok(_) => Err(TransferRefusal::NotTransferable),
            },
            Phase::Ivr
                if matches!(
                    t.origin,
                    TransferOrigin::Dialplan | TransferOrigin::Consultation
                ) =>
            {
                match t.dest {
                    Ok(dest) => {
                        Ok(self.go(t.origin, dest, String::new(), t.fallback, prompt_playing))
                    }
                    Err(why) => Ok(self.not_reached(why, t.target, t.fallback)),
                }
            }
            // Over the API a target that names nothing is the first thing to say.
            _ if t.origin == TransferOrigin::Api && t.dest.is_err() => {
                Err(TransferRefusal::UnknownTarget)
            }
            _ => Err(TransferRefusal::NotTransferable),
        }
    }

    /// A transfer asked over the HTTP API by `by`: to a queue or a user (a bridged call),
    /// or to another queue (a waiting caller). The typed refusal is the API's answer.
    pub fn handle_api_transfer(
        &mut self,
        now: Instant,
        dest: Result<Destination, TransferFailure>,
        target: String,
        by: String,
    ) -> Result<TransferDecision, TransferRefusal> {
        let t = Transfer {
            origin: TransferOrigin::Api,
            dest,
            target,
            by: Some(by),
            fallback: None,
        };
        self.handle_transfer(now, t, false)
    }

    /// Sends the caller (in no queue, not bridged) to `dest`.
    fn go(
        &mut self,
        origin: TransferOrigin,
        dest: Destination,
        queue: String,
        fallback: Option<String>,
        prompt_playing: bool,
    ) -> TransferDecision {
        let (to, target) = match dest {
            Destination::Queue(q) => return TransferDecision::Queue { queue: q },
            Destination::User(u) => (TransferTo::User, u),
            Destination::Number(n) => (TransferTo::Number, n),
        };
        self.phase = Phase::Transferring { queue };
        self.log(Event::TransferDial {
            origin,
            to,
            target: target.clone(),
        });
        self.ringing = Some(Ringing {
            to,
            target: target.clone(),
            fallback,
        });
        // A prompt the dialplan played before the transfer ends first; music then.
        if !prompt_playing {
            self.out.push_back(Output::Media(MediaCommand::PlayMoh));
        }
        TransferDecision::Dial { to, target }
    }

    /// What the ringing transfer dials, if one rings: a user's phone or a number, and the
    /// name or number.
    pub fn transfer_ringing(&self) -> Option<(TransferTo, &str)> {
        self.ringing.as_ref().map(|r| (r.to, r.target.as_str()))
    }

    /// The transfer's target answered at `now`: caller and target are bridged (talk time
    /// from now; the engine rang them, so no ACD call ends with them). `None` when no
    /// transfer rings any more (the caller left): the driver hangs the answered leg up.
    pub fn handle_transfer_answered(&mut self, now: Instant) -> Option<TransferAnswered> {
        let Phase::Transferring { queue } = &self.phase else {
            return None;
        };
        let queue = queue.clone();
        let r = self.ringing.take()?;
        let agent = match r.to {
            TransferTo::User => r.target.clone(),
            TransferTo::Number => String::new(),
        };
        self.phase = Phase::Bridged {
            queue: queue.clone(),
            agent: agent.clone(),
            answered_at: now,
            direct: true,
        };
        self.log(Event::TransferAnswer {
            to: r.to,
            target: r.target,
        });
        self.log(Event::CallBridge {
            wait_s: now.saturating_duration_since(self.started).as_secs_f64(),
        });
        Some(TransferAnswered {
            queue,
            agent,
            fallback: r.fallback,
        })
    }

    /// The transfer's target was not reached (`why`): logged, and the caller joins the
    /// fallback queue ([`TransferDecision::Queue`]); without one (a consultation) the call
    /// ends (`Output::HangUp`).
    pub fn handle_transfer_failed(
        &mut self,
        _now: Instant,
        why: TransferFailure,
    ) -> TransferDecision {
        if !matches!(self.phase, Phase::Transferring { .. }) {
            return TransferDecision::Nothing;
        }
        match self.ringing.take() {
            Some(r) => self.not_reached(why, r.target, r.fallback),
            None => TransferDecision::Nothing,
        }
    }

    /// `target` is not reached (or names nothing): logged, then the fallback.
    fn not_reached(
        &mut self,
        why: TransferFailure,
        target: String,
        fallback: Option<String>,
    ) -> TransferDecision {
        let event = Event::TransferFail {
            reason: why,
            target,
            fallback_queue: fallback.clone(),
        };
        self.log_under(event, "", "");
        self.phase = Phase::Ivr;
        match fallback {
            Some(queue) => TransferDecision::Queue { queue },
            None => {
                self.out.push_back(Output::HangUp(EndReason::AgentRejected));
                TransferDecision::Nothing
            }
        }
    }

    /// The call ends while a transfer target rings: the ringing is cancelled and a
    /// `transfer.fail` says why (before the `call.end`).
    pub(crate) fn abandon_transfer(&mut self, reason: EndReason) {
        let Some(r) = self.ringing.take() else {
            return;
        };
        let why = if reason == EndReason::CallerHangup {
            TransferFailure::CallerHangup
        } else {
            TransferFailure::CallEnded
        };
        self.out.push_back(Output::Sip(SipRequest::CancelTransfer));
        self.log(Event::TransferFail {
            reason: why,
            target: r.target,
            fallback_queue: None,
        });
    }

    /// The API moved the waiting caller to `queue` (the ACD agreed): logged as a blind
    /// `call.transfer` by `by`; the caller keeps its place in the flow.
    pub fn handle_waiting_moved(&mut self, queue: String, by: String) {
        if !matches!(self.phase, Phase::Queued { .. }) {
            return;
        }
        self.log(Event::CallTransfer {
            kind: TransferKind::Blind,
            to_queue: Some(queue.clone()),
            to_agent: None,
            by: Some(by),
            to_number: None,
        });
        self.handle_queue_moved(queue);
    }

    // ------------------------------------------------------------------ attended

    /// An agent REFERs this call's caller to their consultation call (attended transfer,
    /// RFC 5589). `leg_movable`: the agent leg is part of this call (not a call of its own).
    /// `Ok`: the driver finds the consultation call and asks it to hand its colleague's leg
    /// over ([`Call::handle_handed_over`] there), then reports [`Call::handle_took_over`]
    /// here.
    pub fn handle_attended_transfer(&self, leg_movable: bool) -> Result<(), TransferRefusal> {
        if !leg_movable {
            return Err(TransferRefusal::CannotMoveLeg);
        }
        match self.phase {
            Phase::Bridged { .. } => Ok(()),
            _ => Err(TransferRefusal::NotTransferable),
        }
    }

    /// The consultation call handed its colleague's leg over: logged as an attended
    /// `call.transfer`; the first agent's part ends (wrap-up, unless the engine rang them
    /// itself); the caller is now bridged to the colleague from `now`.
    pub fn handle_took_over(&mut self, now: Instant, leg: HandedLeg) {
        let Phase::Bridged { queue, direct, .. } = &self.phase else {
            return;
        };
        let (from_queue, was_direct) = (queue.clone(), *direct);
        self.log(Event::CallTransfer {
            kind: TransferKind::Attended,
            to_queue: Some(leg.queue.clone()).filter(|q| !q.is_empty()),
            to_agent: Some(leg.agent.clone()),
            by: None,
            to_number: None,
        });
        if !was_direct {
            self.out.push_back(Output::Acd(AcdRequest::CallEnded));
        }
        self.outbound_transferred();
        let queue = if leg.queue.is_empty() {
            from_queue
        } else {
            leg.queue
        };
        self.phase = Phase::Bridged {
            queue,
            agent: leg.agent,
            answered_at: now,
            direct: leg.direct,
        };
    }

    /// Queues an event filed under `queue` and `agent`.
    pub(crate) fn log_under(&mut self, event: Event, queue: &str, agent: &str) {
        self.out.push_back(Output::Event(Box::new(Logged {
            event,
            queue: queue.to_string(),
            agent: agent.to_string(),
        })));
    }
}
