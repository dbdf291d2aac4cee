//! A blind transfer of an agent's own call to an outside number (issue 14): registered
//! pjsua2 agent 1001 dials +74951234567 through trunk `carrier-out` (SIPp: 407 challenge,
//! caller ID checked, echoes the RTP it gets), then REFERs the far end to +74957654321.
//! `carrier-out` takes one call at a time, so the second call skips it (`trunk.refused`,
//! `max_calls`) and goes out through `carrier-two`, a pjsua2 phone that answers and sends
//! a 1 kHz tone: the tone crosses to the first carrier, comes back through its echo and
//! crosses again, so the second carrier hearing its own tone proves audio crossed the new
//! bridge both ways. The call ends answered with no agent (a number) in the event log,
//! and is one CDR row (outbound, filed under 1001 who placed it); 1001 is free again once
//! transferred away. (A transfer to an extension, a
//! colleague's phone, is `placed_call_transfer.rs`.)

use switchboard_e2e::audio::{best_tone_share, read_channel};
use switchboard_e2e::carrier::free_udp_port;
use switchboard_e2e::cdr_csv::csv_rows;
use switchboard_e2e::outbound_fixture::OutboundFixture;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{require_peer, scratch_dir};

/// Where the agent sends the far end (a Moscow number the dial policy admits).
const TRANSFER_TO: &str = "+74957654321";

#[test]
fn an_agent_blind_transfers_their_own_call_to_an_outside_number() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let second_port = free_udp_port();
    let mut fixture = OutboundFixture::start_with_second_carrier("own-call-out", second_port);
    let heard = scratch_dir("own-call-out-second").join("second-carrier-hears.wav");
    let mut second = Softphone::start(
        &py,
        fixture.server.sip,
        SoftphoneOpts {
            tone_hz: 1000,
            local_port: second_port,
            record: Some(heard.clone()),
            seconds: 120,
            ..Default::default()
        },
    );
    let mut agent = fixture.agent(&py, SoftphoneOpts::default());
    let out = fixture.dial_out(&mut agent);
    assert!(agent.wait_event("media", 20).is_some(), "agent's media up");
    let server = &fixture.server;

    agent.command(&format!("xfer sip:{TRANSFER_TO}@{}", server.sip));
    let transfer = server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == out.call)
        .unwrap_or_else(|| panic!("call.transfer; log:\n{}", server.log_text()));
    assert_eq!(transfer.data["kind"], "blind", "{transfer:?}");
    assert_eq!(transfer.data["to_number"], TRANSFER_TO, "{transfer:?}");
    assert_eq!(transfer.agent, "1001", "{transfer:?}");
    // The first carrier is at its one call: the second call goes to carrier-two.
    let refused = server
        .wait_event(15, |e| e.kind == "trunk.refused" && e.call == out.call)
        .unwrap_or_else(|| panic!("trunk.refused; events {:#?}", server.events()));
    assert_eq!(refused.data["trunk"], "carrier-out", "{refused:?}");
    assert_eq!(refused.data["reason"], "max_calls", "{refused:?}");
    assert!(
        second.wait_event("incoming", 20).is_some(),
        "the second carrier is called; log:\n{}",
        server.log_text()
    );
    assert!(second.wait_event("media", 20).is_some(), "it answered");
    assert!(
        agent.wait_event("disconnected", 20).is_some(),
        "1001's leg released"
    );
    let answered = server
        .wait_event(20, |e| e.kind == "transfer.answer" && e.call == out.call)
        .unwrap_or_else(|| panic!("transfer.answer; events {:#?}", server.events()));
    assert_eq!(answered.data["to"], "number", "{answered:?}");
    assert_eq!(answered.data["target"], TRANSFER_TO, "{answered:?}");
    server
        .wait_event(15, |e| {
            e.kind == "agent.state"
                && e.agent == "1001"
                && e.data["state"] == "available"
                && e.id > transfer.id
        })
        .unwrap_or_else(|| panic!("1001 free again; events {:#?}", server.events()));

    // No event says audio flowed: the assertion is on what the second carrier recorded.
    std::thread::sleep(std::time::Duration::from_secs(3));
    second.command("hangup");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == out.call)
        .unwrap_or_else(|| panic!("call.end; log:\n{}", server.log_text()));
    assert_eq!(end.data["disposition"], "answered", "{end:?}");
    assert_eq!(end.agent, "", "a number, no agent: {end:?}");
    assert!(
        end.data["talk_s"].as_f64().is_some_and(|t| t > 0.0),
        "{end:?}"
    );
    let (status, traces) = fixture.carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "the first carrier got its BYE: {traces}"
    );
    second.quit();
    agent.quit();
    let (x, sr) = read_channel(&heard, 0);
    let back = best_tone_share(&x, sr, 1000.0);
    eprintln!("1 kHz share the second carrier heard back through the first one's echo: {back:.3}");
    assert!(back > 0.3, "audio crossed both ways: {back}");

    let cdr = server.export("cdr");
    let rows = csv_rows(&cdr);
    let row = rows
        .iter()
        .find(|r| r["call_id"] == out.call)
        .unwrap_or_else(|| panic!("a CDR row for {}: {cdr}", out.call));
    assert_eq!(row["disposition"], "answered", "{row:?}");
    // One row for the whole call: the agent's own outbound call to the first number,
    // filed under the agent who placed it (the number it reached has no agent).
    assert_eq!(row["direction"], "outbound", "{row:?}");
    assert_eq!(row["dnis"], "+74951234567", "{row:?}");
    assert_eq!(row["agent"], "1001", "{row:?}");
    assert_eq!(rows.iter().filter(|r| r["call_id"] == out.call).count(), 1);
    assert_eq!(
        row["end_reason"],
        end.data["end_reason"].as_str().unwrap(),
        "{row:?}"
    );
    assert!(!row["talk_s"].is_empty(), "{row:?}");
}
