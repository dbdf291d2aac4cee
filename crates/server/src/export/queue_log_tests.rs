//! Tests of the queue_log export.

use super::test_log::*;
use super::*;
use serde_json::json;

#[test]
fn queue_log_of_an_answered_call() {
    let mut log = TestLog::new("ql-answered");
    answered_call(&mut log, "1", T0);
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    let e = T0 / 1000;
    let expected = [
        format!("{}|1|sales|NONE|ENTERQUEUE||+15550001|2", e + 3),
        format!("{}|1|sales|SIP/alice|RINGNOANSWER|15000", e + 25),
        format!("{}|1|sales|SIP/bob|CONNECT|31|1-bob|3", e + 34),
        format!("{}|1|sales|SIP/bob|COMPLETECALLER|31|60|2", e + 94),
    ];
    assert_eq!(ql.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn queue_log_completeagent_and_rona_without_ring_failed() {
    let mut log = TestLog::new("ql-agent");
    log.ev(T0, "8", "", "", "call.start", json!({"caller": "800"}));
    log.ev(
        T0 + 1_000,
        "8",
        "sales",
        "",
        "queue.join",
        json!({"position": 1}),
    );
    log.ev(T0 + 1_000, "8", "sales", "dave", "agent.ring", json!({}));
    log.ev(T0 + 16_000, "8", "", "dave", "queue.rona", json!({}));
    log.ev(
        T0 + 16_500,
        "8",
        "sales",
        "dave",
        "agent.ring_failed",
        json!({"status": 487}),
    );
    log.ev(T0 + 17_000, "8", "sales", "erin", "agent.ring", json!({}));
    log.ev(T0 + 19_000, "8", "sales", "erin", "call.bridge", json!({}));
    log.ev(
        T0 + 49_900,
        "8",
        "sales",
        "erin",
        "call.end",
        json!({"end_reason": "agent_hangup", "disposition": "answered", "talk_s": 30.9}),
    );
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    let lines: Vec<&str> = ql.lines().collect();
    assert_eq!(lines.len(), 4, "{ql}");
    assert!(
        lines[1].ends_with("|8|sales|SIP/dave|RINGNOANSWER|15000"),
        "{ql}"
    );
    assert!(
        lines[2].ends_with("|8|sales|SIP/erin|CONNECT|18|8-erin|2"),
        "{ql}"
    );
    assert!(
        lines[3].ends_with("|8|sales|SIP/erin|COMPLETEAGENT|18|30|1"),
        "{ql}"
    );
}

#[test]
fn queue_log_abandon_and_exits() {
    let mut log = TestLog::new("ql-exits");
    let e = T0 / 1000;
    // Abandon at position 1 after joining at 3.
    log.ev(T0, "20", "", "", "call.start", json!({"caller": "20"}));
    log.ev(T0, "20", "q", "", "queue.join", json!({"position": 3}));
    log.ev(
        T0 + 5_000,
        "20",
        "q",
        "",
        "queue.announce",
        json!({"position": 1}),
    );
    log.ev(
        T0 + 42_000,
        "20",
        "q",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "abandoned"}),
    );
    log.ev(
        T0 + 42_001,
        "20",
        "q",
        "",
        "queue.waited",
        json!({"outcome": "Abandoned"}),
    );
    // Max wait, then the IVR: no ABANDON afterwards.
    log.ev(T0, "21", "", "", "call.start", json!({"caller": "21"}));
    log.ev(T0, "21", "q", "", "queue.join", json!({"position": 1}));
    log.ev(
        T0 + 300_000,
        "21",
        "q",
        "",
        "queue.exit",
        json!({"reason": "max_wait", "target": "vm"}),
    );
    log.ev(
        T0 + 310_000,
        "21",
        "",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "ivr"}),
    );
    // Exit key.
    log.ev(T0, "22", "", "", "call.start", json!({"caller": "22"}));
    log.ev(T0, "22", "q", "", "queue.join", json!({"position": 2}));
    log.ev(
        T0 + 7_000,
        "22",
        "q",
        "",
        "queue.exit",
        json!({"reason": "exit_key", "key": "0"}),
    );
    log.ev(
        T0 + 8_000,
        "22",
        "",
        "",
        "call.end",
        json!({"end_reason": "local_hangup", "disposition": "ivr"}),
    );
    // Refused joins.
    log.ev(T0, "23", "", "", "call.start", json!({}));
    log.ev(
        T0 + 1_000,
        "23",
        "q",
        "",
        "queue.exit",
        json!({"reason": "queue_full"}),
    );
    log.ev(
        T0 + 1_000,
        "23",
        "",
        "",
        "call.end",
        json!({"end_reason": "refused", "disposition": "refused"}),
    );
    log.ev(T0, "24", "", "", "call.start", json!({}));
    log.ev(
        T0 + 1_000,
        "24",
        "q",
        "",
        "queue.exit",
        json!({"reason": "no_agents"}),
    );
    log.ev(
        T0 + 1_000,
        "24",
        "",
        "",
        "call.end",
        json!({"end_reason": "refused", "disposition": "refused"}),
    );
    // Everyone logged out while waiting.
    log.ev(T0, "25", "", "", "call.start", json!({}));
    log.ev(T0, "25", "q", "", "queue.join", json!({"position": 1}));
    log.ev(
        T0 + 9_000,
        "25",
        "q",
        "",
        "queue.exit",
        json!({"reason": "no_agents"}),
    );
    log.ev(
        T0 + 9_000,
        "25",
        "",
        "",
        "call.end",
        json!({"end_reason": "refused", "disposition": "refused"}),
    );
    // Overflow to another queue, then abandoned there.
    log.ev(T0, "26", "", "", "call.start", json!({"caller": "26"}));
    log.ev(T0, "26", "q", "", "queue.join", json!({"position": 4}));
    log.ev(
        T0 + 60_000,
        "26",
        "q",
        "",
        "queue.waited",
        json!({"outcome": "Overflowed(QueueId(2))"}),
    );
    log.ev(
        T0 + 60_000,
        "26",
        "q",
        "",
        "queue.overflow",
        json!({"to": "q2"}),
    );
    log.ev(
        T0 + 60_000,
        "26",
        "q2",
        "",
        "queue.join",
        json!({"position": 1}),
    );
    log.ev(
        T0 + 70_000,
        "26",
        "q2",
        "",
        "call.end",
        json!({"end_reason": "caller_hangup", "disposition": "abandoned"}),
    );
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    let has = |l: String| assert!(ql.lines().any(|x| x == l), "missing {l}\n{ql}");
    has(format!("{}|20|q|NONE|ABANDON|1|3|42", e + 42));
    has(format!("{}|21|q|NONE|EXITWITHTIMEOUT|1|1|300", e + 300));
    has(format!("{}|22|q|NONE|EXITWITHKEY|0|2|2|7", e + 7));
    has(format!("{}|23|q|NONE|FULL|", e + 1));
    has(format!("{}|24|q|NONE|JOINEMPTY|", e + 1));
    has(format!("{}|25|q|NONE|EXITEMPTY|1|1|9", e + 9));
    has(format!("{}|26|q|NONE|EXITWITHTIMEOUT|4|4|60", e + 60));
    has(format!("{}|26|q2|NONE|ENTERQUEUE||26|1", e + 60));
    has(format!("{}|26|q2|NONE|ABANDON|1|1|10", e + 70));
    assert_eq!(ql.matches("ABANDON").count(), 2, "{ql}");
    assert_eq!(ql.lines().count(), 14, "{ql}");
}

/// Call 30: whisper, then bob transfers the caller to `billing`, where carol answers
/// and hangs up. A screen-pop result arrives after the end.

#[test]
fn queue_log_blind_transfer_and_whisper() {
    let mut log = TestLog::new("ql-transfer");
    transferred_call(&mut log);
    let e = T0 / 1000;
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    let expected = [
        format!("{}|30|sales|NONE|ENTERQUEUE||3030|1", e + 1),
        format!("{}|30|sales|SIP/bob|CONNECT|4|30-bob|4", e + 5),
        format!(
            "{}|30|sales|SIP/bob|BLINDTRANSFER|billing|queue|4|60|1",
            e + 68
        ),
        format!("{}|30|billing|NONE|ENTERQUEUE||3030|2", e + 68),
        format!("{}|30|billing|SIP/carol|CONNECT|14|30-carol|2", e + 82),
        format!("{}|30|billing|SIP/carol|COMPLETEAGENT|14|40|2", e + 122),
    ];
    assert_eq!(ql.lines().collect::<Vec<_>>(), expected);
    let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
    assert_eq!(col(&rows, 1, "queue"), "billing");
    assert_eq!(col(&rows, 1, "agent"), "carol");
    assert_eq!(
        col(&rows, 1, "wait_s"),
        "4.000",
        "first join to first answer"
    );
    assert_eq!(col(&rows, 1, "hangup_by"), "agent");
    assert!(
        check_call_sequences(log.store.as_mut()).is_empty(),
        "screenpop after end is bookkeeping"
    );
}

#[test]
fn queue_log_agent_sessions_and_pauses() {
    let mut log = TestLog::new("ql-agents");
    let e = T0 / 1000;
    log.ev(T0, "", "", "alice", "agent.login", json!({}));
    log.ev(
        T0 + 1,
        "",
        "",
        "alice",
        "agent.state",
        json!({"state": "available"}),
    );
    log.ev(
        T0 + 60_000,
        "",
        "",
        "alice",
        "agent.state",
        json!({"state": "paused", "pause_reason": "rona"}),
    );
    log.ev(
        T0 + 60_001,
        "",
        "",
        "alice",
        "agent.state",
        json!({"state": "paused", "pause_reason": "rona"}),
    );
    log.ev(
        T0 + 90_000,
        "",
        "",
        "alice",
        "agent.state",
        json!({"state": "available"}),
    );
    log.ev(
        T0 + 95_000,
        "",
        "",
        "alice",
        "agent.state",
        json!({"state": "paused", "pause_reason": "lunch \"break\""}),
    );
    log.ev(
        T0 + 100_000,
        "",
        "",
        "alice",
        "agent.state",
        json!({"state": "logged_out"}),
    );
    log.ev(
        T0 + 120_000,
        "",
        "",
        "alice",
        "agent.logout",
        json!({"reason": "expired"}),
    );
    log.ev(T0 + 130_000, "", "", "bob", "agent.logout", json!({}));
    log.ev(T0 + 130_000, "", "", "", "system.start", json!({}));
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    let expected = [
        format!("{e}|NONE|NONE|SIP/alice|AGENTLOGIN|SIP/alice"),
        format!("{}|NONE|NONE|SIP/alice|PAUSE|rona", e + 60),
        format!("{}|NONE|NONE|SIP/alice|UNPAUSE|", e + 90),
        format!("{}|NONE|NONE|SIP/alice|PAUSE|lunch \"break\"", e + 95),
        format!("{}|NONE|NONE|SIP/alice|AGENTLOGOFF|SIP/alice|120", e + 120),
        format!("{}|NONE|NONE|SIP/bob|AGENTLOGOFF|SIP/bob|0", e + 130),
    ];
    assert_eq!(ql.lines().collect::<Vec<_>>(), expected);
}

#[test]
fn queue_log_window_keeps_state_from_before_it() {
    let mut log = TestLog::new("ql-window");
    answered_call(&mut log, "1", T0);
    let from = T0 + 30_000; // after the join and the RONA, before the bridge
    let ql = export_queue_log(log.store.as_mut(), Some(from), Some(T0 + 60_000)).unwrap();
    let e = T0 / 1000;
    assert_eq!(
        ql,
        format!("{}|1|sales|SIP/bob|CONNECT|31|1-bob|3\n", e + 34)
    );
}

#[test]
fn queue_log_values_cannot_break_lines() {
    let mut log = TestLog::new("ql-sanitize");
    log.ev(T0, "9", "", "", "call.start", json!({"caller": "a|b\nc"}));
    log.ev(T0, "9", "q|x", "", "queue.join", json!({"position": 1}));
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    assert_eq!(
        ql,
        format!("{}|9|q_x|NONE|ENTERQUEUE||a_b_c|1\n", T0 / 1000)
    );
}

/// Ring-all: three phones ring at once. Nobody answers the first round: one RINGNOANSWER
/// per agent; in the second round erin answers and the CONNECT carries her ring time.
#[test]
fn queue_log_of_a_ring_all_call() {
    let mut log = TestLog::new("ql-ring-all");
    log.ev(T0, "9", "", "", "call.start", json!({"caller": "900"}));
    log.ev(T0, "9", "sales", "", "queue.join", json!({"position": 1}));
    for a in ["dave", "erin", "fred"] {
        log.ev(T0 + 1_000, "9", "sales", a, "agent.ring", json!({}));
    }
    for a in ["dave", "erin", "fred"] {
        log.ev(T0 + 16_000, "9", "", a, "queue.rona", json!({}));
    }
    log.ev(T0 + 20_000, "9", "sales", "fred", "agent.ring", json!({}));
    log.ev(T0 + 21_000, "9", "sales", "erin", "agent.ring", json!({}));
    log.ev(T0 + 24_000, "9", "sales", "erin", "call.bridge", json!({}));
    let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
    let lines: Vec<&str> = ql.lines().collect();
    assert_eq!(lines.len(), 5, "{ql}");
    for (i, a) in ["dave", "erin", "fred"].iter().enumerate() {
        assert!(
            lines[1 + i].ends_with(&format!("|9|sales|SIP/{a}|RINGNOANSWER|15000")),
            "{ql}"
        );
    }
    assert!(
        lines[4].ends_with("|9|sales|SIP/erin|CONNECT|24|9-erin|3"),
        "{ql}"
    );
}
