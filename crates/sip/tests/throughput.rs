//! Throughput of two transaction layers exchanging real bytes (print + parse included):
//! `cargo test --release -p switchboard-sip --test throughput -- --ignored --nocapture`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchboard_sip::{Dialog, Output, TransactionLayer, Transport, TxConfig, TxEvent};
use switchboard_sip_message::{
    parse_datagram, HeaderName, Limits, Method, Request, Response, StatusCode, Uri,
};

fn wall() -> Instant {
    switchboard_test_support::epoch()
}

/// Drains `src`: transmits go into `dst`, events to `tu` (which may act on `src`).
fn step(
    now: Instant,
    src: &mut TransactionLayer,
    src_addr: SocketAddr,
    dst: &mut TransactionLayer,
    mut tu: impl FnMut(&mut TransactionLayer, TxEvent),
) -> bool {
    let mut any = false;
    while let Some(o) = src.poll_output() {
        any = true;
        match o {
            Output::Transmit { bytes, .. } => {
                let msg = parse_datagram(&bytes, &Limits::default()).expect("parse");
                dst.handle_message(now, src_addr, Transport::Udp, msg);
            }
            Output::Event(e) => tu(src, e),
        }
    }
    any
}

#[test]
#[ignore = "measurement; run in release"]
fn calls_per_second_through_two_layers() {
    let ua: SocketAddr = "10.0.0.1:5060".parse().expect("addr");
    let us: SocketAddr = "10.0.0.2:5060".parse().expect("addr");
    let mut uac = TransactionLayer::new(TxConfig::new(ua), 1);
    let mut uas = TransactionLayer::new(TxConfig::new(us), 2);
    let calls: u32 = 20_000;
    let mut now = wall();
    let mut peak = 0;
    let mut completed = 0u32;
    let start = wall();
    for i in 0..calls {
        // 2,000 call attempts per second of simulated time.
        now += Duration::from_micros(500);
        let mut inv = Request::new(
            Method::Invite,
            Uri::parse("sip:agent@10.0.0.2").expect("uri"),
        );
        let tag = uac.new_tag();
        let cid = uac.new_call_id();
        inv.headers
            .push(HeaderName::From, format!("<sip:c{i}@10.0.0.1>;tag={tag}"));
        inv.headers.push(HeaderName::To, "<sip:agent@10.0.0.2>");
        inv.headers.push(HeaderName::CallId, cid);
        inv.headers.push(HeaderName::CSeq, "1 INVITE");
        inv.headers.push(HeaderName::Contact, "<sip:c@10.0.0.1>");
        uac.send_request(now, us, Transport::Udp, inv)
            .expect("send");
        loop {
            let a = step(now, &mut uac, ua, &mut uas, |l, e| {
                if let TxEvent::Response { key, resp } = e {
                    let invite_ok = resp.status.is_success()
                        && resp
                            .headers
                            .cseq()
                            .is_ok_and(|c| c.method == Method::Invite);
                    if invite_ok {
                        let req = l.request(key).expect("req").clone();
                        let mut d = Dialog::uac(&req, &resp).expect("dialog");
                        l.send_ack_for_2xx(now, key, us, Transport::Udp, d.ack(1))
                            .expect("ack");
                        l.send_request(now, us, Transport::Udp, d.request(Method::Bye))
                            .expect("bye");
                    } else if resp.status.is_success() {
                        completed += 1;
                    }
                }
            });
            let b = step(now, &mut uas, us, &mut uac, |l, e| {
                if let TxEvent::NewRequest { key, req, .. } = e {
                    let mut r = Response::for_request(&req, StatusCode::OK);
                    if req.method == Method::Invite {
                        r.headers.push(HeaderName::Contact, "<sip:agent@10.0.0.2>");
                    }
                    l.send_response(now, key, r).expect("respond");
                }
            });
            if !a && !b {
                break;
            }
        }
        if uac.poll_timeout().is_some_and(|t| t <= now) {
            uac.handle_timeout(now);
        }
        if uas.poll_timeout().is_some_and(|t| t <= now) {
            uas.handle_timeout(now);
        }
        peak = peak.max(uac.len() + uas.len());
    }
    let took = wall() - start;
    let cps = f64::from(calls) / took.as_secs_f64();
    println!(
        "{calls} calls (INVITE/100/200/ACK/BYE/200, printed and parsed) in {took:?}: \
         {cps:.0} calls/s, peak {peak} live transactions"
    );
    assert_eq!(completed, calls, "every BYE got its 200");
    assert!(
        peak > 1000,
        "transactions accumulate inside their absorb windows"
    );
}
