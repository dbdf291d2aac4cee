//! Predictive campaigns after the answer, end to end: a person who answers while no agent
//! is free is abandoned (played the `abandon_dialplan` message, hung up, counted, in the
//! report and the pacer's window), and in-dialog requests during detection are answered; a
//! machine with `machine = "agent"` is bridged to an agent anyway; with
//! `machine = "message"` the campaign's dialplan is played to the machine once its
//! greeting has ended (the received audio is matched against the prompt), then hung up.
//!
//! The callee is a [`RawCallee`] (the test answers when it is ready, sends real speech from
//! the prompts and records what it hears) or SIPp playing the six-second greeting.

use std::time::Instant;

use switchboard_e2e::audio::{best_match, read_channel, rms};
use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::raw_callee::{CalleeMedia, RawCallee};
use switchboard_e2e::{http_call, repo_root, require_peer, scratch_dir, Server};

/// An 8 kHz prompt from prompts/en.
fn prompt(name: &str) -> Vec<f64> {
    let (x, sr) = read_channel(
        &repo_root().join("prompts/en").join(format!("{name}.wav")),
        0,
    );
    assert_eq!(sr, 8000, "{name}");
    x
}

fn pcm(x: &[f64]) -> Vec<i16> {
    x.iter().map(|&v| v as i16).collect()
}

fn get_json(server: &Server, path: &str, token: &str) -> serde_json::Value {
    let (status, body) = http_call(server.http, "GET", path, None, Some(token), None);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("json")
}

fn campaign_report(server: &Server) -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    get_json(
        server,
        &format!(
            "/api/v1/reports/campaigns?from={}&to={}&interval=1d",
            now - 3600,
            now + 3600
        ),
        "demo-supervisor",
    )
}

fn predictive(trunk: u16, machine: &str, extra: &str) -> String {
    format!(
        "[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{trunk}\"\n\
         [[campaigns]]\nname = \"offers\"\nkind = \"predictive\"\nqueue = \"sales\"\n\
         machine = \"{machine}\"\nwindow = \"00:00-24:00\"\nmax_attempts = 1\n\
         autostart = true\nring_timeout_s = 30\nmax_concurrent = 1\n{extra}"
    )
}

const ABANDON_IVR: &str = r#"
entry to "offers" goto main
block main {
    play "all-agents-busy"
    hangup
}
"#;

#[test]
fn a_person_answering_with_no_agent_free_is_abandoned_told_and_counted() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let t0 = Instant::now();
    let mut callee = RawCallee::bind();
    let dir = scratch_dir("campaign-abandon");
    let dialplans = dir.join("dialplans");
    std::fs::create_dir_all(&dialplans).expect("mkdir");
    std::fs::write(dialplans.join("sorry.ivr"), ABANDON_IVR).expect("write dialplan");
    let server = Server::start(
        "campaign-abandon",
        &format!(
            "[ivr]\ndialplans = \"{}\"\n{}",
            dialplans.display(),
            predictive(
                callee.port(),
                "hangup",
                "abandon_dialplan = \"sorry\"\n\
                 rows = [{number = \"+74951110001\", name = \"Ann\"}]\n",
            )
        ),
    );
    let agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 90,
            ..Default::default()
        },
    );
    // Dialled because the agent is free; while it rings, the agent goes on a break.
    let inv = callee
        .wait_invite(60)
        .unwrap_or_else(|| panic!("the campaign dials; log:\n{}", server.log_text()));
    eprintln!("[{:?}] dialled", t0.elapsed());
    callee.respond(&inv, 180, "Ringing");
    let (status, body) = http_call(
        server.http,
        "POST",
        "/api/v1/agents/1001/pause",
        Some(r#"{"reason": "break"}"#),
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    callee.respond(&inv, 200, "OK");
    assert!(callee.wait_request("ACK", 10).is_some(), "ACK");
    let dial = server
        .wait_event(10, |e| e.kind == "campaign.dial")
        .expect("campaign.dial");
    // Before the callee sends any audio the detector cannot decide (it waits up to 5 s):
    // in-dialog requests now are answered, not left to time out.
    assert_eq!(
        callee.request(&inv, "OPTIONS", None, 5),
        Some(200),
        "OPTIONS"
    );
    // UPDATE (RFC 3311): without a body a refresh, 200 at once; with an offer, answered
    // like a re-INVITE.
    assert_eq!(callee.request(&inv, "UPDATE", None, 5), Some(200), "UPDATE");
    let offer = callee.sdp(2);
    assert_eq!(
        callee.request(&inv, "UPDATE", Some(&offer), 5),
        Some(200),
        "UPDATE with an offer"
    );
    assert_eq!(
        callee.request(&inv, "INVITE", Some(&offer), 5),
        Some(200),
        "re-INVITE"
    );
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.call == dial.call && e.kind == "campaign.amd"),
        "answered while detection was still listening"
    );
    eprintln!("[{:?}] in-dialog requests answered", t0.elapsed());
    // A person: "good evening", then waits.
    let answered_at = Instant::now();
    let media = CalleeMedia::start(&callee.rtp, inv.media, pcm(&prompt("good-evening")));
    let amd = server
        .wait_event(30, |e| e.kind == "campaign.amd" && e.call == dial.call)
        .unwrap_or_else(|| panic!("detection; events {:#?}", server.events()));
    assert_eq!(amd.data["verdict"], "human", "{amd:?}");
    // No agent free: told so, then hung up.
    assert!(callee.wait_bye(30), "the abandoned call is hung up");
    let heard = media.finish();
    eprintln!("[{:?}] hung up", t0.elapsed());
    let result = server
        .wait_event(30, |e| e.kind == "campaign.result" && e.call == dial.call)
        .expect("result");
    assert_eq!(result.data["outcome"], "abandoned", "{result:?}");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == dial.call)
        .expect("call.end");
    // The message's dialplan hung up, but the call ended because no agent was free: its
    // `call.end` says that, as the campaign's outcome does.
    assert_eq!(end.data["end_reason"], "abandoned_no_agent", "{end:?}");
    assert_eq!(end.data["disposition"], "abandoned", "{end:?}");
    assert_eq!(end.data["detail"], "no free agent", "{end:?}");
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.call == dial.call && e.kind == "queue.offer"),
        "nobody was offered the call"
    );
    let m = best_match(&heard.samples(), &prompt("all-agents-busy"), 8000, 8000);
    assert!(
        m > 0.8,
        "the abandoned person heard the message: match {m:.2}"
    );
    // Comfort noise while the detector listened (the first second after the answer).
    let during = heard.between(
        answered_at,
        answered_at + std::time::Duration::from_millis(900),
    );
    assert!(
        during.len() >= 8 * 160,
        "audio while detection listened: {} samples",
        during.len()
    );
    let level = rms(&during);
    assert!(
        level > 5.0 && level < 300.0,
        "faint comfort noise, not silence or a prompt: rms {level:.1}"
    );

    // Counted: the report's abandon rate, the pacer's window and the metric.
    let v = campaign_report(&server);
    let row = &v["rows"][0];
    assert_eq!(row["campaign"], "offers", "{v}");
    assert_eq!(row["answered"], 0, "{v}");
    assert_eq!(row["abandoned"], 1, "{v}");
    assert_eq!(row["abandon_rate"], 1.0, "{v}");
    let c = get_json(&server, "/api/v1/campaigns/offers", "demo-admin");
    assert_eq!(c["pacing"]["window_abandoned"], 1, "{c}");
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("switchboard_campaign_abandoned_total") && l.ends_with(" 1")),
        "{metrics}"
    );
    agent.quit();
}

#[test]
fn a_machine_goes_to_an_agent_when_the_campaign_says_agent() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let port = free_udp_port();
    // carrier_amd.xml: a number ending 0002 plays the six-second greeting.
    let (mut carrier, _) = SippCarrier::start_with_media("carrier_amd.xml", port, 1, 120, &[]);
    let server = Server::start(
        "campaign-machine-agent",
        &predictive(
            port,
            "agent",
            "rows = [{number = \"+74951110002\", name = \"Bob\"}]\n",
        ),
    );
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 90,
            ..Default::default()
        },
    );
    let dial = server
        .wait_event(60, |e| e.kind == "campaign.dial")
        .unwrap_or_else(|| panic!("dialled; log:\n{}", server.log_text()));
    let amd = server
        .wait_event(30, |e| e.kind == "campaign.amd" && e.call == dial.call)
        .unwrap_or_else(|| panic!("detection; events {:#?}", server.events()));
    assert_eq!(amd.data["verdict"], "machine", "{amd:?}");
    let bridged = server
        .wait_event(30, |e| e.kind == "call.bridge" && e.call == dial.call)
        .unwrap_or_else(|| panic!("bridged to the agent; events {:#?}", server.events()));
    assert_eq!(bridged.agent, "1001");
    agent.command("hangup");
    let result = server
        .wait_event(30, |e| e.kind == "campaign.result" && e.call == dial.call)
        .expect("result");
    assert_eq!(result.data["outcome"], "answered", "{result:?}");
    let (status, traces) = carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "{traces}");
    let v = campaign_report(&server);
    assert_eq!(v["rows"][0]["answered"], 1, "{v}");
    assert_eq!(v["rows"][0]["machine"], 0, "{v}");
    agent.quit();
}

const MESSAGE_IVR: &str = r#"
entry to "offers" goto main
block main {
    play "goodbye"
    hangup
}
"#;

#[test]
fn a_machine_hears_the_message_after_its_greeting_then_the_call_ends() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let mut callee = RawCallee::bind();
    let dir = scratch_dir("campaign-machine-message");
    let dialplans = dir.join("dialplans");
    std::fs::create_dir_all(&dialplans).expect("mkdir");
    std::fs::write(dialplans.join("message.ivr"), MESSAGE_IVR).expect("write dialplan");
    let server = Server::start(
        "campaign-machine-message",
        &format!(
            "[ivr]\ndialplans = \"{}\"\n{}",
            dialplans.display(),
            predictive(
                callee.port(),
                "message",
                "dialplan = \"message\"\n\
                 rows = [{number = \"+74951110002\", name = \"Bob\"}]\n",
            )
        ),
    );
    let agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 90,
            ..Default::default()
        },
    );
    let inv = callee
        .wait_invite(60)
        .unwrap_or_else(|| panic!("the campaign dials; log:\n{}", server.log_text()));
    callee.respond(&inv, 200, "OK");
    assert!(callee.wait_request("ACK", 10).is_some(), "ACK");
    // A voicemail greeting: six seconds of continuous speech, then silence (the beep's
    // place).
    let greeting = prompt("demo-main-menu");
    let greeting = &greeting[..greeting.len().min(6 * 8000)];
    let started = Instant::now();
    let media = CalleeMedia::start(&callee.rtp, inv.media, pcm(greeting));
    let greeting_end = started + std::time::Duration::from_secs(6);
    assert!(callee.wait_bye(60), "hung up after the message");
    let heard = media.finish();
    let dial = server
        .wait_event(10, |e| e.kind == "campaign.dial")
        .expect("dial");
    let amd = server
        .wait_event(10, |e| e.kind == "campaign.amd" && e.call == dial.call)
        .expect("detection");
    assert_eq!(amd.data["verdict"], "machine", "{amd:?}");
    let result = server
        .wait_event(30, |e| e.kind == "campaign.result" && e.call == dial.call)
        .expect("result");
    assert_eq!(result.data["outcome"], "machine", "{result:?}");
    // The message reached the machine, and only after its greeting: nothing but faint
    // comfort noise before.
    let all = heard.samples();
    let goodbye = prompt("goodbye");
    let m = best_match(&all, &goodbye, 8000, 8000);
    assert!(
        m > 0.8,
        "the message was played to the machine: match {m:.2}"
    );
    let during = heard.between(started, greeting_end);
    assert!(
        !during.is_empty(),
        "the callee heard something during detection"
    );
    let level = rms(&during);
    assert!(
        level < 300.0,
        "no message over the greeting, only comfort noise: rms {level:.0}"
    );
    let before = best_match(&during, &goodbye, 8000, 8000);
    assert!(
        before < 0.5,
        "the message did not start during the greeting: {before:.2}"
    );
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.call == dial.call && e.kind == "queue.offer"),
        "a machine with machine = \"message\" is never offered to an agent"
    );
    agent.quit();
}
