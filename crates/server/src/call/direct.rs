//! Transfers that leave the queues: the engine rings a configured user's phone or dials an
//! outside number through the trunks (`outbound_call::dial_number_until`, via `callback::dial`),
//! and when it answers, moves that leg into this call (the SIP driver's `Transplant`) and
//! bridges it to the caller with the recording, as for an agent. While it rings the caller
//! hears music; when it is not reached (busy, not registered, no answer, refused by the dial
//! policy) the caller joins the fallback queue. Every outcome is a typed `transfer.*` event.

use super::transfer_target::{Asked, Destination, Targets, Unresolved};
use super::*;
use crate::acd_actor::Engagement;
use crate::callback::{Dialled, Party};
use switchboard_callflow::{Transfer, TransferDecision};
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
    /// A callback its agent transferred: the agent's ACD call, ended (the agent wraps up)
    /// when dropped or when the flow ends the ACD call (`flow_io.rs`).
    pub(super) callback: Option<crate::acd_actor::CallbackAgent>,
}

/// The queue request a transfer's caller joins when the target is not reached (the flow
/// names the queue; `None`: an agent's consultation, which ends then).
pub(super) struct Dialing {
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
            self.start_transfer(TransferOrigin::Consultation, &dnis, dest, None);
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

    /// A transfer the dialplan asked for (or an agent's consultation): resolved `dest`
    /// goes to the flow, which decides (a queue, a target to ring, or the fallback when
    /// the target resolves to nothing); `fallback` is the queue request the caller joins
    /// when the target is not reached (`None`: the call ends then).
    pub(super) fn start_transfer(
        &mut self,
        origin: TransferOrigin,
        target: &str,
        dest: Result<Destination, Unresolved>,
        fallback: Option<QueueRequest>,
    ) {
        let dest = self.unresolved_to_failure(target, dest);
        let t = Transfer {
            origin,
            dest,
            target: target.to_string(),
            by: None,
            fallback: fallback.as_ref().map(|f| f.queue.clone()),
        };
        let playing = self.player.is_playing();
        match self.flow.handle_transfer(Instant::now(), t, playing) {
            Ok(decision) => self.carry_out_transfer(decision, fallback, None),
            Err(refusal) => {
                tracing::warn!(?refusal, "dialplan transfer refused by the call flow");
                self.drive_flow();
            }
        }
    }

    /// A resolution error as the flow's transfer failure; a number the dial policy
    /// refuses is logged (`call.refused`, metric) on the way.
    pub(super) fn unresolved_to_failure(
        &self,
        target: &str,
        dest: Result<Destination, Unresolved>,
    ) -> Result<Destination, TransferFailure> {
        dest.map_err(|u| match u {
            Unresolved::Unknown => TransferFailure::UnknownTarget,
            Unresolved::Refused(r) => {
                self.refuse_number(target, r);
                TransferFailure::Refused
            }
        })
    }

    /// Carries out the flow's transfer decision. `base` is the queue request the caller
    /// joins with (its attributes); without one, the call's own. `released`: the agent
    /// the flow just let go (their leg's media is dropped here, and the whisper is not
    /// played again).
    pub(super) fn carry_out_transfer(
        &mut self,
        decision: TransferDecision,
        base: Option<QueueRequest>,
        released: Option<String>,
    ) {
        let from_bridge = released.is_some();
        if let Some(agent) = released {
            self.drop_agent_media(&agent);
        }
        self.drive_flow();
        let request = |task: &Self, queue: &str| {
            let mut req = base
                .clone()
                .or_else(|| task.queue_req.clone())
                .unwrap_or_else(|| plain_queue_request(queue.to_string()));
            req.queue = queue.to_string();
            if from_bridge {
                req.whisper.clear();
            }
            req
        };
        match decision {
            TransferDecision::Queue { queue } => {
                let req = request(self, &queue);
                self.join_queue(req);
            }
            TransferDecision::Dial { to, target } => {
                let fallback = Some(request(self, ""));
                self.dial_target(to, target, fallback);
            }
            TransferDecision::MoveWaiting { .. } | TransferDecision::Nothing => {}
        }
    }

    /// Rings the transfer's target in a task of its own; its answer comes back as
    /// `on_reached`.
    fn dial_target(&mut self, to: TransferTo, target: String, fallback: Option<QueueRequest>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.reach_rx = Some(rx);
        let ctx = self.ctx.clone();
        let id = self.id;
        let caller_id = Some(self.caller.clone()).filter(|c| !c.is_empty());
        tokio::spawn(async move {
            let mut tx = tx;
            // The call task drops its receiver when the call ends (the caller hung up):
            // the ringing target is cancelled then, not left ringing.
            let reached = reach(&ctx, id, to, target, caller_id, tx.closed()).await;
            if let Err(Reached { dialled: Ok(d), .. }) = tx.send(reached) {
                // The caller left as it answered: nobody to bridge it to.
                let _ = ctx.sip.commands.send(SipCommand::Hangup { call: d.call });
            }
        });
        self.dialing = Some(Box::new(Dialing { fallback }));
    }

    /// The flow cancels the ringing transfer (the call ends while it rings): the dialling
    /// task is told by dropping its receiver, and a target that answered just now, before
    /// this task saw it, is hung up.
    pub(super) fn cancel_transfer(&mut self) {
        self.dialing = None;
        if let Some(mut rx) = self.reach_rx.take() {
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
        tracing::info!("the call ended while the transfer target rang; cancelling it");
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

    /// The dialling task's report, for the flow to decide: bridge the answered leg, or
    /// the fallback.
    pub(super) async fn on_reached(&mut self, r: Reached) {
        self.reach_rx = None;
        let fallback = self.dialing.take().and_then(|d| d.fallback);
        let now = Instant::now();
        let d = match r.dialled {
            Ok(d) => d,
            Err(why) => {
                tracing::info!(reason = why.as_str(), "transfer target not reached");
                let decision = self.flow.handle_transfer_failed(now, why);
                self.carry_out_transfer(decision, fallback, None);
                return;
            }
        };
        let Some(answered) = self.flow.handle_transfer_answered(now) else {
            self.sip(SipCommand::Hangup { call: d.call }).await;
            return;
        };
        self.sip(SipCommand::Transplant {
            from: d.call,
            to: self.sip_call,
        })
        .await;
        self.b = Some(d.media);
        self.b_answered_at = Some(now);
        self.direct = Some(DirectCall {
            engaged: r.engaged,
            callback: None,
        });
        self.drive_flow();
        if let (Some(mut f), Some(q)) = (fallback, answered.fallback) {
            f.queue = q;
            self.queue_req = Some(f);
        }
        self.connect_bridge(now);
    }

    /// The agent leg is gone (the flow released it): supervision's media stops, the leg's
    /// media and the bridge are dropped, and a user rung directly is free again.
    fn drop_agent_media(&mut self, agent: &str) {
        // The agent's last words still in the jitter buffer reach the caller first.
        self.flush_leg(Instant::now(), switchboard_media::Leg::B);
        self.stop_supervision(SupervisionEnd::CallEnded);
        if self.sup_rx.take().is_some() {
            self.ctx.supervisable.remove(agent);
        }
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
            match crate::callback::dial_until(
                ctx,
                id,
                Party::Agent {
                    user: target,
                    caller: caller_id,
                },
                abort,
            )
            .await
            {
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
