//! Outbound campaigns end to end: the real binary places a campaign's calls through a
//! SIPp carrier; answered callees hear the notification dialplan say the row's fields
//! (the received RTP is decoded and matched against the prompts), the busy row is retried
//! until its attempts run out, the do-not-call row is never dialled, and the state
//! survives a restart.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use switchboard_e2e::audio::{best_match, best_tone_share, read_channel};
use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::rtp_sink::RtpSink;
use switchboard_e2e::{http_call, repo_root, require_peer, scratch_dir, Server};

fn prompt(name: &str) -> Vec<f64> {
    let (x, sr) = read_channel(
        &repo_root().join("prompts/en").join(format!("{name}.wav")),
        0,
    );
    assert_eq!(sr, 8000, "{name}");
    x
}

const NOTIFY_IVR: &str = r#"
entry to "orders" goto main
block main {
    say digits field("order")
    play "goodbye"
    hangup
}
"#;

/// A scratch dialplans directory with the notification dialplan and a CSV dial list.
fn campaign_files(name: &str, csv: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = scratch_dir(name);
    let dialplans = dir.join("dialplans");
    std::fs::create_dir_all(&dialplans).expect("mkdir");
    std::fs::write(dialplans.join("notify.ivr"), NOTIFY_IVR).expect("write dialplan");
    let list = dir.join("orders.csv");
    std::fs::write(&list, csv).expect("write list");
    (dialplans, list)
}

fn config(dialplans: &Path, list: &Path, carrier: u16, extra: &str) -> String {
    format!(
        "[ivr]\ndialplans = \"{}\"\n\
         [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{carrier}\"\n\
         [[campaigns]]\nname = \"orders\"\nkind = \"notification\"\ndialplan = \"notify\"\n\
         list = \"{}\"\nwindow = \"00:00-24:00\"\ncaller_id = \"+74951230000\"\n\
         max_concurrent = 1\nautostart = true\nring_timeout_s = 10\n{extra}",
        dialplans.display(),
        list.display()
    )
}

fn get_json(server: &Server, path: &str) -> serde_json::Value {
    let (status, body) = http_call(server.http, "GET", path, None, Some("demo-admin"), None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

#[test]
fn a_notification_campaign_says_each_rows_fields_retries_the_busy_row_and_skips_do_not_call() {
    if !require_peer("sipp") {
        return;
    }
    let sink = RtpSink::start();
    let port = free_udp_port();
    // Four INVITEs: rows 1, 2 (busy), 3, then row 2 again (busy again: out of attempts).
    let mut carrier = SippCarrier::start_with(
        "carrier_campaign.xml",
        port,
        4,
        120,
        &["-set", "rtp", &sink.port.to_string()],
    );
    let (dialplans, list) = campaign_files(
        "campaign-notify",
        "number,name,timezone,order\n\
         +74951110001,Ann,Europe/Moscow,123\n\
         +74951110002,Bob,,77\n\
         +74951110003,Cy,America/New_York,59\n\
         +74951110009,Dee,,404\n",
    );
    let server = Server::start(
        "campaign-notify",
        &config(
            &dialplans,
            &list,
            port,
            "max_attempts = 2\nretry_after_s = 1\ndo_not_call = [\"+7 495 111-00-09\"]\n",
        ),
    );
    let done = server
        .wait_event(90, |e| {
            e.kind == "campaign.state" && e.data["state"] == "finished"
        })
        .unwrap_or_else(|| {
            panic!(
                "campaign finished; events {:#?}\nlog:\n{}\nsipp:\n{}",
                server.events(),
                server.log_text(),
                carrier.traces()
            )
        });
    let events = server.events();
    let dials: Vec<(u64, u64)> = events
        .iter()
        .filter(|e| e.kind == "campaign.dial")
        .map(|e| {
            (
                e.data["row"].as_u64().unwrap_or(99),
                e.data["attempt"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(dials, vec![(0, 1), (1, 1), (2, 1), (1, 2)], "{events:#?}");
    let results: Vec<(u64, String, String)> = events
        .iter()
        .filter(|e| e.kind == "campaign.result")
        .map(|e| {
            (
                e.data["row"].as_u64().unwrap_or(99),
                e.data["outcome"].as_str().unwrap_or("").to_string(),
                e.data["row_status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let want: Vec<(u64, String, String)> = [
        (0, "answered", "done"),
        (1, "busy", "pending"),
        (2, "answered", "done"),
        (1, "busy", "exhausted"),
    ]
    .iter()
    .map(|(r, o, s)| (*r, o.to_string(), s.to_string()))
    .collect();
    assert_eq!(results, want);
    // The busy row's result says the status and when it is tried again.
    let busy = events
        .iter()
        .find(|e| e.kind == "campaign.result" && e.data["outcome"] == "busy")
        .expect("busy result");
    assert_eq!(busy.data["status"], 486);
    assert!(busy.data["next_at"].is_string(), "{:?}", busy.data);
    // Every campaign call has a call.start naming the campaign and a call.end.
    for e in events.iter().filter(|e| e.kind == "campaign.dial") {
        let start = events
            .iter()
            .find(|x| x.kind == "call.start" && x.call == e.call)
            .expect("call.start");
        assert_eq!(start.data["campaign"], "orders");
        assert!(events
            .iter()
            .any(|x| x.kind == "call.end" && x.call == e.call));
    }
    let (status, traces) = carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "carrier checks (number, caller ID, 4 calls): {status:?}\n{traces}"
    );
    // The API shows the outcome per row and the counters.
    let v = get_json(&server, "/api/v1/campaigns/orders");
    assert_eq!(v["state"], "finished", "{v}");
    assert_eq!(v["progress"]["done"], 2, "{v}");
    assert_eq!(v["progress"]["exhausted"], 1, "{v}");
    assert_eq!(v["progress"]["do_not_call"], 1, "{v}");
    assert_eq!(v["progress"]["dialled"], 4, "{v}");
    assert_eq!(v["progress"]["outcomes"]["busy"], 2, "{v}");
    assert_eq!(v["rows"][3]["status"], "do_not_call", "{v}");
    assert_eq!(v["rows"][1]["attempts"], 2, "{v}");
    assert!(
        !v["rows"][0]["number"]
            .as_str()
            .unwrap_or("")
            .contains("1110001"),
        "numbers are masked: {v}"
    );
    drop(done);

    // Audio: the two answered calls heard their own order numbers, digit by digit.
    let flows = sink.finish();
    assert_eq!(flows.len(), 2, "two answered calls sent audio");
    let m = |flow: &[f64], p: &str| best_match(flow, &prompt(p), 8000, 4000);
    let mut scores = BTreeMap::new();
    for (i, digits) in [
        (0usize, ["digit-1", "digit-2", "digit-3"]),
        (1, ["digit-5", "digit-9", "goodbye"]),
    ] {
        for d in digits {
            let s = m(&flows[i], d);
            scores.insert(format!("call {i} {d}"), s);
            assert!(s > 0.8, "call {i} should say {d}: {s:.2}");
        }
    }
    // And not the other row's digits.
    let wrong = m(&flows[0], "digit-9");
    assert!(
        wrong < scores["call 1 digit-9"] - 0.1,
        "row 1's call does not say 9: {wrong:.2} vs {scores:?}"
    );
}

#[test]
fn campaign_state_survives_a_restart() {
    if !require_peer("sipp") {
        return;
    }
    let sink = RtpSink::start();
    let port = free_udp_port();
    let mut carrier = SippCarrier::start_with(
        "carrier_campaign.xml",
        port,
        2,
        120,
        &["-set", "rtp", &sink.port.to_string()],
    );
    let (dialplans, list) = campaign_files(
        "campaign-restart",
        "number,name\n+74951110001,Ann\n+74951110002,Bob\n",
    );
    let toml = config(
        &dialplans,
        &list,
        port,
        "max_attempts = 3\nretry_after_s = 3600\nretry_max_s = 7200\n",
    );
    let mut server = Server::start("campaign-restart", &toml);
    let busy = server
        .wait_event(60, |e| {
            e.kind == "campaign.result" && e.data["outcome"] == "busy"
        })
        .unwrap_or_else(|| panic!("busy row; log:\n{}", server.log_text()));
    let next_at = busy.data["next_at"].as_str().expect("next_at").to_string();
    server
        .wait_event(60, |e| {
            e.kind == "campaign.result" && e.data["outcome"] == "answered"
        })
        .expect("answered row");
    let (status, traces) = carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "{traces}");
    let before = get_json(&server, "/api/v1/campaigns/orders");
    assert_eq!(before["state"], "running", "{before}");
    assert!(server.terminate(30).is_some(), "clean stop");
    let data = server.data_dir.clone();
    drop(server);
    let _ = sink.finish();

    let server = Server::start_on("campaign-restart-2", &toml, &[], Some(&data));
    let after = get_json(&server, "/api/v1/campaigns/orders");
    assert_eq!(after["state"], "running", "{after}");
    assert_eq!(after["rows"], before["rows"], "rows rebuilt from the log");
    assert_eq!(after["rows"][0]["status"], "done", "{after}");
    assert_eq!(after["rows"][1]["status"], "pending", "{after}");
    assert_eq!(after["rows"][1]["attempts"], 1, "{after}");
    let want = chrono::DateTime::parse_from_rfc3339(&next_at).expect("rfc3339");
    let got = chrono::DateTime::parse_from_rfc3339(
        after["rows"][1]["next_at"].as_str().expect("next_at"),
    )
    .expect("rfc3339");
    assert_eq!(got, want, "the retry time is kept");
    // Pause over the API: logged with the token's name. The runner handles the pause
    // after its first round of dials, so the log has any dial it placed at start.
    let (s, body) = http_call(
        server.http,
        "POST",
        "/api/v1/campaigns/orders/pause",
        None,
        Some("demo-admin"),
        None,
    );
    assert_eq!(s, 200, "{body}");
    let paused = server
        .wait_event(10, |e| {
            e.kind == "campaign.state" && e.data["state"] == "paused"
        })
        .expect("paused event");
    assert_eq!(paused.data["by"], "demo-admin", "{:?}", paused.data);
    let dials = server
        .events()
        .iter()
        .filter(|e| e.kind == "campaign.dial")
        .count();
    assert_eq!(
        dials, 2,
        "the answered row is not dialled again after the restart"
    );
    let (s, body) = http_call(
        server.http,
        "POST",
        "/api/v1/campaigns/orders/pause",
        None,
        Some("demo-admin"),
        None,
    );
    assert_eq!(s, 409, "pausing a paused campaign: {body}");
}

#[test]
fn a_progressive_campaign_offers_the_answered_callee_to_a_free_agent_with_the_rows_fields() {
    progressive_campaign("campaign-progressive", "");
}

/// The same through a ring-all queue: the agent's winning leg becomes the campaign call's
/// agent leg (sip_driver/forking.rs, callee_calls.rs).
#[test]
fn a_progressive_campaign_through_a_ring_all_queue_bridges_the_agent_that_answers() {
    // Only this queue: dialplans of their own (the shipped ones name other queues).
    let dialplans = scratch_dir("campaign-ring-all-dialplans");
    std::fs::write(
        dialplans.join("main.ivr"),
        "entry to \"100\" goto main\nblock main {\n    hangup\n}\n",
    )
    .expect("write dialplan");
    progressive_campaign(
        "campaign-progressive-ring-all",
        &format!(
            "[ivr]\ndialplans = \"{}\"\n\
             [[queues]]\nname = \"sales\"\nstrategy = \"ring-all\"\nmembers = [\"1001\"]\n",
            dialplans.display()
        ),
    );
}

fn progressive_campaign(name: &str, queues: &str) {
    use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    // The callee answers with a 1 kHz tone; the agent sends 2 kHz and records what it hears.
    let sink = RtpSink::start_answering(Some(1000.0));
    let port = free_udp_port();
    let heard = scratch_dir(&format!("{name}-agent")).join("heard.wav");
    let mut carrier = SippCarrier::start_with(
        "carrier_campaign.xml",
        port,
        1,
        120,
        &["-set", "rtp", &sink.port.to_string()],
    );
    let server = Server::start(
        name,
        &format!(
            "{queues}[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n\
             [[campaigns]]\nname = \"renewals\"\nkind = \"progressive\"\nqueue = \"sales\"\n\
             script = \"renewal-v2\"\nwindow = \"00:00-24:00\"\ncaller_id = \"+74951230000\"\n\
             autostart = true\nring_timeout_s = 10\n\
             rows = [{{number = \"+74951110001\", name = \"Ann\", fields = {{contract = \"C-42\"}}}}]\n"
        ),
    );
    // No agent is free yet: nothing is dialled.
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            record: Some(heard.clone()),
            ..Default::default()
        },
    );
    let dial = server
        .wait_event(60, |e| e.kind == "campaign.dial")
        .unwrap_or_else(|| {
            panic!(
                "dialled once the agent is free; log:\n{}",
                server.log_text()
            )
        });
    let bridged = server
        .wait_event(60, |e| e.kind == "call.bridge" && e.call == dial.call)
        .unwrap_or_else(|| panic!("offered to the agent; events {:#?}", server.events()));
    assert_eq!(bridged.agent, "1001");
    let v = get_json(&server, "/api/v1/agents/1001");
    let data = &v["call"]["data"];
    assert_eq!(data["contract"], "C-42", "{v}");
    assert_eq!(data["script"], "renewal-v2", "{v}");
    assert_eq!(data["campaign"], "renewals", "{v}");
    assert_eq!(data["name"], "Ann", "{v}");
    // Let audio cross both ways for a while (the agent's answer is logged before its
    // media starts), then the agent hangs up.
    server
        .wait_event(30, |e| e.kind == "call.connected" && e.call == dial.call)
        .unwrap_or_else(|| panic!("connected; events {:#?}", server.events()));
    std::thread::sleep(Duration::from_secs(3));
    agent.command("hangup");
    let result = server
        .wait_event(30, |e| e.kind == "campaign.result" && e.call == dial.call)
        .expect("result");
    assert_eq!(result.data["outcome"], "answered");
    let end = server
        .wait_event(30, |e| e.kind == "call.end" && e.call == dial.call)
        .expect("call.end");
    assert_eq!(end.data["end_reason"], "agent_hangup", "{end:?}");
    agent.quit();
    let (status, traces) = carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "{traces}");
    let flows = sink.finish();
    let to_callee = flows
        .iter()
        .map(|pcm| best_tone_share(pcm, 8000, 2000.0))
        .fold(0.0, f64::max);
    let (rec, sr) = read_channel(&heard, 0);
    let to_agent = best_tone_share(&rec, sr, 1000.0);
    eprintln!("callee heard the agent's 2 kHz: {to_callee:.3}; agent heard the callee's 1 kHz: {to_agent:.3}");
    assert!(to_callee > 0.3, "the callee heard the agent: {to_callee}");
    assert!(to_agent > 0.3, "the agent heard the callee: {to_agent}");
}
