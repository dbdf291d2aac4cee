//! INVITE authentication and dialog-matched requests (issue 12, item 1), against the real
//! binary on loopback with pjsua2 phones and raw SIP sockets the test owns:
//!
//! - a supervision INVITE forged from the supervisor's registered source address (no
//!   credentials) gets 407, and the SDP address it names receives no RTP; a blind ACK
//!   (guessed To tag) confirms nothing and is counted, a blind BYE gets 481, and the live
//!   call it aimed at continues;
//! - wrong passwords get 407 again until the source is locked (403), while the real
//!   supervisor, a pjsua2 phone on another address, answers the challenge and listens in,
//!   logged under the user it authenticated as.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use switchboard_e2e::hostile::metric;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::raw_sip::{digest_credentials, RawPhone};
use switchboard_e2e::{scratch_dir, Server};

/// An SDP offer whose media address is `victim`.
fn offer_to(victim: std::net::SocketAddr) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
        ip = victim.ip(),
        port = victim.port()
    )
}

/// Packets `sock` receives within `window`.
fn packets_within(sock: &UdpSocket, window: Duration) -> usize {
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let end = Instant::now() + window;
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while Instant::now() < end {
        if sock.recv_from(&mut buf).is_ok() {
            n += 1;
        }
    }
    n
}

#[test]
fn forged_supervision_gets_407_and_no_media_blind_requests_fail_and_the_real_supervisor_listens() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(
        "hardening-invite-auth",
        "[limits]\nregister_max_failures = 3\n",
    );
    let dir = scratch_dir("invite-auth-phones");
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 15).is_some());
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            record: Some(dir.join("caller.wav")),
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some());
    caller.command("dtmf 1");
    let call = server
        .wait_event(30, |e| e.kind == "call.connected" && e.agent == "1001")
        .unwrap_or_else(|| panic!("connected; events {:#?}", server.events()))
        .call;

    // The supervisor's phone, as far as the server knows: 1005 registered from this socket.
    let mut forger = RawPhone::bind("127.0.0.1", server.sip);
    assert_eq!(forger.register("1005", "secret-1005"), 200);
    let victim = UdpSocket::bind("127.0.0.1:0").expect("victim socket");
    let victim_addr = victim.local_addr().expect("addr");

    // (a) A listen INVITE from exactly that source, without credentials: 407, no call.
    let (inv, resp) = forger.invite(
        "1005",
        "listen-1001",
        "forged-1",
        &offer_to(victim_addr),
        "",
    );
    let resp = resp.expect("a final response to the forged INVITE");
    assert_eq!(resp.status, 407, "{}", resp.text);
    let challenge = resp
        .header("Proxy-Authenticate")
        .expect("Proxy-Authenticate");
    assert!(challenge.starts_with("Digest "), "{challenge}");
    forger.ack_failure(&inv, &resp);
    // (b) A blind ACK as if a 2xx had been sent (a guessed To tag), and blind BYEs.
    forger.in_dialog(&inv, "ACK", "guessed-tag", &inv.from_tag, inv.cseq);
    forger.in_dialog(&inv, "BYE", "guessed-tag", &inv.from_tag, inv.cseq + 1);
    let bye = forger
        .wait_response(&format!("{} BYE", inv.cseq + 1), 5)
        .expect("an answer to the blind BYE");
    assert_eq!(bye.status, 481, "{}", bye.text);
    let received = packets_within(&victim, Duration::from_secs(4));
    assert_eq!(received, 0, "the forged SDP address got {received} packets");
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.kind == "supervisor.join" && e.call == call),
        "the forged INVITE joined the call"
    );
    let stray = metric(&server, "switchboard_sip_stray_acks_total").unwrap_or(0.0);
    assert!(stray >= 1.0, "the blind ACK was not counted: {stray}");
    let challenges = metric(&server, "switchboard_invite_auth_challenges_total").unwrap_or(0.0);
    assert!(challenges >= 1.0, "407s counted: {challenges}");
    // The live call is untouched.
    assert!(
        agent.wait_event("disconnected", 0).is_none()
            && caller.wait_event("disconnected", 0).is_none(),
        "the live call ended"
    );
    assert!(!server
        .events()
        .iter()
        .any(|e| e.kind == "call.end" && e.call == call));

    // (d) Guessing 1005's password from another address: 407 each time, then 403.
    let mut guesser = RawPhone::bind("127.0.0.2", server.sip);
    let mut statuses = Vec::new();
    for n in 0..4 {
        let (inv, resp) = guesser.invite(
            "1005",
            "listen-1001",
            &format!("guess-{n}"),
            &offer_to(victim_addr),
            "",
        );
        let resp = resp.expect("a final response");
        statuses.push(resp.status);
        guesser.ack_failure(&inv, &resp);
        if resp.status != 407 {
            continue;
        }
        let ch = resp.header("Proxy-Authenticate").unwrap_or_default();
        let creds = digest_credentials(&ch, "1005", &format!("guess-{n}"), "INVITE", &inv.uri);
        let (inv, resp) = guesser.invite(
            "1005",
            "listen-1001",
            &format!("guess-{n}"),
            &offer_to(victim_addr),
            &format!("Proxy-Authorization: {creds}\r\n"),
        );
        let resp = resp.expect("a final response to the guess");
        statuses.push(resp.status);
        guesser.ack_failure(&inv, &resp);
    }
    // 407 challenge, 407 wrong x3 (the third locks), then 403 unevaluated.
    assert_eq!(
        &statuses[..6],
        &[407, 407, 407, 407, 407, 407],
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&403), "{statuses:?}");
    let failures = metric(&server, "switchboard_invite_auth_failures_total").unwrap_or(0.0);
    assert_eq!(failures, 3.0);
    assert!(metric(&server, "switchboard_register_lockouts_total").unwrap_or(0.0) >= 1.0);
    assert_eq!(packets_within(&victim, Duration::from_millis(500)), 0);

    // (c) The real supervisor, a pjsua2 phone on 127.0.0.1, answers the 407 and listens in,
    // logged as the user it authenticated as.
    let mut sup = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1005", "secret-1005")),
            record: Some(dir.join("sup.wav")),
            ..Default::default()
        },
    );
    assert!(sup.wait_event("registered", 15).is_some());
    let before = metric(&server, "switchboard_invite_auth_accepted_total").unwrap_or(0.0);
    sup.command(&format!("dial sip:listen-1001@{}", server.sip));
    let join = server
        .wait_event(20, |e| e.kind == "supervisor.join" && e.call == call)
        .unwrap_or_else(|| panic!("supervisor joined; log:\n{}", server.log_text()));
    assert_eq!(join.data["supervisor"], "1005", "{:?}", join.data);
    assert_eq!(join.data["mode"], "listen");
    let after = metric(&server, "switchboard_invite_auth_accepted_total").unwrap_or(0.0);
    assert!(
        after > before,
        "the supervisor's INVITE was authenticated ({before} -> {after})"
    );
    assert!(
        sup.wait_event("media", 10).is_some(),
        "the supervisor's call has media"
    );
    caller.command("hangup");
    server
        .wait_event(15, |e| e.kind == "call.end" && e.call == call)
        .expect("call ended");
    sup.quit();
    caller.quit();
    agent.quit();
}

/// A trunk trusted over TCP only: its INVITE over TCP is a trunk call (answered by the
/// dialplan), the same address over UDP (forgeable) is challenged like a phone. A trunk
/// with digest credentials (`[[sip.trunk_auth]]`) gets in from any address by answering
/// the 407.
#[test]
fn a_trunk_trusted_over_tcp_is_challenged_over_udp_and_a_digest_trunk_answers_407() {
    use std::io::{Read, Write};
    let server = Server::start(
        "hardening-trunk-transport",
        "[sip]\ntrusted_trunks = []\n[[sip.trunk_trust]]\naddress = \"127.0.0.1\"\ntransport = \"tcp\"\n\
         [[sip.trunk_auth]]\nusername = \"carrier\"\npassword = \"carrier-secret\"\n",
    );
    let media = UdpSocket::bind("127.0.0.1:0").expect("media socket");
    let sdp = offer_to(media.local_addr().expect("addr"));

    let mut udp = RawPhone::bind("127.0.0.1", server.sip);
    let (inv, resp) = udp.invite("+79995550101", "100", "trunk-udp", &sdp, "");
    let resp = resp.expect("a final response over UDP");
    assert_eq!(resp.status, 407, "{}", resp.text);
    udp.ack_failure(&inv, &resp);

    let mut tcp = std::net::TcpStream::connect(server.sip).expect("TCP connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let local = tcp.local_addr().expect("local addr");
    let invite = format!(
        "INVITE sip:100@{srv} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKtcptrunk1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:+79995550101@{local}>;tag=tcptrunk\r\nTo: <sip:100@{srv}>\r\n\
         Call-ID: trunk-tcp\r\nCSeq: 1 INVITE\r\nContact: <sip:trunk@{local};transport=tcp>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        srv = server.sip,
    );
    tcp.write_all(invite.as_bytes())
        .expect("send INVITE over TCP");
    let mut got = String::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(15);
    let final_status = loop {
        assert!(
            Instant::now() < deadline,
            "no final response over TCP: {got}"
        );
        let n = tcp.read(&mut buf).expect("read TCP");
        assert!(n > 0, "connection closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
        let finals: Vec<u16> = got
            .split("SIP/2.0 ")
            .skip(1)
            .filter_map(|r| r.get(..3)?.parse().ok())
            .filter(|s| *s >= 200)
            .collect();
        if let Some(s) = finals.first() {
            break *s;
        }
    };
    assert_eq!(final_status, 200, "{got}");
    let answered = metric(&server, "switchboard_invite_auth_challenges_total").unwrap_or(0.0);
    assert_eq!(answered, 1.0, "only the UDP INVITE was challenged");

    // The digest trunk, from an address trusted for nothing.
    let mut carrier = RawPhone::bind("127.0.0.2", server.sip);
    let (inv, resp) = carrier.invite("+79995550102", "100", "trunk-digest", &sdp, "");
    let resp = resp.expect("a final response to the digest trunk");
    assert_eq!(resp.status, 407, "{}", resp.text);
    carrier.ack_failure(&inv, &resp);
    let ch = resp.header("Proxy-Authenticate").unwrap_or_default();
    let creds = digest_credentials(&ch, "carrier", "carrier-secret", "INVITE", &inv.uri);
    let (_, resp) = carrier.invite(
        "+79995550102",
        "100",
        "trunk-digest",
        &sdp,
        &format!("Proxy-Authorization: {creds}\r\n"),
    );
    let resp = resp.expect("a final response to the authenticated trunk INVITE");
    assert_eq!(resp.status, 200, "{}", resp.text);
}
