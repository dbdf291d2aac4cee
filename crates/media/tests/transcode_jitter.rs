//! Transcoding through the source leg's jitter buffer (issue 11 item 6, decision 0039):
//! a transcoding bridge whose packets go through the source leg's `LegPipeline`
//! (`Bridge::transcodes` / `Bridge::transcoded`, the server's call path) sends the same
//! audio, in the same order and with the same timestamps, whether its packets arrive in
//! order or reordered and duplicated; with loss it sends what an in-order stream with the
//! same loss gives (the lost frame concealed, the rest unchanged). PCMA→PCMU and
//! G.722→PCMU (a stateful ADPCM decoder, which decoding in arrival order gets wrong).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use switchboard_media::{
    Bridge, Codec, Encoder, Leg, LegConfig, LegPipeline, StreamFormat, ToneGenerator,
};
use switchboard_rtp::{RtpHeader, RtpPacket};

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// `n` 20 ms packets of a 700 Hz tone encoded in `codec` (160 octets each).
fn stream(codec: Codec, n: usize) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(codec);
    let rate = codec.sample_rate();
    let mut g = ToneGenerator::single(rate, 700.0, 6000.0);
    let mut pcm = vec![0i16; codec.samples_in(160)];
    (0..n)
        .map(|_| {
            g.fill(&mut pcm);
            let mut payload = vec![0u8; 160];
            let len = enc.encode(&pcm, &mut payload);
            payload.truncate(len);
            payload
        })
        .collect()
}

/// What leg B receives: (sequence as numbered by the bridge, timestamp, payload).
type Sent = Vec<(u16, u32, Vec<u8>)>;

/// Sends `arrivals` (arrival time in ms, packet index) of `payloads` from leg A (`from`
/// codec) across a transcoding bridge to a PCMU leg B, through A's pipeline, as the
/// server's call path does; at the end the frames still buffered are drained (as before
/// a recording closes). Telephone events and relayed audio are not involved.
fn transcode(from: Codec, payloads: &[Vec<u8>], arrivals: &[(u64, usize)]) -> Sent {
    let t0 = epoch();
    let a = LegConfig::new(from);
    let b = LegConfig::new(Codec::Pcmu);
    let mut bridge = Bridge::new(a, b);
    let mut src = LegPipeline::new(StreamFormat::of(from));
    let mut dst = LegPipeline::new(StreamFormat::of(Codec::Pcmu));
    let mut sent = Sent::new();
    let mut emit = |bridge: &mut Bridge, dst: &mut LegPipeline, ts: u32, samples: &[i16]| {
        let ticks = dst.ticks_for(samples.len());
        let r = bridge.transcoded(Leg::A, 0x5eed, ts, ticks);
        assert_eq!(r.payload_type, 0, "PCMU's payload type on leg B");
        let payload = dst.encode(samples).to_vec();
        sent.push((r.sequence, r.timestamp, payload));
    };
    for &(at, k) in arrivals {
        let now = t0 + Duration::from_millis(at);
        let pkt = RtpPacket::new(
            RtpHeader::new(a.payload_type, k as u16, 160 * k as u32, 0x5eed),
            bytes::Bytes::from(payloads[k].clone()),
        );
        assert!(bridge.transcodes(Leg::A, pkt.header.payload_type));
        src.push(now, &pkt.header, &pkt.payload);
        while let Some(f) = src.poll_decoded(now) {
            emit(&mut bridge, &mut dst, f.timestamp, f.samples);
        }
    }
    while let Some(f) = src.drain_decoded() {
        emit(&mut bridge, &mut dst, f.timestamp, f.samples);
    }
    sent
}

/// Arrivals of packets `0..n` sent every 20 ms: `lost` ones never arrive, `late[k]` ms
/// after their send time (up to 15 ms: after their successor, within the playout delay),
/// `dup` ones twice, sorted by arrival.
fn arrivals(n: usize, late: &[u64], lost: &[bool], dup: &[bool]) -> Vec<(u64, usize)> {
    let mut v = vec![];
    for k in (0..n).filter(|k| !lost[*k]) {
        let at = 20 * k as u64 + late[k];
        v.push((at, k));
        if dup[k] {
            v.push((at + 2, k));
        }
    }
    v.sort();
    v
}

/// The old path: each packet transcoded by `Bridge::handle_packet` as it arrives.
fn transcode_in_arrival_order(from: Codec, payloads: &[Vec<u8>], arr: &[(u64, usize)]) -> Sent {
    let mut bridge = Bridge::new(LegConfig::new(from), LegConfig::new(Codec::Pcmu));
    let pt = bridge.leg(Leg::A).payload_type;
    arr.iter()
        .map(|&(_, k)| {
            let pkt = RtpPacket::new(
                RtpHeader::new(pt, k as u16, 160 * k as u32, 0x5eed),
                bytes::Bytes::from(payloads[k].clone()),
            );
            let f = bridge.handle_packet(Leg::A, &pkt).expect("transcoded");
            (f.packet.sequence, f.packet.timestamp, f.payload.to_vec())
        })
        .collect()
}

const N: usize = 150;

fn check_codec(from: Codec) {
    let payloads = stream(from, N);
    let none = [false; N];
    let in_order = transcode(from, &payloads, &arrivals(N, &[0; N], &none, &none));
    // Every frame once, consecutive sequence numbers and timestamps.
    assert_eq!(in_order.len(), N);
    for (i, (seq, ts, p)) in in_order.iter().enumerate() {
        assert_eq!((*seq, *ts, p.len()), (i as u16, 160 * i as u32, 160));
    }
    // Every 7th packet arrives 15 ms late (after its successor), every 11th twice.
    let late: Vec<u64> = (0..N).map(|k| if k % 7 == 3 { 15 } else { 0 }).collect();
    let dup: Vec<bool> = (0..N).map(|k| k % 11 == 4).collect();
    let impaired = arrivals(N, &late, &none, &dup);
    assert_ne!(
        impaired.iter().map(|a| a.1).collect::<Vec<_>>(),
        (0..N).collect::<Vec<_>>(),
        "the impaired stream is out of order"
    );
    let through_buffer = transcode(from, &payloads, &impaired);
    assert_eq!(
        through_buffer, in_order,
        "{from:?}: reordered and duplicated packets transcode to the in-order result"
    );
    // The arrival-order path sends duplicates twice and reordered frames out of place.
    let old = transcode_in_arrival_order(from, &payloads, &impaired);
    assert_ne!(old.len(), in_order.len());
    // Loss: the same as an in-order stream with the same packets lost.
    let lost: Vec<bool> = (0..N).map(|k| k % 13 == 6 && k < N - 20).collect();
    let lossy_in_order = transcode(from, &payloads, &arrivals(N, &[0; N], &lost, &none));
    let lossy_impaired = transcode(from, &payloads, &arrivals(N, &late, &lost, &dup));
    assert_eq!(
        lossy_in_order.len(),
        N,
        "lost frames are concealed, not skipped"
    );
    assert_eq!(lossy_impaired, lossy_in_order, "{from:?} with loss");
}

#[test]
fn pcma_to_pcmu_through_the_jitter_buffer_equals_the_in_order_result() {
    check_codec(Codec::Pcma);
}

#[test]
fn g722_to_pcmu_through_the_jitter_buffer_equals_the_in_order_result() {
    check_codec(Codec::G722);
}

#[test]
fn relayed_audio_and_events_are_not_transcoded() {
    let mut a = LegConfig::new(Codec::Pcma);
    a.telephone_event_pt = Some(101);
    let mut bridge = Bridge::new(a, LegConfig::new(Codec::Pcmu));
    assert!(bridge.transcodes(Leg::A, 8));
    assert!(bridge.transcodes(Leg::B, 0));
    assert!(!bridge.transcodes(Leg::A, 101), "events cross as they are");
    assert!(!bridge.transcodes(Leg::A, 0), "not A's audio payload type");
    bridge.update_leg(Leg::A, Codec::Pcmu, 0, Some(101));
    assert!(!bridge.transcodes(Leg::A, 0), "same codec: relayed");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any mix of lateness within the playout delay, duplicates and loss (not in the
    /// last 20 packets, which the end-of-stream drain does not conceal) gives what an
    /// in-order stream with the same loss gives.
    #[test]
    fn impaired_streams_transcode_like_in_order_ones_with_the_same_loss(
        g722 in any::<bool>(),
        late in proptest::collection::vec(0u64..=15, N),
        lost in proptest::collection::vec(proptest::bool::weighted(0.05), N),
        dup in proptest::collection::vec(proptest::bool::weighted(0.1), N),
    ) {
        let from = if g722 { Codec::G722 } else { Codec::Pcma };
        let payloads = stream(from, N);
        let lost: Vec<bool> = lost.iter().enumerate().map(|(k, l)| *l && k > 0 && k < N - 20).collect();
        let reference = transcode(from, &payloads, &arrivals(N, &[0; N], &lost, &[false; N]));
        let impaired = transcode(from, &payloads, &arrivals(N, &late, &lost, &dup));
        prop_assert_eq!(impaired, reference);
    }
}
