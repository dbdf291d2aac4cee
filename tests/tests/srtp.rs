//! SRTP with SDES keys (issue 12, item 7; docs/decisions/0033-srtp-sdes.md), against the
//! real binary and pjsua2 on loopback:
//!
//! - an agent whose pjsua2 makes SRTP mandatory (`srtp = "required"` for the user) takes a
//!   plain-RTP caller's call from the queue: the tones cross both ways (decoded and
//!   checked in each phone's recording and in the call recording), while a raw capture of
//!   what the server sends shows the agent's stream is not the caller's PCMU (it decodes
//!   to noise, carries a 10-byte tag) and the caller's plain stream is the agent's tone;
//! - a `required` user whose phone offers plain RTP gets 488 and no call.

use std::time::Duration;

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::hostile::metric;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::rtp_capture::{flows, RtpCapture};
use switchboard_e2e::{scratch_dir, Server};

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
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let (lo, hi) = server_rtp_ports(0);
    let Some(cap) = RtpCapture::start(lo..=hi) else {
        if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("capturing RTP needs a raw socket (root or CAP_NET_RAW)");
        }
        eprintln!("SKIPPED: no raw socket (run as root or with CAP_NET_RAW)");
        return;
    };
    let server = Server::start("srtp-bridge", &config(lo, hi, "required"));
    let dir = scratch_dir("srtp-bridge-phones");
    let (caller_wav, agent_wav) = (dir.join("caller.wav"), dir.join("agent.wav"));

    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            record: Some(agent_wav.clone()),
            srtp: "mandatory",
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
        assert!(
            audio.iter().all(|p| p.payload_len == 170),
            "160 bytes of PCMU + a 10-byte AES_CM_128_HMAC_SHA1_80 tag per packet"
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
        let mut payloads: Vec<&[u8]> = audio.iter().map(|p| &p.payload[..160]).collect();
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
