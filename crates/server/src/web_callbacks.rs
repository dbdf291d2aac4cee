//! Web callbacks (`POST /api/v1/callbacks`): the book of pending ones, kept by the ACD
//! actor beside the ACD engine's callback entries, and how it is rebuilt at start.
//!
//! A web callback is an ACD callback entry without a caller on the line: it takes its
//! place in the queue's line when asked for (or waits for its `at` first), and when its
//! turn comes the engine reserves an agent, calls the agent first and then the customer
//! through the outbound trunk, and bridges them (`callback.rs`, as for callbacks callers
//! ask for in the queue). Each one is a typed event in the log: `callback.scheduled` when
//! accepted, `callback.done` (`connected`, `failed`, `cancelled`) when no longer pending.
//! At start, the scheduled ones without a `done` are the pending ones: they go back into
//! their queues oldest first, with the wait they had, so a restart loses none and each
//! keeps its place relative to the others (docs/decisions/0016-web-callbacks-in-the-event-log.md).

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::Serialize;
use serde_json::Value;
use switchboard_events::{CallbackOutcome, Event};

use crate::event_log::NewEvent;
use crate::event_store::EventStore;

/// One web callback.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WebCallback {
    /// Its id: the ACD entry's call id and the event log's `call`.
    pub(crate) id: u64,
    pub(crate) queue: String,
    /// Normalised by the dial policy.
    pub(crate) number: String,
    /// Not placed before this time.
    pub(crate) at: Option<DateTime<FixedOffset>>,
    pub(crate) name: Option<String>,
    pub(crate) data: Option<Value>,
    /// The API token that asked for it.
    pub(crate) by: String,
    /// When it was asked for (unix ms).
    pub(crate) created_ms: i64,
}

impl WebCallback {
    /// The `callback.scheduled` event that records it.
    pub(crate) fn scheduled_event(&self) -> NewEvent {
        NewEvent::call(
            &self.id.to_string(),
            Event::CallbackScheduled {
                number: self.number.clone(),
                at: self.at.map(|a| a.to_rfc3339()),
                name: self.name.clone(),
                data: self.data.clone(),
                by: self.by.clone(),
            },
        )
        .queue(&self.queue)
    }
}

/// Where a pending web callback is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum WebCallbackState {
    /// Waiting for its `at`.
    Scheduled,
    /// In the queue's line, waiting for its turn.
    Waiting,
    /// Being placed now (an agent is reserved).
    Dialing,
}

/// A pending web callback as the API lists it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct WebCallbackView {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) number: String,
    pub(crate) at: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) data: Option<Value>,
    pub(crate) state: WebCallbackState,
    /// Attempts made so far.
    pub(crate) attempts: u32,
    /// Its place in its queue's line (1 = next), filled in by the ACD actor.
    pub(crate) position: Option<usize>,
    /// When it was asked for (RFC 3339, UTC).
    pub(crate) created: String,
    pub(crate) by: String,
}

/// Why a web callback was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ScheduleError {
    /// `[acd] max_pending_callbacks` are pending already.
    Full(usize),
    UnknownQueue,
}

/// Why a cancel did not take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CancelError {
    Unknown,
    Dialing,
}

struct Entry {
    cb: WebCallback,
    dialing: bool,
    attempts: u32,
    /// Restored at start and its `queue.join` (already in the log) not yet seen again.
    restored_join: bool,
}

/// The pending web callbacks (owned by the ACD actor).
pub(crate) struct WebCallbackBook {
    entries: BTreeMap<u64, Entry>,
    limit: usize,
}

impl WebCallbackBook {
    pub(crate) fn new(limit: usize) -> WebCallbackBook {
        WebCallbackBook {
            entries: BTreeMap::new(),
            limit,
        }
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.entries.contains_key(&id)
    }

    /// Room for one more? (Checked before the ACD takes it.)
    pub(crate) fn check_room(&self) -> Result<(), ScheduleError> {
        if self.entries.len() >= self.limit {
            Err(ScheduleError::Full(self.limit))
        } else {
            Ok(())
        }
    }

    /// A callback joins the book; `restored`: rebuilt from the event log at start.
    pub(crate) fn insert(&mut self, cb: WebCallback, restored: bool) {
        self.entries.insert(
            cb.id,
            Entry {
                cb,
                dialing: false,
                attempts: 0,
                restored_join: restored,
            },
        );
    }

    /// Whether the engine's join of `id` is a restored callback going back into its line:
    /// its `queue.join` is in the log from before the restart, so it is not logged (or
    /// counted as offered by the reports) twice. True once per restored callback.
    pub(crate) fn take_restored_join(&mut self, id: u64) -> bool {
        self.entries
            .get_mut(&id)
            .is_some_and(|e| std::mem::take(&mut e.restored_join))
    }

    /// Whether the engine's join of `id` still to come is a restored callback's (see
    /// [`Self::take_restored_join`]): the live statistics do not count it as a new offer.
    pub(crate) fn is_restored_join(&self, id: u64) -> bool {
        self.entries.get(&id).is_some_and(|e| e.restored_join)
    }

    /// The ACD reserved an agent and asked for attempt `attempt`.
    pub(crate) fn dialing(&mut self, id: u64, attempt: u32) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.dialing = true;
            e.attempts = attempt;
        }
    }

    /// An attempt failed; the ACD retries later.
    pub(crate) fn retry(&mut self, id: u64) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.dialing = false;
        }
    }

    /// Whether a cancel may take (it must not be placed right now).
    pub(crate) fn check_cancel(&self, id: u64) -> Result<(), CancelError> {
        match self.entries.get(&id) {
            None => Err(CancelError::Unknown),
            Some(e) if e.dialing => Err(CancelError::Dialing),
            Some(_) => Ok(()),
        }
    }

    /// It is no longer pending: the `callback.done` event to log (None if unknown).
    pub(crate) fn finish(
        &mut self,
        id: u64,
        outcome: CallbackOutcome,
        by: Option<String>,
    ) -> Option<NewEvent> {
        let e = self.entries.remove(&id)?;
        Some(
            NewEvent::call(&id.to_string(), Event::CallbackDone { outcome, by }).queue(&e.cb.queue),
        )
    }

    /// The pending ones, oldest first, optionally of one queue; `now` tells scheduled
    /// from waiting.
    pub(crate) fn list(&self, queue: Option<&str>, now: DateTime<Utc>) -> Vec<WebCallbackView> {
        self.entries
            .values()
            .filter(|e| queue.is_none_or(|q| e.cb.queue == q))
            .map(|e| WebCallbackView {
                id: e.cb.id.to_string(),
                queue: e.cb.queue.clone(),
                number: e.cb.number.clone(),
                at: e.cb.at.map(|a| a.to_rfc3339()),
                name: e.cb.name.clone(),
                data: e.cb.data.clone(),
                state: if e.dialing {
                    WebCallbackState::Dialing
                } else if e.cb.at.is_some_and(|a| a > now) {
                    WebCallbackState::Scheduled
                } else {
                    WebCallbackState::Waiting
                },
                attempts: e.attempts,
                position: None,
                created: DateTime::<Utc>::from_timestamp_millis(e.cb.created_ms)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                by: e.cb.by.clone(),
            })
            .collect()
    }
}

/// The web callbacks still pending in the event log: every `callback.scheduled` without a
/// later `callback.done`, oldest first.
pub(crate) fn pending_in_log(store: &mut dyn EventStore) -> anyhow::Result<Vec<WebCallback>> {
    let mut pending: BTreeMap<String, WebCallback> = BTreeMap::new();
    for row in store.read_kind_prefix("callback.")? {
        match row.event {
            Some(Event::CallbackScheduled {
                number,
                at,
                name,
                data,
                by,
            }) => {
                let Ok(id) = row.call.parse::<u64>() else {
                    continue;
                };
                pending.insert(
                    row.call.clone(),
                    WebCallback {
                        id,
                        queue: row.queue.clone(),
                        number,
                        at: at.and_then(|a| DateTime::parse_from_rfc3339(&a).ok()),
                        name,
                        data,
                        by,
                        created_ms: row.ts_ms,
                    },
                );
            }
            Some(Event::CallbackDone { .. }) => {
                pending.remove(&row.call);
            }
            _ => {}
        }
    }
    let mut v: Vec<WebCallback> = pending.into_values().collect();
    v.sort_by_key(|c| (c.created_ms, c.id));
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cb(id: u64, at: Option<&str>) -> WebCallback {
        WebCallback {
            id,
            queue: "sales".into(),
            number: "+74951234567".into(),
            at: at.map(|a| DateTime::parse_from_rfc3339(a).unwrap()),
            name: Some("Ivan".into()),
            data: None,
            by: "web".into(),
            created_ms: 1_000,
        }
    }

    #[test]
    fn the_book_is_bounded_and_tracks_each_callback() {
        let mut book = WebCallbackBook::new(2);
        book.insert(cb(1, None), false);
        book.insert(cb(2, Some("2030-01-01T00:00:00+03:00")), true);
        assert!(book.take_restored_join(2));
        assert!(!book.take_restored_join(2), "once");
        assert!(!book.take_restored_join(1));
        assert_eq!(book.check_room(), Err(ScheduleError::Full(2)));
        let now = Utc::now();
        let states: Vec<_> = book.list(None, now).iter().map(|v| v.state).collect();
        assert_eq!(
            states,
            vec![WebCallbackState::Waiting, WebCallbackState::Scheduled]
        );
        book.dialing(1, 1);
        assert_eq!(book.check_cancel(1), Err(CancelError::Dialing));
        book.retry(1);
        assert_eq!(book.check_cancel(1), Ok(()));
        assert_eq!(book.check_cancel(9), Err(CancelError::Unknown));
        let done = book.finish(1, CallbackOutcome::Cancelled, Some("web".into()));
        assert_eq!(done.unwrap().queue, "sales");
        assert!(book.finish(1, CallbackOutcome::Failed, None).is_none());
        assert_eq!(book.check_room(), Ok(()));
        assert!(book.list(Some("support"), now).is_empty());
    }

    #[test]
    fn pending_callbacks_are_rebuilt_from_the_log() {
        let dir = std::env::temp_dir().join(format!("sb-webcb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = crate::event_store::SqliteStore::open(&dir.join("e.sqlite")).unwrap();
        let row = |call: &str, ev: &NewEvent| crate::event_store::Row {
            ts_ms: 5,
            call: call.into(),
            call_seq: 1,
            queue: ev.queue.clone(),
            agent: String::new(),
            tenant: String::new(),
            kind: ev.event.kind().into(),
            data: ev.event.data().to_string(),
            schema: switchboard_events::SCHEMA_VERSION,
        };
        let a = cb(11, Some("2030-01-01T00:00:00+03:00"));
        let b = cb(12, None);
        let mut book = WebCallbackBook::new(10);
        book.insert(b.clone(), false);
        let done = book.finish(12, CallbackOutcome::Connected, None).unwrap();
        store
            .append_batch(&[
                row("11", &a.scheduled_event()),
                row("12", &b.scheduled_event()),
                row("12", &done),
            ])
            .unwrap();
        let pending = pending_in_log(&mut store).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].id, 11);
        assert_eq!(pending[0].at, a.at);
        assert_eq!(pending[0].name.as_deref(), Some("Ivan"));
        assert_eq!(pending[0].queue, "sales");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
