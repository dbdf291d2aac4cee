//! SIP over TLS (issue 12, item 7) against the real binary on loopback, with a test CA
//! made here by the `openssl` CLI:
//!
//! - a pjsua2 agent registers over TLS (verifying our certificate against the test CA), a
//!   pjsua2 caller calls the IVR over TLS and is queued; the call reaches the agent over
//!   the agent's own registration connection, and tones cross both ways (decoded);
//! - meanwhile a plain TCP client on the TLS port speaking SIP gets no SIP answer (its
//!   handshake fails and is counted) and blocks nobody;
//! - a carrier connecting over TLS with the client certificate pinned by its `[[trunks]]`
//!   entry is a trunk call; the same INVITE over TLS without that certificate is
//!   challenged (407) like any phone.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use switchboard_e2e::audio::{read_channel, tone_share};
use switchboard_e2e::hostile::metric;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::test_ca::{make_ca, make_leaf, sha256_fingerprint};
use switchboard_e2e::{scratch_dir, Server};

fn tls_config(dir: &Path, extra: &str) -> String {
    let ca = make_ca(dir, "sip");
    let (cert, key) = make_leaf(dir, &ca, "switchboard");
    format!(
        "[sip]\ntls_listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n{extra}",
        cert.display(),
        key.display()
    )
}

/// The tone share of `freq` in the last seconds of what `wav` recorded.
fn tail_tone(wav: &Path, freq: f64) -> f64 {
    let (x, sr) = read_channel(wav, 0);
    let end = x.len().saturating_sub(sr as usize / 4);
    let start = end.saturating_sub(2 * sr as usize);
    tone_share(x.get(start..end).unwrap_or_default(), sr, freq)
}

#[test]
fn pjsua_registers_and_calls_over_tls_and_tones_cross() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let dir = scratch_dir("sip-tls-call");
    let server = Server::start("sip-tls-call", &tls_config(&dir, ""));
    let tls = server.sip_tls.expect("READY names the TLS listener");
    let ca = dir.join("sip-ca.pem");

    // A plain TCP client on the TLS port, speaking SIP: no SIP answer, and it must not
    // stop anyone else. It stays connected while the others work.
    let mut plain = std::net::TcpStream::connect(tls).expect("connect to the TLS port");
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let local = plain.local_addr().expect("addr");
    plain
        .write_all(
            format!(
                "OPTIONS sip:{tls} SIP/2.0\r\nVia: SIP/2.0/TCP {local};branch=z9hG4bKplain1\r\n\
                 From: <sip:probe@{local}>;tag=p1\r\nTo: <sip:{tls}>\r\nCall-ID: plain-on-tls\r\n\
                 CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("write");

    let agent_wav = dir.join("agent.wav");
    let caller_wav = dir.join("caller.wav");
    let mut agent = Softphone::start(
        &py,
        tls,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            record: Some(agent_wav.clone()),
            transport: "tls",
            ca_file: Some(ca.clone()),
            ..Default::default()
        },
    );
    let reg = agent.wait_event("registered", 20);
    assert!(
        reg.as_ref().is_some_and(|r| r["code"] == 200),
        "agent registers over TLS: {reg:?}; log:\n{}",
        server.log_text()
    );
    let (_, regs) = server.http_get("/api/v1/registrations");
    assert!(
        regs.contains("TLS"),
        "the binding records its transport: {regs}"
    );

    let mut caller = Softphone::start(
        &py,
        tls,
        SoftphoneOpts {
            call: Some(format!("sip:100@{tls};transport=tls")),
            tone_hz: 1000,
            record: Some(caller_wav.clone()),
            transport: "tls",
            ca_file: Some(ca.clone()),
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "the IVR answers the TLS caller; log:\n{}",
        server.log_text()
    );
    caller.command("dtmf 1");
    assert!(
        agent.wait_event("incoming", 30).is_some(),
        "the queued call reaches the agent over its TLS registration"
    );
    assert!(agent.wait_event("confirmed", 10).is_some());
    let bridge = server.wait_event(10, |e| e.kind == "call.bridge");
    assert!(bridge.is_some(), "bridged");
    // The plain client got nothing that looks like SIP, and its connection is closed.
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("SIP/2.0"),
        "no SIP answer on the TLS port without TLS"
    );
    // Talk: the tones cross (the media path is the ordinary RTP one).
    let talk_until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < talk_until {
        if caller.wait_event("disconnected", 1).is_some() {
            panic!("caller disconnected during the talk");
        }
    }
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    assert!(
        agent.wait_event("disconnected", 10).is_some(),
        "BYE reaches the agent over TLS"
    );
    caller.quit();
    agent.quit();
    assert!(
        tail_tone(&caller_wav, 2000.0) > 0.3,
        "the caller hears the agent's tone"
    );
    assert!(
        tail_tone(&agent_wav, 1000.0) > 0.3,
        "the agent hears the caller's tone"
    );
    assert!(metric(&server, "switchboard_sip_tls_handshakes_total").unwrap_or(0.0) >= 2.0);
    assert!(
        metric(&server, "switchboard_sip_tls_handshake_failures_total").unwrap_or(0.0) >= 1.0,
        "the plain client's failed handshake is counted"
    );
}

const TLS_INVITE_CLIENT: &str = r#"
import os, socket, ssl, sys
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
if len(sys.argv) > 5:
    ctx.load_cert_chain(sys.argv[4], sys.argv[5])
s = ctx.wrap_socket(socket.create_connection((host, port), timeout=10), server_hostname=host)
local = "%s:%d" % s.getsockname()[:2]
sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")
msg = ("INVITE sips:100@%s:%d SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bKtls%d\r\n"
       "Max-Forwards: 70\r\nFrom: <sips:+79995550101@%s>;tag=carrier%d\r\nTo: <sips:100@%s>\r\n"
       "Call-ID: tls-trunk-%d\r\nCSeq: 1 INVITE\r\nContact: <sips:carrier@%s>\r\n"
       "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
       % (host, port, local, os.getpid(), host, os.getpid(), host, os.getpid(), local, len(sdp), sdp))
s.sendall(msg.encode())
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
    codes = [int(l.split()[1]) for l in buf.decode(errors="replace").split("\r\n") if l.startswith("SIP/2.0 ")]
    if any(c >= 200 for c in codes):
        break
print(" ".join(str(c) for c in codes), flush=True)
"#;

/// Runs the TLS INVITE client; the status codes it saw.
fn tls_invite(tls: std::net::SocketAddr, ca: &Path, client: Option<(&Path, &Path)>) -> Vec<u16> {
    let mut cmd = Command::new("timeout");
    cmd.arg("30")
        .arg("python3")
        .arg("-c")
        .arg(TLS_INVITE_CLIENT)
        .arg(tls.ip().to_string())
        .arg(tls.port().to_string())
        .arg(ca);
    if let Some((cert, key)) = client {
        cmd.arg(cert).arg(key);
    }
    let out = cmd.output().expect("run python3");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "TLS client: {text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect()
}

#[test]
fn a_carrier_is_trusted_by_its_pinned_client_certificate_and_nothing_else() {
    let dir = scratch_dir("sip-tls-trunk-cert");
    // The carrier's client certificate comes from its own CA: the pin, not a chain, makes
    // it the trunk.
    let carrier_ca = make_ca(&dir, "carrier");
    let (carrier_cert, carrier_key) = make_leaf(&dir, &carrier_ca, "carrier-client");
    let (other_cert, other_key) = make_leaf(&dir, &carrier_ca, "someone-else");
    let pin = sha256_fingerprint(&dir, &carrier_cert);
    let cfg = tls_config(
        &dir,
        &format!(
            "trusted_trunks = []\n[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:5999\"\n\
             transport = \"tls\"\ntls_ca_file = \"{}\"\ntls_client_cert_fingerprint = \"{pin}\"\n",
            carrier_ca.0.display()
        ),
    );
    let server = Server::start("sip-tls-trunk-cert", &cfg);
    let tls = server.sip_tls.expect("TLS listener");
    let ca = dir.join("sip-ca.pem");

    let pinned = tls_invite(tls, &ca, Some((&carrier_cert, &carrier_key)));
    let last = pinned.last().copied().unwrap_or(0);
    assert!(
        (200..300).contains(&last),
        "the pinned carrier's INVITE is a trunk call the IVR answers: {pinned:?}; log:\n{}",
        server.log_text()
    );
    let other = tls_invite(tls, &ca, Some((&other_cert, &other_key)));
    assert_eq!(
        other.last().copied(),
        Some(407),
        "another certificate (same CA) is not the trunk: {other:?}"
    );
    let none = tls_invite(tls, &ca, None);
    assert_eq!(
        none.last().copied(),
        Some(407),
        "no client certificate: challenged like a phone: {none:?}"
    );
}
