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

#[test]
fn a_caller_that_stops_refreshing_is_hung_up_when_its_session_expires() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("session-timer-silent", CONFIG);
    let out = sipp(
        "session_timer_silent.xml",
        server.sip,
        &["-s", "300", "-m", "1"],
        150,
    );
    assert!(
        out.status.success(),
        "SIPp failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    let start = server
        .wait_event(10, |e| {
            e.kind == "call.start" && e.data["caller"] == "+79995550190"
        })
        .expect("call.start");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == start.call)
        .expect("call.end");
    assert_eq!(end.data["end_reason"], "session_expired", "{end:?}");
    // The session lasted at least the refresh (5 s) plus the expiry (60 s): the engine did
    // not hang up early (event-log times, not a wall-clock margin of the test).
    let answer = server
        .events()
        .into_iter()
        .find(|e| e.call == start.call && e.kind == "call.answer")
        .expect("call.answer");
    assert!(
        end.ts_ms - answer.ts_ms >= 65_000,
        "ended {} ms after the answer",
        end.ts_ms - answer.ts_ms
    );
}

#[test]
fn the_engine_refreshes_when_the_caller_asks_it_to_and_the_call_outlives_the_interval() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("session-timer-uas", CONFIG);
    let out = sipp(
        "session_timer_uas.xml",
        server.sip,
        &["-s", "300", "-m", "1"],
        180,
    );
    assert!(
        out.status.success(),
        "SIPp failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    let start = server
        .wait_event(10, |e| {
            e.kind == "call.start" && e.data["caller"] == "+79995550192"
        })
        .expect("call.start");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == start.call)
        .expect("call.end");
    assert_eq!(end.data["end_reason"], "caller_hangup", "{end:?}");
    // SIPp answered two refreshes (45 s apart) before hanging up: the call lived past the
    // 90 s interval, where it would have ended after 60 s without them (event-log times).
    let answer = server
        .events()
        .into_iter()
        .find(|e| e.call == start.call && e.kind == "call.answer")
        .expect("call.answer");
    assert!(
        end.ts_ms - answer.ts_ms >= 90_000,
        "ended {} ms after the answer",
        end.ts_ms - answer.ts_ms
    );
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
