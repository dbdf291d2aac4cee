//! The load generator (`crates/load`, binary `switchboard-load`) against the real server:
//! five registered agents take ten calls that walk the IVR with RFC 4733 digits, wait in
//! the queue and talk with a tone each way; every call is sampled, so every call's audio is
//! checked in both directions (the other side's tone arrives, no gap over 60 ms), and the
//! server's SIP-path histograms it reads back count every call.

use std::path::PathBuf;
use std::process::Command;

use switchboard_e2e::{repo_root, wait_for, Server};

/// Path of the `switchboard-load` binary, building it if needed.
fn load_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_LOAD_BIN") {
        return PathBuf::from(p);
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "switchboard-load"])
        .current_dir(repo_root())
        .status()
        .expect("cargo build -p switchboard-load");
    assert!(status.success(), "building switchboard-load failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    target.join("debug").join("switchboard-load")
}

#[test]
fn five_agents_take_ten_calls_with_audio_checked_both_ways() {
    let bin = load_bin();
    let config = Command::new(&bin)
        .args(["config", "--agents", "5", "--wrap-up", "0"])
        .output()
        .expect("switchboard-load config");
    assert!(config.status.success());
    let config = String::from_utf8(config.stdout).expect("utf-8 config");
    let server = Server::start("load_tool", &config);
    let out = Command::new("timeout")
        .arg("180")
        .arg(&bin)
        .args(["run", "--server", &server.sip.to_string()])
        .args(["--server-pid", &server.pid().to_string()])
        .args(["--http", &server.http.to_string()])
        .args([
            "--agents", "5", "--calls", "10", "--rate", "2", "--hold", "3",
        ])
        .args([
            "--answer-delay-ms",
            "300",
            "--sample-every",
            "1",
            "--progress",
            "5",
        ])
        .output()
        .expect("switchboard-load run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line\nstdout:\n{stdout}\nstderr:\n{stderr}"));
    let r: serde_json::Value = serde_json::from_str(result).expect("RESULT is JSON");
    let context = format!(
        "{stdout}\n{stderr}\nserver log tail:\n{}",
        tail(&server.log_text())
    );
    assert_eq!(r["placed"], 10, "{context}");
    assert_eq!(r["completed"], 10, "{context}");
    assert_eq!(r["failed"], 0, "{context}");
    assert_eq!(
        r["peak_bridged"].as_u64().map(|n| n >= 1),
        Some(true),
        "{context}"
    );
    // Every call sampled: the agent's tone reached every caller and the caller's tone
    // every agent, without a gap over 60 ms.
    assert_eq!(r["sampled_to_caller"], 10, "{context}");
    assert_eq!(r["sampled_to_caller_failed"], 0, "{context}");
    assert_eq!(r["sampled_to_agent"], 10, "{context}");
    assert_eq!(r["sampled_to_agent_failed"], 0, "{context}");
    assert!(
        out.status.success(),
        "exit status {:?}\n{context}",
        out.status
    );
    // The server's own histograms, read by the tool: every call's answer-to-audio from
    // the agent's 200 at the SIP socket, which contains the call task's share of it (the
    // 200 is received before the call takes it up), and the SIP driver's inbound wait.
    assert_eq!(r["server_sip_answer_to_audio_calls"], 10, "{context}");
    assert_eq!(r["server_answer_to_audio_calls"], 10, "{context}");
    let mean = |k: &str| {
        r[k].as_f64()
            .unwrap_or_else(|| panic!("{k} missing\n{context}"))
    };
    assert!(
        mean("server_sip_answer_to_audio_mean_s") >= mean("server_answer_to_audio_mean_s"),
        "{context}"
    );
    assert!(
        r["server_sip_inbound_messages"]
            .as_u64()
            .is_some_and(|n| n >= 10 * 4),
        "{context}"
    );
    // The server saw the same: ten bridged calls in its event log (written asynchronously).
    let bridged = wait_for(10, || {
        let n = server
            .events()
            .iter()
            .filter(|e| e.kind == "call.bridge")
            .count();
        (n >= 10).then_some(n)
    });
    assert_eq!(bridged, Some(10), "{context}");
}

#[test]
fn refuses_a_target_that_is_not_loopback() {
    let out = Command::new(load_bin())
        .args(["run", "--server", "192.0.2.1:5060", "--calls", "1"])
        .output()
        .expect("switchboard-load run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address"), "{err}");
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
