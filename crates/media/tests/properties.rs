//! Property tests: no input makes a media core panic, and the recording writer's
//! invariants hold for arbitrary frame arrival patterns.

use std::io::Cursor;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_media::wav::{decode_samples, parse_header};
use switchboard_media::{
    Bridge, Codec, DtmfDetector, G722Decoder, Leg, LegConfig, Mixer, RecordingConfig,
    RecordingWriter, Side,
};
use switchboard_rtp::{RtpHeader, RtpPacket};

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

fn codec() -> impl Strategy<Value = Codec> {
    prop_oneof![Just(Codec::Pcmu), Just(Codec::Pcma), Just(Codec::G722)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn bridge_never_panics(
        a in codec(),
        b in codec(),
        pkts in proptest::collection::vec(
            (any::<bool>(), 0u8..128, any::<u16>(), any::<u32>(), 0u32..3, proptest::collection::vec(any::<u8>(), 0..1400)),
            1..20,
        ),
    ) {
        let mut la = LegConfig::new(a);
        la.telephone_event_pt = Some(101);
        let lb = LegConfig::new(b);
        let mut br = Bridge::new(la, lb);
        for (from_a, pt, seq, ts, ssrc, payload) in pkts {
            let from = if from_a { Leg::A } else { Leg::B };
            let pt = if pt % 3 == 0 { br.leg(from).payload_type } else { pt };
            let p = RtpPacket::new(RtpHeader::new(pt, seq, ts, ssrc), Bytes::from(payload));
            if let Ok(f) = br.handle_packet(from, &p) {
                prop_assert_eq!(f.to, from.other());
                prop_assert_eq!(
                    (f.packet.ssrc, f.packet.sequence, f.packet.timestamp),
                    (p.header.ssrc, p.header.sequence, p.header.timestamp)
                );
                prop_assert!(f.payload.len() <= p.payload.len().max(1400));
            }
        }
        let s = br.stats();
        prop_assert!(s.relayed + s.transcoded + s.dropped > 0);
    }

    #[test]
    fn g722_and_dtmf_accept_any_input(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut dec = G722Decoder::new();
        let mut out = vec![0i16; bytes.len() * 2];
        prop_assert_eq!(dec.decode(&bytes, &mut out), bytes.len() * 2);
        let mut det = DtmfDetector::default();
        det.handle_samples(epoch(), &out);
        while det.poll_event().is_some() {}
    }

    #[test]
    fn wav_parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(info) = parse_header(&bytes) {
            let _ = decode_samples(&bytes, &info);
        }
    }

    #[test]
    fn mixer_ops_never_panic(ops in proptest::collection::vec((0u8..5, 0usize..6, 0usize..6, proptest::collection::vec(any::<i16>(), 0..200)), 1..60)) {
        let mut m = Mixer::new(5, 160);
        let mut ids = Vec::new();
        for (op, x, y, frame) in ops {
            match op {
                0 => { if let Ok(id) = m.add() { ids.push(id); } }
                1 => { if let Some(&id) = ids.get(x) { let _ = m.remove(id); } }
                2 => { if let (Some(&l), Some(&s)) = (ids.get(x), ids.get(y)) { let _ = m.set_hears(l, s, frame.len() % 2 == 0); } }
                3 => { if let Some(&id) = ids.get(x) { let _ = m.handle_frame(id, &frame); } }
                _ => m.mix(),
            }
        }
        prop_assert!(m.len() <= 5);
    }

    /// Both sides deliver the same pattern of 20 ms frames in arbitrary order (within the
    /// skew window) with random losses: the result is one aligned stereo track in which
    /// every delivered sample sits at its position on its channel and lost ones are silent.
    #[test]
    fn recording_keeps_channels_aligned(
        frames in proptest::collection::vec((any::<bool>(), any::<bool>(), 0u8..3), 5..120),
    ) {
        let t0 = epoch();
        let mut w = RecordingWriter::create(Cursor::new(Vec::new()), t0, RecordingConfig::default()).expect("create");
        let value = |side: usize, pos: u64| -> i16 { ((pos % 997) as i16 + 1) * if side == 0 { 1 } else { -1 } };
        let mut delivered = [vec![false; frames.len()], vec![false; frames.len()]];
        for (k, (caller_ok, agent_ok, swap)) in frames.iter().enumerate() {
            let pos = k as u64 * 160;
            let now = t0 + Duration::from_millis(20 * k as u64);
            let mut sides = vec![];
            if *caller_ok { sides.push(0usize); }
            if *agent_ok { sides.push(1usize); }
            if *swap == 1 { sides.reverse(); }
            for s in sides {
                let f: Vec<i16> = (0..160).map(|i| value(s, pos + i)).collect();
                let side = if s == 0 { Side::Caller } else { Side::Agent };
                w.handle_frame(now, side, pos, &f).expect("frame");
                delivered[s][k] = true;
            }
            prop_assert!(w.frames_in_header() <= w.frames_written());
        }
        prop_assert_eq!(w.late_samples(), 0);
        let bytes = w.finish().expect("finish").into_inner();
        let info = parse_header(&bytes).expect("header");
        let samples = decode_samples(&bytes, &info);
        prop_assert_eq!(info.data_len_claimed as usize, bytes.len() - 44);
        for (k, _) in frames.iter().enumerate() {
            for i in 0..160usize {
                let pos = k * 160 + i;
                for (s, got_side) in delivered.iter().enumerate() {
                    let got = samples.get(2 * pos + s).copied();
                    let want = if got_side[k] { Some(value(s, pos as u64)) } else if got.is_some() { Some(0) } else { None };
                    prop_assert_eq!(got, want, "frame {} sample {} side {}", k, i, s);
                }
            }
        }
    }
}
