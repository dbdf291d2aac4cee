//! The harness's SIPp carrier says when it could not start. SIPp given `-mp P` binds `P` and
//! `P + 2` and exits at once if either is taken; before, the harness went on and the test
//! waited for a call the dead carrier never answered (the flaky
//! `campaign_amd_actions::a_machine_goes_to_an_agent…`: no `campaign.amd` within 30 s).

use switchboard_e2e::carrier::{free_media_port, free_udp_port, SippCarrier};
use switchboard_e2e::require_peer;

#[test]
fn a_carrier_whose_media_port_is_taken_fails_at_start_with_sipps_error() {
    if !require_peer("sipp") {
        return;
    }
    let media = free_media_port();
    let _taken = std::net::UdpSocket::bind(("127.0.0.1", media + 2)).expect("bind P + 2");
    let mp = media.to_string();
    let started = std::panic::catch_unwind(|| {
        SippCarrier::start_with("carrier_amd.xml", free_udp_port(), 1, 30, &["-mp", &mp])
    });
    let err = started.err().expect("the start fails");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("exited at start"), "{msg}");
    assert!(
        msg.contains("Unable to bind"),
        "SIPp's own reason is shown: {msg}"
    );
}

#[test]
fn a_carrier_with_its_own_media_port_binds_both_media_sockets() {
    if !require_peer("sipp") {
        return;
    }
    let (mut carrier, media) =
        SippCarrier::start_with_media("carrier_amd.xml", free_udp_port(), 1, 30, &[]);
    assert_eq!(media % 2, 0, "even audio port");
    // Both of SIPp's media ports are taken now (by SIPp: it is still running).
    for p in [media, media + 2] {
        assert!(
            std::net::UdpSocket::bind(("127.0.0.1", p)).is_err(),
            "port {p} bound by SIPp"
        );
    }
    let (status, _) = carrier.wait(0);
    assert!(status.is_none(), "SIPp still runs: {status:?}");
}
