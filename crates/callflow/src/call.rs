//! The call: its phase, timers and outputs; the IVR, bridge, transfer, supervision and end
//! decisions. Queue and offer decisions are in `queue.rs`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use switchboard_events::{
    Disposition, EndReason, Event, QueueExitReason, SupervisionEnd, SupervisionMode,
};
use switchboard_ivr::interp::QueueOutcome;

use crate::output::{IvrInput, Logged, MediaCommand, Output};
use crate::phase::Phase;
use crate::timers::{Timer, Timers};

/// One call's flow. Feed it inputs with the `handle_*` methods, then drain
/// [`Call::poll_output`]; wake at [`Call::poll_timeout`] and call [`Call::handle_timeout`].
#[derive(Debug)]
pub struct Call {
    pub(crate) started: Instant,
    pub(crate) phase: Phase,
    pub(crate) timers: Timers,
    pub(crate) queued_at: Option<Instant>,
    pub(crate) keys: crate::queue::QueueKeys,
    /// Agents a ring-all offer rings right now.
    pub(crate) forks: Vec<String>,
    /// A CANCEL to a ringing agent is in flight: a new offer waits for its final answer.
    pub(crate) cancelling_agent: bool,
    pub(crate) pending_offers: Vec<String>,
    pub(crate) supervisor: Option<String>,
    /// The agent's part of a call in its post-call survey (`survey.rs`).
    pub(crate) after_agent: Option<crate::survey::AfterAgent>,
    /// What a transfer rings (while `Transferring`).
    pub(crate) ringing: Option<crate::transfer::Ringing>,
    /// Since when each party holds the call (re-INVITEs).
    pub(crate) holds: crate::in_dialog::Holds,
    /// What a call the engine places is for, and how far it got (`outbound.rs`).
    pub(crate) outbound: Option<crate::outbound::OutboundState>,
    pub(crate) out: VecDeque<Output>,
}

/// How the call ended, for its `call.end`: what the driver adds are media figures
/// (RTP statistics, quality, recording).
#[derive(Clone, Debug, PartialEq)]
pub struct Ending {
    pub reason: EndReason,
    pub disposition: Disposition,
    /// The call's last queue and agent (empty when none).
    pub queue: String,
    pub agent: String,
    pub duration_s: f64,
    /// Seconds caller and agent talked (answered calls).
    pub talk_s: Option<f64>,
}

impl Call {
    /// A new call, started at `now`, in the dialplan.
    pub fn new(now: Instant) -> Call {
        Call {
            started: now,
            phase: Phase::Ivr,
            timers: Timers::default(),
            queued_at: None,
            keys: Default::default(),
            forks: Vec::new(),
            cancelling_agent: false,
            pending_offers: Vec::new(),
            supervisor: None,
            after_agent: None,
            ringing: None,
            holds: Default::default(),
            outbound: None,
            out: VecDeque::new(),
        }
    }

    /// The phase the call is in.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// When the call started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the call last joined a queue.
    pub fn queued_at(&self) -> Option<Instant> {
        self.queued_at
    }

    /// When `timer` is due, if it is set.
    pub fn timer(&self, timer: Timer) -> Option<Instant> {
        self.timers.get(timer)
    }

    /// The next intent, in the order decided; `None` when there is nothing more to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The earliest moment [`Call::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next(matches!(self.phase, Phase::Queued { .. }))
    }

    /// Fires the timers due at `now`. `prompt_playing` says whether the caller still hears
    /// prompts: the digit-collect timeout waits for them to finish.
    pub fn handle_timeout(&mut self, now: Instant, prompt_playing: bool) {
        self.ring_timeout(now);
        if matches!(self.phase, Phase::Queued { .. }) && self.timers.expire(Timer::MaxWait, now) {
            self.log(Event::QueueExit {
                reason: QueueExitReason::MaxWait,
                target: None,
                key: None,
            });
            self.leave_queue(QueueOutcome::MaxWait);
        }
        if self.timers.get(Timer::Collect).is_some_and(|d| now >= d) {
            if prompt_playing {
                self.timers.collect_held = true;
            } else {
                self.timers.set(Timer::Collect, None);
                self.out.push_back(Output::Ivr(IvrInput::Timeout));
            }
        }
    }

    // ------------------------------------------------------------------ IVR

    /// The dialplan plays prompts (no digits asked): any collect deadline is over.
    pub fn handle_ivr_play(&mut self) {
        self.timers.set(Timer::Collect, None);
    }

    /// The dialplan asks for digits: it gets a timeout `wait` from `now` (the driver adds
    /// the prompts' length), but never while prompts play.
    pub fn handle_ivr_collect(&mut self, now: Instant, wait: Duration) {
        self.timers.set(Timer::Collect, Some(now + wait));
    }

    /// The caller's prompts (or an announcement) finished playing.
    pub fn handle_prompt_finished(&mut self, now: Instant) {
        match &mut self.phase {
            Phase::Ivr if self.timers.get(Timer::Collect).is_none() => {
                self.out.push_back(Output::Ivr(IvrInput::PromptFinished));
            }
            Phase::Ivr if self.timers.collect_held => self.handle_timeout(now, false),
            Phase::Queued { announcing, .. } => {
                *announcing = false;
                self.out.push_back(Output::Media(MediaCommand::PlayMoh));
            }
            Phase::CallbackLeaving { .. } => {
                self.out
                    .push_back(Output::HangUp(EndReason::CallbackAccepted));
            }
            Phase::Transferring { .. } => self.out.push_back(Output::Media(MediaCommand::PlayMoh)),
            _ => {}
        }
    }

    // ------------------------------------------------------------------ bridge, transfer

    /// Caller and agent now hear each other (after the whisper): talk time starts. Gives
    /// the queue and agent, or `None` when the call is not bridged.
    pub fn handle_bridge_connected(&mut self, now: Instant) -> Option<(String, String)> {
        let Phase::Bridged {
            queue,
            agent,
            answered_at,
            ..
        } = &mut self.phase
        else {
            return None;
        };
        *answered_at = now;
        Some((queue.clone(), agent.clone()))
    }

    /// The caller is bridged to `agent` (empty for a number) that the engine rang itself
    /// (`direct`) or that an attended transfer handed over.
    pub fn handle_bridged(&mut self, now: Instant, queue: String, agent: String, direct: bool) {
        self.phase = Phase::Bridged {
            queue,
            agent,
            answered_at: now,
            direct,
        };
    }

    /// A blind transfer lets the bridged agent go (the caller moves on to a queue, a user
    /// or a number next): the leg is released and, unless the engine rang that agent
    /// itself, the ACD hears the call ended for them (they wrap up). The call is back in
    /// the dialplan's hands until the transfer places it.
    pub fn handle_agent_released(&mut self) {
        let Phase::Bridged { direct, .. } = &self.phase else {
            return;
        };
        let direct = *direct;
        self.handle_supervisor_leave(SupervisionEnd::CallEnded);
        self.out
            .push_back(Output::Sip(crate::SipRequest::ReleaseAgent));
        if !direct {
            self.out
                .push_back(Output::Acd(crate::AcdRequest::CallEnded));
        }
        self.phase = Phase::Ivr;
    }

    /// An attended transfer takes this call's agent leg: the call's part is over. Gives
    /// the queue and agent, or `None` when the call is not bridged.
    pub fn handle_handed_over(&mut self) -> Option<(String, String)> {
        let Phase::Bridged { queue, agent, .. } = &self.phase else {
            return None;
        };
        let (queue, agent) = (queue.clone(), agent.clone());
        self.phase = Phase::HandedOver {
            queue: queue.clone(),
            agent: agent.clone(),
        };
        Some((queue, agent))
    }

    // ------------------------------------------------------------------ supervision

    /// A supervisor asks to join. Only a bridged call without a supervisor takes one;
    /// `true` when the supervisor joined (logged).
    pub fn handle_supervisor_join(&mut self, name: &str, mode: SupervisionMode) -> bool {
        if self.supervisor.is_some() || !matches!(self.phase, Phase::Bridged { .. }) {
            return false;
        }
        self.supervisor = Some(name.to_string());
        self.log(Event::SupervisorJoin {
            supervisor: name.to_string(),
            mode,
        });
        true
    }

    /// The supervision stops (`why`); `true` when there was one (logged).
    pub fn handle_supervisor_leave(&mut self, why: SupervisionEnd) -> bool {
        let Some(name) = self.supervisor.take() else {
            return false;
        };
        self.out.push_back(Output::Event(Box::new(Logged {
            event: Event::SupervisorLeave {
                supervisor: name,
                reason: why,
            },
            queue: String::new(),
            agent: String::new(),
        })));
        true
    }

    /// Who supervises the call now.
    pub fn supervisor(&self) -> Option<&str> {
        self.supervisor.as_deref()
    }

    // ------------------------------------------------------------------ API control

    /// A hang-up asked over the HTTP API. `false` when the call is already ending (ended,
    /// or its agent leg handed over): nothing to do. Otherwise the call hangs up
    /// (`Output::HangUp` with `api_hangup`).
    pub fn handle_api_hangup(&mut self) -> bool {
        if matches!(self.phase, Phase::Ended | Phase::HandedOver { .. }) {
            return false;
        }
        self.out.push_back(Output::HangUp(EndReason::ApiHangup));
        true
    }

    // ------------------------------------------------------------------ end

    /// The call ends for `reason` (the driver has hung up what it had to). Decides the
    /// disposition and talk time and tells the ACD when the call was its. `None` when the
    /// call had already ended.
    pub fn handle_end(&mut self, now: Instant, reason: EndReason) -> Option<Ending> {
        if self.phase == Phase::Ended {
            return None;
        }
        // A supervisor leaves with the call (the driver may have said so already).
        self.handle_supervisor_leave(SupervisionEnd::CallEnded);
        if let Some(ending) = self.outbound_end(now, reason) {
            self.timers = Timers::default();
            self.phase = Phase::Ended;
            return Some(ending);
        }
        self.abandon_transfer(reason);
        if let (Phase::Ivr, Some(after)) = (&self.phase, self.after_agent.take()) {
            // Answered, then the post-call survey: the agent's call all the same.
            self.timers = Timers::default();
            self.phase = Phase::Ended;
            return Some(Ending {
                reason,
                disposition: Disposition::Answered,
                queue: after.queue,
                agent: after.agent,
                duration_s: now.saturating_duration_since(self.started).as_secs_f64(),
                talk_s: Some(after.talk_s),
            });
        }
        let (disposition, tell_acd, talk_s) = match &self.phase {
            Phase::Queued { .. } | Phase::Ringing { .. } => (Disposition::Abandoned, true, None),
            Phase::Transferring { .. } => (Disposition::Abandoned, false, None),
            Phase::Bridged {
                answered_at,
                direct,
                ..
            } => (
                Disposition::Answered,
                !direct,
                Some(now.saturating_duration_since(*answered_at).as_secs_f64()),
            ),
            Phase::HandedOver { .. } => (Disposition::Transferred, false, None),
            Phase::CallbackLeaving { .. } => (Disposition::Callback, false, None),
            Phase::Ivr | Phase::Dialing { .. } | Phase::Ended => (Disposition::Ivr, false, None),
        };
        if tell_acd {
            self.out
                .push_back(Output::Acd(crate::AcdRequest::CallEnded));
        }
        let ending = Ending {
            reason,
            disposition,
            queue: self.phase.queue().unwrap_or_default().to_string(),
            agent: match &self.phase {
                Phase::Ringing { .. } => String::new(),
                p => p.agent().unwrap_or_default().to_string(),
            },
            duration_s: now.saturating_duration_since(self.started).as_secs_f64(),
            talk_s,
        };
        self.timers = Timers::default();
        self.phase = Phase::Ended;
        Some(ending)
    }

    /// Queues an event filed under the call's current queue and agent.
    pub(crate) fn log(&mut self, event: Event) {
        let queue = self.phase.queue().unwrap_or_default().to_string();
        let agent = self.phase.agent().unwrap_or_default().to_string();
        self.out.push_back(Output::Event(Box::new(Logged {
            event,
            queue,
            agent,
        })));
    }
}
