//! Transaction-layer timer paths and races, run on the simulated network (fake clock).

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sim::{addr, NetConfig, SimNet, Ua};
use switchboard_sip::{Timer, Transport, TxEvent, TxRole};
use switchboard_sip_message::{parse_datagram, HeaderName, Limits, Message};

const A: &str = "10.0.0.1:5060";
const B: &str = "10.0.0.2:5060";
const HOLE: &str = "10.0.0.99:5060";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn pair(seed: u64, cfg: NetConfig, transport: Transport) -> (SimNet, usize, usize) {
    let mut net = SimNet::new(seed, cfg);
    let e = net.epoch;
    let a = net.add(Box::new(Ua::new(addr(A), transport, seed, e)));
    let b = net.add(Box::new(Ua::new(addr(B), transport, seed + 1000, e)));
    (net, a, b)
}

fn times(net: &SimNet, from: SocketAddr, prefix: &str) -> Vec<Duration> {
    net.sent_by(from, prefix).iter().map(|w| w.sent).collect()
}

fn deltas(ts: &[Duration]) -> Vec<Duration> {
    ts.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn invite_retransmits_double_under_timer_a_until_timer_b() {
    let (mut net, a, _) = pair(1, NetConfig::default(), Transport::Udp);
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(HOLE));
    net.run_for(secs(40));
    let sends = times(&net, addr(A), "INVITE");
    let expect: Vec<Duration> = [0, 500, 1500, 3500, 7500, 15500, 31500]
        .iter()
        .map(|&m| ms(m))
        .collect();
    assert_eq!(sends, expect, "timer A doubles without a cap");
    let ua = net.node::<Ua>(a);
    let t = ua.event_time(|e| matches!(e, TxEvent::Timeout { key, timer: Timer::B } if *key == k));
    assert_eq!(t, Some(secs(32)));
    assert!(ua.tl.is_empty());
}

#[test]
fn non_invite_retransmits_cap_at_t2_until_timer_f() {
    let (mut net, a, _) = pair(2, NetConfig::default(), Transport::Udp);
    let now = net.now;
    let req = net
        .node::<Ua>(a)
        .request(switchboard_sip_message::Method::Options, addr(HOLE));
    let k = net.node::<Ua>(a).send(now, addr(HOLE), req);
    net.run_for(secs(40));
    let sends = times(&net, addr(A), "OPTIONS");
    let d = deltas(&sends);
    assert_eq!(&d[..4], &[ms(500), secs(1), secs(2), secs(4)]);
    assert!(d[4..].iter().all(|x| *x == secs(4)), "capped at T2: {d:?}");
    assert_eq!(sends.len(), 11);
    let ua = net.node::<Ua>(a);
    let t = ua.event_time(|e| matches!(e, TxEvent::Timeout { key, timer: Timer::F } if *key == k));
    assert_eq!(t, Some(secs(32)));
}

#[test]
fn lost_ack_ends_in_timer_h_after_g_retransmits() {
    let (mut net, a, b) = pair(3, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = Some((486, Duration::ZERO));
    net.node::<Ua>(b).script.ring = false;
    net.set_drop_filter(|w| w.line.starts_with("ACK"));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(secs(60));
    let finals = times(&net, addr(B), "SIP/2.0 486");
    let d = deltas(&finals);
    assert_eq!(&d[..4], &[ms(500), secs(1), secs(2), secs(4)], "G doubles");
    assert!(
        d[4..].iter().all(|x| *x == secs(4)),
        "G capped at T2: {d:?}"
    );
    assert_eq!(finals.len(), 11);
    let first = finals[0];
    let uas = net.node::<Ua>(b);
    let h = uas.event_time(|e| {
        matches!(
            e,
            TxEvent::Timeout {
                timer: Timer::H,
                ..
            }
        )
    });
    assert_eq!(h, Some(first + secs(32)));
    // The UAC reported the 486 once and answered every retransmission with an ACK.
    let uac = net.node::<Ua>(a);
    assert_eq!(uac.responses(k), vec![100, 486]);
    assert_eq!(net.sent_by(addr(A), "ACK").len(), 11);
}

#[test]
fn timers_d_and_i_absorb_then_terminate() {
    let (mut net, a, b) = pair(4, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = Some((486, Duration::ZERO));
    net.node::<Ua>(b).script.ring = false;
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(secs(60));
    // INVITE arrives at 20 ms, 486 at 40 ms, ACK at 60 ms.
    assert_eq!(
        times(&net, addr(B), "SIP/2.0 486"),
        vec![ms(20)],
        "ACK stops timer G"
    );
    let uas = net.node::<Ua>(b);
    let i = uas.event_time(|e| {
        matches!(
            e,
            TxEvent::Terminated {
                role: TxRole::Server,
                ..
            }
        )
    });
    assert_eq!(i, Some(ms(60) + secs(5)), "timer I = T4 after the ACK");
    let uac = net.node::<Ua>(a);
    let d = uac.event_time(|e| matches!(e, TxEvent::Terminated { key, .. } if *key == k));
    assert_eq!(d, Some(ms(40) + secs(32)), "timer D = 32 s");
}

#[test]
fn timers_j_and_k_absorb_then_terminate() {
    let (mut net, a, b) = pair(5, NetConfig::default(), Transport::Udp);
    let now = net.now;
    let req = net
        .node::<Ua>(a)
        .request(switchboard_sip_message::Method::Options, addr(B));
    let k = net.node::<Ua>(a).send(now, addr(B), req);
    net.run_for(secs(1));
    // A late retransmission of the request inside timer J gets the same 200 again.
    let opts = net.sent_by(addr(A), "OPTIONS")[0].bytes.clone();
    net.inject(addr(A), addr(B), Transport::Udp, opts);
    net.run_for(secs(60));
    assert_eq!(
        times(&net, addr(B), "SIP/2.0 200"),
        vec![ms(20), secs(1) + ms(20)]
    );
    let uas = net.node::<Ua>(b);
    let news = uas
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::NewRequest { .. }))
        .count();
    assert_eq!(news, 1, "the retransmission is absorbed");
    let j = uas.event_time(|e| matches!(e, TxEvent::Terminated { .. }));
    assert_eq!(j, Some(ms(20) + secs(32)), "timer J = 64*T1");
    let uac = net.node::<Ua>(a);
    assert_eq!(
        uac.responses(k),
        vec![200],
        "the second 200 is absorbed by timer K"
    );
    let kt = uac.event_time(|e| matches!(e, TxEvent::Terminated { .. }));
    assert_eq!(kt, Some(ms(40) + secs(5)), "timer K = T4");
}

#[test]
fn tcp_never_retransmits_and_zeroes_d_i_j_k() {
    let (mut net, a, b) = pair(6, NetConfig::default(), Transport::Tcp);
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(HOLE));
    net.run_for(secs(40));
    assert_eq!(times(&net, addr(A), "INVITE"), vec![Duration::ZERO]);
    let t = net
        .node::<Ua>(a)
        .event_time(|e| matches!(e, TxEvent::Timeout { key, timer: Timer::B } if *key == k));
    assert_eq!(t, Some(secs(32)));

    net.node::<Ua>(b).script.invite_final = Some((486, Duration::ZERO));
    net.node::<Ua>(b).script.ring = false;
    let start = net.elapsed();
    let now = net.now;
    let k2 = net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(secs(60));
    let uac = net.node::<Ua>(a);
    assert_eq!(
        uac.event_time(|e| matches!(e, TxEvent::Terminated { key, .. } if *key == k2)),
        Some(start + ms(40)),
        "D = 0"
    );
    let uas = net.node::<Ua>(b);
    let i = uas.event_time(|e| {
        matches!(
            e,
            TxEvent::Terminated {
                role: TxRole::Server,
                ..
            }
        )
    });
    assert_eq!(i, Some(start + ms(60)), "I = 0");
    assert_eq!(net.sent_by(addr(B), "SIP/2.0 486").len(), 1, "no G on TCP");

    let start = net.elapsed();
    let now = net.now;
    let req = net
        .node::<Ua>(a)
        .request(switchboard_sip_message::Method::Options, addr(B));
    let k3 = net.node::<Ua>(a).send(now, addr(B), req);
    net.run_for(secs(60));
    let uac = net.node::<Ua>(a);
    assert_eq!(
        uac.event_time(|e| matches!(e, TxEvent::Terminated { key, .. } if *key == k3)),
        Some(start + ms(40)),
        "K = 0"
    );
    let uas = net.node::<Ua>(b);
    let j = uas
        .events
        .iter()
        .rev()
        .find(|(_, e)| matches!(e, TxEvent::Terminated { .. }))
        .map(|x| x.0);
    assert_eq!(j, Some(start + ms(20)), "J = 0");
}

#[test]
fn cancel_before_answer_gives_487_and_200() {
    let (mut net, a, b) = pair(7, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = None;
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    assert!(net.run_until(secs(5), |n| n.node::<Ua>(a).responses(k).contains(&180)));
    let now = net.now;
    net.node::<Ua>(a).tl.cancel(now, k).expect("cancel");
    net.run_for(secs(60));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 487]);
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::Cancelled { .. })));
    let cancel_ok = net.sent_by(addr(B), "SIP/2.0 200");
    assert_eq!(cancel_ok.len(), 1);
    assert_eq!(cancel_ok[0].cseq, "CANCEL");
    assert_eq!(net.sent_by(addr(A), "ACK").len(), 1, "ACK for the 487");
    assert!(net.node::<Ua>(a).tl.is_empty() && net.node::<Ua>(b).tl.is_empty());
}

#[test]
fn cancel_waits_for_a_provisional() {
    let (mut net, a, b) = pair(8, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = Some((486, secs(2)));
    net.node::<Ua>(b).script.ring = false;
    net.set_drop_filter(|w| w.line.starts_with("SIP/2.0 100"));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    net.node::<Ua>(a)
        .tl
        .cancel(now, k)
        .expect("cancel is deferred");
    net.run_for(secs(60));
    assert!(
        net.sent_by(addr(A), "CANCEL").is_empty(),
        "never CANCEL before a provisional"
    );
    assert_eq!(net.node::<Ua>(a).responses(k), vec![486]);
}

#[test]
fn cancel_racing_200_ok() {
    let cfg = NetConfig {
        latency: ms(50),
        ..NetConfig::default()
    };
    let (mut net, a, b) = pair(9, cfg, Transport::Udp);
    net.node::<Ua>(b).script.invite_final = Some((200, ms(100)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    assert!(net.run_until(secs(5), |n| n.node::<Ua>(a).responses(k).contains(&180)));
    assert_eq!(net.elapsed(), ms(100));
    net.run_for(ms(20));
    let now = net.now;
    // The 200 left B at 150 ms; our CANCEL arrives at 170 ms.
    net.node::<Ua>(a).tl.cancel(now, k).expect("cancel");
    net.run_for(secs(60));
    let uac = net.node::<Ua>(a);
    assert_eq!(
        uac.responses(k),
        vec![100, 180, 200],
        "the 200 wins; no 487"
    );
    let uas = net.node::<Ua>(b);
    assert!(!uas.has_event(|e| matches!(e, TxEvent::Cancelled { .. })));
    assert!(uas.has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })));
    let oks: Vec<String> = net
        .sent_by(addr(B), "SIP/2.0 200")
        .iter()
        .map(|w| w.cseq.clone())
        .collect();
    assert!(oks.contains(&"CANCEL".to_string()) && oks.contains(&"INVITE".to_string()));
    assert!(net.sent_by(addr(B), "SIP/2.0 487").is_empty());
}

fn raw_invite(branch: &str, from_tag: &str) -> Bytes {
    let s = format!(
        "INVITE sip:svc@10.0.0.2 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 10.0.0.7:5060;branch={branch}\r\n\
         From: <sip:c@10.0.0.7>;tag={from_tag}\r\n\
         To: <sip:svc@10.0.0.2>\r\n\
         Call-ID: merged-1@10.0.0.7\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:c@10.0.0.7>\r\n\
         Max-Forwards: 70\r\n\
         Content-Length: 0\r\n\r\n"
    );
    Bytes::from(s)
}

#[test]
fn merged_request_gets_482() {
    let (mut net, _, b) = pair(10, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = None;
    net.node::<Ua>(b).script.ring = false;
    net.inject(
        addr("10.0.0.7:5060"),
        addr(B),
        Transport::Udp,
        raw_invite("z9hG4bKviaP1", "x1"),
    );
    net.run_for(ms(100));
    net.inject(
        addr("10.0.0.8:5060"),
        addr(B),
        Transport::Udp,
        raw_invite("z9hG4bKviaP2", "x1"),
    );
    net.run_for(secs(1));
    let uas = net.node::<Ua>(b);
    let news = uas
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::NewRequest { .. }))
        .count();
    assert_eq!(news, 1);
    let r482 = net.sent_by(addr(B), "SIP/2.0 482");
    // An INVITE final: retransmitted under timer G like any other (no ACK comes here).
    assert_eq!(r482[0].sent, ms(120));
    assert!(r482.len() >= 2);
    // Source 10.0.0.8 differs from sent-by 10.0.0.7: `received` wins (§18.2.2).
    assert_eq!(r482[0].to, addr("10.0.0.8:5060"));
    assert!(net
        .sent_by(addr(B), "SIP/2.0 100")
        .iter()
        .all(|w| w.to == addr("10.0.0.7:5060")));
}

#[test]
fn retransmitted_invite_is_absorbed_and_answered_with_last_response() {
    let (mut net, _, b) = pair(11, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = None;
    net.node::<Ua>(b).script.ring = false;
    let inv = raw_invite("z9hG4bKretx", "r1");
    net.inject(addr("10.0.0.7:5060"), addr(B), Transport::Udp, inv.clone());
    net.run_for(secs(1));
    net.inject(addr("10.0.0.7:5060"), addr(B), Transport::Udp, inv);
    net.run_for(secs(1));
    let uas = net.node::<Ua>(b);
    let news = uas
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::NewRequest { .. }))
        .count();
    assert_eq!(news, 1);
    assert_eq!(net.sent_by(addr(B), "SIP/2.0 100").len(), 2);
}

#[test]
fn rfc2543_requests_match_without_branch() {
    let (mut net, _, b) = pair(12, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = Some((486, Duration::ZERO));
    net.node::<Ua>(b).script.ring = false;
    let old = "INVITE sip:svc@10.0.0.2 SIP/2.0\r\n\
               Via: SIP/2.0/UDP 10.0.0.7:5060\r\n\
               From: <sip:c@10.0.0.7>\r\n\
               To: <sip:svc@10.0.0.2>\r\n\
               Call-ID: old-1@10.0.0.7\r\n\
               CSeq: 5 INVITE\r\n\
               Content-Length: 0\r\n\r\n";
    net.inject(
        addr("10.0.0.7:5060"),
        addr(B),
        Transport::Udp,
        Bytes::from_static(old.as_bytes()),
    );
    net.run_for(ms(100));
    net.inject(
        addr("10.0.0.7:5060"),
        addr(B),
        Transport::Udp,
        Bytes::from_static(old.as_bytes()),
    );
    net.run_for(ms(100));
    let news = net
        .node::<Ua>(b)
        .events
        .iter()
        .filter(|(_, e)| matches!(e, TxEvent::NewRequest { .. }))
        .count();
    assert_eq!(
        news, 1,
        "retransmission matched by Request-URI/From/Call-ID/CSeq/Via"
    );
    // ACK with the To tag of the 486.
    let resp = net.sent_by(addr(B), "SIP/2.0 486")[0].bytes.clone();
    let Ok(Message::Response(r)) = parse_datagram(&resp, &Limits::default()) else {
        panic!("486 parses");
    };
    let to = r.headers.get(&HeaderName::To).expect("to").to_string();
    let ack = format!(
        "ACK sip:svc@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:5060\r\nFrom: <sip:c@10.0.0.7>\r\n\
         To: {to}\r\nCall-ID: old-1@10.0.0.7\r\nCSeq: 5 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    net.inject(
        addr("10.0.0.7:5060"),
        addr(B),
        Transport::Udp,
        Bytes::from(ack),
    );
    net.run_for(secs(60));
    let finals = net.sent_by(addr(B), "SIP/2.0 486").len();
    assert_eq!(
        finals, 2,
        "one 486 plus one for the retransmitted INVITE; the ACK stopped G"
    );
    let uas = net.node::<Ua>(b);
    assert!(
        !uas.has_event(|e| matches!(e, TxEvent::Timeout { .. })),
        "ACK matched: no timer H"
    );
}

#[test]
fn lost_2xx_is_retransmitted_until_ack() {
    let (mut net, a, b) = pair(13, NetConfig::default(), Transport::Udp);
    let mut dropped = 0;
    net.set_drop_filter(move |w| {
        if w.line.starts_with("SIP/2.0 200") && w.cseq == "INVITE" && dropped < 2 {
            dropped += 1;
            return true;
        }
        false
    });
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(secs(60));
    assert_eq!(net.sent_by(addr(B), "SIP/2.0 200").len(), 3);
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 200]);
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })));
    assert!(!net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::Timeout { .. })));
}

#[test]
fn no_ack_for_2xx_ends_in_timer_l() {
    let (mut net, a, b) = pair(14, NetConfig::default(), Transport::Udp);
    net.set_drop_filter(|w| w.line.starts_with("ACK"));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(secs(60));
    let oks = times(&net, addr(B), "SIP/2.0 200");
    let d = deltas(&oks);
    assert_eq!(&d[..4], &[ms(500), secs(1), secs(2), secs(4)]);
    assert!(d[4..].iter().all(|x| *x == secs(4)));
    let uas = net.node::<Ua>(b);
    let l = uas.event_time(|e| {
        matches!(
            e,
            TxEvent::Timeout {
                timer: Timer::L,
                ..
            }
        )
    });
    assert_eq!(l, Some(oks[0] + secs(32)));
    // The UAC re-ACKs each retransmission itself and reports the 200 once.
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 200]);
    assert_eq!(net.sent_by(addr(A), "ACK").len(), oks.len());
}

#[test]
fn timer_b_stops_after_a_provisional() {
    let (mut net, a, b) = pair(15, NetConfig::default(), Transport::Udp);
    net.node::<Ua>(b).script.invite_final = Some((200, secs(45)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(secs(120));
    let uac = net.node::<Ua>(a);
    assert_eq!(uac.responses(k), vec![100, 180, 200]);
    assert!(!uac.has_event(|e| matches!(e, TxEvent::Timeout { .. })));
    assert_eq!(
        net.sent_by(addr(A), "INVITE").len(),
        1,
        "100 Trying stopped timer A at once"
    );
}

#[test]
fn bye_glare_both_sides_get_200() {
    let (mut net, a, b) = pair(16, NetConfig::default(), Transport::Udp);
    let now = net.now;
    net.node::<Ua>(a).invite(now, addr(B));
    net.run_for(secs(1));
    let da = *net.node::<Ua>(a).peers.keys().next().expect("uac dialog");
    let db = *net.node::<Ua>(b).peers.keys().next().expect("uas dialog");
    let now = net.now;
    let ka = net.node::<Ua>(a).bye(now, da);
    let kb = net.node::<Ua>(b).bye(now, db);
    net.run_for(secs(60));
    assert_eq!(net.node::<Ua>(a).responses(ka), vec![200]);
    assert_eq!(net.node::<Ua>(b).responses(kb), vec![200]);
}

#[test]
fn duplication_and_reordering_never_double_deliver() {
    for seed in 0..20 {
        let cfg = NetConfig {
            latency: ms(30),
            jitter: ms(60),
            loss: 0.1,
            duplicate: 0.3,
        };
        let (mut net, a, b) = pair(100 + seed, cfg, Transport::Udp);
        let now = net.now;
        let k = net.node::<Ua>(a).invite(now, addr(B));
        net.run_for(secs(40));
        let uac = net.node::<Ua>(a);
        let finals: Vec<u16> = uac.responses(k).into_iter().filter(|s| *s >= 200).collect();
        assert_eq!(finals, vec![200], "seed {seed}");
        let uas = net.node::<Ua>(b);
        let news = uas
            .events
            .iter()
            .filter(|(_, e)| matches!(e, TxEvent::NewRequest { .. }))
            .count();
        assert_eq!(news, 1, "seed {seed}");
        assert!(
            uas.has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })),
            "seed {seed}"
        );
    }
}

#[test]
fn ipv6_endpoints_complete_an_invite() {
    let mut net = SimNet::new(17, NetConfig::default());
    let e = net.epoch;
    let a6 = addr("[2001:db8::1]:5060");
    let b6 = addr("[2001:db8::2]:5062");
    let a = net.add(Box::new(Ua::new(a6, Transport::Udp, 1, e)));
    let b = net.add(Box::new(Ua::new(b6, Transport::Udp, 2, e)));
    let now = net.now;
    let k = net.node::<Ua>(a).invite(now, b6);
    net.run_for(secs(40));
    assert_eq!(net.node::<Ua>(a).responses(k), vec![100, 180, 200]);
    assert!(net
        .node::<Ua>(b)
        .has_event(|e| matches!(e, TxEvent::AckFor2xx { .. })));
    assert!(net.sent_by(b6, "SIP/2.0").iter().all(|w| w.to == a6));
}
