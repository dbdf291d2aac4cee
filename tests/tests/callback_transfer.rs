//! Transfers of a callback by its agent (issue 14): a web callback (`POST
//! /api/v1/callbacks`) rings agent 1001 (sales, pjsua2, 2 kHz) and then the customer (a
//! pjsua2 phone that doubles as the carrier, 1 kHz, recording what it hears), and bridges
//! them. 1001 then REFERs the customer to colleague 1004 (support, 3 kHz, recording):
//! blind (`xfer sip:1004@...`) or attended (1001 consults 1004 through the support queue
//! and REFERs with Replaces), or to the support queue, where 1004 is offered the
//! customer. The call goes on as a call task: `call.transfer` on the callback's call, 1004
//! and the customer hear each other, the call ends answered with 1004. The callback's ACD call ends once, when 1001's leg goes: 1001 wraps up exactly
//! once and is available again (not left busy under the callback's call), and the
//! callback's outcome stays `connected`.

use std::path::{Path, PathBuf};

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::carrier::free_udp_port;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::transfer_peers::{colleague, consult, first_agent, transfer_to_consultation};
use switchboard_e2e::{scratch_dir, LoggedEvent, Server};

/// Every test's start: the server (its outbound trunk is the customer's phone), the
/// customer, 1001 and 1004 registered, and the web callback connected 1001 <-> customer.
struct Scene {
    server: Server,
    customer: Softphone,
    agent: Softphone,
    colleague: Softphone,
    dir: PathBuf,
    /// The callback's `call.connected`.
    connected: LoggedEvent,
    /// The web callback's id.
    callback: String,
}

fn scene(name: &str) -> Option<Scene> {
    let py = python_with_pjsua2()?;
    let port = free_udp_port();
    let server = Server::start(
        name,
        &format!("[sip]\noutbound_trunk = \"127.0.0.1:{port}\"\n"),
    );
    let dir = scratch_dir(&format!("{name}-phones"));
    let customer = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            tone_hz: 1000,
            local_port: port,
            record: Some(dir.join("customer.wav")),
            seconds: 120,
            ..Default::default()
        },
    );
    let mut agent = first_agent(&py, &server);
    let colleague = colleague(&py, &server, &dir);
    let (callback, placed) = server.place_web_callback("sales", "+74951234567");
    let connected = server
        .wait_event(40, |e| e.kind == "call.connected" && e.call == placed.call)
        .unwrap_or_else(|| panic!("connected; log:\n{}", server.log_text()));
    assert_eq!(connected.agent, "1001", "{connected:?}");
    assert!(agent.wait_event("media", 20).is_some(), "agent's media up");
    Some(Scene {
        server,
        customer,
        agent,
        colleague,
        dir,
        connected,
        callback,
    })
}

/// The last `secs` seconds (but the final quarter second) of channel 0 of `wav`.
fn tail(wav: &Path, secs: f64) -> (Vec<f64>, u32) {
    let (x, sr) = read_channel(wav, 0);
    let n = (sr as f64 * secs) as usize;
    let end = x.len().saturating_sub(sr as usize / 4);
    (x[end.saturating_sub(n)..end].to_vec(), sr)
}

/// Every test's end, once 1001's leg is gone and 1004 talks to the customer: 1001 wraps
/// up once and is available again; after a few seconds of talk (no event says audio
/// flowed: the assertions are on the recordings) 1004 hangs up; the call ends answered
/// with 1004; each side heard the other's tone; the callback stays `connected`.
fn end_with_the_colleague(mut s: Scene, transfer: &LoggedEvent, label: &str) {
    let server = &s.server;
    server
        .wait_event(30, |e| {
            e.kind == "agent.state"
                && e.agent == "1001"
                && e.data["state"] == "available"
                && e.id > transfer.id
        })
        .unwrap_or_else(|| panic!("1001 available again; events {:#?}", server.events()));
    std::thread::sleep(std::time::Duration::from_secs(3));
    s.colleague.command("hangup");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == s.connected.call)
        .unwrap_or_else(|| panic!("call.end; log:\n{}", server.log_text()));
    assert_eq!(end.data["disposition"], "answered", "{end:?}");
    assert_eq!(end.agent, "1004", "{end:?}");
    assert!(
        s.customer.wait_event("disconnected", 20).is_some(),
        "the customer got the BYE"
    );
    // 1001's ACD call (the callback's) ended once: one wrap-up, no second one later.
    let states: Vec<String> = server
        .events()
        .iter()
        .filter(|e| e.kind == "agent.state" && e.agent == "1001" && e.id > transfer.id)
        .map(|e| e.data["state"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        states.iter().filter(|s| *s == "wrap_up").count(),
        1,
        "{label}: 1001's states after the transfer: {states:?}"
    );
    assert_eq!(
        states.last().map(String::as_str),
        Some("available"),
        "{states:?}"
    );
    let done: Vec<LoggedEvent> = server
        .events()
        .into_iter()
        .filter(|e| e.kind == "callback.done" && e.call == s.callback)
        .collect();
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!(done[0].data["outcome"], "connected");
    s.customer.quit();
    s.colleague.quit();
    s.agent.quit();
    let (heard, sr) = tail(&s.dir.join("customer.wav"), 2.0);
    let share = tone_share(&heard, sr, 3000.0);
    eprintln!("{label}: 3 kHz share the customer heard from 1004: {share:.3}");
    assert!(share > 0.3, "the customer hears 1004: {share}");
    let (heard, sr) = tail(&s.dir.join("second.wav"), 2.0);
    let share = tone_share(&heard, sr, 1000.0);
    eprintln!("{label}: 1 kHz share 1004 heard from the customer: {share:.3}");
    assert!(share > 0.3, "1004 hears the customer: {share}");
}

#[test]
fn a_callbacks_agent_blind_transfers_the_customer_to_a_colleague() {
    let Some(mut s) = scene("callback-transfer-blind") else {
        return;
    };
    let server = &s.server;
    s.agent.command(&format!("xfer sip:1004@{}", server.sip));
    let transfer = server
        .wait_event(15, |e| {
            e.kind == "call.transfer" && e.call == s.connected.call
        })
        .unwrap_or_else(|| panic!("call.transfer; log:\n{}", server.log_text()));
    assert_eq!(transfer.data["kind"], "blind", "{transfer:?}");
    assert_eq!(transfer.data["to_agent"], "1004", "{transfer:?}");
    assert_eq!(transfer.agent, "1001", "{transfer:?}");
    assert!(
        s.colleague.wait_event("media", 20).is_some(),
        "1004 answered; log:\n{}",
        server.log_text()
    );
    assert!(
        s.agent.wait_event("disconnected", 20).is_some(),
        "1001's leg released"
    );
    server
        .wait_event(20, |e| {
            e.kind == "call.connected" && e.call == s.connected.call && e.agent == "1004"
        })
        .unwrap_or_else(|| panic!("bridged to 1004; events {:#?}", server.events()));
    end_with_the_colleague(s, &transfer, "blind");
}

#[test]
fn a_callbacks_agent_hands_the_customer_to_a_consulted_colleague() {
    let Some(mut s) = scene("callback-transfer-attended") else {
        return;
    };
    let x = s.connected.call.clone();
    let y = consult(&s.server, &mut s.agent, &x);
    transfer_to_consultation(&s.server, &mut s.agent, &x, &y);
    let transfer = s
        .server
        .wait_event(1, |e| e.kind == "call.transfer" && e.call == x)
        .expect("call.transfer");
    end_with_the_colleague(s, &transfer, "attended");
}

#[test]
fn a_callbacks_agent_blind_transfers_the_customer_to_a_queue() {
    let Some(mut s) = scene("callback-transfer-queue") else {
        return;
    };
    let server = &s.server;
    s.agent.command(&format!("xfer sip:support@{}", server.sip));
    let transfer = server
        .wait_event(15, |e| {
            e.kind == "call.transfer" && e.call == s.connected.call
        })
        .unwrap_or_else(|| panic!("call.transfer; log:\n{}", server.log_text()));
    assert_eq!(transfer.data["kind"], "blind", "{transfer:?}");
    assert_eq!(transfer.data["to_queue"], "support", "{transfer:?}");
    server
        .wait_event(15, |e| {
            e.kind == "queue.join" && e.call == s.connected.call && e.queue == "support"
        })
        .unwrap_or_else(|| panic!("joins support; events {:#?}", server.events()));
    // 1004, support's member, is offered the customer and answers.
    let connected = server
        .wait_event(30, |e| {
            e.kind == "call.connected" && e.call == s.connected.call && e.id > transfer.id
        })
        .unwrap_or_else(|| panic!("answered from support; events {:#?}", server.events()));
    assert_eq!(connected.agent, "1004", "{connected:?}");
    assert_eq!(connected.queue, "support", "{connected:?}");
    assert!(
        s.agent.wait_event("disconnected", 20).is_some(),
        "1001's leg released"
    );
    end_with_the_colleague(s, &transfer, "to a queue");
}
