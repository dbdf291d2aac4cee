//! RFC 4028 session timers on a leg the engine originates, against the real binary: a
//! caller (SIPp, no timer of its own) reaches `tests/dialplans-session/session.ivr`, whose
//! `transfer external` dials a number through the carrier trunk, where SIPp plays the
//! callee. The engine's INVITE offers a timer; the callee's 200 decides who refreshes.
//!
//! - `refresher=uas` and silence: the callee's session expires 60 s (90 - min(32, 30))
//!   after its answer and the engine ends both legs with BYE, `end_reason`
//!   `session_expired` (both SIPp scenarios fail unless their BYE comes).
//! - `refresher=uac`: the engine refreshes with UPDATE at 45 s and 90 s (the callee
//!   checks each one's `Session-Expires`), and the call lives past the 90 s interval
//!   until the caller hangs up (`caller_hangup`).

use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::{require_peer, sipp, sipp_trace, Server};

/// Runs one call: the callee plays `callee` on the trunk, the caller `caller` with `args`.
/// Returns the call's `end_reason` and the event-log time from the callee's answer
/// (`transfer.answer`) to the call's end, in ms.
fn run_call(name: &str, callee: &str, caller: &str, args: &[&str], limit_s: u64) -> (String, i64) {
    let port = free_udp_port();
    let server = Server::start(
        name,
        &format!(
            "[ivr]\ndialplans = \"tests/dialplans-session\"\n[media]\nrtp_timeout = 600\n\
             [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n"
        ),
    );
    let mut carrier = SippCarrier::start(callee, port, 1, limit_s);
    let mut caller_args = vec!["-s", "400", "-m", "1"];
    caller_args.extend_from_slice(args);
    let out = sipp(caller, server.sip, &caller_args, limit_s);
    let (status, traces) = carrier.wait(20);
    assert!(
        out.status.success(),
        "the caller's SIPp failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "the callee's SIPp failed ({status:?}): {traces}\nserver log:\n{}",
        server.log_text()
    );
    let answer = server
        .wait_event(10, |e| {
            e.kind == "transfer.answer" && e.data["to"] == "number"
        })
        .unwrap_or_else(|| panic!("transfer.answer; events {:#?}", server.events()));
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == answer.call)
        .expect("call.end");
    let reason = end.data["end_reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (reason, end.ts_ms - answer.ts_ms)
}

#[test]
fn a_callee_that_should_refresh_and_goes_silent_ends_the_call_when_its_session_expires() {
    if !require_peer("sipp") {
        return;
    }
    let (reason, lived_ms) = run_call(
        "session-out-silent",
        "session_callee_silent.xml",
        "session_caller_waits.xml",
        &[],
        180,
    );
    assert_eq!(reason, "session_expired");
    // Not before the expiry, 60 s after the callee's 200 (event-log times).
    assert!(lived_ms >= 60_000, "ended {lived_ms} ms after the answer");
}

#[test]
fn the_engine_refreshes_a_callee_that_leaves_it_the_refresher_role() {
    if !require_peer("sipp") {
        return;
    }
    let (reason, lived_ms) = run_call(
        "session-out-refreshed",
        "session_callee_refreshed.xml",
        "call_answered.xml",
        &["-d", "110000"],
        200,
    );
    assert_eq!(reason, "caller_hangup");
    // The callee answered two UPDATE refreshes and the call lived past the 90 s interval,
    // where it would have ended after 60 s without them (event-log times).
    assert!(lived_ms >= 90_000, "ended {lived_ms} ms after the answer");
}
