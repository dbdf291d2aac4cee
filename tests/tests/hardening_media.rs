//! Strict media and no amplification (issue 12, item 2 and the media part of item 4),
//! against the real binary on loopback with raw SIP/RTP sockets the test owns:
//!
//! - a source spraying every even port of a small RTP range during a live call gets no
//!   packet of it and injects no digit, while the phone's prompts and its own digit get
//!   through, and the drops are counted;
//! - a spoofed trunk INVITE (never ACKed) whose SDP names a victim's socket makes the
//!   victim receive nothing;
//! - an offer without a usable connection address gets 488, an INVITE whose Replaces
//!   names no dialog of ours 481;
//! - a `nat = true` trunk's media latches onto its signalling IP (any port).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_e2e::hostile::metric;
use switchboard_e2e::Server;

/// A small RTP range so spraying all of it is quick (10 pairs). Each test uses its own.
fn media_config(min: u16, extra: &str) -> String {
    format!(
        "[media]\nrtp_port_min = {min}\nrtp_port_max = {}\n{extra}",
        min + 19
    )
}

/// A trunk's (or an attacker's) SIP socket on 127.0.0.1, the trusted trunk address.
struct SipPeer {
    sock: UdpSocket,
    server: SocketAddr,
    /// Bytes of every SIP message received (responses and their retransmissions).
    received_bytes: usize,
}

/// A final response: status, the To header (with the server's tag), the Contact URI and
/// the SDP body.
struct Final {
    status: u16,
    to: String,
    contact: String,
    body: String,
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The `m=audio` port of an SDP body.
fn audio_port(sdp: &str) -> Option<u16> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
}

fn sdp_offer(c_line: &str, port: u16, direction: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n{c_line}t=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n{direction}"
    )
}

impl SipPeer {
    fn new(server: &Server) -> SipPeer {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind SIP socket");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        SipPeer {
            sock,
            server: server.sip,
            received_bytes: 0,
        }
    }

    fn port(&self) -> u16 {
        self.sock.local_addr().expect("addr").port()
    }

    fn send(&self, msg: &str) -> usize {
        self.sock
            .send_to(msg.as_bytes(), self.server)
            .expect("send")
    }

    /// Sends an INVITE and returns its final response (None if none came in time).
    fn invite(&mut self, call_id: &str, extra_headers: &str, sdp: &str) -> (usize, Option<Final>) {
        let msg = format!(
            "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{call_id}\r\nFrom: <sip:+79995550101@127.0.0.1>;tag=f{call_id}\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:trunk@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n{extra_headers}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len(),
            port = self.port(),
        );
        let sent = self.send(&msg);
        let mut buf = [0u8; 65536];
        while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
            self.received_bytes += n;
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let Some(status) = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
            else {
                continue;
            };
            if status < 200 {
                continue;
            }
            let contact = header(&text, "Contact")
                .or_else(|| header(&text, "m"))
                .unwrap_or("")
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_string();
            return (
                sent,
                Some(Final {
                    status,
                    to: header(&text, "To").unwrap_or("").to_string(),
                    contact,
                    body: text
                        .split_once("\r\n\r\n")
                        .map(|(_, b)| b)
                        .unwrap_or("")
                        .to_string(),
                }),
            );
        }
        (sent, None)
    }

    /// An in-dialog request without a body (ACK of the 2xx, BYE).
    fn in_dialog(&self, method: &str, cseq: u32, call_id: &str, fin: &Final) {
        self.in_dialog_with(method, cseq, call_id, fin, "");
    }

    /// An in-dialog request with an SDP body (a re-INVITE) or none.
    fn in_dialog_with(&self, method: &str, cseq: u32, call_id: &str, fin: &Final, sdp: &str) {
        let ctype = if sdp.is_empty() {
            String::new()
        } else {
            format!(
                "Contact: <sip:trunk@127.0.0.1:{}>\r\nContent-Type: application/sdp\r\n",
                self.port()
            )
        };
        let msg = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{call_id}{method}{cseq}\r\nFrom: <sip:+79995550101@127.0.0.1>;tag=f{call_id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{ctype}Content-Length: {len}\r\n\r\n{sdp}",
            uri = fin.contact,
            to = fin.to,
            port = self.port(),
            len = sdp.len(),
        );
        self.send(&msg);
    }

    /// The status of the next final response whose CSeq is `cseq` (skipping others).
    fn final_for(&mut self, cseq: &str) -> Option<u16> {
        self.sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 65536];
        while let Ok((n, _)) = self.sock.recv_from(&mut buf) {
            self.received_bytes += n;
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let status = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok());
            if header(&text, "CSeq") == Some(cseq) && status.is_some_and(|s| s >= 200) {
                return status;
            }
        }
        None
    }

    /// Counts (and discards) whatever SIP arrives within `d`.
    fn drain_for(&mut self, d: Duration) {
        let end = Instant::now() + d;
        self.sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut buf = [0u8; 65536];
        while Instant::now() < end {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                self.received_bytes += n;
            }
        }
    }
}

fn rtp_packet(pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push((u8::from(marker) << 7) | pt);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// RFC 4733 event payload: event, end bit, volume 10, duration.
fn dtmf_payload(event: u8, end: bool, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [event, (u8::from(end) << 7) | 10, d[0], d[1]]
}

/// G.711 µ-law to linear.
fn ulaw(b: u8) -> i16 {
    let b = !b;
    let t = ((i32::from(b & 0x0f) << 3) + 0x84) << ((b & 0x70) >> 4);
    (if b & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

/// The phone's media: sends 20 ms PCMU frames from its RTP socket to the server's port,
/// and a digit on request; collects what the server sends it.
struct PhoneMedia {
    stop: Arc<AtomicBool>,
    /// Audio packets received so far.
    received: Arc<AtomicUsize>,
    digit: Arc<std::sync::Mutex<Option<u8>>>,
    handle: std::thread::JoinHandle<(usize, Vec<i16>)>,
}

impl PhoneMedia {
    fn start(sock: UdpSocket, to: SocketAddr) -> PhoneMedia {
        let stop = Arc::new(AtomicBool::new(false));
        let digit: Arc<std::sync::Mutex<Option<u8>>> = Arc::new(std::sync::Mutex::new(None));
        let received = Arc::new(AtomicUsize::new(0));
        let (st, dg, rc) = (stop.clone(), digit.clone(), received.clone());
        let handle = std::thread::spawn(move || {
            sock.set_read_timeout(Some(Duration::from_millis(5)))
                .expect("timeout");
            let (mut seq, mut ts, ssrc) = (1000u16, 160_000u32, 0x5eed_0001u32);
            let mut next = Instant::now();
            let mut packets = 0;
            let mut pcm = Vec::new();
            let mut buf = [0u8; 2048];
            let deadline = Instant::now() + Duration::from_secs(60);
            while !st.load(Ordering::Relaxed) && Instant::now() < deadline {
                if Instant::now() >= next {
                    let d = dg.lock().expect("lock").take();
                    if let Some(ev) = d {
                        // A 100 ms digit: start, updates, three end packets (RFC 4733 §2.5.1.4).
                        for i in 0..5u16 {
                            let p = rtp_packet(
                                101,
                                i == 0,
                                seq,
                                ts,
                                ssrc,
                                &dtmf_payload(ev, false, 160 * (i + 1)),
                            );
                            let _ = sock.send_to(&p, to);
                            seq = seq.wrapping_add(1);
                        }
                        for _ in 0..3 {
                            let p =
                                rtp_packet(101, false, seq, ts, ssrc, &dtmf_payload(ev, true, 800));
                            let _ = sock.send_to(&p, to);
                            seq = seq.wrapping_add(1);
                        }
                        ts = ts.wrapping_add(800);
                    }
                    let p = rtp_packet(0, false, seq, ts, ssrc, &[0xff; 160]);
                    let _ = sock.send_to(&p, to);
                    seq = seq.wrapping_add(1);
                    ts = ts.wrapping_add(160);
                    next += Duration::from_millis(20);
                }
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    if n > 12 && buf[1] & 0x7f == 0 {
                        packets += 1;
                        rc.store(packets, Ordering::Relaxed);
                        pcm.extend(buf[12..n].iter().map(|&b| ulaw(b)));
                    }
                }
            }
            (packets, pcm)
        });
        PhoneMedia {
            stop,
            received,
            digit,
            handle,
        }
    }

    /// Waits up to `secs` until `n` audio packets have arrived.
    fn wait_packets(&self, n: usize, secs: u64) -> bool {
        switchboard_e2e::wait_for(secs, || {
            (self.received.load(Ordering::Relaxed) >= n).then_some(())
        })
        .is_some()
    }

    fn send_digit(&self, event: u8) {
        *self.digit.lock().expect("lock") = Some(event);
    }

    fn finish(self) -> (usize, Vec<i16>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("phone thread")
    }
}

fn rms(x: &[i16]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn a_spraying_source_gets_no_media_and_injects_no_digit() {
    let min = 36100;
    let server = Server::start("hardening-media-spray", &media_config(min, ""));
    let mut trunk = SipPeer::new(&server);
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("phone RTP");
    let rtp_port = rtp.local_addr().expect("addr").port();
    let call_id = "spray-1";
    let (_, fin) = trunk.invite(
        call_id,
        "",
        &sdp_offer("c=IN IP4 127.0.0.1\r\n", rtp_port, "a=sendrecv\r\n"),
    );
    let fin = fin.expect("a final response");
    assert_eq!(fin.status, 200, "log:\n{}", server.log_text());
    let server_rtp: SocketAddr = format!(
        "127.0.0.1:{}",
        audio_port(&fin.body).expect("answer has m=audio")
    )
    .parse()
    .expect("addr");
    trunk.in_dialog("ACK", 1, call_id, &fin);
    let phone = PhoneMedia::start(rtp, server_rtp);

    // The attacker on 127.0.0.9 sprays every even port of the range: digit '1' (RFC 4733,
    // start and end packets) and a PCMU frame, 5 rounds, paced 200 ms apart, from the
    // first moments of the call (inside any latching window) on.
    let sprayer = UdpSocket::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    sprayer.set_nonblocking(true).expect("nonblocking");
    let mut sent_to_call_port = 0u64;
    let mut got_by_sprayer = 0usize;
    let mut buf = [0u8; 2048];
    for round in 0..5u16 {
        for port in (min..=min + 19).step_by(2) {
            let to: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            let seq = round * 4;
            let pkts = [
                rtp_packet(101, true, seq, 9000, 0xbad, &dtmf_payload(1, false, 160)),
                rtp_packet(
                    101,
                    false,
                    seq + 1,
                    9000,
                    0xbad,
                    &dtmf_payload(1, true, 800),
                ),
                rtp_packet(
                    101,
                    false,
                    seq + 2,
                    9000,
                    0xbad,
                    &dtmf_payload(1, true, 800),
                ),
                rtp_packet(0, false, seq + 3, 9800, 0xbad, &[0x00; 160]),
            ];
            for p in &pkts {
                let _ = sprayer.send_to(p, to);
                if to == server_rtp {
                    sent_to_call_port += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        while let Ok((n, _)) = sprayer.recv_from(&mut buf) {
            got_by_sprayer += n.min(1);
        }
    }
    assert_eq!(
        sent_to_call_port, 20,
        "the call's port is in the sprayed range"
    );

    // The phone's own digit still works.
    phone.send_digit(2);
    let digit2 = server.wait_event(15, |e| e.kind == "dtmf" && e.data["digit"] == "2");
    phone.wait_packets(50, 15);
    let (packets, pcm) = phone.finish();
    while let Ok((n, _)) = sprayer.recv_from(&mut buf) {
        got_by_sprayer += n.min(1);
    }
    trunk.in_dialog("BYE", 2, call_id, &fin);

    assert_eq!(got_by_sprayer, 0, "the sprayer received media of the call");
    let digits: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| e.kind == "dtmf")
        .map(|e| e.data["digit"].clone())
        .collect();
    assert!(
        digit2.is_some(),
        "the phone's digit 2 was not seen; digits {digits:?}\nlog:\n{}",
        server.log_text()
    );
    assert!(
        !digits.iter().any(|d| d == "1"),
        "the sprayer injected a digit: {digits:?}"
    );
    // The phone heard its prompts: decoded audio, not silence.
    assert!(packets >= 25, "the phone got {packets} RTP packets");
    let level = rms(&pcm);
    assert!(level > 200.0, "prompt audio RMS {level:.0}");
    let dropped = metric(&server, "switchboard_rtp_foreign_dropped_total").unwrap_or(0.0);
    assert!(
        dropped >= sent_to_call_port as f64,
        "foreign_dropped {dropped}, sprayed at the call {sent_to_call_port}"
    );
    assert!(server
        .log_text()
        .contains("RTP from a source this leg does not accept dropped"));
}

#[test]
fn a_spoofed_trunk_invite_sends_no_rtp_to_the_victim() {
    // Short T1, so the unacknowledged 200 gives up (timer H = 64·T1 = 3.2 s) quickly.
    let cfg = media_config(36200, "[sip]\nt1_ms = 50\n");
    let server = Server::start("hardening-media-reflect", &cfg);
    // The victim listens on an even port and the one above (where RTCP would go).
    let (victim, victim_rtcp) = (0..100)
        .find_map(|_| {
            let a = UdpSocket::bind("127.0.0.1:0").ok()?;
            let p = a.local_addr().ok()?.port();
            if p % 2 != 0 {
                return None;
            }
            let b = UdpSocket::bind(("127.0.0.1", p + 1)).ok()?;
            Some((a, b))
        })
        .expect("a free even/odd port pair for the victim");
    victim.set_nonblocking(true).expect("nonblocking");
    victim_rtcp.set_nonblocking(true).expect("nonblocking");
    let victim_port = victim.local_addr().expect("addr").port();
    let mut attacker = SipPeer::new(&server);
    let (sent, fin) = attacker.invite(
        "reflect-1",
        "",
        &sdp_offer("c=IN IP4 127.0.0.1\r\n", victim_port, "a=sendrecv\r\n"),
    );
    assert_eq!(fin.map(|f| f.status), Some(200));
    // Never ACKed: the call ends when the 200 gives up.
    let end = server.wait_event(30, |e| e.kind == "call.end");
    attacker.drain_for(Duration::from_millis(300));
    let mut buf = [0u8; 2048];
    let (mut datagrams, mut bytes) = (0, 0);
    for sock in [&victim, &victim_rtcp] {
        while let Ok((n, _)) = sock.recv_from(&mut buf) {
            datagrams += 1;
            bytes += n;
        }
    }
    eprintln!(
        "spoofed INVITE: {sent} bytes in; SIP responses {} bytes; victim got {datagrams} datagrams, {bytes} bytes",
        attacker.received_bytes
    );
    assert!(end.is_some(), "the unacknowledged call did not end");
    assert_eq!(
        (datagrams, bytes),
        (0, 0),
        "the victim received media from a spoofed INVITE"
    );
}

#[test]
fn offers_without_a_usable_address_get_488_and_unknown_replaces_gets_481() {
    let server = Server::start("hardening-media-488", &media_config(36300, ""));
    let mut peer = SipPeer::new(&server);
    let cases = [
        ("no-c", "", "a=sendrecv\r\n"),
        ("zero-c", "c=IN IP4 0.0.0.0\r\n", "a=sendrecv\r\n"),
        (
            "multicast-c",
            "c=IN IP4 224.2.1.1/127\r\n",
            "a=sendrecv\r\n",
        ),
        ("bad-c", "c=IN IP4 999.1.1.1\r\n", "a=sendrecv\r\n"),
    ];
    for (id, c, dir) in cases {
        let (_, fin) = peer.invite(id, "", &sdp_offer(c, 4000, dir));
        assert_eq!(fin.map(|f| f.status), Some(488), "{id}");
    }
    let (_, fin) = peer.invite(
        "replaces-1",
        "Replaces: no-such-call@127.0.0.1;to-tag=aaa;from-tag=bbb\r\n",
        &sdp_offer("c=IN IP4 127.0.0.1\r\n", 4000, "a=sendrecv\r\n"),
    );
    assert_eq!(fin.map(|f| f.status), Some(481));
    // Each refusal is logged (the event log is written asynchronously: wait for it).
    let refusals = || {
        server
            .events()
            .into_iter()
            .filter(|e| e.kind == "call.end" && e.data["status"] == 488)
            .count()
    };
    let logged = switchboard_e2e::wait_for(10, || (refusals() >= 4).then_some(()));
    assert!(logged.is_some(), "refusals logged: {}", refusals());
    assert_eq!(refusals(), 4);
}

#[test]
fn a_nat_trunk_latches_onto_its_signalling_ip() {
    let server = Server::start(
        "hardening-media-nat",
        &media_config(36400, "[sip]\ntrunks_nat = true\n"),
    );
    let mut trunk = SipPeer::new(&server);
    // The SDP names an address the media does not come from (the NAT's inside); the real
    // media comes from another port of the signalling IP.
    let inside = UdpSocket::bind("127.0.0.1:0").expect("inside");
    let inside_port = inside.local_addr().expect("addr").port();
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("phone RTP");
    let call_id = "nat-1";
    let (_, fin) = trunk.invite(
        call_id,
        "",
        &sdp_offer("c=IN IP4 127.0.0.1\r\n", inside_port, "a=sendrecv\r\n"),
    );
    let fin = fin.expect("final");
    assert_eq!(fin.status, 200);
    let server_rtp: SocketAddr = format!("127.0.0.1:{}", audio_port(&fin.body).expect("port"))
        .parse()
        .expect("addr");
    trunk.in_dialog("ACK", 1, call_id, &fin);
    let phone = PhoneMedia::start(rtp, server_rtp);
    phone.send_digit(2);
    let digit = server.wait_event(15, |e| e.kind == "dtmf" && e.data["digit"] == "2");
    phone.wait_packets(50, 15);
    let (packets, pcm) = phone.finish();
    trunk.in_dialog("BYE", 2, call_id, &fin);
    assert!(digit.is_some(), "log:\n{}", server.log_text());
    assert!(packets >= 25, "the NATed phone got {packets} packets");
    assert!(rms(&pcm) > 200.0, "prompt audio reached the NATed phone");
}

#[test]
fn a_reinvite_that_moves_the_media_is_followed() {
    let server = Server::start("hardening-media-move", &media_config(36500, ""));
    let mut trunk = SipPeer::new(&server);
    let first = UdpSocket::bind("127.0.0.1:0").expect("first RTP");
    let first_port = first.local_addr().expect("addr").port();
    let call_id = "move-1";
    let (_, fin) = trunk.invite(
        call_id,
        "",
        &sdp_offer("c=IN IP4 127.0.0.1\r\n", first_port, "a=sendrecv\r\n"),
    );
    let fin = fin.expect("final");
    assert_eq!(fin.status, 200);
    let server_rtp: SocketAddr = format!("127.0.0.1:{}", audio_port(&fin.body).expect("port"))
        .parse()
        .expect("addr");
    trunk.in_dialog("ACK", 1, call_id, &fin);
    // The media moves to another port by re-INVITE; the old socket stays silent.
    let moved = UdpSocket::bind("127.0.0.1:0").expect("moved RTP");
    let moved_port = moved.local_addr().expect("addr").port();
    trunk.in_dialog_with(
        "INVITE",
        2,
        call_id,
        &fin,
        &sdp_offer("c=IN IP4 127.0.0.1\r\n", moved_port, "a=sendrecv\r\n"),
    );
    assert_eq!(trunk.final_for("2 INVITE"), Some(200));
    trunk.in_dialog("ACK", 2, call_id, &fin);
    let phone = PhoneMedia::start(moved, server_rtp);
    phone.send_digit(2);
    let digit = server.wait_event(15, |e| e.kind == "dtmf" && e.data["digit"] == "2");
    phone.wait_packets(50, 15);
    let (packets, pcm) = phone.finish();
    trunk.in_dialog("BYE", 3, call_id, &fin);
    drop(first);
    assert!(
        digit.is_some(),
        "the digit from the moved media; log:\n{}",
        server.log_text()
    );
    assert!(packets >= 25, "the moved media got {packets} packets");
    assert!(rms(&pcm) > 200.0, "prompt audio reached the moved media");
}

/// Sprays every even port of `min..=min+19` from 127.0.0.9: digit `event` (RFC 4733 start
/// and end packets) and a loud PCMU frame, `rounds` times 200 ms apart. Returns (packets
/// sent to any of `targets`, packets the sprayer received back).
fn spray(min: u16, event: u8, rounds: u16, targets: &[SocketAddr]) -> (u64, usize) {
    let sprayer = UdpSocket::bind("127.0.0.9:0").expect("bind 127.0.0.9");
    sprayer.set_nonblocking(true).expect("nonblocking");
    let (mut hits, mut got) = (0u64, 0usize);
    let mut buf = [0u8; 2048];
    for round in 0..rounds {
        for port in (min..=min + 19).step_by(2) {
            let to: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
            let seq = round * 4;
            let pkts = [
                rtp_packet(
                    101,
                    true,
                    seq,
                    9000,
                    0xbad,
                    &dtmf_payload(event, false, 160),
                ),
                rtp_packet(
                    101,
                    false,
                    seq + 1,
                    9000,
                    0xbad,
                    &dtmf_payload(event, true, 800),
                ),
                rtp_packet(
                    101,
                    false,
                    seq + 2,
                    9000,
                    0xbad,
                    &dtmf_payload(event, true, 800),
                ),
                rtp_packet(0, false, seq + 3, 9800, 0xbad, &[0x00; 160]),
            ];
            for p in &pkts {
                let _ = sprayer.send_to(p, to);
                if targets.contains(&to) {
                    hits += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        while let Ok((n, _)) = sprayer.recv_from(&mut buf) {
            got += n.min(1);
        }
    }
    (hits, got)
}

/// The agent leg of a bridged call is no easier to take over: a sprayer hitting both legs'
/// ports gets nothing and injects no key, and the agent's tone still reaches the caller.
#[test]
fn a_sprayer_takes_over_no_leg_of_a_bridged_call() {
    let Some(py) = switchboard_e2e::peers::python_with_pjsua2() else {
        return;
    };
    use switchboard_e2e::peers::{Softphone, SoftphoneOpts};
    let min = 36600;
    let server = Server::start("hardening-media-bridge", &media_config(min, ""));
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 20).is_some());
    let mut trunk = SipPeer::new(&server);
    let rtp = UdpSocket::bind("127.0.0.1:0").expect("phone RTP");
    let rtp_port = rtp.local_addr().expect("addr").port();
    let call_id = "bridge-spray-1";
    let (_, fin) = trunk.invite(
        call_id,
        "",
        &sdp_offer("c=IN IP4 127.0.0.1\r\n", rtp_port, "a=sendrecv\r\n"),
    );
    let fin = fin.expect("final");
    assert_eq!(fin.status, 200);
    trunk.in_dialog("ACK", 1, call_id, &fin);
    let server_rtp: SocketAddr = format!("127.0.0.1:{}", audio_port(&fin.body).expect("port"))
        .parse()
        .expect("addr");
    let phone = PhoneMedia::start(rtp, server_rtp);
    phone.send_digit(1); // sales, where 1001 is a member
    let bridged = server.wait_event(40, |e| e.kind == "call.bridge");
    assert!(bridged.is_some(), "bridged; events: {:#?}", server.events());
    let before = metric(&server, "switchboard_rtp_foreign_dropped_total").unwrap_or(0.0);
    // Digit 7 and loud frames at every port: both legs' ports are among them.
    let (hits, got) = spray(min, 7, 5, &[server_rtp]);
    let packets_then = phone.received.load(Ordering::Relaxed);
    phone.wait_packets(packets_then + 50, 15);
    let (_, pcm) = phone.finish();
    trunk.in_dialog("BYE", 2, call_id, &fin);
    agent.quit();
    assert_eq!(hits, 20, "the caller's port is in the sprayed range");
    assert_eq!(got, 0, "the sprayer received media of the bridged call");
    let after = metric(&server, "switchboard_rtp_foreign_dropped_total").unwrap_or(0.0);
    assert!(
        after - before >= 40.0,
        "both legs drop what was sprayed at them: {before} -> {after}"
    );
    let digits: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| e.kind == "dtmf")
        .map(|e| e.data["digit"].clone())
        .collect();
    assert!(!digits.iter().any(|d| d == "7"), "injected key: {digits:?}");
    // The last second the caller heard is the agent's 2 kHz tone.
    let tail: Vec<f64> = pcm[pcm.len().saturating_sub(8000)..]
        .iter()
        .map(|&v| f64::from(v))
        .collect();
    let share = switchboard_e2e::audio::tone_share(&tail, 8000, 2000.0);
    let other = switchboard_e2e::audio::tone_share(&tail, 8000, 1000.0);
    assert!(
        share > 0.15 && share > 10.0 * other,
        "agent tone share {share:.2} (1 kHz: {other:.3}) in what the caller heard"
    );
}
