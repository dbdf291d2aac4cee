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
