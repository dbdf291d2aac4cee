//! Post-call survey end to end: a caller (pjsua2) queues for `sales`, whose
//! `post_call_survey` names a dialplan; the agent (pjsua2) answers and hangs up first; the
//! caller stays, the survey dialplan collects a key (RFC 4733 from the caller's phone),
//! logged as `survey.answer` (`campaign` `queue:sales`) and counted by the campaign report;
//! the call's `call.end` is still the agent's answered call.

use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, scratch_dir, Server};

#[test]
fn the_caller_answers_the_queues_survey_after_the_agent_hangs_up() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let dialplans = scratch_dir("post-call-survey-dialplans");
    std::fs::write(
        dialplans.join("main.ivr"),
        "entry to \"100\" goto main\nblock main {\n    queue sales\n    hangup\n}\n",
    )
    .expect("write dialplan");
    std::fs::write(
        dialplans.join("survey.ivr"),
        "entry to \"sales\" goto rate\nblock rate {\n    collect rating digits 1 timeout 15s\n    hangup\n}\n",
    )
    .expect("write survey");
    let server = Server::start(
        "post-call-survey",
        &format!(
            "[ivr]\ndialplans = \"{}\"\n\
             [[queues]]\nname = \"sales\"\nmembers = [\"1001\"]\n\
             post_call_survey = \"survey\"\nsurvey_questions = [\"rating\"]\n",
            dialplans.display()
        ),
    );
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    assert!(
        agent.wait_event("registered", 20).is_some(),
        "agent registered"
    );
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951112233",
            ..Default::default()
        },
    );
    let bridged = server
        .wait_event(30, |e| e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("bridged; log:\n{}", server.log_text()));
    agent.command("hangup");
    server
        .wait_event(20, |e| {
            e.kind == "ivr.start" && e.call == bridged.call && e.data["dialplan"] == "survey"
        })
        .unwrap_or_else(|| panic!("survey started; events {:#?}", server.events()));
    caller.command("dtmf 4");
    let answer = server
        .wait_event(20, |e| e.kind == "survey.answer" && e.call == bridged.call)
        .unwrap_or_else(|| panic!("answered; events {:#?}", server.events()));
    assert_eq!(answer.data["campaign"], "queue:sales", "{answer:?}");
    assert_eq!(answer.data["question"], "rating", "{answer:?}");
    assert_eq!(answer.data["answer"], "4", "{answer:?}");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == bridged.call)
        .unwrap_or_else(|| panic!("ended; events {:#?}", server.events()));
    assert_eq!(end.data["disposition"], "answered", "{end:?}");
    assert_eq!(end.agent, "1001", "{end:?}");
    assert!(end.data["talk_s"].as_f64().is_some(), "{end:?}");

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
    assert_eq!(v["rows"][0]["campaign"], "queue:sales", "{v}");
    assert_eq!(v["rows"][0]["survey"], "rating: 4=1", "{v}");
    caller.quit();
    agent.quit();
}
