//! RFC 4028 session timers on the caller's leg against the real binary with SIPp: a caller
//! that offers `Session-Expires: 90;refresher=uac` gets it confirmed in the 200 (with
//! `Require: timer`) and in the 200 to its refresh; after that one refresh it goes silent,
//! and the engine ends the call with BYE, `end_reason` `session_expired`, once the session
//! has expired (60 s after the refresh), not before. An INVITE asking for less than our
//! Min-SE gets 422 with `Min-SE: 90`. A caller that asks the engine to refresh
//! (`refresher=uas`) gets re-INVITEs at half the interval, answers them, and its call
//! outlives the interval until it hangs up itself.

use switchboard_e2e::raw_sip::RawPhone;
use switchboard_e2e::{require_peer, sipp, sipp_trace, Server};

/// Calls stay in the media test dialplan (it waits for keys and never hangs up) and media
/// silence does not end them first.
const CONFIG: &str = "[ivr]\ndialplans = \"tests/dialplans-media\"\n[media]\nrtp_timeout = 600\n";

/// Runs SIPp scenario `scenario` as caller `caller` against a fresh server and returns
/// the call's `end_reason` and the event-log time from its answer to its end, in ms.
fn run_scenario(name: &str, scenario: &str, caller: &str, limit_s: u64) -> (String, i64) {
    let server = Server::start(name, CONFIG);
    let out = sipp(scenario, server.sip, &["-s", "300", "-m", "1"], limit_s);
    assert!(
        out.status.success(),
        "SIPp failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    let start = server
        .wait_event(10, |e| e.kind == "call.start" && e.data["caller"] == caller)
        .expect("call.start");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == start.call)
        .expect("call.end");
    let answer = server
        .events()
        .into_iter()
        .find(|e| e.call == start.call && e.kind == "call.answer")
        .expect("call.answer");
    let reason = end.data["end_reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (reason, end.ts_ms - answer.ts_ms)
}

#[test]
fn a_caller_that_stops_refreshing_is_hung_up_when_its_session_expires() {
    if !require_peer("sipp") {
        return;
    }
    let (reason, lived_ms) = run_scenario(
        "session-timer-silent",
        "session_timer_silent.xml",
        "+79995550190",
        150,
    );
    assert_eq!(reason, "session_expired");
    // The session lasted at least the refresh (5 s) plus the expiry (60 s): the engine did
    // not hang up early (event-log times, not a wall-clock margin of the test).
    assert!(lived_ms >= 65_000, "ended {lived_ms} ms after the answer");
}

#[test]
fn the_engine_refreshes_when_the_caller_asks_it_to_and_the_call_outlives_the_interval() {
    if !require_peer("sipp") {
        return;
    }
    let (reason, lived_ms) = run_scenario(
        "session-timer-uas",
        "session_timer_uas.xml",
        "+79995550192",
        180,
    );
    assert_eq!(reason, "caller_hangup");
    // SIPp answered two refreshes (45 s apart) before hanging up: the call lived past the
    // 90 s interval, where it would have ended after 60 s without them (event-log times).
    assert!(lived_ms >= 90_000, "ended {lived_ms} ms after the answer");
}

#[test]
fn an_interval_below_min_se_is_refused_with_422() {
    let server = Server::start("session-timer-422", CONFIG);
    let phone = RawPhone::bind("127.0.0.1", server.sip);
    let addr = phone.addr();
    phone.send(&format!(
        "INVITE sip:300@{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {addr};branch=z9hG4bK-se422;rport\r\n\
         From: <sip:+79995550191@{addr}>;tag=se422\r\n\
         To: <sip:300@{sip}>\r\n\
         Call-ID: se422@{addr}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{addr}>\r\n\
         Max-Forwards: 70\r\n\
         Supported: timer\r\n\
         Session-Expires: 60\r\n\
         Content-Length: 0\r\n\r\n",
        sip = server.sip
    ));
    let resp = phone
        .wait_response("1 INVITE", 10)
        .expect("an answer to the INVITE");
    assert_eq!(resp.status, 422, "{}", resp.text);
    assert_eq!(resp.header("Min-SE").as_deref().map(str::trim), Some("90"));
}
