//! The dialplan's actions turned into what the call does: prompts, digit collection,
//! HTTP lookups, queueing, transfers and hang-ups, each fed back to the interpreter.

use super::*;

impl CallTask {
    pub(super) fn drain_ivr(&mut self) {
        while let Some(action) = self.ivr.poll_action() {
            match action {
                Action::Play { prompts, lang } | Action::Say { prompts, lang } => {
                    self.lang = lang;
                    self.flow.handle_ivr_play();
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
                    let wait = timeout + self.playlist_len(&prompts, lang);
                    self.flow.handle_ivr_collect(Instant::now(), wait);
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
                Action::ScheduleCallback {
                    id,
                    number,
                    queue,
                    at,
                } => self.schedule_callback(id, number, queue, at),
                Action::SetVar { name, value } => self.survey_answer(&name, &value),
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
                    // A queue serves the call; a user's phone or a number is rung by the
                    // engine (direct.rs); what resolves to nothing, or a number the dial
                    // policy refuses, goes to the dialplan's fallback queue.
                    let asked = match kind {
                        switchboard_ivr::ast::TransferKind::Agent => Asked::Agent,
                        switchboard_ivr::ast::TransferKind::Extension => Asked::Extension,
                        switchboard_ivr::ast::TransferKind::External => Asked::External,
                    };
                    let dest = self.resolve_target(asked, &target);
                    let mut fallback = plain_queue_request(self.ivr.fallback_queue());
                    fallback.attrs = attrs;
                    fallback.priority = fallback.attrs.priority;
                    let queue = match &dest {
                        Ok(Destination::Queue(q)) => q.clone(),
                        Ok(_) => String::new(),
                        Err(_) => fallback.queue.clone(),
                    };
                    self.ctx.events.append(self.log(Event::IvrTransfer {
                        kind: core_events::ivr_transfer_kind(kind),
                        target: target.clone(),
                        queue,
                    }));
                    self.start_transfer(
                        switchboard_events::TransferOrigin::Dialplan,
                        &target,
                        dest,
                        Some(fallback),
                    );
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
            .filter_map(|n| self.prompt(&format!("{}/{}", lang.code(), n)))
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

/// The digit of an `application/dtmf-relay` (or `application/dtmf`) INFO body.
pub(crate) fn info_dtmf_digit(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or(("", line));
        if k.trim().eq_ignore_ascii_case("signal") || k.is_empty() {
            let c = v.trim().chars().next()?;
            if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_bodies_give_digits() {
        assert_eq!(info_dtmf_digit(b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(info_dtmf_digit(b"signal= #\r\n"), Some('#'));
        assert_eq!(info_dtmf_digit(b"7"), Some('7'));
        assert_eq!(info_dtmf_digit(b"Duration=160\r\n"), None);
    }
}
