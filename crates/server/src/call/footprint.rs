//! What one bridged, recorded call holds in the server's own structures, counted (issue
//! 16's target is ≤ 150 KiB of RSS per bridged recorded call; decision 0045). Counted
//! without the wall clock, by construction and by the test allocator (`alloc_count.rs`):
//!
//! - the call task's allocation (the `run_call` future, which holds `CallTask` and both
//!   `MediaLeg`s inline);
//! - the first block of each of the call's channels (tokio allocates a block of 32 slots
//!   when a channel is made): SIP signals, queue signals, HTTP lookups, API control, and
//!   the supervision requests of a bridged call;
//! - what the two legs, the bridge and the recording handle allocate on the heap and
//!   still hold once audio flows both ways and both legs are decoded for the recording
//!   (receive buffers, send buffers, jitter buffers, decode buffers);
//! - what the recording holds on its writer thread (its alignment window, scratch and
//!   file buffer: allocated there since the writer thread creates the file).
//!
//! Not counted here: kernel socket buffers (not the process's RSS), the SIP driver's
//! dialogs and transactions, the ACD's entries, the event log, and the recording writer
//! queue's backlog (shared by all calls, decision 0036).

use super::*;
use crate::media_leg::RxBuf;

use super::relay::tests::leg;
use crate::alloc_count::live_bytes;
use crate::recorder::WriterPool;
use bytes::BytesMut;
use switchboard_media::Leg as BridgeLeg;
use switchboard_rtp::{RtpHeader, RtpPacket};

const PCMU: u8 = 0;

/// The size of the future an async fn of two arguments returns, without calling it.
fn future_size<A, B, F: std::future::Future>(_: impl Fn(A, B) -> F) -> usize {
    std::mem::size_of::<F>()
}

/// The first block tokio allocates for a channel of `T` (32 slots, plus its header).
fn channel_block<T>() -> usize {
    32 * std::mem::size_of::<T>() + 64
}

/// Receives one packet on `leg`, forwards it to `other` and decodes it (for the
/// recording): the frames decoded.
async fn one_packet(
    now: Instant,
    leg: &mut MediaLeg,
    other: &mut MediaLeg,
    buf: &mut RxBuf,
    bridge: &mut Bridge,
    from: BridgeLeg,
) -> usize {
    let (_, src) = leg.sock.recv_buf_from(buf.prepare()).await.expect("recv");
    let data = leg.open_rtp(buf).expect("plain RTP");
    let pkt = leg.receive(now, src, data).expect("accepted");
    assert!(crate::bridge_crossing::forward(
        now, bridge, from, &pkt, other
    ));
    assert!(leg.push_audio(now, &pkt));
    let mut decoded = 0;
    while let Some(f) = leg.poll_decoded(now) {
        assert_eq!(f.samples.len(), 160);
        decoded += 1;
    }
    decoded
}

/// Heap bytes the two legs, the bridge and the recording of a bridged, recorded PCMU
/// call hold after `n` packets each way, received into the legs' buffers, forwarded and
/// decoded for the recording as `call/relay.rs` does (frames are not queued to the
/// writer: its queue is shared and freed by the writer thread).
async fn heap_of_a_bridged_recorded_call(n: usize) -> Heap {
    let caller = std::net::UdpSocket::bind("127.0.0.1:0").expect("caller");
    let agent = std::net::UdpSocket::bind("127.0.0.1:0").expect("agent");
    let (caller_at, agent_at) = (caller.local_addr().unwrap(), agent.local_addr().unwrap());
    let t0 = Instant::now();
    let settings = LegSettings {
        ntp: NtpClock { at: t0, ntp: 0 },
        rtp_timeout: Duration::from_secs(30),
        metrics: Arc::new(crate::metrics::Metrics::default()),
    };
    let pool = WriterPool::new(1, 16_384).expect("writer pool");
    let dir = std::env::temp_dir().join(format!("switchboard-footprint-{}", std::process::id()));
    let before = live_bytes();
    let mut a = leg(&settings, caller_at, t0).await;
    let mut b = leg(&settings, agent_at, t0).await;
    let (a_at, b_at) = (a.sock.local_addr().unwrap(), b.sock.local_addr().unwrap());
    let mut bridge = Bridge::new(a.bridge_config(), b.bridge_config());
    let legs = live_bytes() - before;
    let rec = Recorder::start(&pool, dir.join("call.wav")).expect("recording");
    let recording = live_bytes() - before - legs;
    let (mut buf_a, mut buf_b) = (RxBuf::new(), RxBuf::new());
    let mut got = [0u8; 2048];
    let mut wire = BytesMut::with_capacity(256);
    let mut decoded = 0;
    for i in 0..n {
        let now = t0 + Duration::from_millis(20 * i as u64);
        for (peer, to, ssrc) in [(&caller, a_at, 1), (&agent, b_at, 2)] {
            wire.clear();
            let h = RtpHeader::new(PCMU, i as u16, 160 * i as u32, ssrc);
            RtpPacket::new(h, Bytes::from_static(&[0x55; 160])).write_to(&mut wire);
            peer.send_to(&wire, to).expect("send");
        }
        decoded += one_packet(now, &mut a, &mut b, &mut buf_a, &mut bridge, BridgeLeg::A).await;
        decoded += one_packet(now, &mut b, &mut a, &mut buf_b, &mut bridge, BridgeLeg::B).await;
        for peer in [&agent, &caller] {
            peer.recv_from(&mut got).expect("relayed packet");
        }
    }
    assert!(decoded >= 2 * (n - 2), "both legs decoded: {decoded}");
    let audio = live_bytes() - before - legs - recording;
    drop((a, b, bridge, rec));
    drop(pool);
    let _ = std::fs::remove_dir_all(&dir);
    Heap {
        legs,
        recording,
        audio,
    }
}

/// Heap bytes held, by when they were allocated.
struct Heap {
    /// Making both legs (sessions, sockets) and the bridge.
    legs: i64,
    /// Starting the recording (writer, window, buffers, file).
    recording: i64,
    /// Once packets flow: receive and send buffers, jitter buffers, decode buffers.
    audio: i64,
}

#[tokio::test(flavor = "current_thread")]
async fn a_bridged_recorded_call_holds_a_bounded_footprint() {
    let task = future_size(run_call);
    let writer = crate::recorder::heap_per_recording();
    let channels = channel_block::<CallSignal>()
        + channel_block::<QueueSignal>()
        + channel_block::<(u64, Result<serde_json::Value, switchboard_ivr::HttpError>)>()
        + channel_block::<crate::live_calls::CallControl>()
        + channel_block::<SuperviseRequest>();
    let h = heap_of_a_bridged_recorded_call(50).await;
    let heap = h.legs + h.recording + h.audio + writer as i64;
    let total = task as i64 + channels as i64 + heap;
    println!(
        "run_call future {task} B (CallTask {} B, MediaLeg {} B), channel blocks {channels} B, \
         heap: legs and bridge {} B, recording handle {} B, buffers once audio flows {} B, \
         recording on its writer thread {writer} B; total {total} B",
        std::mem::size_of::<CallTask>(),
        std::mem::size_of::<MediaLeg>(),
        h.legs,
        h.recording,
        h.audio,
    );
    // Measured 2026-12-07 (decision 0045, debug build): 12.5 KB task, 8.3 KB channel
    // blocks, heap 3.0 KB legs, 3.2 KB recording handle, 28 KB buffers once audio flows
    // (two jitter buffers ≈ 16.4 KB of it), 20.2 KB on the writer thread: 75 KB. Before
    // 0045's buffer cuts the same count was ≈ 96 KB (computed: window 16 KiB, scratch
    // 8 KiB, send buffers 2 × 2 KiB, receive buffers 2 × 4 KiB). Growing past the bound
    // is a regression to look at.
    assert!(heap > 0, "the legs and the recording allocate something");
    assert!(
        total <= 80 * 1024,
        "{total} bytes per bridged recorded call"
    );
}
