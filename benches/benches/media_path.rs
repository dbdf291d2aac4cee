//! Media path CPU cost: per relayed packet (bridge), per mixed frame (3 and 8 parties),
//! per transcoded packet (PCMU->PCMA, PCMU->G.722), and, in the same run, a minimal UDP
//! relay over loopback (`recv_from` + `send_to` per packet) so the bridge's cost can be
//! read as a fraction of the unavoidable syscall cost.
//!
//! Run: `cargo bench -p switchboard-benches --bench media_path`

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchboard_media::{
    g711, Bridge, Codec, Downsampler, Encoder, G722Decoder, G722Encoder, Leg, LegConfig, Mixer,
    ToneGenerator, Upsampler,
};
use switchboard_rtp::{NtpClock, RtpHeader, RtpPacket, RtpSession, RtpSessionConfig};

/// The receiving leg's sender: the bridge's output is numbered and written through it.
fn sender(pt: u8, remote: std::net::SocketAddr) -> RtpSession {
    let t0 = start();
    let mut cfg = RtpSessionConfig::new(NtpClock { at: t0, ntp: 0 }, Bytes::new(), pt);
    cfg.remote = Some(remote);
    RtpSession::new(t0, cfg, &mut SmallRng::seed_from_u64(1))
}

/// 20 ms of a 1 kHz tone, encoded as `codec`, in `n` consecutive RTP packets.
fn packets(codec: Codec, n: usize) -> Vec<RtpPacket> {
    let mut g = ToneGenerator::single(codec.sample_rate(), 1000.0, 8000.0);
    let mut enc = Encoder::new(codec);
    let mut pcm = vec![0i16; codec.samples_in(160)];
    (0..n)
        .map(|k| {
            g.fill(&mut pcm);
            let mut payload = vec![0u8; 160];
            enc.encode(&pcm, &mut payload);
            let h = RtpHeader::new(
                codec.static_payload_type(),
                k as u16,
                (k * 160) as u32,
                0x1234_5678,
            );
            RtpPacket::new(h, Bytes::from(payload))
        })
        .collect()
}

fn bridge_relay(c: &mut Criterion) {
    let mut g = c.benchmark_group("bridge");
    g.throughput(Throughput::Elements(1));
    let pkts = packets(Codec::Pcmu, 1024);
    let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::Pcmu));
    let mut out = BytesMut::with_capacity(2048);
    let remote = "127.0.0.1:9".parse().expect("addr");
    let mut to_b = sender(0, remote);
    let now = start();
    let mut i = 0;
    g.bench_function("relay_pcmu_per_packet", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            out.clear();
            if let Ok(f) = br.handle_packet(Leg::A, &pkts[i]) {
                to_b.write_relayed(now, f.packet, f.payload, &mut out);
            }
            black_box(out.len())
        })
    });
    for (name, to) in [
        ("transcode_pcmu_to_pcma_per_packet", Codec::Pcma),
        ("transcode_pcmu_to_g722_per_packet", Codec::G722),
    ] {
        let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(to));
        let mut to_b = sender(to.static_payload_type(), remote);
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) & 1023;
                out.clear();
                if let Ok(f) = br.handle_packet(Leg::A, &pkts[i]) {
                    to_b.write_relayed(now, f.packet, f.payload, &mut out);
                }
                black_box(out.len())
            })
        });
    }
    let g722 = packets(Codec::G722, 1024);
    let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::G722));
    let mut to_a = sender(0, remote);
    let mut i = 0;
    g.bench_function("transcode_g722_to_pcmu_per_packet", |b| {
        b.iter(|| {
            i = (i + 1) & 1023;
            out.clear();
            if let Ok(f) = br.handle_packet(Leg::B, &g722[i]) {
                to_a.write_relayed(now, f.packet, f.payload, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

/// Codec building blocks, per 20 ms frame.
fn codec_parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec_20ms");
    let mut wide = vec![0i16; 320];
    ToneGenerator::single(16000, 1000.0, 8000.0).fill(&mut wide);
    let mut narrow = vec![0i16; 160];
    ToneGenerator::single(8000, 1000.0, 8000.0).fill(&mut narrow);
    let mut codes = vec![0u8; 160];
    let mut enc = G722Encoder::new();
    g.bench_function("g722_encode", |b| {
        b.iter(|| black_box(enc.encode(black_box(&wide), &mut codes)))
    });
    let mut dec = G722Decoder::new();
    let mut out16 = vec![0i16; 320];
    g.bench_function("g722_decode", |b| {
        b.iter(|| black_box(dec.decode(black_box(&codes), &mut out16)))
    });
    let mut up = Upsampler::new();
    g.bench_function("upsample_8k_to_16k", |b| {
        b.iter(|| black_box(up.process(black_box(&narrow), &mut out16)))
    });
    let mut down = Downsampler::new();
    let mut out8 = vec![0i16; 160];
    g.bench_function("downsample_16k_to_8k", |b| {
        b.iter(|| black_box(down.process(black_box(&wide), &mut out8)))
    });
    g.bench_function("pcmu_encode", |b| {
        b.iter(|| black_box(g711::ulaw_encode_slice(black_box(&narrow), &mut codes)))
    });
    g.finish();
}

fn mixer(c: &mut Criterion) {
    let mut g = c.benchmark_group("mixer");
    g.throughput(Throughput::Elements(1));
    for parties in [3usize, 8] {
        let mut m = Mixer::new(parties, 160);
        let ids: Vec<_> = (0..parties).filter_map(|_| m.add().ok()).collect();
        let frames: Vec<Vec<i16>> = (0..parties)
            .map(|k| {
                let mut f = vec![0i16; 160];
                ToneGenerator::single(8000, 300.0 + 200.0 * k as f64, 3000.0).fill(&mut f);
                f
            })
            .collect();
        g.bench_function(format!("mix_{parties}_party_per_frame"), |b| {
            b.iter(|| {
                for (id, f) in ids.iter().zip(&frames) {
                    let _ = m.handle_frame(*id, f);
                }
                m.mix();
                let mut s = 0i32;
                for id in &ids {
                    s += i32::from(m.output(*id)[80]);
                }
                black_box(s)
            })
        });
    }
    g.finish();
}

/// Loopback UDP: `relay` receives from `src` and forwards to `sink`. Packets are queued
/// in batches outside the timed section; the timed section is exactly what a relay does
/// per packet (plus, for the `_with_bridge` variant, parse + bridge + serialize).
fn udp_relay(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_loopback");
    g.throughput(Throughput::Elements(1));
    let src = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let relay = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind");
    relay
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    sink.set_nonblocking(true).expect("nonblocking");
    let relay_addr = relay.local_addr().expect("addr");
    let sink_addr = sink.local_addr().expect("addr");
    let pkts = packets(Codec::Pcmu, 64);
    let wire: Vec<Bytes> = pkts.iter().map(|p| p.to_bytes()).collect();
    const BATCH: u64 = 32;

    let drain = |sink: &UdpSocket| {
        let mut buf = [0u8; 2048];
        while sink.recv_from(&mut buf).is_ok() {}
    };

    g.bench_function("relay_recv_from_send_to_per_packet", |b| {
        let mut buf = [0u8; 2048];
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                for k in 0..n {
                    let _ = src.send_to(&wire[k as usize % wire.len()], relay_addr);
                }
                let t = start();
                for _ in 0..n {
                    if let Ok((len, _)) = relay.recv_from(&mut buf) {
                        let _ = relay.send_to(&buf[..len], sink_addr);
                    }
                }
                total += t.elapsed();
                drain(&sink);
                left -= n;
            }
            total
        })
    });

    g.bench_function("relay_with_parse_bridge_per_packet", |b| {
        let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::Pcmu));
        let mut rx = BytesMut::with_capacity(64 * 1024);
        let mut out = BytesMut::with_capacity(2048);
        let mut to_sink = sender(0, sink_addr);
        let now = start();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(BATCH);
                for k in 0..n {
                    let _ = src.send_to(&wire[k as usize % wire.len()], relay_addr);
                }
                let t = start();
                for _ in 0..n {
                    if rx.capacity() < 2048 {
                        rx = BytesMut::with_capacity(64 * 1024);
                    }
                    rx.resize(2048, 0);
                    if let Ok((len, _)) = relay.recv_from(&mut rx) {
                        let datagram = rx.split_to(len).freeze();
                        rx.clear();
                        if let Ok(p) = RtpPacket::parse(datagram) {
                            out.clear();
                            if let Ok(f) = br.handle_packet(Leg::A, &p) {
                                to_sink.write_relayed(now, f.packet, f.payload, &mut out);
                                let _ = relay.send_to(&out, sink_addr);
                            }
                        }
                    }
                }
                total += t.elapsed();
                drain(&sink);
                left -= n;
            }
            total
        })
    });
    g.finish();
}

/// The benchmark's own clock (benches are drivers, not cores).
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bridge_relay, codec_parts, mixer, udp_relay
}
criterion_main!(benches);
