//! Transfers of an agent's own call by its agent (issue 14 item 2; decision 0042's
//! amendment): registered pjsua2 agent 1001 dials an outside number through a carrier
//! trunk that SIPp plays (it echoes the RTP it gets), then sends a blind REFER to agent
//! 1002. The call continues as a call task: `call.transfer` (blind, to 1002), 1002's phone
//! rings and answers, 1001's leg is released; 1002 hears its own 1 kHz tone come back
//! through the carrier's echo, so audio crosses the new bridge both ways. The agents' ACD
//! states follow: 1001 is free again once transferred away, 1002 busy while on the call.
//! The call ends answered, with 1002, when 1002 hangs up; the carrier gets its BYE.
//! Also attended (1001 consults 1002 and REFERs with Replaces) and blind to a queue
//! (`sales`, longest-idle: 1002, idle since it registered, is offered the call).

use std::path::PathBuf;

use switchboard_e2e::audio::{best_tone_share, read_channel};
use switchboard_e2e::outbound_fixture::OutboundFixture;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{require_peer, scratch_dir, LoggedEvent};

/// Every test's start: the carrier fixture, colleague 1002 registered (1 kHz tone, what it
/// hears recorded), and agent 1001 on its own call to the carrier with media up.
struct Scene {
    fixture: OutboundFixture,
    colleague: Softphone,
    agent: Softphone,
    /// 1001's `call.connected` to the carrier.
    out: LoggedEvent,
    heard: PathBuf,
}

fn scene(name: &str) -> Option<Scene> {
    let py = python_with_pjsua2()?;
    if !require_peer("sipp") {
        return None;
    }
    let fixture = OutboundFixture::start(name, "");
    let server = &fixture.server;
    let heard = scratch_dir(&format!("{name}-1002")).join("1002-hears.wav");
    let mut colleague = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1002", "secret-1002")),
            tone_hz: 1000,
            record: Some(heard.clone()),
            seconds: 120,
            ..Default::default()
        },
    );
    assert!(
        colleague.wait_event("registered", 20).is_some(),
        "1002 registered"
    );
    let mut agent = fixture.agent(&py, SoftphoneOpts::default());
    let out = fixture.dial_out(&mut agent);
    assert!(agent.wait_event("media", 20).is_some(), "agent's media up");
    Some(Scene {
        fixture,
        colleague,
        agent,
        out,
        heard,
    })
}

/// Every test's end: 1002 hangs up after its tone has had time to go round the carrier's
/// echo (no event says audio flowed; the assertion is on the audio 1002 recorded); the
/// call ends answered with 1002 (the returned `call.end`), the carrier saw a clean end, and
/// 1002 heard its own tone back.
fn end_with_the_colleague(mut s: Scene, label: &str) -> LoggedEvent {
    let server = &s.fixture.server;
    std::thread::sleep(std::time::Duration::from_secs(3));
    s.colleague.command("hangup");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == s.out.call)
        .unwrap_or_else(|| panic!("call.end; log:\n{}", server.log_text()));
    assert_eq!(end.data["disposition"], "answered", "{end:?}");
    assert_eq!(end.agent, "1002", "{end:?}");
    let (status, traces) = s.fixture.carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "carrier: {traces}");
    s.colleague.quit();
    s.agent.quit();
    let (x, sr) = read_channel(&s.heard, 0);
    let back = best_tone_share(&x, sr, 1000.0);
    eprintln!("{label}: 1 kHz share 1002 heard back through the carrier: {back:.3}");
    assert!(back > 0.3, "1002 heard its tone echoed back: {back}");
    end
}

#[test]
fn an_agent_blind_transfers_their_own_call_to_a_colleague() {
    let Some(mut s) = scene("placed-call-transfer") else {
        return;
    };
    let server = &s.fixture.server;
    s.agent.command(&format!("xfer sip:1002@{}", server.sip));
    let transfer = server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == s.out.call)
        .unwrap_or_else(|| panic!("call.transfer; log:\n{}", server.log_text()));
    assert_eq!(transfer.data["kind"], "blind", "{transfer:?}");
    assert_eq!(transfer.data["to_agent"], "1002", "{transfer:?}");
    assert_eq!(transfer.agent, "1001", "{transfer:?}");
    // 1002 answers (auto); the transferring agent's leg is hung up.
    assert!(
        s.colleague.wait_event("media", 20).is_some(),
        "1002 answered; log:\n{}",
        server.log_text()
    );
    assert!(
        s.agent.wait_event("disconnected", 20).is_some(),
        "1001's leg released"
    );
    let connected = server
        .wait_event(20, |e| {
            e.kind == "call.connected" && e.call == s.out.call && e.agent == "1002"
        })
        .unwrap_or_else(|| panic!("bridged to 1002; events {:#?}", server.events()));
    assert!(connected.id > transfer.id);
    // 1001 is free again once transferred away; 1002 is busy on the call.
    server
        .wait_event(15, |e| {
            e.kind == "agent.state"
                && e.agent == "1001"
                && e.data["state"] == "available"
                && e.id > transfer.id
        })
        .unwrap_or_else(|| panic!("1001 free again; events {:#?}", server.events()));
    let busy = server
        .wait_event(15, |e| {
            e.kind == "agent.state" && e.agent == "1002" && e.data["state"] == "busy"
        })
        .unwrap_or_else(|| panic!("1002 busy; events {:#?}", server.events()));
    assert_eq!(busy.data["busy_kind"], "transfer", "{busy:?}");
    end_with_the_colleague(s, "blind");
}

/// Attended: 1001, on their own call to the carrier, dials 1002 (a consultation call of
/// its own), then REFERs the outbound call with Replaces naming the consultation. 1002's
/// leg joins the far end (`call.transfer` attended, to 1002; the consultation ends
/// `transfer_completed`); 1002 hears its tone back through the carrier's echo (after the
/// consultation, in which 1001 sends no tone).
#[test]
fn an_agent_hands_their_own_call_to_a_consulted_colleague() {
    let Some(mut s) = scene("placed-call-attended") else {
        return;
    };
    let server = &s.fixture.server;
    // The consultation: 1001 calls 1002 directly.
    s.agent.command(&format!("dial sip:1002@{}", server.sip));
    let consult = server
        .wait_event(30, |e| {
            e.kind == "call.connected" && e.call != s.out.call && e.agent == "1002"
        })
        .unwrap_or_else(|| panic!("1001 consults 1002; log:\n{}", server.log_text()));

    s.agent.command("xfer-replaces");
    let transfer = server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == s.out.call)
        .unwrap_or_else(|| panic!("call.transfer; log:\n{}", server.log_text()));
    assert_eq!(transfer.data["kind"], "attended", "{transfer:?}");
    assert_eq!(transfer.data["to_agent"], "1002", "{transfer:?}");
    let consult_end = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == consult.call)
        .unwrap_or_else(|| panic!("the consultation ends; events {:#?}", server.events()));
    assert_eq!(consult_end.data["end_reason"], "transfer_completed");
    // 1001 is free again once both their calls are gone.
    server
        .wait_event(15, |e| {
            e.kind == "agent.state"
                && e.agent == "1001"
                && e.data["state"] == "available"
                && e.id > transfer.id
        })
        .unwrap_or_else(|| panic!("1001 free again; events {:#?}", server.events()));
    end_with_the_colleague(s, "attended");
}

/// Blind to a queue: 1001 REFERs their own call to `sales`; the far end waits there and
/// is offered to 1002 (a member, free longer than 1001), who hears its tone back through
/// the carrier's echo. The call ends answered in `sales` with 1002.
#[test]
fn an_agent_blind_transfers_their_own_call_to_a_queue() {
    let Some(mut s) = scene("placed-call-to-queue") else {
        return;
    };
    let server = &s.fixture.server;
    s.agent.command(&format!("xfer sip:sales@{}", server.sip));
    let transfer = server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == s.out.call)
        .unwrap_or_else(|| panic!("call.transfer; log:\n{}", server.log_text()));
    assert_eq!(transfer.data["kind"], "blind", "{transfer:?}");
    assert_eq!(transfer.data["to_queue"], "sales", "{transfer:?}");
    server
        .wait_event(15, |e| {
            e.kind == "queue.join" && e.call == s.out.call && e.queue == "sales"
        })
        .unwrap_or_else(|| panic!("joins sales; events {:#?}", server.events()));
    let connected = server
        .wait_event(30, |e| {
            e.kind == "call.connected" && e.call == s.out.call && e.id > transfer.id
        })
        .unwrap_or_else(|| panic!("answered from sales; events {:#?}", server.events()));
    assert_eq!(connected.agent, "1002", "{connected:?}");
    assert_eq!(connected.queue, "sales", "{connected:?}");
    let end = end_with_the_colleague(s, "to a queue");
    assert_eq!(end.queue, "sales", "{end:?}");
}
