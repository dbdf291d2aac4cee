//! ACD state that must outlive a restart of the real binary (issue 13): an agent's queue
//! logouts made over the API, and the places of pending web callbacks in their queue's
//! line. Both come back from the event log at start (`restart_state.rs` in the server).

use serde_json::Value;
use switchboard_e2e::{http_call, Server};

fn api(server: &Server, method: &str, path: &str, body: Option<&str>, token: &str) -> (u16, Value) {
    let (status, text) = http_call(server.http, method, path, body, Some(token), None);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, v)
}

fn queues_of(server: &Server, agent: &str) -> Vec<String> {
    let (status, v) = api(
        server,
        "GET",
        &format!("/api/v1/agents/{agent}"),
        None,
        "demo-supervisor",
    );
    assert_eq!(status, 200, "{v}");
    v["queues"]
        .as_array()
        .unwrap_or_else(|| panic!("no queues in {v}"))
        .iter()
        .filter_map(|q| q.as_str().map(str::to_string))
        .collect()
}

fn restart(server: &mut Server, name: &str, toml: &str) -> Server {
    assert!(server.terminate(20).is_some(), "the server stopped");
    let dir = server.data_dir.clone();
    Server::start_on(name, toml, &[], Some(&dir))
}

#[test]
fn a_queue_logout_made_over_the_api_survives_a_restart_and_so_does_the_login() {
    let toml = "";
    let mut server = Server::start("restart-queues", toml);
    let before = queues_of(&server, "1001");
    assert!(before.contains(&"sales".to_string()), "{before:?}");
    let (s, v) = api(
        &server,
        "POST",
        "/api/v1/agents/1001/logout",
        Some(r#"{"queues": ["sales"]}"#),
        "demo-agent-1001",
    );
    assert_eq!(s, 200, "{v}");
    let without: Vec<String> = before.iter().filter(|q| *q != "sales").cloned().collect();
    assert_eq!(queues_of(&server, "1001"), without);
    server
        .wait_event(10, |e| e.kind == "agent.queue_logout" && e.agent == "1001")
        .expect("agent.queue_logout logged");

    // Restarted: still logged out of sales, and nothing is logged again for it.
    let mut server = restart(&mut server, "restart-queues", toml);
    assert_eq!(queues_of(&server, "1001"), without, "after the restart");
    let logouts = server
        .events()
        .iter()
        .filter(|e| e.kind == "agent.queue_logout")
        .count();
    assert_eq!(logouts, 1, "the restored logout is not logged twice");
    // Other agents are untouched.
    assert!(queues_of(&server, "1002").contains(&"sales".to_string()));

    // Logged back in: a second restart keeps sales.
    let (s, v) = api(
        &server,
        "POST",
        "/api/v1/agents/1001/login",
        Some(r#"{"queues": ["sales"]}"#),
        "demo-agent-1001",
    );
    assert_eq!(s, 200, "{v}");
    server
        .wait_event(10, |e| e.kind == "agent.queue_login" && e.agent == "1001")
        .expect("agent.queue_login logged");
    let server = restart(&mut server, "restart-queues", toml);
    assert_eq!(
        queues_of(&server, "1001"),
        before,
        "after the second restart"
    );
}

#[test]
fn restored_web_callbacks_keep_their_places_and_are_offered_once() {
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let toml = format!(
        "[sip]\noutbound_trunk = \"{}\"\n",
        trunk.local_addr().unwrap()
    );
    let mut server = Server::start("restart-callbacks", &toml);
    let post = |server: &Server, body: &str| {
        let (s, v) = api(
            server,
            "POST",
            "/api/v1/callbacks",
            Some(body),
            "demo-admin",
        );
        assert_eq!(s, 201, "{body}: {v}");
        v["id"].as_str().unwrap().to_string()
    };
    // No agent is logged in: they wait. The first is scheduled an hour ahead; it holds
    // its place meanwhile.
    let at = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let a = post(
        &server,
        &format!(r#"{{"queue": "sales", "number": "+74951234567", "at": "{at}"}}"#),
    );
    let b = post(&server, r#"{"queue": "sales", "number": "+74951112233"}"#);
    let c = post(&server, r#"{"queue": "sales", "number": "+74957654321"}"#);
    let places = |server: &Server| -> Vec<(String, u64, String)> {
        let (_, list) = api(server, "GET", "/api/v1/callbacks", None, "demo-admin");
        let mut v: Vec<(String, u64, String)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap().to_string(),
                    c["position"].as_u64().unwrap_or(0),
                    c["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        v.sort_by_key(|p| p.1);
        v
    };
    let want = vec![
        (a.clone(), 1, "scheduled".to_string()),
        (b.clone(), 2, "waiting".to_string()),
        (c.clone(), 3, "waiting".to_string()),
    ];
    assert_eq!(places(&server), want, "before the restart");

    let server = restart(&mut server, "restart-callbacks", &toml);
    assert_eq!(places(&server), want, "after the restart");
    // One asked for after the restart queues behind them.
    let d = post(&server, r#"{"queue": "sales", "number": "+74959998877"}"#);
    let after = places(&server);
    assert_eq!(
        after.last().map(|p| (p.0.as_str(), p.1)),
        Some((d.as_str(), 4))
    );
    // Each restored callback joined the line once in the log: offered once in reports.
    server
        .wait_event(10, |e| e.kind == "queue.join" && e.call == d)
        .expect("the new callback's queue.join");
    let events = server.events();
    for id in [&a, &b, &c, &d] {
        let joins = events
            .iter()
            .filter(|e| e.kind == "queue.join" && &e.call == id)
            .count();
        assert_eq!(joins, 1, "queue.join of {id}");
    }
    let (_, list) = api(&server, "GET", "/api/v1/callbacks", None, "demo-admin");
    let first = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == a.as_str())
        .unwrap();
    assert_eq!(
        first["at"].as_str().map(|s| s[..19].to_string()),
        Some(at[..19].to_string()),
        "its scheduled time is kept"
    );
}
