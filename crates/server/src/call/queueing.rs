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
        // The dialplan's `max_wait` for this call (the queue's own limit is the ACD's).
        self.queue_deadline = req.max_wait.map(|w| Instant::now() + w);
        self.queued_at = Some(Instant::now());
        self.queue_req = Some(req);
        let join_prompt = self
            .ctx
            .queue_config(&queue)
            .and_then(|q| q.join_prompt.clone());
        self.phase = Phase::Queued {
            queue,
            announcing: join_prompt.is_some(),
        };
        match join_prompt {
            // The music starts when the prompt ends (`on_player_event`).
            Some(p) => self.play(&[p], self.lang, false),
            None => self.play_moh(),
        }
    }

    /// The caller takes the callback offer: the ACD keeps their place as a virtual entry
    /// and will call them back at the number they called from.
    pub(super) fn accept_callback(&mut self) {
        let queue = match &self.phase {
            Phase::Queued { queue, .. } | Phase::Ringing { queue, .. } => queue.clone(),
            _ => return,
        };
        self.cancel_forks();
        if let Phase::Ringing { .. } = self.phase {
            let _ = self.ctx.sip.commands.send(SipCommand::CancelB {
                call: self.sip_call,
            });
            self.cancelling_b = true;
            self.b_pending = None;
        }
        let _ = self.ctx.acd.send(AcdCommand::CallbackRequest {
            call: self.id,
            number: self.caller.clone(),
        });
        self.ctx
            .events
            .append(self.log(Event::QueueCallbackRequested {}).queue(&queue));
        self.phase = Phase::CallbackLeaving { queue };
        self.play(&["queue-callback-confirmed".to_string()], self.lang, false);
    }

    /// The caller's number may not be dialled: say so, keep their place, log why.
    pub(super) fn refuse_callback(&mut self, r: switchboard_outbound::Refusal) {
        tracing::info!(reason = r.as_str(), "callback refused by the dial policy");
        self.ctx.metrics.dial_refused.count(r);
        self.ctx.events.append(crate::dial_policy::refused_event(
            self.id,
            switchboard_events::OriginatePurpose::Callback,
            &self.caller,
            r,
        ));
        if let Phase::Queued { announcing, .. } = &mut self.phase {
            *announcing = true;
            let prompt = ["queue-callback-unavailable".to_string()];
            self.play(&prompt, self.lang, false);
        }
    }

    pub(super) fn leave_queue(&mut self, outcome: QueueOutcome) {
        self.cancel_forks();
        if let Phase::Ringing { .. } = self.phase {
            let _ = self.ctx.sip.commands.send(SipCommand::CancelB {
                call: self.sip_call,
            });
            self.cancelling_b = true;
            self.b_pending = None;
        }
        let reason = match outcome {
            QueueOutcome::ExitKey => switchboard_acd::ExitReason::ExitKey {
                key: self
                    .queue_req
                    .as_ref()
                    .and_then(|r| r.exit_key)
                    .unwrap_or('#'),
            },
            _ => switchboard_acd::ExitReason::MaxWait {
                target: String::new(),
            },
        };
        let _ = self.ctx.acd.send(AcdCommand::Exit {
            call: self.id,
            reason,
        });
        self.phase = Phase::Ivr;
        self.player.stop();
        self.ivr.handle_event(IvrEvent::QueueResult(outcome));
        self.drain_ivr();
    }

    pub(super) async fn on_queue(&mut self, q: QueueSignal) {
        match q {
            QueueSignal::CallbackScheduled { id, scheduled } => {
                self.ivr
                    .handle_event(IvrEvent::CallbackResult { id, scheduled });
                self.drain_ivr();
            }
            QueueSignal::Announce { position, spoken } => {
                if let Phase::Queued { announcing, queue } = &mut self.phase {
                    *announcing = true;
                    let before = self
                        .ctx
                        .queue_config(queue)
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
                }
            }
            QueueSignal::Offer { agent } if self.cancelling_b => self.pending_offers.push(agent),
            QueueSignal::Offer { agent } => self.offer_to_agent(agent).await,
            QueueSignal::CancelOffer { agent } if self.is_forked_to(&agent) => {
                self.cancel_fork(&agent);
            }
            QueueSignal::CancelOffer { agent } => {
                if let Phase::Ringing {
                    queue,
                    agent: ringing,
                } = &self.phase
                {
                    if *ringing == agent {
                        let queue = queue.clone();
                        self.sip(SipCommand::CancelB {
                            call: self.sip_call,
                        })
                        .await;
                        self.cancelling_b = true;
                        self.b = None;
                        self.b_offer = None;
                        self.b_pending = None;
                        self.phase = Phase::Queued {
                            queue,
                            announcing: false,
                        };
                        self.play_moh();
                    }
                }
            }
            QueueSignal::Exit { .. }
                if !matches!(self.phase, Phase::Queued { .. } | Phase::Ringing { .. }) => {}
            QueueSignal::Exit { reason } => {
                self.cancel_forks();
                let outcome = match reason {
                    Some(switchboard_acd::ExitReason::MaxWait { .. }) => QueueOutcome::MaxWait,
                    Some(switchboard_acd::ExitReason::ExitKey { .. }) => QueueOutcome::ExitKey,
                    _ => QueueOutcome::Failed,
                };
                self.phase = Phase::Ivr;
                self.player.stop();
                self.ivr.handle_event(IvrEvent::QueueResult(outcome));
                self.drain_ivr();
            }
        }
    }

    pub(super) async fn offer_to_agent(&mut self, agent: String) {
        let Phase::Queued { queue, .. } = &self.phase else {
            return;
        };
        let queue = queue.clone();
        if self.rings_all(&queue) {
            return self.fork_to_agent(queue, agent).await;
        }
        let Some(pair) = self.ctx.rtp_pool.allocate().await else {
            let _ = self.ctx.acd.send(AcdCommand::OfferFailed {
                call: self.id,
                agent,
                failure: OfferFailure::Rejected,
            });
            return;
        };
        let (offer, caps, headers) = self.agent_offer(&queue, &agent, &pair);
        self.b_pending = Some((pair, caps));
        self.b_offer = Some(offer.clone());
        self.ctx
            .events
            .append(self.log(Event::AgentRing {}).queue(&queue).agent(&agent));
        self.screen_pop(&queue, &agent);
        self.sip(SipCommand::RouteToUser {
            call: self.sip_call,
            user: agent.clone(),
            sdp: Bytes::from(offer.to_string()),
            headers,
        })
        .await;
        self.phase = Phase::Ringing { queue, agent };
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
        let a_name = self.a.neg.codec.name.to_ascii_uppercase();
        caps.codecs
            .sort_by_key(|c| c.name.to_ascii_uppercase() != a_name);
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
