//! Agent control over the API against the real binary with pjsua2 phones: an agent logged
//! out of `sales` with its own token is not offered a waiting sales call, and is offered it
//! as soon as it logs back in; after the call it ends wrap-up and sets a disposition that
//! the CDR export shows. Wrong role 403, wrong queue 404, unknown field 400, unknown
//! disposition 400 (naming the allowed codes), all JSON with a `code`. The OpenAPI document
//! is served without a token. RONA recovery: an agent paused by ring-no-answer is unpaused
//! by itself after `[acd] rona_unpause_after` and offered the waiting call again.

use serde_json::Value;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, wait_for, Server};

mod acd_fixture;

/// The demo queues, with a long wrap-up in `sales` so ending it by hand is observable.
const CONFIG: &str = r#"
[[queues]]
name = "sales"
members = ["1001", "1002", "1003"]
wrap_up = 600
dispositions = ["sale", "no-sale", "callback"]

[[queues]]
name = "support"
strategy = "skills"
members = ["1003", "1004", "1005"]

[[queues]]
name = "operator"
members = ["1001", "1002", "1003", "1004", "1005"]

[[queues]]
name = "bank"
members = ["1004", "1005"]

[[queues]]
name = "outsource"
strategy = "round-robin"
members = ["1001", "1002", "1003", "1004", "1005"]
"#;

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn agent(server: &Server, name: &str) -> Value {
    let (status, body) = http_call(
        server.http,
        "GET",
        &format!("/api/v1/agents/{name}"),
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    json(&body)
}

fn post(server: &Server, path: &str, body: Option<&str>, token: &str) -> (u16, Value) {
    let (status, body) = http_call(server.http, "POST", path, body, Some(token), None);
    (status, json(&body))
}

fn queues_of(v: &Value) -> Vec<String> {
    v["queues"]
        .as_array()
        .unwrap_or_else(|| panic!("no queues in {v}"))
        .iter()
        .filter_map(|q| q.as_str().map(str::to_string))
        .collect()
}

#[test]
fn an_agent_logged_out_of_sales_waits_the_caller_until_it_logs_in_and_dispositions_reach_the_cdr() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("agent-control", CONFIG);
    // The OpenAPI document is open and describes these endpoints.
    let (status, body) = http_call(server.http, "GET", "/api/v1/openapi.json", None, None, None);
    assert_eq!(status, 200, "{body}");
    let doc = json(&body);
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3."),
        "{doc}"
    );
    for p in ["login", "logout", "wrapup/end", "disposition"] {
        assert!(
            doc["paths"][format!("/api/v1/agents/{{agent}}/{p}")]["post"].is_object(),
            "{p} missing from the OpenAPI document"
        );
    }
    let mut phone = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    wait_for(20, || {
        (agent(&server, "1001")["state"] == "available").then_some(())
    })
    .expect("agent 1001 logged in");
    assert_eq!(
        queues_of(&agent(&server, "1001")),
        ["sales", "operator", "outsource"]
    );

    // Refusals, each JSON with a code; nothing changes.
    let out = "/api/v1/agents/1001/logout";
    let (s, v) = post(
        &server,
        out,
        Some(r#"{"queues": ["sales"]}"#),
        "demo-agent-1002",
    );
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    let (s, v) = post(
        &server,
        out,
        Some(r#"{"queues": ["support"]}"#),
        "demo-agent-1001",
    );
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")), "{v}");
    let (s, v) = post(
        &server,
        out,
        Some(r#"{"queues": ["nope"]}"#),
        "demo-agent-1001",
    );
    assert_eq!((s, v["code"].as_str()), (404, Some("not_found")), "{v}");
    let (s, v) = post(
        &server,
        out,
        Some(r#"{"queue": ["sales"]}"#),
        "demo-agent-1001",
    );
    assert_eq!((s, v["code"].as_str()), (400, Some("bad_request")), "{v}");
    let (s, v) = post(
        &server,
        "/api/v1/agents/1001/disposition",
        Some(r#"{"code": "sale"}"#),
        "demo-agent-1001",
    );
    assert_eq!((s, v["code"].as_str()), (409, Some("no_call")), "{v}");
    assert_eq!(queues_of(&agent(&server, "1001")).len(), 3);

    // Logged out of sales with its own token.
    let (s, v) = post(
        &server,
        out,
        Some(r#"{"queues": ["sales"]}"#),
        "demo-agent-1001",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(queues_of(&v), ["operator", "outsource"]);
    assert_eq!(
        queues_of(&agent(&server, "1001")),
        ["operator", "outsource"]
    );
    let ev = server
        .wait_event(10, |e| e.kind == "agent.queue_logout")
        .expect("agent.queue_logout logged");
    assert_eq!((ev.agent.as_str(), ev.queue.as_str()), ("1001", "sales"));
    // The queue's live figures no longer count 1001 as available in sales.
    let (_, body) = server.http_get("/api/v1/queues/sales");
    let live = &json(&body)["stats"]["live"]["agents"];
    assert_eq!(
        (live["available"].as_u64(), live["logged_out"].as_u64()),
        (Some(0), Some(3)),
        "{live}"
    );

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
    assert_eq!(join.queue, "sales");
    wait_for(10, || {
        let (_, body) = server.http_get("/api/v1/queues/sales");
        (json(&body)["waiting"].as_u64() == Some(1)).then_some(())
    })
    .expect("the caller waits in sales");
    assert!(
        server.events().iter().all(|e| e.kind != "agent.ring"),
        "an agent logged out of sales was rung"
    );
    assert_eq!(agent(&server, "1001")["state"], "available");

    // Logged back in (no body: every configured queue): the waiting call is offered.
    let (s, v) = post(
        &server,
        "/api/v1/agents/1001/login",
        None,
        "demo-agent-1001",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(queues_of(&v), ["sales", "operator", "outsource"]);
    assert!(
        phone.wait_event("incoming", 20).is_some(),
        "the agent is offered the waiting call"
    );
    let bridged = server
        .wait_event(20, |e| e.kind == "call.bridge" && e.call == join.call)
        .unwrap_or_else(|| panic!("bridged; events {:#?}", server.events()));
    assert_eq!(bridged.agent, "1001");
    caller.command("hangup");
    server
        .wait_event(20, |e| e.kind == "call.end" && e.call == join.call)
        .expect("the call ended");

    // Wrap-up (600 s in this config) ends by hand.
    wait_for(10, || {
        (agent(&server, "1001")["state"] == "wrap_up").then_some(())
    })
    .expect("the agent is in wrap-up");
    let (s, v) = post(
        &server,
        "/api/v1/agents/1001/wrapup/end",
        None,
        "demo-agent-1001",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(agent(&server, "1001")["state"], "available");
    let (s, v) = post(
        &server,
        "/api/v1/agents/1001/wrapup/end",
        None,
        "demo-agent-1001",
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("agent_state_conflict")),
        "{v}"
    );

    // Dispositions: an unknown code names the allowed ones; a good one reaches the CDR.
    let disp = "/api/v1/agents/1001/disposition";
    let (s, v) = post(
        &server,
        disp,
        Some(r#"{"code": "maybe"}"#),
        "demo-agent-1001",
    );
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("unknown_disposition")),
        "{v}"
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("sale, no-sale, callback"),
        "{v}"
    );
    let (s, v) = post(
        &server,
        disp,
        Some(r#"{"code": "sale", "notes": "two seats"}"#),
        "demo-supervisor",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["call"].as_str(), Some(join.call.as_str()));
    assert_eq!(v["queue"], "sales");
    let ev = server
        .wait_event(10, |e| e.kind == "call.disposition")
        .expect("call.disposition logged");
    assert_eq!(
        (ev.call.as_str(), ev.agent.as_str()),
        (join.call.as_str(), "1001")
    );

    let cdr = server.export("cdr");
    let mut lines = cdr.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    assert_eq!(header.last(), Some(&"tenant"));
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r.first() == Some(&join.call.as_str()))
        .unwrap_or_else(|| panic!("no CDR row for {}: {cdr}", join.call));
    assert_eq!(row[col("agent_disposition")], "sale");
    assert_eq!(row[col("disposition_notes")], "two seats");
    assert_eq!(row[col("agent")], "1001");
    caller.quit();
    phone.quit();
}

/// Agent 1001, the only member of sales, rings and never answers: after the 2 s ring
/// timeout it is paused with reason `rona`; 2 s later (`rona_unpause_after = 2`) the server
/// logs `agent.rona_unpaused`, the agent is available again and the waiting call rings it
/// a second time.
#[test]
fn a_rona_paused_agent_is_unpaused_after_rona_unpause_after_and_offered_the_call_again() {
    let _serial = acd_fixture::serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let cfg = format!(
        "[acd]\nrona_unpause_after = 2\n{}",
        acd_fixture::config(
            "members = [\"1001\"]\nring_timeout = 2\nwrap_up = 1",
            r#"members = ["1004"]"#,
            r#"members = ["1005"]"#,
        )
    );
    let server = Server::start("agent-control-rona", &cfg);
    let mut slow = acd_fixture::agent_phone(&py, &server, "1001", "none", 40);
    let mut caller = acd_fixture::caller_phone(&py, &server, "200", "+79995550112", 40);
    let join = server
        .wait_event(10, |e| e.kind == "queue.join")
        .expect("the caller joins sales");
    assert_eq!(join.queue, "sales");
    assert!(slow.wait_event("incoming", 10).is_some(), "1001 rings");
    let rona = server
        .wait_event(10, |e| e.kind == "queue.rona" && e.call == join.call)
        .unwrap_or_else(|| panic!("no RONA; events:\n{}", acd_fixture::dump(&server)));
    assert_eq!(rona.agent, "1001");
    let unpaused = server
        .wait_event(15, |e| e.kind == "agent.rona_unpaused" && e.agent == "1001")
        .unwrap_or_else(|| panic!("no rona_unpaused; events:\n{}", acd_fixture::dump(&server)));
    assert!(unpaused.id > rona.id);
    assert_eq!(unpaused.data["after_s"], 2);
    // In between the agent was paused for "rona" (never offered), and afterwards it is
    // offered the same call again.
    let evs = server.events();
    let state = |reason: Option<&str>, after: i64| {
        evs.iter().any(|e| {
            e.kind == "agent.state"
                && e.agent == "1001"
                && e.id > after
                && e.data["pause_reason"].as_str() == reason
        })
    };
    assert!(state(Some("rona"), 0), "1001 paused for rona");
    assert!(state(None, unpaused.id), "1001 available after the unpause");
    let offers_between = evs
        .iter()
        .filter(|e| e.kind == "queue.offer" && e.id > rona.id && e.id < unpaused.id)
        .count();
    assert_eq!(offers_between, 0, "a RONA-paused agent was offered a call");
    let again = server
        .wait_event(10, |e| {
            e.kind == "queue.offer" && e.call == join.call && e.id > unpaused.id
        })
        .unwrap_or_else(|| panic!("no second offer; events:\n{}", acd_fixture::dump(&server)));
    assert_eq!(again.agent, "1001");
    caller.command("hangup");
    caller.quit();
    slow.quit();
}
