//! The IVR's clock can be pinned (`--ivr-test-clock`, `[ivr] test_clock`; test/demo only),
//! so time-of-day branches do not depend on the hour the suite runs at. The harness pins a
//! weekday noon in Moscow by default; these tests check that default and a night pin by
//! what the caller actually hears: `tests/dialplans-clock/clock.ivr` plays one greeting
//! by the hour and hangs up.

use switchboard_e2e::audio::{best_match, read_channel};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{default_ivr_clock, repo_root, scratch_dir, Server, IVR_DAYTIME, IVR_NIGHT};

const CLOCK_DIALPLANS: &str = "[ivr]\ndialplans = \"tests/dialplans-clock\"\n";

/// Calls the clock dialplan and returns how well each greeting matches what the caller
/// heard, as (prompt name, correlation), best first.
fn greetings_heard(server: &Server, name: &str, py: &str) -> Vec<(&'static str, f64)> {
    let wav = scratch_dir(name).join("caller.wav");
    let mut caller = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:200@{}", server.sip)),
            caller: "+79995550191",
            record: Some(wav.clone()),
            seconds: 30,
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "call answered; log:\n{}",
        server.log_text()
    );
    // The dialplan hangs up after its one greeting: that is the end of what there is to hear.
    assert!(
        caller.wait_event("disconnected", 20).is_some(),
        "the dialplan hangs up after the greeting; events: {:#?}",
        server.events()
    );
    caller.quit();
    let (heard, sr) = read_channel(&wav, 0);
    let mut scores: Vec<(&'static str, f64)> = [
        "good-morning",
        "good-afternoon",
        "good-evening",
        "good-night",
    ]
    .into_iter()
    .map(|p| {
        let (prompt, psr) = read_channel(&repo_root().join(format!("prompts/en/{p}.wav")), 0);
        assert_eq!(sr, psr);
        // Half a second from the middle of the prompt: past the "good" they all
        // share, and short enough to fit a recording that missed the first frames.
        let mid = &prompt[prompt.len() * 2 / 5..];
        (p, best_match(&heard, mid, sr, sr as usize / 2))
    })
    .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1));
    eprintln!("greetings (prompt, correlation): {scores:?}");
    scores
}

#[test]
fn the_harness_pins_daytime_so_the_caller_hears_good_afternoon_at_any_hour() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let pinned = default_ivr_clock();
    let server = Server::start("clock-day", CLOCK_DIALPLANS);
    assert!(
        server.log_text().contains("TEST/DEMO ONLY")
            && server.log_text().contains(&format!("test_clock={pinned}")),
        "the harness pins the clock, and the pin is announced in the log"
    );
    if pinned != IVR_DAYTIME {
        eprintln!("SWITCHBOARD_IVR_TEST_CLOCK={pinned}: the daytime greeting is not checked");
        return;
    }
    let scores = greetings_heard(&server, "clock-day-phone", &py);
    assert_eq!(scores[0].0, "good-afternoon", "{scores:?}");
    assert!(scores[0].1 > 0.8, "{scores:?}");
}

#[test]
fn a_night_pin_takes_the_night_branch() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start_with(
        "clock-night",
        CLOCK_DIALPLANS,
        &["--ivr-test-clock", IVR_NIGHT],
    );
    let scores = greetings_heard(&server, "clock-night-phone", &py);
    assert_eq!(scores[0].0, "good-night", "{scores:?}");
    assert!(scores[0].1 > 0.8, "{scores:?}");
}

#[test]
fn a_bad_test_clock_is_refused_with_an_example() {
    let dir = scratch_dir("clock-bad");
    let out = std::process::Command::new(switchboard_e2e::switchboard_bin())
        .args(["run", "--ivr-test-clock", "noon", "--data-dir"])
        .arg(dir.join("data"))
        .output()
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--ivr-test-clock") && err.contains("2026-01-05T12:00:00+03:00"),
        "{err}"
    );
}
