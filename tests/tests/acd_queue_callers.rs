//! Callers in an ACD queue, against the real binary with real peers: a caller who gives up
//! in an empty queue (or while an agent rings) is logged as abandoned with the time they
//! waited, and the dialplan's queue options (max wait, exit key, priority) take effect.
//!
//! The dialplan and the queues: see acd_fixture/mod.rs. The tests run one at a time (they
//! measure waits in wall-clock time).

use std::time::{Duration, Instant};

use switchboard_e2e::peers::python_with_pjsua2;
use switchboard_e2e::{LoggedEvent, Server};

mod acd_fixture;
use acd_fixture::*;

#[test]
fn a_caller_who_hangs_up_in_an_unstaffed_queue_is_logged_as_abandoned() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // Nobody in `bank` logs in.
    let cfg = config(
        r#"members = ["1001"]"#,
        r#"members = ["1004", "1005"]
announce_period = 30"#,
        r#"members = ["1002"]"#,
    );
    let server = Server::start("acd-abandon", &cfg);
    let mut caller = caller_phone(&py, &server, "201", "+79995550122", 30);
    let join = server
        .wait_event(10, |e| e.kind == "queue.join")
        .expect("the caller joins bank");
    let joined_seen = Instant::now();
    assert_eq!(join.queue, "bank");
    assert_eq!(join.data["position"], 1);
    let call = join.call.clone();
    std::thread::sleep(Duration::from_secs(4));
    caller.command("hangup");
    let hung_up = Instant::now();
    assert!(caller.wait_event("disconnected", 10).is_some());
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call.end logged");
    let waited = server
        .wait_event(10, |e| e.kind == "queue.waited" && e.call == call)
        .unwrap_or_else(|| panic!("no queue.waited; events:\n{}", dump(&server)));
    caller.quit();

    assert_eq!(end.data["disposition"], "abandoned", "{end:?}");
    assert_eq!(end.queue, "bank");
    assert_eq!(end.agent, "");
    assert_eq!(waited.data["outcome"], "abandoned", "{waited:?}");
    assert_eq!(waited.queue, "bank");
    let waited_s = waited.data["waited_s"].as_f64().expect("waited_s");
    let measured = hung_up.duration_since(joined_seen).as_secs_f64();
    assert!(
        (waited_s - measured).abs() <= 1.5,
        "waited_s {waited_s:.2} vs measured {measured:.2}"
    );
    // The log's own clock agrees: join to waited.
    let ts = timestamps(&server);
    let logged = (ts[&waited.id] - ts[&join.id]) as f64 / 1000.0;
    assert!(
        (waited_s - logged).abs() <= 0.5,
        "waited_s {waited_s:.2} vs the log's {logged:.2}"
    );
    let evs = server.events();
    let mine = of_call(&evs, &call);
    assert!(
        !mine
            .iter()
            .any(|e| e.kind == "queue.offer" || e.kind == "agent.ring" || e.kind == "call.bridge"),
        "nobody was offered the call: {mine:#?}"
    );
    // Report tools see the same: ENTERQUEUE, then ABANDON|position|origposition|waittime.
    let qlog = export(&server, "queue-log");
    let mine_q: Vec<Vec<&str>> = qlog
        .lines()
        .map(|l| l.split('|').collect::<Vec<_>>())
        .filter(|f| f.get(1) == Some(&call.as_str()))
        .collect();
    let verbs: Vec<&str> = mine_q.iter().map(|f| f[4]).collect();
    assert_eq!(verbs, ["ENTERQUEUE", "ABANDON"], "{qlog}");
    let abandon = &mine_q[1];
    assert_eq!(&abandon[5..7], ["1", "1"], "{qlog}");
    let qlog_wait: f64 = abandon[7].parse().expect("waittime");
    assert!((qlog_wait - waited_s).abs() <= 1.0, "{qlog}");
    // The caller was told their place at join (first in line, no estimate: nobody serves).
    let announce = mine
        .iter()
        .find(|e| e.kind == "queue.announce")
        .unwrap_or_else(|| panic!("no announcement: {mine:#?}"));
    assert_eq!(announce.data["position"], 1);
    assert_eq!(announce.data["spoken"], "unknown");
}

#[test]
fn a_caller_who_hangs_up_while_the_agent_rings_frees_the_agent_without_rona() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let cfg = config(
        r#"members = ["1001"]
ring_timeout = 10"#,
        r#"members = ["1004"]"#,
        r#"members = ["1005"]"#,
    );
    let server = Server::start("acd-abandon-ringing", &cfg);
    let mut agent = agent_phone(&py, &server, "1001", "none", 30);
    let mut caller = caller_phone(&py, &server, "200", "+79995550133", 30);
    assert!(
        agent.wait_event("incoming", 10).is_some(),
        "1001 rings; events:\n{}",
        dump(&server)
    );
    std::thread::sleep(Duration::from_secs(1));
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    let gone = agent
        .wait_event("disconnected", 5)
        .unwrap_or_else(|| panic!("the agent stops ringing; events:\n{}", dump(&server)));
    assert_eq!(gone["code"], 487, "the agent's INVITE is cancelled: {gone}");
    let waited = server
        .wait_event(10, |e| e.kind == "queue.waited")
        .unwrap_or_else(|| panic!("no queue.waited; events:\n{}", dump(&server)));
    let call = waited.call.clone();
    assert_eq!(waited.data["outcome"], "abandoned", "{waited:?}");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call.end logged");
    assert_eq!(end.data["disposition"], "abandoned", "{end:?}");
    // The agent is available again (not paused for a ring-no-answer it could not help).
    let available = server.wait_event(5, |e| {
        e.kind == "agent.state"
            && e.agent == "1001"
            && e.id > waited.id.min(end.id)
            && e.data["state"] == "available"
    });
    let evs = server.events();
    assert!(
        available.is_some(),
        "1001 is available after the caller left:\n{}",
        dump(&server)
    );
    assert!(
        !evs.iter().any(|e| e.kind == "queue.rona"
            || (e.kind == "agent.state"
                && e.data["state"].as_str().is_some_and(|s| s == "paused"))),
        "no RONA, nobody paused:\n{}",
        dump(&server)
    );
    caller.quit();
    agent.quit();
}

/// A caller waits in `bank` (nobody logged in) with a queue statement option, and what
/// the log says when they leave.
fn leave_queue_scenario(dial: &str, press: Option<&str>) -> (Server, LoggedEvent, f64) {
    let py = python_with_pjsua2().expect("pjsua2");
    let cfg = config(
        r#"members = ["1001"]"#,
        r#"members = ["1004", "1005"]
announce_period = 30"#,
        r#"members = ["1002"]"#,
    );
    let server = Server::start("acd-leave", &cfg);
    let mut caller = caller_phone(&py, &server, dial, "+79995550144", 30);
    let join = server
        .wait_event(10, |e| e.kind == "queue.join")
        .expect("the caller joins bank");
    let joined = Instant::now();
    let call = join.call.clone();
    if let Some(key) = press {
        std::thread::sleep(Duration::from_secs(2));
        caller.command(&format!("dtmf {key}"));
    }
    // The dialplan plays goodbye and hangs up: the caller gets a BYE.
    let bye = caller.wait_event("disconnected", 10);
    let left_after = joined.elapsed().as_secs_f64();
    assert!(
        bye.is_some(),
        "the dialplan ends the call after the caller left the queue; events:\n{}",
        dump(&server)
    );
    let waited = server
        .wait_event(5, |e| e.kind == "queue.waited" && e.call == call)
        .unwrap_or_else(|| panic!("no queue.waited; events:\n{}", dump(&server)));
    let end = server
        .wait_event(5, |e| e.kind == "call.end" && e.call == call)
        .expect("call.end logged");
    assert_eq!(end.data["disposition"], "ivr", "{end:?}");
    assert!(
        server
            .events()
            .iter()
            .any(|e| e.kind == "ivr.hangup" && e.call == call),
        "the dialplan hung up:\n{}",
        dump(&server)
    );
    caller.quit();
    (server, waited, left_after)
}

#[test]
fn the_dialplans_max_wait_takes_the_caller_out_of_the_queue() {
    let _serial = serial();
    if python_with_pjsua2().is_none() {
        return;
    }
    let (_server, waited, left_after) = leave_queue_scenario("203", None);
    assert_eq!(waited.data["outcome"], "exited", "{waited:?}");
    assert_eq!(waited.data["exit_reason"], "max_wait", "{waited:?}");
    let waited_s = waited.data["waited_s"].as_f64().expect("waited_s");
    assert!((waited_s - 3.0).abs() < 0.5, "waited {waited_s:.2} s");
    assert!(
        left_after < 8.0,
        "goodbye and hangup after {left_after:.1} s"
    );
}

#[test]
fn the_exit_key_takes_the_caller_out_of_the_queue_and_is_not_an_abandon() {
    let _serial = serial();
    if python_with_pjsua2().is_none() {
        return;
    }
    let (server, waited, _) = leave_queue_scenario("204", Some("0"));
    assert!(
        server
            .events()
            .iter()
            .any(|e| e.kind == "dtmf" && e.call == waited.call && e.data["digit"] == "0"),
        "the key arrived:\n{}",
        dump(&server)
    );
    assert_eq!(
        waited.data["exit_reason"], "exit_key",
        "an exit by key is not an abandon: {waited:?}"
    );
}

#[test]
fn the_queue_statements_priority_puts_the_caller_ahead() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let cfg = config(
        r#"members = ["1001"]"#,
        r#"members = ["1004"]
announce_period = 30"#,
        r#"members = ["1002"]"#,
    );
    let server = Server::start("acd-priority", &cfg);
    // First a caller at priority 0 (201), then one whose queue statement says 10 (205).
    let plain = caller_phone(&py, &server, "201", "+79995550166", 30);
    let first = server
        .wait_event(10, |e| e.kind == "queue.join")
        .expect("the first caller joins bank");
    let mut urgent = caller_phone(&py, &server, "205", "+79995550177", 30);
    let second = server
        .wait_event(10, |e| e.kind == "queue.join" && e.call != first.call)
        .expect("the second caller joins bank");
    assert_eq!(first.data["position"], 1);
    assert_eq!(
        second.data["position"],
        1,
        "priority 10 goes ahead of priority 0:\n{}",
        dump(&server)
    );
    // The agent logs in and is offered the urgent call first.
    let mut agent = agent_phone(&py, &server, "1004", "auto", 30);
    let offer = server
        .wait_event(10, |e| e.kind == "queue.offer")
        .expect("an offer");
    assert_eq!(offer.call, second.call, "{}", dump(&server));
    assert!(agent.wait_event("confirmed", 10).is_some());
    assert!(urgent.wait_event("disconnected", 0).is_none());
    plain.quit();
    urgent.quit();
    agent.quit();
}
