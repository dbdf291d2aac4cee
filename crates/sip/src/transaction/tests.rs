//! Unit tests of the transaction layer: timer E/T2 behaviour, scaled timers, stale keys
//! and load shedding.

use super::*;
use switchboard_sip_message::Uri;

fn layer(max: usize) -> TransactionLayer {
    let mut c = TxConfig::new("192.0.2.1:5060".parse().expect("addr"));
    c.max_transactions = max;
    TransactionLayer::new(c, 9)
}

fn options(l: &mut TransactionLayer) -> Request {
    let mut r = Request::new(Method::Options, Uri::parse("sip:x@192.0.2.2").expect("uri"));
    let tag = l.new_tag();
    r.headers
        .push(HeaderName::From, format!("<sip:a@192.0.2.1>;tag={tag}"));
    r.headers.push(HeaderName::To, "<sip:x@192.0.2.2>");
    r.headers.push(HeaderName::CallId, l.new_call_id());
    r.headers.push(HeaderName::CSeq, "1 OPTIONS");
    r
}

fn transmits(l: &mut TransactionLayer) -> Vec<Bytes> {
    let mut v = Vec::new();
    while let Some(o) = l.poll_output() {
        if let Output::Transmit { bytes, .. } = o {
            v.push(bytes);
        }
    }
    v
}

#[test]
fn timer_e_runs_at_t2_once_proceeding() {
    let t0 = crate::test_epoch();
    let mut l = layer(10);
    let dest = "192.0.2.2:5060".parse().expect("addr");
    let req = options(&mut l);
    let k = l.send_request(t0, dest, Transport::Udp, req).expect("send");
    assert_eq!(transmits(&mut l).len(), 1);
    let sent = l.request(k).expect("req").clone();
    let trying = Response::for_request(&sent, StatusCode::TRYING);
    l.handle_message(
        t0 + Duration::from_millis(100),
        dest,
        Transport::Udp,
        Message::Response(trying),
    );
    assert_eq!(l.state(k), Some(TxState::Proceeding));
    // E was armed at T1 before the 100; it fires there, then every T2.
    let first = t0 + Duration::from_millis(500);
    assert_eq!(l.poll_timeout(), Some(first));
    l.handle_timeout(first);
    assert_eq!(transmits(&mut l).len(), 1);
    assert_eq!(l.poll_timeout(), Some(first + Duration::from_secs(4)));
}

#[test]
fn custom_t1_scales_every_timer() {
    let t0 = crate::test_epoch();
    let mut c = TxConfig::new("192.0.2.1:5060".parse().expect("addr"));
    c.timers.t1 = Duration::from_millis(100);
    let mut l = TransactionLayer::new(c, 1);
    let dest = "192.0.2.2:5060".parse().expect("addr");
    let mut inv = options(&mut l);
    inv.method = Method::Invite;
    inv.headers.set(HeaderName::CSeq, "1 INVITE");
    let k = l.send_request(t0, dest, Transport::Udp, inv).expect("send");
    assert_eq!(
        l.poll_timeout(),
        Some(t0 + Duration::from_millis(100)),
        "timer A = T1"
    );
    let mut sends = 0;
    let mut timeout_at = None;
    let mut now = t0;
    while let Some(next) = l.poll_timeout() {
        now = next;
        l.handle_timeout(now);
        while let Some(o) = l.poll_output() {
            match o {
                Output::Transmit { .. } => sends += 1,
                Output::Event(TxEvent::Timeout {
                    key,
                    timer: Timer::B,
                }) if key == k => timeout_at = Some(now),
                Output::Event(_) => {}
            }
        }
    }
    assert_eq!(
        timeout_at,
        Some(t0 + Duration::from_millis(6400)),
        "timer B = 64*T1"
    );
    assert_eq!(
        sends, 7,
        "the INVITE, then A at 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s"
    );
    assert!(now >= t0 + Duration::from_millis(6400));
}

#[test]
fn keys_go_stale_and_wrong_calls_are_refused() {
    let t0 = crate::test_epoch();
    let mut l = layer(10);
    let dest = "192.0.2.2:5060".parse().expect("addr");
    let req = options(&mut l);
    let k = l
        .send_request(t0, dest, Transport::Tcp, req.clone())
        .expect("send");
    let ok = Response::for_request(&req, StatusCode::OK);
    assert!(matches!(
        l.send_response(t0, k, ok),
        Err(TxError::InvalidState(_))
    ));
    let mut ack = req.clone();
    ack.method = Method::Ack;
    assert!(matches!(
        l.send_request(t0, dest, Transport::Udp, ack),
        Err(TxError::WrongMethod(Method::Ack))
    ));
    l.handle_timeout(t0 + Duration::from_secs(33)); // timer F
    assert_eq!(l.state(k), None);
    assert!(l.is_empty());
    // A new transaction may reuse the slot; the old key must not reach it.
    let again = options(&mut l);
    let k2 = l
        .send_request(t0, dest, Transport::Tcp, again)
        .expect("send");
    assert_ne!(k, k2);
    assert_eq!(l.cancel(t0, k), Err(TxError::NoSuchTransaction));
}

#[test]
fn server_refuses_a_second_final_and_sheds_load_with_503() {
    let t0 = crate::test_epoch();
    let mut l = layer(1);
    let from: SocketAddr = "192.0.2.9:5060".parse().expect("addr");
    let mut req = options(&mut l);
    req.headers.0.insert(
        0,
        Header {
            name: HeaderName::Via,
            value: "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKs1".into(),
        },
    );
    l.handle_message(t0, from, Transport::Udp, Message::Request(req.clone()));
    let key = match l.poll_output() {
        Some(Output::Event(TxEvent::NewRequest { key, .. })) => key,
        other => panic!("expected NewRequest, got {other:?}"),
    };
    let ok = Response::for_request(&req, StatusCode::OK);
    l.send_response(t0, key, ok.clone()).expect("first final");
    assert_eq!(transmits(&mut l).len(), 1);
    assert!(matches!(
        l.send_response(t0, key, ok),
        Err(TxError::InvalidState(Some(TxState::Completed)))
    ));
    // The layer is full: the next new request is answered 503 without a transaction.
    let mut other = options(&mut l);
    other.headers.0.insert(
        0,
        Header {
            name: HeaderName::Via,
            value: "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKs2".into(),
        },
    );
    l.handle_message(t0, from, Transport::Udp, Message::Request(other));
    let sent = transmits(&mut l);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with(b"SIP/2.0 503"));
    assert_eq!(l.len(), 1);
}

/// An INVITE from 192.0.2.9 answered 200; returns its key and the To tag we gave it.
fn accepted_invite(l: &mut TransactionLayer, t0: Instant) -> (TxKey, Request, String) {
    let from: SocketAddr = "192.0.2.9:5060".parse().expect("addr");
    let mut inv = Request::new(Method::Invite, Uri::parse("sip:q@192.0.2.1").expect("uri"));
    inv.headers
        .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKinv1");
    inv.headers
        .push(HeaderName::From, "<sip:a@192.0.2.9>;tag=caller");
    inv.headers.push(HeaderName::To, "<sip:q@192.0.2.1>");
    inv.headers.push(HeaderName::CallId, "blind-ack-call");
    inv.headers.push(HeaderName::CSeq, "7 INVITE");
    l.handle_message(t0, from, Transport::Udp, Message::Request(inv.clone()));
    let mut key = None;
    while let Some(o) = l.poll_output() {
        if let Output::Event(TxEvent::NewRequest { key: k, .. }) = o {
            key = Some(k);
        }
    }
    let key = key.expect("NewRequest for the INVITE");
    l.send_response(t0, key, Response::for_request(&inv, StatusCode::OK))
        .expect("200");
    let sent = transmits(l);
    let text = String::from_utf8_lossy(&sent[0]).to_string();
    let tag = text
        .lines()
        .find(|h| h.starts_with("To:"))
        .and_then(|h| h.split("tag=").nth(1))
        .expect("To tag on the 200")
        .trim()
        .to_string();
    (key, inv, tag)
}

fn ack_for(inv: &Request, branch: &str, to_tag: &str, cseq: u32) -> Request {
    let mut ack = inv.clone();
    ack.method = Method::Ack;
    ack.headers.set(
        HeaderName::Via,
        format!("SIP/2.0/UDP 192.0.2.9;branch={branch}"),
    );
    ack.headers
        .set(HeaderName::To, format!("<sip:q@192.0.2.1>;tag={to_tag}"));
    ack.headers.set(HeaderName::CSeq, format!("{cseq} ACK"));
    ack
}

fn acked(l: &mut TransactionLayer) -> bool {
    let mut seen = false;
    while let Some(o) = l.poll_output() {
        if let Output::Event(TxEvent::AckFor2xx { .. }) = o {
            seen = true;
        }
    }
    seen
}

#[test]
fn an_ack_with_a_wrong_to_tag_or_cseq_confirms_nothing_and_is_counted() {
    let t0 = crate::test_epoch();
    let mut l = layer(10);
    let from: SocketAddr = "192.0.2.9:5060".parse().expect("addr");
    let (_key, inv, tag) = accepted_invite(&mut l, t0);
    // Blind ACKs: a guessed To tag, the right tag with another CSeq, and one reusing the
    // INVITE's branch (the RFC 2543 path) with a guessed tag.
    for ack in [
        ack_for(&inv, "z9hG4bKack1", "guessed", 7),
        ack_for(&inv, "z9hG4bKack2", &tag, 8),
        ack_for(&inv, "z9hG4bKinv1", "guessed", 7),
    ] {
        l.handle_message(t0, from, Transport::Udp, Message::Request(ack));
        assert!(!acked(&mut l), "a blind ACK confirmed the dialog");
    }
    assert_eq!(l.stats().stray_acks, 3);
    // The real ACK still confirms it.
    l.handle_message(
        t0,
        from,
        Transport::Udp,
        Message::Request(ack_for(&inv, "z9hG4bKack3", &tag, 7)),
    );
    assert!(acked(&mut l));
    assert_eq!(l.stats().stray_acks, 3);
}

#[test]
fn an_unacknowledged_2xx_times_out_at_64_t1() {
    let t0 = crate::test_epoch();
    let mut l = layer(10);
    let (key, _inv, _tag) = accepted_invite(&mut l, t0);
    let mut timed_out = None;
    while let Some(next) = l.poll_timeout() {
        l.handle_timeout(next);
        while let Some(o) = l.poll_output() {
            if let Output::Event(TxEvent::Timeout {
                key: k,
                timer: Timer::L,
            }) = o
            {
                assert_eq!(k, key);
                timed_out = Some(next);
            }
        }
    }
    assert_eq!(timed_out, Some(t0 + Duration::from_secs(32)));
}
