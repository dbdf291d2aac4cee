//! The append-only event log: one ordered stream of every call, queue, agent and
//! announcement event, in SQLite (`<data-dir>/events.sqlite`). CDRs, the Asterisk-style
//! queue_log and the recordings index are derived from it and only from it.
//!
//! Writers never block: events go over a channel to one blocking thread that owns the
//! connection and commits in small batches.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rusqlite::{params, Connection};
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
            kind,
            data,
            event,
        }
    }
}

/// An event to append: the typed event and the call, queue and agent it concerns.
#[derive(Clone, Debug)]
pub(crate) struct NewEvent {
    pub(crate) call: String,
    pub(crate) queue: String,
    pub(crate) agent: String,
    pub(crate) event: Event,
}

impl NewEvent {
    /// An event of call `call` (empty for events outside a call).
    pub(crate) fn call(call: &str, event: Event) -> NewEvent {
        NewEvent {
            call: call.to_string(),
            queue: String::new(),
            agent: String::new(),
            event,
        }
    }
    /// An event outside any call (agents, the dialplan, the process).
    pub(crate) fn system(event: Event) -> NewEvent {
        NewEvent::call("", event)
    }
    pub(crate) fn queue(mut self, q: &str) -> NewEvent {
        self.queue = q.to_string();
        self
    }
    pub(crate) fn agent(mut self, a: &str) -> NewEvent {
        self.agent = a.to_string();
        self
    }
}

enum Cmd {
    Append(i64, Box<NewEvent>),
    Flush(mpsc::Sender<()>),
}

/// Handle for appending; cheap to clone.
#[derive(Clone)]
pub(crate) struct EventLog {
    tx: mpsc::Sender<Cmd>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
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
CREATE INDEX IF NOT EXISTS events_ts ON events(ts_ms);
";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

impl EventLog {
    /// Opens (creating) the log and starts its writer thread.
    pub(crate) fn start(path: &Path) -> anyhow::Result<EventLog> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = open(path)?;
        let (tx, rx) = mpsc::channel::<Cmd>();
        std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || writer(conn, rx))?;
        Ok(EventLog { tx })
    }

    /// Appends an event (never blocks the caller).
    pub(crate) fn append(&self, ev: NewEvent) {
        let _ = self.tx.send(Cmd::Append(now_ms(), Box::new(ev)));
    }

    /// Waits until everything appended so far is committed.
    pub(crate) fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Cmd::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }
}

fn writer(mut conn: Connection, rx: mpsc::Receiver<Cmd>) {
    let mut seqs: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    // Resume per-call sequence numbers after a restart.
    if let Ok(mut st) = conn.prepare("SELECT call, MAX(call_seq) FROM events GROUP BY call") {
        if let Ok(rows) = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))) {
            for (c, s) in rows.flatten() {
                seqs.insert(c, s);
            }
        }
    }
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 512 {
                break;
            }
        }
        let mut flushes = Vec::new();
        if let Ok(txn) = conn.transaction() {
            for cmd in batch {
                match cmd {
                    Cmd::Append(ts, ev) => {
                        let seq = if ev.call.is_empty() {
                            0
                        } else {
                            let s = seqs.entry(ev.call.clone()).or_insert(0);
                            *s += 1;
                            *s
                        };
                        let _ = txn.execute(
                            "INSERT INTO events (ts_ms, call, call_seq, queue, agent, kind, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![ts, ev.call, seq, ev.queue, ev.agent, ev.event.kind(), ev.event.data().to_string()],
                        );
                    }
                    Cmd::Flush(done) => flushes.push(done),
                }
            }
            let _ = txn.commit();
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// Reads events in order, optionally within [from, to) unix ms.
pub(crate) fn read_events(
    conn: &Connection,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> anyhow::Result<Vec<StoredEvent>> {
    let mut st = conn.prepare(
        "SELECT id, ts_ms, call, call_seq, queue, agent, kind, data FROM events
         WHERE ts_ms >= ?1 AND ts_ms < ?2 ORDER BY id",
    )?;
    let rows = st.query_map(
        params![from_ms.unwrap_or(i64::MIN), to_ms.unwrap_or(i64::MAX)],
        |r| {
            let data: String = r.get(7)?;
            Ok(StoredEvent::new(
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                serde_json::from_str(&data).unwrap_or(Value::Null),
            ))
        },
    )?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_ordered_with_gap_free_call_sequences() {
        let dir = std::env::temp_dir().join(format!("sb-evlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("events.sqlite");
        let log = EventLog::start(&path).unwrap();
        let start = Event::CallStart(switchboard_events::CallStart::default());
        log.append(NewEvent::call("c1", start.clone()));
        log.append(NewEvent::call("c2", start));
        log.append(
            NewEvent::call(
                "c1",
                Event::QueueJoin {
                    position: 1,
                    resumed: false,
                },
            )
            .queue("sales"),
        );
        log.append(NewEvent::call(
            "c1",
            Event::CallEnd(switchboard_events::CallEnd::new(
                switchboard_events::EndReason::CallerHangup,
                switchboard_events::Disposition::Ivr,
            )),
        ));
        log.flush();
        let conn = open(&path).unwrap();
        let evs = read_events(&conn, None, None).unwrap();
        assert_eq!(evs.len(), 4);
        let c1: Vec<i64> = evs
            .iter()
            .filter(|e| e.call == "c1")
            .map(|e| e.call_seq)
            .collect();
        assert_eq!(c1, vec![1, 2, 3]);
        assert_eq!(evs[2].queue, "sales");
        assert!(evs.windows(2).all(|w| w[0].id < w[1].id));
    }
}
