//! Jitter buffer under simulated network impairment: a sender emitting 20 ms G.711
//! frames, a seeded netem in between, and a playout clock popping every 20 ms.

mod netem;

use bytes::Bytes;
use netem::{epoch, Netem, Profile};
use std::time::{Duration, Instant};
use switchboard_rtp::{JitterBuffer, JitterConfig, Playout, RtpHeader, RtpPacket};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, Default)]
struct Report {
    pops_after_prime: u64,
    frames: u64,
    conceals: u64,
    empties_after_prime: u64,
    out_of_order: u64,
    net_lost: u64,
    net_sent: u64,
    final_delay: Duration,
    final_target: Duration,
    stats: switchboard_rtp::JitterStats,
}

struct Stream {
    ssrc: u32,
    seq0: u16,
    ts0: u32,
}

/// Runs `packets` frames through `net` into a buffer. `sender_period` is the sender's
/// real frame spacing (20 ms ± skew); pops happen every 20 ms of receiver time.
fn simulate(
    net: &mut Netem,
    packets: u32,
    sender_period: Duration,
    streams: &dyn Fn(u32) -> Stream,
) -> Report {
    let t0 = epoch();
    let mut arrivals: Vec<(Instant, RtpPacket)> = Vec::new();
    for i in 0..packets {
        let s = streams(i);
        let mut h = RtpHeader::new(
            0,
            s.seq0.wrapping_add(i as u16),
            s.ts0.wrapping_add(160 * i),
            s.ssrc,
        );
        h.marker = i == 0;
        let p = RtpPacket::new(h, Bytes::from_static(&[0xd5; 160]));
        let sent = t0 + sender_period * i;
        for d in net.transit() {
            arrivals.push((sent + d, p.clone()));
        }
    }
    arrivals.sort_by_key(|(t, _)| *t);
    let end = arrivals.last().map_or(t0, |(t, _)| *t);
    let mut jb = JitterBuffer::new(JitterConfig::default());
    let mut rep = Report::default();
    let mut next = 0;
    let mut pop_at = t0 + ms(3);
    let mut last_ts: Option<(u32, u32)> = None;
    while pop_at <= end {
        while let Some((t, p)) = arrivals.get(next) {
            if *t > pop_at {
                break;
            }
            jb.push(*t, p.clone());
            next += 1;
        }
        match jb.pop(pop_at) {
            Playout::Frame(p) => {
                rep.frames += 1;
                rep.pops_after_prime += 1;
                if let Some((ssrc, ts)) = last_ts {
                    if ssrc == p.header.ssrc && (p.header.timestamp.wrapping_sub(ts) as i32) <= 0 {
                        rep.out_of_order += 1;
                    }
                }
                last_ts = Some((p.header.ssrc, p.header.timestamp));
            }
            Playout::Conceal => {
                rep.conceals += 1;
                rep.pops_after_prime += 1;
            }
            Playout::Empty => {
                if rep.pops_after_prime > 0 {
                    rep.empties_after_prime += 1;
                }
            }
        }
        pop_at += ms(20);
    }
    rep.final_delay = jb.current_delay(pop_at);
    rep.final_target = jb.target_delay();
    rep.stats = jb.stats();
    rep.net_lost = net.lost;
    rep.net_sent = net.sent;
    rep
}

fn one_stream(_: u32) -> Stream {
    Stream {
        ssrc: 0x1234,
        seq0: 65000,
        ts0: u32::MAX - 5000,
    }
}

fn lossy_jittery() -> Profile {
    Profile {
        latency: ms(30),
        jitter: ms(40),
        p_good_to_bad: 0.0,
        p_bad_to_good: 1.0,
        loss_good: 0.05,
        loss_bad: 0.05,
        reorder: 0.0,
        reorder_delay: Duration::ZERO,
        duplicate: 0.01,
    }
}

fn check_common(rep: &Report, cfg: &JitterConfig) {
    eprintln!("{rep:#?}");
    assert_eq!(rep.empties_after_prime, 0, "playout continuity");
    assert_eq!(rep.out_of_order, 0, "frames played in timestamp order");
    assert!(
        rep.final_delay >= cfg.min_delay && rep.final_delay <= cfg.max_delay + cfg.frame,
        "{:?}",
        rep.final_delay
    );
    assert!(rep.final_target >= cfg.min_delay && rep.final_target <= cfg.max_delay);
}

#[test]
fn five_percent_loss_forty_ms_jitter() {
    let mut net = Netem::new(lossy_jittery(), 7);
    let rep = simulate(&mut net, 3000, ms(20), &one_stream);
    let cfg = JitterConfig::default();
    check_common(&rep, &cfg);
    let loss = rep.net_lost as f64 / rep.net_sent as f64;
    let conceal = rep.conceals as f64 / rep.pops_after_prime as f64;
    eprintln!(
        "network loss {:.3}, concealment {:.3}, late {}",
        loss, conceal, rep.stats.late
    );
    assert!((loss - 0.05).abs() < 0.015, "seeded loss near 5%: {loss}");
    assert!(
        (conceal - loss).abs() < 0.02,
        "concealment {conceal} near loss {loss}"
    );
    assert!(rep.stats.late < 30, "late packets {} (<1%)", rep.stats.late);
    assert!(
        rep.stats.duplicates >= 15,
        "duplicates detected: {}",
        rep.stats.duplicates
    );
    // Target follows the 40 ms jitter spread.
    assert!(
        rep.final_target >= ms(35) && rep.final_target <= ms(60),
        "{:?}",
        rep.final_target
    );
    // Every sent frame is played, concealed, or lost.
    assert!(rep.frames + rep.stats.late + rep.stats.dropped + 2 >= rep.net_sent - rep.net_lost);
}

#[test]
fn bursty_loss_and_reordering() {
    let profile = Profile {
        latency: ms(20),
        jitter: ms(20),
        p_good_to_bad: 0.02,
        p_bad_to_good: 0.4,
        loss_good: 0.01,
        loss_bad: 0.6,
        reorder: 0.05,
        reorder_delay: ms(30),
        duplicate: 0.02,
    };
    let mut net = Netem::new(profile, 11);
    let rep = simulate(&mut net, 3000, ms(20), &one_stream);
    check_common(&rep, &JitterConfig::default());
    let loss = rep.net_lost as f64 / rep.net_sent as f64;
    let conceal = rep.conceals as f64 / rep.pops_after_prime as f64;
    eprintln!(
        "bursty: loss {loss:.3} concealment {conceal:.3} late {}",
        rep.stats.late
    );
    assert!(loss > 0.02);
    assert!(
        (conceal - loss).abs() < 0.02,
        "concealment {conceal} near loss {loss}"
    );
    assert!(rep.stats.late < 30);
}

#[test]
fn clock_skew_sender_fast_drops_frames() {
    // Sender clock 0.5% fast: 1 extra frame every 4 s, ~15 over 60 s.
    let mut net = Netem::new(Profile::clean(ms(40)), 3);
    let rep = simulate(&mut net, 3000, Duration::from_micros(19_900), &one_stream);
    check_common(&rep, &JitterConfig::default());
    assert!(
        rep.stats.dropped >= 10 && rep.stats.dropped <= 20,
        "{:?}",
        rep.stats
    );
    assert_eq!(rep.stats.late, 0);
}

#[test]
fn clock_skew_sender_slow_inserts_frames() {
    let mut net = Netem::new(Profile::clean(ms(40)), 3);
    let rep = simulate(&mut net, 3000, Duration::from_micros(20_100), &one_stream);
    check_common(&rep, &JitterConfig::default());
    assert!(
        rep.stats.inserted >= 10 && rep.stats.inserted <= 20,
        "{:?}",
        rep.stats
    );
    assert_eq!(rep.stats.late, 0);
}

#[test]
fn ssrc_change_and_timestamp_jump_resync() {
    let mut net = Netem::new(Profile::clean(ms(30)), 5);
    let streams = |i: u32| {
        if i < 500 {
            Stream {
                ssrc: 1,
                seq0: 0,
                ts0: 0,
            }
        } else if i < 1000 {
            // New SSRC with unrelated sequence and timestamp bases.
            Stream {
                ssrc: 2,
                seq0: 30000,
                ts0: 1_000_000_000,
            }
        } else {
            // Same SSRC, timestamp jumps by 10 minutes.
            Stream {
                ssrc: 2,
                seq0: 30000,
                ts0: 1_000_000_000 + 8000 * 600,
            }
        }
    };
    let rep = simulate(&mut net, 1500, ms(20), &streams);
    eprintln!("{rep:#?}");
    assert_eq!(rep.stats.resyncs, 2);
    assert_eq!(rep.out_of_order, 0);
    // Each restart primes again: a few Empty pops, otherwise everything plays.
    assert!(rep.empties_after_prime <= 6, "{}", rep.empties_after_prime);
    assert!(rep.frames >= 1490, "{}", rep.frames);
}
