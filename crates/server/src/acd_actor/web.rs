//! The ACD actor's side of web callbacks (`web_callbacks.rs`): scheduling one into the
//! engine and the book, cancelling, listing, and noting how each attempt went.

use std::time::Duration;

use switchboard_acd::CallId;
use switchboard_events::CallbackOutcome;

use super::AcdActor;
use crate::web_callbacks::{CancelError, ScheduleError, WebCallback, WebCallbackView};

/// What the HTTP API asks of the web callbacks.
#[derive(Debug)]
pub(crate) enum WebCallbackCommand {
    /// Take its place in its queue's line; `restored`: rebuilt from the event log at start
    /// (already logged, and never refused for the bound).
    Schedule {
        cb: WebCallback,
        restored: bool,
        reply: Option<tokio::sync::oneshot::Sender<Result<(), ScheduleError>>>,
    },
    /// Cancel a pending one (`by`: the API token's name).
    Cancel {
        id: u64,
        by: String,
        reply: tokio::sync::oneshot::Sender<Result<(), CancelError>>,
    },
    /// Agent `agent` takes a pending one now (click-to-call): placed at once through the
    /// usual callback path, its `at` and place in the line skipped. The reply says why not.
    StartNow {
        id: u64,
        agent: String,
        reply: tokio::sync::oneshot::Sender<Result<(), StartError>>,
    },
    /// The pending ones, optionally of one queue.
    List {
        queue: Option<String>,
        reply: tokio::sync::oneshot::Sender<Vec<WebCallbackView>>,
    },
}

/// Why a pending callback could not be started now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StartError {
    /// No such pending callback.
    Unknown,
    /// The agent or the callback is not in a state to start it (words for the API).
    Refused(String),
}

fn start_refusal(e: switchboard_acd::AcdError, agent: &str) -> String {
    use switchboard_acd::AcdError as E;
    match e {
        E::NotAvailable(_) => {
            format!("{agent} is not available (ringing, talking, in wrap-up or paused)")
        }
        E::NotMember { .. } => format!("{agent} is not a member of the callback's queue"),
        E::CallbackInProgress(_) => "the callback is being placed now".into(),
        other => other.to_string(),
    }
}

impl AcdActor {
    pub(super) fn handle_web_callback(&mut self, now: Duration, c: WebCallbackCommand) {
        match c {
            WebCallbackCommand::Schedule {
                cb,
                restored,
                reply,
            } => {
                let r = self.schedule_web_callback(now, cb, restored);
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
            WebCallbackCommand::Cancel { id, by, reply } => {
                let r = self.web.check_cancel(id).and_then(|()| {
                    self.acd
                        .handle_callback_cancel(now, CallId(id))
                        .map_err(|_| CancelError::Dialing)
                });
                if r.is_ok() {
                    if let Some(ev) = self.web.finish(id, CallbackOutcome::Cancelled, Some(by)) {
                        self.events.append(ev);
                    }
                }
                let _ = reply.send(r);
            }
            WebCallbackCommand::StartNow { id, agent, reply } => {
                let r = match (self.web.check_cancel(id), self.dir.agent_id(&agent)) {
                    (Err(CancelError::Unknown), _) => Err(StartError::Unknown),
                    (Err(CancelError::Dialing), _) => Err(StartError::Refused(
                        "the callback is being placed now".into(),
                    )),
                    (Ok(()), None) => Err(StartError::Refused(format!("no agent '{agent}'"))),
                    (Ok(()), Some(a)) => self
                        .acd
                        .start_callback_now(now, CallId(id), a)
                        .map_err(|e| StartError::Refused(start_refusal(e, &agent))),
                };
                let _ = reply.send(r);
            }
            WebCallbackCommand::List { queue, reply } => {
                let mut list = self.web.list(queue.as_deref(), chrono::Utc::now());
                for v in &mut list {
                    v.position =
                        v.id.parse()
                            .ok()
                            .and_then(|id| self.acd.position(CallId(id)));
                }
                let _ = reply.send(list);
            }
        }
    }

    /// A callback attempt's result: a connected web callback is done; a failed one waits
    /// for its retry (or the engine's exit after the last attempt).
    pub(super) fn web_callback_result(&mut self, call: u64, connected: bool) {
        if connected {
            if let Some(ev) = self.web.finish(call, CallbackOutcome::Connected, None) {
                self.events.append(ev);
            }
        } else {
            self.web.retry(call);
        }
    }

    /// A web callback joins its queue's line (not placed before its `at`).
    pub(super) fn schedule_web_callback(
        &mut self,
        now: Duration,
        cb: WebCallback,
        restored: bool,
    ) -> Result<(), ScheduleError> {
        // Restored ones were accepted before the restart: never dropped for the bound.
        if !restored {
            self.web.check_room()?;
        }
        let qid = self
            .dir
            .queue_id(&cb.queue)
            .ok_or(ScheduleError::UnknownQueue)?;
        let not_before = cb
            .at
            .and_then(|at| {
                (at.with_timezone(&chrono::Utc) - self.calendar.epoch)
                    .to_std()
                    .ok()
            })
            .unwrap_or_default();
        let r = if restored {
            // Back in line with the wait it had when first scheduled; restored oldest
            // first, so the ones before the restart keep their order
            // (docs/decisions/0016-web-callbacks-in-the-event-log.md).
            let first = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(cb.created_ms)
                .unwrap_or(self.calendar.epoch);
            let joined_at = (first - self.calendar.epoch).to_std().unwrap_or_default();
            self.acd.handle_callback_restore(
                now,
                CallId(cb.id),
                qid,
                cb.number.as_str().into(),
                not_before,
                joined_at,
            )
        } else {
            self.acd.handle_callback_schedule(
                now,
                CallId(cb.id),
                qid,
                cb.number.as_str().into(),
                not_before,
            )
        };
        r.map_err(|_| ScheduleError::UnknownQueue)?;
        if !restored {
            self.events.append(cb.scheduled_event());
        }
        self.web.insert(cb, restored);
        Ok(())
    }
}
