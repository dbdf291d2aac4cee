//! Transfers asked for by an agent's REFER: blind (to a queue) and attended (the agent's
//! consultation call takes over this call's caller, or hands its agent leg over).

use super::*;
use switchboard_callflow::TransferRefusal;

impl CallTask {
    /// Blind transfer (RFC 3515 REFER from the agent): the Refer-To user part names a
    /// queue, a user or a number (transfer_target.rs); the flow decides. A queue takes the
    /// caller at once; a user or a number is rung (direct.rs). The agent leg is released
    /// and the agent's handle time ends (wrap-up). The call keeps its id and its
    /// recording. 404 for a target that is none of these, 403 for a number the dial policy
    /// refuses or a call that is not bridged.
    pub(super) async fn blind_transfer(
        &mut self,
        tx: switchboard_sip::TxKey,
        req: &switchboard_sip_message::Request,
    ) {
        let target = req
            .headers
            .refer_to()
            .ok()
            .flatten()
            .and_then(|na| na.uri.user().map(str::to_string))
            .unwrap_or_default();
        let resolved = self.resolve_target(Asked::Any, &target);
        let refused = match &resolved {
            Err(Unresolved::Refused(r)) => Some(*r),
            _ => None,
        };
        let dest = resolved.map_err(|u| match u {
            Unresolved::Unknown => switchboard_events::TransferFailure::UnknownTarget,
            Unresolved::Refused(_) => switchboard_events::TransferFailure::Refused,
        });
        let t = switchboard_callflow::Transfer {
            origin: switchboard_events::TransferOrigin::Refer,
            dest,
            target: target.clone(),
            by: None,
            fallback: Some(self.ivr.fallback_queue()),
        };
        let agent = self.flow.phase().agent().map(str::to_string);
        let playing = self.player.is_playing();
        match self.flow.handle_transfer(Instant::now(), t, playing) {
            Ok(decision) => {
                self.respond(tx, StatusCode(202), None).await;
                self.carry_out_transfer(decision, None, agent);
            }
            Err(TransferRefusal::UnknownTarget) => {
                tracing::info!("REFER to something that is no queue, user or number; refused");
                self.respond(tx, StatusCode::NOT_FOUND, None).await;
            }
            Err(TransferRefusal::NumberRefused) => {
                if let Some(r) = refused {
                    self.refuse_number(&target, r);
                }
                self.respond(tx, StatusCode(403), None).await;
            }
            Err(_) => self.respond(tx, StatusCode(403), None).await,
        }
    }

    /// Attended transfer (RFC 5589 with RFC 3891 Replaces): the agent on this call
    /// consulted a colleague through us (another call, whose leg A is the agent's
    /// consultation and leg B the colleague) and now REFERs the caller to it. The
    /// colleague's leg and media move into this call; the first agent's two legs are
    /// hung up. The call keeps its id and recording.
    pub(super) async fn attended_transfer(
        &mut self,
        tx: switchboard_sip::TxKey,
        replaces: switchboard_sip_message::Replaces,
    ) {
        // For a campaign call led by its callee the agent's leg is a call of its own; the
        // SIP driver makes the colleague's leg the call's agent leg all the same
        // (sip_driver/callee_calls.rs), so the leg can always move.
        match self.flow.handle_attended_transfer(true) {
            Ok(()) => {}
            Err(TransferRefusal::CannotMoveLeg) => {
                self.respond(tx, StatusCode::NOT_IMPLEMENTED, None).await;
                return;
            }
            Err(_) => {
                self.respond(tx, StatusCode(403), None).await;
                return;
            }
        }
        let (reply, found) = tokio::sync::oneshot::channel();
        self.sip(SipCommand::FindByADialog {
            call_id: replaces.call_id.clone(),
            local_tag: replaces.to_tag.clone(),
            remote_tag: replaces.from_tag.clone(),
            reply,
        })
        .await;
        let Some((y_call, y_signals)) = found.await.ok().flatten() else {
            self.respond(tx, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST, None)
                .await;
            return;
        };
        self.respond(tx, StatusCode(202), None).await;
        let (hand_tx, hand_rx) = tokio::sync::oneshot::channel();
        let _ = y_signals.send(CallSignal::HandOver(hand_tx));
        let handed = tokio::time::timeout(Duration::from_secs(2), hand_rx)
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten();
        let Some(h) = handed else {
            self.sip(SipCommand::ReferNotify {
                call: self.sip_call,
                leg: SipLeg::B,
                status: StatusCode::SERVICE_UNAVAILABLE,
            })
            .await;
            return;
        };
        let cmds = &self.ctx.sip.commands;
        let _ = cmds.send(SipCommand::ReferNotify {
            call: self.sip_call,
            leg: SipLeg::B,
            status: StatusCode::OK,
        });
        let _ = cmds.send(SipCommand::ReleaseB {
            call: self.sip_call,
        });
        let _ = cmds.send(SipCommand::Transplant {
            from: h.leg_call.unwrap_or(y_call),
            to: self.sip_call,
        });
        // The colleague's ACD call carries on and ends with this call.
        self.extra_acd_calls.push(h.acd_call);
        // A colleague rung directly (not through a queue) stays busy while on this call.
        self.direct = h.engaged.map(|e| direct::DirectCall {
            engaged: Some(e),
            callback: None,
        });
        self.b_player = None;
        self.b = Some(h.media);
        // The flow logs the transfer and ends the first agent's part (wrap-up).
        let leg = switchboard_callflow::HandedLeg {
            queue: h.queue,
            agent: h.agent,
            direct: self.direct.is_some(),
        };
        self.flow.handle_took_over(Instant::now(), leg);
        self.drive_flow();
        self.connect_bridge(Instant::now());
    }

    /// Gives this call's agent leg to an attended transfer and stops quietly.
    pub(super) fn hand_over(&mut self, reply: tokio::sync::oneshot::Sender<Option<HandOver>>) {
        if self.b.is_none() || !matches!(self.flow.phase(), Phase::Bridged { .. }) {
            let _ = reply.send(None);
            return;
        }
        let Some((queue, agent)) = self.flow.handle_handed_over() else {
            let _ = reply.send(None);
            return;
        };
        let Some(media) = self.b.take() else {
            let _ = reply.send(None);
            return;
        };
        self.bridge = None;
        let _ = reply.send(Some(HandOver {
            media,
            acd_call: self.id,
            queue: queue.clone(),
            agent: agent.clone(),
            engaged: self.direct.take().and_then(|d| d.engaged),
            leg_call: None,
        }));
        self.finish(EndReason::TransferCompleted);
    }
}

/// The Replaces of a REFER's Refer-To URI (`?Replaces=...`), if any: an attended transfer.
pub(crate) fn refer_replaces(
    req: &switchboard_sip_message::Request,
) -> Option<switchboard_sip_message::Replaces> {
    let refer_to = req.headers.refer_to().ok().flatten()?;
    let switchboard_sip_message::Uri::Sip(uri) = &refer_to.uri else {
        return None;
    };
    let (_, value) = uri
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("replaces"))?;
    switchboard_sip_message::Replaces::parse(value).ok()
}
