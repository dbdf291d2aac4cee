//! The operations API's access control and agent pause, against the real binary with
//! pjsua2 phones: no token is 401, a wrong role 403, a foreign Host 421, a bad body 400
//! (all JSON with a `code`); an agent paused over the API with its own token is not
//! offered a waiting call, and is offered it as soon as it unpauses.

use serde_json::Value;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, wait_for, Server};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn agent_state(server: &Server, agent: &str) -> String {
    let (status, body) = http_call(
        server.http,
        "GET",
        &format!("/api/v1/agents/{agent}"),
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v = json(&body);
    // The state word, then the pause reason if paused ("paused lunch").
    format!(
        "{} {}",
        v["state"].as_str().unwrap_or(""),
        v["pause_reason"].as_str().unwrap_or("")
    )
    .trim()
    .to_string()
}

#[test]
fn tokens_roles_and_hosts_are_enforced_with_json_errors() {
    let server = Server::start("ops-api-auth", "");
    let call = |method: &str, path: &str, body: Option<&str>, token: Option<&str>| {
        http_call(server.http, method, path, body, token, None)
    };
    // No token, a wrong token, a wrong scheme: 401.
    for token in [None, Some("demo-nobody")] {
        let (status, body) = call("GET", "/api/v1/queues", None, token);
        assert_eq!(status, 401, "{body}");
        assert_eq!(json(&body)["code"], "unauthorized");
    }
    // A foreign Host (DNS rebinding) is refused before anything else.
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/queues",
        None,
        Some("demo-admin"),
        Some("attacker.example:8080"),
    );
    assert_eq!(status, 421, "{body}");
    assert_eq!(json(&body)["code"], "host_not_allowed");
    // Agents may not read others' addresses nor act for another agent.
    let (status, body) = call(
        "GET",
        "/api/v1/registrations",
        None,
        Some("demo-agent-1001"),
    );
    assert_eq!(status, 403, "{body}");
    assert_eq!(json(&body)["code"], "forbidden");
    let (status, body) = call(
        "POST",
        "/api/v1/agents/1001/pause",
        Some(r#"{"reason": "lunch"}"#),
        Some("demo-agent-1002"),
    );
    assert_eq!(status, 403, "{body}");
    // Bodies: unknown fields and unknown reasons are 400; unknown agents 404.
    for bad in [
        r#"{"reason": "lunch", "until": 5}"#,
        r#"{"reason": "nap"}"#,
        "{",
    ] {
        let (status, body) = call(
            "POST",
            "/api/v1/agents/1001/pause",
            Some(bad),
            Some("demo-agent-1001"),
        );
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(json(&body)["code"], "bad_request");
    }
    let (status, _) = call(
        "POST",
        "/api/v1/agents/9999/unpause",
        None,
        Some("demo-admin"),
    );
    assert_eq!(status, 404);
    // Pausing an agent whose phone is not registered says so.
    let (status, body) = call(
        "POST",
        "/api/v1/agents/1001/pause",
        Some(r#"{"reason": "lunch"}"#),
        Some("demo-agent-1001"),
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(json(&body)["code"], "agent_not_logged_in");
    // An agent token sees only its own agent.
    let (status, body) = call("GET", "/api/v1/agents", None, Some("demo-agent-1003"));
    assert_eq!(status, 200);
    let list = json(&body);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["agent"], "1003");
    // Open endpoints stay open.
    assert_eq!(call("GET", "/healthz", None, None).0, 200);
}

#[test]
fn a_paused_agent_is_not_offered_calls_until_it_unpauses() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("ops-api-pause", "");
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    wait_for(20, || {
        agent_state(&server, "1001")
            .contains("available")
            .then_some(())
    })
    .expect("agent 1001 logged in");
    let (status, body) = http_call(
        server.http,
        "POST",
        "/api/v1/agents/1001/pause",
        Some(r#"{"reason": "lunch"}"#),
        Some("demo-agent-1001"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(agent_state(&server, "1001").contains("paused"));
    assert!(agent_state(&server, "1001").contains("lunch"));

    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "caller answered");
    caller.command("dtmf 1");
    let join = server
        .wait_event(30, |e| e.kind == "queue.join")
        .unwrap_or_else(|| panic!("queued; events {:#?}", server.events()));
    // The ACD has taken the caller in (its live view counts them) and offered nobody.
    wait_for(10, || {
        let (_, body) = server.http_get("/api/v1/queues");
        json(&body)
            .as_array()
            .into_iter()
            .flatten()
            .any(|q| q["queue"] == "sales" && q["waiting"].as_u64() == Some(1))
            .then_some(())
    })
    .expect("the caller waits in sales");
    assert!(
        server.events().iter().all(|e| e.kind != "agent.ring"),
        "a paused agent was rung"
    );
    assert!(agent_state(&server, "1001").contains("paused"));

    let (status, body) = http_call(
        server.http,
        "POST",
        "/api/v1/agents/1001/unpause",
        None,
        Some("demo-agent-1001"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        agent.wait_event("incoming", 20).is_some(),
        "the unpaused agent is offered the waiting call"
    );
    let bridged = server
        .wait_event(20, |e| e.kind == "call.bridge" && e.call == join.call)
        .unwrap_or_else(|| panic!("bridged; events {:#?}", server.events()));
    assert_eq!(bridged.agent, "1001");
    caller.command("hangup");
    caller.quit();
    agent.quit();
}

#[test]
fn demo_tokens_are_refused_beyond_loopback() {
    let out = std::process::Command::new(switchboard_e2e::switchboard_bin())
        .args([
            "run",
            "--http-listen",
            "0.0.0.0:0",
            "--sip-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run switchboard");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("demo token"), "{err}");
}

#[test]
fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use std::io::{Read, Write};
    let server = Server::start("ops-api-slow", "[http]\nheader_timeout = 1\n");
    let mut s = std::net::TcpStream::connect(server.http).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    let mut buf = Vec::new();
    // The server ends the connection (possibly with a 408) instead of holding it open.
    let r = s.read_to_end(&mut buf);
    assert!(r.is_ok(), "connection still open after 30 s: {r:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}
