//! A carrier's address has transaction caps of its own (issue 12 item 4, session 9): the
//! per-source caps sized for phones and strangers would answer a busy trunk with 503s.
//! Lowered here so a small run crosses them (`transactions_per_source = 16`,
//! `transaction_bytes_per_source = 64 KiB`): SIPp as the trunk (127.0.0.2, `inbound =
//! true`) brings 60 answered calls at 20 a second, which leave an INVITE's and a BYE's
//! transaction each for 32 s — far over those caps — and none gets 503; an unknown source
//! (127.0.0.3) sending INVITEs at the same rate at the same time gets 503s once it holds
//! its 16, counted in `switchboard_sip_transactions_refused_source_share_total`.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use switchboard_e2e::hostile::{metric, sipp_from};
use switchboard_e2e::{require_peer, sipp_trace, Server};

const CALLS: u32 = 60;
const RATE: u32 = 20;

fn invite(n: u32, from: std::net::SocketAddr, to: std::net::SocketAddr) -> String {
    let body = format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n",
        ip = from.ip()
    );
    format!(
        "INVITE sip:100@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-caps-{n}\r\n\
         From: <sip:+79990000{n:03}@{ip}>;tag=caps{n}\r\n\
         To: <sip:100@{to}>\r\n\
         Call-ID: caps-{n}@{ip}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:stranger@{from}>\r\n\
         Max-Forwards: 70\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {len}\r\n\r\n{body}",
        ip = from.ip(),
        len = body.len()
    )
}

/// Sends `CALLS` INVITEs at `RATE` a second from 127.0.0.3 (never ACKing, as a flood
/// would not: each refused INVITE's transaction stays 32 s), and returns each Call-ID's
/// final status.
fn stranger(target: std::net::SocketAddr) -> HashMap<String, u16> {
    let sock = UdpSocket::bind("127.0.0.3:0").expect("stranger socket");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let me = sock.local_addr().expect("addr");
    let start = Instant::now();
    let mut finals = HashMap::new();
    let mut buf = vec![0u8; 65536];
    let mut sent = 0;
    // Sent on schedule; answers read until every INVITE has a final one (or 20 s).
    while (sent < CALLS || finals.len() < CALLS as usize)
        && start.elapsed() < Duration::from_secs(20)
    {
        let due = start + Duration::from_millis(u64::from(sent) * 1000 / u64::from(RATE));
        if sent < CALLS && Instant::now() >= due {
            sock.send_to(invite(sent, me, target).as_bytes(), target)
                .expect("send");
            sent += 1;
        }
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            let status: Option<u16> = text
                .strip_prefix("SIP/2.0 ")
                .and_then(|r| r.get(..3))
                .and_then(|c| c.parse().ok());
            let call_id = text
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("call-id:"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string());
            if let (Some(s), Some(id)) = (status, call_id) {
                if s >= 200 {
                    finals.entry(id).or_insert(s);
                }
            }
        }
    }
    finals
}

#[test]
fn a_trunk_over_the_per_source_caps_gets_no_503_while_a_stranger_at_its_rate_does() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start(
        "trunk-caps",
        "[sip]\ntrusted_trunks = []\n\
         [limits]\ntransactions_per_source = 16\ntransaction_bytes_per_source = 65536\n\
         [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.2:5060\"\ninbound = true\n",
    );
    let target = server.sip;
    let trunk = std::thread::spawn(move || {
        let rate = RATE.to_string();
        let calls = CALLS.to_string();
        sipp_from(
            "127.0.0.2",
            "call_answered.xml",
            target,
            &[
                "-s",
                "100",
                "-r",
                &rate,
                "-m",
                &calls,
                "-d",
                "500",
                "-trace_err",
            ],
            90,
        )
    });
    let finals = stranger(target);
    let out = trunk.join().expect("sipp thread");
    // Every trunk call was answered and hung up: no 503 (SIPp fails a call on any
    // unexpected response), although the trunk held far more than 16 transactions.
    assert!(
        out.status.success(),
        "the trunk's {CALLS} calls: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    let held = metric(&server, "switchboard_sip_trunk_transaction_bytes").unwrap_or(0.0);
    assert!(
        held > 65536.0,
        "the trunk's lingering transactions hold more than an unknown source's byte cap: {held}"
    );
    // The stranger got its 16 transactions and 503 beyond them.
    let refused = finals.values().filter(|s| **s == 503).count();
    assert!(
        refused > 0 && finals.len() == CALLS as usize,
        "the stranger's finals: {finals:?}"
    );
    let others = finals.len() - refused;
    assert!(others <= 16, "at most its 16 got a transaction: {finals:?}");
    let counted = metric(
        &server,
        "switchboard_sip_transactions_refused_source_share_total",
    )
    .unwrap_or(0.0);
    assert_eq!(
        counted, refused as f64,
        "every 503 (all the stranger's) is counted"
    );
    assert_eq!(
        metric(&server, "switchboard_sip_trunk_transactions_refused_total"),
        Some(0.0)
    );
}

/// A trunk whose own caps are too small for its traffic gets 503s like anyone, and the
/// operator is told: counted apart from strangers' refusals, and a warning in the log.
#[test]
fn a_trunk_at_its_own_caps_is_refused_counted_and_warned_about() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start(
        "trunk-caps-small",
        "[sip]\ntrusted_trunks = []\n\
         [[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.2:5060\"\ninbound = true\n\
         max_transactions = 16\n",
    );
    let out = sipp_from(
        "127.0.0.2",
        "call_answered.xml",
        server.sip,
        &["-s", "100", "-r", "20", "-m", "40", "-d", "500"],
        60,
    );
    assert!(
        !out.status.success(),
        "40 calls cannot fit 16 transactions: {}",
        sipp_trace(&out)
    );
    let refused =
        metric(&server, "switchboard_sip_trunk_transactions_refused_total").unwrap_or(0.0);
    assert!(refused > 0.0, "counted as the trunk's refusals");
    assert_eq!(
        metric(
            &server,
            "switchboard_sip_transactions_refused_source_share_total"
        ),
        Some(0.0),
        "not as a stranger's"
    );
    assert!(
        server
            .log_text()
            .contains("a trunk address met its own transaction caps"),
        "warned in the log:\n{}",
        server.log_text()
    );
}
