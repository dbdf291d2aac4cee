//! `switchboard export check`: every call has an end and a complete, gap-free sequence.

use std::collections::{BTreeMap, HashMap};

use super::{iso, AFTER_END_PREFIXES, MAX_PROBLEMS_PER_CALL};
use crate::event_store::EventStore;
use crate::event_store::StoredEvent;

// ---------------------------------------------------------------------------------------
// Consistency check
// ---------------------------------------------------------------------------------------

/// Fails every started call without a `call.end`, and checks every finished call in the
/// whole log: its events carry
/// `call_seq` 1..n in log order with no gap or duplicate, the first is `call.start`, nothing
/// but `queue.*` and `screenpop.*` bookkeeping follows the single `call.end`, and
/// timestamps never go back.
/// Also checks that events outside a call have `call_seq` 0. Returns one line per problem
/// (at most a few per call); empty means healthy.
pub(crate) fn check_call_sequences(store: &mut dyn EventStore) -> Vec<String> {
    let events = match store.read_range(None, None) {
        Ok(e) => e,
        Err(e) => return vec![format!("cannot read the event log: {e:#}")],
    };
    let mut problems = Vec::new();
    let mut by_call: BTreeMap<&str, Vec<&StoredEvent>> = BTreeMap::new();
    for ev in &events {
        if ev.call.is_empty() {
            if ev.call_seq != 0 {
                problems.push(format!(
                    "event {} ({}) has no call but call_seq {}",
                    ev.id, ev.kind, ev.call_seq
                ));
            }
        } else {
            by_call.entry(ev.call.as_str()).or_default().push(ev);
        }
    }
    for (call, evs) in &by_call {
        if evs.iter().any(|e| e.kind == "call.end") {
            let mut p = check_one_call(evs);
            p.truncate(MAX_PROBLEMS_PER_CALL);
            problems.extend(p.into_iter().map(|m| format!("call {call}: {m}")));
        } else if evs.iter().any(|e| e.kind == "call.start") {
            problems.push(format!(
                "call {call}: no call.end (still in progress, or the server stopped and has \
                 not been restarted to close it)"
            ));
        }
    }
    problems
}

/// Problems in one call's events (given in log order).
fn check_one_call(evs: &[&StoredEvent]) -> Vec<String> {
    let mut p = Vec::new();
    let mut seen: HashMap<i64, i64> = HashMap::new();
    for (i, e) in evs.iter().enumerate() {
        let expected = i as i64 + 1;
        if let Some(first) = seen.insert(e.call_seq, e.id) {
            p.push(format!(
                "duplicate call_seq {} (events {first} and {})",
                e.call_seq, e.id
            ));
        } else if e.call_seq != expected {
            p.push(format!(
                "event {} ({}) has call_seq {}, expected {expected}",
                e.id, e.kind, e.call_seq
            ));
        }
    }
    let mut ordered: Vec<&StoredEvent> = evs.to_vec();
    ordered.sort_by_key(|e| (e.call_seq, e.id));
    match ordered.first() {
        Some(first) if first.kind != "call.start" => {
            p.push(format!(
                "first event is {} (id {}), not call.start",
                first.kind, first.id
            ));
        }
        _ => {}
    }
    let ends = ordered.iter().filter(|e| e.kind == "call.end").count();
    if ends > 1 {
        p.push(format!("{ends} call.end events"));
    }
    if let Some(end_at) = ordered.iter().position(|e| e.kind == "call.end") {
        for e in ordered.iter().skip(end_at + 1) {
            let bookkeeping = AFTER_END_PREFIXES.iter().any(|p| e.kind.starts_with(p));
            if !bookkeeping && e.kind != "call.end" {
                p.push(format!("{} (id {}) after call.end", e.kind, e.id));
            }
        }
    }
    for w in ordered.windows(2) {
        if let [a, b] = w {
            if b.ts_ms < a.ts_ms {
                p.push(format!(
                    "time goes back from {} (seq {}) to {} (seq {})",
                    iso(a.ts_ms),
                    a.call_seq,
                    iso(b.ts_ms),
                    b.call_seq
                ));
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::super::test_log::*;
    use super::super::*;
    use super::*;
    use serde_json::json;

    #[test]
    fn check_passes_a_healthy_log() {
        let mut log = TestLog::new("check-ok");
        log.ev(T0 - 1, "", "", "", "system.start", json!({}));
        log.ev(T0 - 1, "", "", "bob", "agent.login", json!({}));
        answered_call(&mut log, "1", T0);
        answered_call(&mut log, "2", T0 + 500);
        assert_eq!(
            check_call_sequences(log.store.as_mut()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn check_finds_gaps_duplicates_and_disorder() {
        let mut log = TestLog::new("check-bad");
        // Gap: 1, 3.
        log.raw(T0, "1", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "1", 3, "", "", "call.end", "{}");
        // Duplicate 2.
        log.raw(T0, "2", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "2", 2, "", "", "dtmf", "{}");
        log.raw(T0 + 2, "2", 2, "", "", "call.end", "{}");
        // Does not start with call.start.
        log.raw(T0, "3", 1, "", "", "call.answer", "{}");
        log.raw(T0 + 1, "3", 2, "", "", "call.end", "{}");
        // A call-level event after call.end; queue.* bookkeeping is fine.
        log.raw(T0, "4", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "4", 2, "", "", "call.end", "{}");
        log.raw(T0 + 2, "4", 3, "q", "", "queue.waited", "{}");
        log.raw(T0 + 3, "4", 4, "", "", "dtmf", "{}");
        // Time goes back.
        log.raw(T0 + 10, "5", 1, "", "", "call.start", "{}");
        log.raw(T0 + 5, "5", 2, "", "", "call.end", "{}");
        // Two call.end.
        log.raw(T0, "6", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "6", 2, "", "", "call.end", "{}");
        log.raw(T0 + 2, "6", 3, "", "", "call.end", "{}");
        // Agent event with a sequence number.
        log.raw(T0, "", 4, "", "bob", "agent.login", "{}");
        // A call without an end is a problem of its own (in progress, or a crash the
        // server has not closed yet).
        log.raw(T0, "7", 1, "", "", "call.start", "{}");
        let p = check_call_sequences(log.store.as_mut());
        let about = |call: &str, what: &str| {
            assert!(
                p.iter()
                    .any(|m| m.starts_with(&format!("call {call}: ")) && m.contains(what)),
                "no problem for call {call} mentioning {what:?}: {p:#?}"
            )
        };
        about("1", "call_seq 3, expected 2");
        about("2", "duplicate call_seq 2");
        about("3", "not call.start");
        about("4", "dtmf (id");
        about("5", "time goes back");
        about("6", "2 call.end events");
        assert!(
            p.iter().any(|m| m.contains("has no call but call_seq 4")),
            "{p:#?}"
        );
        assert!(!p.iter().any(|m| m.contains("queue.waited")), "{p:#?}");
        about("7", "no call.end");
        assert_eq!(p.len(), 8, "{p:#?}");
    }

    #[test]
    fn check_reports_out_of_order_sequences() {
        let mut log = TestLog::new("check-order");
        log.raw(T0, "1", 2, "", "", "dtmf", "{}");
        log.raw(T0, "1", 1, "", "", "call.start", "{}");
        log.raw(T0, "1", 3, "", "", "call.end", "{}");
        let p = check_call_sequences(log.store.as_mut());
        assert!(
            p.iter().any(|m| m.contains("has call_seq 2, expected 1")),
            "{p:#?}"
        );
        assert!(
            !p.iter().any(|m| m.contains("not call.start")),
            "sorted by seq: {p:#?}"
        );
    }

    #[test]
    fn many_interleaved_calls_export_and_check_cleanly() {
        let mut log = TestLog::new("many");
        // Deterministic interleaving: 50 calls, each starting 700 ms after the previous.
        let n = 50;
        let mut script: Vec<(i64, String, usize)> = Vec::new();
        for i in 0..n {
            let t = T0 + i as i64 * 700;
            for step in 0..5 {
                script.push((t + step as i64 * 1_300, format!("{}", 1000 + i), step));
            }
        }
        script.sort();
        for (t, call, step) in &script {
            let (kind, queue, agent, data) = match step {
                0 => ("call.start", "", "", json!({"caller": call})),
                1 => ("queue.join", "q", "", json!({"position": 1})),
                2 => ("agent.ring", "q", "a", json!({})),
                3 => ("call.bridge", "q", "a", json!({})),
                _ => (
                    "call.end",
                    "q",
                    "a",
                    json!({"end_reason": "caller_hangup", "disposition": "answered", "talk_s": 1.3}),
                ),
            };
            log.ev(*t, call, queue, agent, kind, data);
        }
        assert!(check_call_sequences(log.store.as_mut()).is_empty());
        let cdr = export_cdr(log.store.as_mut(), None, None).unwrap();
        assert_eq!(cdr.lines().count(), n + 1);
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        assert_eq!(ql.matches("|ENTERQUEUE|").count(), n);
        assert_eq!(ql.matches("|CONNECT|2|").count(), n);
        assert_eq!(ql.matches("|COMPLETECALLER|2|1|1\n").count(), n);
    }
}
