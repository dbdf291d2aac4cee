//! The dialplan's actions turned into what the call does: prompts, digit collection,
//! HTTP lookups, queueing, transfers and hang-ups, each fed back to the interpreter.

use super::*;

impl CallTask {
    pub(super) fn drain_ivr(&mut self) {
        while let Some(action) = self.ivr.poll_action() {
            match action {
                Action::Play { prompts, lang } | Action::Say { prompts, lang } => {
                    self.lang = lang;
                    self.collect_deadline = None;
                    self.play(&prompts, lang, false);
                }
                Action::CollectDigits {
                    prompts,
                    lang,
                    timeout,
                    ..
                } => {
                    self.lang = lang;
                    self.play(&prompts, lang, true);
                    self.collect_deadline =
                        Some(Instant::now() + timeout + self.playlist_len(&prompts, lang));
                }
                Action::HttpRequest {
                    id,
                    method,
                    url,
                    body,
                    timeout,
                } => {
                    let tx = self.http_tx.clone();
                    let client = self.ctx.http.clone();
                    tokio::spawn(async move {
                        let r = client.fetch_json(method, &url, body, timeout).await;
                        let _ = tx.send((id, r)).await;
                    });
                }
                Action::SetVar { .. } => {}
                Action::MenuChoice { menu, choice } => {
                    let dialplan = self.ivr.dialplan_name().unwrap_or_default().to_string();
                    self.ctx.events.append(self.log(Event::IvrMenu {
                        dialplan,
                        menu,
                        choice,
                    }));
                }
                Action::Queue(req) => self.join_queue(req),
                Action::Transfer {
                    kind,
                    target,
                    attrs,
                } => {
                    // An extension that names a queue is served by that queue; transfers to
                    // a specific agent or an outside number are not placed by the live
                    // engine yet, so those calls go to the dialplan's fallback queue
                    // rather than being dropped.
                    let queue = if self.ctx.cfg.queues.iter().any(|q| q.name == target) {
                        target.clone()
                    } else {
                        self.ivr.fallback_queue()
                    };
                    self.ctx.events.append(self.log(Event::IvrTransfer {
                        kind: core_events::ivr_transfer_kind(kind),
                        target: target.clone(),
                        queue: queue.clone(),
                    }));
                    let mut req = plain_queue_request(queue);
                    req.attrs = attrs;
                    req.priority = req.attrs.priority;
                    self.join_queue(req);
                }
                Action::Hangup => {
                    self.ctx.events.append(self.log(Event::IvrHangup {}));
                    self.hangup_all(EndReason::IvrHangup);
                }
                Action::RuntimeError { message, location } => {
                    tracing::warn!(%message, %location, "dialplan runtime error");
                    self.ctx.events.append(self.log(Event::IvrError {
                        message: message.to_string(),
                        location: location.to_string(),
                    }));
                }
            }
        }
    }

    /// Logs which dialplan the call entered (`ivr.start`), once it has started.
    pub(super) fn log_ivr_start(&mut self) {
        let Some(dialplan) = self.ivr.dialplan_name().map(str::to_string) else {
            return;
        };
        let block = self.ivr.entry_block().unwrap_or_default().to_string();
        self.ctx
            .events
            .append(self.log(Event::IvrStart { dialplan, block }));
    }

    pub(super) fn playlist_len(&self, names: &[String], lang: Lang) -> Duration {
        names
            .iter()
            .filter_map(|n| self.ctx.prompts.get(&format!("{}/{}", lang.code(), n)))
            .map(|p| p.duration())
            .sum()
    }

    pub(super) fn collect_digits(&mut self, _now: Instant) {
        let mut digits = Vec::new();
        while let Some(ev) = self.a.dtmf.poll_event() {
            if let Some(c) = char_for_event(ev.event) {
                digits.push(c);
            }
        }
        let n4733 = digits.len();
        while let Some(ev) = self.inband.poll_event() {
            if let switchboard_media::DtmfEvent::Pressed { digit, .. } = ev {
                digits.push(digit);
            }
        }
        for (i, d) in digits.into_iter().enumerate() {
            self.on_digit(
                d,
                if i < n4733 {
                    DtmfVia::Rfc4733
                } else {
                    DtmfVia::Inband
                },
            );
        }
    }
}
