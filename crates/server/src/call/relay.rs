//! The bridged packet path: what one RTP packet accepted on a leg of a two-party call
//! does. It crosses the bridge at once (numbered by the other leg's session, written into
//! that leg's send buffer, one `sendto`); its audio is decoded only when something
//! listens to it: the recording, a supervisor's mix, in-band DTMF detection on a leg
//! without RFC 4733 events, or the other leg when the bridge transcodes. A plain bridge
//! (the common case) never decodes. A transcoded packet goes through its leg's jitter
//! buffer: the frames that come out of it (in timestamp order, once each, lost ones
//! concealed) are encoded by the other leg's pipeline and sent (decision 0039).
//!
//! Nothing here allocates, locks or logs per packet: the test below counts allocations
//! through a bridged, recorded call (decision 0043).

use super::*;

use switchboard_media::{Leg as BridgeLeg, Side};
use switchboard_rtp::RtpPacket;

/// Forwards `pkt`, accepted on `from` of `bridge`, to the other leg `to`. False when the
/// bridge drops it (a payload type the other leg has no use for: counted in the bridge).
pub(super) fn forward(
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

/// Queues a frame decoded on a leg (`samples`, RTP timestamp `ts`) to the recording's
/// `side`, placed on the recording's timeline by its timestamp.
pub(super) fn record(
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

impl CallTask {
    /// `n` packets crossed the bridge at `now`: the first after the agent's answer is the
    /// server's answer-to-audio (`call.end`'s `answer_to_audio_ms` and the
    /// `switchboard_answer_to_audio_seconds` histogram).
    fn crossed(&mut self, now: Instant, n: u64) {
        if n == 0 {
            return;
        }
        self.relayed += n;
        if self.first_relay_at.is_none() {
            self.first_relay_at = Some(now);
            if let Some(answered) = self.b_answered_at {
                let delay = now.saturating_duration_since(answered);
                self.ctx.metrics.answer_to_audio.observe(delay);
            }
        }
    }

    /// Whether the caller's audio must be decoded: recorded, mixed for a supervisor, or
    /// searched for in-band DTMF (no RFC 4733 events negotiated).
    fn caller_audio_needed(&self) -> bool {
        self.recorder.is_some()
            || self.supervision.is_some()
            || self.a.neg.telephone_event.is_none()
    }

    pub(super) fn on_rtp_a(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        let Some(pkt) = self.a.receive(now, from, data) else {
            return;
        };
        // RTP from the caller's address confirms it as well as an ACK would.
        self.start_when_confirmed();
        if Some(pkt.header.payload_type) == self.a.neg.telephone_event {
            if let Ok(ev) = TelephoneEvent::parse(&pkt.payload) {
                self.a.dtmf.handle_packet(now, pkt.header.timestamp, ev);
            }
        }
        let mut transcode = false;
        if let (Some(bridge), Some(b), None) = (
            self.bridge.as_mut(),
            self.b.as_mut(),
            self.supervision.as_ref(),
        ) {
            transcode = bridge.transcodes(BridgeLeg::A, pkt.header.payload_type);
            if !transcode && forward(now, bridge, BridgeLeg::A, &pkt, b) {
                self.crossed(now, 1);
            }
        }
        let inband = self.a.neg.telephone_event.is_none();
        let ssrc = pkt.header.ssrc;
        let mut transcoded = 0;
        if (transcode || self.caller_audio_needed()) && self.a.push_audio(now, &pkt) {
            while let Some(f) = self.a.poll_decoded(now) {
                if let (true, Some(bridge), Some(b)) =
                    (transcode, self.bridge.as_mut(), self.b.as_mut())
                {
                    b.send_transcoded(now, bridge, BridgeLeg::A, ssrc, &f);
                    transcoded += 1;
                }
                if let Some(sv) = self.supervision.as_mut() {
                    let _ = sv.mixer.handle_frame(sv.ids[0], f.samples);
                }
                if inband {
                    self.inband.handle_samples(now, f.samples);
                }
                if let (Some(rec), Some(origin)) = (self.recorder.as_mut(), self.rec_origin) {
                    let ts = f.timestamp;
                    record(
                        rec,
                        Side::Caller,
                        origin,
                        now,
                        &mut self.tl_a,
                        ts,
                        f.samples,
                    );
                }
            }
        }
        self.crossed(now, transcoded);
        self.collect_digits(now);
    }

    pub(super) fn on_rtp_b(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        let Some(b) = self.b.as_mut() else { return };
        let Some(pkt) = b.receive(now, from, data) else {
            return;
        };
        let mut transcode = false;
        let mut crossed = 0;
        if let (Some(bridge), None) = (self.bridge.as_mut(), self.supervision.as_ref()) {
            transcode = bridge.transcodes(BridgeLeg::B, pkt.header.payload_type);
            if !transcode && forward(now, bridge, BridgeLeg::B, &pkt, &mut self.a) {
                crossed += 1;
            }
        }
        // The agent's audio only goes to the caller (when transcoded), the recording and
        // a supervisor's mix.
        let listened = transcode || self.recorder.is_some() || self.supervision.is_some();
        let ssrc = pkt.header.ssrc;
        if listened && b.push_audio(now, &pkt) {
            while let Some(f) = b.poll_decoded(now) {
                if let (true, Some(bridge)) = (transcode, self.bridge.as_mut()) {
                    self.a.send_transcoded(now, bridge, BridgeLeg::B, ssrc, &f);
                    crossed += 1;
                }
                if let Some(sv) = self.supervision.as_mut() {
                    let _ = sv.mixer.handle_frame(sv.ids[1], f.samples);
                }
                if let (Some(rec), Some(origin)) = (self.recorder.as_mut(), self.rec_origin) {
                    let ts = f.timestamp;
                    record(rec, Side::Agent, origin, now, &mut self.tl_b, ts, f.samples);
                }
            }
        }
        self.crossed(now, crossed);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::alloc_count::allocations;
    use crate::recorder::WriterPool;
    use bytes::BytesMut;
    use switchboard_rtp::RtpHeader;
    use switchboard_transport::RtpSocketPair;

    const PCMU: u8 = 0;
    const EVENTS: u8 = 101;
    const PACKET: usize = 172;

    /// A PCMU leg (events 101) on two fresh loopback sockets, sending to `peer`.
    pub(in crate::call) async fn leg(
        settings: &LegSettings,
        peer: SocketAddr,
        now: Instant,
    ) -> MediaLeg {
        let bind = || tokio::net::UdpSocket::bind("127.0.0.1:0");
        let pair = RtpSocketPair {
            rtp: bind().await.expect("bind rtp"),
            rtcp: bind().await.expect("bind rtcp"),
        };
        let neg = switchboard_sdp::Negotiated {
            media_index: 0,
            codec: switchboard_sdp::Codec::new("PCMU", PCMU, 8000),
            telephone_event: Some(EVENTS),
            ptime: 20,
            direction: Direction::SendRecv,
            remote: Some(peer),
            srtp: None,
        };
        let peer = MediaPeer {
            nat_ip: None,
            confirmed: true,
        };
        MediaLeg::new(settings, pair, neg, now, peer).expect("PCMU leg")
    }

    /// `n` RTP packets of one stream (160 bytes of PCMU each), back to back.
    fn stream(ssrc: u32, n: usize) -> Vec<u8> {
        let mut buf = BytesMut::with_capacity(n * PACKET);
        for i in 0..n {
            let h = RtpHeader::new(PCMU, i as u16, 160 * i as u32, ssrc);
            RtpPacket::new(h, Bytes::from_static(&[0x55; 160])).write_to(&mut buf);
        }
        buf.to_vec()
    }

    /// Both directions of a bridged call over loopback sockets, each packet received into
    /// the leg's receive buffer and forwarded, and, when `recorded`, decoded and recorded,
    /// as `on_rtp_a`/`on_rtp_b` do. The allocations of this thread (the test allocator,
    /// `alloc_count.rs`) during the packets after a warm-up, and how many packets that was;
    /// the peers' sends and receives are outside the count.
    async fn allocations_per_bridged_packets(recorded: bool) -> (u64, u64) {
        const N: usize = 1_000;
        const WARM: usize = 100;
        let caller = std::net::UdpSocket::bind("127.0.0.1:0").expect("caller");
        let agent = std::net::UdpSocket::bind("127.0.0.1:0").expect("agent");
        let (caller_at, agent_at) = (caller.local_addr().unwrap(), agent.local_addr().unwrap());
        let t0 = Instant::now();
        let settings = LegSettings {
            ntp: NtpClock { at: t0, ntp: 0 },
            rtp_timeout: Duration::from_secs(30),
            metrics: Arc::new(crate::metrics::Metrics::default()),
        };
        let mut a = leg(&settings, caller_at, t0).await;
        let mut b = leg(&settings, agent_at, t0).await;
        let (a_at, b_at) = (a.sock.local_addr().unwrap(), b.sock.local_addr().unwrap());
        let mut bridge = Bridge::new(a.bridge_config(), b.bridge_config());
        let dir = std::env::temp_dir().join(format!(
            "switchboard-relay-{}-{recorded}",
            std::process::id()
        ));
        let pool = WriterPool::new(1, 16_384).expect("writer pool");
        let mut rec = if recorded {
            Some(Recorder::start(&pool, dir.join("call.wav")).expect("recording"))
        } else {
            None
        };
        let (mut tl_a, mut tl_b) = (Timeline::default(), Timeline::default());
        let (mut buf_a, mut buf_b) = (RxBuf::new(), RxBuf::new());
        let (from_caller, from_agent) = (stream(0x1111, N), stream(0x2222, N));
        let mut allocated = 0;
        let mut got = [0u8; 2048];
        for i in 0..N {
            let now = t0 + Duration::from_millis(20 * i as u64);
            let packet = |s: &[u8]| s[i * PACKET..(i + 1) * PACKET].to_vec();
            caller.send_to(&packet(&from_caller), a_at).expect("send");
            agent.send_to(&packet(&from_agent), b_at).expect("send");
            let before = allocations();
            let (_, from) = a.sock.recv_buf_from(buf_a.prepare()).await.expect("recv");
            let data = a.open_rtp(&mut buf_a).expect("plain RTP");
            let pkt = a.receive(now, from, data).expect("accepted");
            assert!(forward(now, &mut bridge, BridgeLeg::A, &pkt, &mut b));
            if let Some(rec) = rec.as_mut() {
                assert!(a.push_audio(now, &pkt));
                while let Some(f) = a.poll_decoded(now) {
                    record(
                        rec,
                        Side::Caller,
                        t0,
                        now,
                        &mut tl_a,
                        f.timestamp,
                        f.samples,
                    );
                }
            }
            drop(pkt);
            let (_, from) = b.sock.recv_buf_from(buf_b.prepare()).await.expect("recv");
            let data = b.open_rtp(&mut buf_b).expect("plain RTP");
            let pkt = b.receive(now, from, data).expect("accepted");
            assert!(forward(now, &mut bridge, BridgeLeg::B, &pkt, &mut a));
            if let Some(rec) = rec.as_mut() {
                assert!(b.push_audio(now, &pkt));
                while let Some(f) = b.poll_decoded(now) {
                    record(rec, Side::Agent, t0, now, &mut tl_b, f.timestamp, f.samples);
                }
            }
            drop(pkt);
            if i >= WARM {
                allocated += allocations() - before;
            }
            // Each side receives the other's packet from the other leg's socket.
            for (peer, from) in [(&agent, b_at), (&caller, a_at)] {
                let (len, src) = peer.recv_from(&mut got).expect("relayed packet");
                assert_eq!((len, src), (PACKET, from));
                assert_eq!(&got[12..len], &[0x55; 160][..]);
            }
        }
        if let Some(rec) = rec {
            assert_eq!(rec.dropped(), 0);
        }
        drop(pool);
        let _ = std::fs::remove_dir_all(&dir);
        (allocated, 2 * (N - WARM) as u64)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_bridged_packet_allocates_nothing() {
        let (allocated, packets) = allocations_per_bridged_packets(false).await;
        assert_eq!(
            allocated, 0,
            "{allocated} allocations for {packets} packets"
        );
    }

    /// A recorded call's frames travel inline to the writer pool, whose queue allocates a
    /// block per 31 messages (decision 0036): nothing per packet beyond that.
    #[tokio::test(flavor = "current_thread")]
    async fn a_bridged_recorded_packet_allocates_only_the_writer_queues_blocks() {
        let (allocated, packets) = allocations_per_bridged_packets(true).await;
        println!("{allocated} allocations for {packets} relayed, recorded packets");
        assert!(
            allocated <= packets / 31 + 1,
            "{allocated} allocations for {packets} packets"
        );
    }
}
