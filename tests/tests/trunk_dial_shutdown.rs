//! A trunk dial cut short by the server stopping is not a carrier failure (issue 14): a
//! web callback rings agent 1001 (pjsua2), then dials the customer through trunk
//! `first` (SIPp: 180 Ringing, never answers). The server is told to stop twice (drain,
//! then end the calls): the ringing trunk call ends on our side, and the dial ends with
//! it: the callback's `call.end` says `shutdown` (not a carrier's `failed 500`), and no
//! other carrier is dialled: trunk `second` (a bare UDP socket of the test, tried after
//! `first`) never gets an INVITE.

use switchboard_e2e::carrier::SippCarrier;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{require_peer, Server};

#[test]
fn a_shutdown_during_a_trunk_dial_ends_it_without_failing_over() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let first_port = switchboard_e2e::carrier::free_udp_port();
    let second = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut server = Server::start(
        "trunk-dial-shutdown",
        &format!(
            "[[trunks]]\nname = \"first\"\naddress = \"127.0.0.1:{first_port}\"\npriority = 1\n\
             [[trunks]]\nname = \"second\"\naddress = \"{}\"\npriority = 2\n",
            second.local_addr().unwrap()
        ),
    );
    let carrier = SippCarrier::start("transfer_target_cancelled.xml", first_port, 1, 60);
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
    let (_, placed) = server.place_web_callback("sales", "+74951234567");
    // The agent answered; the customer's trunk call rings (SIPp sent its 180).
    assert!(
        agent.wait_event("media", 30).is_some(),
        "the agent answered"
    );
    let ringing = switchboard_e2e::wait_for(30, || {
        carrier
            .traces()
            .contains("SIP/2.0 180 Ringing")
            .then_some(())
    });
    assert!(
        ringing.is_some(),
        "the customer's call rings: {}",
        carrier.traces()
    );

    // Drain, then end the calls now.
    server.signal("TERM");
    server
        .wait_event(10, |e| e.kind == "system.draining")
        .unwrap_or_else(|| panic!("draining; log:\n{}", server.log_text()));
    server.signal("TERM");
    assert!(server.wait_exit(60).is_some(), "the server stopped");
    let end = server
        .events()
        .into_iter()
        .find(|e| e.kind == "call.end" && e.call == placed.call)
        .unwrap_or_else(|| panic!("the callback's call.end; log:\n{}", server.log_text()));
    assert_eq!(end.data["end_reason"], "shutdown", "{end:?}");
    assert_eq!(
        end.data["detail"], "shutdown",
        "not a carrier failure: {end:?}"
    );
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.kind == "trunk.failover" && e.call == placed.call),
        "no failover"
    );
    second.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        second.recv_from(&mut buf).is_err(),
        "the second carrier got no INVITE: {}",
        String::from_utf8_lossy(&buf)
    );
    agent.quit();
}
