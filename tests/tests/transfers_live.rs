//! Transfers to people and numbers on a live call (issue 14 item 2, issue 13's API transfer
//! to an agent), against the real binary with pjsua2 phones and a pjsua2 "customer" behind
//! a carrier trunk. One caller's call travels: queue agent 1001 → (API) agent 1004 →
//! (REFER) agent 1005 → (REFER, a premium number: refused, the call stays) → (REFER) an
//! outside number, whose phone must hear the caller's tone. Each hop checks the ACD state
//! of the agents (the transferring one wraps up, the target is busy `transfer`) and the
//! typed events.

use std::time::Duration;

use serde_json::Value;
use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::carrier::free_udp_port;
use switchboard_e2e::peers::{python_with_pjsua2, registered, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, scratch_dir, LoggedEvent, Server};

fn api(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let (status, text) = http_call(
        server.http,
        "POST",
        path,
        Some(body),
        Some("demo-supervisor"),
        None,
    );
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, v)
}

fn agent(py: &str, server: &Server, user: &str) -> Softphone {
    registered(
        py,
        server.sip,
        user,
        SoftphoneOpts {
            seconds: 120,
            ..Default::default()
        },
    )
}

/// The latest `agent.state` of `agent` at or after event id `since`.
fn state_since(server: &Server, agent: &str, since: i64) -> Option<LoggedEvent> {
    server
        .events()
        .into_iter()
        .rfind(|e| e.kind == "agent.state" && e.agent == agent && e.id > since)
}

#[test]
fn a_call_goes_from_agent_to_agent_by_api_and_refer_then_out_to_a_number() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let dir = scratch_dir("transfers-live");
    let trunk_port = free_udp_port();
    let server = Server::start(
        "transfers-live",
        &format!("[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{trunk_port}\"\n"),
    );
    // 1001 is the only sales agent; 1004 and 1005 (support) take transfers.
    let a1001 = agent(&py, &server, "1001");
    let mut a1004 = agent(&py, &server, "1004");
    let mut a1005 = agent(&py, &server, "1005");
    let customer_wav = dir.join("customer.wav");
    let mut customer = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            local_port: trunk_port,
            record: Some(customer_wav.clone()),
            seconds: 120,
            ..Default::default()
        },
    );
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951112233",
            tone_hz: 1000,
            seconds: 120,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "caller answered");
    caller.command("dtmf 1");
    let first = server
        .wait_event(40, |e| e.kind == "call.connected" && e.agent == "1001")
        .unwrap_or_else(|| panic!("1001 connected; events {:#?}", server.events()));
    let call = first.call.clone();
    let path = format!("/api/v1/calls/{call}/transfer");

    // Hop 1, the API: an unknown user is 404; 1004 rings and takes the call.
    let (status, body) = api(&server, &path, r#"{"agent": "nobody"}"#);
    assert_eq!(status, 404, "{body}");
    let (status, body) = api(&server, &path, r#"{"agent": "1004"}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["transferred_to"]["agent"], "1004");
    let to_1004 = server
        .wait_event(30, |e| {
            e.kind == "transfer.answer" && e.call == call && e.agent == "1004"
        })
        .unwrap_or_else(|| panic!("1004 answered; events {:#?}", server.events()));
    let dial = server
        .wait_event(1, |e| e.kind == "transfer.dial" && e.call == call)
        .expect("transfer.dial");
    assert_eq!(dial.data["origin"], "api");
    assert_eq!(dial.data["to"], "user");
    let xfer = server
        .wait_event(1, |e| e.kind == "call.transfer" && e.call == call)
        .expect("call.transfer");
    assert_eq!(
        (xfer.data["to_agent"].as_str(), xfer.data["by"].as_str()),
        (Some("1004"), Some("demo-supervisor"))
    );
    assert_eq!(
        state_since(&server, "1001", first.id).map(|e| e.data["state"].clone()),
        Some("wrap_up".into()),
        "the transferring agent wraps up"
    );
    let busy = state_since(&server, "1004", first.id).expect("1004's state");
    assert_eq!(
        (busy.data["state"].as_str(), busy.data["busy_kind"].as_str()),
        (Some("busy"), Some("transfer")),
        "the target is busy for every queue"
    );
    server
        .wait_event(10, |e| {
            e.kind == "call.connected" && e.call == call && e.agent == "1004"
        })
        .expect("caller and 1004 connected");
    // 1004's phone shows who is calling, as on a queue offer (not "switchboard").
    let rung = a1004
        .wait_event("incoming", 5)
        .expect("1004's incoming call");
    assert!(
        rung["from"]
            .as_str()
            .is_some_and(|f| f.contains("+74951112233")),
        "{rung}"
    );
    assert_eq!(
        rung["headers"]["X-Switchboard-Caller"], "+74951112233",
        "{rung}"
    );

    // Hop 2, 1004's blind REFER to agent 1005.
    a1004.command(&format!("xfer sip:1005@{}", server.sip));
    let to_1005 = server
        .wait_event(30, |e| {
            e.kind == "transfer.answer" && e.call == call && e.agent == "1005"
        })
        .unwrap_or_else(|| panic!("1005 answered; log:\n{}", server.log_text()));
    assert!(
        server
            .events()
            .iter()
            .any(|e| e.kind == "transfer.dial" && e.id > to_1004.id && e.data["origin"] == "refer"),
        "the REFER's transfer.dial"
    );
    let free = server
        .wait_event(10, |e| {
            e.kind == "agent.state" && e.agent == "1004" && e.id > to_1004.id
        })
        .expect("1004's state after the transfer");
    assert_ne!(free.data["state"], "busy", "1004 is released: {free:?}");
    server
        .wait_event(10, |e| {
            e.kind == "call.connected" && e.call == call && e.agent == "1005"
        })
        .expect("caller and 1005 connected");
    let rung = a1005
        .wait_event("incoming", 5)
        .expect("1005's incoming call");
    assert!(
        rung["from"]
            .as_str()
            .is_some_and(|f| f.contains("+74951112233")),
        "{rung}"
    );

    // Hop 3, a premium-rate number: refused by the dial policy, the call stays with 1005.
    a1005.command(&format!("xfer sip:+78095550000@{}", server.sip));
    let refused = server
        .wait_event(15, |e| e.kind == "call.refused" && e.call == call)
        .unwrap_or_else(|| panic!("refused; events {:#?}", server.events()));
    assert_eq!(refused.data["reason"], "premium_rate");
    assert_eq!(refused.data["purpose"], "transfer");
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.call == call && e.id > to_1005.id && e.kind == "call.transfer"),
        "nothing was transferred"
    );

    // Hop 4, an outside number: the carrier's customer gets the INVITE and hears the caller.
    a1005.command(&format!("xfer sip:+74951234567@{}", server.sip));
    let incoming = customer
        .wait_event("incoming", 30)
        .unwrap_or_else(|| panic!("customer rung; log:\n{}", server.log_text()));
    let line = incoming["request_line"].as_str().unwrap_or_default();
    assert!(
        line.starts_with("INVITE sip:+74951234567@"),
        "the number reaches the carrier: {line}"
    );
    let out = server
        .wait_event(30, |e| {
            e.kind == "transfer.answer" && e.call == call && e.data["to"] == "number"
        })
        .unwrap_or_else(|| panic!("number answered; events {:#?}", server.events()));
    assert_eq!(out.data["target"], "+74951234567");
    server
        .wait_event(10, |e| {
            e.kind == "call.connected" && e.call == call && e.id > out.id
        })
        .expect("caller and customer connected");
    // Two seconds of the caller's tone into the customer's recording.
    std::thread::sleep(Duration::from_secs(2));
    caller.command("hangup");
    let end = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == call)
        .expect("call ended");
    assert_eq!(end.data["disposition"], "answered");
    assert!(customer.wait_event("disconnected", 15).is_some());
    for p in [caller, customer, a1001, a1004, a1005] {
        p.quit();
    }
    let (heard, sr) = read_channel(&customer_wav, 0);
    let tail = &heard[heard.len().saturating_sub(sr as usize * 3 / 2)
        ..heard.len().saturating_sub(sr as usize / 4)];
    let share = tone_share(tail, sr, 1000.0);
    eprintln!("1 kHz share at the customer: {share:.2}");
    assert!(
        share > 0.3,
        "the customer hears the caller (share {share:.2})"
    );
}

/// Attended transfer to a colleague by name: agent 1001, on a queue call, dials user 1005
/// (a consultation: `transfer.dial` with origin `consultation`), then REFERs the caller to
/// that call with Replaces. The caller ends up with 1005, who stays busy for every queue
/// until the caller hangs up, and is free after.
#[test]
fn an_agent_consults_a_colleague_by_name_and_hands_the_caller_over() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("transfers-attended", "");
    let mut a1001 = agent(&py, &server, "1001");
    let a1005 = agent(&py, &server, "1005");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951112244",
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "caller answered");
    caller.command("dtmf 1");
    let first = server
        .wait_event(40, |e| e.kind == "call.connected" && e.agent == "1001")
        .unwrap_or_else(|| panic!("1001 connected; events {:#?}", server.events()));
    let x = first.call.clone();
    a1001.command(&format!("dial sip:1005@{}", server.sip));
    let consult = server
        .wait_event(30, |e| {
            e.kind == "transfer.answer" && e.call != x && e.agent == "1005"
        })
        .unwrap_or_else(|| panic!("1005 answers the consultation; log:\n{}", server.log_text()));
    let y = consult.call.clone();
    let dial = server
        .wait_event(1, |e| e.kind == "transfer.dial" && e.call == y)
        .expect("transfer.dial");
    assert_eq!(dial.data["origin"], "consultation");
    server
        .wait_event(10, |e| e.kind == "call.connected" && e.call == y)
        .expect("1001 and 1005 talk");
    a1001.command("xfer-replaces");
    let xfer = server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == x)
        .unwrap_or_else(|| panic!("attended transfer; log:\n{}", server.log_text()));
    assert_eq!(xfer.data["kind"], "attended");
    assert_eq!(xfer.data["to_agent"], "1005");
    let y_end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == y)
        .expect("the consultation call ends");
    assert_eq!(y_end.data["disposition"], "transferred");
    // 1005 is still on the caller's call: busy, not released with the consultation.
    let state = state_since(&server, "1005", first.id).expect("1005's state");
    assert_eq!(state.data["state"], "busy", "{state:?}");
    caller.command("hangup");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == x)
        .expect("the caller's call ends");
    assert_eq!(end.agent, "1005");
    assert_eq!(end.data["disposition"], "answered");
    let free = server
        .wait_event(10, |e| {
            e.kind == "agent.state" && e.agent == "1005" && e.id > end.id
        })
        .expect("1005's state after the call");
    assert_ne!(free.data["state"], "busy", "{free:?}");
    for p in [caller, a1001, a1005] {
        p.quit();
    }
}
