//! The campaign report end to end: a survey campaign calls a SIPp callee that answers and
//! presses 1 2 3 4 # as RFC 4733 events; the survey dialplan collects `rating` (one key)
//! and `comment` (up to three keys, `#` ends it), each a `survey.answer` event, and
//! `GET /api/v1/reports/campaigns` and `switchboard report campaigns` count them per
//! question next to the campaign's outcomes.

use std::process::Command;

use serde_json::Value;
use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::{http_call, require_peer, scratch_dir, switchboard_bin, Server};

const SURVEY_IVR: &str = r##"
entry to "poll" goto main
block main {
    collect rating digits 1 timeout 10s
    collect comment digits 3 terminator "#" timeout 10s
    hangup
}
"##;

#[test]
fn a_survey_campaigns_answers_appear_in_the_campaign_report() {
    if !require_peer("sipp") {
        return;
    }
    let dir = scratch_dir("campaign-report-survey");
    let dialplans = dir.join("dialplans");
    std::fs::create_dir_all(&dialplans).expect("mkdir");
    std::fs::write(dialplans.join("survey.ivr"), SURVEY_IVR).expect("write dialplan");
    let port = free_udp_port();
    let (mut carrier, _) = SippCarrier::start_with_media("carrier_survey.xml", port, 1, 90, &[]);
    let mut server = Server::start(
        "campaign-report-survey",
        &format!(
            "[ivr]\ndialplans = \"{}\"\n\
             [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n\
             [[campaigns]]\nname = \"poll\"\nkind = \"survey\"\ndialplan = \"survey\"\n\
             questions = [\"rating\", \"comment\"]\nwindow = \"00:00-24:00\"\n\
             autostart = true\nring_timeout_s = 10\n\
             rows = [{{number = \"+74951110001\", name = \"Ann\"}}]\n",
            dialplans.display()
        ),
    );
    let dial = server
        .wait_event(60, |e| e.kind == "campaign.dial")
        .unwrap_or_else(|| panic!("dialled; log:\n{}", server.log_text()));
    let result = server
        .wait_event(60, |e| e.kind == "campaign.result" && e.call == dial.call)
        .unwrap_or_else(|| panic!("result; events {:#?}", server.events()));
    assert_eq!(result.data["outcome"], "answered", "{result:?}");
    let answers: Vec<(String, String)> = server
        .events()
        .iter()
        .filter(|e| e.kind == "survey.answer" && e.call == dial.call)
        .map(|e| {
            (
                e.data["question"].as_str().unwrap_or("").to_string(),
                e.data["answer"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        answers,
        vec![
            ("rating".to_string(), "1".to_string()),
            ("comment".to_string(), "234".to_string())
        ],
        "events {:#?}",
        server.events()
    );
    let (status, traces) = carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "{traces}");

    // Over HTTP: one row for the campaign.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (from, to) = ((now - 3600).to_string(), (now + 3600).to_string());
    let (status, body) = http_call(
        server.http,
        "GET",
        &format!("/api/v1/reports/campaigns?from={from}&to={to}&interval=1d"),
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("JSON");
    let rows = v["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{v}");
    let row = &rows[0];
    assert_eq!(row["campaign"], "poll", "{v}");
    assert_eq!(row["dialled"], 1, "{v}");
    assert_eq!(row["answered"], 1, "{v}");
    assert_eq!(row["busy"], 0, "{v}");
    assert_eq!(row["survey"], "comment: 234=1; rating: 1=1", "{v}");

    // The CLI, on the same store once the server has stopped, gives the same row.
    server.terminate(30);
    let out = Command::new(switchboard_bin())
        .args(["report", "campaigns", "--from", &from, "--to", &to])
        .args(["--interval", "1d", "--format", "csv"])
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .expect("run switchboard report");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("campaign,queue,dialled,answered,machine,"),
        "{text}"
    );
    assert!(text.contains("poll,,1,1,0,0,0,0,0,0,0,"), "{text}");
    assert!(text.contains("comment: 234=1; rating: 1=1"), "{text}");
}
