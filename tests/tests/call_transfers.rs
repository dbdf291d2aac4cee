//! Agents' REFER transfers against the real binary with real softphones (pjsua2): a blind
//! transfer of the caller to another queue, and an attended transfer to a consulted
//! colleague. Audio is decoded and checked on the phones. (Moved out of `call_path.rs`.)

use std::time::Duration;

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::transfer_peers::{colleague, consult, first_agent, transfer_to_consultation};
use switchboard_e2e::{scratch_dir, Server};

#[test]
fn agent_blind_transfers_the_caller_to_another_queue() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("blind-transfer", "");
    let dir = scratch_dir("blind-transfer-phones");
    // Agent 1001 (sales) is ready first; 1004 (support) too.
    let mut first = first_agent(&py, &server);
    let second = colleague(&py, &server, &dir);
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some());
    caller.command("dtmf 1");
    let bridge1 = server
        .wait_event(30, |e| e.kind == "call.connected" && e.agent == "1001")
        .unwrap_or_else(|| panic!("first agent connected; events {:#?}", server.events()));
    let call = bridge1.call.clone();
    // They talk for a moment, then the first agent transfers the caller to support.
    std::thread::sleep(Duration::from_secs(2));
    first.command(&format!("xfer sip:support@{}", server.sip));
    let xfer = server.wait_event(15, |e| e.kind == "call.transfer" && e.call == call);
    assert!(
        xfer.is_some(),
        "transfer logged; log:\n{}",
        server.log_text()
    );
    let bridge2 = server
        .wait_event(30, |e| {
            e.kind == "call.connected" && e.call == call && e.agent == "1004"
        })
        .unwrap_or_else(|| panic!("second agent connected; events {:#?}", server.events()));
    assert_eq!(bridge2.queue, "support");
    std::thread::sleep(Duration::from_secs(2));
    caller.command("hangup");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call ended");
    caller.quit();
    first.quit();
    second.quit();

    let evs: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| e.call == call)
        .collect();
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(
            e.call_seq,
            i as i64 + 1,
            "same call id, gap-free across both agents"
        );
    }
    // One recording for the whole call, started once.
    assert_eq!(
        evs.iter().filter(|e| e.kind == "recording.start").count(),
        1
    );
    assert_eq!(end.agent, "1004");
    assert_eq!(end.data["disposition"], "answered");
    // The first agent's handle time ended: it went to wrap-up.
    let wrap = server.events().into_iter().any(|e| {
        e.kind == "agent.state"
            && e.agent == "1001"
            && e.data["state"].as_str().unwrap_or("") == "wrap_up"
    });
    assert!(wrap, "first agent in wrap-up after the transfer");
    // The second agent heard the caller.
    let (heard, sr) = read_channel(&dir.join("second.wav"), 0);
    let tail = &heard[heard.len().saturating_sub(sr as usize * 3 / 2)
        ..heard.len().saturating_sub(sr as usize / 4)];
    assert!(
        tone_share(tail, sr, 1000.0) > 0.3,
        "second agent hears the caller"
    );
    // The recording holds both agents' tones on the right channel.
    let rec = std::path::PathBuf::from(end.data["recording"].as_str().expect("recording"));
    let (right, rsr) = read_channel(&rec, 1);
    let sec = rsr as usize;
    let first_part = tone_share(&right[sec / 2..sec * 3 / 2], rsr, 2000.0);
    let second_part = tone_share(
        &right[right.len() - sec * 3 / 2..right.len() - sec / 4],
        rsr,
        3000.0,
    );
    assert!(
        first_part > 0.3 && second_part > 0.3,
        "both agents recorded ({first_part:.2}, {second_part:.2})"
    );
}

#[test]
fn agent_attended_transfer_hands_the_caller_to_a_consulted_colleague() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("attended-transfer", "");
    let dir = scratch_dir("attended-phones");
    let mut first = first_agent(&py, &server);
    let mut second = colleague(&py, &server, &dir);
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            record: Some(dir.join("caller.wav")),
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some());
    caller.command("dtmf 1");
    let x = server
        .wait_event(30, |e| e.kind == "call.connected" && e.agent == "1001")
        .unwrap_or_else(|| panic!("first agent connected; events {:#?}", server.events()))
        .call;
    // 1001 consults a colleague through the support queue (an internal call).
    let y = consult(&server, &mut first, &x);
    assert!(server
        .events()
        .iter()
        .any(|e| e.call == y && e.kind == "call.internal"));
    std::thread::sleep(Duration::from_secs(1));
    // ...then transfers the caller to that colleague (REFER with Replaces).
    transfer_to_consultation(&server, &mut first, &x, &y);
    std::thread::sleep(Duration::from_secs(2));
    caller.command("hangup");
    assert!(
        second.wait_event("disconnected", 10).is_some(),
        "the colleague gets BYE when the caller hangs up"
    );
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == x)
        .expect("call ended");
    caller.quit();
    first.quit();
    second.quit();
    assert_eq!(end.agent, "1004");
    assert_eq!(end.data["disposition"], "answered");
    // Caller and colleague heard each other after the transfer.
    let tail = |p: &std::path::Path, f: f64| {
        let (x, sr) = read_channel(p, 0);
        let t = &x
            [x.len().saturating_sub(sr as usize * 3 / 2)..x.len().saturating_sub(sr as usize / 4)];
        tone_share(t, sr, f)
    };
    assert!(
        tail(&dir.join("caller.wav"), 3000.0) > 0.3,
        "caller hears the colleague"
    );
    assert!(
        tail(&dir.join("second.wav"), 1000.0) > 0.3,
        "colleague hears the caller"
    );
    let out = std::process::Command::new(switchboard_e2e::switchboard_bin())
        .args(["export", "check", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
