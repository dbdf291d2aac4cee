//! A flood from many spoofed source addresses (issue 12; decision 0046, amended) against the
//! real binary. One attacker sending from 1,000 loopback addresses (127.1.x.y) is 1,000
//! sources, each under its share of the inbound queue and its own rate limit, so per-source
//! fairness alone does not hold it: round-robin gives a phone one turn in a thousand and the
//! flood fills the queue. Registered phones and trunks are a priority class served first,
//! with the last quarter of the queue kept for them.
//!
//! Phone 1001 registers from 127.0.0.3 (SIPp); then 60,000 INVITEs go out round-robin
//! from the 1,000 addresses, and meanwhile: OPTIONS probes from the phone's address
//! (retransmitted every 500 ms until answered) must all be answered, and a REGISTER refresh
//! from it (SIPp, digest) must succeed. Probes from an unknown address (127.0.0.5) are sent
//! too and only printed, for comparison. Every datagram the queue dropped must have been
//! refused for the reserve (none because the queue was full). Latencies are printed, not
//! asserted (the machine is shared).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_e2e::hostile::{metric, options_probe, sipp_from, Probe};
use switchboard_e2e::{require_peer, sipp_trace, wait_for, Server};

/// Spoofed source addresses: 127.1.0.1 .. 127.1.3.250.
const SOURCES: u32 = 1_000;
const FLOOD: u64 = 60_000;
/// Datagrams per second the flood is paced at.
const FLOOD_RATE: u64 = 8_000;
/// The flood stops after this long whatever it has sent (a bound for a starved sender).
const FLOOD_LIMIT: Duration = Duration::from_secs(60);

fn spoofed(i: u32) -> String {
    format!("127.1.{}.{}", i / 250, i % 250 + 1)
}

fn invite(n: u64, from: &str, target: SocketAddr) -> Vec<u8> {
    let body = format!(
        "v=0\r\no=- 1 1 IN IP4 {from}\r\ns=-\r\nc=IN IP4 {from}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    );
    format!(
        "INVITE sip:300@{target} SIP/2.0\r\nVia: SIP/2.0/UDP {from}:5099;branch=z9hG4bK-sp-{n}\r\n\
         From: <sip:+79990000000@{from}>;tag=sp{n}\r\nTo: <sip:300@{target}>\r\n\
         Call-ID: spoof-{n}@{from}\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{from}:5099>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Probes from `ip` every 200 ms until `done` (at most 300).
fn prober(
    ip: &'static str,
    tag: &'static str,
    target: SocketAddr,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<Option<Probe>>> {
    std::thread::spawn(move || {
        let sock = UdpSocket::bind((ip, 0)).expect("probe socket");
        let mut results = Vec::new();
        let mut n = 0;
        while !done.load(Ordering::Relaxed) && n < 300 {
            results.push(options_probe(&sock, target, tag, n));
            n += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        results
    })
}

fn summary(probes: &[Option<Probe>]) -> String {
    let mut took: Vec<Duration> = probes.iter().flatten().map(|p| p.took).collect();
    took.sort();
    format!(
        "{} probes, {} answered, {} after a retransmission, median {:?}, worst {:?}",
        probes.len(),
        took.len(),
        probes.iter().flatten().filter(|p| p.sends > 1).count(),
        took.get(took.len() / 2),
        took.last()
    )
}

#[test]
fn a_registered_phone_is_answered_through_a_flood_from_a_thousand_spoofed_addresses() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("spoofed-flood", "");
    let target = server.sip;
    let register = || {
        sipp_from(
            "127.0.0.3",
            "register_keep.xml",
            target,
            &["-s", "1001", "-au", "1001", "-ap", "secret-1001", "-m", "1"],
            60,
        )
    };
    let out = register();
    assert!(out.status.success(), "REGISTER: {}", sipp_trace(&out));

    let sent = Arc::new(AtomicU64::new(0));
    let flood_done = Arc::new(AtomicBool::new(false));
    let flood = {
        let sent = sent.clone();
        let done = flood_done.clone();
        std::thread::spawn(move || {
            let socks: Vec<(String, UdpSocket)> = (0..SOURCES)
                .map(|i| {
                    let ip = spoofed(i);
                    let s = UdpSocket::bind((ip.as_str(), 0)).expect("bind a 127.1.x.y address");
                    (ip, s)
                })
                .collect();
            let start = Instant::now();
            for n in 0..FLOOD {
                let (ip, sock) = &socks[(n % u64::from(SOURCES)) as usize];
                let _ = sock.send_to(&invite(n, ip, target), target);
                sent.store(n + 1, Ordering::Relaxed);
                if n % 200 == 199 {
                    if start.elapsed() > FLOOD_LIMIT {
                        break;
                    }
                    let due = start + Duration::from_micros(n * 1_000_000 / FLOOD_RATE);
                    if let Some(ahead) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(ahead);
                    }
                }
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    assert!(wait_for(60, || (sent.load(Ordering::Relaxed) >= 5_000).then_some(())).is_some());
    let phone = prober("127.0.0.3", "phone", target, flood_done.clone());
    let stranger = prober("127.0.0.5", "stranger", target, flood_done.clone());
    let refresh = register();
    let refreshed_during_flood = !flood_done.load(Ordering::Relaxed);
    flood.join().expect("flood thread");
    let phone = phone.join().expect("phone prober");
    let stranger = stranger.join().expect("stranger prober");

    let m = |name: &str| metric(&server, name).unwrap_or(-1.0);
    eprintln!(
        "flood: {} INVITEs from {SOURCES} addresses; the phone's REGISTER refresh finished {} \
         the flood ended",
        sent.load(Ordering::Relaxed),
        if refreshed_during_flood {
            "before"
        } else {
            "after"
        }
    );
    eprintln!("registered phone (127.0.0.3): {}", summary(&phone));
    eprintln!("unknown source (127.0.0.5): {}", summary(&stranger));
    eprintln!(
        "dropped: {} datagrams in all, {} for the reserve, {} for a source's share; \
         {} requests dropped and {} answered 503 by rate limits",
        m("switchboard_sip_udp_dropped_total"),
        m("switchboard_sip_udp_reserve_dropped_total"),
        m("switchboard_sip_udp_share_dropped_total"),
        m("switchboard_sip_requests_rate_dropped_total"),
        m("switchboard_sip_requests_rate_rejected_total"),
    );
    assert!(
        refresh.status.success(),
        "the phone's REGISTER refresh during the flood: {}",
        sipp_trace(&refresh)
    );
    // The queue never ran full for the phone: whatever it dropped was an unknown source's,
    // refused for the reserve (without the priority class these were all `Full` drops).
    let (dropped, reserve) = (
        m("switchboard_sip_udp_dropped_total"),
        m("switchboard_sip_udp_reserve_dropped_total"),
    );
    assert!(dropped >= 0.0, "metrics readable");
    assert_eq!(
        dropped, reserve,
        "every datagram the queue dropped was refused for the reserve"
    );
    assert!(!phone.is_empty());
    assert!(
        phone.iter().all(Option::is_some),
        "every probe from the registered phone's address answered: {phone:?}"
    );
}
