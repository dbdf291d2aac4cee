//! Tests of the call detail records and the recordings index.

use super::cdr::CDR_HEADER;
use super::test_log::*;
use super::{check_call_sequences, export_cdr, export_queue_log, recordings_index};
use serde_json::{json, Value};

#[test]
fn cdr_of_an_answered_call_has_every_column() {
    let mut log = TestLog::new("cdr-answered");
    answered_call(&mut log, "1", T0);
    let csv = export_cdr(log.store.as_mut(), None, None).unwrap();
    let rows = csv_rows(&csv);
    assert_eq!(
        rows[0],
        CDR_HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(col(&rows, 1, "call_id"), "1");
    assert_eq!(col(&rows, 1, "start"), "2026-11-23T10:00:00.000Z");
    assert_eq!(col(&rows, 1, "answer"), "2026-11-23T10:00:00.100Z");
    assert_eq!(col(&rows, 1, "bridge"), "2026-11-23T10:00:34.000Z");
    assert_eq!(col(&rows, 1, "end"), "2026-11-23T10:01:34.000Z");
    assert_eq!(col(&rows, 1, "caller"), "+15550001");
    assert_eq!(col(&rows, 1, "dnis"), "100");
    assert_eq!(col(&rows, 1, "queue"), "sales");
    assert_eq!(col(&rows, 1, "agent"), "bob");
    assert_eq!(col(&rows, 1, "disposition"), "answered");
    assert_eq!(col(&rows, 1, "wait_s"), "31.000");
    assert_eq!(col(&rows, 1, "talk_s"), "60.000");
    assert_eq!(col(&rows, 1, "duration_s"), "94.000");
    assert_eq!(col(&rows, 1, "hangup_by"), "caller");
    assert_eq!(col(&rows, 1, "end_reason"), "caller_hangup");
    assert_eq!(col(&rows, 1, "recording"), "/data/rec/2026-11-23/1.wav");
    assert_eq!(col(&rows, 1, "dtmf"), "1");
}

#[test]
fn cdr_of_abandoned_ivr_and_rejected_calls() {
    let mut log = TestLog::new("cdr-other");
    // Abandoned while queued: wait runs to the end.
    log.ev(
        T0,
        "2",
        "",
        "",
        "call.start",
        json!({"caller": "200", "dnis": "100"}),
    );
    log.ev(
        T0 + 1_000,
        "2",
        "support",
        "",
        "queue.join",
        json!({"position": 1}),
    );
    log.ev(
        T0 + 20_500,
        "2",
        "support",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "duration_s": 20.5, "disposition": "abandoned"}),
    );
    // IVR only, two digits, we hung up.
    log.ev(
        T0 + 100,
        "3",
        "",
        "",
        "call.start",
        json!({"caller": "300", "dnis": "101"}),
    );
    log.ev(
        T0 + 200,
        "3",
        "",
        "",
        "dtmf",
        json!({"digit": "4", "via": "inband"}),
    );
    log.ev(
        T0 + 300,
        "3",
        "",
        "",
        "dtmf",
        json!({"digit": "#", "via": "sip-info"}),
    );
    log.ev(T0 + 5_000, "3", "", "", "ivr.hangup", json!({}));
    log.ev(
        T0 + 5_000,
        "3",
        "",
        "",
        "call.end",
        json!({"end_reason": "local_hangup", "duration_s": 4.9, "disposition": "ivr"}),
    );
    // Refused before answer: no disposition, a status.
    log.ev(
        T0 + 200,
        "4",
        "",
        "",
        "call.start",
        json!({"caller": "400", "dnis": "102"}),
    );
    log.ev(
        T0 + 210,
        "4",
        "",
        "",
        "call.end",
        json!({"end_reason": "refused", "disposition": "refused", "detail": "no dialplan loaded", "status": 480}),
    );
    // Agent hangs up an answered call.
    log.ev(
        T0 + 300,
        "5",
        "",
        "",
        "call.start",
        json!({"caller": "500", "dnis": "100"}),
    );
    log.ev(
        T0 + 400,
        "5",
        "sales",
        "",
        "queue.join",
        json!({"position": 1}),
    );
    log.ev(T0 + 900, "5", "sales", "carol", "call.bridge", json!({}));
    log.ev(
        T0 + 10_900,
        "5",
        "sales",
        "carol",
        "call.end",
        json!({"end_reason": "agent_hangup", "disposition": "answered", "talk_s": 10.0}),
    );
    let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(rows.len(), 5);
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["2", "3", "4", "5"]);

    assert_eq!(col(&rows, 1, "disposition"), "abandoned");
    assert_eq!(col(&rows, 1, "wait_s"), "19.500");
    assert_eq!(col(&rows, 1, "talk_s"), "");
    assert_eq!(col(&rows, 1, "hangup_by"), "caller");
    assert_eq!(col(&rows, 1, "queue"), "support");
    assert_eq!(col(&rows, 1, "bridge"), "");

    assert_eq!(col(&rows, 2, "disposition"), "ivr");
    assert_eq!(col(&rows, 2, "dtmf"), "4#");
    assert_eq!(col(&rows, 2, "wait_s"), "");
    assert_eq!(col(&rows, 2, "hangup_by"), "system");
    assert_eq!(col(&rows, 2, "duration_s"), "4.900");

    assert_eq!(col(&rows, 3, "disposition"), "refused");
    assert_eq!(col(&rows, 3, "duration_s"), "0.010");
    assert_eq!(col(&rows, 3, "answer"), "");

    assert_eq!(col(&rows, 4, "hangup_by"), "agent");
    assert_eq!(col(&rows, 4, "agent"), "carol");
    assert_eq!(col(&rows, 4, "wait_s"), "0.500");
}

#[test]
fn cdr_shows_the_last_agent_disposition_in_the_last_columns() {
    let mut log = TestLog::new("cdr-disposition");
    answered_call(&mut log, "1", T0);
    answered_call(&mut log, "2", T0 + 1);
    // Set during wrap-up, after call.end; the second code replaces the first.
    for (code, notes) in [("no-sale", ""), ("sale", "two seats")] {
        log.ev(
            T0 + 200_000,
            "1",
            "sales",
            "bob",
            "call.disposition",
            json!({"code": code, "notes": notes, "by": "demo-agent-1001"}),
        );
    }
    let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(rows[0].len(), 26);
    assert_eq!(rows[0][17], "agent_disposition");
    assert_eq!(rows[0][18], "disposition_notes");
    assert_eq!(col(&rows, 1, "agent_disposition"), "sale");
    assert_eq!(col(&rows, 1, "disposition_notes"), "two seats");
    assert_eq!(col(&rows, 1, "disposition"), "answered");
    assert_eq!(col(&rows, 2, "agent_disposition"), "");
    assert_eq!(col(&rows, 1, "tenant"), "", "an untenanted call");
}

#[test]
fn cdr_names_the_call_s_tenant_from_its_events() {
    let mut log = TestLog::new("cdr-tenant");
    log.ev(
        T0,
        "7",
        "",
        "",
        "call.start",
        json!({"caller": "+1", "dnis": "2"}),
    );
    log.tenant = "acme".into();
    log.ev(
        T0 + 1,
        "7",
        "",
        "",
        "ivr.start",
        json!({"dialplan": "o", "block": "acme"}),
    );
    log.ev(
        T0 + 2_000,
        "7",
        "",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "ivr"}),
    );
    let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(rows[0].last().map(String::as_str), Some("tenant"));
    assert_eq!(col(&rows, 1, "tenant"), "acme");
}

#[test]
fn cdr_has_each_legs_loss_and_jitter_in_the_last_columns() {
    let mut log = TestLog::new("cdr-quality");
    log.ev(T0, "1", "", "", "call.start", json!({"caller": "1001"}));
    log.ev(
        T0 + 10_000,
        "1",
        "sales",
        "bob",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "answered", "quality": [
            {"leg": "caller", "packets": 490, "bytes": 84280, "lost": 10, "jitter_ms": 1.234},
            {"leg": "agent", "packets": 500, "bytes": 86000, "lost": 0, "jitter_ms": 0.5,
             "peer_reported_lost": 2}
        ]}),
    );
    // Stored before `quality` existed: empty cells.
    log.ev(T0 + 1, "2", "", "", "call.start", json!({}));
    log.ev(
        T0 + 2,
        "2",
        "",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "ivr"}),
    );
    let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(
        rows[0][19..23],
        [
            "caller_loss_pct",
            "caller_jitter_ms",
            "agent_loss_pct",
            "agent_jitter_ms"
        ]
    );
    assert_eq!(col(&rows, 1, "caller_loss_pct"), "2.00");
    assert_eq!(col(&rows, 1, "caller_jitter_ms"), "1.23");
    assert_eq!(col(&rows, 1, "agent_loss_pct"), "0.00");
    assert_eq!(col(&rows, 1, "agent_jitter_ms"), "0.50");
    assert_eq!(rows[2][19..23], ["", "", "", ""]);
}

#[test]
fn cdr_says_which_way_each_call_went() {
    let mut log = TestLog::new("cdr-direction");
    let end = json!({"end_reason": "agent_hangup", "disposition": "outbound", "talk_s": 12.5});
    log.ev(
        T0,
        "1",
        "",
        "",
        "call.start",
        json!({"caller": "1001", "dnis": "+74951234567"}),
    );
    log.ev(
        T0 + 1,
        "1",
        "",
        "1001",
        "call.outbound",
        json!({"from_agent": "1001", "number": "+74951234567"}),
    );
    log.ev(T0 + 9_000, "1", "", "1001", "call.end", end);
    log.ev(
        T0 + 2,
        "2",
        "",
        "",
        "call.start",
        json!({"caller": "+79161112233", "dnis": "100"}),
    );
    log.ev(
        T0 + 3,
        "2",
        "",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "ivr"}),
    );
    log.ev(
        T0 + 4,
        "3",
        "sales",
        "1002",
        "call.start",
        json!({"caller": "+79161112233", "callback_for": "2"}),
    );
    log.ev(
        T0 + 5,
        "3",
        "sales",
        "1002",
        "call.end",
        json!({"end_reason": "agent_hangup", "disposition": "callback"}),
    );
    log.ev(
        T0 + 6,
        "4",
        "",
        "",
        "call.start",
        json!({"caller": "1001", "dnis": "sales"}),
    );
    log.ev(
        T0 + 7,
        "4",
        "",
        "",
        "call.internal",
        json!({"from_agent": "1001"}),
    );
    log.ev(
        T0 + 8,
        "4",
        "",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "abandoned"}),
    );
    let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(rows[0][23], "direction");
    let dirs: Vec<String> = (1..=4).map(|r| col(&rows, r, "direction")).collect();
    assert_eq!(dirs, ["outbound", "inbound", "callback", "internal"]);
    assert_eq!(col(&rows, 1, "agent"), "1001");
    assert_eq!(col(&rows, 1, "dnis"), "+74951234567");
    assert_eq!(col(&rows, 1, "disposition"), "outbound");
    assert_eq!(col(&rows, 1, "talk_s"), "12.500");
}

#[test]
fn cdr_wait_stops_when_the_caller_leaves_the_queue() {
    let mut log = TestLog::new("cdr-exit");
    log.ev(T0, "6", "", "", "call.start", json!({}));
    log.ev(
        T0 + 1_000,
        "6",
        "sales",
        "",
        "queue.join",
        json!({"position": 1}),
    );
    log.ev(
        T0 + 61_000,
        "6",
        "sales",
        "",
        "queue.exit",
        json!({"reason": "max_wait", "target": "voicemail"}),
    );
    log.ev(
        T0 + 90_000,
        "6",
        "",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "ivr"}),
    );
    let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(col(&rows, 1, "wait_s"), "60.000");
    assert_eq!(col(&rows, 1, "queue"), "sales");
    assert_eq!(
        col(&rows, 1, "duration_s"),
        "90.000",
        "falls back to end - start"
    );
}

#[test]
fn cdr_window_selects_by_call_start_and_needs_call_end() {
    let mut log = TestLog::new("cdr-window");
    answered_call(&mut log, "10", T0 - 60_000); // starts before the window
    answered_call(&mut log, "11", T0 + 1_000); // inside, ends after `to`
    log.ev(T0 + 2_000, "12", "", "", "call.start", json!({})); // never ends
    answered_call(&mut log, "13", T0 + 3_600_000); // at `to`: excluded
    let to = T0 + 3_600_000;
    let rows = csv_rows(&export_cdr(log.store.as_mut(), Some(T0), Some(to)).unwrap());
    let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["11"]);
    let all = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(all.len(), 4);
}

#[test]
fn exports_survive_unknown_kinds_and_odd_data() {
    let mut log = TestLog::new("robust");
    log.ev(
        T0,
        "7",
        "",
        "",
        "call.start",
        json!({"caller": 12, "dnis": null}),
    );
    log.ev(T0 + 1, "7", "q", "", "queue.join", json!("not an object"));
    log.ev(
        T0 + 2,
        "7",
        "q",
        "",
        "queue.teleport",
        json!({"to": "mars"}),
    );
    log.ev(T0 + 3, "7", "q", "a", "call.bridge", json!([1, 2]));
    log.ev(T0 + 4, "", "", "a", "agent.state", json!({"state": 7}));
    log.ev(T0 + 5, "", "", "", "agent.login", json!({}));
    log.raw(T0 + 6, "7", 5, "q", "a", "call.end", "{not json");
    log.ev(T0 + 7, "", "", "", "system.stop", Value::Null);
    let cdr = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(cdr.len(), 2);
    assert_eq!(col(&cdr, 1, "disposition"), "unknown");
    assert_eq!(col(&cdr, 1, "caller"), "");
    assert_eq!(col(&cdr, 1, "agent"), "a");
    assert_eq!(col(&cdr, 1, "hangup_by"), "");
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    assert!(ql.contains("|7|q|NONE|ENTERQUEUE|||0\n"), "{ql}");
    assert!(ql.contains("|CONNECT|0|7-a|0\n"), "{ql}");
    assert!(ql.contains("|COMPLETEAGENT|0|0|0\n"), "{ql}");
    assert!(recordings_index(log.store.as_mut(), None, None).is_ok());
    assert!(check_call_sequences(log.store.as_mut()).is_empty());
}

#[test]
fn recordings_index_lists_recorded_calls() {
    let mut log = TestLog::new("recordings");
    answered_call(&mut log, "1", T0);
    log.ev(T0 + 5, "2", "", "", "call.start", json!({"caller": "x,y"}));
    log.ev(T0 + 6, "2", "sales", "", "queue.join", json!({}));
    log.ev(
        T0 + 7,
        "2",
        "sales",
        "bob",
        "recording.start",
        json!({"path": "/r/2.wav"}),
    );
    log.ev(T0 + 8, "2", "sales", "bob", "call.bridge", json!({}));
    log.ev(T0 + 9, "3", "", "", "call.start", json!({}));
    log.ev(
        T0 + 10,
        "3",
        "",
        "",
        "call.end",
        json!({"disposition": "ivr"}),
    );
    let csv = recordings_index(log.store.as_mut(), None, None).unwrap();
    assert_eq!(
        csv,
        "call_id,start,queue,agent,caller,path,talk_s\r\n\
         1,2026-11-23T10:00:00.000Z,sales,bob,+15550001,/data/rec/2026-11-23/1.wav,60.000\r\n\
         2,2026-11-23T10:00:00.005Z,sales,bob,\"x,y\",/r/2.wav,\r\n"
    );
    let later = recordings_index(log.store.as_mut(), Some(T0 + 1), None).unwrap();
    assert_eq!(later.lines().count(), 2);
    assert!(later.contains("/r/2.wav"));
}

#[test]
fn cdr_hold_s_sums_the_time_on_hold_by_either_party() {
    let mut log = TestLog::new("cdr-hold");
    // Bridged at 34 s, ends at 94 s (answered_call): the agent holds 40..50, the
    // caller 45..55 (overlapping: 40..55 counts once) and the agent again from 90 to
    // the end.
    let hold = |log: &mut TestLog, s: i64, kind: &str, party: &str| {
        log.ev(
            T0 + s * 1000,
            "1",
            "sales",
            "1001",
            kind,
            json!({"party": party, "held_s": 1.0}),
        );
    };
    hold(&mut log, 40, "call.hold", "agent");
    hold(&mut log, 45, "call.hold", "caller");
    hold(&mut log, 50, "call.resume", "agent");
    hold(&mut log, 55, "call.resume", "caller");
    hold(&mut log, 90, "call.hold", "agent");
    answered_call(&mut log, "1", T0);
    let csv = export_cdr(log.store.as_mut(), None, None).unwrap();
    let rows = csv_rows(&csv);
    assert_eq!(col(&rows, 1, "end"), "2026-11-23T10:01:34.000Z");
    // 40..55 and 90..94.
    assert_eq!(col(&rows, 1, "hold_s"), "19.000");
    // A call without holds has 0.
    let mut log = TestLog::new("cdr-no-hold");
    answered_call(&mut log, "2", T0);
    let csv = export_cdr(log.store.as_mut(), None, None).unwrap();
    assert_eq!(col(&csv_rows(&csv), 1, "hold_s"), "0.000");
}
