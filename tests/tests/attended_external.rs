//! Attended transfer to an outside number (issue 14 item 2), against the real binary with
//! pjsua2 phones: agent 1001, on a queue call, dials `+74951234567` on its own (an agent's
//! outbound call through the carrier trunk, where a pjsua2 "customer" answers), then
//! REFERs the caller to that call with Replaces. The customer's leg moves into the
//! caller's call: the consultation call ends `transfer_completed`, the caller's call logs
//! an attended `call.transfer`, and the customer hears the caller's 1 kHz tone.

use std::time::Duration;

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::carrier::free_udp_port;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{scratch_dir, Server};

#[test]
fn an_agent_consults_an_outside_number_and_hands_the_caller_over() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let dir = scratch_dir("attended-external");
    let trunk_port = free_udp_port();
    let server = Server::start(
        "attended-external",
        &format!("[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{trunk_port}\"\n"),
    );
    let mut a1001 = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(
        a1001.wait_event("registered", 20).is_some(),
        "1001 registers"
    );
    let customer_wav = dir.join("customer.wav");
    let mut customer = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            local_port: trunk_port,
            record: Some(customer_wav.clone()),
            seconds: 90,
            ..Default::default()
        },
    );
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951112255",
            tone_hz: 1000,
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

    // The consultation: 1001's own call to the number, answered by the customer.
    a1001.command(&format!("dial sip:+74951234567@{}", server.sip));
    assert!(
        customer.wait_event("incoming", 30).is_some(),
        "the customer is rung; log:\n{}",
        server.log_text()
    );
    let out = server
        .wait_event(30, |e| e.kind == "call.connected" && e.call != x)
        .unwrap_or_else(|| panic!("1001 and the customer talk; events {:#?}", server.events()));
    let y = out.call.clone();
    assert!(
        server
            .events()
            .iter()
            .any(|e| e.kind == "call.outbound" && e.call == y),
        "an agent's outbound call"
    );

    a1001.command("xfer-replaces");
    let xfer = server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == x)
        .unwrap_or_else(|| panic!("attended transfer; log:\n{}", server.log_text()));
    assert_eq!(xfer.data["kind"], "attended");
    let y_end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == y)
        .expect("the consultation call ends");
    assert_eq!(y_end.data["end_reason"], "transfer_completed");
    // The caller's call goes on with the customer: two seconds of the caller's tone.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.kind == "call.end" && e.call == x),
        "the caller's call is still up"
    );
    caller.command("hangup");
    server
        .wait_event(15, |e| e.kind == "call.end" && e.call == x)
        .expect("the caller's call ends");
    assert!(
        customer.wait_event("disconnected", 15).is_some(),
        "the customer is hung up with the caller"
    );
    for p in [caller, customer, a1001] {
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
