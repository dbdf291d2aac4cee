//! Transfers asked for by an agent's REFER: blind (to a queue) and attended (the agent's
//! consultation call takes over this call's caller, or hands its agent leg over).

use super::*;

impl CallTask {
    /// Blind transfer (RFC 3515 REFER from the agent): the Refer-To user part names a
    /// queue, a user or a number (transfer_target.rs). A queue takes the caller at once; a
    /// user or a number is rung (direct.rs). The agent leg is released and the agent's
    /// handle time ends (wrap-up). The call keeps its id and its recording. 404 for a
    /// target that is none of these, 403 for a number the dial policy refuses.
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
            .and_then(|na| na.uri.user().map(str::to_string));
        let Phase::Bridged {
            queue: from_queue,
            agent: from_agent,
            ..
        } = self.flow.phase()
        else {
            self.respond(tx, StatusCode(403), None).await;
            return;
        };
        let (from_queue, from_agent) = (from_queue.clone(), from_agent.clone());
        let target = target.unwrap_or_default();
        match self.resolve_target(Asked::Any, &target) {
            Err(Unresolved::Unknown) => {
                tracing::info!("REFER to something that is no queue, user or number; refused");
                self.respond(tx, StatusCode::NOT_FOUND, None).await;
            }
            Err(Unresolved::Refused(r)) => {
                self.refuse_number(&target, r);
                self.respond(tx, StatusCode(403), None).await;
            }
            Ok(Destination::Queue(q)) => {
                self.respond(tx, StatusCode(202), None).await;
                self.move_to_queue(&from_queue, &from_agent, q, None).await;
            }
            Ok(dest) => {
                self.respond(tx, StatusCode(202), None).await;
                let origin = switchboard_events::TransferOrigin::Refer;
                self.transfer_bridged(origin, &target, dest, None).await;
            }
        }
    }

    /// The blind transfer itself (an agent's REFER, or the HTTP API with `by`): the agent
    /// leg is released, the agent's handle time ends (wrap-up), and the caller joins
    /// `target`. The call keeps its id and its recording.
    pub(super) async fn move_to_queue(
        &mut self,
        from_queue: &str,
        from_agent: &str,
        target: String,
        by: Option<String>,
    ) {
        self.ctx.events.append(
            self.log(Event::CallTransfer {
                kind: TransferKind::Blind,
                to_queue: Some(target.clone()),
                to_agent: None,
                by,
                to_number: None,
            })
            .queue(from_queue)
            .agent(from_agent),
        );
        // The first agent's part ends here (wrap-up); the caller waits again.
        self.release_agent_leg(from_agent).await;
        let mut req = self
            .queue_req
            .clone()
            .unwrap_or_else(|| plain_queue_request(target.clone()));
        req.queue = target;
        req.whisper.clear();
        self.join_queue(req);
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
        if self.callee_leads {
            // The agent's leg is a call of its own (sip_driver/callee_calls.rs): the
            // colleague's leg cannot be moved into this call.
            self.respond(tx, StatusCode::NOT_IMPLEMENTED, None).await;
            return;
        }
        let Phase::Bridged {
            queue: from_queue,
            agent: from_agent,
            ..
        } = self.flow.phase()
        else {
            self.respond(tx, StatusCode(403), None).await;
            return;
        };
        let (from_queue, from_agent) = (from_queue.clone(), from_agent.clone());
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
        self.ctx.events.append(
            self.log(Event::CallTransfer {
                kind: TransferKind::Attended,
                to_queue: Some(h.queue.clone()).filter(|q| !q.is_empty()),
                to_agent: Some(h.agent.clone()),
                by: None,
                to_number: None,
            })
            .queue(&from_queue)
            .agent(&from_agent),
        );
        // The first agent's part ends (wrap-up); the colleague's ACD call carries on and
        // ends with this call.
        let _ = self.ctx.acd.send(AcdCommand::CallEnded { call: self.id });
        self.extra_acd_calls.push(h.acd_call);
        // A colleague rung directly (not through a queue) stays busy while on this call.
        self.direct = h.engaged.map(|e| direct::DirectCall { engaged: Some(e) });
        self.b_player = None;
        self.b = Some(h.media);
        let queue = if h.queue.is_empty() {
            from_queue.clone()
        } else {
            h.queue
        };
        let direct = self.direct.is_some();
        self.flow
            .handle_bridged(Instant::now(), queue, h.agent, direct);
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
pub(super) fn refer_replaces(
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
