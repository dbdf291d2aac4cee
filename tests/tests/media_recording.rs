//! Media end to end, recordings and dead media (split from media_e2e.rs):
//!
//! - A recorded call survives `kill -9` of the server: the WAV opens and holds the talk up
//!   to about the last second, caller on the left; a restart repairs its header.
//! - A call whose media stops (no RTP for `rtp_timeout`) is ended by the server and logged.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_e2e::audio::{read_channel, rms, tone_share};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{repo_root, wait_for, Server};

// ---------------------------------------------------------------------- recording

/// What [`record_then_kill_9`] leaves: the recording and the talk seen before the kill.
struct Killed {
    wav: PathBuf,
    talk: Duration,
}

/// A call from a pjsua2 caller (1 kHz) to 100, key 1 (sales), answered by agent 1001
/// (2 kHz), recorded; `talk` after the parties are connected (the recording starts) the
/// server is killed with SIGKILL.
fn record_then_kill_9(py: &str, server: &Server, talk: Duration) -> Killed {
    let mut caller = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            seconds: 40,
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "call answered; log:\n{}",
        server.log_text()
    );
    assert!(caller.wait_event("media", 10).is_some());
    caller.command("dtmf 1");
    let join = server
        .wait_event(20, |e| e.kind == "queue.join")
        .unwrap_or_else(|| panic!("caller queued; events: {:#?}", server.events()));
    assert_eq!(join.queue, "sales");
    let call = join.call.clone();
    let mut agent = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            seconds: 40,
            ..Default::default()
        },
    );
    assert!(
        agent.wait_event("confirmed", 20).is_some(),
        "agent answers; events: {:#?}",
        server.events()
    );
    server
        .wait_event(10, |e| e.kind == "call.bridge" && e.call == call)
        .expect("bridged");
    // The recording starts when the parties are connected (after any whisper).
    let rec = server
        .wait_event(15, |e| e.kind == "recording.start" && e.call == call)
        .unwrap_or_else(|| panic!("recording started; events: {:#?}", server.events()));
    let bridged_seen = Instant::now();
    let wav = PathBuf::from(rec.data["path"].as_str().expect("recording path"));

    std::thread::sleep(talk.saturating_sub(bridged_seen.elapsed()));
    let pid = server_pid(server);
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    // The talk we can expect on disk: from (after) the bridge up to the kill.
    let talk = bridged_seen.elapsed();
    assert!(killed.success());
    let gone = wait_for(5, || {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Dead: no process, or a zombie the harness reaps on drop.
        (st.is_empty() || st.contains(") Z ")).then_some(())
    });
    assert!(gone.is_some(), "switchboard {pid} died");
    drop(caller);
    drop(agent);
    Killed { wav, talk }
}

/// The pid of the harness's switchboard process (found by its unique data directory).
fn server_pid(server: &Server) -> u32 {
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(server.data_dir.display().to_string())
        .output()
        .expect("pgrep");
    let pids: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| {
            std::fs::read_link(format!("/proc/{p}/exe"))
                .map(|exe| {
                    exe.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("switchboard"))
                })
                .unwrap_or(false)
        })
        .collect();
    assert_eq!(
        pids.len(),
        1,
        "exactly one switchboard for this test: {pids:?}"
    );
    pids[0]
}

/// `<data>/recordings/YYYY/MM/DD/<call>.wav`.
fn assert_recording_layout(server: &Server, wav: &Path) {
    let rel = wav
        .strip_prefix(server.data_dir.join("recordings"))
        .unwrap_or_else(|_| panic!("{} is under the data dir's recordings/", wav.display()));
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    assert_eq!(parts.len(), 4, "YYYY/MM/DD/<call>.wav: {parts:?}");
    assert!(parts[0].len() == 4 && parts[1].len() == 2 && parts[2].len() == 2);
    assert!(parts[3].ends_with(".wav"));
}

#[test]
fn recording_survives_kill_9_and_holds_the_talk_up_to_the_last_second() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("media-kill9", "");
    let k = record_then_kill_9(&py, &server, Duration::from_secs(6));
    assert_recording_layout(&server, &k.wav);

    let reader = hound::WavReader::open(&k.wav)
        .unwrap_or_else(|e| panic!("{} opens after kill -9: {e}", k.wav.display()));
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    let frames = u64::from(reader.duration());
    let secs = frames as f64 / 8000.0;
    let talk = k.talk.as_secs_f64();
    eprintln!("recording after kill -9: {secs:.2}s on disk for {talk:.2}s of talk");
    assert!(
        secs >= talk - 1.5,
        "recording holds {secs:.2}s of {talk:.2}s talk (at most ~1 s may be lost)"
    );
    assert!(
        secs <= talk + 0.5,
        "no more audio than talk: {secs:.2}s vs {talk:.2}s"
    );
    let (left, sr) = read_channel(&k.wav, 0);
    let (right, _) = read_channel(&k.wav, 1);
    assert_eq!(left.len() as u64, frames);
    // Skip the first half second (the media may start a little after the bridge).
    let body = |x: &[f64]| x[(sr as usize / 2).min(x.len())..].to_vec();
    let (l, r) = (body(&left), body(&right));
    assert!(rms(&l) > 1000.0, "the caller's tone is recorded");
    assert!(
        tone_share(&l, sr, 1000.0) > 0.3,
        "left = caller's 1 kHz ({:.2})",
        tone_share(&l, sr, 1000.0)
    );
    assert!(
        tone_share(&r, sr, 2000.0) > 0.3,
        "right = agent's 2 kHz ({:.2})",
        tone_share(&r, sr, 2000.0)
    );
    assert!(tone_share(&l, sr, 2000.0) < 0.05 && tone_share(&r, sr, 1000.0) < 0.05);
}

/// The RIFF data size in a WAV's canonical 44-byte header.
fn header_data_len(wav: &Path) -> u64 {
    let bytes = std::fs::read(wav).expect("read wav");
    assert!(bytes.len() >= 44, "header present");
    u64::from(u32::from_le_bytes([
        bytes[40], bytes[41], bytes[42], bytes[43],
    ]))
}

#[test]
fn restart_after_kill_9_repairs_the_recording_header_to_cover_the_whole_file() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("media-kill9-repair", "");
    let k = record_then_kill_9(&py, &server, Duration::from_secs(3));
    let file_len = std::fs::metadata(&k.wav).expect("wav").len();
    let whole = (file_len - 44) / 4 * 4;
    assert!(
        header_data_len(&k.wav) <= whole,
        "the header never claims bytes that are not there"
    );

    // Start the binary again on the same data dir and config (as the harness does).
    let dir = server.data_dir.parent().expect("scratch dir").to_path_buf();
    let mut child = Command::new(switchboard_e2e::switchboard_bin())
        .arg("run")
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args([
            "--sip-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&server.data_dir)
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("restart switchboard");
    let stdout = child.stdout.take().expect("stdout");
    let ready = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.starts_with("READY "))
    });
    let repaired = wait_for(20, || {
        (ready.is_finished() && header_data_len(&k.wav) == whole).then_some(())
    });
    let claimed = header_data_len(&k.wav);
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        repaired.is_some(),
        "after restart the header covers all {whole} bytes of audio (claims {claimed})"
    );
    let reader = hound::WavReader::open(&k.wav).expect("repaired WAV opens");
    assert_eq!(u64::from(reader.duration()) * 4, whole);
}

#[test]
fn a_call_whose_media_stops_is_ended_and_logged() {
    if !switchboard_e2e::require_peer("sipp") {
        return;
    }
    // SIPp's caller sends no RTP at all: with a 2 s RTP timeout the server must end the
    // call by itself (BYE), which the scenario waits for.
    let server = switchboard_e2e::Server::start(
        "rtp-timeout",
        "[media]\nrtp_timeout = 2\n[ivr]\ndialplans = \"tests/dialplans-acd\"\n",
    );
    let out = switchboard_e2e::sipp("acd_caller.xml", server.sip, &["-s", "202", "-m", "1"], 30);
    assert!(
        out.status.success(),
        "SIPp got the server's BYE: {}",
        switchboard_e2e::sipp_trace(&out)
    );
    let timeout = server
        .wait_event(10, |e| e.kind == "media.timeout")
        .unwrap_or_else(|| panic!("media.timeout logged; log:\n{}", server.log_text()));
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == timeout.call)
        .expect("call ended");
    let lasted = end.data["duration_s"].as_f64().unwrap_or(0.0);
    assert!(
        (1.5..6.0).contains(&lasted),
        "ended after about the timeout, not later: {lasted} s"
    );
}
