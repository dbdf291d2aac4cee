//! The call in a queue: joining, announcements, keys, offers (single and ring-all), the
//! agent's failure (RONA, reject) or answer, withdrawn offers, callbacks and leaving.

use std::time::{Duration, Instant};

use switchboard_acd::{ExitReason, OfferFailure};
use switchboard_events::{DtmfVia, Event};
use switchboard_ivr::interp::QueueOutcome;

use crate::call::Call;
use crate::output::{AcdRequest, IvrInput, MediaCommand, Output, SipRequest};
use crate::phase::Phase;
use crate::timers::Timer;

/// The dialplan's keys for the queue the call is in.
#[derive(Clone, Debug, Default)]
pub(crate) struct QueueKeys {
    exit: Option<char>,
    callback: Option<char>,
    ring_all: bool,
}

/// The call joins a queue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueueJoin {
    pub queue: String,
    /// The dialplan's `max_wait` for this call.
    pub max_wait: Option<Duration>,
    /// The key that leaves the queue back to the dialplan.
    pub exit_key: Option<char>,
    /// The key that asks for a callback.
    pub callback_key: Option<char>,
    /// The queue rings all its agents at once (offers fork instead of ringing one).
    pub ring_all: bool,
    /// The queue's join prompt, played before the music on hold.
    pub join_prompt: Option<String>,
}

/// What to do with an ACD offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfferDecision {
    /// Ring `agent` on the call's agent leg, then report [`Call::handle_ringing`] (or
    /// [`Call::handle_ring_not_started`]).
    Ring { queue: String, agent: String },
    /// Ring `agent` as one more leg of a ring-all offer, then report
    /// [`Call::handle_forked`] (or [`Call::handle_ring_not_started`]).
    Fork { queue: String, agent: String },
    /// A CANCEL is in flight: the offer waits for it (the call asks again later).
    Wait,
    /// The call is not waiting for an agent: nothing to ring.
    Ignore,
}

/// What a key pressed means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigitRoute {
    /// Decided (outputs queued).
    Handled,
    /// The callback key: the driver checks the caller's number may be dialled and reports
    /// [`Call::handle_callback`].
    Callback,
}

/// What an agent leg's answer means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerDecision {
    /// Connect `agent`'s leg, then report [`Call::handle_agent_connected`].
    Connect { queue: String, agent: String },
    /// We had cancelled this leg (it is released, see outputs); offer the call to these
    /// agents now, each through [`Call::handle_offer_again`].
    Reoffer(Vec<String>),
    /// Nothing rings: ignore.
    Ignore,
}

impl Call {
    /// The call joins `join.queue` at `now` (the driver sent the ACD its join).
    pub fn handle_queue_join(&mut self, now: Instant, join: QueueJoin) {
        self.timers
            .set(Timer::MaxWait, join.max_wait.map(|w| now + w));
        self.queued_at = Some(now);
        self.keys = QueueKeys {
            exit: join.exit_key,
            callback: join.callback_key,
            ring_all: join.ring_all,
        };
        self.phase = Phase::Queued {
            queue: join.queue,
            announcing: join.join_prompt.is_some(),
        };
        let media = match join.join_prompt {
            // The music starts when the prompt ends.
            Some(p) => MediaCommand::Play { prompts: vec![p] },
            None => MediaCommand::PlayMoh,
        };
        self.out.push_back(Output::Media(media));
    }

    /// The waiting call was moved to `queue` (a supervisor's move over the API): it keeps
    /// its place in the flow, its keys and its `max_wait`.
    pub fn handle_queue_moved(&mut self, queue: String) {
        if let Phase::Queued { queue: q, .. } = &mut self.phase {
            *q = queue;
        }
    }

    /// The ACD wants the caller to hear their position: gives the queue when the call is
    /// queued (the driver plays the announcement; the music resumes after it).
    pub fn handle_announce(&mut self) -> Option<String> {
        let Phase::Queued { queue, announcing } = &mut self.phase else {
            return None;
        };
        *announcing = true;
        Some(queue.clone())
    }

    /// The caller pressed `digit` (received `via`). `callback_possible`: trunks exist and
    /// the caller's number is known.
    pub fn handle_digit(
        &mut self,
        _now: Instant,
        digit: char,
        via: DtmfVia,
        callback_possible: bool,
    ) -> DigitRoute {
        self.out.push_back(Output::Event(Box::new(crate::Logged {
            event: Event::Dtmf {
                digit: digit.to_string(),
                via,
            },
            queue: String::new(),
            agent: String::new(),
        })));
        match &self.phase {
            Phase::Ivr => {
                self.out
                    .push_back(Output::Media(MediaCommand::PlayerKey(digit)));
                self.out.push_back(Output::Ivr(IvrInput::Digit(digit)));
            }
            Phase::Queued { .. } | Phase::Ringing { .. } => {
                if Some(digit) == self.keys.callback && callback_possible {
                    return DigitRoute::Callback;
                } else if Some(digit) == self.keys.exit
                    && matches!(self.phase, Phase::Queued { .. })
                {
                    self.leave_queue(QueueOutcome::ExitKey);
                } else {
                    self.out.push_back(Output::Acd(AcdRequest::Key(digit)));
                }
            }
            _ => {}
        }
        DigitRoute::Handled
    }

    /// The caller's callback key, checked: `allowed` when their number may be dialled.
    /// Accepted, the place stays in the queue and the call says goodbye; refused, the
    /// caller hears why and keeps waiting.
    pub fn handle_callback(&mut self, allowed: bool) {
        if !allowed {
            if let Phase::Queued { announcing, .. } = &mut self.phase {
                *announcing = true;
                let prompts = vec!["queue-callback-unavailable".to_string()];
                self.out
                    .push_back(Output::Media(MediaCommand::Play { prompts }));
            }
            return;
        }
        let queue = match &self.phase {
            Phase::Queued { queue, .. } | Phase::Ringing { queue, .. } => queue.clone(),
            _ => return,
        };
        self.cancel_forks();
        if let Phase::Ringing { .. } = self.phase {
            self.cancel_agent();
        }
        self.out.push_back(Output::Acd(AcdRequest::CallbackRequest));
        self.log(Event::QueueCallbackRequested {});
        self.phase = Phase::CallbackLeaving { queue };
        let prompts = vec!["queue-callback-confirmed".to_string()];
        self.out
            .push_back(Output::Media(MediaCommand::Play { prompts }));
    }

    /// The ACD offers the call to `agent`.
    pub fn handle_offer(&mut self, agent: String) -> OfferDecision {
        if self.cancelling_agent {
            self.pending_offers.push(agent);
            return OfferDecision::Wait;
        }
        let Phase::Queued { queue, .. } = &self.phase else {
            return OfferDecision::Ignore;
        };
        let queue = queue.clone();
        if self.keys.ring_all {
            OfferDecision::Fork { queue, agent }
        } else {
            OfferDecision::Ring { queue, agent }
        }
    }

    /// An offer that waited for a CANCEL: rung if the call still waits in its queue, else
    /// refused back to the ACD.
    pub fn handle_offer_again(&mut self, agent: String) -> OfferDecision {
        if self.cancelling_agent {
            self.pending_offers.push(agent);
            return OfferDecision::Wait;
        }
        match self.handle_offer(agent.clone()) {
            OfferDecision::Ignore => {
                self.offer_failed(agent, OfferFailure::Rejected);
                OfferDecision::Ignore
            }
            d => d,
        }
    }

    /// The driver could not ring `agent` (no RTP port): the offer fails.
    pub fn handle_ring_not_started(&mut self, agent: String) {
        self.offer_failed(agent, OfferFailure::Rejected);
    }

    /// The agent leg rings `agent` (a single offer).
    pub fn handle_ringing(&mut self, agent: String) {
        let Phase::Queued { queue, .. } = &self.phase else {
            return;
        };
        self.phase = Phase::Ringing {
            queue: queue.clone(),
            agent,
        };
        self.log(Event::AgentRing {});
    }

    /// One more ring-all leg rings `agent`.
    pub fn handle_forked(&mut self, agent: String) {
        let queue = self.phase.queue().unwrap_or_default().to_string();
        self.out.push_back(Output::Event(Box::new(crate::Logged {
            event: Event::AgentRing {},
            queue,
            agent: agent.clone(),
        })));
        self.forks.push(agent);
    }

    /// True when a ring-all leg rings `agent`.
    pub fn is_forked_to(&self, agent: &str) -> bool {
        self.forks.iter().any(|f| f == agent)
    }

    /// The ACD withdraws its offer to `agent` (ring timeout, or someone else answered).
    pub fn handle_offer_withdrawn(&mut self, agent: &str) {
        if self.is_forked_to(agent) {
            self.forks.retain(|f| f != agent);
            self.out.push_back(Output::Sip(SipRequest::CancelFork {
                agent: agent.to_string(),
            }));
            return;
        }
        if let Phase::Ringing {
            queue,
            agent: ringing,
        } = &self.phase
        {
            if ringing == agent {
                let queue = queue.clone();
                self.cancel_agent();
                self.phase = Phase::Queued {
                    queue,
                    announcing: false,
                };
                self.out.push_back(Output::Media(MediaCommand::PlayMoh));
            }
        }
    }

    /// The agent leg failed with final `status`. Gives the offers that waited for a
    /// CANCEL, to make now with [`Call::handle_offer_again`].
    pub fn handle_agent_failed(&mut self, _now: Instant, status: u16) -> Vec<String> {
        if self.cancelling_agent && !matches!(self.phase, Phase::Ringing { .. }) {
            return self.cancel_done();
        }
        let Phase::Ringing { queue, agent } = &self.phase else {
            return Vec::new();
        };
        let (queue, agent) = (queue.clone(), agent.clone());
        self.log(Event::AgentRingFailed { status });
        self.out
            .push_back(Output::Sip(SipRequest::ForgetAgentOffer));
        self.phase = Phase::Queued {
            queue,
            announcing: false,
        };
        self.out.push_back(Output::Media(MediaCommand::PlayMoh));
        self.offer_failed(agent, crate::offer_failure(status));
        Vec::new()
    }

    /// The agent leg answered.
    pub fn handle_agent_answered(&mut self, _now: Instant) -> AnswerDecision {
        if self.cancelling_agent && !matches!(self.phase, Phase::Ringing { .. }) {
            // The agent answered as our CANCEL crossed it: hang that leg up.
            self.out.push_back(Output::Sip(SipRequest::ReleaseAgent));
            return AnswerDecision::Reoffer(self.cancel_done());
        }
        match &self.phase {
            Phase::Ringing { queue, agent } => AnswerDecision::Connect {
                queue: queue.clone(),
                agent: agent.clone(),
            },
            _ => AnswerDecision::Ignore,
        }
    }

    /// `agent`'s ring-all leg won the race (the driver hung up the others): the call rings
    /// that agent now and its answer follows. `None` when the offer had been withdrawn:
    /// the leg is released (see outputs).
    pub fn handle_fork_answered(&mut self, agent: &str) -> Option<String> {
        let queue = match &self.phase {
            Phase::Queued { queue, .. } if self.is_forked_to(agent) => queue.clone(),
            _ => {
                self.out.push_back(Output::Sip(SipRequest::ReleaseAgent));
                return None;
            }
        };
        self.forks.clear();
        self.phase = Phase::Ringing {
            queue: queue.clone(),
            agent: agent.to_string(),
        };
        Some(queue)
    }

    /// `agent`'s ring-all leg failed on its own with `status`.
    pub fn handle_fork_failed(&mut self, agent: &str, status: u16) {
        if !self.is_forked_to(agent) {
            return;
        }
        self.forks.retain(|f| f != agent);
        if let Phase::Queued { queue, .. } = &self.phase {
            let queue = queue.clone();
            self.out.push_back(Output::Event(Box::new(crate::Logged {
                event: Event::AgentRingFailed { status },
                queue,
                agent: agent.to_string(),
            })));
        }
        self.offer_failed(agent.to_string(), crate::offer_failure(status));
    }

    /// The ringing agent's leg is up: caller and agent are bridged (the whisper may still
    /// play before they hear each other).
    pub fn handle_agent_connected(&mut self, now: Instant) {
        let Phase::Ringing { queue, agent } = &self.phase else {
            return;
        };
        let (queue, agent) = (queue.clone(), agent.clone());
        self.out.push_back(Output::Acd(AcdRequest::OfferAnswered {
            agent: agent.clone(),
        }));
        self.timers.set(Timer::MaxWait, None);
        self.phase = Phase::Bridged {
            queue,
            agent,
            answered_at: now,
            direct: false,
        };
        self.log(Event::CallBridge {
            wait_s: now.saturating_duration_since(self.started).as_secs_f64(),
        });
    }

    /// The ACD takes the call out of its queue (`reason`; `None` when it could not join).
    pub fn handle_queue_exit(&mut self, reason: Option<&ExitReason>) {
        if !self.phase.is_waiting() {
            return;
        }
        self.cancel_forks();
        let outcome = match reason {
            Some(ExitReason::MaxWait { .. }) => QueueOutcome::MaxWait,
            Some(ExitReason::ExitKey { .. }) => QueueOutcome::ExitKey,
            _ => QueueOutcome::Failed,
        };
        self.back_to_ivr(outcome);
    }

    /// The call leaves its queue on its own (exit key, dialplan `max_wait`).
    pub(crate) fn leave_queue(&mut self, outcome: QueueOutcome) {
        self.cancel_forks();
        if let Phase::Ringing { .. } = self.phase {
            self.cancel_agent();
        }
        let reason = match outcome {
            QueueOutcome::ExitKey => ExitReason::ExitKey {
                key: self.keys.exit.unwrap_or('#'),
            },
            _ => ExitReason::MaxWait {
                target: String::new(),
            },
        };
        self.out.push_back(Output::Acd(AcdRequest::Exit(reason)));
        self.back_to_ivr(outcome);
    }

    fn back_to_ivr(&mut self, outcome: QueueOutcome) {
        self.phase = Phase::Ivr;
        self.out.push_back(Output::Media(MediaCommand::StopPrompts));
        self.out
            .push_back(Output::Ivr(IvrInput::QueueResult(outcome)));
    }

    fn cancel_agent(&mut self) {
        self.out.push_back(Output::Sip(SipRequest::CancelAgent));
        self.cancelling_agent = true;
    }

    fn cancel_forks(&mut self) {
        for agent in std::mem::take(&mut self.forks) {
            self.out
                .push_back(Output::Sip(SipRequest::CancelFork { agent }));
        }
    }

    fn cancel_done(&mut self) -> Vec<String> {
        self.cancelling_agent = false;
        std::mem::take(&mut self.pending_offers)
    }

    fn offer_failed(&mut self, agent: String, failure: OfferFailure) {
        self.out
            .push_back(Output::Acd(AcdRequest::OfferFailed { agent, failure }));
    }
}
