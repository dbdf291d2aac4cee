//! The IVR report names dialplans and menu branches as the operator wrote them: a SIPp
//! caller presses 1 in the menu `demo-main-menu` and 2 in `demo-balance-menu` of the
//! dialplan `menus` (tests/dialplans-ivr-report), is served in the IVR, and
//! `switchboard report ivr` shows the call under the dialplan's name and under each of
//! those two branches, with the `ivr.start` and `ivr.menu` events in the log.

use std::process::Command;

use serde_json::Value;
use switchboard_e2e::carrier::free_media_port;
use switchboard_e2e::{require_peer, sipp, sipp_trace, switchboard_bin, Server};

const CONFIG: &str =
    "[ivr]\ndialplans = \"tests/dialplans-ivr-report\"\n[reports]\nivr_min_s = 1\n";

#[test]
fn a_call_is_reported_under_its_dialplan_and_the_menu_branches_it_took() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("ivr-report", CONFIG);
    let mp = free_media_port().to_string();
    let out = sipp(
        "media_dtmf_rfc4733.xml",
        server.sip,
        &["-s", "300", "-mp", &mp, "-m", "1"],
        20,
    );
    assert!(
        out.status.success(),
        "SIPp failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    let end = server
        .wait_event(20, |e| e.kind == "call.end")
        .expect("call.end");
    let call = end.call.clone();
    let events = server.events();
    let start = events
        .iter()
        .find(|e| e.call == call && e.kind == "ivr.start")
        .expect("ivr.start");
    assert_eq!(start.data["dialplan"], "menus");
    assert_eq!(start.data["block"], "main");
    let menus: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.call == call && e.kind == "ivr.menu")
        .map(|e| {
            (
                e.data["menu"].as_str().unwrap_or("").to_string(),
                e.data["choice"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        menus,
        vec![
            ("demo-main-menu".to_string(), "1".to_string()),
            ("demo-balance-menu".to_string(), "2".to_string())
        ]
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let cfg = server
        .data_dir
        .parent()
        .expect("scratch")
        .join("config.toml");
    let out = Command::new(switchboard_bin())
        .args(["report", "ivr", "--from", &(now - 3600).to_string()])
        .args(["--to", &(now + 3600).to_string()])
        .args(["--interval", "1d", "--format", "json", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .expect("run switchboard report");
    assert!(
        out.status.success(),
        "switchboard report ivr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let rows = report["rows"].as_array().expect("rows");
    let row = |menu: &str, choice: &str| {
        rows.iter()
            .find(|r| r["dialplan"] == "menus" && r["menu"] == menu && r["choice"] == choice)
            .unwrap_or_else(|| panic!("no row menus/{menu}/{choice} in {report}"))
    };
    for (menu, choice) in [
        ("demo-main-menu", "1"),
        ("demo-balance-menu", "2"),
        ("*", "*"),
    ] {
        let r = row(menu, choice);
        assert_eq!(
            (r["calls"].as_u64(), r["automated"].as_u64()),
            (Some(1), Some(1)),
            "{r}"
        );
        assert_eq!(r["automation"].as_f64(), Some(1.0), "{r}");
    }
    assert_eq!(rows.len(), 3, "no other rows: {report}");
}
