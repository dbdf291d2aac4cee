//! Media end to end: keys and audio checked by what the server and the phones heard, not
//! by packets seen.
//!
//! - DTMF arrives three ways — RFC 4733 events (SIPp pcaps: clean, through loss,
//!   duplication and reordering, and with the offer's payload type 96; pjsua2), SIP INFO
//!   (pjsua2) and in-band tones in G.711 audio (SIPp pcap) — and each key must appear in
//!   the server's event log exactly once, in order, with the right `via`. Speech and music
//!   without keys give no in-band key (talk-off).
//! - The dialplan got the keys: it says them back, and the prompts are found in the
//!   caller's audio (PCMU, PCMA, G.722 callers).
//! - Keys pressed in a bridged call reach the other phone once each.
//! - A PCMA (or G.722) caller bridged to a PCMU agent: tones cross both ways and the
//!   recording has the caller on the left, the agent on the right.
//!
//! Recordings that survive `kill -9` and calls whose media stops are in media_recording.rs.
//!
//! The DTMF calls go to `tests/dialplans-media/media.ivr`, which collects keys without
//! playing anything first. The pcaps are made by `tests/pcap/make_pcaps.py`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::carrier::free_media_port;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::recorded_audio::matches_received;
use switchboard_e2e::{repo_root, require_peer, scratch_dir, sipp, sipp_trace, wait_for, Server};

/// Server config for the DTMF tests: only the key-collecting dialplan.
const MEDIA_DIALPLANS: &str = "[ivr]\ndialplans = \"tests/dialplans-media\"\n";

/// The `(digit, via)` pairs the server logged for the call started by `caller`, once that
/// call has ended (so every key is in).
fn digits_of_call(server: &Server, caller: &str) -> (String, Vec<(String, String)>) {
    let start = server
        .wait_event(20, |e| e.kind == "call.start" && e.data["caller"] == caller)
        .unwrap_or_else(|| {
            panic!(
                "no call from {caller}; events: {:#?}\nlog:\n{}",
                server.events(),
                server.log_text()
            )
        });
    let call = start.call;
    server
        .wait_event(20, |e| e.kind == "call.end" && e.call == call)
        .unwrap_or_else(|| panic!("call {call} did not end; events: {:#?}", server.events()));
    let digits = server
        .events()
        .into_iter()
        .filter(|e| e.call == call && e.kind == "dtmf")
        .map(|e| {
            (
                e.data["digit"].as_str().unwrap_or("?").to_string(),
                e.data["via"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect();
    (call, digits)
}

fn assert_digits(got: &[(String, String)], want: &str, via: &str) {
    let keys: String = got.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(keys, want, "keys in order, once each: {got:?}");
    assert!(
        got.iter().all(|(_, v)| v == via),
        "every key detected via {via}: {got:?}"
    );
}

/// Runs a SIPp DTMF scenario as a trunk caller to 300; panics with its trace on failure.
fn run_sipp_dtmf(server: &Server, scenario: &str) {
    let mp = free_media_port().to_string();
    let out = sipp(
        scenario,
        server.sip,
        &["-s", "300", "-mp", &mp, "-m", "1"],
        20,
    );
    assert!(
        out.status.success(),
        "SIPp {scenario} failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
}

#[test]
fn rfc4733_keys_from_a_sipp_pcap_are_logged_once_each_in_order() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("media-4733-sipp", MEDIA_DIALPLANS);
    run_sipp_dtmf(&server, "media_dtmf_rfc4733.xml");
    let (call, got) = digits_of_call(&server, "+79995550144");
    // Each key was sent as 5 updates and 3 end packets: one key each, not 8.
    assert_digits(&got, "1234#", "rfc4733");
    let end = server
        .events()
        .into_iter()
        .find(|e| e.call == call && e.kind == "call.end")
        .expect("call.end");
    assert_eq!(end.data["end_reason"], "caller_hangup", "{end:?}");
    assert_eq!(end.data["caller_rtp"]["lost"], 0, "{end:?}");
}

#[test]
fn rfc4733_keys_through_loss_duplication_and_reordering_still_count_once_each() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("media-4733-lossy", MEDIA_DIALPLANS);
    run_sipp_dtmf(&server, "media_dtmf_rfc4733_lossy.xml");
    let (call, got) = digits_of_call(&server, "+79995550145");
    // 5 twice (two presses: new timestamps), the 9 from its end packets alone, the # closed
    // by timeout; no extra key from the doubled end packet or the stale update.
    assert_digits(&got, "559#", "rfc4733");
    // The capture skips 9 sequence numbers (2 + 4 + 3, tests/pcap/make_pcaps.py) and
    // doubles one packet: RFC 3550 A.3 loss is 9 - 1; the late packet is no loss.
    let end = server
        .events()
        .into_iter()
        .find(|e| e.call == call && e.kind == "call.end")
        .expect("call.end");
    let q = &end.data["quality"][0];
    assert_eq!(q["leg"], "caller", "{end:?}");
    assert_eq!(q["lost"], 8, "{end:?}");
    assert!(q["packets"].as_u64().unwrap_or(0) > 50, "{end:?}");
}

#[test]
fn rfc4733_with_the_offers_payload_type_96_is_answered_and_decoded() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("media-4733-pt96", MEDIA_DIALPLANS);
    // The scenario also checks that the answer maps 96 to telephone-event.
    run_sipp_dtmf(&server, "media_dtmf_rfc4733_pt96.xml");
    let (_, got) = digits_of_call(&server, "+79995550146");
    assert_digits(&got, "*0", "rfc4733");
}

#[test]
fn inband_tones_from_a_sipp_pcap_are_detected_when_no_telephone_event_is_offered() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("media-inband-sipp", MEDIA_DIALPLANS);
    run_sipp_dtmf(&server, "media_dtmf_inband.xml");
    let (call, got) = digits_of_call(&server, "+79995550155");
    assert_digits(&got, "7950*", "inband");
    let answer = server
        .events()
        .into_iter()
        .find(|e| e.call == call && e.kind == "call.answer")
        .expect("call.answer");
    assert_eq!(answer.data["codec"], "PCMU");
}

/// Where `needle` (its first `max_len` samples) best matches in `hay`, both at `sr`:
/// (offset in samples of `hay`, normalised correlation). Compared at 2 kHz, once for each
/// phase of the decimation, so a prompt that starts at any sample is found aligned (a
/// half-sample misalignment at 2 kHz loses the high half of the spectrum: "six", "eight").
fn best_offset(hay: &[f64], needle: &[f64], sr: u32, max_len: usize) -> (usize, f64) {
    let by = (sr / 2000).max(1) as usize;
    let dec = |x: &[f64]| -> Vec<f64> {
        x.chunks(by)
            .map(|c| c.iter().sum::<f64>() / c.len() as f64)
            .collect()
    };
    let n = dec(&needle[..needle.len().min(max_len)]);
    let nn = n.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-9);
    let mut best = (0, 0.0);
    for phase in 0..by.min(hay.len()) {
        let h = dec(&hay[phase..]);
        if n.is_empty() || h.len() < n.len() {
            continue;
        }
        let mut we: f64 = h[..n.len()].iter().map(|v| v * v).sum();
        for i in 0..=h.len() - n.len() {
            if i > 0 {
                we += h[i + n.len() - 1].powi(2) - h[i - 1].powi(2);
            }
            let dot: f64 = h[i..i + n.len()].iter().zip(&n).map(|(a, b)| a * b).sum();
            let c = dot / (nn * we.max(1e-9).sqrt());
            if c > best.1 {
                best = (i * by + phase, c);
            }
        }
    }
    best
}

#[test]
fn inband_detector_stays_quiet_on_speech_and_music() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("media-talkoff-sipp", MEDIA_DIALPLANS);
    run_sipp_dtmf(&server, "media_talkoff.xml");
    let (call, got) = digits_of_call(&server, "+79995550156");
    assert!(
        got.is_empty(),
        "no key from 9 s of speech and music: {got:?}"
    );
    let end = server
        .events()
        .into_iter()
        .find(|e| e.call == call && e.kind == "call.end")
        .expect("call.end");
    // The audio did arrive (and was fed to the detector): 9 s of 20 ms packets.
    let received = end.data["caller_rtp"]["received"].as_u64().unwrap_or(0);
    assert!(received >= 440, "{end:?}");
}

#[test]
fn pjsua2_keys_as_rfc4733_are_logged_in_order_and_said_back() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("media-4733-pjsua", MEDIA_DIALPLANS);
    let heard_wav = scratch_dir("media-4733-pjsua-phone").join("caller.wav");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:300@{}", server.sip)),
            caller: "+79995550166",
            record: Some(heard_wav.clone()),
            seconds: 30,
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "call answered; log:\n{}",
        server.log_text()
    );
    assert!(caller.wait_event("media", 10).is_some());
    caller.command("dtmf 5678#");
    // All five keys logged...
    let five = wait_for(15, || {
        let n = server.events().iter().filter(|e| e.kind == "dtmf").count();
        (n >= 5).then_some(())
    });
    assert!(five.is_some(), "five keys; events: {:#?}", server.events());
    // ...then the dialplan says "five six seven eight" (4 x 0.6 s) back.
    std::thread::sleep(Duration::from_millis(3500));
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    let (_, got) = digits_of_call(&server, "+79995550166");
    caller.quit();
    assert_digits(&got, "5678#", "rfc4733");

    // The collect got them (the # ended it): the caller hears the four digits, in order.
    assert_said_back(&heard_wav, "5678");
}

/// The caller's recording `heard` holds the prompts `digit-<d>` of `digits`, in order.
fn assert_said_back(heard: &Path, digits: &str) {
    let (heard, sr) = read_channel(heard, 0);
    let found: Vec<(char, usize, f64)> = digits
        .chars()
        .map(|d| {
            let path = repo_root().join(format!("prompts/en/digit-{d}.wav"));
            let (prompt, psr) = read_channel(&path, 0);
            assert_eq!(psr, sr);
            // 200 ms windows of the word (from its onset, every 100 ms): short enough that
            // the caller's jitter buffer is unlikely to drop or stretch a frame inside all
            // of them on a busy machine. (Other digits' words reach at most 0.62.)
            let onset = prompt.iter().position(|v| v.abs() > 300.0).unwrap_or(0);
            let win = sr as usize / 5;
            (onset..prompt.len().saturating_sub(win))
                .step_by(win / 2)
                .take(3)
                .map(|from| {
                    let (at, score) = best_offset(&heard, &prompt[from..], sr, win);
                    (d, at.saturating_sub(from - onset), score)
                })
                .fold((d, 0, 0.0), |best, w| if w.2 > best.2 { w } else { best })
        })
        .collect();
    eprintln!("said back (digit, offset, correlation): {found:?}");
    for (d, _, score) in &found {
        assert!(
            *score > 0.8,
            "\"{d}\" said back to the caller (correlation {score:.2}): {found:?}"
        );
    }
    assert!(
        found.windows(2).all(|w| w[0].1 < w[1].1),
        "said back in order: {found:?}"
    );
}

/// A caller offering only `codec` sends 5678# (RFC 4733); the dialplan says 5678 back.
fn said_back_over(codec: &str, caller: &str) {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(&format!("media-said-{codec}"), MEDIA_DIALPLANS);
    let heard = scratch_dir(&format!("media-said-{codec}-phone")).join("heard.wav");
    let heard_arg = heard.display().to_string();
    let events = run_info_dtmf_script(
        &py,
        &server,
        caller,
        "300",
        "5678#",
        "rfc2833",
        &[
            "--codec",
            codec,
            "--record",
            &heard_arg,
            "--linger-ms",
            "3500",
        ],
    );
    assert_eq!(
        events.iter().filter(|e| e["event"] == "dtmf_sent").count(),
        5
    );
    let (call, got) = digits_of_call(&server, caller);
    assert_digits(&got, "5678#", "rfc4733");
    let answer = server
        .events()
        .into_iter()
        .find(|e| e.call == call && e.kind == "call.answer")
        .expect("call.answer");
    assert_eq!(answer.data["codec"], codec, "{answer:?}");
    assert_said_back(&heard, "5678");
}

#[test]
fn pcma_caller_hears_its_keys_said_back() {
    said_back_over("PCMA", "+79995550181");
}

#[test]
fn g722_caller_hears_its_keys_said_back() {
    said_back_over("G722", "+79995550182");
}

/// Runs `tests/peers/pjsua_info_dtmf.py` to completion; returns its JSON events.
fn run_info_dtmf_script(
    py: &str,
    server: &Server,
    caller: &str,
    to: &str,
    digits: &str,
    method: &str,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let child = spawn_info_dtmf_script(py, server, caller, to, digits, method, extra);
    finish_info_dtmf_script(child, server)
}

/// Starts `tests/peers/pjsua_info_dtmf.py` (stdin piped, for `--hangup-on-stdin`).
fn spawn_info_dtmf_script(
    py: &str,
    server: &Server,
    caller: &str,
    to: &str,
    digits: &str,
    method: &str,
    extra: &[&str],
) -> std::process::Child {
    Command::new("timeout")
        .arg("50")
        .arg(py)
        .arg(repo_root().join("tests/peers/pjsua_info_dtmf.py"))
        .args(["--server", &server.sip.to_string()])
        .args(["--call", &format!("sip:{to}@{}", server.sip)])
        .args(["--caller", caller, "--digits", digits, "--method", method])
        .args(["--gap-ms", "250", "--seconds", "40"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pjsua_info_dtmf.py")
}

/// Waits for the script to exit and checks it placed its call without errors; returns
/// the JSON events it printed.
fn finish_info_dtmf_script(child: std::process::Child, server: &Server) -> Vec<serde_json::Value> {
    let out = child
        .wait_with_output()
        .expect("wait for pjsua_info_dtmf.py");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        out.status.success() && events.iter().any(|e| e["event"] == "exit"),
        "script ran to the end: {:?}\n{events:#?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        events.iter().any(|e| e["event"] == "confirmed"),
        "call answered: {events:#?}\nlog:\n{}",
        server.log_text()
    );
    assert!(
        !events.iter().any(|e| e["event"] == "error"),
        "no errors: {events:#?}"
    );
    events
}

#[test]
fn pjsua2_send_dtmf_rfc2833_control_for_the_info_script() {
    // The SIP INFO script with the RFC 4733 method: shows the script itself works, so a
    // failure of the INFO test below is about INFO.
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("media-2833-script", MEDIA_DIALPLANS);
    let events = run_info_dtmf_script(&py, &server, "+79995550188", "300", "90*", "rfc2833", &[]);
    let sent = events.iter().filter(|e| e["event"] == "dtmf_sent").count();
    assert_eq!(sent, 3, "{events:#?}");
    let (_, got) = digits_of_call(&server, "+79995550188");
    assert_digits(&got, "90*", "rfc4733");
}

#[test]
fn pjsua2_keys_as_sip_info_are_answered_200_and_logged_via_sip_info() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("media-info-pjsua", MEDIA_DIALPLANS);
    let events = run_info_dtmf_script(&py, &server, "+79995550177", "300", "5678#", "info", &[]);
    let codes: Vec<i64> = events
        .iter()
        .filter(|e| e["event"] == "info_response")
        .filter_map(|e| e["code"].as_i64())
        .collect();
    assert_eq!(
        codes,
        vec![200; 5],
        "every INFO answered 200 OK: {events:#?}"
    );
    let (_, got) = digits_of_call(&server, "+79995550177");
    assert_digits(&got, "5678#", "sip_info");
}

// ---------------------------------------------------------------------- bridged

/// The digits a softphone reported (`{"event": "dtmf"}`), waiting up to `secs` for `n`.
fn phone_digits(phone: &mut Softphone, n: usize, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got: String = phone
            .seen
            .iter()
            .filter(|e| e["event"] == "dtmf")
            .filter_map(|e| e["digit"].as_str())
            .collect();
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        // Pull more events (this name never comes: it only drains the channel).
        let _ = phone.wait_event("never", 1);
    }
}

#[test]
fn keys_pressed_while_bridged_reach_the_other_party_as_rfc4733_once_each() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("media-bridged-dtmf", "");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+79995550199",
            seconds: 40,
            ..Default::default()
        },
    );
    assert!(caller.wait_event("confirmed", 20).is_some());
    assert!(caller.wait_event("media", 10).is_some());
    caller.command("dtmf 1");
    let join = server
        .wait_event(20, |e| e.kind == "queue.join")
        .unwrap_or_else(|| panic!("caller queued; events: {:#?}", server.events()));
    let call = join.call.clone();
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1002", "secret-1002")),
            seconds: 40,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("confirmed", 20).is_some());
    // Connected (after any whisper): the recording starts when the parties hear each other.
    server
        .wait_event(15, |e| e.kind == "recording.start" && e.call == call)
        .unwrap_or_else(|| panic!("connected; events: {:#?}", server.events()));
    std::thread::sleep(Duration::from_millis(300));

    caller.command("dtmf 2468");
    let at_agent = phone_digits(&mut agent, 4, 10);
    agent.command("dtmf 39");
    let at_caller = phone_digits(&mut caller, 2, 10);
    std::thread::sleep(Duration::from_millis(600));
    let at_agent_later = phone_digits(&mut agent, 5, 0);
    let at_caller_later = phone_digits(&mut caller, 3, 0);
    caller.command("hangup");
    let _ = caller.wait_event("disconnected", 10);
    server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call.end");
    caller.quit();
    agent.quit();

    assert_eq!(at_agent, "2468", "the agent hears the caller's keys");
    assert_eq!(at_caller, "39", "the caller hears the agent's keys");
    assert_eq!(at_agent_later, "2468", "no key twice at the agent");
    assert_eq!(at_caller_later, "39", "no key twice at the caller");
    // The server saw the caller's keys too: 1 in the menu, then 2468 in the bridge.
    let logged: String = server
        .events()
        .into_iter()
        .filter(|e| e.call == call && e.kind == "dtmf")
        .filter_map(|e| e.data["digit"].as_str().map(str::to_string))
        .collect();
    assert_eq!(logged, "12468");
}

/// A caller offering only `codec` (1 kHz tone) dials 100, presses 1, is answered by agent
/// 1003 (PCMU, 2 kHz) and hangs up after a while: each side hears the other's tone, and
/// the recording has the caller's tone on the left and the agent's on the right.
fn bridged_and_recorded_over(codec: &str, caller: &str) {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(&format!("media-rec-{codec}"), "");
    let dir = scratch_dir(&format!("media-rec-{codec}-phones"));
    let (caller_wav, agent_wav) = (dir.join("caller.wav"), dir.join("agent.wav"));
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1003", "secret-1003")),
            tone_hz: 2000,
            record: Some(agent_wav.clone()),
            seconds: 45,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 15).is_some());
    let caller_arg = caller_wav.display().to_string();
    // Greeting and menu, the key, the offer; once bridged, talk a while, then hang up.
    let mut script = spawn_info_dtmf_script(
        &py,
        &server,
        caller,
        "100",
        "1",
        "rfc2833",
        &[
            "--codec",
            codec,
            "--tone-hz",
            "1000",
            "--record",
            &caller_arg,
            "--hangup-on-stdin",
        ],
    );
    let start = server
        .wait_event(20, |e| e.kind == "call.start" && e.data["caller"] == caller)
        .expect("call.start");
    server
        .wait_event(30, |e| e.kind == "call.bridge" && e.call == start.call)
        .unwrap_or_else(|| panic!("bridged; events: {:#?}", server.events()));
    // The talk itself: long enough for the tones and the recording checks below.
    std::thread::sleep(Duration::from_secs(5));
    if let Some(stdin) = script.stdin.as_mut() {
        let _ = writeln!(stdin, "hangup");
    }
    let events = finish_info_dtmf_script(script, &server);
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == start.call)
        .unwrap_or_else(|| panic!("call.end; events: {:#?}", server.events()));
    let _ = agent.wait_event("disconnected", 10);
    agent.quit();
    assert!(
        events.iter().any(|e| e["event"] == "disconnected"),
        "{events:#?}"
    );
    assert_eq!(end.data["disposition"], "answered", "{end:?}");
    let talk = end.data["talk_s"].as_f64().unwrap_or(0.0);
    assert!(talk > 3.0, "talked {talk:.1}s: {end:?}");
    // Receive quality of both legs: seconds of 20 ms packets, none lost on loopback.
    let quality = end.data["quality"].as_array().cloned().unwrap_or_default();
    for leg in ["caller", "agent"] {
        let q = quality
            .iter()
            .find(|q| q["leg"] == leg)
            .unwrap_or_else(|| panic!("{leg} quality: {end:?}"));
        assert!(q["packets"].as_u64().unwrap_or(0) > 100, "{leg}: {q}");
        assert!(q["bytes"].as_u64().unwrap_or(0) > 100 * 160, "{leg}: {q}");
        assert_eq!(q["lost"], 0, "{leg}: {q}");
        assert!(
            q["jitter_ms"].as_f64().is_some_and(|j| j >= 0.0),
            "{leg}: {q}"
        );
    }
    // The caller's stream lived through the IVR and the talk (well over pjsua's 5 s RTCP
    // interval): its receiver reports about our stream were read from the RTCP socket.
    let caller_q = quality.iter().find(|q| q["leg"] == "caller");
    assert_eq!(
        caller_q.map(|q| &q["peer_reported_lost"]),
        Some(&serde_json::json!(0)),
        "{end:?}"
    );

    let tail = |x: &[f64], sr: u32| -> Vec<f64> {
        let n = x.len();
        x[n.saturating_sub(2 * sr as usize)..n.saturating_sub(sr as usize / 4)].to_vec()
    };
    let (heard_by_agent, asr) = read_channel(&agent_wav, 0);
    let share = tone_share(&tail(&heard_by_agent, asr), asr, 1000.0);
    assert!(share > 0.3, "agent hears the caller's 1 kHz ({share:.2})");
    let (heard_by_caller, csr) = read_channel(&caller_wav, 0);
    let share = tone_share(&tail(&heard_by_caller, csr), csr, 2000.0);
    assert!(share > 0.3, "caller hears the agent's 2 kHz ({share:.2})");

    let rec = PathBuf::from(end.data["recording"].as_str().expect("recording path"));
    let (left, rsr) = read_channel(&rec, 0);
    let (right, _) = read_channel(&rec, 1);
    let got = matches_received(&left, &right, rsr, &end.data);
    assert!(got.is_ok(), "recording vs what was received: {got:?}");
    let mid = |x: &[f64]| x[x.len() / 4..x.len() * 3 / 4].to_vec();
    let (l, r) = (mid(&left), mid(&right));
    let (l1k, r2k) = (tone_share(&l, rsr, 1000.0), tone_share(&r, rsr, 2000.0));
    assert!(l1k > 0.3, "left = caller's 1 kHz ({l1k:.2})");
    assert!(r2k > 0.3, "right = agent's 2 kHz ({r2k:.2})");
}

#[test]
fn pcma_caller_is_bridged_to_a_pcmu_agent_and_recorded() {
    bridged_and_recorded_over("PCMA", "+79995550183");
}

#[test]
fn g722_caller_is_bridged_to_a_pcmu_agent_and_recorded() {
    bridged_and_recorded_over("G722", "+79995550184");
}
