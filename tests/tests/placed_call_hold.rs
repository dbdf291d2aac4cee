//! In-dialog requests on a call the engine places (decision 0042, answered by the call
//! flow as an inbound call's are): a registered pjsua2 agent dials an outside number
//! through a carrier trunk that SIPp plays, then holds and resumes the answered call. The
//! agent's re-INVITEs are answered (pjsua reports the hold sent and taken back), the log
//! has `call.hold` and `call.resume` naming the agent on the outbound call, and the CDR's
//! `hold_s` is the time between them.

use switchboard_e2e::outbound_fixture::OutboundFixture;
use switchboard_e2e::peers::{python_with_pjsua2, SoftphoneOpts};
use switchboard_e2e::require_peer;

#[test]
fn an_agent_holds_and_resumes_their_own_outbound_call() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let mut fixture = OutboundFixture::start("placed-call-hold", "");
    let server = &fixture.server;
    let mut agent = fixture.agent(&py, SoftphoneOpts::default());
    let out = fixture.dial_out(&mut agent);
    assert!(agent.wait_event("media", 20).is_some(), "agent's media up");

    agent.command("hold");
    assert!(
        agent.wait_event("hold-sent", 10).is_some(),
        "pjsua's hold re-INVITE was answered"
    );
    let hold = server
        .wait_event(10, |e| e.kind == "call.hold" && e.call == out.call)
        .unwrap_or_else(|| panic!("call.hold; events {:#?}", server.events()));
    assert_eq!(hold.data["party"], "agent", "{hold:?}");
    assert_eq!(hold.agent, "1001");
    agent.command("unhold");
    assert!(
        agent.wait_event("unhold-sent", 10).is_some(),
        "pjsua's resume re-INVITE was answered"
    );
    let resume = server
        .wait_event(10, |e| e.kind == "call.resume" && e.call == out.call)
        .unwrap_or_else(|| panic!("call.resume; events {:#?}", server.events()));
    assert_eq!(resume.data["party"], "agent", "{resume:?}");
    assert!(resume.data["held_s"].as_f64().is_some_and(|h| h > 0.0));

    fixture.hang_up(&mut agent, &out);
    let (status, traces) = fixture.carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "carrier: {traces}");

    // The CDR's hold_s is the time between the two events.
    let cdr = server.export("cdr");
    let mut lines = cdr.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r.first() == Some(&out.call.as_str()))
        .unwrap_or_else(|| panic!("no CDR row for {}: {cdr}", out.call));
    let cdr_hold: f64 = row[col("hold_s")].parse().expect("hold_s");
    let by_events = (resume.ts_ms - hold.ts_ms) as f64 / 1000.0;
    assert!(
        cdr_hold > 0.0 && (cdr_hold - by_events).abs() < 0.0015,
        "CDR {cdr_hold} vs events {by_events}"
    );
    agent.quit();
}
