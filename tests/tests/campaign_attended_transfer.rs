//! Attended transfer by the agent of a campaign call (issue 14, item 2; decision 0035
//! amended): a progressive campaign dials a callee through a SIPp carrier and bridges the
//! answered callee to pjsua2 agent 1001; 1001 consults colleague 1004 through the support
//! queue and REFERs the callee to that consultation (REFER with Replaces). Before, the
//! engine answered 501 and the callee stayed with 1001. Now the callee is bridged to 1004:
//! `call.transfer` (attended, to 1004) on the campaign call, the consultation ends
//! `transferred`, the callee and 1004 hear each other (tones checked), and when 1004 hangs
//! up the campaign call ends `agent_hangup` under 1004 and the carrier gets its BYE.

use std::time::Duration;

use switchboard_e2e::audio::{best_tone_share, read_channel};
use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::peers::python_with_pjsua2;
use switchboard_e2e::rtp_sink::RtpSink;
use switchboard_e2e::transfer_peers::{colleague, consult, first_agent, transfer_to_consultation};
use switchboard_e2e::{require_peer, scratch_dir, Server};

#[test]
fn a_campaign_calls_agent_hands_the_callee_to_a_consulted_colleague() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    // The callee talks back with 1 kHz; 1001 sends 2 kHz, 1004 3 kHz.
    let sink = RtpSink::start_answering(Some(1000.0));
    let port = free_udp_port();
    let dir = scratch_dir("campaign-attended-phones");
    let mut carrier = SippCarrier::start_with(
        "carrier_campaign.xml",
        port,
        1,
        120,
        &["-set", "rtp", &sink.port.to_string()],
    );
    let server = Server::start(
        "campaign-attended",
        &format!(
            "[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{port}\"\n\
             [[campaigns]]\nname = \"renewals\"\nkind = \"progressive\"\nqueue = \"sales\"\n\
             window = \"00:00-24:00\"\ncaller_id = \"+74951230000\"\n\
             autostart = true\nring_timeout_s = 10\n\
             rows = [{{number = \"+74951110001\", name = \"Ann\"}}]\n"
        ),
    );
    let mut first = first_agent(&py, &server);
    let dial = server
        .wait_event(60, |e| e.kind == "campaign.dial")
        .unwrap_or_else(|| panic!("dialled; log:\n{}", server.log_text()));
    let x = dial.call;
    server
        .wait_event(60, |e| e.kind == "call.connected" && e.call == x)
        .unwrap_or_else(|| panic!("callee bridged to 1001; events {:#?}", server.events()));
    // The colleague logs in only now (the campaign's one row went to 1001).
    let mut second = colleague(&py, &server, &dir);
    server
        .wait_event(20, |e| {
            e.kind == "agent.state" && e.agent == "1004" && e.data["state"] == "available"
        })
        .expect("1004 available");
    let y = consult(&server, &mut first, &x);
    transfer_to_consultation(&server, &mut first, &x, &y);
    // The first agent's two dialogs (campaign leg and consultation) are hung up.
    for _ in 0..2 {
        assert!(
            first.wait_new_event("disconnected", 10).is_some(),
            "1001 gets BYE on both calls; log:\n{}",
            server.log_text()
        );
    }
    // Callee and colleague talk for a while, then the colleague hangs up.
    std::thread::sleep(Duration::from_secs(3));
    second.command("hangup");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == x)
        .unwrap_or_else(|| panic!("campaign call ended; log:\n{}", server.log_text()));
    assert_eq!(end.agent, "1004", "{end:?}");
    assert_eq!(end.data["disposition"], "answered", "{end:?}");
    assert_eq!(end.data["end_reason"], "agent_hangup", "{end:?}");
    let (status, traces) = carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "the callee got its BYE: {traces}"
    );
    first.quit();
    second.quit();
    // The callee heard the colleague's 3 kHz, the colleague the callee's 1 kHz.
    let to_callee = sink
        .finish()
        .iter()
        .map(|pcm| best_tone_share(pcm, 8000, 3000.0))
        .fold(0.0, f64::max);
    let (rec, sr) = read_channel(&dir.join("second.wav"), 0);
    let to_colleague = best_tone_share(&rec, sr, 1000.0);
    eprintln!("callee heard 1004's 3 kHz: {to_callee:.3}; 1004 heard the callee's 1 kHz: {to_colleague:.3}");
    assert!(
        to_callee > 0.3,
        "the callee heard the colleague: {to_callee}"
    );
    assert!(
        to_colleague > 0.3,
        "the colleague heard the callee: {to_colleague}"
    );
}
