//! UPDATE (RFC 3311) from a caller mid-call, against the real binary with SIPp
//! (`tests/scenarios/update_mid_call.xml`): the engine's 200 to the INVITE lists UPDATE in
//! `Allow`; a bodiless UPDATE (an RFC 4028 session refresh) gets 200 with
//! `Session-Expires`; an UPDATE whose offer holds the call gets an SDP answer (recvonly)
//! and the call logs `call.hold`, the one that resumes it `call.resume`; the call ends
//! when the caller hangs up.

use switchboard_e2e::{require_peer, sipp, sipp_trace, Server};

/// The call stays in the media test dialplan (it waits for keys and never hangs up).
const CONFIG: &str = "[ivr]\ndialplans = \"tests/dialplans-media\"\n[media]\nrtp_timeout = 600\n";

#[test]
fn a_callers_update_refreshes_the_session_and_its_offers_hold_and_resume_the_call() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("sip-update", CONFIG);
    let out = sipp(
        "update_mid_call.xml",
        server.sip,
        &["-s", "300", "-m", "1"],
        60,
    );
    assert!(
        out.status.success(),
        "SIPp failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    let start = server
        .wait_event(10, |e| {
            e.kind == "call.start" && e.data["caller"] == "+79995550195"
        })
        .expect("call.start");
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == start.call)
        .expect("call.end");
    assert_eq!(end.data["end_reason"], "caller_hangup", "{end:?}");
    let kinds: Vec<String> = server
        .events()
        .into_iter()
        .filter(|e| e.call == start.call && e.kind.starts_with("call.") && e.kind != "call.start")
        .map(|e| e.kind)
        .collect();
    let held = kinds.iter().position(|k| k == "call.hold");
    let resumed = kinds.iter().position(|k| k == "call.resume");
    assert!(
        matches!((held, resumed), (Some(h), Some(r)) if h < r),
        "the UPDATE offers held then resumed the call: {kinds:?}"
    );
    let resume = server
        .events()
        .into_iter()
        .find(|e| e.call == start.call && e.kind == "call.resume")
        .expect("call.resume");
    assert_eq!(resume.data["party"], "caller", "{resume:?}");
}
