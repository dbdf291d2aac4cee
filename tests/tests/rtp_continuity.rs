//! RTP continuity as the phones receive it (issue 10), against the real binary.
//!
//! 1. A pjsua2 caller dials 300 (`tests/dialplans-continuity/continuity.ivr`): IVR
//!    prompt -> queue sales (announcement, music on hold) -> whisper to agent 1001 ->
//!    bridge -> 1001 blind-transfers the caller to support -> music on hold -> agent 1004
//!    -> supervisor 1005 whispers (the call is mixed) -> hangs up (relayed again).
//!    A raw socket owned by the test captures every RTP packet the server sends (its RTP
//!    port range is set apart from the peers'), and within every SSRC of every stream the
//!    sequence numbers go up by exactly one and the timestamps move on by the clock.
//!    A second call checks the same through an attended transfer: the colleague's leg
//!    carries the consultation, then moves (with its RTP session) into the caller's call.
//! 2. baresip on both ends, ten calls in one run: each baresip's `sndfile` module records
//!    what it decoded; the agent's file holds the caller's tone and the caller's file the
//!    agent's tone in every second of the bridged time, and neither baresip logs
//!    "dropping" (the bug made baresip's jitter buffer drop a whole direction).

use std::time::Duration;

use switchboard_e2e::audio::{read_channel, rms, tone_share};
use switchboard_e2e::baresip::{Baresip, BaresipOpts};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::rtp_capture::{continuity_problems, flows, Flow, RtpCapture};
use switchboard_e2e::{require_peer, Server};

/// The server's RTP port range for this run: 40 ports below the ephemeral range, apart
/// from the default 20000-29999 other servers use and from the peers' ports.
/// `slot` keeps tests of one run (in parallel threads) apart.
fn server_rtp_ports(slot: u16) -> (u16, u16) {
    let base = 30_000 + ((std::process::id() % 30) as u16 * 2 + slot) * 40;
    (base, base + 39)
}

/// One line per stream: ports, packet count, SSRCs, marker bits.
fn describe(fl: &[Flow]) -> Vec<String> {
    fl.iter()
        .map(|f| {
            let mut ssrcs: Vec<u32> = f.packets.iter().map(|p| p.ssrc).collect();
            ssrcs.dedup();
            format!(
                "{} -> {}: {} packets, ssrcs {:x?}, {} marked",
                f.src_port,
                f.dst_port,
                f.packets.len(),
                ssrcs,
                f.packets.iter().filter(|p| p.marker).count()
            )
        })
        .collect()
}

/// Every stream the server sent keeps the continuity rule within each SSRC.
fn assert_all_continuous(fl: &[Flow], summary: &[String]) {
    for f in fl {
        let problems = continuity_problems(f);
        assert!(
            problems.is_empty(),
            "the stream {} -> {} jumps:\n{}\nstreams: {summary:#?}",
            f.src_port,
            f.dst_port,
            problems.join("\n")
        );
    }
}

fn config(lo: u16, hi: u16, queues: &str) -> String {
    format!(
        "[ivr]\ndialplans = \"tests/dialplans-continuity\"\n\n\
         [media]\nrtp_port_min = {lo}\nrtp_port_max = {hi}\n{queues}"
    )
}

fn raw_capture(lo: u16, hi: u16) -> Option<RtpCapture> {
    let cap = RtpCapture::start(lo..=hi);
    if cap.is_none() {
        if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("capturing RTP needs a raw socket (root or CAP_NET_RAW)");
        }
        eprintln!("SKIPPED: no raw socket (run as root or with CAP_NET_RAW)");
    }
    cap
}

#[test]
fn every_stream_keeps_its_numbering_from_ivr_through_transfer_supervision_and_back() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let (lo, hi) = server_rtp_ports(0);
    let Some(cap) = raw_capture(lo, hi) else {
        return;
    };
    let server = Server::start("rtp-continuity", &config(lo, hi, ""));
    // 1004 (support) waits for the transferred caller; 1001 (sales) logs in later, so the
    // caller first hears the IVR prompt, the announcement and music on hold.
    let mut second = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1004", "secret-1004")),
            tone_hz: 3000,
            ..Default::default()
        },
    );
    assert!(second.wait_event("registered", 15).is_some());
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:300@{}", server.sip)),
            tone_hz: 1000,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("confirmed", 20).is_some());
    let announce = server
        .wait_event(30, |e| e.kind == "queue.announce")
        .unwrap_or_else(|| panic!("caller queued; log:\n{}", server.log_text()));
    let call = announce.call.clone();
    // The announcement, then music on hold, before an agent appears.
    std::thread::sleep(Duration::from_secs(5));
    let mut first = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            ..Default::default()
        },
    );
    server
        .wait_event(30, |e| {
            e.kind == "call.connected" && e.call == call && e.agent == "1001"
        })
        .unwrap_or_else(|| panic!("first agent connected; log:\n{}", server.log_text()));
    std::thread::sleep(Duration::from_secs(2));
    first.command(&format!("xfer sip:support@{}", server.sip));
    server
        .wait_event(30, |e| {
            e.kind == "call.connected" && e.call == call && e.agent == "1004"
        })
        .unwrap_or_else(|| panic!("second agent connected; log:\n{}", server.log_text()));
    std::thread::sleep(Duration::from_secs(2));
    // Supervisor 1005 whispers to 1004 for a while (the call is mixed instead of relayed),
    // then hangs up (relayed again).
    let mut sup = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1005", "secret-1005")),
            tone_hz: 500,
            ..Default::default()
        },
    );
    assert!(sup.wait_event("registered", 15).is_some());
    sup.command(&format!("dial sip:whisper-1004@{}", server.sip));
    server
        .wait_event(15, |e| e.kind == "supervisor.join" && e.call == call)
        .unwrap_or_else(|| panic!("supervisor joined; log:\n{}", server.log_text()));
    std::thread::sleep(Duration::from_secs(2));
    sup.command("hangup");
    server
        .wait_event(15, |e| e.kind == "supervisor.leave" && e.call == call)
        .unwrap_or_else(|| panic!("supervisor left; log:\n{}", server.log_text()));
    std::thread::sleep(Duration::from_secs(2));
    caller.command("hangup");
    server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call ended");
    caller.quit();
    first.quit();
    second.quit();
    sup.quit();
    let packets = cap.stop();

    // Streams in the order they started: to the caller (from the IVR prompt on), to 1001
    // (from the whisper on), to 1004 (from the second bridge on).
    let fl = flows(&packets);
    let summary = describe(&fl);
    eprintln!("received streams: {summary:#?}");
    assert!(
        fl.len() >= 3,
        "streams to the caller and both agents captured: {summary:#?}"
    );
    for (f, what, min) in [
        (&fl[0], "caller", 300),
        (&fl[1], "first agent", 100),
        (&fl[2], "second agent", 50),
    ] {
        assert!(
            f.packets.len() >= min,
            "the {what} received {} packets: {summary:#?}",
            f.packets.len()
        );
        let problems = continuity_problems(f);
        assert!(
            problems.is_empty(),
            "the {what}'s stream jumps:\n{}\nstreams: {summary:#?}",
            problems.join("\n")
        );
        let ssrc = f.packets[0].ssrc;
        assert!(
            f.packets.iter().all(|p| p.ssrc == ssrc),
            "one leg, one SSRC ({what}): {summary:#?}"
        );
    }
    // And the supervisor's stream (the mix), and anything else the server sent.
    assert!(
        fl.len() >= 4,
        "the supervisor's stream captured: {summary:#?}"
    );
    assert_all_continuous(&fl, &summary);
    // The caller's stream went through both bridges and the mixer and back: talkspurt
    // marks at its start, each bridge, music on hold after the transfer, mixer, bridge.
    let marks = fl[0].packets.iter().filter(|p| p.marker).count();
    assert!(
        marks >= 5,
        "talkspurt marks on the caller's stream: {summary:#?}"
    );
}

#[test]
fn the_colleagues_leg_keeps_its_numbering_when_an_attended_transfer_moves_it() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let (lo, hi) = server_rtp_ports(1);
    let Some(cap) = raw_capture(lo, hi) else {
        return;
    };
    let server = Server::start("rtp-continuity-attended", &config(lo, hi, ""));
    let mut first = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            ..Default::default()
        },
    );
    assert!(first.wait_event("registered", 15).is_some());
    let mut colleague = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1004", "secret-1004")),
            tone_hz: 3000,
            ..Default::default()
        },
    );
    assert!(colleague.wait_event("registered", 15).is_some());
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:300@{}", server.sip)),
            tone_hz: 1000,
            ..Default::default()
        },
    );
    let x = server
        .wait_event(30, |e| e.kind == "call.connected" && e.agent == "1001")
        .unwrap_or_else(|| panic!("first agent connected; log:\n{}", server.log_text()))
        .call;
    std::thread::sleep(Duration::from_secs(1));
    // 1001 consults 1004 through the support queue (another call, whose agent leg is
    // the colleague's), then hands the caller over: the colleague's leg, with its RTP
    // session, moves into the caller's call.
    first.command(&format!("dial sip:support@{}", server.sip));
    let y = server
        .wait_event(30, |e| e.kind == "call.connected" && e.agent == "1004")
        .unwrap_or_else(|| panic!("consultation connected; log:\n{}", server.log_text()))
        .call;
    std::thread::sleep(Duration::from_secs(2));
    first.command("xfer-replaces");
    server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == x)
        .unwrap_or_else(|| panic!("attended transfer; log:\n{}", server.log_text()));
    server
        .wait_event(10, |e| e.kind == "call.end" && e.call == y)
        .expect("consultation ended");
    std::thread::sleep(Duration::from_secs(2));
    caller.command("hangup");
    server
        .wait_event(10, |e| e.kind == "call.end" && e.call == x)
        .expect("call ended");
    caller.quit();
    first.quit();
    colleague.quit();
    let packets = cap.stop();

    let fl = flows(&packets);
    let summary = describe(&fl);
    eprintln!("received streams: {summary:#?}");
    assert_all_continuous(&fl, &summary);
    // The colleague's stream is the one (besides the caller's) that lasts to the end: it
    // carried the consultation and then the caller, under one SSRC.
    assert!(fl.len() >= 3, "streams captured: {summary:#?}");
    let colleague_flow = fl[1..]
        .iter()
        .max_by_key(|f| f.packets.last().map(|p| p.at))
        .expect("flows");
    let ssrc = colleague_flow.packets[0].ssrc;
    assert!(
        colleague_flow.packets.iter().all(|p| p.ssrc == ssrc),
        "one SSRC for the colleague's leg in both calls: {summary:#?}"
    );
    assert!(
        colleague_flow.packets.iter().filter(|p| p.marker).count() >= 2,
        "the consultation and the hand-over each start a talkspurt: {summary:#?}"
    );
    assert!(
        colleague_flow.packets.len() >= 150,
        "the colleague heard both calls: {summary:#?}"
    );
}

/// Seconds of bridged audio per call, and how many calls.
const BRIDGED_SECS: u64 = 5;
const CALLS: usize = 10;
const CALLER_HZ: f64 = 700.0;
const AGENT_HZ: f64 = 1300.0;

/// The bridged part of a decoded file: from where the other side's tone first arrives
/// (the first 100 ms step whose next 200 ms carry it) to half a second before the end (the
/// file ends when the call does). It must last at least `BRIDGED_SECS - 1.5` s and every
/// 1-second window of it (the last one aligned to its end) must carry `hz`.
fn bridged_windows_problems(path: &std::path::Path, hz: f64, who: &str) -> Vec<String> {
    let (x, sr) = read_channel(path, 0);
    let sec = sr as usize;
    let end = x.len().saturating_sub(sec / 2);
    let carries = |seg: &[f64]| tone_share(seg, sr, hz) > 0.3 && rms(seg) > 300.0;
    let start = (0..end.saturating_sub(sec / 5))
        .step_by(sec / 10)
        .find(|&i| carries(&x[i..i + sec / 5]));
    let Some(start) = start else {
        return vec![format!(
            "{who}: no {hz} Hz anywhere in {} ({} samples)",
            path.display(),
            x.len()
        )];
    };
    let mut problems = Vec::new();
    let bridged = end - start;
    eprintln!(
        "{who}: {hz} Hz from {:.2} s to the end, {:.2} s",
        start as f64 / sec as f64,
        x.len().saturating_sub(start) as f64 / sec as f64
    );
    if bridged * 2 < (2 * BRIDGED_SECS as usize - 3) * sec {
        problems.push(format!(
            "{who}: {hz} Hz only for the last {:.1} s of {}",
            bridged as f64 / sec as f64 + 0.5,
            path.display()
        ));
    }
    let mut lo = start;
    while lo < end {
        let hi = (lo + sec).min(end);
        let seg = &x[hi.saturating_sub(sec).max(start)..hi];
        if !carries(seg) {
            problems.push(format!(
                "{who}: {:.1}-{:.1} s of {}: {hz} Hz share {:.2}, rms {:.0}",
                lo as f64 / sec as f64,
                hi as f64 / sec as f64,
                path.display(),
                tone_share(seg, sr, hz),
                rms(seg)
            ));
        }
        lo = hi;
    }
    problems
}

#[test]
fn baresip_to_baresip_ten_calls_audio_both_ways_for_the_whole_bridged_time() {
    if !require_peer("baresip") {
        return;
    }
    let queues = r#"
[[queues]]
name = "sales"
members = ["1001"]

[[queues]]
name = "support"
members = ["1004"]
wrap_up = 0
ring_timeout = 10

[[queues]]
name = "operator"
members = ["1003"]

[[queues]]
name = "bank"
members = ["1003"]

[[queues]]
name = "outsource"
members = ["1003"]
"#;
    // The server's default RTP ports (20000-29999); the baresips' are apart from them.
    let server = Server::start(
        "rtp-continuity-baresip",
        &format!("[ivr]\ndialplans = \"tests/dialplans-continuity\"\n{queues}"),
    );
    let port = server.sip.port();
    let mut agent = Baresip::start(BaresipOpts {
        name: "baresip-agent-1004",
        account: format!(
            "<sip:1004@127.0.0.1:{port}>;auth_pass=secret-1004;regint=300;answermode=auto"
        ),
        tone_hz: AGENT_HZ as u32,
        rtp_ports: "34000-34999",
    });
    // Registered and logged in (baresip's own REGISTER_OK may come before its control
    // connection does).
    assert!(
        server
            .wait_event(15, |e| e.kind == "agent.state"
                && e.agent == "1004"
                && e.data["state"] == "available")
            .is_some(),
        "agent available; baresip log:\n{}",
        agent.log_text()
    );
    let mut caller = Baresip::start(BaresipOpts {
        name: "baresip-caller",
        account: "<sip:+79995550101@127.0.0.1>;regint=0".to_string(),
        tone_hz: CALLER_HZ as u32,
        rtp_ports: "35000-35999",
    });
    let mut calls = Vec::new();
    for n in 0..CALLS {
        let before = server.events().last().map_or(0, |e| e.id);
        let files_before = (agent.decoded_files().len(), caller.decoded_files().len());
        caller.command("dial", &format!("sip:301@127.0.0.1:{port}"));
        assert!(
            caller.wait_event("CALL_ESTABLISHED", 15).is_some(),
            "call {n}: answered; caller log:\n{}",
            caller.log_text()
        );
        assert!(
            agent.wait_event("CALL_ESTABLISHED", 20).is_some(),
            "call {n}: agent answered; log:\n{}",
            server.log_text()
        );
        let connected = server
            .wait_event(20, |e| e.kind == "call.connected" && e.id > before)
            .unwrap_or_else(|| panic!("call {n}: connected; log:\n{}", server.log_text()));
        calls.push(connected.call.clone());
        // Talk time (the thing under test), then the caller hangs up: until each baresip
        // has played out BRIDGED_SECS + 1 s of this call by its own audio clock (a busy
        // machine slows baresip's audio thread below the wall clock), at most 60 s.
        let enough = BRIDGED_SECS as f64 + 1.0;
        let played = switchboard_e2e::wait_for(60, || {
            let a = agent.played_secs(files_before.0)?;
            let c = caller.played_secs(files_before.1)?;
            (a >= enough && c >= enough).then_some((a, c))
        });
        assert!(
            played.is_some(),
            "call {n}: both baresips play out {enough} s within 60 s: agent {:?} s, caller {:?} s",
            agent.played_secs(files_before.0),
            caller.played_secs(files_before.1)
        );
        caller.command("hangup", "");
        assert!(caller.wait_event("CALL_CLOSED", 10).is_some());
        assert!(
            agent.wait_event("CALL_CLOSED", 10).is_some(),
            "call {n}: the agent gets BYE"
        );
        server
            .wait_event(10, |e| e.kind == "call.end" && e.call == connected.call)
            .unwrap_or_else(|| panic!("call {n}: ended; log:\n{}", server.log_text()));
    }
    let (agent_files, caller_files) = (agent.decoded_files(), caller.decoded_files());
    let (agent_log, caller_log) = (agent.log_text(), caller.log_text());
    drop(caller);
    drop(agent);

    assert_eq!(
        (agent_files.len(), caller_files.len()),
        (CALLS, CALLS),
        "one decoded file per call on each side: {agent_files:?} {caller_files:?}"
    );
    let mut problems = Vec::new();
    let mut good_calls = 0;
    for n in 0..CALLS {
        let mut p = bridged_windows_problems(&agent_files[n], CALLER_HZ, "agent hears caller");
        p.extend(bridged_windows_problems(
            &caller_files[n],
            AGENT_HZ,
            "caller hears agent",
        ));
        if p.is_empty() {
            good_calls += 1;
        }
        problems.extend(
            p.into_iter()
                .map(|l| format!("call {n} ({}): {l}", calls[n])),
        );
    }
    let dropping: Vec<&str> = agent_log
        .lines()
        .chain(caller_log.lines())
        .filter(|l| l.contains("dropping"))
        .collect();
    assert!(
        problems.is_empty() && dropping.is_empty(),
        "{good_calls}/{CALLS} calls with audio both ways for the whole bridged time:\n{}\n\
         baresip dropped {} times: {:?}",
        problems.join("\n"),
        dropping.len(),
        dropping.iter().take(5).collect::<Vec<_>>()
    );
}
