//! The event store seam: where the event log's rows live. One trait, [`EventStore`], with
//! two backends: SQLite (the embedded default, `<data-dir>/events.sqlite`) and PostgreSQL
//! (a real server, `postgres://user@host:port/db`). The event-log writer thread appends
//! batches; the exporters read ranges or one call. Neither knows which backend it has.
//!
//! Schema changes are numbered [`MIGRATIONS`], applied in order at open and recorded in a
//! `schema_migrations` table, so a store written by an older server is brought up to date
//! before anything reads or writes it. Both backends keep the same columns and order, so
//! every export is byte-for-byte the same on either.
//!
//! Besides `events`, both keep `open_calls` (migration 5): the calls with a `call.start`
//! and no `call.end` yet, maintained by `append_batch` in the same transaction as the rows,
//! so that finding the calls a crash left open at start reads those calls only, not every
//! call ever logged (docs/decisions/0048-open-call-markers.md).
//!
//! This module does not decide what an event means (that is `switchboard-events`) and does
//! no buffering or retrying (that is the event-log writer).

mod postgres;
mod sqlite;
#[cfg(test)]
mod start_cost;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

pub(crate) use self::postgres::PostgresStore;
#[cfg(test)]
pub(crate) use self::postgres::TestSchema;
pub(crate) use self::sqlite::SqliteStore;
use serde::Serialize;
use serde_json::Value;
use switchboard_events::Event;

/// One event as stored.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub(crate) struct StoredEvent {
    /// Global order.
    pub(crate) id: i64,
    /// Unix milliseconds.
    pub(crate) ts_ms: i64,
    /// Our call id (not the SIP Call-ID), empty for agent-only events.
    pub(crate) call: String,
    /// Sequence number within the call, from 1, gap-free.
    pub(crate) call_seq: i64,
    /// Queue name, if any.
    pub(crate) queue: String,
    /// Agent name, if any.
    pub(crate) agent: String,
    /// The call's tenant (`[[tenants]]` name) once it is known; empty for untenanted calls,
    /// events outside a call that concern no tenant's call, and rows written before the
    /// column existed. Left out of the JSON when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub(crate) tenant: String,
    /// Event kind, e.g. `call.start`, `queue.join`, `agent.login`.
    pub(crate) kind: String,
    /// Details.
    pub(crate) data: Value,
    /// `kind` and `data` read as the typed schema; `None` for a row that does not fit it
    /// (an unknown kind or a mistyped field), which readers skip.
    #[serde(skip)]
    pub(crate) event: Option<Event>,
}

impl StoredEvent {
    /// Builds a stored row, reading `kind` and `data` as the typed schema.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: i64,
        ts_ms: i64,
        call: String,
        call_seq: i64,
        queue: String,
        agent: String,
        kind: String,
        data: Value,
    ) -> StoredEvent {
        let event = Event::from_parts(&kind, &data).ok();
        StoredEvent {
            id,
            ts_ms,
            call,
            call_seq,
            queue,
            agent,
            tenant: String::new(),
            kind,
            data,
            event,
        }
    }

    /// The same row with its `tenant` column.
    pub(crate) fn with_tenant(mut self, tenant: String) -> StoredEvent {
        self.tenant = tenant;
        self
    }
}

/// Unix milliseconds now (the log's timestamps).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One row to append; `call_seq` is assigned by the writer.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    pub(crate) ts_ms: i64,
    pub(crate) call: String,
    pub(crate) call_seq: i64,
    pub(crate) queue: String,
    pub(crate) agent: String,
    /// The call's tenant, empty if none.
    pub(crate) tenant: String,
    pub(crate) kind: String,
    /// JSON object text.
    pub(crate) data: String,
    /// `switchboard_events::SCHEMA_VERSION` the row was written under.
    pub(crate) schema: u32,
}

/// A call whose log has a `call.start` but no `call.end`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct OpenCall {
    pub(crate) call: String,
    pub(crate) last_ts_ms: i64,
    /// The last queue and agent named by the call's events.
    pub(crate) queue: String,
    pub(crate) agent: String,
    /// The call's tenant, if any of its events named one.
    pub(crate) tenant: String,
    /// Whether an agent answered (`call.bridge`).
    pub(crate) bridged: bool,
    pub(crate) start_ts_ms: i64,
    /// The call's highest `call_seq` (its closing `call.end` takes the next).
    pub(crate) last_seq: i64,
}

/// A place for event rows. Implementations are used from one thread at a time.
pub(crate) trait EventStore: Send {
    /// Which backend, for logs and errors (`sqlite:<path>`, `postgres://host:port/db`).
    fn describe(&self) -> String;
    /// The highest migration applied.
    fn schema_version(&mut self) -> anyhow::Result<u32>;
    /// Appends the rows in one transaction: all or none. Returns the `id` given to each
    /// row, in the order of `rows` (increasing: one writer appends, so ids follow commit
    /// order; PostgreSQL may leave gaps after a failed batch).
    fn append_batch(&mut self, rows: &[Row]) -> anyhow::Result<Vec<i64>>;
    /// Rows with `ts_ms` in `[from_ms, to_ms)` (`None` = unbounded), in `id` order.
    fn read_range(
        &mut self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> anyhow::Result<Vec<StoredEvent>>;
    /// At most `limit` rows with `ts_ms` in `[from_ms, to_ms)` and `id > after_id`, in `id`
    /// order: a range read in pages, so a long report holds one page at a time.
    fn read_page(
        &mut self,
        from_ms: i64,
        to_ms: i64,
        after_id: i64,
        limit: u32,
    ) -> anyhow::Result<Vec<StoredEvent>> {
        // Both real backends override this with a LIMIT query; this fallback (for test
        // stores) reads the whole range.
        let mut rows = self.read_range(Some(from_ms), Some(to_ms))?;
        rows.retain(|e| e.id > after_id);
        rows.truncate(limit as usize);
        Ok(rows)
    }
    /// Rows whose kind starts with `prefix` (e.g. `callback.`), in `id` order: how the
    /// pending web callbacks are rebuilt at start without reading the whole log.
    fn read_kind_prefix(&mut self, prefix: &str) -> anyhow::Result<Vec<StoredEvent>>;
    /// One call's rows in `id` order.
    fn read_call(&mut self, call: &str) -> anyhow::Result<Vec<StoredEvent>>;
    /// The ids of the last `limit` calls whose `call.start` has `caller` = `number`,
    /// newest first (the agent desktop's "previous calls of this number"; an index of
    /// migration 4 serves it).
    fn calls_from_number(&mut self, number: &str, limit: u32) -> anyhow::Result<Vec<String>> {
        // Both real backends override this with an indexed query; this fallback (for test
        // stores) reads every call.start.
        let mut calls: Vec<String> = self
            .read_kind_prefix("call.start")?
            .into_iter()
            .filter(|e| e.kind == "call.start" && e.data["caller"].as_str() == Some(number))
            .map(|e| e.call)
            .collect();
        calls.reverse();
        calls.truncate(limit as usize);
        Ok(calls)
    }
    /// At most `limit` rows with `id > after_id`, in `id` order (the event stream's
    /// replay reads the log page by page with it).
    fn read_after(&mut self, after_id: i64, limit: usize) -> anyhow::Result<Vec<StoredEvent>>;
    /// The highest `id` stored (0 for an empty log).
    fn last_id(&mut self) -> anyhow::Result<i64>;
    /// The highest `call_seq` of `call` (0: no rows) and the tenant of its latest tenanted
    /// row (empty: none): how the writer continues a call it had forgotten (an event after
    /// the call's end, or after a restart). An indexed read (`events_call`).
    fn call_tail(&mut self, call: &str) -> anyhow::Result<(i64, String)> {
        let rows = self.read_call(call)?;
        let seq = rows.iter().map(|e| e.call_seq).max().unwrap_or(0);
        let tenant = rows
            .iter()
            .rev()
            .find(|e| !e.tenant.is_empty())
            .map(|e| e.tenant.clone())
            .unwrap_or_default();
        Ok((seq, tenant))
    }
    /// The highest `call_seq` of every call (a scan of the whole log: tests and tools only).
    fn max_call_seqs(&mut self) -> anyhow::Result<Vec<(String, i64)>>;
    /// The ids of the calls with a start and no end. Both real backends read their
    /// `open_calls` marker table (as many rows as open calls); this fallback (for test
    /// stores) scans every call.
    fn open_call_ids(&mut self) -> anyhow::Result<Vec<String>> {
        Ok(self.max_call_seqs()?.into_iter().map(|(c, _)| c).collect())
    }
    /// Calls with a start and no end (left open by a crash): the marked calls, each read
    /// by the `events_call` index.
    fn open_calls(&mut self) -> anyhow::Result<Vec<OpenCall>> {
        let mut out = Vec::new();
        for call in self.open_call_ids()? {
            let evs = self.read_call(&call)?;
            if !evs.iter().any(|e| e.kind == "call.start")
                || evs.iter().any(|e| e.kind == "call.end")
            {
                continue;
            }
            let mut oc = OpenCall {
                call: call.clone(),
                last_ts_ms: 0,
                queue: String::new(),
                agent: String::new(),
                tenant: String::new(),
                bridged: false,
                start_ts_ms: i64::MAX,
                last_seq: 0,
            };
            for e in &evs {
                oc.last_seq = oc.last_seq.max(e.call_seq);
                oc.last_ts_ms = oc.last_ts_ms.max(e.ts_ms);
                oc.start_ts_ms = oc.start_ts_ms.min(e.ts_ms);
                if !e.queue.is_empty() {
                    oc.queue.clone_from(&e.queue);
                }
                if !e.tenant.is_empty() {
                    oc.tenant.clone_from(&e.tenant);
                }
                if e.kind == "call.bridge" {
                    oc.bridged = true;
                    if !e.agent.is_empty() {
                        oc.agent.clone_from(&e.agent);
                    }
                }
            }
            out.push(oc);
        }
        Ok(out)
    }
}

/// A numbered schema change: the same meaning in both SQL dialects.
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) what: &'static str,
    pub(crate) sqlite: &'static str,
    pub(crate) postgres: &'static str,
}

/// Every schema change, oldest first. Never edit one that has shipped; add a new one.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "events table and its indexes",
        sqlite: "CREATE TABLE IF NOT EXISTS events (
                     id       INTEGER PRIMARY KEY AUTOINCREMENT,
                     ts_ms    INTEGER NOT NULL,
                     call     TEXT NOT NULL,
                     call_seq INTEGER NOT NULL,
                     queue    TEXT NOT NULL,
                     agent    TEXT NOT NULL,
                     kind     TEXT NOT NULL,
                     data     TEXT NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS events_call ON events(call, call_seq);
                 CREATE INDEX IF NOT EXISTS events_ts ON events(ts_ms);",
        postgres: "CREATE TABLE IF NOT EXISTS events (
                       id       BIGSERIAL PRIMARY KEY,
                       ts_ms    BIGINT NOT NULL,
                       call     TEXT NOT NULL,
                       call_seq BIGINT NOT NULL,
                       queue    TEXT NOT NULL,
                       agent    TEXT NOT NULL,
                       kind     TEXT NOT NULL,
                       data     TEXT NOT NULL
                   );
                   CREATE INDEX IF NOT EXISTS events_call ON events(call, call_seq);
                   CREATE INDEX IF NOT EXISTS events_ts ON events(ts_ms);",
    },
    Migration {
        version: 2,
        what: "the event schema version of each row",
        sqlite: "ALTER TABLE events ADD COLUMN schema INTEGER NOT NULL DEFAULT 1;",
        postgres: "ALTER TABLE events ADD COLUMN IF NOT EXISTS schema INTEGER NOT NULL DEFAULT 1;",
    },
    Migration {
        version: 3,
        what: "the tenant of each row (empty: none, or written before tenants were logged)",
        sqlite: "ALTER TABLE events ADD COLUMN tenant TEXT NOT NULL DEFAULT '';",
        postgres: "ALTER TABLE events ADD COLUMN IF NOT EXISTS tenant TEXT NOT NULL DEFAULT '';",
    },
    Migration {
        version: 4,
        what: "an index of call.start rows by caller number (previous calls of a number)",
        sqlite: "CREATE INDEX IF NOT EXISTS events_caller
                     ON events(json_extract(data, '$.caller'), id) WHERE kind = 'call.start';",
        postgres: "CREATE INDEX IF NOT EXISTS events_caller
                       ON events (((data::jsonb) ->> 'caller'), id) WHERE kind = 'call.start';",
    },
    Migration {
        version: 5,
        what: "open_calls: the calls with a call.start and no call.end (crash recovery at start)",
        // Filled once from the rows already logged; `append_batch` keeps it from then on.
        sqlite: "CREATE TABLE IF NOT EXISTS open_calls (call TEXT PRIMARY KEY);
                 INSERT OR IGNORE INTO open_calls (call)
                     SELECT DISTINCT s.call FROM events s WHERE s.kind = 'call.start'
                     AND NOT EXISTS (SELECT 1 FROM events e
                                     WHERE e.call = s.call AND e.kind = 'call.end');",
        postgres: "CREATE TABLE IF NOT EXISTS open_calls (call TEXT PRIMARY KEY);
                   INSERT INTO open_calls (call)
                       SELECT DISTINCT s.call FROM events s WHERE s.kind = 'call.start'
                       AND NOT EXISTS (SELECT 1 FROM events e
                                       WHERE e.call = s.call AND e.kind = 'call.end')
                   ON CONFLICT DO NOTHING;",
    },
];

/// What a row does to the `open_calls` markers: a `call.start` opens its call, a
/// `call.end` closes it (the backends apply it in `append_batch`'s transaction).
pub(crate) fn marker_change(row: &Row) -> Option<bool> {
    if row.call.is_empty() {
        return None;
    }
    match row.kind.as_str() {
        "call.start" => Some(true),
        "call.end" => Some(false),
        _ => None,
    }
}

/// Where events are stored, from `[data] event_store` or `--event-store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoreLocation {
    /// `<data-dir>/events.sqlite`.
    Sqlite,
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl StoreLocation {
    /// `sqlite` (or empty) or `postgres://...` / `postgresql://...`.
    pub(crate) fn parse(s: &str) -> anyhow::Result<StoreLocation> {
        let s = s.trim();
        if s.is_empty() || s == "sqlite" {
            Ok(StoreLocation::Sqlite)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreLocation::Postgres(s.to_string()))
        } else {
            anyhow::bail!(
                "event_store {s:?}: expected \"sqlite\" or a URL postgres://user@host:port/db"
            )
        }
    }

    /// Opens (creating if needed) the store and applies pending migrations.
    pub(crate) fn open(&self, data_dir: &Path) -> anyhow::Result<Box<dyn EventStore>> {
        Ok(match self {
            StoreLocation::Sqlite => {
                std::fs::create_dir_all(data_dir)
                    .with_context(|| format!("creating {}", data_dir.display()))?;
                Box::new(SqliteStore::open(&data_dir.join("events.sqlite"))?)
            }
            StoreLocation::Postgres(url) => Box::new(PostgresStore::connect(url)?),
        })
    }

    /// Opens an existing store for reading (exports): a missing SQLite file is an error
    /// rather than a new empty log.
    pub(crate) fn open_existing(&self, data_dir: &Path) -> anyhow::Result<Box<dyn EventStore>> {
        if *self == StoreLocation::Sqlite {
            let path = data_dir.join("events.sqlite");
            if !path.exists() {
                anyhow::bail!(
                    "no event log at {} (use --data-dir or --event-store)",
                    path.display()
                );
            }
        }
        self.open(data_dir)
    }
}

/// The URL without its password, for logs.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}{user}@{}", &url[..s + 3], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The behaviour every backend must have; run by each backend's tests.
    pub(crate) fn store_contract(store: &mut dyn EventStore) {
        assert_eq!(
            store.schema_version().unwrap(),
            MIGRATIONS.last().unwrap().version
        );
        let row = |ts: i64, call: &str, seq: i64, kind: &str| Row {
            ts_ms: ts,
            call: call.into(),
            call_seq: seq,
            queue: "q".into(),
            agent: String::new(),
            tenant: String::new(),
            kind: kind.into(),
            data: r#"{"caller":"1","dnis":"2"}"#.into(),
            schema: 1,
        };
        assert_eq!(store.last_id().unwrap(), 0);
        let first = store
            .append_batch(&[
                row(10, "c1", 1, "call.start"),
                row(20, "c2", 1, "call.start"),
                row(30, "c1", 2, "call.connected"),
            ])
            .unwrap();
        let second = store
            .append_batch(&[Row {
                tenant: "acme".into(),
                ..row(40, "c1", 3, "call.end")
            }])
            .unwrap();
        let all = store.read_range(None, None).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3].tenant, "acme");
        assert_eq!(all[0].tenant, "");
        assert!(all.windows(2).all(|w| w[0].id < w[1].id));
        let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
        assert_eq!(
            [first, second].concat(),
            ids,
            "append_batch returns the ids given"
        );
        assert_eq!(store.last_id().unwrap(), ids[3]);
        let page = store.read_after(ids[0], 2).unwrap();
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), &ids[1..3]);
        assert_eq!(store.read_after(ids[2], 10).unwrap().len(), 1);
        assert!(store.read_after(ids[3], 10).unwrap().is_empty());
        assert!(matches!(
            page[0].event,
            Some(switchboard_events::Event::CallStart(_))
        ));
        assert_eq!(all[0].data["caller"], "1");
        assert!(matches!(
            all[0].event,
            Some(switchboard_events::Event::CallStart(_))
        ));
        let window = store.read_range(Some(20), Some(40)).unwrap();
        assert_eq!(
            window.iter().map(|e| e.ts_ms).collect::<Vec<_>>(),
            vec![20, 30]
        );
        let first = store.read_page(0, 100, 0, 2).unwrap();
        assert_eq!(first.iter().map(|e| e.ts_ms).collect::<Vec<_>>(), [10, 20]);
        let rest = store.read_page(0, 100, first[1].id, 2).unwrap();
        assert_eq!(rest.iter().map(|e| e.ts_ms).collect::<Vec<_>>(), [30, 40]);
        assert!(store.read_page(0, 100, rest[1].id, 2).unwrap().is_empty());
        let calls = store.read_kind_prefix("call.").unwrap();
        assert_eq!(calls.len(), 4);
        let ends = store.read_kind_prefix("call.e").unwrap();
        assert_eq!(ends.len(), 1);
        assert!(store.read_kind_prefix("call%").unwrap().is_empty());
        assert!(store.read_kind_prefix("callback.").unwrap().is_empty());
        let c1 = store.read_call("c1").unwrap();
        assert_eq!(
            c1.iter().map(|e| e.call_seq).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        let mut seqs = store.max_call_seqs().unwrap();
        seqs.sort();
        assert_eq!(seqs, vec![("c1".to_string(), 3), ("c2".to_string(), 1)]);
        let open = store.open_calls().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].call, "c2");
        // Previous calls of a number: newest first, only call.start rows count.
        let from = |ts: i64, call: &str, caller: &str| Row {
            data: format!(r#"{{"caller":"{caller}","dnis":"2"}}"#),
            ..row(ts, call, 1, "call.start")
        };
        store
            .append_batch(&[
                from(50, "c3", "+100"),
                from(60, "c4", "+200"),
                from(70, "c5", "+100"),
                Row {
                    data: r#"{"caller":"+100"}"#.into(),
                    ..row(80, "c5", 2, "call.internal")
                },
            ])
            .unwrap();
        assert_eq!(store.calls_from_number("+100", 5).unwrap(), ["c5", "c3"]);
        assert_eq!(store.calls_from_number("+100", 1).unwrap(), ["c5"]);
        assert_eq!(store.calls_from_number("+200", 5).unwrap(), ["c4"]);
        assert!(store.calls_from_number("+300", 5).unwrap().is_empty());
        assert_eq!(store.calls_from_number("1", 5).unwrap(), ["c2", "c1"]);
    }

    /// `ended` calls that started and ended (in batches of 512 rows, some calls starting
    /// in one batch and ending in the next), and three left open by a "crash", one of
    /// them bridged: `open_calls` finds exactly the three, and closing them (what the
    /// writer does at start) logs each one's `call.end` `crash` with its next `call_seq`
    /// and leaves nothing open.
    pub(crate) fn open_calls_among_many_ended(store: &mut dyn EventStore, ended: usize) {
        let row = |ts: i64, call: String, seq: i64, kind: &str| Row {
            ts_ms: ts,
            call,
            call_seq: seq,
            queue: "sales".into(),
            agent: String::new(),
            tenant: String::new(),
            kind: kind.into(),
            data: r#"{"caller":"1","dnis":"2"}"#.into(),
            schema: 1,
        };
        let mut rows = Vec::with_capacity(ended * 2 + 8);
        for i in 0..ended {
            let call = format!("e{i}");
            rows.push(row(i as i64, call.clone(), 1, "call.start"));
            rows.push(Row {
                data: r#"{"end_reason":"caller_hangup","disposition":"answered"}"#.into(),
                ..row(i as i64 + 1, call, 2, "call.end")
            });
        }
        let t = ended as i64 + 10;
        for (n, call) in ["o1", "o2", "o3"].iter().enumerate() {
            rows.push(row(t + n as i64, call.to_string(), 1, "call.start"));
        }
        rows.push(Row {
            agent: "1001".into(),
            ..row(t + 5, "o2".into(), 2, "call.bridge")
        });
        for chunk in rows.chunks(511) {
            store.append_batch(chunk).unwrap();
        }
        let open = store.open_calls().unwrap();
        let mut ids: Vec<&str> = open.iter().map(|o| o.call.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["o1", "o2", "o3"]);
        let o2 = open.iter().find(|o| o.call == "o2").unwrap();
        assert!(o2.bridged);
        assert_eq!((o2.agent.as_str(), o2.last_seq), ("1001", 2));
        let closed = crate::event_log::close_crashed_calls(store).unwrap();
        assert_eq!(closed, 3);
        assert!(store.open_calls().unwrap().is_empty());
        for (call, seq) in [("o1", 2), ("o2", 3), ("o3", 2)] {
            let evs = store.read_call(call).unwrap();
            let end = evs.last().unwrap();
            assert_eq!(
                (end.kind.as_str(), end.call_seq),
                ("call.end", seq),
                "{call}"
            );
            assert_eq!(end.data["end_reason"], "crash");
        }
        assert_eq!(crate::event_log::close_crashed_calls(store).unwrap(), 0);
    }

    /// Appends `n` rows in batches of 512 (the writer's batch size); returns rows/s.
    /// `cargo test -p switchboard -- --ignored --nocapture append_rate` (with
    /// `SWITCHBOARD_TEST_POSTGRES` set to measure PostgreSQL too).
    pub(crate) fn append_rate(store: &mut dyn EventStore, n: usize) -> f64 {
        let rows: Vec<Row> = (0..n)
            .map(|i| Row {
                ts_ms: i as i64,
                call: format!("c{}", i / 12),
                call_seq: (i % 12) as i64 + 1,
                queue: "sales".into(),
                agent: "1001".into(),
                tenant: String::new(),
                kind: "queue.prediction".into(),
                data: r#"{"position":1,"bound_s":42.0,"waited_s":3.5}"#.into(),
                schema: 1,
            })
            .collect();
        let t = std::time::Instant::now();
        for chunk in rows.chunks(512) {
            store.append_batch(chunk).unwrap();
        }
        n as f64 / t.elapsed().as_secs_f64()
    }

    #[test]
    #[ignore = "a measurement, not a check"]
    fn append_rate_of_each_backend() {
        let dir = std::env::temp_dir().join(format!("sb-rate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        println!("sqlite: {:.0} rows/s", append_rate(&mut s, 50_000));
        let _ = std::fs::remove_dir_all(&dir);
        if let Ok(url) = std::env::var("SWITCHBOARD_TEST_POSTGRES") {
            let mut p = PostgresStore::connect(&url).unwrap();
            println!("postgres: {:.0} rows/s", append_rate(&mut p, 50_000));
        }
    }

    #[test]
    fn locations_parse_and_urls_are_redacted() {
        assert_eq!(
            StoreLocation::parse("sqlite").unwrap(),
            StoreLocation::Sqlite
        );
        assert_eq!(StoreLocation::parse("").unwrap(), StoreLocation::Sqlite);
        assert!(matches!(
            StoreLocation::parse("postgres://u@h:5432/db").unwrap(),
            StoreLocation::Postgres(_)
        ));
        assert!(StoreLocation::parse("mysql://x").is_err());
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.what);
        }
    }
}
