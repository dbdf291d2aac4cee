//! Twenty SIPp callers served by two pjsua2 agents through the real binary, in the order
//! they joined, with announced positions that are right and only go down, and no agent on
//! two calls.
//!
//! The dialplan and the queues: see acd_fixture/mod.rs.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use switchboard_e2e::peers::python_with_pjsua2;
use switchboard_e2e::{require_peer, sipp, sipp_trace, LoggedEvent, Server};

mod acd_fixture;
use acd_fixture::*;

/// How many SIPp callers, and how long each agent talks before hanging up. The queue's
/// wrap-up is 1 s rather than 0: the pjsua2 script's `hangup` walks every call it has
/// known while its worker thread may already be accepting the next offer, and would hang
/// that one up too if it came at once.
const CALLERS: usize = 20;
const TALK: Duration = Duration::from_millis(800);

#[test]
fn twenty_sipp_callers_are_served_by_two_agents_in_join_order() {
    let _serial = serial();
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let cfg = config(
        r#"members = ["1003"]"#,
        r#"members = ["1004"]"#,
        r#"strategy = "longest-idle"
members = ["1001", "1002"]
ring_timeout = 10
wrap_up = 1
announce_period = 1
record = false"#,
    );
    let server = Server::start("acd-load", &cfg);
    let mut agents = [
        ("1001", agent_phone(&py, &server, "1001", "auto", 80)),
        ("1002", agent_phone(&py, &server, "1002", "auto", 80)),
    ];

    // The callers: 10 a second (so a queue builds up), each waits for the BYE that follows
    // its agent's hangup.
    let target = server.sip;
    let calls = CALLERS.to_string();
    let sipp_run = std::thread::spawn(move || {
        sipp(
            "acd_caller.xml",
            target,
            &["-s", "202", "-m", &calls, "-r", "10", "-l", &calls],
            70,
        )
    });

    // Each agent hangs up TALK after its call is confirmed.
    let started = Instant::now();
    let deadline = started + Duration::from_secs(70);
    let mut cursor = [0usize; 2];
    let mut due: [Option<Instant>; 2] = [None, None];
    let mut hangups = 0;
    while hangups < CALLERS && Instant::now() < deadline {
        for (i, (_, phone)) in agents.iter_mut().enumerate() {
            // Drain what has arrived (no event is called this).
            let _ = phone.wait_event("-", 0);
            for v in &phone.seen[cursor[i]..] {
                if v["event"] == "confirmed" {
                    due[i] = Some(Instant::now() + TALK);
                }
            }
            cursor[i] = phone.seen.len();
            if due[i].is_some_and(|d| Instant::now() >= d) {
                phone.command("hangup");
                due[i] = None;
                hangups += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = sipp_run.join().expect("sipp thread");
    let elapsed = started.elapsed();
    assert_eq!(
        hangups,
        CALLERS,
        "agents served every caller within the deadline; events:\n{}",
        dump(&server)
    );
    assert!(
        out.status.success(),
        "every SIPp call succeeded: {}",
        sipp_trace(&out)
    );
    // Let the last call.end reach the log.
    let ended = |server: &Server| {
        server
            .events()
            .iter()
            .filter(|e| e.kind == "call.end")
            .count()
    };
    switchboard_e2e::wait_for(5, || (ended(&server) >= CALLERS).then_some(()));
    for (_, phone) in agents {
        phone.quit();
    }
    eprintln!("{CALLERS} callers served in {elapsed:?}");

    let evs = server.events();
    let joins: Vec<String> = evs
        .iter()
        .filter(|e| e.kind == "queue.join")
        .map(|e| e.call.clone())
        .collect();
    assert_eq!(joins.len(), CALLERS, "every caller joined");
    assert!(joins.iter().all(|c| {
        evs.iter()
            .any(|e| e.call == *c && e.kind == "queue.join" && e.queue == "support")
    }));
    assert_eq!(
        joins.iter().collect::<HashSet<_>>().len(),
        CALLERS,
        "one join per call"
    );
    let pos_of = |list: &[String], c: &String| list.iter().position(|x| x == c).unwrap();
    // Every call SIPp placed joined once (the caller number carries SIPp's call number).
    // Their order is not asserted: each caller walks the IVR in its own task, and on a busy
    // machine a caller placed 100 ms after another can reach the queue first; the queue's
    // promise is the next assertion (offers in the order of joining), not the IVR's pace.
    let numbers: Vec<String> = joins
        .iter()
        .map(|c| {
            evs.iter()
                .find(|e| e.kind == "call.start" && e.call == *c)
                .and_then(|e| e.data["caller"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let placed: HashSet<String> = (1..=CALLERS).map(|n| format!("+7999000{n}")).collect();
    assert_eq!(
        numbers.iter().cloned().collect::<HashSet<_>>(),
        placed,
        "every SIPp caller joined: {numbers:?}"
    );
    eprintln!("join order by caller: {numbers:?}");

    // The ACD offers calls strictly in the order they joined (first offer per call).
    let mut offers: Vec<String> = Vec::new();
    for e in evs.iter().filter(|e| e.kind == "queue.offer") {
        if !offers.contains(&e.call) {
            offers.push(e.call.clone());
        }
    }
    assert_eq!(offers, joins, "offers follow the join order");
    assert!(
        !evs.iter().any(|e| e.kind == "queue.rona"),
        "no ring-no-answer with auto-answer agents"
    );

    // Every call was bridged once and ended answered.
    let bridges: Vec<&LoggedEvent> = evs.iter().filter(|e| e.kind == "call.bridge").collect();
    let bridged: Vec<String> = bridges.iter().map(|e| e.call.clone()).collect();
    assert_eq!(bridged.len(), CALLERS, "every caller bridged: {bridged:?}");
    assert_eq!(
        bridged.iter().collect::<HashSet<_>>(),
        joins.iter().collect::<HashSet<_>>()
    );
    for c in &joins {
        let end = evs
            .iter()
            .find(|e| e.kind == "call.end" && e.call == *c)
            .unwrap_or_else(|| panic!("call {c} has no call.end"));
        assert_eq!(end.data["disposition"], "answered", "{end:?}");
        let talk = end.data["talk_s"].as_f64().unwrap_or(0.0);
        assert!(
            talk > TALK.as_secs_f64() * 0.8,
            "call {c} talked {talk:.3} s, the agent hangs up after {TALK:?}"
        );
        let w = evs
            .iter()
            .find(|e| e.kind == "queue.waited" && e.call == *c)
            .unwrap_or_else(|| panic!("call {c} has no queue.waited"));
        assert_eq!(w.data["outcome"], "answered");
    }
    // Bridges follow the join order: with two agents answering in parallel, at most two
    // neighbours can swap; each agent's own calls are strictly in join order.
    for c in &joins {
        let (j, b) = (pos_of(&joins, c), pos_of(&bridged, c));
        assert!(
            j.abs_diff(b) <= 1,
            "call {c} joined {j}th but was bridged {b}th: joins {joins:?} bridges {bridged:?}"
        );
    }
    let mut per_agent: HashMap<&str, Vec<usize>> = HashMap::new();
    for e in &bridges {
        per_agent
            .entry(e.agent.as_str())
            .or_default()
            .push(pos_of(&joins, &e.call));
    }
    assert_eq!(per_agent.len(), 2, "both agents served: {per_agent:?}");
    for (agent, order) in &per_agent {
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "agent {agent} served out of join order: {order:?}"
        );
        assert!(order.len() >= 5, "work is shared: {per_agent:?}");
    }

    // Announced positions only go down, the queue did move for the late callers, and each
    // position is right: the calls that joined earlier and were not yet offered at that
    // moment are certainly ahead; those offered but not yet ended may or may not be (the
    // answer reaches the ACD a moment after the call task logs the bridge).
    let first_id = |kind: &str, c: &String| {
        evs.iter()
            .find(|e| e.kind == kind && e.call == *c)
            .map(|e| e.id)
            .unwrap_or(i64::MAX)
    };
    let bounds = |c: &String, at: i64| {
        let ahead = &joins[..pos_of(&joins, c)];
        let waiting = ahead
            .iter()
            .filter(|a| first_id("queue.offer", a) > at)
            .count();
        let not_ended = ahead
            .iter()
            .filter(|a| first_id("call.end", a) > at)
            .count();
        (waiting as i64 + 1, not_ended as i64 + 1)
    };
    let mut moved = 0;
    for c in &joins {
        let told: Vec<(i64, i64)> = evs
            .iter()
            .filter(|e| (e.kind == "queue.join" || e.kind == "queue.announce") && e.call == *c)
            .map(|e| (e.id, e.data["position"].as_i64().expect("position")))
            .collect();
        let positions: Vec<i64> = told.iter().map(|t| t.1).collect();
        assert!(
            positions.windows(2).all(|w| w[1] <= w[0]),
            "call {c}: positions only go down: {positions:?}"
        );
        for (at, p) in &told {
            let (lo, hi) = bounds(c, *at);
            assert!(
                (lo..=hi).contains(p),
                "call {c} (joined {}th) told position {p} at event {at}, expected {lo}..={hi}",
                pos_of(&joins, c)
            );
        }
        if positions.last() < positions.first() {
            moved += 1;
        }
    }
    assert!(
        moved >= CALLERS / 2,
        "most callers heard their position improve ({moved})"
    );

    // No agent ever had two calls at once: bridge..end intervals per agent are disjoint.
    let mut open: HashMap<String, String> = HashMap::new();
    for e in &evs {
        match e.kind.as_str() {
            "call.bridge" => {
                if let Some(other) = open.insert(e.agent.clone(), e.call.clone()) {
                    panic!(
                        "agent {} bridged to {} while still on {other}",
                        e.agent, e.call
                    );
                }
            }
            "call.end" if !e.agent.is_empty() => {
                assert_eq!(
                    open.remove(&e.agent).as_deref(),
                    Some(e.call.as_str()),
                    "call.end for agent {} matches its open call",
                    e.agent
                );
            }
            "agent.ring" => {
                assert!(
                    !open.contains_key(&e.agent),
                    "agent {} rung for {} while on {:?}",
                    e.agent,
                    e.call,
                    open.get(&e.agent)
                );
            }
            _ => {}
        }
    }
    assert!(open.is_empty(), "every bridge ended: {open:?}");

    // The derived reports agree: every call's event sequence is complete and gap-free, and
    // the queue_log has one ENTERQUEUE, CONNECT and COMPLETE* per caller.
    let check = export(&server, "check");
    assert!(check.starts_with("ok"), "{check}");
    let qlog = export(&server, "queue-log");
    let count = |verb: &str| {
        qlog.lines()
            .filter(|l| l.split('|').nth(4).is_some_and(|v| v.starts_with(verb)))
            .count()
    };
    assert_eq!(count("ENTERQUEUE"), CALLERS, "{qlog}");
    assert_eq!(count("CONNECT"), CALLERS, "{qlog}");
    assert_eq!(count("COMPLETE"), CALLERS, "{qlog}");
    assert_eq!(count("ABANDON"), 0, "{qlog}");

    // Each agent's state walks the documented cycle, and wrap-up keeps it off the phone
    // for the configured second after each call.
    let ts = timestamps(&server);
    for agent in ["1001", "1002"] {
        let states: Vec<(i64, String)> = evs
            .iter()
            .filter(|e| e.kind == "agent.state" && e.agent == agent)
            .map(|e| {
                let name = e.data["state"].as_str().unwrap_or("").to_string();
                (e.id, name)
            })
            .collect();
        for w in states.windows(2) {
            let ok = matches!(
                (w[0].1.as_str(), w[1].1.as_str()),
                ("available", "ringing")
                    | ("ringing", "busy")
                    | ("busy", "wrap_up")
                    | ("wrap_up", "available")
                    | (_, "logged_out")
            );
            assert!(ok, "agent {agent}: {} -> {} in {states:?}", w[0].1, w[1].1);
        }
        let mut last_end: Option<i64> = None;
        for e in evs.iter().filter(|e| e.agent == agent) {
            match e.kind.as_str() {
                "call.end" => last_end = Some(ts[&e.id]),
                "agent.ring" => {
                    if let Some(end) = last_end {
                        let gap = ts[&e.id] - end;
                        assert!(
                            gap >= 950,
                            "agent {agent} rung {gap} ms after its last call ended (wrap-up 1 s)"
                        );
                    }
                }
                _ => {}
            }
        }
    }
    // Each caller's logged wait is the time from joining to being answered.
    for c in &joins {
        let w = evs
            .iter()
            .find(|e| e.kind == "queue.waited" && e.call == *c)
            .expect("queue.waited");
        let waited_s = w.data["waited_s"].as_f64().expect("waited_s");
        let logged =
            (ts[&first_id("call.bridge", c)] - ts[&first_id("queue.join", c)]) as f64 / 1000.0;
        assert!(
            (waited_s - logged).abs() < 0.3,
            "call {c}: waited_s {waited_s:.3} vs join..bridge {logged:.3}"
        );
    }
}
