//! Hold in the real binary with pjsua2 phones: an agent puts a bridged call on hold
//! (re-INVITE with a=sendonly) and takes it off again; the log has `call.hold` and
//! `call.resume` naming the agent, the CDR's `hold_s` and the agents report's `hold_s`
//! (over the HTTP API) show the same time on hold, and it is part of `talk_s`.

use serde_json::Value;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, Server};

#[test]
fn an_agent_holds_and_resumes_a_bridged_call_and_the_cdr_and_agent_report_count_it() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let from = chrono::Utc::now().timestamp() - 60;
    let server = Server::start("hold", "");
    let mut phone = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    server
        .wait_event(20, |e| {
            e.kind == "agent.state" && e.agent == "1001" && e.data["state"] == "available"
        })
        .expect("agent 1001 available");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "caller answered");
    caller.command("dtmf 1");
    let bridged = server
        .wait_event(30, |e| e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("bridged; events {:#?}", server.events()));
    assert_eq!(bridged.agent, "1001");
    let call = bridged.call.clone();

    phone.command("hold");
    assert!(
        phone.wait_event("hold-sent", 10).is_some(),
        "pjsua sent the hold"
    );
    let hold = server
        .wait_event(10, |e| e.kind == "call.hold" && e.call == call)
        .unwrap_or_else(|| panic!("call.hold; events {:#?}", server.events()));
    assert_eq!(hold.data["party"], "agent");
    assert_eq!(
        (hold.agent.as_str(), hold.queue.as_str()),
        ("1001", "sales")
    );
    phone.command("unhold");
    let resume = server
        .wait_event(10, |e| e.kind == "call.resume" && e.call == call)
        .unwrap_or_else(|| panic!("call.resume; events {:#?}", server.events()));
    assert_eq!(resume.data["party"], "agent");
    let held_s = resume.data["held_s"].as_f64().expect("held_s");
    assert!(held_s > 0.0, "{resume:?}");
    assert!(
        server
            .events()
            .iter()
            .filter(|e| e.call == call && e.kind == "call.hold")
            .count()
            == 1,
        "one hold"
    );
    caller.command("hangup");
    server
        .wait_event(20, |e| e.kind == "call.end" && e.call == call)
        .expect("the call ended");

    // The CDR: hold_s is the time between the two events.
    let cdr = server.export("cdr");
    let mut lines = cdr.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r.first() == Some(&call.as_str()))
        .unwrap_or_else(|| panic!("no CDR row for {call}: {cdr}"));
    let cdr_hold: f64 = row[col("hold_s")].parse().expect("hold_s");
    let by_events = (resume.ts_ms - hold.ts_ms) as f64 / 1000.0;
    assert!(
        (cdr_hold - by_events).abs() < 0.0015,
        "CDR {cdr_hold} vs events {by_events}"
    );
    assert!(cdr_hold > 0.0);

    // The agents report over the API: the same hold, within talk.
    let to = chrono::Utc::now().timestamp() + 60;
    let (status, body) = http_call(
        server.http,
        "GET",
        &format!("/api/v1/reports/agents?from={from}&to={to}&interval=1d"),
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let report: Value = serde_json::from_str(&body).expect("JSON");
    let mine = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["agent"] == "1001")
        .unwrap_or_else(|| panic!("no row for 1001: {report}"));
    let hold_s = mine["hold_s"].as_f64().expect("hold_s");
    assert!(
        (hold_s - cdr_hold).abs() < 0.0015,
        "report {hold_s} vs CDR {cdr_hold}: {mine}"
    );
    assert!(mine["talk_s"].as_f64().unwrap_or(0.0) >= hold_s, "{mine}");
}
