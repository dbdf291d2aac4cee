//! Toll fraud through callbacks (issue 12, item 3): a caller whose number is premium-rate
//! asks for a callback. The engine refuses it (`call.refused`, a metric), keeps the caller
//! in the queue, and sends nothing to the outbound trunk. pjsua2 plays caller and agent;
//! the trunk is a UDP socket owned by the test.

use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::Server;

#[test]
fn a_premium_rate_caller_gets_no_callback_and_keeps_the_place() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let trunk = std::net::UdpSocket::bind("127.0.0.1:0").expect("trunk socket");
    trunk.set_nonblocking(true).unwrap();
    let server = Server::start(
        "dial-policy",
        &format!(
            "[sip]\noutbound_trunk = \"{}\"\n",
            trunk.local_addr().unwrap()
        ),
    );
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+78095551234",
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some(), "caller answered");
    caller.command("dtmf 1");
    let join = server
        .wait_event(30, |e| e.kind == "queue.join")
        .unwrap_or_else(|| panic!("queued; events {:#?}", server.events()));
    caller.command("dtmf 5");
    let refused = server
        .wait_event(15, |e| e.kind == "call.refused" && e.call == join.call)
        .unwrap_or_else(|| panic!("refusal logged; events {:#?}", server.events()));
    assert_eq!(refused.data["reason"], "premium_rate");
    assert_eq!(refused.data["purpose"], "callback");
    assert!(
        server
            .events()
            .iter()
            .all(|e| e.kind != "queue.callback_requested"),
        "no callback entry was made"
    );
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("switchboard_dial_refused_total{reason=\"premium_rate\"} 1"),
        "{metrics}"
    );

    // The caller kept the place: the first agent to log in is offered this very call.
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    assert!(
        agent.wait_event("incoming", 30).is_some(),
        "agent offered the call"
    );
    let bridged = server
        .wait_event(20, |e| e.kind == "call.bridge" && e.call == join.call)
        .unwrap_or_else(|| panic!("bridged; events {:#?}", server.events()));
    assert_eq!(bridged.agent, "1001");
    caller.command("hangup");
    assert!(server
        .wait_event(15, |e| e.kind == "call.end" && e.call == join.call)
        .is_some());
    caller.quit();
    agent.quit();

    // Nothing ever reached the outbound trunk.
    let mut buf = [0u8; 2048];
    let got = trunk.recv_from(&mut buf);
    assert!(
        got.is_err(),
        "the trunk received {:?}",
        got.map(|(n, _)| String::from_utf8_lossy(&buf[..n]).to_string())
    );
}
