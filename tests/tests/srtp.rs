//! SRTP with SDES keys (issue 12, item 7; docs/decisions/0033-srtp-sdes.md), against the
//! real binary and pjsua2 on loopback:
//!
//! - an agent whose pjsua2 makes SRTP mandatory (`srtp = "required"` for the user) takes a
//!   plain-RTP caller's call from the queue: the tones cross both ways (decoded and
//!   checked in each phone's recording and in the call recording, after the agent held
//!   and resumed the call with SAVP re-INVITEs), while a raw capture of
//!   what the server sends shows the agent's stream is not the caller's PCMU (it decodes
//!   to noise, carries a 10-byte tag) and the caller's plain stream is the agent's tone;
//! - with both sides `optional` (our RTP/AVP offer carrying `a=crypto`) the leg is SRTP too;
//! - a `required` user whose phone offers plain RTP gets 488 and no call;
//! - a `required` trunk (a carrier of our own on raw sockets, SRTP by `switchboard-srtp`)
//!   gets 488 for a plain offer; for an SAVP offer it gets the server's own key, the IVR's
//!   SRTP decrypts under it, and its forged and replayed packets are dropped and counted.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::hostile::metric;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::rtp_capture::{flows, RtpCapture};
use switchboard_e2e::{scratch_dir, Server};
use switchboard_sdp::{Crypto, MasterKey, SessionDescription, Suite};
use switchboard_srtp::SrtpContext;

/// A port range for the server's RTP, apart from the phones' own ports (pjsua2 takes
/// 4000 and up), per process so parallel runs do not collide.
fn server_rtp_ports(slot: u16) -> (u16, u16) {
    let base = 42_000 + ((std::process::id() % 20) as u16 * 2 + slot) * 40;
    (base, base + 39)
}

fn config(lo: u16, hi: u16, srtp: &str) -> String {
    // The demo's other users stay (the demo HTTP tokens name them), with plain RTP.
    let others: String = (1002..=1005)
        .map(|u| format!("[[users]]\nname = \"{u}\"\npassword = \"secret-{u}\"\n\n"))
        .collect();
    format!(
        "[ivr]\ndialplans = \"tests/dialplans-continuity\"\n\n\
         [media]\nrtp_port_min = {lo}\nrtp_port_max = {hi}\n\n\
         [[users]]\nname = \"1001\"\npassword = \"secret-1001\"\nsrtp = \"{srtp}\"\n\n\
         {others}\
         [[queues]]\nname = \"support\"\nmembers = [\"1001\"]\nrecord = true\nannounce_period = 0\nwrap_up = 1\n\n\
         [[queues]]\nname = \"sales\"\nmembers = [\"1001\"]\nannounce_period = 0\n\n\
         [[queues]]\nname = \"operator\"\nmembers = [\"1001\"]\nannounce_period = 0\n"
    )
}

/// G.711 mu-law to linear (ITU-T G.711).
fn ulaw(b: u8) -> f64 {
    let u = !b;
    let exponent = (u >> 4) & 7;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    f64::from(if u & 0x80 != 0 { -magnitude } else { magnitude })
}

fn tail(x: &[f64], sr: u32) -> &[f64] {
    &x[x.len().saturating_sub(2 * sr as usize)..x.len().saturating_sub(sr as usize / 4)]
}

#[test]
fn an_srtp_agent_and_a_plain_caller_hear_each_other_and_the_agent_leg_is_encrypted() {
    // SRTP required on both sides: we offer RTP/SAVP.
    // The agent also holds and resumes (re-INVITEs with RTP/SAVP; PJSIP sends a new key):
    // the tones checked are those after the resume.
    bridge_with_an_srtp_agent(0, "required", "mandatory", true);
}

#[test]
fn an_optional_srtp_agent_gets_srtp_from_our_avp_offer_with_crypto() {
    // Both optional: we offer RTP/AVP with a=crypto (decision 0033), PJSIP's optional
    // mode answers with its key, and the leg is SRTP all the same.
    bridge_with_an_srtp_agent(3, "optional", "optional", false);
}

/// A plain caller bridged to agent 1001 whose user `srtp` is `policy` and whose pjsua2
/// runs SRTP `phone_srtp`: the agent's leg must come out SRTP.
fn bridge_with_an_srtp_agent(slot: u16, policy: &str, phone_srtp: &str, hold_cycle: bool) {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let (lo, hi) = server_rtp_ports(slot);
    let Some(cap) = RtpCapture::start(lo..=hi) else {
        if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("capturing RTP needs a raw socket (root or CAP_NET_RAW)");
        }
        eprintln!("SKIPPED: no raw socket (run as root or with CAP_NET_RAW)");
        return;
    };
    let server = Server::start(&format!("srtp-bridge-{policy}"), &config(lo, hi, policy));
    let dir = scratch_dir(&format!("srtp-bridge-{policy}-phones"));
    let (caller_wav, agent_wav) = (dir.join("caller.wav"), dir.join("agent.wav"));

    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            record: Some(agent_wav.clone()),
            srtp: phone_srtp,
            ..Default::default()
        },
    );
    assert!(
        agent.wait_event("registered", 15).is_some(),
        "agent registers; log:\n{}",
        server.log_text()
    );
    server
        .wait_event(10, |e| e.kind == "agent.login" && e.agent == "1001")
        .expect("agent 1001 logged in");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:301@{}", server.sip)),
            tone_hz: 1000,
            record: Some(caller_wav.clone()),
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "the caller is answered; log:\n{}",
        server.log_text()
    );
    assert!(
        agent.wait_event("incoming", 20).is_some(),
        "agent 1001 is offered the call; log:\n{}",
        server.log_text()
    );
    assert!(
        agent.wait_event("media", 10).is_some(),
        "the agent's SRTP media is up (pjsua2 refuses the call otherwise)"
    );
    let bridge = server
        .wait_event(15, |e| e.kind == "call.bridge")
        .expect("bridged");
    let call = bridge.call.clone();
    if hold_cycle {
        agent.command("hold");
        server
            .wait_event(10, |e| e.kind == "call.hold" && e.call == call)
            .unwrap_or_else(|| panic!("call.hold; log:\n{}", server.log_text()));
        agent.command("unhold");
        server
            .wait_event(10, |e| e.kind == "call.resume" && e.call == call)
            .unwrap_or_else(|| panic!("call.resume; log:\n{}", server.log_text()));
        assert!(
            agent.seen.iter().all(|e| e["event"] != "hold-error"),
            "{:?}",
            agent.seen
        );
    }
    // Talk for a while: the tones cross the bridge (there is no event for "audio flowed").
    std::thread::sleep(Duration::from_secs(3));
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    assert!(agent.wait_event("disconnected", 10).is_some());
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call.end");
    caller.quit();
    agent.quit();
    let packets = cap.stop();

    // Both phones decoded the other's tone: our encryption toward the agent and our
    // decryption of the agent's SRTP both agree with pjsua2's.
    let (heard, sr) = read_channel(&caller_wav, 0);
    assert!(
        tone_share(tail(&heard, sr), sr, 2000.0) > 0.3,
        "the caller hears the SRTP agent's 2 kHz tone"
    );
    let (heard, sr) = read_channel(&agent_wav, 0);
    assert!(
        tone_share(tail(&heard, sr), sr, 1000.0) > 0.3,
        "the SRTP agent hears the caller's 1 kHz tone"
    );
    // The recording holds plain audio: caller left (1 kHz), agent right (2 kHz).
    let rec = std::path::PathBuf::from(end.data["recording"].as_str().expect("recording"));
    let (left, rsr) = read_channel(&rec, 0);
    let (right, _) = read_channel(&rec, 1);
    let mid = |x: &[f64]| x[x.len() / 4..x.len() * 3 / 4].to_vec();
    assert!(tone_share(&mid(&left), rsr, 1000.0) > 0.3, "left: caller");
    assert!(tone_share(&mid(&right), rsr, 2000.0) > 0.3, "right: agent");

    // call.end says which leg was SRTP, and nothing was refused.
    let quality = end.data["quality"].as_array().expect("quality").clone();
    let leg = |name: &str| {
        quality
            .iter()
            .find(|q| q["leg"] == name)
            .unwrap_or_else(|| panic!("{name} leg in {quality:?}"))
            .clone()
    };
    assert_eq!(leg("agent")["srtp"], true, "{quality:?}");
    assert!(leg("agent").get("srtp_rejected").is_none(), "{quality:?}");
    assert!(leg("caller").get("srtp").is_none(), "{quality:?}");
    assert!(metric(&server, "switchboard_srtp_legs_total").unwrap_or(0.0) >= 1.0);
    assert_eq!(
        metric(&server, "switchboard_srtp_rejected_total"),
        Some(0.0)
    );

    // On the wire: the stream to the caller carries the agent's 2 kHz tone in the clear;
    // the other long PCMU stream, to the agent, decodes to noise and carries the tag.
    let streams = flows(&packets);
    let decoded = |f: &switchboard_e2e::rtp_capture::Flow, skip_tag: usize| -> Vec<f64> {
        f.packets
            .iter()
            .filter(|p| p.pt == 0)
            .flat_map(|p| {
                let n = p.payload.len().saturating_sub(skip_tag);
                p.payload[..n].iter().map(|&b| ulaw(b)).collect::<Vec<_>>()
            })
            .collect()
    };
    let big: Vec<_> = streams
        .iter()
        .filter(|f| f.packets.iter().filter(|p| p.pt == 0).count() > 100)
        .collect();
    let plain_to_caller = big
        .iter()
        .find(|f| tone_share(&decoded(f, 0), 8000, 2000.0) > 0.3)
        .unwrap_or_else(|| panic!("a plain stream carrying the agent's tone: {streams:#?}"));
    let to_agent: Vec<_> = big
        .iter()
        .filter(|f| f.dst_port != plain_to_caller.dst_port)
        .collect();
    assert!(!to_agent.is_empty(), "the agent's stream was captured");
    for f in to_agent {
        let audio: Vec<_> = f.packets.iter().filter(|p| p.pt == 0).collect();
        let odd: Vec<(u16, usize)> = audio
            .iter()
            .filter(|p| p.payload_len != 170)
            .map(|p| (p.seq, p.payload_len))
            .collect();
        // (A prompt's last frame may be shorter than 20 ms, so not every packet.)
        assert!(
            odd.len() * 20 < audio.len(),
            "160 bytes of PCMU + a 10-byte AES_CM_128_HMAC_SHA1_80 tag per packet; \
             {} -> {}: {} of {} are not: {odd:?}",
            f.src_port,
            f.dst_port,
            odd.len(),
            audio.len()
        );
        let as_pcmu = decoded(f, 10);
        for hz in [1000.0, 2000.0] {
            let share = tone_share(&as_pcmu, 8000, hz);
            assert!(
                share < 0.02,
                "the SRTP stream does not decode to the {hz} Hz tone (share {share:.3})"
            );
        }
        // No payload repeats: the tone's PCMU (a periodic 8-byte pattern) would.
        let mut payloads: Vec<&[u8]> = audio.iter().map(|p| &p.payload[..]).collect();
        payloads.sort();
        payloads.dedup();
        assert_eq!(
            payloads.len(),
            audio.len(),
            "every encrypted payload differs"
        );
    }
}

#[test]
fn a_user_who_requires_srtp_but_offers_plain_rtp_gets_488() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let (lo, hi) = server_rtp_ports(1);
    let server = Server::start("srtp-required-488", &config(lo, hi, "required"));
    let mut phone = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    assert!(phone.wait_event("registered", 15).is_some(), "registers");
    phone.command(&format!("dial sip:support@{}", server.sip));
    let gone = phone
        .wait_event("disconnected", 20)
        .unwrap_or_else(|| panic!("the call ends; log:\n{}", server.log_text()));
    assert_eq!(gone["code"], 488, "{gone}");
    let end = server
        .wait_event(10, |e| e.kind == "call.end")
        .expect("call.end");
    assert_eq!(end.data["status"], 488);
    assert_eq!(end.data["detail"], "SRTP policy not met");
    assert!(
        server.events().iter().all(|e| e.kind != "call.bridge"),
        "no call"
    );
    phone.quit();
}

/// A carrier of our own on raw sockets: SIP over UDP from the `[[trunks]]` address, SRTP
/// with `switchboard-srtp` and keys from `switchboard-sdp`.
struct Carrier {
    sip: UdpSocket,
    rtp: UdpSocket,
    server: SocketAddr,
}

/// A final response: status, To (with the server's tag), Contact URI, body.
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

impl Carrier {
    fn new() -> Carrier {
        let sip = UdpSocket::bind("127.0.0.1:0").expect("bind SIP");
        sip.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let rtp = UdpSocket::bind("127.0.0.1:0").expect("bind RTP");
        Carrier {
            sip,
            rtp,
            server: "127.0.0.1:9".parse().expect("addr"),
        }
    }

    fn sip_port(&self) -> u16 {
        self.sip.local_addr().expect("addr").port()
    }

    fn offer(&self, profile: &str, crypto: Option<&Crypto>) -> String {
        let port = self.rtp.local_addr().expect("addr").port();
        let crypto = crypto.map_or(String::new(), |c| format!("a=crypto:{}\r\n", c.to_value()));
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} {profile} 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n{crypto}"
        )
    }

    fn invite(&self, call_id: &str, sdp: &str) -> Option<Final> {
        let port = self.sip_port();
        let msg = format!(
            "INVITE sip:300@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{call_id}\r\nFrom: <sip:+79995550101@127.0.0.1>;tag=f{call_id}\r\nTo: <sip:300@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:carrier@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        );
        self.sip.send_to(msg.as_bytes(), self.server).expect("send");
        let mut buf = [0u8; 65536];
        while let Ok((n, _)) = self.sip.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            let Some(status) = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
            else {
                continue;
            };
            if status < 200 || header(&text, "Call-ID") != Some(call_id) {
                continue;
            }
            let contact = header(&text, "Contact")
                .unwrap_or("")
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_string();
            return Some(Final {
                status,
                to: header(&text, "To").unwrap_or("").to_string(),
                contact,
                body: text
                    .split_once("\r\n\r\n")
                    .map_or("", |(_, b)| b)
                    .to_string(),
            });
        }
        None
    }

    fn in_dialog(&self, method: &str, cseq: u32, call_id: &str, fin: &Final) {
        let msg = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bK{call_id}{method}\r\nFrom: <sip:+79995550101@127.0.0.1>;tag=f{call_id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            uri = fin.contact,
            to = fin.to,
            port = self.sip_port(),
        );
        self.sip.send_to(msg.as_bytes(), self.server).expect("send");
    }
}

fn rtp(seq: u16, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

#[test]
fn a_required_trunk_gets_488_for_plain_rtp_and_its_forged_or_replayed_srtp_is_counted() {
    let mut carrier = Carrier::new();
    let (lo, hi) = server_rtp_ports(2);
    let trunk = format!(
        "\n[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{}\"\ninbound = true\nsrtp = \"required\"\n",
        carrier.sip_port()
    );
    let server = Server::start("srtp-trunk", &format!("{}{trunk}", config(lo, hi, "off")));
    carrier.server = server.sip;

    // Plain RTP from a trunk that requires SRTP: 488, no call.
    let plain = carrier
        .invite("srtp-plain", &carrier.offer("RTP/AVP", None))
        .expect("a final response");
    assert_eq!(plain.status, 488);
    carrier.in_dialog("ACK", 1, "srtp-plain", &plain);

    // SRTP: our key in the offer, the server's own key in its answer.
    let ours = Crypto {
        tag: 1,
        suite: Suite::AesCm128HmacSha1_80,
        key: MasterKey::new([0x42; 16], [0x24; 14]),
    };
    let ok = carrier
        .invite("srtp-ok", &carrier.offer("RTP/SAVP", Some(&ours)))
        .unwrap_or_else(|| panic!("no answer; log:\n{}", server.log_text()));
    assert_eq!(ok.status, 200, "{}", server.log_text());
    let answer = SessionDescription::parse(ok.body.as_bytes()).expect("answer SDP");
    let m = &answer.media[0];
    assert_eq!(m.protocol, "RTP/SAVP");
    let theirs = m
        .first_supported_crypto()
        .expect("the server's crypto line");
    assert_eq!((theirs.tag, theirs.suite), (1, Suite::AesCm128HmacSha1_80));
    assert_ne!(
        theirs.key, ours.key,
        "the server answers with a key of its own"
    );
    let media_to: SocketAddr = format!("127.0.0.1:{}", m.port).parse().expect("addr");
    carrier.in_dialog("ACK", 1, "srtp-ok", &ok);

    // Receive the IVR prompt (SRTP under the server's key) while sending 50 genuine
    // packets, 5 forged ones (a flipped payload bit) and one replay.
    let mut rx = SrtpContext::new(theirs.suite, &theirs.key);
    let mut tx = SrtpContext::new(ours.suite, &ours.key);
    let (mut decrypted, mut refused, mut pcm) = (0, 0, Vec::new());
    let mut sent = Vec::new();
    let mut buf = [0u8; 2048];
    let start = std::time::Instant::now();
    for i in 0..75u16 {
        let tick = start + Duration::from_millis(20) * u32::from(i + 1);
        if i < 50 {
            let mut p = rtp(100 + i, 0x5eed_5eed, &[0xff; 160]);
            p.resize(p.len() + 10, 0);
            let n = tx.protect_rtp(&mut p, 172).expect("protect");
            p.truncate(n);
            carrier.rtp.send_to(&p, media_to).expect("send");
            if i % 10 == 5 {
                let mut forged = p.clone();
                forged[40] ^= 0x01;
                carrier.rtp.send_to(&forged, media_to).expect("send");
            }
            sent.push(p);
        }
        if i == 60 {
            carrier.rtp.send_to(&sent[30], media_to).expect("replay");
        }
        // Receive until the next 20 ms tick.
        loop {
            let now = std::time::Instant::now();
            if now >= tick {
                break;
            }
            carrier
                .rtp
                .set_read_timeout(Some(tick - now))
                .expect("timeout");
            let Ok((n, _)) = carrier.rtp.recv_from(&mut buf) else {
                break;
            };
            match rx.unprotect_rtp(&mut buf[..n]) {
                Ok(len) if buf[1] & 0x7f == 0 => {
                    decrypted += 1;
                    pcm.extend(buf[12..len].iter().map(|&b| ulaw(b)));
                }
                Ok(_) => decrypted += 1,
                Err(_) => refused += 1,
            }
        }
    }
    carrier.in_dialog("BYE", 2, "srtp-ok", &ok);
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.data["status"] != 488)
        .unwrap_or_else(|| panic!("call.end; log:\n{}", server.log_text()));

    assert!(
        decrypted > 20,
        "the IVR's SRTP decrypts under the answered key ({decrypted})"
    );
    assert_eq!(refused, 0, "every packet from the server authenticates");
    let loud = pcm.iter().filter(|s| s.abs() > 1000.0).count();
    assert!(
        loud > 800,
        "the decrypted prompt is audio, not noise-free silence ({loud})"
    );
    let quality = end.data["quality"].as_array().expect("quality").clone();
    let caller = quality
        .iter()
        .find(|q| q["leg"] == "caller")
        .unwrap_or_else(|| panic!("caller leg in {quality:?}"));
    assert_eq!(caller["srtp"], true, "{caller}");
    assert_eq!(
        caller["srtp_rejected"], 6,
        "5 forged + 1 replayed: {caller}"
    );
    assert_eq!(
        caller["packets"], 50,
        "only the genuine packets reach the session"
    );
    assert_eq!(
        metric(&server, "switchboard_srtp_rejected_total"),
        Some(6.0)
    );
    // Neither key appears in the log.
    let log = server.log_text();
    for key in [&ours, &theirs] {
        let value = key.to_value();
        let b64 = value.split("inline:").nth(1).expect("inline key");
        assert!(!log.contains(b64), "the log never shows key material");
    }
}
