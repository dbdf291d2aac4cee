//! Zero allocations on the media hot path once warm, counted by a global allocator.
//! Counting is per thread, so other tests and the harness cannot disturb the numbers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchboard_media::{
    AmdConfig, AmdDetector, Bridge, Codec, DtmfDetector, G722Encoder, Leg, LegConfig, Mixer,
    PlayerConfig, Playlist, Prompt, PromptPlayer, RecordingConfig, RecordingWriter, Side,
    ToneGenerator,
};
use switchboard_rtp::{NtpClock, RtpHeader, RtpPacket, RtpSession, RtpSessionConfig};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCS.with(Cell::get);
    f();
    ALLOCS.with(Cell::get) - before
}

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// The leg's sender the bridge writes through (it numbers every packet).
fn sender(pt: u8) -> RtpSession {
    let t0 = epoch();
    let mut cfg = RtpSessionConfig::new(
        NtpClock { at: t0, ntp: 0 },
        Bytes::from_static(b"alloc"),
        pt,
    );
    cfg.remote = Some("192.0.2.1:4000".parse().expect("addr"));
    cfg.confirmed = true;
    RtpSession::new(t0, cfg, &mut SmallRng::seed_from_u64(7))
}

fn packets(pt: u8, n: usize) -> Vec<RtpPacket> {
    (0..n)
        .map(|k| {
            let payload = Bytes::from(vec![0x55u8; 160]);
            RtpPacket::new(
                RtpHeader::new(pt, k as u16, (k * 160) as u32, 0xCAFE),
                payload,
            )
        })
        .collect()
}

#[test]
fn relayed_packets_do_not_allocate() {
    let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::Pcmu));
    let mut to_b = sender(0);
    let now = epoch();
    let pkts = packets(0, 1000);
    let mut out = BytesMut::with_capacity(2048);
    let _ = br
        .handle_packet(Leg::A, &pkts[0])
        .map(|f| to_b.write_relayed(now, f.packet, f.payload, &mut out));
    let n = allocations_during(|| {
        for p in &pkts[1..] {
            out.clear();
            let f = br.handle_packet(Leg::A, p).expect("relay");
            to_b.write_relayed(now, f.packet, f.payload, &mut out);
        }
    });
    assert_eq!(n, 0, "allocations for 999 relayed packets");
}

#[test]
fn transcoded_packets_do_not_allocate() {
    let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::G722));
    let (mut to_a, mut to_b) = (sender(0), sender(9));
    let now = epoch();
    let pkts = packets(0, 500);
    let back = packets(9, 500);
    let mut out = BytesMut::with_capacity(2048);
    let _ = br
        .handle_packet(Leg::A, &pkts[0])
        .map(|f| to_b.write_relayed(now, f.packet, f.payload, &mut out));
    let _ = br
        .handle_packet(Leg::B, &back[0])
        .map(|f| to_a.write_relayed(now, f.packet, f.payload, &mut out));
    let n = allocations_during(|| {
        for (p, q) in pkts[1..].iter().zip(&back[1..]) {
            out.clear();
            let f = br.handle_packet(Leg::A, p).expect("a->b");
            to_b.write_relayed(now, f.packet, f.payload, &mut out);
            out.clear();
            let g = br.handle_packet(Leg::B, q).expect("b->a");
            to_a.write_relayed(now, g.packet, g.payload, &mut out);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn mixed_frames_do_not_allocate() {
    let mut m = Mixer::new(8, 160);
    let ids: Vec<_> = (0..8).map(|_| m.add().expect("slot")).collect();
    let mut g = ToneGenerator::single(8000, 1000.0, 3000.0);
    let mut frame = [0i16; 160];
    let mut sink = 0i64;
    let n = allocations_during(|| {
        for _ in 0..500 {
            g.fill(&mut frame);
            for id in &ids {
                m.handle_frame(*id, &frame).expect("frame");
            }
            m.mix();
            for id in &ids {
                sink += i64::from(m.output(*id)[0]);
            }
        }
    });
    assert_eq!(n, 0);
    assert!(sink != i64::MIN);
}

#[test]
fn player_detector_and_codec_frames_do_not_allocate() {
    let t0 = epoch();
    let mut player = PromptPlayer::new(PlayerConfig::default());
    let prompt = Prompt::from_samples(vec![100i16; 8000]);
    player.play(t0, Playlist::moh(prompt));
    let mut det = DtmfDetector::default();
    let mut enc = G722Encoder::new();
    let mut codes = [0u8; 160];
    let mut wide = [0i16; 320];
    let mut up = switchboard_media::Upsampler::new();
    let n = allocations_during(|| {
        for k in 0..500u64 {
            let now = t0 + Duration::from_millis(20 * k);
            let f = player.poll_frame(now).expect("due");
            det.handle_samples(now, f.samples);
            up.process(f.samples, &mut wide);
            enc.encode(&wide, &mut codes);
            while det.poll_event().is_some() {}
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn recording_frames_do_not_allocate() {
    let t0 = epoch();
    let mut w = RecordingWriter::create(
        std::io::Cursor::new(Vec::with_capacity(1 << 20)),
        t0,
        RecordingConfig::default(),
    )
    .expect("create");
    let frame = [7i16; 160];
    let n = allocations_during(|| {
        for k in 0..500u64 {
            let now = t0 + Duration::from_millis(20 * k);
            w.handle_frame(now, Side::Caller, k * 160, &frame)
                .expect("c");
            w.handle_frame(now, Side::Agent, k * 160, &frame)
                .expect("a");
        }
    });
    // The in-memory file grows within its reserved capacity; the writer itself allocates nothing.
    assert_eq!(n, 0);
}

#[test]
fn answering_machine_detection_does_not_allocate() {
    let mut det = AmdDetector::new(AmdConfig::default());
    let mut packet = [0i16; 160];
    let n = allocations_during(|| {
        // 3 s of 20 ms packets: a quiet pause, then syllable-like bursts (a verdict falls
        // on the way; pushes after it are no-ops).
        for k in 0..150usize {
            for (i, s) in packet.iter_mut().enumerate() {
                let loud = k > 20 && (k / 10) % 2 == 0;
                *s = if loud {
                    ((i % 16) as i16 - 8) * 1500
                } else {
                    (i % 3) as i16
                };
            }
            let _ = det.push(&packet);
        }
    });
    assert!(det.verdict().is_some());
    assert_eq!(n, 0);
}

#[test]
fn the_decoding_path_jitter_buffer_and_decoder_do_not_allocate_once_warm() {
    // Reordered, duplicated and lost packets through the jitter buffer and the G.722
    // decoder + resampler: the slots and buffers exist after the first frames.
    for codec in [Codec::Pcmu, Codec::G722] {
        let mut p = switchboard_media::LegPipeline::new(switchboard_media::StreamFormat::of(codec));
        let t0 = epoch();
        let pkts = packets(codec.static_payload_type(), 1000);
        let mut order: Vec<usize> = (0..1000).collect();
        for k in (10..990).step_by(7) {
            order.swap(k, k + 1);
        }
        let mut run = |range: std::ops::Range<usize>, frames: &mut usize| {
            for &i in &order[range] {
                if i % 50 == 3 {
                    continue; // lost
                }
                let now = t0 + Duration::from_millis(20 * i as u64);
                let h = &pkts[i].header;
                p.push(now, h, &pkts[i].payload);
                if i % 31 == 0 {
                    p.push(now, h, &pkts[i].payload); // duplicate
                }
                while let Some(f) = p.poll_decoded(now) {
                    *frames += f.samples.len();
                }
            }
        };
        let mut frames = 0;
        run(0..20, &mut frames);
        let n = allocations_during(|| run(20..1000, &mut frames));
        assert_eq!(n, 0, "{codec:?}: allocations on the decoding path");
        assert!(frames > 900 * 160, "{codec:?}: {frames} samples decoded");
    }
}

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(64);
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}
