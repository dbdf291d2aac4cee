//! An agent's own outbound call in the live calls API (issue 14): registered pjsua2 agent
//! 1001 dials +74951234567 through a SIPp carrier. While it lasts, `GET /api/v1/calls`
//! lists it with direction `outbound`, the agent, and the number dialled (whole for
//! admins and for 1001's own token, masked for supervisors); another agent's token and a
//! tenant's supervisor (the demo agents serve two tenants, so the call is no single
//! tenant's) do not see it. A transfer over the API is refused with 409 JSON; supervisor
//! 1005 listens in over the API (`supervisor.join`, the agent's 2 kHz tone in what the
//! supervisor hears, `supervisor.leave` when they hang up); a supervisor's hang-up ends
//! it (`api_hangup`, `by`), both legs get their BYE (bridged) or the ringing carrier its
//! CANCEL and the agent's phone 503 (dialling).

use serde_json::Value;
use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::outbound_fixture::{OutboundFixture, OUTSIDE_NUMBER};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, require_peer, scratch_dir, wait_for, LoggedEvent, Server};

fn api(server: &Server, method: &str, path: &str, body: Option<&str>, token: &str) -> (u16, Value) {
    let (status, text) = http_call(server.http, method, path, body, Some(token), None);
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, v)
}

/// The listed call `id` as `token` sees it, if it is listed for it.
fn listed(server: &Server, token: &str, id: &str) -> Option<Value> {
    let (status, list) = api(server, "GET", "/api/v1/calls", None, token);
    assert_eq!(status, 200, "{list}");
    list.as_array()?.iter().find(|c| c["id"] == id).cloned()
}

#[test]
fn an_agents_own_call_is_listed_supervised_and_hung_up() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let mut fixture = OutboundFixture::start("own-call-live-api", "");
    let mut agent = fixture.agent(
        &py,
        SoftphoneOpts {
            tone_hz: 2000,
            ..Default::default()
        },
    );
    let out = fixture.dial_out(&mut agent);
    let server = &fixture.server;
    let id = out.call.as_str();

    let sup = listed(server, "demo-supervisor", id)
        .unwrap_or_else(|| panic!("listed for a supervisor; events {:#?}", server.events()));
    assert_eq!(sup["direction"], "outbound", "{sup}");
    assert_eq!(sup["phase"], "bridged", "{sup}");
    assert_eq!(sup["agent"], "1001", "{sup}");
    assert_eq!(sup["caller"], "1001", "{sup}");
    assert_eq!(sup["dnis"], "+*******4567", "masked for supervisors: {sup}");
    assert_eq!(sup["queue"], Value::Null, "{sup}");
    assert!(sup["talk_s"].as_f64().is_some(), "{sup}");
    let admin = listed(server, "demo-admin", id).expect("listed for an admin");
    assert_eq!(admin["dnis"], OUTSIDE_NUMBER, "{admin}");
    let own = listed(server, "demo-agent-1001", id).expect("listed for its agent");
    assert_eq!(own["dnis"], OUTSIDE_NUMBER, "{own}");
    assert!(listed(server, "demo-agent-1002", id).is_none());
    assert!(listed(server, "demo-supervisor-acme", id).is_none());
    let (status, one) = api(
        server,
        "GET",
        &format!("/api/v1/calls/{id}"),
        None,
        "demo-supervisor",
    );
    assert_eq!(
        (status, one["direction"].as_str()),
        (200, Some("outbound")),
        "{one}"
    );

    // What makes no sense for it is refused with a clear 409 (or 404 out of scope).
    let (status, e) = api(
        server,
        "POST",
        &format!("/api/v1/calls/{id}/transfer"),
        Some(r#"{"queue": "sales"}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 409, "{e}");
    assert_eq!(e["code"], "call_state_conflict", "{e}");
    assert!(
        e["error"].as_str().is_some_and(|w| w.contains("REFER")),
        "{e}"
    );

    // A supervisor listens in: the placed call's bridge mixes the three parties.
    let dir = scratch_dir("own-call-live-api-supervisor");
    let mut boss = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1005", "secret-1005")),
            record: Some(dir.join("supervisor.wav")),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(boss.wait_event("registered", 20).is_some());
    let (status, ok) = api(
        server,
        "POST",
        &format!("/api/v1/calls/{id}/listen"),
        Some(r#"{"supervisor": "1005"}"#),
        "demo-supervisor",
    );
    assert_eq!(status, 202, "{ok}");
    assert!(
        boss.wait_event("incoming", 20).is_some(),
        "the supervisor is called"
    );
    let join = server
        .wait_event(20, |e| e.kind == "supervisor.join" && e.call == id)
        .unwrap_or_else(|| panic!("joined; events {:#?}", server.events()));
    assert_eq!(join.data["mode"], "listen", "{join:?}");
    let (_, view) = api(
        server,
        "GET",
        &format!("/api/v1/calls/{id}"),
        None,
        "demo-admin",
    );
    assert_eq!(view["supervisor"], "1005", "{view}");
    // No event says audio flowed: the supervisor's recording is checked after.
    std::thread::sleep(std::time::Duration::from_secs(3));
    boss.command("hangup");
    let leave = server
        .wait_event(15, |e| e.kind == "supervisor.leave" && e.call == id)
        .unwrap_or_else(|| panic!("left; events {:#?}", server.events()));
    assert_eq!(leave.data["reason"], "supervisor_hangup", "{leave:?}");
    boss.quit();
    let (heard, sr) = read_channel(&dir.join("supervisor.wav"), 0);
    let n = heard.len();
    let tail = &heard[n.saturating_sub(sr as usize * 2)..n.saturating_sub(sr as usize / 4)];
    let share = tone_share(tail, sr, 2000.0);
    eprintln!("2 kHz share the supervisor heard from the agent's own call: {share:.3}");
    assert!(share > 0.1, "the supervisor hears the call: {share:.3}");
    let (status, e) = api(
        server,
        "POST",
        &format!("/api/v1/calls/{id}/hangup"),
        None,
        "demo-supervisor-acme",
    );
    assert_eq!(status, 404, "another tenant's scope: {e}");

    let (status, done) = api(
        server,
        "POST",
        &format!("/api/v1/calls/{id}/hangup"),
        None,
        "demo-supervisor",
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["hung_up"], true, "{done}");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == id)
        .unwrap_or_else(|| panic!("call.end; log:\n{}", server.log_text()));
    assert_eq!(end.data["end_reason"], "api_hangup", "{end:?}");
    assert_eq!(end.data["by"], "demo-supervisor", "{end:?}");
    assert_eq!(end.data["disposition"], "outbound", "{end:?}");
    assert_eq!(end.agent, "1001", "{end:?}");
    assert!(
        agent.wait_event("disconnected", 20).is_some(),
        "1001 got its BYE"
    );
    let (status, traces) = fixture.carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "the carrier got its BYE: {traces}"
    );
    assert!(
        wait_for(10, || listed(server, "demo-admin", id)
            .is_none()
            .then_some(()))
        .is_some(),
        "no longer listed"
    );
    server
        .wait_event(15, |e| {
            e.kind == "agent.state"
                && e.agent == "1001"
                && e.data["state"] == "available"
                && e.id > end.id
        })
        .unwrap_or_else(|| panic!("1001 free again; events {:#?}", server.events()));
    agent.quit();
}

/// While the far end still rings: listed as `dialing`; the hang-up cancels the ringing
/// call (the carrier's scenario fails without the CANCEL) and the agent's phone hears 503.
#[test]
fn an_agents_own_call_hung_up_over_the_api_while_it_rings() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let port = free_udp_port();
    let server = Server::start(
        "own-call-live-api-ringing",
        &format!("[[trunks]]\nname = \"ringing\"\naddress = \"127.0.0.1:{port}\"\n"),
    );
    let mut carrier = SippCarrier::start("transfer_target_cancelled.xml", port, 1, 60);
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 60,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 20).is_some());
    agent.command(&format!("dial sip:{OUTSIDE_NUMBER}@{}", server.sip));
    let out: LoggedEvent = server
        .wait_event(20, |e| e.kind == "call.outbound")
        .unwrap_or_else(|| panic!("call.outbound; log:\n{}", server.log_text()));
    let id = out.call.as_str();
    let dialing = wait_for(10, || listed(&server, "demo-supervisor", id))
        .unwrap_or_else(|| panic!("listed while it rings; log:\n{}", server.log_text()));
    assert_eq!(dialing["phase"], "dialing", "{dialing}");
    assert_eq!(dialing["talk_s"], Value::Null, "{dialing}");
    let (status, done) = api(
        &server,
        "POST",
        &format!("/api/v1/calls/{id}/hangup"),
        None,
        "demo-admin",
    );
    assert_eq!(status, 200, "{done}");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == id)
        .unwrap_or_else(|| panic!("call.end; log:\n{}", server.log_text()));
    assert_eq!(end.data["end_reason"], "api_hangup", "{end:?}");
    assert_eq!(end.data["by"], "demo-admin", "{end:?}");
    assert_eq!(end.data["disposition"], "outbound_failed", "{end:?}");
    let gone = agent
        .wait_event("disconnected", 20)
        .expect("the agent's phone is answered");
    assert_eq!(gone["code"], 503, "{gone}");
    let (status, traces) = carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "the carrier got its CANCEL: {traces}"
    );
    agent.quit();
}
