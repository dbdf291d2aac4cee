//! Shutdown and restart without losing calls or logins.
//!
//! - Graceful drain: SIGTERM during a bridged call — the audio keeps flowing both ways
//!   (checked in both phones' recordings), a new INVITE (SIPp) gets 503 with a
//!   Retry-After, and the process exits by itself once the caller hangs up. (A second
//!   SIGTERM ending the calls at once: `call_path.rs`,
//!   `a_second_sigterm_ends_live_calls_at_once_and_logs_them`.) When `drain_timeout`
//!   passes first, the calls still up are hung up and logged, and the process exits.
//! - Registrations survive a restart: a phone registers, the server is killed with
//!   SIGKILL and started again on the same data directory; the agent is still registered
//!   and available, and a queue call reaches its phone.

use std::time::Duration;

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::carrier::free_media_port;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{require_peer, scratch_dir, sipp, sipp_trace, wait_for, Server};

/// The last `secs` seconds of a recording's first channel, minus the final 250 ms.
fn tail(path: &std::path::Path, secs: f64) -> (Vec<f64>, u32) {
    let (x, sr) = read_channel(path, 0);
    let n = x.len();
    let from = n.saturating_sub((secs * f64::from(sr)) as usize);
    (x[from..n.saturating_sub(sr as usize / 4)].to_vec(), sr)
}

#[test]
fn sigterm_drains_a_bridged_call_refuses_new_ones_with_retry_after_and_exits_after_it() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let mut server = Server::start("drain", "");
    let dir = scratch_dir("drain-phones");
    let (caller_wav, agent_wav) = (dir.join("caller.wav"), dir.join("agent.wav"));
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            record: Some(agent_wav.clone()),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 15).is_some());
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+79995550193",
            tone_hz: 1000,
            record: Some(caller_wav.clone()),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "call answered; log:\n{}",
        server.log_text()
    );
    assert!(caller.wait_event("media", 10).is_some());
    caller.command("dtmf 1");
    let bridge = server
        .wait_event(40, |e| e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("bridged; events: {:#?}", server.events()));
    let call = bridge.call.clone();

    server.signal("TERM");
    server
        .wait_event(10, |e| e.kind == "system.draining")
        .expect("SIGTERM starts the drain");

    // A new call is refused: 503 with a Retry-After (the scenario checks the header).
    let mp = free_media_port().to_string();
    let out = sipp(
        "invite_refused_503_retry_after.xml",
        server.sip,
        &["-s", "100", "-mp", &mp, "-m", "1"],
        20,
    );
    assert!(
        out.status.success(),
        "new INVITE during the drain: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );

    // The bridged call goes on: talk a while after the signal, then the caller hangs up.
    std::thread::sleep(Duration::from_secs(3));
    assert!(server.is_running(), "the live call keeps the server up");
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    assert!(
        agent.wait_event("disconnected", 10).is_some(),
        "the agent gets BYE when the caller hangs up"
    );
    let status = server.wait_exit(30).unwrap_or_else(|| {
        panic!(
            "exits by itself after the last call; log:\n{}",
            server.log_text()
        )
    });
    assert!(status.success(), "clean exit: {status:?}");
    caller.quit();
    agent.quit();

    let events = server.events();
    let end = events
        .iter()
        .find(|e| e.kind == "call.end" && e.call == call)
        .expect("call.end");
    assert_ne!(
        end.data["end_reason"], "shutdown",
        "the call ended by itself: {end:?}"
    );
    assert_eq!(end.data["disposition"], "answered", "{end:?}");
    let stop = events
        .iter()
        .find(|e| e.kind == "system.stop")
        .expect("system.stop");
    assert_eq!(stop.data["drained"], true, "{stop:?}");
    assert!(
        !events
            .iter()
            .any(|e| e.kind == "call.start" && e.data["caller"] == "+79995550199"),
        "the refused INVITE started no call"
    );

    // Audio both ways in the last seconds, all after the SIGTERM.
    let (heard_by_caller, sr) = tail(&caller_wav, 2.0);
    let share = tone_share(&heard_by_caller, sr, 2000.0);
    assert!(
        share > 0.3,
        "caller hears the agent's 2 kHz after SIGTERM ({share:.2})"
    );
    let (heard_by_agent, sr) = tail(&agent_wav, 2.0);
    let share = tone_share(&heard_by_agent, sr, 1000.0);
    assert!(
        share > 0.3,
        "agent hears the caller's 1 kHz after SIGTERM ({share:.2})"
    );
}

/// Agent `agent`'s state on the admin API, lower-cased ("available", ...).
fn agent_state(server: &Server, agent: &str) -> String {
    let (_, body) = server.http_get("/api/v1/agents");
    let all: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    all.as_array()
        .into_iter()
        .flatten()
        .find(|a| a["agent"] == agent)
        .and_then(|a| a["state"].as_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

#[test]
fn registrations_survive_kill_9_and_a_restart_and_the_agent_still_gets_queue_calls() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let mut first = Server::start("restart-first", "");
    let data_dir = first.data_dir.clone();
    let mut agent = Softphone::start(
        &py,
        first.sip,
        SoftphoneOpts {
            user: Some(("1002", "secret-1002")),
            tone_hz: 2000,
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 15).is_some());
    // The binding reaches the store (written on change) before the crash.
    let store = data_dir.join("registrations.json");
    wait_for(10, || {
        std::fs::read_to_string(&store)
            .ok()
            .filter(|t| t.contains("\"1002\""))
    })
    .unwrap_or_else(|| panic!("registrations.json holds 1002; log:\n{}", first.log_text()));
    first.signal("KILL");
    first.wait_exit(10).expect("killed");

    let second = Server::start_on("restart-second", "", &[], Some(&data_dir));
    assert!(
        second.log_text().contains("registrations restored"),
        "{}",
        second.log_text()
    );
    let (status, regs) = second.http_get("/api/v1/registrations");
    assert_eq!(status, 200, "{regs}");
    let regs: serde_json::Value = serde_json::from_str(&regs).expect("JSON");
    let r1002 = regs
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["user"] == "1002")
        .unwrap_or_else(|| panic!("1002 still registered: {regs}"));
    assert!(
        r1002["expires_in"].as_u64().is_some_and(|s| s > 60),
        "keeps its expiry: {r1002}"
    );
    wait_for(10, || {
        (agent_state(&second, "1002") == "available").then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "1002 available after the restart: {}",
            agent_state(&second, "1002")
        )
    });

    // A sales call (100, key 1) reaches the phone that registered with the first process.
    let mut caller = Softphone::start(
        &py,
        second.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", second.sip)),
            caller: "+79995550194",
            tone_hz: 1000,
            seconds: 60,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("confirmed", 20).is_some());
    assert!(caller.wait_event("media", 10).is_some());
    caller.command("dtmf 1");
    assert!(
        agent.wait_event("incoming", 40).is_some(),
        "the restored agent is offered the call; events: {:#?}",
        second.events()
    );
    let bridge = second
        .wait_event(20, |e| e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("bridged; events: {:#?}", second.events()));
    assert_eq!(bridge.agent, "1002", "{bridge:?}");
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    caller.quit();
    agent.quit();
}

#[test]
fn the_drain_timeout_ends_calls_still_up_and_the_process_exits() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let mut server = Server::start("drain-timeout", "[shutdown]\ndrain_timeout = 2\n");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+79995550195",
            seconds: 60,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("confirmed", 20).is_some());
    assert!(caller.wait_event("media", 10).is_some());
    caller.command("dtmf 1");
    // No agent is logged in: the caller waits in sales.
    let join = server
        .wait_event(30, |e| e.kind == "queue.join")
        .unwrap_or_else(|| panic!("queued; events: {:#?}", server.events()));
    server.signal("TERM");
    let status = server
        .wait_exit(30)
        .unwrap_or_else(|| panic!("exits after the drain timeout; log:\n{}", server.log_text()));
    assert!(status.success(), "clean exit: {status:?}");
    assert!(
        caller.wait_event("disconnected", 10).is_some(),
        "the waiting caller is hung up when the drain timeout passes"
    );
    caller.quit();
    let events = server.events();
    let end = events
        .iter()
        .find(|e| e.kind == "call.end" && e.call == join.call)
        .unwrap_or_else(|| panic!("call.end logged before exit; log:\n{}", server.log_text()));
    assert_eq!(end.data["end_reason"], "shutdown", "{end:?}");
    let stop = events
        .iter()
        .find(|e| e.kind == "system.stop")
        .expect("system.stop");
    assert_eq!(stop.data["drained"], false, "{stop:?}");
    assert!(server.log_text().contains("drain timeout passed"));
}
