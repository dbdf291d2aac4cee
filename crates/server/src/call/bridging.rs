//! From the agent's answer to a bridged call: the whisper to the agent, the two-party
//! bridge, the recording, and the screen pop to the CRM.

use super::*;

impl CallTask {
    pub(super) async fn agent_answered(&mut self, sdp: Bytes) {
        let now = Instant::now();
        let (queue, agent) = match self.flow.handle_agent_answered(now) {
            switchboard_callflow::AnswerDecision::Connect { queue, agent } => (queue, agent),
            switchboard_callflow::AnswerDecision::Reoffer(agents) => {
                self.drive_flow();
                return self.offer_again(agents).await;
            }
            switchboard_callflow::AnswerDecision::Ignore => return,
        };
        let neg = match (
            SessionDescription::parse(&sdp),
            self.b_offer.as_ref(),
            self.b_pending.as_ref(),
        ) {
            (Ok(ans), Some(offer), Some((_, caps))) => {
                switchboard_sdp::process_answer(offer, &ans, caps).ok()
            }
            _ => None,
        };
        let (Some(neg), Some((pair, _))) = (neg, self.b_pending.take()) else {
            tracing::warn!("agent answered with unusable SDP; ending the call");
            self.hangup_all(EndReason::LocalHangup);
            return;
        };
        let peer = self.ctx.user_peer(&agent);
        let Some(b) = MediaLeg::new(&self.ctx.leg_settings(), pair, neg, now, peer) else {
            self.hangup_all(EndReason::LocalHangup);
            return;
        };
        self.b_answered_at = Some(now);
        self.b = Some(b);
        self.flow.handle_agent_connected(now);
        self.drive_flow();
        self.keep_caller_for_survey(&queue);
        // Whisper to the agent first ("call for <tenant>, <queue>"); the caller keeps
        // hearing music until the bridge closes.
        let whisper = self.whisper_prompts(&queue);
        if whisper.is_empty() {
            self.connect_bridge(now);
        } else {
            let mut p = PromptPlayer::new(switchboard_media::PlayerConfig {
                ptime: Duration::from_millis(u64::from(self.ctx.cfg.media.ptime)),
                initial_timestamp: 0,
                max_lag: Duration::from_millis(100),
            });
            p.play(now, self.playlist(&whisper, self.lang));
            self.b_player = Some(p);
        }
    }

    /// The prompts whispered to the agent: the dialplan's `whisper`, else "call for"
    /// plus the tenant's or the queue's name prompt when one exists.
    pub(super) fn whisper_prompts(&self, queue: &str) -> Vec<String> {
        if let Some(w) = self
            .queue_req
            .as_ref()
            .map(|r| r.whisper.clone())
            .filter(|w| !w.is_empty())
        {
            return w;
        }
        let lang = self.lang.code();
        let exists = |n: &str| self.prompt(&format!("{lang}/{n}")).is_some();
        let mut out = Vec::new();
        let name = self
            .tenant_name()
            .map(|t| format!("tenant-{t}"))
            .filter(|n| exists(n))
            .or_else(|| Some(format!("queue-name-{queue}")).filter(|n| exists(n)));
        if let Some(n) = name {
            if exists("whisper-call-for") {
                out.push("whisper-call-for".to_string());
            }
            out.push(n);
        }
        out
    }

    /// Closes the bridge between caller and agent and starts the recording.
    pub(super) fn connect_bridge(&mut self, now: Instant) {
        if self.b.is_none() || !matches!(self.flow.phase(), Phase::Bridged { .. }) {
            return;
        }
        // Talk time runs from the moment the parties hear each other.
        let Some((queue, agent)) = self.flow.handle_bridge_connected(now) else {
            return;
        };
        let Some(b) = self.b.as_ref() else { return };
        self.bridge = Some(Bridge::new(self.a.bridge_config(), b.bridge_config()));
        self.player.stop();
        // A new agent leg starts its own RTP timeline; the caller's continues.
        self.tl_b = Timeline::default();
        // After a transfer the call keeps the recording it already has.
        if self.recorder.is_none() {
            if let Some(r) =
                Recorder::for_queue_call(&self.ctx.cfg, self.id, &queue, self.tenant_name())
            {
                self.ctx.events.append(
                    self.log(Event::RecordingStart {
                        path: r.path.display().to_string(),
                    })
                    .queue(&queue)
                    .agent(&agent),
                );
                self.recorder = Some(r);
                self.rec_origin = Some(now);
            }
        }
        self.ctx.events.append(
            self.log(Event::CallConnected {})
                .queue(&queue)
                .agent(&agent),
        );
        // Supervisors can now find this call by its agent.
        let (tx, rx) = mpsc::channel(4);
        self.ctx.supervisable.insert(agent.clone(), tx);
        self.sup_rx = Some(rx);
    }

    /// POSTs the screen-pop webhook in the background, with retries; never blocks the call.
    pub(super) fn screen_pop(&self, queue: &str, agent: &str) {
        let sp = &self.ctx.cfg.screen_pop;
        if sp.url.is_empty() {
            return;
        }
        let attrs = self
            .queue_req
            .as_ref()
            .map(|r| r.attrs.clone())
            .unwrap_or_default();
        let body = json!({
            "call": self.id_str(),
            "queue": queue,
            "agent": agent,
            "caller": self.caller,
            "dnis": self.dnis,
            "tenant": attrs.tenant,
            "priority": attrs.priority,
            "skills": attrs.skills,
            "data": attrs.screen_pop,
        });
        let (url, timeout, retries) = (
            sp.url.clone(),
            Duration::from_millis(sp.timeout_ms),
            sp.retries,
        );
        let events = self.ctx.events.clone();
        let client = self.ctx.http.clone();
        let (call, queue, agent) = (self.id_str(), queue.to_string(), agent.to_string());
        tokio::spawn(async move {
            let mut last = String::new();
            for attempt in 0..=retries {
                match client.post_json(&url, body.clone(), timeout).await {
                    Ok(status) => {
                        events.append(
                            NewEvent::call(
                                &call,
                                Event::ScreenpopSent {
                                    status,
                                    attempt: attempt + 1,
                                },
                            )
                            .queue(&queue)
                            .agent(&agent),
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, attempt, "screen-pop webhook failed");
                        last = format!(
                            "{last}{}attempt {}: {e}",
                            if last.is_empty() { "" } else { "; " },
                            attempt + 1
                        );
                    }
                }
                tokio::time::sleep(Duration::from_millis(250 << attempt.min(4))).await;
            }
            events.append(
                NewEvent::call(&call, Event::ScreenpopFailed { error: last })
                    .queue(&queue)
                    .agent(&agent),
            );
        });
    }
}
