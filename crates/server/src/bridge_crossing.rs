//! One step of a two-party bridge, shared by the call task (`call/relay.rs`) and the
//! calls the engine places itself (`placed_call.rs`): an RTP packet accepted on one leg
//! crosses to the other as it is (same codec), or, when the bridge transcodes it, through
//! the source leg's jitter buffer (in timestamp order, once each, lost frames concealed)
//! and the other leg's encoder (decision 0039 §6). The frames decoded on the way go to
//! whoever listens (the recording, a supervisor's mix, in-band DTMF detection): the
//! caller passes a closure, so each path adds its own listeners without a copy of the
//! step. When a bridge is torn down (a hang-up, a re-bridge, a transfer) [`flush`] sends
//! what the source leg's jitter buffer still holds (its last 20-140 ms) the same way.
//!
//! It is not the bridge's state (that is `switchboard_media::Bridge`) nor a leg's
//! (`media_leg.rs`). Nothing here allocates, locks or logs per packet.

use std::time::Instant;

use switchboard_media::{Bridge, DecodedFrame, Leg as BridgeLeg, Side};
use switchboard_rtp::RtpPacket;

use crate::media_leg::{arrival_position, MediaLeg, Timeline};
use crate::recorder::Recorder;

/// The way across a bridge: `bridge`, entered from its leg `from`, out to the media of the
/// other leg, `to`.
pub(crate) struct Crossing<'a> {
    pub(crate) bridge: &'a mut Bridge,
    pub(crate) from: BridgeLeg,
    pub(crate) to: &'a mut MediaLeg,
}

/// Forwards `pkt`, accepted on `from` of `bridge`, to the other leg `to`. False when the
/// bridge drops it (a payload type the other leg has no use for: counted in the bridge).
pub(crate) fn forward(
    now: Instant,
    bridge: &mut Bridge,
    from: BridgeLeg,
    pkt: &RtpPacket,
    to: &mut MediaLeg,
) -> bool {
    match bridge.handle_packet(from, pkt) {
        Ok(fwd) => {
            to.send_relayed(now, &fwd);
            true
        }
        Err(_) => false,
    }
}

/// `pkt`, accepted on `src`, crosses the bridge when there is one (`crossing`; `None`
/// while nothing is bridged or a supervisor's mix replaces the bridge): forwarded as it
/// is, or transcoded through `src`'s jitter buffer. Its audio is decoded when the bridge
/// transcodes it or `listened` says something else needs it; every decoded frame goes to
/// `listen`. Returns how many packets went across.
pub(crate) fn cross(
    now: Instant,
    pkt: &RtpPacket,
    src: &mut MediaLeg,
    crossing: Option<Crossing<'_>>,
    listened: bool,
    mut listen: impl FnMut(&DecodedFrame<'_>),
) -> u64 {
    let mut sent = 0;
    let mut transcode = None;
    if let Some(c) = crossing {
        if c.bridge.transcodes(c.from, pkt.header.payload_type) {
            transcode = Some(c);
        } else if forward(now, c.bridge, c.from, pkt, c.to) {
            sent += 1;
        }
    }
    if !(transcode.is_some() || listened) || !src.push_audio(now, pkt) {
        return sent;
    }
    let ssrc = pkt.header.ssrc;
    while let Some(f) = src.poll_decoded(now) {
        if let Some(c) = transcode.as_mut() {
            c.to.send_transcoded(now, c.bridge, c.from, ssrc, &f);
            sent += 1;
        }
        listen(&f);
    }
    sent
}

/// The bridge (or `src` alone) is being torn down: every frame `src`'s jitter buffer still
/// holds, decoded in order without waiting for the playout clock, crosses `crossing` when
/// the bridge transcodes `src`'s audio (a forwarded packet never waits) and goes to
/// `listen`. Returns how many packets went across.
pub(crate) fn flush(
    now: Instant,
    src: &mut MediaLeg,
    crossing: Option<Crossing<'_>>,
    mut listen: impl FnMut(&DecodedFrame<'_>),
) -> u64 {
    let mut transcode = crossing.filter(|c| c.bridge.transcodes(c.from, src.format.payload_type));
    let ssrc = transcode
        .as_ref()
        .and_then(|c| c.bridge.transcoded_source(c.from))
        .unwrap_or(0);
    let mut sent = 0;
    while let Some(f) = src.drain_decoded() {
        if let Some(c) = transcode.as_mut() {
            c.to.send_transcoded(now, c.bridge, c.from, ssrc, &f);
            sent += 1;
        }
        listen(&f);
    }
    sent
}

/// Where a leg's decoded audio is recorded: a side of the recording and its timeline.
pub(crate) struct RecordedSide<'a> {
    pub(crate) rec: &'a mut Recorder,
    pub(crate) side: Side,
    /// When the recording started.
    pub(crate) origin: Instant,
    pub(crate) timeline: &'a mut Timeline,
}

impl RecordedSide<'_> {
    /// Queues a frame decoded at `now` to the recording, placed on the recording's
    /// timeline by its RTP timestamp.
    pub(crate) fn frame(&mut self, now: Instant, f: &DecodedFrame<'_>) {
        record(
            self.rec,
            self.side,
            self.origin,
            now,
            self.timeline,
            f.timestamp,
            f.samples,
        );
    }
}

/// Queues a frame decoded on a leg (`samples`, RTP timestamp `ts`) to the recording's
/// `side`, placed on the recording's timeline by its timestamp.
pub(crate) fn record(
    rec: &mut Recorder,
    side: Side,
    origin: Instant,
    now: Instant,
    timeline: &mut Timeline,
    ts: u32,
    samples: &[i16],
) {
    let pos = timeline.position(ts, arrival_position(origin, now, samples.len()));
    rec.frame(side, pos, now, samples);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::{Bytes, BytesMut};
    use switchboard_media::{LegPipeline, StreamFormat};
    use switchboard_rtp::{NtpClock, RtpHeader};
    use switchboard_sdp::{Codec, Direction};
    use switchboard_transport::RtpSocketPair;

    use crate::media_leg::{LegSettings, MediaPeer, RxBuf};

    /// A leg of `codec` (events 101, 20 ms) on two fresh loopback sockets, sending to `peer`.
    pub(crate) async fn leg(
        settings: &LegSettings,
        peer: SocketAddr,
        now: Instant,
        codec: Codec,
    ) -> MediaLeg {
        let bind = || tokio::net::UdpSocket::bind("127.0.0.1:0");
        let pair = RtpSocketPair {
            rtp: bind().await.expect("bind rtp"),
            rtcp: bind().await.expect("bind rtcp"),
        };
        let neg = switchboard_sdp::Negotiated {
            media_index: 0,
            codec,
            telephone_event: Some(101),
            ptime: 20,
            direction: Direction::SendRecv,
            remote: Some(peer),
            srtp: None,
        };
        let peer = MediaPeer {
            nat_ip: None,
            confirmed: true,
        };
        MediaLeg::new(settings, pair, neg, now, peer).expect("leg")
    }

    /// 20 ms of 8 kHz audio for frame `i` of `n`: silence, except a 1 kHz tone in the
    /// last `TONE_FRAMES` frames (longer than the jitter buffer's deepest delay, 140 ms).
    fn frame_audio(i: usize, n: usize) -> [i16; 160] {
        let mut pcm = [0i16; 160];
        if i + TONE_FRAMES >= n {
            for (k, s) in pcm.iter_mut().enumerate() {
                let t = (i * 160 + k) as f64 / 8000.0;
                *s = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16;
            }
        }
        pcm
    }

    const TONE_FRAMES: usize = 10;

    /// Mean absolute amplitude of a PCMU payload.
    fn ulaw_level(payload: &[u8]) -> f64 {
        let sum: f64 = payload
            .iter()
            .map(|&c| f64::from(switchboard_media::g711::ulaw_decode_sample(c)).abs())
            .sum();
        sum / payload.len().max(1) as f64
    }

    /// A caller sending `encoding` (PCMA or G.722) through a transcoding bridge to a PCMU
    /// agent: `n` packets cross, then the caller hangs up. Returns the agent's packets
    /// before the flush and in all (each as RTP timestamp and PCMU payload level).
    async fn transcoded_then_flushed(encoding: &str, pt: u8) -> (usize, Vec<(u32, f64)>) {
        const N: usize = 50;
        const WARM: usize = 10;
        let mut allocated = 0;
        let caller = std::net::UdpSocket::bind("127.0.0.1:0").expect("caller");
        let agent = std::net::UdpSocket::bind("127.0.0.1:0").expect("agent");
        agent
            .set_read_timeout(Some(Duration::from_millis(5)))
            .expect("timeout");
        let t0 = Instant::now();
        let settings = LegSettings {
            ntp: NtpClock { at: t0, ntp: 0 },
            rtp_timeout: Duration::from_secs(30),
            metrics: Arc::new(crate::metrics::Metrics::default()),
        };
        let src_codec = Codec::new(encoding, pt, 8000);
        let mut a = leg(&settings, caller.local_addr().unwrap(), t0, src_codec).await;
        let pcmu = Codec::new("PCMU", 0, 8000);
        let mut b = leg(&settings, agent.local_addr().unwrap(), t0, pcmu).await;
        let mut bridge = Bridge::new(a.bridge_config(), b.bridge_config());
        let format = StreamFormat::negotiated(encoding, 8000, pt, None, 20).expect("format");
        let mut encoder = LegPipeline::new(format);
        let a_at = a.sock.local_addr().unwrap();
        let mut buf = RxBuf::new();
        let mut got = Vec::new();
        let receive = |got: &mut Vec<(u32, f64)>| {
            let mut data = [0u8; 2048];
            while let Ok(len) = agent.recv(&mut data) {
                let ts = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                got.push((ts, ulaw_level(&data[12..len])));
            }
        };
        for i in 0..N {
            let now = t0 + Duration::from_millis(20 * i as u64);
            let payload = encoder.encode(&frame_audio(i, N)).to_vec();
            let h = RtpHeader::new(pt, i as u16, 160 * i as u32, 0x3333);
            let mut out = BytesMut::new();
            switchboard_rtp::RtpPacket::new(h, Bytes::from(payload)).write_to(&mut out);
            caller.send_to(&out, a_at).expect("send");
            let (_, from) = a.sock.recv_buf_from(buf.prepare()).await.expect("recv");
            let data = a.open_rtp(&mut buf).expect("plain RTP");
            let pkt = a.receive(now, from, data).expect("accepted");
            let crossing = Crossing {
                bridge: &mut bridge,
                from: BridgeLeg::A,
                to: &mut b,
            };
            let before = crate::alloc_count::allocations();
            cross(now, &pkt, &mut a, Some(crossing), false, |_| {});
            if i >= WARM {
                allocated += crate::alloc_count::allocations() - before;
            }
        }
        // A transcoded packet allocates nothing either once the pipelines' buffers exist.
        assert_eq!(
            allocated,
            0,
            "{encoding}: {allocated} allocations for {} packets",
            N - WARM
        );
        receive(&mut got);
        let before = got.len();
        // The caller hangs up right after its last packet.
        let end = t0 + Duration::from_millis(20 * N as u64);
        let crossing = Crossing {
            bridge: &mut bridge,
            from: BridgeLeg::A,
            to: &mut b,
        };
        let mut flushed = 0;
        let sent = flush(end, &mut a, Some(crossing), |_| flushed += 1);
        assert_eq!(sent, flushed, "every flushed frame crossed");
        receive(&mut got);
        (before, got)
    }

    /// The agent heard every frame, in order, the last ones the tone.
    fn assert_last_frames_arrived(encoding: &str, before: usize, got: &[(u32, f64)]) {
        assert!(
            before < got.len(),
            "{encoding}: the jitter buffer held nothing at the end ({before} of {})",
            got.len()
        );
        let first = got[0].0;
        let ticks: Vec<u32> = got.iter().map(|(ts, _)| ts.wrapping_sub(first)).collect();
        let last = *ticks.last().expect("packets");
        assert_eq!(
            last,
            160 * 49,
            "{encoding}: the last frame arrived: {ticks:?}"
        );
        assert!(ticks.windows(2).all(|w| w[1] == w[0] + 160), "{ticks:?}");
        for (ts, level) in &got[got.len() - TONE_FRAMES + 1..] {
            assert!(*level > 1000.0, "{encoding}: frame {ts} level {level}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_last_pcma_frames_reach_a_pcmu_leg_when_the_call_ends() {
        let (before, got) = transcoded_then_flushed("PCMA", 8).await;
        assert_last_frames_arrived("PCMA", before, &got);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_last_g722_frames_reach_a_pcmu_leg_when_the_call_ends() {
        let (before, got) = transcoded_then_flushed("G722", 9).await;
        assert_last_frames_arrived("G722", before, &got);
    }
}
