//! Test fixtures for the exporters: a scratch event store (SQLite, or PostgreSQL when
//! `SWITCHBOARD_TEST_POSTGRES` is set) and canned calls.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::{json, Value};

use crate::event_store::EventStore;

/// A throwaway event log in a temp file, written row by row with explicit times.
/// A scratch event store for one test: SQLite, or, when `SWITCHBOARD_TEST_POSTGRES`
/// names a database (scripts/test runs this suite a second time that way), a schema
/// of its own in PostgreSQL. The same tests thus check both backends.
pub(super) struct TestLog {
    path: PathBuf,
    pub(super) store: Box<dyn EventStore>,
    seqs: HashMap<String, i64>,
    /// The `tenant` column of the rows appended from now on.
    pub(super) tenant: String,
    /// Declared after `store`, so the store closes before its schema is dropped.
    _pg_schema: Option<crate::event_store::TestSchema>,
}

impl TestLog {
    pub(super) fn new(name: &str) -> TestLog {
        let dir = std::env::temp_dir().join(format!("sb-export-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(schema) = crate::event_store::TestSchema::create(&format!("sb_export_{name}")) {
            return TestLog {
                path: dir,
                store: Box::new(schema.store()),
                seqs: HashMap::new(),
                tenant: String::new(),
                _pg_schema: Some(schema),
            };
        }
        let store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        TestLog {
            path: dir,
            store: Box::new(store),
            seqs: HashMap::new(),
            tenant: String::new(),
            _pg_schema: None,
        }
    }

    /// Appends with the next call_seq for the call (0 for non-call events).
    pub(super) fn ev(
        &mut self,
        ts: i64,
        call: &str,
        queue: &str,
        agent: &str,
        kind: &str,
        data: Value,
    ) {
        let seq = if call.is_empty() {
            0
        } else {
            let s = self.seqs.entry(call.to_string()).or_insert(0);
            *s += 1;
            *s
        };
        self.raw(ts, call, seq, queue, agent, kind, &data.to_string());
    }

    /// Appends one row as given (any `data` text, even invalid JSON).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn raw(
        &mut self,
        ts: i64,
        call: &str,
        seq: i64,
        queue: &str,
        agent: &str,
        kind: &str,
        data: &str,
    ) {
        self.store
            .append_batch(&[crate::event_store::Row {
                ts_ms: ts,
                call: call.into(),
                call_seq: seq,
                queue: queue.into(),
                agent: agent.into(),
                tenant: self.tenant.clone(),
                kind: kind.into(),
                data: data.into(),
                schema: switchboard_events::SCHEMA_VERSION,
            }])
            .unwrap();
    }
}

impl Drop for TestLog {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// 2026-11-23T10:00:00Z in unix ms.
pub(super) const T0: i64 = 1_795_428_000_000;

/// Answered call 1: IVR digit, queue, one failed ring, bridged to bob, recorded,
/// caller hangs up.
pub(super) fn answered_call(log: &mut TestLog, call: &str, t: i64) {
    log.ev(
        t,
        call,
        "",
        "",
        "call.start",
        json!({"caller": "+15550001", "dnis": "100", "sip_call_id": "x@y"}),
    );
    log.ev(
        t + 100,
        call,
        "",
        "",
        "call.answer",
        json!({"codec": "PCMU"}),
    );
    log.ev(
        t + 2_000,
        call,
        "",
        "",
        "dtmf",
        json!({"digit": "1", "via": "rfc4733"}),
    );
    log.ev(
        t + 3_000,
        call,
        "sales",
        "",
        "queue.join",
        json!({"position": 2, "resumed": false}),
    );
    log.ev(
        t + 3_100,
        call,
        "sales",
        "",
        "queue.announce",
        json!({"position": 2, "ewt_bound_s": 60, "spoken": "about 1 minute"}),
    );
    log.ev(t + 10_000, call, "sales", "alice", "queue.offer", json!({}));
    log.ev(t + 10_050, call, "sales", "alice", "agent.ring", json!({}));
    log.ev(
        t + 25_050,
        call,
        "sales",
        "alice",
        "agent.ring_failed",
        json!({"status": 408}),
    );
    log.ev(t + 25_060, call, "", "alice", "queue.rona", json!({}));
    log.ev(
        t + 30_000,
        call,
        "sales",
        "",
        "queue.prediction",
        json!({"position": 1, "bound_s": 10.0, "waited_s": 27.0}),
    );
    log.ev(t + 31_000, call, "sales", "bob", "queue.offer", json!({}));
    log.ev(t + 31_000, call, "sales", "bob", "agent.ring", json!({}));
    log.ev(
        t + 34_000,
        call,
        "sales",
        "bob",
        "recording.start",
        json!({"path": "/data/rec/2026-11-23/1.wav"}),
    );
    log.ev(
        t + 34_000,
        call,
        "sales",
        "bob",
        "call.bridge",
        json!({"wait_s": 34.0}),
    );
    log.ev(
        t + 94_000,
        call,
        "sales",
        "bob",
        "call.end",
        json!({"end_reason": "caller_hangup", "duration_s": 94.0, "disposition": "answered", "talk_s": 60.0,
               "recording": "/data/rec/2026-11-23/1.wav"}),
    );
    log.ev(
        t + 94_001,
        call,
        "sales",
        "",
        "queue.waited",
        json!({"waited_s": 31.0, "outcome": "Answered"}),
    );
}

pub(super) fn transferred_call(log: &mut TestLog) {
    let c = "30";
    log.ev(T0, c, "", "", "call.start", json!({"caller": "3030"}));
    log.ev(
        T0 + 1_000,
        c,
        "sales",
        "",
        "queue.join",
        json!({"position": 1}),
    );
    log.ev(T0 + 1_000, c, "sales", "bob", "agent.ring", json!({}));
    log.ev(T0 + 5_000, c, "sales", "bob", "call.bridge", json!({}));
    log.ev(T0 + 8_000, c, "sales", "bob", "call.connected", json!({}));
    log.ev(
        T0 + 68_000,
        c,
        "sales",
        "bob",
        "call.transfer",
        json!({"kind": "blind", "to_queue": "billing"}),
    );
    log.ev(
        T0 + 68_100,
        c,
        "billing",
        "",
        "queue.join",
        json!({"position": 2}),
    );
    log.ev(T0 + 80_100, c, "billing", "carol", "agent.ring", json!({}));
    log.ev(T0 + 82_100, c, "billing", "carol", "call.bridge", json!({}));
    log.ev(
        T0 + 82_100,
        c,
        "billing",
        "carol",
        "call.connected",
        json!({}),
    );
    log.ev(
        T0 + 122_100,
        c,
        "billing",
        "carol",
        "call.end",
        json!({"end_reason": "agent_hangup", "disposition": "answered", "talk_s": 40.0}),
    );
    log.ev(
        T0 + 123_000,
        c,
        "billing",
        "carol",
        "screenpop.failed",
        json!({"error": "timeout"}),
    );
}

pub(super) fn csv_rows(s: &str) -> Vec<Vec<String>> {
    // Enough of a reader for the tests: no embedded newlines in these fixtures.
    s.split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

pub(super) fn col(rows: &[Vec<String>], row: usize, name: &str) -> String {
    let i = rows[0].iter().position(|h| h == name).unwrap();
    rows[row][i].clone()
}
