//! The bridged packet path: what one RTP packet accepted on a leg of a two-party call
//! does. It crosses the bridge at once (numbered by the other leg's session, written into
//! that leg's send buffer, one `sendto`); its audio is decoded only when something
//! listens to it: the recording, a supervisor's mix, in-band DTMF detection on a leg
//! without RFC 4733 events, or the other leg when the bridge transcodes. A plain bridge
//! (the common case) never decodes. A transcoded packet goes through its leg's jitter
//! buffer: the frames that come out of it (in timestamp order, once each, lost ones
//! concealed) are encoded by the other leg's pipeline and sent (decision 0039). That
//! step is `bridge_crossing::cross`, shared with placed calls; this file adds the call
//! task's listeners (recording, supervision, in-band DTMF) and its counters.
//!
//! Nothing here allocates, locks or logs per packet: the test below counts allocations
//! through a bridged, recorded call (decision 0043).

use super::*;

use crate::bridge_crossing::{cross, Crossing, RecordedSide};
use switchboard_media::{Leg as BridgeLeg, Side};

impl CallTask {
    /// `n` packets crossed the bridge at `now`: the first after the agent's answer is the
    /// server's answer-to-audio (`call.end`'s `answer_to_audio_ms` and the
    /// `switchboard_answer_to_audio_seconds` histogram).
    pub(super) fn crossed(&mut self, now: Instant, n: u64) {
        if n == 0 {
            return;
        }
        self.relayed += n;
        if self.first_relay_at.is_none() {
            self.first_relay_at = Some(now);
            self.answer_crossed(now);
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
        let listened = self.caller_audio_needed();
        let inband = self.a.neg.telephone_event.is_none();
        let crossing = match (&mut self.bridge, &mut self.b, &self.supervision) {
            (Some(bridge), Some(to), None) => Some(Crossing {
                bridge,
                from: BridgeLeg::A,
                to,
            }),
            _ => None,
        };
        let (sv, detector) = (&mut self.supervision, &mut self.inband);
        let mut rec = recorded(
            &mut self.recorder,
            self.rec_origin,
            Side::Caller,
            &mut self.tl_a,
        );
        let sent = cross(now, &pkt, &mut self.a, crossing, listened, |f| {
            if let Some(sv) = sv.as_mut() {
                let _ = sv.mixer.handle_frame(sv.ids[0], f.samples);
            }
            if inband {
                detector.handle_samples(now, f.samples);
            }
            if let Some(rec) = rec.as_mut() {
                rec.frame(now, f);
            }
        });
        self.crossed(now, sent);
        self.collect_digits(now);
    }

    pub(super) fn on_rtp_b(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        let Some(b) = self.b.as_mut() else { return };
        let Some(pkt) = b.receive(now, from, data) else {
            return;
        };
        let crossing = match (&mut self.bridge, &self.supervision) {
            (Some(bridge), None) => Some(Crossing {
                bridge,
                from: BridgeLeg::B,
                to: &mut self.a,
            }),
            _ => None,
        };
        // The agent's audio only goes to the caller (when transcoded), the recording and
        // a supervisor's mix.
        let listened = self.recorder.is_some() || self.supervision.is_some();
        let sv = &mut self.supervision;
        let mut rec = recorded(
            &mut self.recorder,
            self.rec_origin,
            Side::Agent,
            &mut self.tl_b,
        );
        let sent = cross(now, &pkt, b, crossing, listened, |f| {
            if let Some(sv) = sv.as_mut() {
                let _ = sv.mixer.handle_frame(sv.ids[1], f.samples);
            }
            if let Some(rec) = rec.as_mut() {
                rec.frame(now, f);
            }
        });
        self.crossed(now, sent);
    }
}

/// The recording's `side` when the call is recorded.
pub(super) fn recorded<'a>(
    recorder: &'a mut Option<Recorder>,
    origin: Option<Instant>,
    side: Side,
    timeline: &'a mut Timeline,
) -> Option<RecordedSide<'a>> {
    Some(RecordedSide {
        rec: recorder.as_mut()?,
        side,
        origin: origin?,
        timeline,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::alloc_count::allocations;
    use crate::call::media_in::{self, Port};
    use crate::recorder::WriterPool;
    use bytes::BytesMut;
    use switchboard_rtp::{RtpHeader, RtpPacket};

    const PCMU: u8 = 0;
    const PACKET: usize = 172;

    /// A PCMU leg (events 101) on two fresh loopback sockets, sending to `peer`.
    pub(in crate::call) async fn leg(
        settings: &LegSettings,
        peer: SocketAddr,
        now: Instant,
    ) -> MediaLeg {
        let pcmu = switchboard_sdp::Codec::new("PCMU", PCMU, 8000);
        crate::bridge_crossing::tests::leg(settings, peer, now, pcmu).await
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
    /// its socket's receive buffer by the call task's datagram source (`media_in`) and
    /// taken across by `bridge_crossing::cross` (the step of
    /// `on_rtp_a`/`on_rtp_b` and of placed calls), and, when `recorded`, decoded and
    /// recorded. The allocations of this thread (the test allocator,
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
        let mut bufs = media_in::RxBufs::new();
        let mut turn = media_in::Turn::default();
        let (from_caller, from_agent) = (stream(0x1111, N), stream(0x2222, N));
        let mut allocated = 0;
        let mut got = [0u8; 2048];
        for i in 0..N {
            let now = t0 + Duration::from_millis(20 * i as u64);
            let packet = |s: &[u8]| s[i * PACKET..(i + 1) * PACKET].to_vec();
            caller.send_to(&packet(&from_caller), a_at).expect("send");
            agent.send_to(&packet(&from_agent), b_at).expect("send");
            let before = allocations();
            let socks: media_in::Sockets = [Some(&*a.sock), None, None, Some(&*a.rtcp), None];
            let (port, r) = media_in::next_datagram(&socks, &mut bufs, &mut turn).await;
            assert_eq!(port, Port::RtpA);
            let from = r.expect("recv");
            let data = a.open_rtp(bufs.get(port)).expect("plain RTP");
            let pkt = a.receive(now, from, data).expect("accepted");
            let crossing = Crossing {
                bridge: &mut bridge,
                from: BridgeLeg::A,
                to: &mut b,
            };
            let mut side = super::recorded(&mut rec, Some(t0), Side::Caller, &mut tl_a);
            let listened = side.is_some();
            let sent = cross(now, &pkt, &mut a, Some(crossing), listened, |f| {
                if let Some(side) = side.as_mut() {
                    side.frame(now, f);
                }
            });
            assert_eq!(sent, 1);
            drop(pkt);
            let socks: media_in::Sockets = [None, Some(&*b.sock), None, None, Some(&*b.rtcp)];
            let (port, r) = media_in::next_datagram(&socks, &mut bufs, &mut turn).await;
            assert_eq!(port, Port::RtpB);
            let from = r.expect("recv");
            let data = b.open_rtp(bufs.get(port)).expect("plain RTP");
            let pkt = b.receive(now, from, data).expect("accepted");
            let crossing = Crossing {
                bridge: &mut bridge,
                from: BridgeLeg::B,
                to: &mut a,
            };
            let mut side = super::recorded(&mut rec, Some(t0), Side::Agent, &mut tl_b);
            let sent = cross(now, &pkt, &mut b, Some(crossing), listened, |f| {
                if let Some(side) = side.as_mut() {
                    side.frame(now, f);
                }
            });
            assert_eq!(sent, 1);
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
