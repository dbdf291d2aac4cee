//! The call task as the driver of its `callflow::Call`: it wakes at the flow's deadline
//! (`wakeup.rs` includes `poll_timeout()`), and carries out what the flow decided (ACD
//! requests, SIP commands, prompts, inputs for the IVR interpreter, events). The flow owns
//! the phases, the timers and the queue, offer, transfer, in-dialog and end decisions;
//! this file owns none of them.

use super::*;
use switchboard_callflow::{
    AcdRequest, IvrInput, Logged, MediaCommand, OfferDecision, Output, SipRequest,
};

impl CallTask {
    /// Carries out every intent the flow has decided, in order.
    pub(super) fn drive_flow(&mut self) {
        while let Some(out) = self.flow.poll_output() {
            match out {
                Output::Ivr(input) => {
                    let ev = match input {
                        IvrInput::Timeout => IvrEvent::Timeout,
                        IvrInput::PromptFinished => IvrEvent::PromptFinished,
                        IvrInput::QueueResult(o) => IvrEvent::QueueResult(o),
                        IvrInput::Digit(d) => IvrEvent::Digit(d),
                    };
                    self.ivr.handle_event(ev);
                    self.drain_ivr();
                }
                Output::Acd(req) => self.send_acd(req),
                Output::Sip(req) => self.carry_out_sip(req),
                Output::Media(cmd) => match cmd {
                    MediaCommand::PlayMoh => self.play_moh(),
                    MediaCommand::Play { prompts } => self.play(&prompts, self.lang, false),
                    MediaCommand::StopPrompts => self.player.stop(),
                    MediaCommand::PlayerKey(d) => {
                        self.player.handle_dtmf(d);
                        while self.player.poll_event().is_some() {}
                    }
                },
                Output::Event(l) => {
                    let Logged {
                        event,
                        queue,
                        agent,
                    } = *l;
                    self.ctx
                        .events
                        .append(self.log(event).queue(&queue).agent(&agent));
                }
                Output::HangUp(reason) => self.hangup_all(reason),
                // A campaign call is dialled before its task runs (`campaign_leg.rs`).
                Output::Dial(_) => {}
            }
        }
    }

    fn send_acd(&mut self, req: AcdRequest) {
        let call = self.id;
        // A callback its agent transferred: the ACD knows the agent's call by the
        // callback's id, which the hold ends (once).
        if matches!(req, AcdRequest::CallEnded) {
            if let Some(held) = self.direct.as_mut().and_then(|d| d.callback.take()) {
                drop(held);
                return;
            }
        }
        let cmd = match req {
            AcdRequest::OfferFailed { agent, failure } => AcdCommand::OfferFailed {
                call,
                agent,
                failure,
            },
            AcdRequest::OfferAnswered { agent } => AcdCommand::OfferAnswered { call, agent },
            AcdRequest::Exit(reason) => AcdCommand::Exit { call, reason },
            AcdRequest::CallEnded => AcdCommand::CallEnded { call },
            AcdRequest::Key(key) => AcdCommand::Key { call, key },
            AcdRequest::CallbackRequest => AcdCommand::CallbackRequest {
                call,
                number: self.caller.clone(),
            },
            AcdRequest::CallbackResult { connected } => {
                AcdCommand::CallbackResult { call, connected }
            }
        };
        let _ = self.ctx.acd.send(cmd);
    }

    fn carry_out_sip(&mut self, req: SipRequest) {
        let call = self.sip_call;
        let cmd = match req {
            SipRequest::CancelAgent => {
                self.b_pending = None;
                self.b_offer = None;
                SipCommand::CancelB { call }
            }
            SipRequest::CancelFork { agent } => {
                self.forks.retain(|f| f.agent != agent);
                SipCommand::CancelFork { call, user: agent }
            }
            SipRequest::ReleaseAgent => SipCommand::ReleaseB { call },
            SipRequest::CancelTransfer => {
                self.cancel_transfer();
                return;
            }
            SipRequest::ForgetAgentOffer => {
                self.b_pending = None;
                self.b_offer = None;
                return;
            }
            // Placed calls' dialling (`placed_call.rs`, `campaign_leg.rs`), not the task's.
            SipRequest::CancelDial
            | SipRequest::AnswerOriginator
            | SipRequest::RejectOriginator { .. } => return,
        };
        let _ = self.ctx.sip.commands.send(cmd);
    }

    /// The flow's timers due at `now`. Also called on every media tick: a collect
    /// timeout held while prompts played fires on the first tick after they stop.
    pub(super) fn on_flow_timeout(&mut self, now: Instant) {
        self.flow.handle_timeout(now, self.player.is_playing());
        self.drive_flow();
    }

    /// Rings what the flow decided for an ACD offer.
    pub(super) async fn ring(&mut self, decision: OfferDecision) {
        match decision {
            OfferDecision::Ring { queue, agent } => self.ring_agent(queue, agent).await,
            OfferDecision::Fork { queue, agent } => self.fork_to_agent(queue, agent).await,
            OfferDecision::Wait | OfferDecision::Ignore => {}
        }
    }

    /// Offers that waited for a CANCEL to finish.
    pub(super) async fn offer_again(&mut self, agents: Vec<String>) {
        for agent in agents {
            let decision = self.flow.handle_offer_again(agent);
            self.drive_flow();
            self.ring(decision).await;
        }
    }
}
