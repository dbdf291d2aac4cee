//! Call control over the operations API (issue 13) against the real binary with pjsua2
//! phones: live calls listed with their phase and the caller masked by role, a bridged
//! call blind-transferred to another queue, and hung up (both legs get a BYE, the CDR says
//! who did it).

use serde_json::Value;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, Server};

fn json(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn api(server: &Server, method: &str, path: &str, body: Option<&str>, token: &str) -> (u16, Value) {
    let (status, text) = http_call(server.http, method, path, body, Some(token), None);
    (status, json(&text))
}

fn agent<'a>(py: &str, server: &Server, user: &'a str, password: &'a str) -> Softphone {
    let mut phone = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            user: Some((user, password)),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(
        phone.wait_event("registered", 20).is_some(),
        "{user} registered"
    );
    phone
}

#[test]
fn live_calls_are_listed_transferred_and_hung_up_over_the_api() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("api-calls", "");
    let mut a1001 = agent(&py, &server, "1001", "secret-1001");
    let mut a1004 = agent(&py, &server, "1004", "secret-1004");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951234567",
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "caller answered");
    caller.command("dtmf 1");
    let bridged = server
        .wait_event(40, |e| e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("bridged; events {:#?}", server.events()));
    assert_eq!(
        (bridged.queue.as_str(), bridged.agent.as_str()),
        ("sales", "1001")
    );
    let id = bridged.call.clone();
    assert!(a1001.wait_event("confirmed", 10).is_some());

    // The list: phase, queue, agent, caller by role.
    let (status, list) = api(&server, "GET", "/api/v1/calls", None, "demo-admin");
    assert_eq!(status, 200, "{list}");
    let calls = list.as_array().expect("a list");
    assert_eq!(calls.len(), 1, "{list}");
    let c = &calls[0];
    assert_eq!(c["id"], id.as_str());
    assert_eq!(c["phase"], "bridged");
    assert_eq!(c["queue"], "sales");
    assert_eq!(c["agent"], "1001");
    assert_eq!(c["caller"], "+74951234567");
    assert!(
        c["wait_s"].as_f64().is_some() && c["talk_s"].as_f64().is_some(),
        "{c}"
    );
    let (_, sup) = api(&server, "GET", "/api/v1/calls", None, "demo-supervisor");
    assert_eq!(
        sup[0]["caller"], "+*******4567",
        "supervisors see the number masked"
    );
    let (_, own) = api(&server, "GET", "/api/v1/calls", None, "demo-agent-1001");
    assert_eq!(
        own[0]["caller"], "+74951234567",
        "the agent sees its own caller"
    );
    let (_, other) = api(&server, "GET", "/api/v1/calls", None, "demo-agent-1002");
    assert_eq!(other, Value::Array(vec![]), "another agent sees nothing");
    let (status, _) = api(
        &server,
        "GET",
        &format!("/api/v1/calls/{id}"),
        None,
        "demo-agent-1002",
    );
    assert_eq!(status, 404);
    let (status, one) = api(
        &server,
        "GET",
        &format!("/api/v1/calls/{id}"),
        None,
        "demo-admin",
    );
    assert_eq!(
        (status, one["phase"].as_str()),
        (200, Some("bridged")),
        "{one}"
    );

    // Control is for staff; bad bodies and unknown targets are JSON errors.
    let (status, e) = api(
        &server,
        "POST",
        &format!("/api/v1/calls/{id}/hangup"),
        None,
        "demo-agent-1001",
    );
    assert_eq!((status, e["code"].as_str()), (403, Some("forbidden")));
    let path = format!("/api/v1/calls/{id}/transfer");
    let (status, _) = api(
        &server,
        "POST",
        &path,
        Some(r#"{"queue": "support", "x": 1}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 400);
    let (status, _) = api(
        &server,
        "POST",
        &path,
        Some(r#"{"queue": "nowhere"}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 404);
    let (status, _) = api(
        &server,
        "POST",
        "/api/v1/calls/1/hangup",
        None,
        "demo-supervisor",
    );
    assert_eq!(status, 404);

    // Blind transfer to support: 1001 is released, 1004 (a support member) takes the call.
    let (status, t) = api(
        &server,
        "POST",
        &path,
        Some(r#"{"queue": "support"}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 200, "{t}");
    assert!(
        a1001.wait_event("disconnected", 15).is_some(),
        "the first agent is released"
    );
    let transfer = server
        .wait_event(10, |e| e.kind == "call.transfer" && e.call == id)
        .expect("call.transfer logged");
    assert_eq!(transfer.data["by"], "demo-supervisor");
    assert_eq!(transfer.data["to_queue"], "support");
    assert!(
        a1004.wait_event("incoming", 30).is_some(),
        "1004 offered the call"
    );
    let rebridged = server
        .wait_event(30, |e| {
            e.kind == "call.bridge" && e.call == id && e.agent == "1004"
        })
        .unwrap_or_else(|| panic!("bridged to 1004; events {:#?}", server.events()));
    assert_eq!(rebridged.queue, "support");
    let (_, one) = api(
        &server,
        "GET",
        &format!("/api/v1/calls/{id}"),
        None,
        "demo-admin",
    );
    assert_eq!(
        (one["phase"].as_str(), one["agent"].as_str()),
        (Some("bridged"), Some("1004")),
        "{one}"
    );

    // Hang up over the API: both legs get a BYE; the CDR says why and who.
    let (status, h) = api(
        &server,
        "POST",
        &format!("/api/v1/calls/{id}/hangup"),
        None,
        "demo-supervisor",
    );
    assert_eq!(status, 200, "{h}");
    assert!(
        caller.wait_event("disconnected", 15).is_some(),
        "the caller got a BYE"
    );
    assert!(
        a1004.wait_event("disconnected", 15).is_some(),
        "the agent got a BYE"
    );
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == id)
        .expect("call.end");
    assert_eq!(end.data["end_reason"], "api_hangup");
    assert_eq!(end.data["by"], "demo-supervisor");
    assert_eq!(end.data["disposition"], "answered");
    let cdr = server.export("cdr");
    assert!(cdr.contains("api_hangup"), "{cdr}");
    let (status, _) = api(
        &server,
        "GET",
        &format!("/api/v1/calls/{id}"),
        None,
        "demo-admin",
    );
    assert_eq!(status, 404, "an ended call is no longer live");
    caller.quit();
    a1001.quit();
    a1004.quit();
}

#[test]
fn a_supervisor_listens_from_the_api_and_hears_both_sides() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("api-supervise", "");
    let dir = switchboard_e2e::scratch_dir("api-supervise-phones");
    let mut a1001 = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(a1001.wait_event("registered", 20).is_some());
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "caller answered");
    caller.command("dtmf 1");
    let bridged = server
        .wait_event(40, |e| e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("bridged; events {:#?}", server.events()));
    let id = bridged.call.clone();
    // Supervisors join once caller and agent hear each other (after the whisper).
    server
        .wait_event(20, |e| e.kind == "call.connected" && e.call == id)
        .expect("call.connected");
    let listen = format!("/api/v1/calls/{id}/listen");
    let body = Some(r#"{"supervisor": "1005"}"#);

    // The supervisor's phone is not registered yet: 409. A non-supervisor: 400.
    let (status, e) = api(&server, "POST", &listen, body, "demo-supervisor");
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("supervisor_not_registered")),
        "{e}"
    );
    let (status, _) = api(
        &server,
        "POST",
        &listen,
        Some(r#"{"supervisor": "1002"}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 400);
    let (status, _) = api(&server, "POST", &listen, body, "demo-agent-1001");
    assert_eq!(status, 403);

    let mut boss = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1005", "secret-1005")),
            record: Some(dir.join("supervisor.wav")),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(boss.wait_event("registered", 20).is_some());
    let (status, ok) = api(&server, "POST", &listen, body, "demo-supervisor");
    if status != 202 {
        let (_, view) = api(
            &server,
            "GET",
            &format!("/api/v1/calls/{id}"),
            None,
            "demo-admin",
        );
        panic!("{ok}\nview {view}\nevents {:#?}", server.events());
    }
    assert_eq!(ok["mode"], "listen");
    assert!(
        boss.wait_event("incoming", 20).is_some(),
        "the engine calls the supervisor"
    );
    let join = server
        .wait_event(20, |e| e.kind == "supervisor.join" && e.call == id)
        .unwrap_or_else(|| panic!("joined; events {:#?}", server.events()));
    assert_eq!(join.data["supervisor"], "1005");
    assert_eq!(join.data["mode"], "listen");
    let (_, view) = api(
        &server,
        "GET",
        &format!("/api/v1/calls/{id}"),
        None,
        "demo-admin",
    );
    assert_eq!(view["supervisor"], "1005", "{view}");
    let (status, e) = api(&server, "POST", &listen, body, "demo-supervisor");
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("supervisor_busy")),
        "{e}"
    );

    // Let the supervisor hear a few seconds, then hang up.
    std::thread::sleep(std::time::Duration::from_secs(3));
    boss.command("hangup");
    let sup_end = server
        .wait_event(15, |e| {
            e.kind == "call.end" && e.data["disposition"] == "supervision"
        })
        .expect("the supervisor's call ended");
    assert_eq!(sup_end.data["by"], "demo-supervisor");
    assert_eq!(sup_end.data["mode"], "listen");
    boss.quit();
    let (heard, sr) = switchboard_e2e::audio::read_channel(&dir.join("supervisor.wav"), 0);
    let n = heard.len();
    let tail = &heard[n.saturating_sub(sr as usize * 2)..n.saturating_sub(sr as usize / 4)];
    let caller_share = switchboard_e2e::audio::tone_share(tail, sr, 1000.0);
    let agent_share = switchboard_e2e::audio::tone_share(tail, sr, 2000.0);
    assert!(
        caller_share > 0.1 && agent_share > 0.1,
        "the supervisor hears both sides (caller {caller_share:.2}, agent {agent_share:.2})"
    );
    caller.command("hangup");
    assert!(server
        .wait_event(15, |e| e.kind == "call.end" && e.call == id)
        .is_some());
    caller.quit();
    a1001.quit();
}
