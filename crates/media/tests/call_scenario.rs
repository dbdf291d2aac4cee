//! A whole call on a virtual clock, wiring the cores the way the server does: an IVR
//! prompt to a PCMU caller interrupted by an in-band DTMF key, then a bridge to a G.722
//! agent with the call recorded in stereo. Nothing here sleeps or reads the clock.

use std::io::Cursor;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_media::{
    Bridge, BridgeMode, Codec, Decoder, Downsampler, DtmfDetector, DtmfEvent, Encoder, Leg,
    LegConfig, PlayerConfig, PlayerEvent, Playlist, PromptCache, PromptPlayer, RecordingConfig,
    RecordingWriter, Side, ToneGenerator,
};
use switchboard_rtp::{RtpHeader, RtpPacket};

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

fn level(x: &[i16], freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0;
        re += f64::from(s) * ph.cos();
        im += f64::from(s) * ph.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

#[test]
fn ivr_barge_in_then_bridged_and_recorded() {
    let t0 = epoch();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let prompts = format!("{}/../../prompts", env!("CARGO_MANIFEST_DIR"));
    let mut cache = PromptCache::new();
    cache
        .load_dir(std::path::Path::new(&prompts))
        .expect("prompts");

    // --- IVR phase: play to the caller; the caller keys '5' at 600 ms. ---
    let mut player = PromptPlayer::new(PlayerConfig::default());
    let sentence =
        ["en/queue-you-are-number", "en/num-3", "en/queue-in-line"].map(|n| cache.get(n).expect(n));
    player.play(t0, Playlist::new(sentence.to_vec()));
    let mut to_caller = Encoder::new(Codec::Pcmu);
    let mut from_caller = Decoder::new(Codec::Pcmu);
    let mut caller_enc = Encoder::new(Codec::Pcmu);
    let mut key = ToneGenerator::dtmf(8000, '5', 6000.0).expect("key");
    let mut det = DtmfDetector::default();
    let mut sent_frames = 0;
    let mut interrupted_at = None;
    let mut payload = [0u8; 160];
    let mut pcm = [0i16; 160];
    for k in 0..100u64 {
        let now = ms(20 * k);
        while let Some(f) = player.poll_frame(now) {
            assert_eq!(to_caller.encode(f.samples, &mut payload), 160);
            sent_frames += 1;
        }
        // The caller's uplink: silence, then the key from 600 ms to 700 ms.
        let mut up = [0i16; 160];
        if (30..35).contains(&k) {
            key.fill(&mut up);
        }
        caller_enc.encode(&up, &mut payload);
        from_caller.decode(&payload, &mut pcm);
        det.handle_samples(now, &pcm);
        while let Some(ev) = det.poll_event() {
            if let DtmfEvent::Pressed { digit, at } = ev {
                assert_eq!(digit, '5');
                assert_eq!(at, ms(600));
                assert!(player.handle_dtmf(digit));
                interrupted_at = Some(now);
            }
        }
    }
    assert_eq!(
        player.poll_event(),
        Some(PlayerEvent::Interrupted { digit: '5' })
    );
    let stopped = interrupted_at.expect("barge-in");
    assert!(
        stopped <= ms(640),
        "detected within two blocks: {stopped:?}"
    );
    assert_eq!(sent_frames, (stopped - t0).as_millis() as usize / 20 + 1);

    // --- Bridged phase: caller PCMU (500 Hz) <-> agent G.722 (1 kHz), recorded. ---
    let mut bridge = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::G722));
    assert_eq!(bridge.mode(), BridgeMode::Transcode);
    let mut rec = RecordingWriter::create(
        Cursor::new(Vec::new()),
        ms(2000),
        RecordingConfig::default(),
    )
    .expect("rec");
    let mut caller_voice = ToneGenerator::single(8000, 500.0, 8000.0);
    let mut agent_voice = ToneGenerator::single(16000, 1000.0, 8000.0);
    let mut agent_enc = Encoder::new(Codec::G722);
    let mut rec_caller = Decoder::new(Codec::Pcmu);
    let mut rec_agent = Decoder::new(Codec::G722);
    let mut down = Downsampler::new();
    let mut agent_heard = Decoder::new(Codec::G722);
    let (mut wide, mut narrow) = ([0i16; 320], [0i16; 160]);
    let (caller_ts0, agent_ts0) = (777_000u32, 5_000u32);
    for k in 0..150u32 {
        let now = ms(2000 + 20 * u64::from(k));
        // Caller -> agent.
        caller_voice.fill(&mut narrow);
        caller_enc.encode(&narrow, &mut payload);
        let p = RtpPacket::new(
            RtpHeader::new(0, k as u16, caller_ts0 + 160 * k, 0x1111),
            Bytes::copy_from_slice(&payload),
        );
        let f = bridge.handle_packet(Leg::A, &p).expect("a->b");
        assert_eq!(f.packet.payload_type, 9);
        agent_heard.decode(f.payload, &mut wide);
        // Record the caller as received, positioned by its RTP timestamp.
        rec_caller.decode(&p.payload, &mut narrow);
        rec.handle_frame(
            now,
            Side::Caller,
            u64::from(p.header.timestamp - caller_ts0),
            &narrow,
        )
        .expect("rec");
        // Agent -> caller.
        agent_voice.fill(&mut wide);
        agent_enc.encode(&wide, &mut payload);
        let q = RtpPacket::new(
            RtpHeader::new(9, k as u16, agent_ts0 + 160 * k, 0x2222),
            Bytes::copy_from_slice(&payload),
        );
        let g = bridge.handle_packet(Leg::B, &q).expect("b->a");
        assert_eq!((g.packet.payload_type, g.payload.len()), (0, 160));
        rec_agent.decode(&q.payload, &mut wide);
        down.process(&wide, &mut narrow);
        rec.handle_frame(
            now,
            Side::Agent,
            u64::from(q.header.timestamp - agent_ts0),
            &narrow,
        )
        .expect("rec");
        rec.handle_timeout(now).expect("timers");
    }
    let wav = rec.finish().expect("finish").into_inner();
    let reader = hound::WavReader::new(Cursor::new(wav)).expect("hound");
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .expect("samples");
    assert_eq!(samples.len(), 2 * 150 * 160);
    let left: Vec<i16> = samples.iter().step_by(2).skip(800).copied().collect();
    let right: Vec<i16> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .skip(800)
        .copied()
        .collect();
    assert!(
        (level(&left, 500.0) - 8000.0).abs() < 400.0,
        "caller on the left"
    );
    assert!(level(&left, 1000.0) < 50.0, "no agent on the left");
    assert!(
        (level(&right, 1000.0) - 8000.0).abs() < 400.0,
        "agent on the right"
    );
    assert!(level(&right, 500.0) < 50.0, "no caller on the right");
    let s = bridge.stats();
    assert_eq!((s.transcoded, s.dropped), (300, 0));
}
