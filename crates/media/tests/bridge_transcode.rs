//! Bridge transcoding end to end: a tone sent on one leg arrives on the other with the
//! right frequency content after PCMU <-> G.722 (with 8 <-> 16 kHz resampling) and
//! PCMU <-> PCMA.

use bytes::Bytes;
use switchboard_media::g711;
use switchboard_media::{
    Bridge, BridgeMode, Codec, Decoder, Encoder, Leg, LegConfig, ToneGenerator,
};
use switchboard_rtp::{RtpHeader, RtpPacket};

fn level(x: &[i16], freq: f64, rate: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * freq * i as f64 / rate;
        re += f64::from(s) * ph.cos();
        im += f64::from(s) * ph.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

/// Sends 50 frames of `freq` (peak 10000) from `from` through the bridge; returns what the
/// other leg decodes (after the first 10 frames, to skip filter and ADPCM start-up).
fn send_tone(br: &mut Bridge, from: Leg, freq: f64) -> Vec<i16> {
    let src = br.leg(from).codec;
    let dst = br.leg(from.other()).codec;
    let mut enc = Encoder::new(src);
    let mut dec = Decoder::new(dst);
    let mut g = ToneGenerator::single(src.sample_rate(), freq, 10000.0);
    let per = src.samples_in(160);
    let mut pcm = vec![0i16; per];
    let mut got = Vec::new();
    for k in 0..50u16 {
        g.fill(&mut pcm);
        let mut payload = vec![0u8; 160];
        assert_eq!(enc.encode(&pcm, &mut payload), 160);
        let pkt = RtpPacket::new(
            RtpHeader::new(br.leg(from).payload_type, k, u32::from(k) * 160, 77),
            Bytes::from(payload),
        );
        let f = br.handle_packet(from, &pkt).expect("forward");
        assert!(f.transcoded);
        assert_eq!(
            f.payload.len(),
            160,
            "20 ms is 160 octets in every codec here"
        );
        assert_eq!(f.packet.timestamp, u32::from(k) * 160);
        let mut out = vec![0i16; dst.samples_in(160)];
        let n = dec.decode(f.payload, &mut out);
        if k >= 10 {
            got.extend_from_slice(&out[..n]);
        }
    }
    got
}

#[test]
fn pcmu_to_g722_and_back() {
    let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::G722));
    assert_eq!(br.mode(), BridgeMode::Transcode);

    // 1 kHz from the narrowband caller reaches the wideband agent at 16 kHz.
    let wide = send_tone(&mut br, Leg::A, 1000.0);
    let l = level(&wide, 1000.0, 16000.0);
    assert!((l - 10000.0).abs() < 500.0, "1 kHz level {l}");
    // The 8 -> 16 kHz image (7 kHz) is suppressed.
    assert!(level(&wide, 7000.0, 16000.0) < 30.0);

    // 2 kHz from the wideband side reaches the caller.
    let narrow = send_tone(&mut br, Leg::B, 2000.0);
    let l = level(&narrow, 2000.0, 8000.0);
    assert!((l - 10000.0).abs() < 500.0, "2 kHz level {l}");

    // 6 kHz exists only in wideband: it must be filtered, not aliased to 2 kHz.
    let narrow = send_tone(&mut br, Leg::B, 6000.0);
    let rms =
        (narrow.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / narrow.len() as f64).sqrt();
    assert!(rms < 100.0, "6 kHz leaked as rms {rms}");
}

#[test]
fn pcmu_to_pcma_is_the_direct_table() {
    let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::Pcma));
    let narrow = send_tone(&mut br, Leg::A, 1000.0);
    let l = level(&narrow, 1000.0, 8000.0);
    assert!((l - 10000.0).abs() < 300.0, "level {l}");
    // Every µ-law code maps to the A-law code of its decoded value.
    for c in 0..=255u8 {
        assert_eq!(
            g711::ulaw_to_alaw(c),
            g711::alaw_encode(g711::ulaw_decode_sample(c))
        );
    }
}
