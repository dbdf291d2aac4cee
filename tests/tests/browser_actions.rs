//! The agent desktop's and the wallboard's actions beyond the first browser test
//! (`browser.rs`), in headless Chromium and Firefox ESR (the same body in each) against the real binary with SIPp callers and
//! pjsua2 phones: the offer card lists the previous calls of the caller's number from the
//! event log; a supervisor moves a waiting caller to another queue and listens to a call
//! from the wallboard's live-calls table. Every wait is a bounded poll of a DOM or event condition; the pages must
//! log no console error and ask no other host for anything. Screenshots go to
//! `target/browser-artifacts/` (Firefox's under `firefox/`).

use serde_json::{json, Value};
use switchboard_e2e::browser_pages::{artifacts, assert_clean, sign_in};
use switchboard_e2e::browsers::{Driver, Engine};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, require_peer, sipp, sipp_trace, Server};

fn config() -> String {
    r#"
[ivr]
dialplans = "tests/dialplans-browser"

[media]
rtp_timeout = 120

[[queues]]
name = "sales"
members = ["1001"]
ring_timeout = 60
wrap_up = 60
dispositions = ["sale", "no-sale"]
announce_period = 0
record = false

[[queues]]
name = "operator"
members = ["1003"]

[[queues]]
name = "support"
members = ["1002"]
"#
    .to_string()
}

/// `(status, JSON body)` of a request with `token`.
fn api(server: &Server, method: &str, path: &str, body: Option<&str>, token: &str) -> (u16, Value) {
    let (status, text) = http_call(server.http, method, path, body, Some(token), None);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Waits (at most 20 s) until the phone has reported `n` events named `name`.
fn count_events(phone: &mut Softphone, name: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let count = |p: &Softphone| p.seen.iter().filter(|v| v["event"] == name).count();
    while count(phone) < n && std::time::Instant::now() < deadline {
        let _ = phone.wait_event("-", 1);
    }
    assert_eq!(count(phone), n, "{name} events: {:?}", phone.seen);
}

/// One SIPp caller into sales (dialled 200); SIPp's `acd_caller.xml` calls from the same
/// number each run.
fn caller(server: &Server) -> std::thread::JoinHandle<std::process::Output> {
    let target = server.sip;
    std::thread::spawn(move || {
        sipp(
            "acd_caller.xml",
            target,
            &["-s", "200", "-m", "1", "-l", "1"],
            100,
        )
    })
}

#[test]
fn the_offer_card_lists_the_previous_calls_of_the_number_in_chromium() {
    the_offer_card_lists_the_previous_calls_of_the_number(Engine::Chromium);
}

#[test]
fn the_offer_card_lists_the_previous_calls_of_the_number_in_firefox() {
    the_offer_card_lists_the_previous_calls_of_the_number(Engine::Firefox);
}

fn the_offer_card_lists_the_previous_calls_of_the_number(engine: Engine) {
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(driver) = Driver::start(engine) else {
        return;
    };
    let server = Server::start("browser-history", &config());
    let base = format!("http://{}", server.http);
    let mut phone = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            answer: "none",
            seconds: 150,
            ..Default::default()
        },
    );
    let reg = phone.wait_event("registered", 20);
    assert_eq!(reg.map(|r| r["code"].clone()), Some(json!(200)));
    server
        .wait_event(20, |e| {
            e.kind == "agent.state" && e.agent == "1001" && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("1001 available: {}", server.log_text()));

    // The agent desktop, signed in as 1001, with no call yet.
    let mut desk = driver.session(1280, 900, "en-US");
    sign_in(&desk, &format!("{base}/agent"), "demo-agent-1001");

    // The first call: answered by 1001, disposition "sale" with notes, wrap-up ended.
    let first = caller(&server);
    count_events(&mut phone, "incoming", 1);
    let first_call = server
        .wait_event(20, |e| e.kind == "queue.offer" && e.agent == "1001")
        .unwrap_or_else(|| panic!("the first call is offered: {}", server.log_text()))
        .call;
    // The card of a number that never called before says so.
    let none = desk
        .wait_js(
            20,
            "const h = document.getElementById('history');\
             if (document.getElementById('offer').hidden || h.dataset.loaded !== 'true') return null;\
             return {none: !document.getElementById('history-none').hidden,\
                     table: !document.getElementById('history-calls').hidden};",
        )
        .expect("the offer card loads the previous calls");
    assert_eq!(none, json!({"none": true, "table": false}));
    phone.command("answer");
    count_events(&mut phone, "confirmed", 1);
    phone.command("hangup");
    let out = first.join().expect("sipp thread");
    assert!(out.status.success(), "first caller: {}", sipp_trace(&out));
    let (status, body) = api(
        &server,
        "POST",
        "/api/v1/agents/1001/disposition",
        Some(r#"{"code": "sale", "notes": "2 seats"}"#),
        "demo-agent-1001",
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = api(
        &server,
        "POST",
        "/api/v1/agents/1001/wrapup/end",
        None,
        "demo-agent-1001",
    );
    assert!((200..300).contains(&status), "{body}");
    server
        .wait_event(20, |e| e.kind == "call.disposition" && e.call == first_call)
        .expect("the disposition is logged");

    // The second call from the same number: the card lists the first.
    let second = caller(&server);
    count_events(&mut phone, "incoming", 2);
    let second_call = server
        .wait_event(20, |e| e.kind == "queue.offer" && e.call != first_call)
        .unwrap_or_else(|| panic!("the second call is offered: {}", server.log_text()))
        .call;
    let rows = desk
        .wait_js(
            20,
            &format!(
                "const o = document.getElementById('offer');\
                 const h = document.getElementById('history');\
                 if (o.hidden || o.dataset.call !== '{second_call}' || h.dataset.loaded !== 'true') return null;\
                 return [...h.querySelectorAll('tbody tr')].map((r) => {{\
                   const f = (k) => r.querySelector(`[data-field=${{k}}]`);\
                   return {{call: r.dataset.call, queue: f('queue').textContent, agent: f('agent').textContent,\
                           outcome: f('outcome').textContent, disposition: f('disposition').textContent,\
                           notes: f('disposition').title, duration: f('duration').textContent}};\
                 }});"
            ),
        )
        .unwrap_or(Value::Null);
    assert!(rows.is_array(), "the card shows the previous calls: {rows}");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    let row = &rows[0];
    assert_eq!(row["call"], first_call.as_str(), "{row}");
    assert_eq!(row["queue"], "sales", "{row}");
    assert_eq!(row["agent"], "1001", "{row}");
    assert_eq!(row["outcome"], "answered", "{row}");
    assert_eq!(row["disposition"], "sale", "{row}");
    assert_eq!(row["notes"], "2 seats", "{row}");
    assert_ne!(row["duration"], "—", "{row}");
    desk.screenshot(&artifacts(&*desk).join("agent-desktop-history.png"));

    // Who may ask: the agent for its own offered call, staff for any live call; another
    // agent is refused, an unknown call is 404.
    let path = format!("/api/v1/calls/{second_call}/history");
    let (status, body) = api(&server, "GET", &path, None, "demo-agent-1001");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["previous"][0]["call"], first_call.as_str(), "{body}");
    let (status, body) = api(&server, "GET", &path, None, "demo-supervisor");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["previous"][0]["disposition"], "sale", "{body}");
    let (status, body) = api(&server, "GET", &path, None, "demo-agent-1002");
    assert_eq!(status, 403, "another agent's call: {body}");
    let (status, body) = api(
        &server,
        "GET",
        "/api/v1/calls/12345/history",
        None,
        "demo-agent-1001",
    );
    assert_eq!(status, 404, "{body}");

    phone.command("answer");
    count_events(&mut phone, "confirmed", 2);
    phone.command("hangup");
    let out = second.join().expect("sipp thread");
    assert!(out.status.success(), "second caller: {}", sipp_trace(&out));
    assert_clean(&mut desk, "agent desktop", &server);
    phone.quit();
}

/// The supervisor, on the wallboard's live-calls table: moves a caller waiting in sales
/// (whose only agent is paused) to support -> support's agent 1002 is rung and answers;
/// then listens to that call -> the engine calls the supervisor's own phone (1005) and
/// joins it in listen mode.
#[test]
fn the_wallboard_moves_a_waiting_caller_and_listens_to_a_call_in_chromium() {
    the_wallboard_moves_a_waiting_caller_and_listens_to_a_call(Engine::Chromium);
}

#[test]
fn the_wallboard_moves_a_waiting_caller_and_listens_to_a_call_in_firefox() {
    the_wallboard_moves_a_waiting_caller_and_listens_to_a_call(Engine::Firefox);
}

fn the_wallboard_moves_a_waiting_caller_and_listens_to_a_call(engine: Engine) {
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(driver) = Driver::start(engine) else {
        return;
    };
    let server = Server::start("browser-supervisor", &config());
    let base = format!("http://{}", server.http);
    let phone = |user: &'static str, password: &'static str, answer: &'static str| {
        let mut p = Softphone::start(
            &py,
            server.sip,
            SoftphoneOpts {
                user: Some((user, password)),
                answer,
                seconds: 120,
                ..Default::default()
            },
        );
        let reg = p.wait_event("registered", 20);
        assert_eq!(reg.map(|r| r["code"].clone()), Some(json!(200)), "{user}");
        p
    };
    let mut a1001 = phone("1001", "secret-1001", "none");
    let mut a1002 = phone("1002", "secret-1002", "auto");
    let mut boss = phone("1005", "secret-1005", "auto");
    for agent in ["1001", "1002"] {
        server
            .wait_event(20, |e| {
                e.kind == "agent.state" && e.agent == agent && e.data["state"] == "available"
            })
            .unwrap_or_else(|| panic!("{agent} available: {}", server.log_text()));
    }
    let (status, body) = api(
        &server,
        "POST",
        "/api/v1/agents/1001/pause",
        Some(r#"{"reason": "break"}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 200, "{body}");

    let mut wall = driver.session(1600, 1000, "en-US");
    sign_in(&wall, &format!("{base}/"), "demo-supervisor");
    assert_eq!(
        wall.js(
            "return document.getElementById('calls-panel').hidden",
            json!([])
        ),
        false,
        "a supervisor sees the live calls"
    );
    // The supervisor's own phone, typed once (Tab commits it).
    wall.type_into("#my-phone", "1005\u{E004}");

    // A caller waits in sales; the supervisor moves it to support from the table.
    let sipp_caller = caller(&server);
    let joined = server
        .wait_event(30, |e| e.kind == "queue.join" && e.queue == "sales")
        .unwrap_or_else(|| panic!("the caller joined sales: {}", server.log_text()));
    let id = joined.call.clone();
    let row = format!("tr[data-call=\"{id}\"]");
    wall.wait_js(
        20,
        &format!(
            "const r = document.querySelector('{row}'); return r && r.dataset.phase === 'queued'"
        ),
    )
    .expect("the table shows the caller waiting");
    // Let the caller wait 2 s in sales first: after the move its whole wait (`wait_s`)
    // keeps counting from the join, its wait in support (`queue_wait_s`) from the move.
    let call_path = format!("/api/v1/calls/{id}");
    switchboard_e2e::wait_for(20, || {
        let (_, c) = api(&server, "GET", &call_path, None, "demo-supervisor");
        c["wait_s"].as_f64().filter(|w| *w >= 2.0)
    })
    .expect("the caller waited 2 s in sales");
    wall.click(&format!(
        "{row} select.move-target option[value=\"support\"]"
    ));
    wall.click(&format!("{row} button[data-action=move]"));
    let moved = server
        .wait_event(20, |e| e.kind == "call.transfer" && e.call == id)
        .unwrap_or_else(|| panic!("the caller was moved: {}", server.log_text()));
    assert_eq!(moved.data["to_queue"], "support", "{:?}", moved.data);
    assert_eq!(moved.data["by"], "demo-supervisor", "{:?}", moved.data);
    assert_eq!(moved.queue, "sales");
    let overflow = server
        .wait_event(20, |e| e.kind == "queue.overflow" && e.call == id)
        .expect("the ACD moved the entry");
    assert_eq!(overflow.data["to"], "support");
    // Support's agent is rung and answers; the paused sales agent never was.
    count_events(&mut a1002, "confirmed", 1);
    let bridge = server
        .wait_event(20, |e| e.kind == "call.bridge" && e.call == id)
        .expect("bridged to support's agent");
    assert_eq!(bridge.agent, "1002");
    assert_eq!(bridge.queue, "support");
    let _ = a1001.wait_event("-", 0);
    assert!(
        !a1001.seen.iter().any(|v| v["event"] == "incoming"),
        "the paused agent was not rung"
    );
    wall.wait_js(
        20,
        &format!(
            "const r = document.querySelector('{row}');\
             return r && r.dataset.phase === 'bridged' && r.dataset.queue === 'support'\
               && r.querySelector('[data-field=agent]').textContent === '1002'"
        ),
    )
    .expect("the table shows the call talking in support");
    // Both waits stop at the answer; the move came at least 2 s after the join.
    let (status, c) = api(&server, "GET", &call_path, None, "demo-supervisor");
    assert_eq!(status, 200, "{c}");
    let (total, here) = (
        c["wait_s"].as_f64().expect("wait_s"),
        c["queue_wait_s"].as_f64().expect("queue_wait_s"),
    );
    assert!(
        total >= 2.0 && here <= total - 2.0,
        "the whole wait counts from the join, the queue's from the move: {c}"
    );
    let cell = wall
        .wait_js(
            10,
            &format!(
                "const w = document.querySelector('{row} [data-field=wait]');\
                 return w.textContent.includes('in this queue') ? w.textContent : null"
            ),
        )
        .expect("the table shows the wait in support beside the whole wait");
    // Once bridged, the wait is fixed: the page shows the same whole seconds as the API.
    let whole = total.floor() as u64;
    let shown = format!("{}:{:02} (", whole / 60, whole % 60);
    assert!(
        cell.as_str().is_some_and(|t| t.starts_with(&shown)),
        "the whole wait first ({shown}): {cell}"
    );

    // Listen: the engine calls 1005 and joins it to the call.
    server
        .wait_event(20, |e| e.kind == "call.connected" && e.call == id)
        .expect("call.connected");
    wall.click(&format!("{row} button[data-action=listen]"));
    wall.wait_js(
        10,
        "return document.getElementById('calls-status').textContent !== ''",
    )
    .unwrap_or_else(|| {
        panic!(
            "the request was accepted: {}",
            wall.js(
                "return document.getElementById('calls-error').textContent",
                json!([])
            )
        )
    });
    count_events(&mut boss, "confirmed", 1);
    let join = server
        .wait_event(20, |e| e.kind == "supervisor.join" && e.call == id)
        .unwrap_or_else(|| panic!("the supervisor joined: {}", server.log_text()));
    assert_eq!(join.data["supervisor"], "1005");
    assert_eq!(join.data["mode"], "listen");
    wall.screenshot(&artifacts(&*wall).join("wallboard-live-calls.png"));

    // Done: hang the call up over the API; SIPp ends cleanly.
    let (status, body) = api(
        &server,
        "POST",
        &format!("/api/v1/calls/{id}/hangup"),
        None,
        "demo-supervisor",
    );
    assert_eq!(status, 200, "{body}");
    let out = sipp_caller.join().expect("sipp thread");
    assert!(out.status.success(), "caller: {}", sipp_trace(&out));
    wall.wait_js(
        20,
        &format!("return document.querySelector('{row}') === null"),
    )
    .expect("the ended call leaves the table");
    assert_clean(&mut wall, "wallboard", &server);
    for p in [a1001, a1002, boss] {
        p.quit();
    }
}

/// The agent desktop lists the web callbacks of the agent's queues; "Call now" on one
/// scheduled an hour ahead places it at once: the agent's phone rings first, then the
/// customer's (the customer's pjsua2 doubles as the carrier trunk), and they are bridged.
#[test]
fn the_agent_desktop_lists_callbacks_and_calls_one_now_in_chromium() {
    the_agent_desktop_lists_callbacks_and_calls_one_now(Engine::Chromium);
}

#[test]
fn the_agent_desktop_lists_callbacks_and_calls_one_now_in_firefox() {
    the_agent_desktop_lists_callbacks_and_calls_one_now(Engine::Firefox);
}

fn the_agent_desktop_lists_callbacks_and_calls_one_now(engine: Engine) {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(driver) = Driver::start(engine) else {
        return;
    };
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port");
    let server = Server::start(
        "browser-callbacks",
        &format!("[sip]\noutbound_trunk = \"127.0.0.1:{port}\"\n"),
    );
    let base = format!("http://{}", server.http);
    let mut customer = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            local_port: port,
            seconds: 90,
            ..Default::default()
        },
    );
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 20).is_some());
    server
        .wait_event(20, |e| {
            e.kind == "agent.state" && e.agent == "1001" && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("1001 available: {}", server.log_text()));
    // Two callbacks an hour ahead: one in sales (1001's queue), one in a queue 1001 is
    // not in.
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let ask = |queue: &str, name: &str| {
        let body = format!(
            r#"{{"queue": "{queue}", "number": "+74951234567", "at": "{at}", "name": "{name}"}}"#
        );
        let (status, made) = api(
            &server,
            "POST",
            "/api/v1/callbacks",
            Some(&body),
            "demo-supervisor",
        );
        assert_eq!(status, 201, "{made}");
        made["id"].as_str().expect("an id").to_string()
    };
    let id = ask("sales", "Ivan");
    let other = ask("bank", "Olga");

    let mut desk = driver.session(1280, 900, "en-US");
    sign_in(&desk, &format!("{base}/agent"), "demo-agent-1001");
    let rows = desk
        .wait_js(
            20,
            "const rows = [...document.querySelectorAll('#callbacks-list tbody tr')];\
             if (rows.length === 0) return null;\
             return rows.map((r) => ({id: r.dataset.callback,\
               name: r.querySelector('[data-field=name]').textContent,\
               number: r.querySelector('[data-field=number]').textContent,\
               state: r.dataset.state}));",
        )
        .expect("the desk lists the callbacks");
    assert_eq!(
        rows,
        json!([{"id": id, "name": "Ivan", "number": "+*******4567", "state": "scheduled"}]),
        "only the callbacks of the agent's queues, numbers masked"
    );
    // The API refuses another agent's start and a callback outside the agent's queues.
    let start = |cb: &str, token: &str, body: Option<&str>| {
        api(
            &server,
            "POST",
            &format!("/api/v1/callbacks/{cb}/start"),
            body,
            token,
        )
    };
    let (status, body) = start(&other, "demo-agent-1001", None);
    assert_eq!(status, 404, "not in 1001's queues: {body}");
    let (status, body) = start(&id, "demo-agent-1001", Some(r#"{"agent": "1002"}"#));
    assert_eq!(status, 403, "{body}");
    let (status, body) = start(&id, "demo-supervisor", None);
    assert_eq!(status, 400, "staff name the agent: {body}");

    desk.click(&format!(
        "tr[data-callback=\"{id}\"] button[data-action=start]"
    ));
    desk.wait_js(
        10,
        "return document.getElementById('callbacks-status').textContent !== ''",
    )
    .unwrap_or_else(|| {
        panic!(
            "the start was accepted: {}",
            desk.js(
                "return document.getElementById('callbacks-error').textContent",
                json!([])
            )
        )
    });
    // The agent's phone first, then the customer's; bridged.
    count_events(&mut agent, "confirmed", 1);
    count_events(&mut customer, "confirmed", 1);
    let placed = server
        .wait_event(20, |e| {
            e.kind == "call.start" && e.data["callback_for"] == id.as_str()
        })
        .unwrap_or_else(|| panic!("the callback was placed: {}", server.log_text()));
    server
        .wait_event(20, |e| e.kind == "call.bridge" && e.call == placed.call)
        .unwrap_or_else(|| panic!("agent and customer bridged: {}", server.log_text()));
    desk.screenshot(&artifacts(&*desk).join("agent-desktop-callbacks.png"));
    agent.command("hangup");
    server
        .wait_event(20, |e| e.kind == "callback.done" && e.call == id)
        .unwrap_or_else(|| panic!("the callback is done: {}", server.log_text()));
    desk.wait_js(
        20,
        &format!("return document.querySelector('tr[data-callback=\"{id}\"]') === null"),
    )
    .expect("the done callback leaves the list");
    let (_, left) = api(&server, "GET", "/api/v1/callbacks", None, "demo-admin");
    assert_eq!(
        left.as_array().map(Vec::len),
        Some(1),
        "Olga's is still pending: {left}"
    );
    assert_clean(&mut desk, "agent desktop", &server);
    agent.quit();
    customer.quit();
}

/// The wallboard's event stream drops (closed from the page, as a network failure would);
/// events logged meanwhile (two web callbacks asked for) reach the page after it
/// reconnects with `?since=<last id>`: every event the server logged after the drop, once
/// each, in order.
#[test]
fn the_wallboard_resumes_the_event_stream_where_it_dropped_in_chromium() {
    the_wallboard_resumes_the_event_stream_where_it_dropped(Engine::Chromium);
}

#[test]
fn the_wallboard_resumes_the_event_stream_where_it_dropped_in_firefox() {
    the_wallboard_resumes_the_event_stream_where_it_dropped(Engine::Firefox);
}

fn the_wallboard_resumes_the_event_stream_where_it_dropped(engine: Engine) {
    let Some(driver) = Driver::start(engine) else {
        return;
    };
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free UDP port");
    let server = Server::start(
        "browser-replay",
        &format!("[sip]\noutbound_trunk = \"127.0.0.1:{port}\"\n"),
    );
    let mut wall = driver.session(1280, 900, "en-US");
    sign_in(&wall, &format!("http://{}/", server.http), "demo-admin");
    wall.wait_js(
        20,
        "return document.getElementById('conn').classList.contains('conn-ws')",
    )
    .expect("the wallboard follows the live event stream");
    // An event while connected, so the page has a last id.
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let ask = |name: &str| {
        let body = format!(
            r#"{{"queue": "sales", "number": "+74951234567", "at": "{at}", "name": "{name}"}}"#
        );
        let (status, made) = api(
            &server,
            "POST",
            "/api/v1/callbacks",
            Some(&body),
            "demo-admin",
        );
        assert_eq!(status, 201, "{made}");
        made["id"].as_str().expect("an id").to_string()
    };
    let first = ask("before");
    let seen = server
        .wait_event(20, |e| e.kind == "callback.scheduled" && e.call == first)
        .expect("logged");
    wall.wait_js(
        20,
        &format!(
            "return window.switchboardStream.received.includes({})",
            seen.id
        ),
    )
    .expect("the page received the event while connected");
    let last_before: i64 = wall
        .js(
            "const r = window.switchboardStream.received; return r[r.length - 1]",
            json!([]),
        )
        .as_i64()
        .expect("a last id");

    // Drop the stream; while the page is polling, two more callbacks are asked for.
    wall.js("window.switchboardStream.drop(); return null", json!([]));
    wall.wait_js(
        10,
        "return document.getElementById('conn').classList.contains('conn-poll')",
    )
    .expect("the page noticed the drop");
    let during = [ask("during-1"), ask("during-2")];
    let logged: Vec<i64> = during
        .iter()
        .map(|id| {
            server
                .wait_event(20, |e| e.kind == "callback.scheduled" && e.call == *id)
                .expect("logged")
                .id
        })
        .collect();
    wall.wait_js(
        40,
        "const s = window.switchboardStream; return s.urls.length >= 2 &&\
           document.getElementById('conn').classList.contains('conn-ws')",
    )
    .expect("the page reconnected");
    let urls = wall.js("return window.switchboardStream.urls", json!([]));
    assert!(
        urls[1]
            .as_str()
            .is_some_and(|u| u.ends_with(&format!("/api/v1/events?since={last_before}"))),
        "reconnected from the last id {last_before}: {urls}"
    );
    let max = *logged.iter().max().unwrap();
    let received = wall
        .wait_js(
            20,
            &format!(
                "const r = window.switchboardStream.received;\
                 return r.includes({max}) ? r : null"
            ),
        )
        .expect("the events logged during the drop reached the page");
    let received: Vec<i64> = received
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {received:?}"
    );
    // Every event the server logged after the page's last id, up to the last one sent.
    let newest = *received.last().unwrap();
    let expected: Vec<i64> = server
        .events()
        .iter()
        .map(|e| e.id)
        .filter(|id| *id > last_before && *id <= newest)
        .collect();
    let after: Vec<i64> = received
        .iter()
        .copied()
        .filter(|id| *id > last_before)
        .collect();
    assert_eq!(after, expected, "no event missed");
    assert!(logged.iter().all(|id| after.contains(id)));
    assert_clean(&mut wall, "wallboard", &server);
}
