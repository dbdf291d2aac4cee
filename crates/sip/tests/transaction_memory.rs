//! What lingering server transactions keep (issue #16 item 3): a UAS answers calls
//! (INVITE with an SDP offer and a phone's usual headers, 200, ACK, BYE, 200) on a fake
//! clock; once answered and ACKed, a transaction keeps only what absorbing
//! retransmissions needs, and `TxStats::server_bytes` (the
//! `switchboard_sip_transaction_bytes` gauge) says so.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_sip::{Dialog, Output, TransactionLayer, Transport, TxConfig, TxEvent};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Method, Request, Response, StatusCode, Uri,
};

const UA: &str = "10.0.0.1:5060";
const US: &str = "10.0.0.2:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("addr")
}

/// Moves messages both ways until quiet. The UAS (`uas`) answers every request 200; the
/// UAC ACKs each INVITE's 2xx and then hangs up. Returns the bytes the UAS and the UAC
/// transmitted.
fn run(
    now: Instant,
    uac: &mut TransactionLayer,
    uas: &mut TransactionLayer,
) -> (Vec<Bytes>, Vec<Bytes>) {
    let (mut sent, mut asked) = (Vec::new(), Vec::new());
    loop {
        let mut any = false;
        while let Some(o) = uac.poll_output() {
            any = true;
            match o {
                Output::Transmit { bytes, .. } => {
                    asked.push(bytes.clone());
                    let m = parse_datagram(&bytes, &Limits::default()).expect("parse");
                    uas.handle_message(now, addr(UA), Transport::Udp, m);
                }
                Output::Event(TxEvent::Response { key, resp }) if resp.status.is_success() => {
                    let req = uac.request(key).expect("req").clone();
                    if req.method == Method::Invite {
                        let mut d = Dialog::uac(&req, &resp).expect("dialog");
                        uac.send_ack_for_2xx(now, key, addr(US), Transport::Udp, d.ack(1))
                            .expect("ack");
                        uac.send_request(now, addr(US), Transport::Udp, d.request(Method::Bye))
                            .expect("bye");
                    }
                }
                Output::Event(_) => {}
            }
        }
        while let Some(o) = uas.poll_output() {
            any = true;
            match o {
                Output::Transmit { bytes, .. } => {
                    sent.push(bytes.clone());
                    let m = parse_datagram(&bytes, &Limits::default()).expect("parse");
                    uac.handle_message(now, addr(US), Transport::Udp, m);
                }
                Output::Event(TxEvent::NewRequest { key, req, .. }) => {
                    let mut r = Response::for_request(&req, StatusCode::OK);
                    if req.method == Method::Invite {
                        r.headers
                            .push(HeaderName::Contact, format!("<sip:agent@{US}>"));
                        r.headers.push(HeaderName::ContentType, "application/sdp");
                        r.body = sdp();
                    }
                    uas.send_response(now, key, r).expect("respond");
                }
                Output::Event(_) => {}
            }
        }
        if !any {
            return (sent, asked);
        }
    }
}

fn sdp() -> Bytes {
    Bytes::from_static(
        b"v=0\r\no=- 3912345678 3912345678 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n\
t=0 0\r\nm=audio 40000 RTP/AVP 0 8 9 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n\
a=sendrecv\r\n",
    )
}

/// An INVITE as a desk phone sends it: SDP offer plus the usual headers.
fn invite(uac: &mut TransactionLayer, n: u64) -> Request {
    let mut inv = Request::new(
        Method::Invite,
        Uri::parse(&format!("sip:100@{US}")).expect("uri"),
    );
    let tag = uac.new_tag();
    let h = &mut inv.headers;
    h.push(
        HeaderName::From,
        format!("\"Caller {n}\" <sip:{n}@10.0.0.1>;tag={tag}"),
    );
    h.push(HeaderName::To, format!("<sip:100@{US}>"));
    h.push(HeaderName::CallId, uac.new_call_id());
    h.push(HeaderName::CSeq, "1 INVITE");
    h.push(
        HeaderName::Contact,
        format!("<sip:{n}@10.0.0.1:5060;transport=udp>"),
    );
    h.push(HeaderName::MaxForwards, "70");
    h.push(HeaderName::UserAgent, "Desk Phone 5.2.1 build 0042");
    h.push(
        HeaderName::Allow,
        "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE, PRACK",
    );
    h.push(HeaderName::Supported, "replaces, timer, 100rel");
    h.push(HeaderName::ContentType, "application/sdp");
    inv.body = sdp();
    inv
}

#[test]
fn an_answered_call_leaves_only_what_absorbs_retransmissions() {
    let t0 = switchboard_test_support::epoch();
    let mut uac = TransactionLayer::new(TxConfig::new(addr(UA)), 1);
    let mut uas = TransactionLayer::new(TxConfig::new(addr(US)), 2);
    let inv = invite(&mut uac, 1);
    let offered = inv.body.len();
    uac.send_request(t0, addr(US), Transport::Udp, inv)
        .expect("send");
    let (sent, asked) = run(t0, &mut uac, &mut uas);
    assert!(
        sent.iter().any(|b| b.starts_with(b"SIP/2.0 200")),
        "answered"
    );
    // Both server transactions (the INVITE's, the BYE's) linger for retransmissions.
    assert_eq!(uas.len(), 2);
    let held = uas.stats().server_bytes;
    // Two transactions' fixed overhead (512 each), their identity headers (Via, From, To,
    // Call-ID, CSeq) and the BYE's 200 (a retransmitted BYE is answered with it): not the
    // offer, the INVITE's other headers or its 2xx with our answer.
    assert!(offered > 250);
    assert!(held < 2 * 512 + 1400, "held {held} bytes");
    // A retransmitted BYE still gets the same 200.
    let bye_200 = sent.last().expect("200 to BYE").clone();
    assert!(String::from_utf8_lossy(&bye_200).contains("BYE"));
    let bye = asked
        .iter()
        .find(|b| b.starts_with(b"BYE "))
        .expect("BYE sent");
    let m = parse_datagram(bye, &Limits::default()).expect("parse");
    uas.handle_message(t0, addr(UA), Transport::Udp, m);
    let mut again = Vec::new();
    while let Some(o) = uas.poll_output() {
        if let Output::Transmit { bytes, .. } = o {
            again.push(bytes);
        }
    }
    assert_eq!(again, [bye_200], "the BYE's 200 is sent again, unchanged");
    // Everything ends after 32 s and the gauge returns to zero.
    let mut now = t0;
    while let Some(t) = uas.poll_timeout() {
        now = t;
        uas.handle_timeout(now);
        while uas.poll_output().is_some() {}
    }
    assert!(now <= t0 + Duration::from_secs(33));
    assert_eq!(uas.stats().server_bytes, 0);
    assert!(uas.is_empty());
}

/// Server-transaction bytes held at 1,000 calls/s (INVITE/200/ACK, BYE/200 each) once the
/// 32 s windows are full: `cargo test -p switchboard-sip --test transaction_memory --
/// --ignored --nocapture` (figures in benches/README.md).
#[test]
#[ignore = "measurement"]
fn bytes_held_at_a_thousand_calls_per_second() {
    let t0 = switchboard_test_support::epoch();
    let mut cfg = TxConfig::new(addr(US));
    cfg.max_server_per_source = 1 << 20;
    cfg.max_bytes_per_source = usize::MAX / 4;
    cfg.max_bytes = usize::MAX / 4;
    let mut uac = TransactionLayer::new(TxConfig::new(addr(UA)), 1);
    let mut uas = TransactionLayer::new(cfg, 2);
    let mut now = t0;
    let calls = 40_000u64;
    for n in 0..calls {
        now += Duration::from_millis(1);
        let inv = invite(&mut uac, n);
        uac.send_request(now, addr(US), Transport::Udp, inv)
            .expect("send");
        let _ = run(now, &mut uac, &mut uas);
        for l in [&mut uac, &mut uas] {
            if l.poll_timeout().is_some_and(|t| t <= now) {
                l.handle_timeout(now);
            }
        }
        let _ = run(now, &mut uac, &mut uas);
    }
    let held = uas.stats().server_bytes;
    let live = uas.len();
    println!(
        "1,000 calls/s: {live} server transactions held {held} bytes (estimate) = {} bytes per \
         call in the 32 s window",
        held / 32_000
    );
}
