//! A dialplan transfer whose target is not reached sends the caller to the dialplan's
//! fallback queue, with the reason as a typed event (`tests/dialplans-transfer/transfer.ivr`):
//! agent 1002's phone is not registered (`not_registered`), and a premium-rate number is
//! refused by the dial policy (`refused`, with a `call.refused`). Agent 1004 of the fallback
//! queue (`support`) answers each time.

use switchboard_e2e::carrier::free_udp_port;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::Server;

const DIALPLANS: &str = "[ivr]\ndialplans = \"tests/dialplans-transfer\"\n";

/// Calls `to` and returns the call id once agent 1004 is connected, with its events.
fn call_falls_back(server: &Server, py: &str, to: &str) -> Vec<switchboard_e2e::LoggedEvent> {
    let mut caller = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:{to}@{}", server.sip)),
            caller: "+79161234567",
            seconds: 60,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "{to} answered");
    let failed = server
        .wait_event(20, |e| {
            e.kind == "transfer.fail"
                && !server
                    .events()
                    .iter()
                    .any(|x| x.kind == "call.end" && x.call == e.call)
        })
        .unwrap_or_else(|| panic!("{to}: transfer.fail; events {:#?}", server.events()));
    let call = failed.call.clone();
    server
        .wait_event(30, |e| {
            e.kind == "call.connected" && e.call == call && e.agent == "1004"
        })
        .unwrap_or_else(|| {
            panic!(
                "{to}: the fallback queue's agent answers; log:\n{}",
                server.log_text()
            )
        });
    caller.command("hangup");
    server
        .wait_event(15, |e| e.kind == "call.end" && e.call == call)
        .expect("call ended");
    caller.quit();
    server
        .events()
        .into_iter()
        .filter(|e| e.call == call)
        .collect()
}

#[test]
fn unreached_dialplan_transfers_go_to_the_fallback_queue_with_a_typed_reason() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // A trunk exists, so the premium number is refused by the policy, not for want of one.
    let port = free_udp_port();
    let server = Server::start(
        "transfer-fallback",
        &format!("{DIALPLANS}[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n"),
    );
    let mut a1004 = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1004", "secret-1004")),
            seconds: 120,
            ..Default::default()
        },
    );
    assert!(a1004.wait_event("registered", 20).is_some());

    let evs = call_falls_back(&server, &py, "301");
    let find = |kind: &str| {
        evs.iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("{kind} in {evs:#?}"))
    };
    let ivr = find("ivr.transfer");
    assert_eq!(ivr.data["kind"], "agent");
    assert_eq!(ivr.data["target"], "1002");
    let dial = find("transfer.dial");
    assert_eq!(
        (dial.data["origin"].as_str(), dial.data["to"].as_str()),
        (Some("dialplan"), Some("user"))
    );
    let failed = find("transfer.fail");
    assert_eq!(failed.data["reason"], "not_registered");
    assert_eq!(failed.data["fallback_queue"], "support");
    assert_eq!(find("queue.join").queue, "support");
    assert!(!evs.iter().any(|e| e.kind == "transfer.answer"));

    let evs = call_falls_back(&server, &py, "302");
    let find = |kind: &str| {
        evs.iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("{kind} in {evs:#?}"))
    };
    let refused = find("call.refused");
    assert_eq!(refused.data["reason"], "premium_rate");
    assert_eq!(refused.data["purpose"], "transfer");
    assert_eq!(refused.data["number"], "+78095550000");
    let failed = find("transfer.fail");
    assert_eq!(failed.data["reason"], "refused");
    assert_eq!(failed.data["fallback_queue"], "support");
    assert_eq!(find("ivr.transfer").data["queue"], "support");
    assert!(
        !evs.iter().any(|e| e.kind == "transfer.dial"),
        "a refused number is never dialled"
    );
    a1004.quit();
}
