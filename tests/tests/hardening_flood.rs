//! Admission control (issue 12, item 4) against the real binary: while one untrusted
//! address floods 70,000 small INVITEs over UDP, a REGISTER from another address gets
//! 200, an OPTIONS probe from a third keeps being answered, the flood is answered with a
//! bounded trickle of 503s and otherwise dropped (counted), and the server's peak RSS
//! stays within 200 MB. With the rate limit lifted, 60 kB INVITEs are held only up to the
//! per-source transaction byte budget (the rest get 503), so memory stays bounded too.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_e2e::hostile::{metric, options_probe, peak_rss_kb, sipp_from, Probe};
use switchboard_e2e::{require_peer, sipp_trace, wait_for, Server};

const FLOOD: u64 = 70_000;
/// Datagrams per second the flood is paced at (the attack in the issue: 70,000 in 12 s).
const FLOOD_RATE: u64 = 6_000;

fn invite(n: u64, target: SocketAddr) -> Vec<u8> {
    invite_with_padding(n, target, 0)
}

/// A small INVITE, or one whose SDP carries `pad` more bytes in an attribute line.
fn invite_with_padding(n: u64, target: SocketAddr, pad: usize) -> Vec<u8> {
    let mut body = String::from(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
    );
    if pad > 0 {
        body.push_str("a=x-pad:");
        body.push_str(&"p".repeat(pad));
        body.push_str("\r\n");
    }
    format!(
        "INVITE sip:300@{target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5099;branch=z9hG4bK-flood-{n}\r\n\
         From: <sip:+79990000000@127.0.0.2>;tag=fl{n}\r\nTo: <sip:300@{target}>\r\n\
         Call-ID: flood-{n}@127.0.0.2\r\nCSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.2:5099>\r\n\
         Max-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Datagrams the kernel dropped on the IPv4 UDP socket bound to `addr` (its receive
/// buffer was full), from the `drops` column of /proc/net/udp.
fn kernel_udp_drops(addr: SocketAddr) -> Option<u64> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    let local = format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(v4.ip().octets()),
        v4.port()
    );
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.get(1) == Some(&local.as_str())).then(|| cols.last()?.parse().ok())?
    })
}

#[test]
fn a_register_and_options_get_through_a_70k_invite_flood_within_200_mb() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("hardening-flood", "");
    let target = server.sip;
    let sent = Arc::new(AtomicU64::new(0));
    let flood_done = Arc::new(AtomicBool::new(false));
    let flood = {
        let sent = sent.clone();
        let done = flood_done.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.2:0").expect("flood socket");
            let start = Instant::now();
            for n in 0..FLOOD {
                let _ = sock.send_to(&invite(n, target), target);
                sent.store(n + 1, Ordering::Relaxed);
                if n % 200 == 199 {
                    // Pace: n datagrams are due n / FLOOD_RATE seconds after the start.
                    let due = start + Duration::from_micros(n * 1_000_000 / FLOOD_RATE);
                    if let Some(ahead) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(ahead);
                    }
                }
            }
            done.store(true, Ordering::Relaxed);
        })
    };
    // Once the flood is well under way: a REGISTER from 127.0.0.3 and probes from .5.
    assert!(wait_for(60, || (sent.load(Ordering::Relaxed) >= 5_000).then_some(())).is_some());
    let prober = {
        let done = flood_done.clone();
        std::thread::spawn(move || {
            let sock = UdpSocket::bind("127.0.0.5:0").expect("probe socket");
            let mut results = Vec::new();
            let mut n = 0;
            while !done.load(Ordering::Relaxed) && n < 200 {
                results.push(options_probe(&sock, target, "monitor", n));
                n += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            results
        })
    };
    let out = sipp_from(
        "127.0.0.3",
        "register_keep.xml",
        target,
        &["-s", "1001", "-au", "1001", "-ap", "secret-1001", "-m", "1"],
        60,
    );
    let registered_during_flood = !flood_done.load(Ordering::Relaxed);
    assert!(
        out.status.success(),
        "REGISTER during the flood: {}\nserver log tail:\n{}",
        sipp_trace(&out),
        server
            .log_text()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    flood.join().expect("flood thread");
    let probes = prober.join().expect("probe thread");
    // The figures (printed, not asserted: the machine is shared): the worst probe, and how
    // many needed a retransmission (the first copy lost, e.g. in a full socket buffer).
    let answered: Vec<Probe> = probes.iter().flatten().copied().collect();
    let mut took: Vec<Duration> = answered.iter().map(|p| p.took).collect();
    took.sort();
    eprintln!(
        "REGISTER finished {} the flood ended; {} OPTIONS probes, {} answered, {} after a \
         retransmission; latency median {:?}, worst {:?}",
        if registered_during_flood {
            "before"
        } else {
            "after"
        },
        probes.len(),
        answered.len(),
        answered.iter().filter(|p| p.sends > 1).count(),
        took.get(took.len() / 2),
        took.last(),
    );
    eprintln!(
        "datagrams the kernel dropped on the server's SIP socket (receive buffer full): {:?}",
        kernel_udp_drops(target)
    );
    assert!(!probes.is_empty());
    assert!(
        probes.iter().all(Option::is_some),
        "OPTIONS probes: {probes:?}"
    );

    // The flood was mostly dropped, the rest refused at a bounded rate.
    let counted = wait_for(30, || {
        let dropped = metric(&server, "switchboard_sip_requests_rate_dropped_total")?;
        (dropped > 0.0).then_some(dropped)
    });
    assert!(counted.is_some(), "no drops counted");
    let rejected = metric(&server, "switchboard_sip_requests_rate_rejected_total").unwrap_or(0.0);
    assert!(
        rejected > 0.0 && rejected < FLOOD as f64 / 10.0,
        "503s: {rejected}"
    );
    let hwm = peak_rss_kb(server.pid()).expect("VmHWM");
    eprintln!(
        "server peak RSS {hwm} kB; 503s {rejected}, dropped {:?}, UDP queue drops {:?} \
         ({:?} for the source's queue share), transactions refused for source share {:?}",
        metric(&server, "switchboard_sip_requests_rate_dropped_total"),
        metric(&server, "switchboard_sip_udp_dropped_total"),
        metric(&server, "switchboard_sip_udp_share_dropped_total"),
        metric(
            &server,
            "switchboard_sip_transactions_refused_source_share_total"
        ),
    );
    assert!(hwm < 200 * 1024, "peak RSS {hwm} kB");
}

#[test]
fn large_invites_are_held_only_up_to_the_per_source_byte_budget() {
    if !require_peer("sipp") {
        return;
    }
    // No rate limit: every INVITE reaches the transaction layer, and each one refused
    // (403, untrusted) keeps its transaction, request included, for 32 s.
    let server = Server::start(
        "hardening-big-invites",
        "[limits]\nrequests_per_second = 1000000\nrequest_burst = 1000000\n",
    );
    let target = server.sip;
    // Sent at 2,000 a second (~120 MB/s) until the source's transaction budget refuses
    // some: while the driver is behind, the source's share of the inbound queue (an eighth)
    // drops the rest unparsed, so how many reach the transaction layer depends on how busy
    // the machine is; at most 20,000 (1.2 GB) or 60 s.
    const MOST: u64 = 20_000;
    let sock = UdpSocket::bind("127.0.0.2:0").expect("flood socket");
    let start = Instant::now();
    let refused_now = || {
        metric(
            &server,
            "switchboard_sip_transactions_refused_source_share_total",
        )
        .filter(|r| *r > 0.0)
    };
    let mut refused = None;
    let mut n = 0;
    while n < MOST && refused.is_none() && start.elapsed() < Duration::from_secs(60) {
        let _ = sock.send_to(&invite_with_padding(n, target, 60_000), target);
        n += 1;
        if n % 100 == 0 {
            let due = start + Duration::from_micros(n * 1_000_000 / 2_000);
            if let Some(ahead) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(ahead);
            }
            refused = refused_now();
        }
    }
    // The source's share filled up and the rest were refused.
    let refused = refused.or_else(|| wait_for(30, refused_now));
    assert!(
        refused.is_some(),
        "no refusals for the source's byte budget after {n} INVITEs"
    );
    let held = metric(&server, "switchboard_sip_transaction_bytes").unwrap_or(f64::MAX);
    // Within the source's budget (limits.transaction_bytes_per_source, 8 MiB).
    assert!(
        held <= 8.0 * 1024.0 * 1024.0,
        "transactions hold {held} bytes"
    );
    let out = sipp_from(
        "127.0.0.3",
        "register_keep.xml",
        target,
        &["-s", "1001", "-au", "1001", "-ap", "secret-1001", "-m", "1"],
        60,
    );
    assert!(
        out.status.success(),
        "REGISTER after the flood: {}",
        sipp_trace(&out)
    );
    let hwm = peak_rss_kb(server.pid()).expect("VmHWM");
    eprintln!(
        "{n} 60 kB INVITEs: peak RSS {hwm} kB; refused for the source's share {:?}; \
         UDP queue drops {:?} ({:?} for the queue share); transactions hold {held} bytes",
        refused,
        metric(&server, "switchboard_sip_udp_dropped_total"),
        metric(&server, "switchboard_sip_udp_share_dropped_total"),
    );
    assert!(hwm < 200 * 1024, "peak RSS {hwm} kB");
}
