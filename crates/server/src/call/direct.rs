//! Transfers that leave the queues: the engine rings a configured user's phone or dials an
//! outside number through the trunks (`outbound_call::dial_number`, via `callback::dial`),
//! and when it answers, moves that leg into this call (the SIP driver's `Transplant`) and
//! bridges it to the caller with the recording, as for an agent. While it rings the caller
//! hears music; when it is not reached (busy, not registered, no answer, refused by the dial
//! policy) the caller joins the fallback queue. Every outcome is a typed `transfer.*` event.

use super::transfer_target::{Asked, Destination, Targets, Unresolved};
use super::*;
use crate::acd_actor::Engagement;
use crate::callback::{Dialled, Party};
use switchboard_events::{OriginatePurpose, TransferFailure, TransferOrigin, TransferTo};

/// A transfer's target being rung, reported back by the task that dials it.
pub(super) struct Reached {
    dialled: Result<Dialled, TransferFailure>,
    /// Keeps a user target busy in the ACD for as long as the call lasts.
    engaged: Option<Engagement>,
}

/// The part of a call the engine rang itself (not offered by a queue).
pub(super) struct DirectCall {
    /// Released (the target user is free again) when dropped.
    pub(super) engaged: Option<Engagement>,
}

/// What a transfer rings, and where the caller goes if it is not reached.
pub(super) struct Dialing {
    pub(super) to: TransferTo,
    pub(super) target: String,
    /// None: an agent's consultation, which ends when the colleague is not reached.
    pub(super) fallback: Option<QueueRequest>,
}

impl CallTask {
    /// An agent's own call (already confirmed): to the queue it dialled, or to the
    /// colleague whose user name it dialled (a consultation before an attended transfer).
    pub(super) fn start_internal(&mut self, agent: String) {
        self.ctx
            .events
            .append(self.log(Event::CallInternal { from_agent: agent }));
        let dnis = self.dnis.clone();
        if self.ctx.queue_config(&dnis).is_some() {
            self.join_queue(plain_queue_request(dnis));
        } else {
            let dest = Ok(Destination::User(dnis.clone()));
            self.start_transfer(
                TransferOrigin::Consultation,
                &dnis,
                dest,
                String::new(),
                None,
            );
        }
    }

    /// Reads a transfer target the shared way (transfer_target.rs).
    pub(super) fn resolve_target(
        &self,
        asked: Asked,
        target: &str,
    ) -> Result<Destination, Unresolved> {
        let cfg = &self.ctx.cfg;
        let is_queue = |n: &str| cfg.queues.iter().any(|q| q.name == n);
        let is_user = |n: &str| cfg.users.iter().any(|u| u.name == n);
        Targets {
            is_queue: &is_queue,
            is_user: &is_user,
            rules: &self.ctx.number_rules,
        }
        .resolve(asked, target)
    }

    /// Sends the caller (not bridged now) to `dest`: a queue joins it; a user or a number
    /// is rung; an unresolved target logs why and joins `fallback`. `queue` is the queue
    /// the call belonged to (empty from the dialplan).
    pub(super) fn start_transfer(
        &mut self,
        origin: TransferOrigin,
        target: &str,
        dest: Result<Destination, Unresolved>,
        queue: String,
        fallback: Option<QueueRequest>,
    ) {
        let (to, target) = match dest {
            Ok(Destination::Queue(q)) => {
                let mut req = fallback.unwrap_or_else(|| plain_queue_request(q.clone()));
                req.queue = q;
                self.join_queue(req);
                return;
            }
            Ok(Destination::User(u)) => (TransferTo::User, u),
            Ok(Destination::Number(n)) => (TransferTo::Number, n),
            Err(Unresolved::Unknown) => {
                self.transfer_failed(TransferFailure::UnknownTarget, target, fallback);
                return;
            }
            Err(Unresolved::Refused(r)) => {
                self.refuse_number(target, r);
                self.transfer_failed(TransferFailure::Refused, target, fallback);
                return;
            }
        };
        self.ctx.events.append(
            self.log(Event::TransferDial {
                origin,
                to,
                target: target.clone(),
            })
            .queue(&queue),
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.reach_rx = Some(rx);
        let ctx = self.ctx.clone();
        let (id, who) = (self.id, target.clone());
        let caller_id = Some(self.caller.clone()).filter(|c| !c.is_empty());
        tokio::spawn(async move {
            let mut tx = tx;
            // The call task drops its receiver when the call ends (the caller hung up):
            // the ringing target is cancelled then, not left ringing.
            let reached = reach(&ctx, id, to, who, caller_id, tx.closed()).await;
            if let Err(Reached { dialled: Ok(d), .. }) = tx.send(reached) {
                // The caller left as it answered: nobody to bridge it to.
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: d.call });
            }
        });
        self.dialing = Some(Box::new(Dialing {
            to,
            target,
            fallback,
        }));
        self.flow.handle_transfer_ringing(queue);
        // A prompt the dialplan played before the transfer ends first; music then.
        if !self.player.is_playing() {
            self.play_moh();
        }
    }

    /// The call ends while a transfer target rings: the dialling task is told (it cancels
    /// the ringing leg) and a `transfer.fail` says why, before the `call.end`.
    pub(super) fn transfer_abandoned(&mut self, reason: EndReason) {
        let (Phase::Transferring { queue }, Some(d)) = (self.flow.phase(), self.dialing.as_ref())
        else {
            return;
        };
        if let Some(mut rx) = self.reach_rx.take() {
            // The target answered just now, before this task saw it: hang that leg up.
            if let Ok(Reached {
                dialled: Ok(answered),
                ..
            }) = rx.try_recv()
            {
                let _ = self.ctx.sip.commands.send(SipCommand::Hangup {
                    call: answered.call,
                });
            }
        }
        let why = if reason == EndReason::CallerHangup {
            TransferFailure::CallerHangup
        } else {
            TransferFailure::CallEnded
        };
        tracing::info!(
            reason = why.as_str(),
            "the call ended while the transfer target rang; cancelling it"
        );
        self.ctx.events.append(
            self.log(Event::TransferFail {
                reason: why,
                target: d.target.clone(),
                fallback_queue: None,
            })
            .queue(queue),
        );
    }

    /// The number may not be dialled: a `call.refused` event and the refusals metric.
    pub(super) fn refuse_number(&self, number: &str, r: switchboard_outbound::Refusal) {
        tracing::info!(
            reason = r.as_str(),
            "transfer to a number refused by the dial policy"
        );
        self.ctx.metrics.dial_refused.count(r);
        self.ctx.events.append(crate::dial_policy::refused_event(
            self.id,
            OriginatePurpose::Transfer,
            number,
            r,
        ));
    }

    fn transfer_failed(
        &mut self,
        reason: TransferFailure,
        target: &str,
        fallback: Option<QueueRequest>,
    ) {
        tracing::info!(reason = reason.as_str(), queue = ?fallback.as_ref().map(|f| &f.queue), "transfer target not reached");
        self.ctx.events.append(self.log(Event::TransferFail {
            reason,
            target: target.to_string(),
            fallback_queue: fallback.as_ref().map(|f| f.queue.clone()),
        }));
        match fallback {
            Some(f) => self.join_queue(f),
            // A consultation whose colleague is not reached: the agent's call ends.
            None => self.hangup_all(EndReason::AgentRejected),
        }
    }

    /// The dialling task's report: bridge the answered leg, or fall back.
    pub(super) async fn on_reached(&mut self, r: Reached) {
        self.reach_rx = None;
        let (Some(queue), Some(dialing)) = (self.flow.take_transfer(), self.dialing.take()) else {
            if let Ok(d) = r.dialled {
                self.sip(SipCommand::Hangup { call: d.call }).await;
            }
            return;
        };
        let Dialing {
            to,
            target,
            fallback,
        } = *dialing;
        let d = match r.dialled {
            Ok(d) => d,
            Err(why) => return self.transfer_failed(why, &target, fallback),
        };
        let now = Instant::now();
        self.sip(SipCommand::Transplant {
            from: d.call,
            to: self.sip_call,
        })
        .await;
        self.b = Some(d.media);
        self.b_answered_at = Some(now);
        self.direct = Some(DirectCall { engaged: r.engaged });
        let agent = if to == TransferTo::User {
            target.clone()
        } else {
            String::new()
        };
        self.ctx.events.append(
            self.log(Event::TransferAnswer {
                to,
                target: target.clone(),
            })
            .queue(&queue)
            .agent(&agent),
        );
        self.ctx.events.append(
            self.log(Event::CallBridge {
                wait_s: now.duration_since(self.flow.started()).as_secs_f64(),
            })
            .queue(&queue)
            .agent(&agent),
        );
        if fallback.is_some() {
            self.queue_req = fallback;
        }
        // Rung by the engine, not offered by the ACD: no ACD call to end with it.
        self.flow.handle_bridged(now, queue, agent, true);
        self.connect_bridge(now);
    }

    /// A bridged call's caller goes to a user or a number (an agent's REFER or the API):
    /// the agent leg is released and the agent wraps up, then the target rings; if it is
    /// not reached, the caller waits in the queue the call was in.
    pub(super) async fn transfer_bridged(
        &mut self,
        origin: TransferOrigin,
        target: &str,
        dest: Destination,
        by: Option<String>,
    ) {
        let Phase::Bridged {
            queue: from_queue,
            agent: from_agent,
            ..
        } = self.flow.phase()
        else {
            return;
        };
        let (from_queue, from_agent) = (from_queue.clone(), from_agent.clone());
        let (to_agent, to_number) = match &dest {
            Destination::User(u) => (Some(u.clone()), None),
            Destination::Number(n) => (None, Some(n.clone())),
            Destination::Queue(_) => (None, None),
        };
        self.ctx.events.append(
            self.log(Event::CallTransfer {
                kind: TransferKind::Blind,
                to_queue: None,
                to_agent,
                by,
                to_number,
            })
            .queue(&from_queue)
            .agent(&from_agent),
        );
        self.release_agent_leg(&from_agent).await;
        let mut fallback = self
            .queue_req
            .clone()
            .unwrap_or_else(|| plain_queue_request(String::new()));
        fallback.queue = if from_queue.is_empty() {
            self.ivr.fallback_queue()
        } else {
            from_queue.clone()
        };
        fallback.whisper.clear();
        self.start_transfer(origin, target, Ok(dest), from_queue, Some(fallback));
    }

    /// Lets the agent leg go: supervision stops, the leg gets a BYE, and the agent's part
    /// ends (wrap-up after a queue call; a user rung directly is simply free again).
    pub(super) async fn release_agent_leg(&mut self, agent: &str) {
        self.stop_supervision(SupervisionEnd::CallEnded);
        if self.sup_rx.take().is_some() {
            self.ctx.supervisable.remove(agent);
        }
        self.flow.handle_agent_released();
        self.drive_flow();
        self.bridge = None;
        self.b = None;
        self.b_player = None;
        self.direct = None;
    }
}

/// Rings `target` for call `id` and waits for the answer (the dial's own ring limit), or
/// until `abort` completes (the ringing leg is cancelled then).
async fn reach(
    ctx: &CallContext,
    id: u64,
    to: TransferTo,
    target: String,
    caller_id: Option<String>,
    abort: impl std::future::Future<Output = ()>,
) -> Reached {
    let fail = |why| Reached {
        dialled: Err(why),
        engaged: None,
    };
    match to {
        TransferTo::User => {
            let now = std::time::SystemTime::now();
            if ctx.sip.location.lookup_active(&target, now).is_empty() {
                return fail(TransferFailure::NotRegistered);
            }
            let Some(engaged) =
                Engagement::start_if_free(&ctx.acd, &target, switchboard_acd::BusyKind::Transfer)
                    .await
            else {
                return fail(TransferFailure::Busy);
            };
            match crate::callback::dial_until(ctx, id, Party::Agent(target), abort).await {
                Some(d) => Reached {
                    dialled: Ok(d),
                    engaged: Some(engaged),
                },
                None => fail(TransferFailure::NoAnswer),
            }
        }
        TransferTo::Number => {
            if ctx.cfg.trunk_specs.is_empty() {
                return fail(TransferFailure::NoTrunk);
            }
            // The dial caps count transfers too (the number rules passed already).
            let number = match ctx.dial_gate.admit(&target).await {
                Ok(n) => n,
                Err(r) => {
                    tracing::info!(
                        reason = r.as_str(),
                        "transfer to a number refused by the dial caps"
                    );
                    ctx.metrics.dial_refused.count(r);
                    ctx.events.append(crate::dial_policy::refused_event(
                        id,
                        OriginatePurpose::Transfer,
                        &target,
                        r,
                    ));
                    return fail(TransferFailure::Refused);
                }
            };
            let party = Party::Customer { number, caller_id };
            match crate::callback::dial_until(ctx, id, party, abort).await {
                Some(d) => Reached {
                    dialled: Ok(d),
                    engaged: None,
                },
                None => fail(TransferFailure::NoAnswer),
            }
        }
    }
}
