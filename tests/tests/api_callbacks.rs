//! Web callbacks over the operations API (issue 13): `POST /api/v1/callbacks` makes the
//! engine call a free agent first, then the customer through the outbound trunk, and
//! bridge them; a scheduled `at` is honoured (checked on the event log's own times); a
//! premium-rate number is refused with 403 and a `call.refused` event; pending callbacks
//! are listed, bounded, cancelled, and survive a restart.

use std::time::Duration;

use serde_json::Value;
use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, scratch_dir, Server};

fn api(server: &Server, method: &str, path: &str, body: Option<&str>, token: &str) -> (u16, Value) {
    let (status, text) = http_call(server.http, method, path, body, Some(token), None);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, v)
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_web_callback_calls_the_agent_then_the_customer_not_before_its_time() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // The customer's phone doubles as the carrier: callbacks go to its SIP port.
    let port = free_udp_port();
    let server = Server::start(
        "api-callbacks",
        &format!("[sip]\noutbound_trunk = \"127.0.0.1:{port}\"\n"),
    );
    let dir = scratch_dir("api-callbacks-phones");
    let mut customer = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            tone_hz: 1000,
            local_port: port,
            record: Some(dir.join("customer.wav")),
            seconds: 90,
            ..Default::default()
        },
    );
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 20).is_some());

    // Scheduled a few seconds ahead; agent 1001 is free all along.
    let at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let body = format!(
        r#"{{"queue": "sales", "number": "+74951234567", "at": "{}", "name": "Ivan", "data": {{"order": 42}}}}"#,
        at.with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).unwrap())
            .to_rfc3339()
    );
    let (status, made) = api(
        &server,
        "POST",
        "/api/v1/callbacks",
        Some(&body),
        "demo-supervisor",
    );
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("an id").to_string();
    let (status, list) = api(
        &server,
        "GET",
        "/api/v1/callbacks?queue=sales",
        None,
        "demo-admin",
    );
    assert_eq!(status, 200);
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("listed: {list}"))
        .clone();
    assert_eq!(mine["number"], "+74951234567");
    assert_eq!(mine["name"], "Ivan");
    assert_eq!(mine["data"]["order"], 42);
    let (_, sup) = api(&server, "GET", "/api/v1/callbacks", None, "demo-supervisor");
    assert_eq!(
        sup[0]["number"], "+*******4567",
        "supervisors see numbers masked"
    );
    let (status, other) = api(
        &server,
        "GET",
        "/api/v1/callbacks?queue=support",
        None,
        "demo-admin",
    );
    assert_eq!((status, other), (200, Value::Array(vec![])));

    let placed = server
        .wait_event(40, |e| {
            e.kind == "call.start" && e.data["callback_for"] == id.as_str()
        })
        .unwrap_or_else(|| panic!("callback placed; events {:#?}", server.events()));
    let scheduled = server
        .wait_event(1, |e| e.kind == "callback.scheduled" && e.call == id)
        .expect("callback.scheduled");
    assert_eq!(scheduled.data["by"], "demo-supervisor");
    assert!(
        placed.ts_ms >= at.timestamp_millis(),
        "placed at {} ms, before its time {} ms",
        placed.ts_ms,
        at.timestamp_millis()
    );
    assert!(scheduled.ts_ms < at.timestamp_millis());
    assert!(agent.wait_event("incoming", 20).is_some(), "agent rung");
    assert!(
        customer.wait_event("incoming", 30).is_some(),
        "customer rung"
    );
    server
        .wait_event(30, |e| e.kind == "call.connected" && e.call == placed.call)
        .unwrap_or_else(|| panic!("connected; log:\n{}", server.log_text()));
    // Bridged, the callback is a live call: outbound, its queue and agent, the customer's
    // number masked for a supervisor; a transfer over the API is refused (the agent
    // transfers with a REFER).
    let listed = switchboard_e2e::wait_for(10, || {
        let (status, calls) = api(&server, "GET", "/api/v1/calls", None, "demo-supervisor");
        assert_eq!(status, 200, "{calls}");
        calls
            .as_array()?
            .iter()
            .find(|c| c["id"] == placed.call.as_str())
            .cloned()
    })
    .unwrap_or_else(|| {
        panic!(
            "the bridged callback is listed; log:\n{}",
            server.log_text()
        )
    });
    assert_eq!(listed["direction"], "outbound", "{listed}");
    assert_eq!(listed["phase"], "bridged", "{listed}");
    assert_eq!(listed["queue"], "sales", "{listed}");
    assert_eq!(listed["agent"], "1001", "{listed}");
    assert_eq!(listed["dnis"], "+*******4567", "{listed}");
    let (status, refused) = api(
        &server,
        "POST",
        &format!("/api/v1/calls/{}/transfer", placed.call),
        Some(r#"{"queue": "support"}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "call_state_conflict", "{refused}");
    let done = server
        .wait_event(10, |e| e.kind == "callback.done" && e.call == id)
        .expect("callback.done");
    assert_eq!(done.data["outcome"], "connected");
    std::thread::sleep(Duration::from_secs(2));
    customer.command("hangup");
    let end = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == placed.call)
        .expect("callback call ended");
    assert_eq!(end.data["disposition"], "callback");
    assert_eq!(end.agent, "1001");
    let (_, calls) = api(&server, "GET", "/api/v1/calls", None, "demo-admin");
    assert!(
        !calls
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == placed.call.as_str()),
        "the ended callback leaves the list: {calls}"
    );
    customer.quit();
    agent.quit();
    let (heard, sr) = read_channel(&dir.join("customer.wav"), 0);
    let tail = &heard[heard.len().saturating_sub(sr as usize * 3 / 2)
        ..heard.len().saturating_sub(sr as usize / 4)];
    assert!(
        tone_share(tail, sr, 2000.0) > 0.3,
        "the customer hears the agent"
    );
    let (_, list) = api(&server, "GET", "/api/v1/callbacks", None, "demo-admin");
    assert_eq!(list, Value::Array(vec![]), "nothing pending any more");
}

#[test]
fn refused_bounded_cancelled_and_restored_callbacks() {
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    trunk.set_nonblocking(true).unwrap();
    let toml = format!(
        "[sip]\noutbound_trunk = \"{}\"\n[acd]\nmax_pending_callbacks = 2\n",
        trunk.local_addr().unwrap()
    );
    let mut server = Server::start("api-callbacks-book", &toml);
    let post = |server: &Server, body: &str, token: &str| {
        api(server, "POST", "/api/v1/callbacks", Some(body), token)
    };
    // Premium rate: 403 with the reason, a call.refused event, a metric.
    let (status, e) = post(
        &server,
        r#"{"queue": "sales", "number": "+88299123456"}"#,
        "demo-admin",
    );
    assert_eq!(status, 403, "{e}");
    assert_eq!(e["code"], "number_refused");
    assert_eq!(e["reason"], "premium_rate");
    let refused = server
        .wait_event(10, |e| e.kind == "call.refused")
        .expect("call.refused");
    assert_eq!(refused.data["purpose"], "web_callback");
    assert_eq!(refused.data["reason"], "premium_rate");
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("switchboard_dial_refused_total{reason=\"premium_rate\"} 1"),
        "{metrics}"
    );
    // Bad requests.
    for (body, want) in [
        (r#"{"queue": "nowhere", "number": "+74951234567"}"#, 404),
        (
            r#"{"queue": "sales", "number": "+74951234567", "when": "now"}"#,
            400,
        ),
        (
            r#"{"queue": "sales", "number": "+74951234567", "at": "tomorrow"}"#,
            400,
        ),
        (
            r#"{"queue": "sales", "number": "+74951234567", "data": [1]}"#,
            400,
        ),
    ] {
        let (status, e) = post(&server, body, "demo-admin");
        assert_eq!(status, want, "{body}: {e}");
    }
    let (status, _) = post(
        &server,
        r#"{"queue": "sales", "number": "+74951234567"}"#,
        "demo-agent-1001",
    );
    assert_eq!(status, 403, "agents may not ask for callbacks");

    // No agent is logged in: both wait. The bound is 2.
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (s1, a) = post(
        &server,
        &format!(r#"{{"queue": "sales", "number": "+74951234567", "at": "{at}"}}"#),
        "demo-admin",
    );
    let (s2, b) = post(
        &server,
        r#"{"queue": "support", "number": "84957654321"}"#,
        "demo-admin",
    );
    assert_eq!((s1, s2), (201, 201), "{a} {b}");
    let (s3, full) = post(
        &server,
        r#"{"queue": "sales", "number": "+74951112233"}"#,
        "demo-admin",
    );
    assert_eq!(
        (s3, full["code"].as_str()),
        (503, Some("callbacks_full")),
        "{full}"
    );
    let (a, b) = (
        a["id"].as_str().unwrap().to_string(),
        b["id"].as_str().unwrap().to_string(),
    );
    let (_, list) = api(&server, "GET", "/api/v1/callbacks", None, "demo-admin");
    let states: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![(a.as_str(), "scheduled"), (b.as_str(), "waiting")]
    );
    let (_, queues) = api(&server, "GET", "/api/v1/queues/support", None, "demo-admin");
    assert_eq!(queues["callbacks_pending"], 1, "{queues}");

    // A restart keeps both.
    server.terminate(20);
    let dir = server.data_dir.clone();
    drop(server);
    let server = Server::start_on("api-callbacks-book", &toml, &[], Some(&dir));
    let (_, list) = api(&server, "GET", "/api/v1/callbacks", None, "demo-admin");
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![a.as_str(), b.as_str()], "{list}");
    assert_eq!(
        list[0]["at"].as_str().map(|s| s[..19].to_string()),
        Some(at[..19].to_string())
    );

    // Cancel one; a second cancel is 404; it is gone from the list and the log says who.
    let (status, c) = api(
        &server,
        "DELETE",
        &format!("/api/v1/callbacks/{a}"),
        None,
        "demo-supervisor",
    );
    assert_eq!(status, 200, "{c}");
    let (status, _) = api(
        &server,
        "DELETE",
        &format!("/api/v1/callbacks/{a}"),
        None,
        "demo-supervisor",
    );
    assert_eq!(status, 404);
    let done = server
        .wait_event(10, |e| e.kind == "callback.done" && e.call == a)
        .expect("callback.done");
    assert_eq!(done.data["outcome"], "cancelled");
    assert_eq!(done.data["by"], "demo-supervisor");
    let (_, list) = api(&server, "GET", "/api/v1/callbacks", None, "demo-admin");
    assert_eq!(list.as_array().unwrap().len(), 1);
    // Nothing was ever dialled: no agent was free.
    let mut buf = [0u8; 2048];
    assert!(
        trunk.recv_from(&mut buf).is_err(),
        "the trunk received an INVITE"
    );
}

#[test]
fn the_agent_is_called_first_and_a_callback_being_placed_cannot_be_cancelled() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // The trunk is a socket of the test's: it must hear nothing while the agent rings.
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    trunk.set_nonblocking(true).unwrap();
    let server = Server::start(
        "api-callbacks-order",
        &format!(
            "[sip]\noutbound_trunk = \"{}\"\n",
            trunk.local_addr().unwrap()
        ),
    );
    // The agent's phone rings and never answers.
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            answer: "none",
            seconds: 60,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 20).is_some());
    let (status, made) = api(
        &server,
        "POST",
        "/api/v1/callbacks",
        Some(r#"{"queue": "sales", "number": "+74951234567"}"#),
        "demo-admin",
    );
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    assert!(
        agent.wait_event("incoming", 20).is_some(),
        "the agent is rung first"
    );
    let (status, e) = api(
        &server,
        "DELETE",
        &format!("/api/v1/callbacks/{id}"),
        None,
        "demo-admin",
    );
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("callback_in_progress")),
        "{e}"
    );
    let (_, list) = api(&server, "GET", "/api/v1/callbacks", None, "demo-admin");
    assert_eq!(list[0]["state"], "dialing", "{list}");
    assert_eq!(list[0]["attempts"], 1, "{list}");
    // While the agent's phone rings, nothing goes to the customer's trunk.
    std::thread::sleep(Duration::from_secs(3));
    let mut buf = [0u8; 2048];
    let got = trunk.recv_from(&mut buf);
    assert!(
        got.is_err(),
        "the trunk got {:?} before the agent answered",
        got.map(|(n, _)| String::from_utf8_lossy(&buf[..n]).to_string())
    );
    agent.quit();
}
