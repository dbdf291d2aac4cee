//! The call in an ACD queue: joining, announcements and music on hold, the callback key,
//! leaving, and ringing the agent the ACD offers the call to.

use super::*;

impl CallTask {
    pub(super) fn join_queue(&mut self, req: QueueRequest) {
        let queue = req.queue.clone();
        if let Some(l) = req.attrs.language {
            self.lang = l;
        }
        let data: Vec<(String, String)> = req
            .attrs
            .screen_pop
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let _ = self.ctx.acd.send(AcdCommand::Join {
            call: self.id,
            queue: queue.clone(),
            // The queue statement's priority (the interpreter falls back to the call's).
            priority: req.priority,
            caller: self.caller.clone(),
            data,
            skills: req.attrs.skills.clone(),
            tenant: req.attrs.tenant.clone(),
            announce_every: req.announce_every,
            signals: self.queue_tx.clone(),
        });
        let join = switchboard_callflow::QueueJoin {
            queue: queue.clone(),
            // The dialplan's `max_wait` for this call (the queue's own limit is the ACD's).
            max_wait: req.max_wait,
            exit_key: req.exit_key,
            callback_key: req.callback_key,
            ring_all: self.rings_all(&queue),
            join_prompt: self
                .ctx
                .queue_config(&queue)
                .and_then(|q| q.join_prompt.clone()),
        };
        self.queue_req = Some(req);
        self.moved_at = None;
        self.flow.handle_queue_join(Instant::now(), join);
        self.drive_flow();
    }

    /// The caller's number may not be dialled: log why (the flow says so to the caller).
    pub(super) fn refuse_callback(&mut self, r: switchboard_outbound::Refusal) {
        tracing::info!(reason = r.as_str(), "callback refused by the dial policy");
        self.ctx.metrics.dial_refused.count(r);
        self.ctx.events.append(crate::dial_policy::refused_event(
            self.id,
            switchboard_events::OriginatePurpose::Callback,
            &self.caller,
            r,
        ));
    }

    pub(super) async fn on_queue(&mut self, q: QueueSignal) {
        match q {
            QueueSignal::CallbackScheduled { id, scheduled } => {
                self.ivr
                    .handle_event(IvrEvent::CallbackResult { id, scheduled });
                self.drain_ivr();
            }
            QueueSignal::Announce {
                position,
                spoken,
                due,
            } => {
                if let Some(queue) = self.flow.handle_announce() {
                    let before = self
                        .ctx
                        .queue_config(&queue)
                        .and_then(|q| q.announce_prompt.clone());
                    let wait = match spoken {
                        Spoken::LessThanMinute => Some(Duration::from_secs(30)),
                        Spoken::AboutMinutes(m) => Some(Duration::from_secs(u64::from(m) * 60)),
                        Spoken::Unknown => None,
                    };
                    let mut names: Vec<String> = before.into_iter().collect();
                    names.extend(switchboard_ivr::say::announce_position_and_wait(
                        self.lang,
                        position as u32,
                        wait,
                    ));
                    self.play(&names, self.lang, false);
                    self.ctx
                        .metrics
                        .announcement_lateness
                        .observe(due.elapsed());
                }
            }
            QueueSignal::Offer { agent } => {
                let decision = self.flow.handle_offer(agent);
                self.ring(decision).await;
            }
            QueueSignal::CancelOffer { agent } => {
                self.flow.handle_offer_withdrawn(&agent);
                self.drive_flow();
            }
            QueueSignal::Exit { reason } => {
                self.flow.handle_queue_exit(reason.as_ref());
                self.drive_flow();
            }
        }
    }

    /// Rings `agent` with this call on leg B, as the flow decided.
    pub(super) async fn ring_agent(&mut self, queue: String, agent: String) {
        let Some(pair) = self.ctx.rtp_pool.allocate().await else {
            self.flow.handle_ring_not_started(agent);
            self.drive_flow();
            return;
        };
        let (offer, caps, headers) = self.agent_offer(&queue, &agent, &pair);
        self.b_pending = Some((pair, caps));
        self.b_offer = Some(offer.clone());
        self.screen_pop(&queue, &agent);
        self.sip(SipCommand::RouteToUser {
            call: self.sip_call,
            user: agent.clone(),
            sdp: Bytes::from(offer.to_string()),
            headers,
        })
        .await;
        self.flow.handle_ringing(agent);
        self.drive_flow();
    }

    /// The SDP offer (caller's codec first, so the bridge can relay without transcoding),
    /// its capabilities and the headers for `agent`'s leg of `queue` on `pair` (SRTP as
    /// the agent's `srtp` says).
    pub(super) fn agent_offer(
        &self,
        queue: &str,
        agent: &str,
        pair: &RtpSocketPair,
    ) -> (SessionDescription, LocalCaps, Vec<(String, String)>) {
        let port = pair.rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        let mut caps = LocalCaps {
            srtp: self.ctx.user_srtp(agent).fresh_mode(),
            ..LocalCaps::default()
        };
        let a_codec = self.a.format.codec();
        caps.codecs.sort_by_key(|c| {
            switchboard_media::codec_registry::lookup(&c.name, c.clock_rate).map(|s| s.codec)
                != Some(a_codec)
        });
        let offer = switchboard_sdp::offer(
            &caps,
            &LocalMedia {
                address: self.local_ip,
                port,
                session_id: self.id,
                session_version: 1,
                direction: Direction::SendRecv,
            },
        );
        let mut headers = vec![
            ("X-Switchboard-Queue".to_string(), queue.to_string()),
            ("X-Switchboard-Caller".to_string(), self.caller.clone()),
        ];
        if let Some(req) = &self.queue_req {
            if let Some(t) = &req.attrs.tenant {
                headers.push(("X-Switchboard-Tenant".to_string(), t.clone()));
            }
        }
        (offer, caps, headers)
    }
}

/// A queue request with no dialplan options (internal calls, transfers without one).
pub(super) fn plain_queue_request(queue: String) -> QueueRequest {
    QueueRequest {
        queue,
        priority: 0,
        max_wait: None,
        exit_key: None,
        announce_every: None,
        callback_key: None,
        whisper: Vec::new(),
        attrs: Default::default(),
    }
}
