//! The simulator and the engine agree on transfers: every shipped `dialplans/*.test.toml`
//! case whose expected end is a `transfer ...` is replayed through the real binary, and the
//! far end the simulator names is the one that rings. The cases are read with the parsing
//! `switchboard ivr test` uses (`switchboard_ivr::case_outlines`); each runs on its own
//! server with the IVR clock pinned to the case's `at`. The caller is a pjsua2 phone calling
//! the case's `to` from its `from`, pressing its digits (RFC 4733) and sending a 1 kHz tone;
//! the far end is a pjsua2 phone too: behind a carrier trunk for `external` (it must get
//! the INVITE for that number), or registered as the user for `agent`/`extension`. The
//! far end's recording must hold the caller's tone: audio crosses the transfer.
//!
//! A queue outcome the case simulates (`queue = ["max_wait"]`) is produced live by giving
//! every queue a 2-second `max_wait` and no agent logged in.

use std::path::Path;
use std::time::Duration;

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::carrier::free_udp_port;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{repo_root, scratch_dir, Server};

/// A shipped case that ends in a transfer.
struct TransferCase {
    file: String,
    name: String,
    to: String,
    from: String,
    at: Option<String>,
    digits: String,
    kind: String,
    target: String,
}

fn transfer_cases() -> Vec<TransferCase> {
    let dir = repo_root().join("dialplans");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dialplans/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".test.toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read test file");
        let (_, cases) = switchboard_ivr::case_outlines(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for c in cases {
            let Some(rest) = c.ends.as_deref().and_then(|e| e.strip_prefix("transfer ")) else {
                continue;
            };
            let (kind, target) = rest.split_once(' ').expect("transfer <kind> <target>");
            out.push(TransferCase {
                file: file_name(&f),
                name: c.name,
                to: c.to,
                from: c.from,
                at: c.at,
                digits: c.digits,
                kind: kind.to_string(),
                target: target.trim_matches('"').to_string(),
            });
        }
    }
    out
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap_or_default().to_string_lossy().into()
}

/// Queues every shipped dialplan names, each with a short `max_wait`; the demo users (never
/// logged in here) and the case's target when it is a user (an extension such as 2000).
fn config(case: &TransferCase, trunk_port: u16) -> String {
    let mut cfg = String::new();
    let mut users = vec!["1001", "1002", "1003", "1004", "1005"];
    if case.kind != "external" && !users.contains(&case.target.as_str()) {
        users.push(&case.target);
    }
    for u in users {
        cfg.push_str(&format!(
            "[[users]]\nname = \"{u}\"\npassword = \"secret-{u}\"\n"
        ));
    }
    for q in ["sales", "support", "operator", "bank", "outsource"] {
        cfg.push_str(&format!(
            "[[queues]]\nname = \"{q}\"\nmembers = [\"1001\"]\nmax_wait = 2\nrecord = true\n"
        ));
    }
    cfg.push_str(&format!(
        "[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{trunk_port}\"\n"
    ));
    cfg
}

fn replay(case: &TransferCase, py: &str) {
    let label = format!("{} / {}", case.file, case.name);
    eprintln!("replaying {label}: transfer {} {}", case.kind, case.target);
    let dir = scratch_dir("transfer-agree");
    let trunk_port = free_udp_port();
    let at = case
        .at
        .as_deref()
        .map(|a| {
            switchboard_ivr::parse_at(a)
                .expect("the case's `at`")
                .to_rfc3339()
        })
        .unwrap_or_else(switchboard_e2e::default_ivr_clock);
    let server = Server::start_with(
        "transfer-agree",
        &config(case, trunk_port),
        &["--ivr-test-clock", &at],
    );
    let far_wav = dir.join("far.wav");
    let password = format!("secret-{}", case.target);
    let mut far = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            user: (case.kind != "external").then_some((case.target.as_str(), password.as_str())),
            local_port: if case.kind == "external" {
                trunk_port
            } else {
                0
            },
            record: Some(far_wav.clone()),
            seconds: 60,
            ..Default::default()
        },
    );
    if case.kind != "external" {
        assert!(
            far.wait_event("registered", 20).is_some(),
            "{label}: {} registers",
            case.target
        );
    }
    let mut caller = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:{}@{}", case.to, server.sip)),
            caller: if case.from.is_empty() {
                "+79995550101"
            } else {
                &case.from
            },
            tone_hz: 1000,
            seconds: 60,
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("media", 20).is_some(),
        "{label}: the call is answered; log:\n{}",
        server.log_text()
    );
    for group in case.digits.split(',').filter(|g| !g.is_empty()) {
        caller.command(&format!("dtmf {group}"));
    }
    let incoming = far.wait_event("incoming", 60).unwrap_or_else(|| {
        panic!(
            "{label}: the far end is rung; events {:#?}",
            server.events()
        )
    });
    let answered = server
        .wait_event(20, |e| e.kind == "transfer.answer")
        .unwrap_or_else(|| panic!("{label}: transfer.answer; events {:#?}", server.events()));
    let request_line = incoming["request_line"].as_str().unwrap_or_default();
    if case.kind == "external" {
        assert!(
            request_line.starts_with(&format!("INVITE sip:{}@", case.target)),
            "{label}: the carrier gets the INVITE for {}: {request_line}",
            case.target
        );
        assert_eq!(answered.data["to"], "number", "{label}");
    } else {
        assert_eq!(answered.data["to"], "user", "{label}");
    }
    assert_eq!(answered.data["target"], case.target.as_str(), "{label}");
    let ivr = server
        .wait_event(1, |e| e.kind == "ivr.transfer" && e.call == answered.call)
        .unwrap_or_else(|| panic!("{label}: ivr.transfer"));
    assert_eq!(ivr.data["kind"], case.kind.as_str(), "{label}");
    assert_eq!(ivr.data["target"], case.target.as_str(), "{label}");
    server
        .wait_event(10, |e| {
            e.kind == "call.connected" && e.call == answered.call
        })
        .unwrap_or_else(|| panic!("{label}: connected; log:\n{}", server.log_text()));
    // Let two seconds of the caller's tone cross the bridge into the far end's recording.
    std::thread::sleep(Duration::from_secs(2));
    caller.command("hangup");
    let end = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == answered.call)
        .unwrap_or_else(|| panic!("{label}: call.end"));
    assert_eq!(end.data["disposition"], "answered", "{label}");
    assert!(
        far.wait_event("disconnected", 15).is_some(),
        "{label}: the far end is hung up"
    );
    caller.quit();
    far.quit();
    let (heard, sr) = read_channel(&far_wav, 0);
    let tail = &heard[heard.len().saturating_sub(sr as usize * 3 / 2)
        ..heard.len().saturating_sub(sr as usize / 4)];
    let share = tone_share(tail, sr, 1000.0);
    eprintln!("{label}: 1 kHz share at the far end {share:.2}");
    assert!(
        share > 0.3,
        "{label}: the far end hears the caller's tone (share {share:.2})"
    );
}

#[test]
fn every_shipped_transfer_case_reaches_the_same_target_live() {
    let cases = transfer_cases();
    assert!(
        cases.iter().any(|c| c.kind == "external") && cases.iter().any(|c| c.kind != "external"),
        "the shipped tests have transfers to a number and to an extension"
    );
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    for case in &cases {
        replay(case, &py);
    }
}
