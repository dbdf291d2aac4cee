//! The WebSocket event stream (`GET /api/v1/events`) against the real binary, read by a
//! client we did not write (the Python `websockets` package, tests/peers/ws_events_client.py):
//! a pjsua2 agent answers a SIPp caller from the queue; an admin's stream carries every
//! event of it, in order and equal to the stored rows; a supervisor's replay has the
//! caller's number masked; an agent token's stream only that agent's events; a filtered stream only its queue and kinds; a reconnect with
//! `since=<an id in the middle>` gets exactly the missed events, then live ones. The
//! upgrade itself is checked: tokens (header or subprotocol), parameters, the client cap,
//! a client that sends messages.

use std::collections::BTreeMap;

use serde_json::Value;
use switchboard_e2e::peers::{python_with_pjsua2, registered, Softphone, SoftphoneOpts};
use switchboard_e2e::ws::{python_with_websockets, EventClient, WsAuth};
use switchboard_e2e::{http_call, require_peer, sipp, sipp_trace, LoggedEvent, Server};

fn config() -> &'static str {
    r#"
[ivr]
dialplans = "tests/dialplans-acd"

[media]
rtp_timeout = 120

[[queues]]
name = "sales"
members = ["1001"]
ring_timeout = 15
wrap_up = 1
announce_period = 0
record = false

[[queues]]
name = "bank"
members = ["1002"]

[[queues]]
name = "support"
members = ["1003"]

[[queues]]
name = "operator"
members = ["1003"]

[[queues]]
name = "outsource"
members = ["1003"]
"#
}

fn agent_phone(py: &str, server: &Server, user: &str) -> Softphone {
    let phone = registered(
        py,
        server.sip,
        user,
        SoftphoneOpts {
            seconds: 90,
            ..Default::default()
        },
    );
    server
        .wait_event(15, |e| {
            e.kind == "agent.state" && e.agent == user && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("agent {user} available; log:\n{}", server.log_text()));
    phone
}

fn ids(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .map(|f| f["id"].as_i64().expect("id"))
        .collect()
}

/// Position of the first frame of `call` with `kind`.
fn pos(frames: &[Value], call: &str, kind: &str) -> usize {
    frames
        .iter()
        .position(|f| f["call"] == call && f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} of {call} in {frames:#?}"))
}

fn opened(client: &mut EventClient) -> Value {
    let first = client.opened(20);
    assert_eq!(first["event"], "open", "{first}");
    first
}

#[test]
fn a_live_call_streams_in_order_and_a_reconnect_misses_nothing() {
    if !require_peer("sipp") {
        return;
    }
    let (Some(py), Some(wspy)) = (python_with_pjsua2(), python_with_websockets()) else {
        return;
    };
    let server = Server::start("ws-events-call", config());
    let http = server.http;
    let mut sup = EventClient::connect(&wspy, http, "/api/v1/events", WsAuth::Header("demo-admin"));
    opened(&mut sup);
    let mut own = EventClient::connect(
        &wspy,
        http,
        "/api/v1/events",
        WsAuth::Header("demo-agent-1001"),
    );
    opened(&mut own);
    let mut sales = EventClient::connect(
        &wspy,
        http,
        "/api/v1/events?queue=sales&kind=call.,queue.",
        WsAuth::Subprotocol("demo-supervisor"),
    );
    assert_eq!(opened(&mut sales)["subprotocol"], "switchboard.v1");

    let mut a1001 = agent_phone(&py, &server, "1001");
    let _a1002 = agent_phone(&py, &server, "1002");
    let target = server.sip;
    let caller = std::thread::spawn(move || {
        sipp(
            "acd_caller.xml",
            target,
            &["-s", "200", "-m", "1", "-l", "1"],
            60,
        )
    });
    assert!(
        a1001.wait_event("confirmed", 30).is_some(),
        "agent 1001 answers; log:\n{}",
        server.log_text()
    );
    a1001.command("hangup");
    let out = caller.join().expect("sipp thread");
    assert!(out.status.success(), "caller: {}", sipp_trace(&out));
    let end = server
        .wait_event(20, |e| {
            e.kind == "call.end" && e.data["disposition"] == "answered"
        })
        .unwrap_or_else(|| panic!("the call ended; log:\n{}", server.log_text()));
    let call = end.call.clone();
    // Wrap-up over: 1001 is available again after the call.
    let back = server
        .wait_event(20, |e| {
            e.id > end.id && e.agent == "1001" && e.data["state"] == "available"
        })
        .expect("1001 available after wrap-up");
    let store: BTreeMap<i64, LoggedEvent> = server
        .events()
        .into_iter()
        .filter(|e| e.id <= back.id)
        .map(|e| (e.id, e))
        .collect();

    // The supervisor: every stored event from before the agents registered on, no gap,
    // no duplicate, each frame equal to its row.
    let frames = sup
        .frames_through(back.id, 20)
        .unwrap_or_else(|| panic!("supervisor stream reached {}: {:#?}", back.id, sup.seen));
    let frames: Vec<Value> = frames
        .into_iter()
        .filter(|f| f["id"].as_i64() <= Some(back.id))
        .collect();
    let first = ids(&frames)[0];
    let login = store
        .values()
        .find(|e| e.kind == "agent.login" && e.agent == "1001")
        .expect("agent.login stored");
    assert!(
        first <= login.id,
        "the stream began before the agent logged in"
    );
    let want: Vec<i64> = store.keys().copied().filter(|id| *id >= first).collect();
    assert_eq!(
        ids(&frames),
        want,
        "supervisor frames are the stored rows in order"
    );
    for f in &frames {
        let row = &store[&f["id"].as_i64().unwrap()];
        assert_eq!(
            (
                f["kind"].as_str(),
                f["call"].as_str(),
                f["queue"].as_str(),
                f["agent"].as_str()
            ),
            (
                Some(row.kind.as_str()),
                Some(row.call.as_str()),
                Some(row.queue.as_str()),
                Some(row.agent.as_str())
            ),
            "{f}"
        );
        assert_eq!(f["data"], row.data, "{f}");
        assert_eq!(f["call_seq"].as_i64(), Some(row.call_seq));
        assert!(f["ts_ms"].as_i64().is_some_and(|t| t > 0), "{f}");
    }
    let start = pos(&frames, &call, "call.start");
    let join = pos(&frames, &call, "queue.join");
    let offer = pos(&frames, &call, "queue.offer");
    let bridge = pos(&frames, &call, "call.bridge");
    let ended = pos(&frames, &call, "call.end");
    assert!(start < join && join < offer && offer < bridge && bridge < ended);
    assert!(frames
        .iter()
        .any(|f| f["kind"] == "agent.state" && f["agent"] == "1001"));
    let start_id = frames[start]["id"].as_i64().unwrap();
    let number = store[&start_id].data["caller"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        number.starts_with("+7999000"),
        "SIPp's caller number: {number}"
    );
    assert_eq!(
        frames[start]["data"]["caller"],
        number.as_str(),
        "admins see it whole"
    );

    // A supervisor replaying from 0, call.start only: the number masked as in /api/v1/calls.
    let mut starts = EventClient::connect(
        &wspy,
        http,
        "/api/v1/events?since=0&kind=call.start",
        WsAuth::Header("demo-supervisor"),
    );
    opened(&mut starts);
    let got = starts
        .frames_through(start_id, 20)
        .expect("call.start replayed");
    assert!(got.iter().all(|f| f["kind"] == "call.start"), "{got:#?}");
    let masked = format!(
        "+{}{}",
        "*".repeat(number.len() - 5),
        &number[number.len() - 4..]
    );
    assert_eq!(got.last().unwrap()["data"]["caller"], masked.as_str());

    // Agent 1001's token: its own events and its call from the offer on, nobody else's.
    let mine = own.frames_through(back.id, 20).expect("agent stream");
    assert!(!mine.is_empty());
    for f in &mine {
        assert!(
            f["agent"] == "1001" || (f["call"] == call.as_str() && f["agent"] == ""),
            "agent 1001 was sent {f}"
        );
    }
    for kind in ["queue.offer", "call.bridge", "call.end"] {
        pos(&mine, &call, kind);
    }
    assert!(mine.iter().any(|f| f["kind"] == "agent.login"));
    assert!(
        mine.iter().all(|f| f["kind"] != "call.start"),
        "call.start precedes the offer"
    );

    // queue=sales, kinds call. and queue.: the call's queue and call events only.
    let seen = sales.frames_through(end.id, 20).expect("filtered stream");
    for f in &seen {
        let k = f["kind"].as_str().unwrap_or("");
        assert!(k.starts_with("call.") || k.starts_with("queue."), "{f}");
        assert!(f["queue"] == "sales" || f["call"] == call.as_str(), "{f}");
    }
    for kind in ["queue.join", "queue.offer", "call.bridge", "call.end"] {
        pos(&seen, &call, kind);
    }

    // Reconnect from the offer: exactly the events after it, then live ones.
    let mid = frames[offer]["id"].as_i64().unwrap();
    let mut again = EventClient::connect(
        &wspy,
        http,
        &format!("/api/v1/events?since={mid}"),
        WsAuth::Header("demo-supervisor"),
    );
    opened(&mut again);
    let replayed = again.frames_through(back.id, 20).expect("replay");
    let want: Vec<i64> = store.keys().copied().filter(|id| *id > mid).collect();
    assert_eq!(ids(&replayed)[..want.len()], want[..], "replay after {mid}");
    let (status, body) = http_call(
        http,
        "POST",
        "/api/v1/agents/1001/pause",
        Some(r#"{"reason": "lunch"}"#),
        Some("demo-agent-1001"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let paused = again
        .wait(20, |v| {
            v["data"]["kind"] == "agent.state" && v["data"]["data"]["state"] == "paused"
        })
        .expect("the live pause arrives after the replay");
    let paused_id = paused["data"]["id"].as_i64().unwrap();
    let all = again.frames();
    let got: Vec<i64> = ids(&all)
        .into_iter()
        .filter(|id| *id <= paused_id)
        .collect();
    let want: Vec<i64> = server
        .events()
        .iter()
        .map(|e| e.id)
        .filter(|id| *id > mid && *id <= paused_id)
        .collect();
    assert_eq!(got, want, "replay then live: no gap, no duplicate");
    a1001.quit();
}

#[test]
fn upgrades_are_authenticated_checked_and_capped() {
    let Some(py) = python_with_websockets() else {
        return;
    };
    let server = Server::start("ws-events-auth", "[http]\nmax_ws_clients = 2\n");
    let http = server.http;
    let refused = |path: &str, auth: WsAuth<'_>| -> (i64, Value) {
        let mut c = EventClient::connect(&py, http, path, auth);
        let first = c.opened(20);
        assert_eq!(first["event"], "rejected", "{path}: {first}");
        let body: Value = serde_json::from_str(first["body"].as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("JSON error body ({e}): {first}"));
        (first["status"].as_i64().unwrap_or(0), body)
    };
    for auth in [
        WsAuth::None,
        WsAuth::Header("demo-nobody"),
        WsAuth::Subprotocol("demo-nobody"),
    ] {
        let (status, body) = refused("/api/v1/events", auth);
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("unauthorized")),
            "{auth:?}"
        );
    }
    let (status, body) = refused(
        "/api/v1/events?agent=1002",
        WsAuth::Header("demo-agent-1001"),
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    for bad in ["?kind=CALL", "?colour=red", "?since=-1", "?queue="] {
        let (status, body) = refused(
            &format!("/api/v1/events{bad}"),
            WsAuth::Header("demo-admin"),
        );
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
    let (status, body) = refused(
        "/api/v1/events?since=99999999",
        WsAuth::Header("demo-admin"),
    );
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("since_ahead")),
        "{body}"
    );
    // A plain GET (no upgrade) is told to upgrade.
    let (status, body) = http_call(
        http,
        "GET",
        "/api/v1/events",
        None,
        Some("demo-admin"),
        None,
    );
    assert_eq!(status, 426, "{body}");

    // The cap: two clients, the third is refused with 503.
    let mut one = EventClient::connect(&py, http, "/api/v1/events", WsAuth::Header("demo-admin"));
    opened(&mut one);
    let mut two = EventClient::connect(
        &py,
        http,
        "/api/v1/events?since=0",
        WsAuth::Subprotocol("demo-agent-1003"),
    );
    assert_eq!(opened(&mut two)["subprotocol"], "switchboard.v1");
    let (status, body) = refused("/api/v1/events", WsAuth::Header("demo-admin"));
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("too_many_clients"))
    );
    let metric = |name: &str| -> Option<i64> {
        let (_, text) = server.http_get("/metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
    };
    assert_eq!(metric("switchboard_ws_clients"), Some(2));
    assert_eq!(metric("switchboard_ws_clients_refused_total"), Some(1));

    // A client that talks gets a close frame (1003), and its slot is free again.
    one.send_text("hello?");
    let closed = one
        .wait(20, |v| v["event"] == "closed")
        .expect("the server closes a talking client");
    assert_eq!(closed["code"], 1003, "{closed}");
    switchboard_e2e::wait_for(20, || {
        (metric("switchboard_ws_clients") == Some(1)).then_some(())
    })
    .expect("the closed client is no longer counted");
    let mut three = EventClient::connect(&py, http, "/api/v1/events", WsAuth::Header("demo-admin"));
    opened(&mut three);
    assert_eq!(metric("switchboard_ws_clients_dropped_total"), Some(0));
}
