//! Per-trunk call limits in both directions (issue 12, item 4), against the real binary on
//! loopback. `carrier-a` (`inbound = true`, `max_calls = 1`) brings a call in from
//! 127.0.0.1 over UDP: while that call is up, a second INVITE from the same trunk gets 503
//! with Retry-After and a `trunk.refused` event, and a callback the ACD places at that
//! moment skips `carrier-a` (another `trunk.refused`) and goes out through `carrier-b`.
//! A customer's earlier call through `carrier-a`, ended, gave its slot back.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use switchboard_e2e::carrier::free_udp_port;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::raw_sip::RawPhone;
use switchboard_e2e::Server;

fn offer(media: std::net::SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = media.ip(),
        port = media.port()
    )
}

#[test]
fn a_trunk_at_max_calls_refuses_a_second_inbound_call_and_outbound_dials_fail_over() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // carrier-b: a socket that only has to see the INVITE arrive.
    let port_b = free_udp_port();
    let carrier_b = UdpSocket::bind(("127.0.0.1", port_b)).expect("carrier-b socket");
    carrier_b
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let server = Server::start(
        "trunk-limits",
        &format!(
            "[sip]\ntrusted_trunks = []\n\
             [[trunks]]\nname = \"carrier-a\"\naddress = \"127.0.0.1:5999\"\ninbound = true\n\
             max_calls = 1\npriority = 1\n\
             [[trunks]]\nname = \"carrier-b\"\naddress = \"127.0.0.1:{port_b}\"\npriority = 2\n"
        ),
    );

    // A customer calls in through carrier-a, queues, asks for a callback (1, then 5 in
    // demo.ivr) and hangs up: the call took carrier-a's one slot and gives it back.
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951234567",
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("media", 20).is_some(),
        "the trunk's first call is answered; log:\n{}",
        server.log_text()
    );
    caller.command("dtmf 1");
    let announce = server
        .wait_event(30, |e| e.kind == "queue.announce")
        .unwrap_or_else(|| panic!("queued; events {:#?}", server.events()));
    caller.command("dtmf 5");
    assert!(server
        .wait_event(10, |e| e.kind == "queue.callback_requested"
            && e.call == announce.call)
        .is_some());
    assert!(caller.wait_event("disconnected", 20).is_some());
    caller.quit();
    server
        .wait_event(10, |e| e.kind == "call.end" && e.call == announce.call)
        .expect("the customer's call ended");

    // Another call through carrier-a takes the slot again...
    let media = UdpSocket::bind("127.0.0.1:0").expect("media");
    let sdp = offer(media.local_addr().expect("addr"));
    let mut first = RawPhone::bind("127.0.0.1", server.sip);
    let (inv, resp) = first.invite("+74950000001", "100", "limit-first", &sdp, "");
    let resp = resp.expect("a final response");
    assert_eq!(
        resp.status,
        200,
        "the slot was given back: {}\nlog:\n{}",
        resp.text,
        server.log_text()
    );
    first.in_dialog(
        &inv,
        "ACK",
        &resp.to_tag().unwrap_or_default(),
        &inv.from_tag,
        inv.cseq,
    );

    // ...so a second simultaneous one is refused with 503 and Retry-After.
    let mut second = RawPhone::bind("127.0.0.1", server.sip);
    let (inv2, resp2) = second.invite("+74950000002", "100", "limit-second", &sdp, "");
    let resp2 = resp2.expect("a final response");
    assert_eq!(resp2.status, 503, "{}", resp2.text);
    assert!(
        resp2.header("Retry-After").is_some(),
        "503 says when to retry: {}",
        resp2.text
    );
    second.ack_failure(&inv2, &resp2);
    let refused = server
        .wait_event(10, |e| {
            e.kind == "trunk.refused" && e.data["trunk"] == "carrier-a"
        })
        .unwrap_or_else(|| panic!("trunk.refused; events {:#?}", server.events()));
    assert_eq!(refused.data["reason"], "max_calls");

    // An agent appears: the ACD places the callback while carrier-a is full, so the
    // customer's leg skips it and goes to carrier-b.
    let _agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    let cb = server
        .wait_event(40, |e| {
            e.kind == "call.start" && e.data["callback_for"] == announce.call.as_str()
        })
        .unwrap_or_else(|| panic!("callback placed; events {:#?}", server.events()));
    let skipped = server
        .wait_event(30, |e| {
            e.kind == "trunk.refused" && e.call == cb.call && e.data["trunk"] == "carrier-a"
        })
        .unwrap_or_else(|| panic!("carrier-a skipped; log:\n{}", server.log_text()));
    assert_eq!(skipped.data["reason"], "max_calls");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = vec![0u8; 65536];
    let invite = loop {
        assert!(
            Instant::now() < deadline,
            "no INVITE reached carrier-b; log:\n{}",
            server.log_text()
        );
        if let Ok((n, _)) = carrier_b.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if text.starts_with("INVITE ") {
                break text;
            }
        }
    };
    assert!(
        invite.contains("74951234567"),
        "the callback dials the customer: {invite}"
    );
    let (_, body) = server.http_get("/api/v1/trunks");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["trunks"][0]["active_calls"], 1, "carrier-a: {body}");
    assert_eq!(v["trunks"][0]["refused"]["max_calls"], 2, "{body}");
}
