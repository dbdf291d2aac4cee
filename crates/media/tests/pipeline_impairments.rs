//! The per-leg decoding path under reordering, loss and duplication: the decoded audio
//! is continuous (one frame per 20 ms, timestamps in order with no gap and no repeat),
//! every frame that arrived in time is decoded exactly once, and late ones are counted.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::{Codec, LegPipeline, StreamFormat};
use switchboard_rtp::RtpHeader;

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// A payload that says which packet it is: µ-law byte `k % 100 + 1` repeated.
fn payload(k: u32) -> [u8; 160] {
    [(k % 100 + 1) as u8; 160]
}

struct Run {
    /// (timestamp, concealed, first sample) of every frame given out.
    frames: Vec<(u32, bool, i16)>,
    late: u64,
    duplicates: u64,
    /// Present frames skipped to shrink the delay, and restarts (which flush the buffer).
    dropped: u64,
    resyncs: u64,
}

/// Packets `0..n`, each sent at `20 ms * k` and arriving `delay[k]` ms later (none when
/// `lost[k]`, twice when `dup[k]`).
fn run(n: u32, delay: &[u64], lost: &[bool], dup: &[bool]) -> Run {
    let t0 = epoch();
    let mut arrivals: Vec<(u64, u32)> = vec![];
    for k in 0..n {
        let i = k as usize;
        if lost[i] {
            continue;
        }
        let at = 20 * u64::from(k) + delay[i];
        arrivals.push((at, k));
        if dup[i] {
            arrivals.push((at + 3, k));
        }
    }
    arrivals.sort();
    let mut p = LegPipeline::new(StreamFormat::of(Codec::Pcmu));
    let mut frames = vec![];
    for (at, k) in arrivals {
        let now = t0 + Duration::from_millis(at);
        p.push(now, &RtpHeader::new(0, k as u16, 160 * k, 9), &payload(k));
        while let Some(f) = p.poll_decoded(now) {
            frames.push((f.timestamp, f.concealed, f.samples[0]));
        }
    }
    let st = p.stats();
    Run {
        frames,
        late: st.jitter.late,
        duplicates: st.jitter.duplicates,
        dropped: st.jitter.dropped,
        resyncs: st.jitter.resyncs,
    }
}

fn decoded(k: u32) -> i16 {
    switchboard_media::g711::ulaw_decode_sample(payload(k)[0])
}

#[test]
fn reordered_pairs_come_out_in_order_without_concealment() {
    let n = 100;
    // Every 10th packet is 30 ms late: it arrives after its successor.
    let delay: Vec<u64> = (0..n).map(|k| if k % 10 == 5 { 30 } else { 0 }).collect();
    let r = run(n, &delay, &[false; 100], &[false; 100]);
    let ts: Vec<u32> = r.frames.iter().map(|f| f.0).collect();
    assert!(
        ts.windows(2).all(|w| w[1] == w[0] + 160),
        "continuous: {ts:?}"
    );
    // After priming, the buffer has grown to absorb the reordering.
    let concealed = r.frames.iter().filter(|f| f.1).count();
    assert!(concealed <= 2, "{concealed} concealed");
    assert!(r.late <= 1, "{} late", r.late);
    assert!(
        r.frames.len() >= 98,
        "every packet but the last one or two (still buffered)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn decoded_audio_is_continuous_and_each_packet_is_played_at_most_once(
        delay in proptest::collection::vec(0u64..60, 200),
        lost in proptest::collection::vec(proptest::bool::weighted(0.05), 200),
        dup in proptest::collection::vec(proptest::bool::weighted(0.05), 200),
    ) {
        let n = 200u32;
        let r = run(n, &delay, &lost, &dup);
        // Continuous while it plays: each frame is the previous one plus 20 ms, except
        // across a resynchronisation (then strictly later).
        for w in r.frames.windows(2) {
            prop_assert!(w[1].0 > w[0].0, "timestamps go forward: {:?}", w);
        }
        let gaps = r.frames.windows(2).filter(|w| w[1].0 != w[0].0 + 160).count();
        prop_assert!(gaps <= 2, "{} discontinuities", gaps);
        // A played frame carries its own packet's audio, and no packet plays twice.
        let mut seen = std::collections::HashSet::new();
        for &(ts, concealed, first) in &r.frames {
            if !concealed {
                let k = ts / 160;
                prop_assert_eq!(first, decoded(k));
                prop_assert!(seen.insert(k), "packet {} played twice", k);
                prop_assert!(!lost[k as usize]);
            }
        }
        // Nothing vanishes unaccounted: every packet that arrived was played, is still
        // buffered (the last few), or was counted late or duplicate.
        let arrived = (0..n as usize).filter(|&i| !lost[i]).count() as u64;
        let dups = dup.iter().zip(&lost).filter(|(d, l)| **d && !**l).count() as u64;
        prop_assert!(r.duplicates >= dups.saturating_sub(r.late));
        let played = seen.len() as u64;
        let flushed = 8 * (r.resyncs + 1);
        prop_assert!(
            played + r.late + r.dropped + flushed >= arrived,
            "played {} late {} dropped {} resyncs {} of {}",
            played, r.late, r.dropped, r.resyncs, arrived
        );
    }
}
