//! What finding the calls a crash left open costs at start on a long SQLite log: a
//! measurement, run by hand (`cargo test -p switchboard -- --ignored --nocapture
//! start_cost`), figures in benches/README.md.

use std::collections::HashMap;
use std::time::Instant;

use super::{EventStore, Row, SqliteStore};

/// `calls` calls of ten events each (start ... end), the last `open` of them without
/// their end.
fn fill(store: &mut dyn EventStore, calls: usize, open: usize) {
    let mut rows = Vec::with_capacity(5120);
    for c in 0..calls {
        let last = if c + open >= calls { 9 } else { 10 };
        for seq in 1..=last {
            let kind = match seq {
                1 => "call.start",
                10 => "call.end",
                _ => "queue.prediction",
            };
            rows.push(Row {
                ts_ms: (c * 10 + seq) as i64,
                call: format!("c{c}"),
                call_seq: seq as i64,
                queue: "sales".into(),
                agent: String::new(),
                tenant: String::new(),
                kind: kind.into(),
                data: r#"{"caller":"1","dnis":"2","position":1}"#.into(),
                schema: 1,
            });
            if rows.len() == 5120 {
                store.append_batch(&rows).unwrap();
                rows.clear();
            }
        }
    }
    store.append_batch(&rows).unwrap();
}

/// What the server did at start before the open-call markers: every call's highest
/// sequence, then every call read back to see whether it ended.
fn scan_every_call(store: &mut dyn EventStore) -> usize {
    let seqs: HashMap<String, i64> = store.max_call_seqs().unwrap().into_iter().collect();
    let mut open = 0;
    for call in seqs.keys() {
        let evs = store.read_call(call).unwrap();
        if evs.iter().any(|e| e.kind == "call.start") && !evs.iter().any(|e| e.kind == "call.end") {
            open += 1;
        }
    }
    open
}

#[test]
#[ignore = "a measurement, not a check"]
fn start_cost_on_a_million_event_log() {
    let dir = std::env::temp_dir().join(format!("sb-start-cost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.sqlite");
    let mut s = SqliteStore::open(&path).unwrap();
    fill(&mut s, 100_000, 5);
    let t = Instant::now();
    let scanned = scan_every_call(&mut s);
    let before = t.elapsed();
    // Back to a log written before migration 5 (no markers), then the upgrade fills them
    // once at the next open.
    s.conn
        .execute_batch("DROP TABLE open_calls; DELETE FROM schema_migrations WHERE version = 5;")
        .unwrap();
    drop(s);
    let t = Instant::now();
    let mut s = SqliteStore::open(&path).unwrap();
    let upgrade = t.elapsed();
    let t = Instant::now();
    let open = s.open_calls().unwrap();
    let after = t.elapsed();
    assert_eq!((open.len(), scanned), (5, 5));
    let events = s.last_id().unwrap();
    println!(
        "{events} events, 100,000 calls, {} open: every call scanned {before:?}; \
         migration 5 (once) {upgrade:?}; open_calls from the markers {after:?}",
        open.len()
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
