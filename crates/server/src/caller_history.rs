//! "Previous calls of this number" on the agent desktop's offer card:
//! `GET /api/v1/calls/{id}/history` finds the last calls whose `call.start` came from the
//! same number as the live call `{id}` and sums each up from its events (when, queue,
//! agent, outcome, the agent's disposition code and notes, duration).
//!
//! An agent token may ask only about the call its phone rings for or talks on (the
//! agent desk's `call`); staff about any live call they see. A tenant's token sees only
//! its own previous calls (by the events' tenant column, else by queue). The store is read on a blocking thread over
//! connections of its own ([`HistoryReader`]: at most [`READERS`] of them, opened on first use and
//! kept for the next offer card, so PostgreSQL is not asked for a new session per offered call); the
//! event-log writer is not disturbed.
//!
//! This module keeps no state: the event log is the only source.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::call::CallContext;
use crate::event_store::{EventStore, StoreLocation, StoredEvent};
use crate::http_auth::{Principal, Role};
use crate::http_error::ApiError;
use crate::http_state::Shared;

/// How many previous calls the card shows.
pub(crate) const SHOWN: usize = 5;
/// How many candidates are read before the token's scope filters them.
const CANDIDATES: u32 = 50;
/// How many store connections history lookups hold at most; more lookups at once wait.
pub(crate) const READERS: usize = 2;

/// The store connections of history lookups: opened on demand, at most [`READERS`], kept
/// idle between requests. A connection whose read failed is dropped (the next lookup
/// opens a fresh one), so a restarted PostgreSQL server is picked up again.
pub(crate) struct HistoryReader {
    location: StoreLocation,
    data_dir: PathBuf,
    permits: tokio::sync::Semaphore,
    /// Connections not in use; locked only to push or pop, never across `.await`.
    idle: Mutex<Vec<Box<dyn EventStore>>>,
    opened: std::sync::atomic::AtomicU64,
}

impl HistoryReader {
    pub(crate) fn new(location: StoreLocation, data_dir: PathBuf) -> Arc<HistoryReader> {
        Arc::new(HistoryReader {
            location,
            data_dir,
            permits: tokio::sync::Semaphore::new(READERS),
            idle: Mutex::new(Vec::new()),
            opened: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// How many connections were opened so far (reuse is visible in tests).
    #[cfg(test)]
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `read` on a blocking thread with a connection of the pool.
    async fn with_store<T: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&mut dyn EventStore) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| anyhow::anyhow!("history reader closed"))?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = me.idle.lock().map(|mut v| v.pop()).unwrap_or(None);
            let mut store = match pooled {
                Some(s) => s,
                None => {
                    me.opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    me.location.open_existing(&me.data_dir)?
                }
            };
            let result = read(store.as_mut());
            if result.is_ok() {
                if let Ok(mut idle) = me.idle.lock() {
                    idle.push(store);
                }
            }
            result
        })
        .await
        .map_err(|e| anyhow::anyhow!("history task: {e}"))?
    }
}

/// One earlier call of the number, as the offer card lists it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct PreviousCall {
    pub(crate) call: String,
    /// `call.start`'s time, RFC 3339 UTC.
    pub(crate) start: String,
    /// The last queue the call was in (empty: never queued).
    pub(crate) queue: String,
    /// The call's tenant (client), empty if none; not shown, used to scope the list.
    #[serde(skip)]
    pub(crate) tenant: String,
    /// The agent who answered last (empty: nobody).
    pub(crate) agent: String,
    /// `call.end`'s `disposition` (`answered`, `abandoned`, ...); empty while it lasts.
    pub(crate) outcome: String,
    /// The agent's code from `call.disposition` (the last one set), or empty.
    pub(crate) disposition: String,
    /// Its notes, or empty.
    pub(crate) notes: String,
    /// Start to end in seconds; `None` while it lasts.
    pub(crate) duration_s: Option<f64>,
}

/// Sums up one call's events.
pub(crate) fn summarize(call: &str, events: &[StoredEvent]) -> PreviousCall {
    let mut p = PreviousCall {
        call: call.to_string(),
        ..PreviousCall::default()
    };
    let mut start_ms = None;
    for e in events {
        if !e.queue.is_empty() {
            p.queue.clone_from(&e.queue);
        }
        if !e.tenant.is_empty() {
            p.tenant.clone_from(&e.tenant);
        }
        let text = |k: &str| e.data[k].as_str().unwrap_or_default().to_string();
        match e.kind.as_str() {
            "call.start" => {
                start_ms = Some(e.ts_ms);
                p.start = DateTime::<Utc>::from_timestamp_millis(e.ts_ms)
                    .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default();
            }
            "call.bridge" if !e.agent.is_empty() => p.agent.clone_from(&e.agent),
            "call.disposition" => {
                p.disposition = text("code");
                p.notes = text("notes");
            }
            "call.end" => {
                p.outcome = text("disposition");
                p.duration_s = e.data["duration_s"]
                    .as_f64()
                    .or_else(|| start_ms.map(|s| (e.ts_ms.saturating_sub(s)) as f64 / 1000.0));
            }
            _ => {}
        }
    }
    p
}

/// The last [`SHOWN`] calls of `number` other than `current`, newest first, keeping only
/// those `sees(tenant, queue)` accepts (`None` for a call with no tenant, or no queue).
pub(crate) fn previous_calls(
    store: &mut dyn EventStore,
    number: &str,
    current: &str,
    sees: &dyn Fn(Option<&str>, Option<&str>) -> bool,
) -> anyhow::Result<Vec<PreviousCall>> {
    let mut out = Vec::new();
    for id in store.calls_from_number(number, CANDIDATES)? {
        if id == current {
            continue;
        }
        let p = summarize(&id, &store.read_call(&id)?);
        let some = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        if sees(some(&p.tenant).as_deref(), some(&p.queue).as_deref()) {
            out.push(p);
        }
        if out.len() == SHOWN {
            break;
        }
    }
    Ok(out)
}

/// The number of the live call `id` that `p` may ask about: an agent's own offered or
/// connected call (from the agent desk board), or any live call a staff token sees.
async fn number_of(
    p: &Principal,
    id: &str,
    shared: &Shared,
    ctx: &CallContext,
) -> Result<String, ApiError> {
    let no_call = || ApiError::not_found(format!("no live call '{id}'"));
    if p.role == Role::Agent {
        let mine = shared.board.read().ok().and_then(|b| {
            b["agents"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["agent"].as_str() == p.agent.as_deref())
                .map(|a| a["call"].clone())
        });
        let call = mine.filter(|c| c["id"].as_str() == Some(id));
        return match call {
            Some(c) => Ok(c["caller"].as_str().unwrap_or_default().to_string()),
            None if ctx.live.get(parse(id)?).is_some() => Err(ApiError::forbidden(
                "an agent may ask only about the call offered to or connected with them",
            )),
            None => Err(no_call()),
        };
    }
    let lane = ctx.live.get(parse(id)?).ok_or_else(no_call)?;
    let view = crate::live_calls::LiveCalls::describe(&lane, std::time::Duration::from_millis(500))
        .await
        .filter(|v| p.sees_call(v.tenant.as_deref(), v.queue.as_deref()))
        .ok_or_else(no_call)?;
    Ok(view.caller)
}

fn parse(id: &str) -> Result<crate::live_calls::LiveCallId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no live call '{id}'")))
}

/// `GET /api/v1/calls/{id}/history`: `{"call", "previous": [PreviousCall...]}`.
pub(crate) async fn serve(
    p: Principal,
    Path(id): Path<String>,
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Arc<CallContext>>,
    Extension(reader): Extension<Arc<HistoryReader>>,
) -> Result<Json<Value>, ApiError> {
    let number = number_of(&p, &id, &shared, &ctx).await?;
    if number.is_empty() {
        return Ok(Json(json!({"call": id, "previous": []})));
    }
    let current = id.clone();
    let principal = p.clone();
    let found = reader
        .with_store(move |store| {
            let sees =
                |tenant: Option<&str>, queue: Option<&str>| principal.sees_call(tenant, queue);
            previous_calls(store, &number, &current, &sees)
        })
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    Ok(Json(json!({"call": id, "previous": found})))
}

fn internal(message: String) -> ApiError {
    tracing::warn!(error = %message, "previous calls of a number: reading the event log failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "event_store_failed",
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_store::{Row, SqliteStore};

    fn row(
        ts: i64,
        call: &str,
        seq: i64,
        kind: &str,
        queue: &str,
        agent: &str,
        data: Value,
    ) -> Row {
        Row {
            ts_ms: ts,
            call: call.into(),
            call_seq: seq,
            queue: queue.into(),
            agent: agent.into(),
            kind: kind.into(),
            data: data.to_string(),
            schema: 1,
            tenant: String::new(),
        }
    }

    /// A call from `caller` at `ts` into `queue`, answered by `agent` (if any), with a
    /// disposition code (if any).
    fn call(id: &str, ts: i64, caller: &str, queue: &str, agent: &str, code: &str) -> Vec<Row> {
        let mut rows = vec![
            row(
                ts,
                id,
                1,
                "call.start",
                "",
                "",
                json!({"caller": caller, "dnis": "100"}),
            ),
            row(
                ts + 1000,
                id,
                2,
                "queue.join",
                queue,
                "",
                json!({"position": 1, "resumed": false}),
            ),
        ];
        let mut seq = 3;
        let mut outcome = "abandoned";
        if !agent.is_empty() {
            rows.push(row(
                ts + 3000,
                id,
                seq,
                "call.bridge",
                queue,
                agent,
                json!({}),
            ));
            seq += 1;
            outcome = "answered";
        }
        rows.push(row(
            ts + 65_000,
            id,
            seq,
            "call.end",
            queue,
            agent,
            json!({"end_reason": "caller_hangup", "disposition": outcome, "duration_s": 65.0}),
        ));
        if !code.is_empty() {
            rows.push(row(
                ts + 70_000,
                id,
                seq + 1,
                "call.disposition",
                queue,
                agent,
                json!({"code": code, "notes": "wants a refund", "by": "agent-1001"}),
            ));
        }
        rows
    }

    #[test]
    fn the_last_calls_of_the_number_newest_first_in_visible_queues() {
        let dir = std::env::temp_dir().join(format!("sb-caller-history-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let t0 = 1_765_000_000_000;
        let mut rows = Vec::new();
        rows.extend(call("1", t0, "+79995550101", "sales", "1001", "sale"));
        rows.extend(call("2", t0 + 100_000, "+79995550199", "sales", "1002", ""));
        rows.extend(call("3", t0 + 200_000, "+79995550101", "support", "", ""));
        // A call for the tenant acme in the shared queue sales: the writer tags its rows
        // after call.start.
        rows.extend(
            call("4", t0 + 300_000, "+79995550101", "sales", "1003", "")
                .into_iter()
                .map(|r| Row {
                    tenant: if r.kind == "call.start" {
                        String::new()
                    } else {
                        "acme".into()
                    },
                    ..r
                }),
        );
        // The live call itself: started, not ended.
        rows.push(row(
            t0 + 400_000,
            "5",
            1,
            "call.start",
            "",
            "",
            json!({"caller": "+79995550101", "dnis": "100"}),
        ));
        s.append_batch(&rows).unwrap();

        let all = previous_calls(&mut s, "+79995550101", "5", &|_, _| true).unwrap();
        let ids: Vec<&str> = all.iter().map(|p| p.call.as_str()).collect();
        assert_eq!(ids, ["4", "3", "1"]);
        assert_eq!(
            all[2],
            PreviousCall {
                call: "1".into(),
                start: "2025-12-06T05:46:40Z".into(),
                queue: "sales".into(),
                tenant: String::new(),
                agent: "1001".into(),
                outcome: "answered".into(),
                disposition: "sale".into(),
                notes: "wants a refund".into(),
                duration_s: Some(65.0),
            }
        );
        assert_eq!(all[1].outcome, "abandoned");
        assert_eq!(all[1].agent, "");

        // acme's token: acme's calls wherever they queued, untagged calls in its own
        // queues (none here).
        let acme_scope = |t: Option<&str>, q: Option<&str>| match t {
            Some(t) => t == "acme",
            None => q.is_some_and(|q| q.starts_with("acme-")),
        };
        let acme = previous_calls(&mut s, "+79995550101", "5", &acme_scope).unwrap();
        assert_eq!(
            acme.iter().map(|p| p.call.as_str()).collect::<Vec<_>>(),
            ["4"]
        );
        // Nothing for a number never seen; the live call alone is not "previous".
        assert!(previous_calls(&mut s, "+1555", "5", &|_, _| true)
            .unwrap()
            .is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn lookups_reuse_the_readers_connection() {
        let dir =
            std::env::temp_dir().join(format!("sb-caller-history-pool-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        s.append_batch(&call("1", 1_000, "+100", "sales", "1001", ""))
            .unwrap();
        let reader = HistoryReader::new(StoreLocation::Sqlite, dir.clone());
        for _ in 0..5 {
            let found = reader
                .with_store(|st| previous_calls(st, "+100", "live", &|_, _| true))
                .await
                .unwrap();
            assert_eq!(found.len(), 1);
        }
        assert_eq!(
            reader.opened(),
            1,
            "one connection serves lookups one after another"
        );
        // A failed read drops its connection; the next lookup opens a fresh one.
        let failed = reader
            .with_store(|_| -> anyhow::Result<()> { anyhow::bail!("broken") })
            .await;
        assert!(failed.is_err());
        reader
            .with_store(|st| previous_calls(st, "+100", "live", &|_, _| true))
            .await
            .unwrap();
        assert_eq!(reader.opened(), 2);
        // A missing log is an error, not an empty new file.
        let empty =
            std::env::temp_dir().join(format!("sb-caller-history-none-{}", std::process::id()));
        let none = HistoryReader::new(StoreLocation::Sqlite, empty.clone());
        assert!(none.with_store(|_| Ok(())).await.is_err());
        assert!(!empty.join("events.sqlite").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn at_most_five_are_shown() {
        let dir = std::env::temp_dir().join(format!("sb-caller-history5-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let rows: Vec<Row> = (0..8)
            .flat_map(|i| call(&i.to_string(), i * 100_000, "+100", "sales", "", ""))
            .collect();
        s.append_batch(&rows).unwrap();
        let shown = previous_calls(&mut s, "+100", "none", &|_, _| true).unwrap();
        assert_eq!(
            shown.iter().map(|p| p.call.as_str()).collect::<Vec<_>>(),
            ["7", "6", "5", "4", "3"]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
