//! Transfers to numbers at their edges (issue 14 item 2), against the real binary with a
//! raw SIP caller and SIPp as the carrier.
//!
//! A caller who hangs up while the transfer target rings cancels the ring: the caller reaches `tests/dialplans-session/session.ivr`, whose `transfer
//! external` dials a number through the carrier trunk, where SIPp rings without answering
//! (`transfer_target_cancelled.xml`: it fails unless a CANCEL comes). Once the target
//! rings the caller sends BYE; the target gets CANCEL (200, 487, ACK), and the event log
//! shows `transfer.fail` with reason `caller_hangup` before `call.end` `caller_hangup`.
//!
//! Transfers to numbers count against the dial caps: with `max_per_hour = 1`, the first
//! transfer is dialled (the carrier answers 503: `no_answer`), the second is refused
//! (`call.refused` `hourly_cap`, purpose `transfer`) without an INVITE, and both callers go
//! to the dialplan's fallback queue.

use std::time::{Duration, Instant};

use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::raw_sip::RawPhone;
use switchboard_e2e::{require_peer, Server};

const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                   m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n";

/// Calls 400 from `caller` and ACKs the 200: the INVITE sent and the To tag.
fn call_in(
    phone: &mut RawPhone,
    caller: &str,
    call_id: &str,
) -> (switchboard_e2e::raw_sip::InviteSent, String) {
    let (inv, resp) = phone.invite(caller, "400", call_id, SDP, "");
    let resp = resp.expect("an answer to the INVITE");
    assert_eq!(resp.status, 200, "{}", resp.text);
    let to_tag = resp.to_tag().expect("to tag");
    phone.in_dialog(&inv, "ACK", &to_tag, &inv.from_tag.clone(), inv.cseq);
    (inv, to_tag)
}

#[test]
fn a_caller_hanging_up_while_the_target_rings_cancels_the_target() {
    if !require_peer("sipp") {
        return;
    }
    let port = free_udp_port();
    let server = Server::start(
        "transfer-cancel",
        &format!(
            "[ivr]\ndialplans = \"tests/dialplans-session\"\n[media]\nrtp_timeout = 600\n\
             [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n"
        ),
    );
    let mut carrier = SippCarrier::start("transfer_target_cancelled.xml", port, 1, 90);
    let mut phone = RawPhone::bind("127.0.0.1", server.sip);
    let (inv, to_tag) = call_in(&mut phone, "+79995550194", "xfer-cancel-1");
    let from_tag = inv.from_tag.clone();
    let dial = server
        .wait_event(20, |e| e.kind == "transfer.dial")
        .unwrap_or_else(|| panic!("transfer.dial; events {:#?}", server.events()));
    // The target rings: SIPp has sent its 180 (its message log says so).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !carrier.traces().contains("SIP/2.0 180 Ringing") {
        assert!(
            Instant::now() < deadline,
            "the target never rang: {}\nserver log:\n{}",
            carrier.traces(),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    phone.in_dialog(&inv, "BYE", &to_tag, &from_tag, inv.cseq + 1);
    let (status, traces) = carrier.wait(40);
    assert!(
        status.is_some_and(|s| s.success()),
        "the target was not cancelled ({status:?}): {traces}\nserver log:\n{}",
        server.log_text()
    );
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == dial.call)
        .expect("call.end");
    assert_eq!(end.data["end_reason"], "caller_hangup");
    let fail = server
        .events()
        .into_iter()
        .find(|e| e.kind == "transfer.fail" && e.call == dial.call)
        .unwrap_or_else(|| panic!("transfer.fail; events {:#?}", server.events()));
    assert_eq!(fail.data["reason"], "caller_hangup");
    assert_eq!(fail.data["target"], "+74951234567");
    assert!(fail.id < end.id, "transfer.fail comes before call.end");
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.kind == "transfer.answer" && e.call == dial.call),
        "nothing was answered"
    );
}

#[test]
fn transfers_to_numbers_count_against_the_hourly_dial_cap() {
    if !require_peer("sipp") {
        return;
    }
    let port = free_udp_port();
    let server = Server::start(
        "transfer-caps",
        &format!(
            "[ivr]\ndialplans = \"tests/dialplans-session\"\n[media]\nrtp_timeout = 600\n\
             [dial_policy]\nmax_per_hour = 1\n\
             [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n"
        ),
    );
    let mut carrier = SippCarrier::start("carrier_503.xml", port, 1, 60);
    let mut phone = RawPhone::bind("127.0.0.1", server.sip);
    let mut calls = Vec::new();
    for (caller, call_id) in [
        ("+79995550195", "xfer-caps-1"),
        ("+79995550196", "xfer-caps-2"),
    ] {
        let (inv, to_tag) = call_in(&mut phone, caller, call_id);
        let start = server
            .wait_event(20, |e| e.kind == "call.start" && e.data["caller"] == caller)
            .expect("call.start");
        let fail = server
            .wait_event(30, |e| e.kind == "transfer.fail" && e.call == start.call)
            .unwrap_or_else(|| panic!("transfer.fail; events {:#?}", server.events()));
        assert_eq!(fail.data["fallback_queue"], "support", "{fail:?}");
        server
            .wait_event(10, |e| e.kind == "queue.join" && e.call == start.call)
            .expect("the caller waits in the fallback queue");
        calls.push((inv, to_tag, start.call, fail));
    }
    // The first was dialled: the carrier got its INVITE (and answered 503).
    let (status, traces) = carrier.wait(20);
    assert!(status.is_some_and(|s| s.success()), "{traces}");
    assert_eq!(calls[0].3.data["reason"], "no_answer");
    assert_eq!(calls[1].3.data["reason"], "refused");
    let refused = server
        .events()
        .into_iter()
        .filter(|e| e.kind == "call.refused")
        .collect::<Vec<_>>();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0].call, calls[1].2);
    assert_eq!(refused[0].data["reason"], "hourly_cap");
    assert_eq!(refused[0].data["purpose"], "transfer");
    assert_eq!(refused[0].data["number"], "+74951234567");
    for (inv, to_tag, call, _) in &calls {
        phone.in_dialog(inv, "BYE", to_tag, &inv.from_tag.clone(), inv.cseq + 1);
        server
            .wait_event(10, |e| e.kind == "call.end" && e.call == *call)
            .expect("call.end");
    }
}
