//! A predictive campaign end to end: the pacer (starting progressive: one agent, one dial
//! at a time) places two calls through a SIPp carrier; the callee of the first says a
//! short "good evening" and waits (answering-machine detection: human), and is offered to
//! the free agent (pjsua2) and bridged; the second plays a six-second voicemail-like
//! greeting (machine), and with `machine = "hangup"` is hung up without an agent. The
//! outcomes and the `campaign.amd` verdicts are logged, and the campaign report counts
//! one answered and one machine.

use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, require_peer, Server};

#[test]
fn a_predictive_campaign_sends_people_to_the_agent_and_hangs_up_on_machines() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let port = free_udp_port();
    let (mut carrier, _) = SippCarrier::start_with_media("carrier_amd.xml", port, 2, 150, &[]);
    let server = Server::start(
        "campaign-predictive",
        &format!(
            "[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n\
             [[campaigns]]\nname = \"offers\"\nkind = \"predictive\"\nqueue = \"sales\"\n\
             machine = \"hangup\"\nabandon_cap = 0.03\nwindow = \"00:00-24:00\"\n\
             autostart = true\nring_timeout_s = 10\nmax_concurrent = 2\n\
             rows = [{{number = \"+74951110001\", name = \"Ann\"}}, \
                     {{number = \"+74951110002\", name = \"Bob\"}}]\n"
        ),
    );
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 120,
            ..Default::default()
        },
    );
    // The person: detected as human, offered to the agent and bridged.
    let first = server
        .wait_event(60, |e| e.kind == "campaign.dial" && e.data["row"] == 0)
        .unwrap_or_else(|| panic!("first row dialled; log:\n{}", server.log_text()));
    let amd = server
        .wait_event(30, |e| e.kind == "campaign.amd" && e.call == first.call)
        .unwrap_or_else(|| panic!("detection; events {:#?}", server.events()));
    assert_eq!(amd.data["verdict"], "human", "{amd:?}");
    let bridged = server
        .wait_event(30, |e| e.kind == "call.bridge" && e.call == first.call)
        .unwrap_or_else(|| panic!("bridged to the agent; events {:#?}", server.events()));
    assert_eq!(bridged.agent, "1001");
    agent.command("hangup");
    let r1 = server
        .wait_event(30, |e| e.kind == "campaign.result" && e.call == first.call)
        .expect("first result");
    assert_eq!(r1.data["outcome"], "answered", "{r1:?}");

    // The machine: detected within 3 s of audio and hung up, no agent rung.
    let second = server
        .wait_event(60, |e| e.kind == "campaign.dial" && e.data["row"] == 1)
        .unwrap_or_else(|| panic!("second row dialled; events {:#?}", server.events()));
    let amd = server
        .wait_event(30, |e| e.kind == "campaign.amd" && e.call == second.call)
        .unwrap_or_else(|| panic!("detection; events {:#?}", server.events()));
    assert_eq!(amd.data["verdict"], "machine", "{amd:?}");
    eprintln!("machine detected after {} s of audio", amd.data["after_s"]);
    let after = amd.data["after_s"].as_f64().unwrap_or(99.0);
    assert!(after <= 3.0, "decided within 3 s of audio: {after}");
    let r2 = server
        .wait_event(30, |e| e.kind == "campaign.result" && e.call == second.call)
        .expect("second result");
    assert_eq!(r2.data["outcome"], "machine", "{r2:?}");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == second.call)
        .expect("the machine's call.end");
    assert_eq!(end.data["end_reason"], "answering_machine", "{end:?}");
    assert_eq!(end.data["disposition"], "not_answered", "{end:?}");
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.call == second.call && e.kind == "queue.offer"),
        "a machine is never offered to an agent"
    );
    let (status, traces) = carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "{traces}");

    // The report: one answered, one machine, nothing abandoned.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (status, body) = http_call(
        server.http,
        "GET",
        &format!(
            "/api/v1/reports/campaigns?from={}&to={}&interval=1d",
            now - 3600,
            now + 3600
        ),
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    let row = &v["rows"][0];
    assert_eq!(row["campaign"], "offers", "{v}");
    assert_eq!(row["queue"], "sales", "{v}");
    assert_eq!(row["dialled"], 2, "{v}");
    assert_eq!(row["answered"], 1, "{v}");
    assert_eq!(row["machine"], 1, "{v}");
    assert_eq!(row["abandoned"], 0, "{v}");
    // The campaign's pacer, in the API: one person answered of two dials, no abandon.
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/campaigns/offers",
        None,
        Some("demo-admin"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let c: serde_json::Value = serde_json::from_str(&body).expect("json");
    let pacing = &c["pacing"];
    assert_eq!(pacing["abandon_cap"], 0.03, "{c}");
    assert_eq!(pacing["window_abandoned"], 0, "{c}");
    assert_eq!(
        pacing["predictive"], false,
        "too few samples to dial ahead: {c}"
    );
    assert!(
        pacing["answer_rate"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r < 1.0),
        "{c}"
    );
    agent.quit();
}
