//! One RTP leg of a call: its sockets, its RTP session (which numbers everything the leg
//! sends and decides whom it accepts media from), its media pipeline (codec, jitter
//! buffer on the decoding path: `switchboard_media::pipeline`), and the small pieces
//! around it: the receive buffer, the recording timeline, and the hand-over of an agent's
//! leg from one call to another. When the leg's SDP negotiated SRTP keys it holds an
//! [`SrtpLeg`]: what arrives is unprotected in the receive buffer before the session sees
//! it, what leaves is protected in the send buffer (`srtp_leg.rs`). It knows nothing of
//! the call flow that uses it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use switchboard_media::{DecodedFrame, LegConfig, LegPipeline, StreamFormat};
use switchboard_rtp::{
    Channel, DtmfReceiver, NtpClock, RtpSession, RtpSessionConfig, SessionEvent, SessionOutput,
};
use switchboard_sdp::Negotiated;
use switchboard_transport::RtpSocketPair;
use tokio::net::UdpSocket;

use crate::pii::Pii;
use crate::srtp_leg::SrtpLeg;

/// What every leg of this process shares: the RTCP clock, the media timeout, the
/// counters its foreign-packet drops go to.
pub(crate) struct LegSettings {
    pub(crate) ntp: NtpClock,
    pub(crate) rtp_timeout: Duration,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

/// Whom a leg accepts media from, and whether it may send at once (strict media and no
/// amplification; see `switchboard_rtp::session`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MediaPeer {
    /// The call's signalling source IP when its user or trunk is `nat = true`: RTP from
    /// it (any port) may latch within 2 s of the answer. Otherwise only the SDP address.
    pub(crate) nat_ip: Option<IpAddr>,
    /// The dialog is confirmed: we placed the call and its 200 came back. A leg of an
    /// inbound call sends nothing until the ACK (or RTP from its address) arrives.
    pub(crate) confirmed: bool,
}

/// The format of a negotiated stream, from the codec registry (`switchboard_media::codec_registry`):
/// `None` when the negotiated codec is not one the media pipeline implements.
pub(crate) fn stream_format(n: &Negotiated) -> Option<StreamFormat> {
    StreamFormat::negotiated(
        &n.codec.name,
        n.codec.clock_rate,
        n.codec.payload_type,
        n.telephone_event,
        n.ptime,
    )
    .ok()
}

/// Receive buffer for one RTP socket. Each datagram is split off as `Bytes` (the
/// packet's payload stays a slice of it); once those are dropped the space is reclaimed,
/// so receiving allocates only when packets are still held elsewhere.
pub(crate) struct RxBuf(BytesMut);

impl RxBuf {
    /// One datagram's room: once the previous packet is dropped (the path copies what it
    /// keeps), `prepare` takes the whole chunk back instead of allocating (decision 0045:
    /// 2 KiB per receiving socket, it was 4 KiB).
    const CHUNK: usize = 2048;

    /// An empty buffer: the first [`prepare`](Self::prepare) allocates, so a socket
    /// that never receives (a supervisor's, most RTCP ones) costs nothing.
    pub(crate) fn new() -> RxBuf {
        RxBuf(BytesMut::new())
    }

    /// The buffer to receive the next datagram into (room for the largest RTP packet).
    pub(crate) fn prepare(&mut self) -> &mut BytesMut {
        self.0.clear();
        if self.0.capacity() < 2048 {
            self.0.reserve(Self::CHUNK);
        }
        &mut self.0
    }

    /// The datagram just received.
    pub(crate) fn take(&mut self) -> Bytes {
        self.0.split().freeze()
    }
}

/// An agent leg handed from one call to another in an attended transfer.
pub(crate) struct HandOver {
    pub(crate) media: MediaLeg,
    /// The ACD call the agent is busy on (ended when the receiving call ends).
    pub(crate) acd_call: u64,
    pub(crate) queue: String,
    pub(crate) agent: String,
    /// Keeps a colleague rung directly busy in the ACD (a consultation to a user).
    pub(crate) engaged: Option<crate::acd_actor::Engagement>,
    /// The call whose leg B is the party handed over, when it is not the consultation
    /// call itself: an agent's own call to a number bridges the agent's call to a second,
    /// originated call (`agent_outbound.rs`), whose only leg moves.
    pub(crate) leg_call: Option<switchboard_sip::CallKey>,
}

impl std::fmt::Debug for HandOver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandOver")
            .field("acd_call", &self.acd_call)
            .field("queue", &self.queue)
            .finish()
    }
}

/// One RTP leg: its sockets, session and codec state.
pub(crate) struct MediaLeg {
    pub(crate) sock: Arc<UdpSocket>,
    pub(crate) rtcp: Arc<UdpSocket>,
    pub(crate) session: RtpSession,
    pub(crate) neg: Negotiated,
    /// The stream's codec and payload types, as the codec registry resolved them.
    pub(crate) format: StreamFormat,
    /// Jitter buffer, decoder and encoder; 8 kHz audio on our side of it (what prompts,
    /// the recorder, the mixer and DTMF/AMD detection use). Per-codec state is boxed.
    pipeline: LegPipeline,
    pub(crate) dtmf: DtmfReceiver,
    pub(crate) out: BytesMut,
    metrics: Arc<crate::metrics::Metrics>,
    /// The first foreign packet was logged (later ones are only counted).
    foreign_logged: bool,
    /// The same for the RTCP socket.
    foreign_rtcp_logged: bool,
    /// SRTP contexts when the stream is SRTP.
    /// Boxed: a few KiB of key schedules that plain legs (most of them) do not carry.
    srtp: Option<Box<SrtpLeg>>,
}

impl MediaLeg {
    pub(crate) fn new(
        ctx: &LegSettings,
        pair: RtpSocketPair,
        neg: Negotiated,
        now: Instant,
        peer: MediaPeer,
    ) -> Option<MediaLeg> {
        let format = stream_format(&neg)?;
        let mut scfg = RtpSessionConfig::new(
            ctx.ntp,
            Bytes::from_static(b"switchboard"),
            neg.codec.payload_type,
        );
        scfg.remote = neg.remote;
        scfg.confirmed = peer.confirmed;
        if let Some(ip) = peer.nat_ip {
            scfg.latching = switchboard_rtp::Latching::Signalling {
                ip,
                window: switchboard_rtp::NAT_LATCH_WINDOW,
            };
        }
        scfg.inactivity_timeout = Some(ctx.rtp_timeout);
        let session = RtpSession::new(now, scfg, &mut rand::thread_rng());
        let srtp = neg.srtp.as_ref().map(|k| Box::new(SrtpLeg::new(k)));
        if srtp.is_some() {
            crate::metrics::Metrics::add(&ctx.metrics.srtp_legs, 1);
        }
        Some(MediaLeg {
            sock: Arc::new(pair.rtp),
            rtcp: Arc::new(pair.rtcp),
            session,
            format,
            pipeline: LegPipeline::new(format),
            dtmf: DtmfReceiver::new(Duration::from_millis(600)),
            neg,
            // Grows to the largest packet the leg sends on its first sends (a few hundred
            // bytes), then is reused: no 2 KiB up front on every leg.
            out: BytesMut::new(),
            metrics: ctx.metrics.clone(),
            foreign_logged: false,
            foreign_rtcp_logged: false,
            srtp,
        })
    }

    /// The SRTP mode to answer a re-INVITE on this leg with: the key we already use when
    /// the leg is SRTP, else off.
    pub(crate) fn reinvite_srtp(&self) -> switchboard_sdp::SrtpMode {
        self.srtp
            .as_ref()
            .map_or(switchboard_sdp::SrtpMode::Off, |s| s.answer_mode())
    }

    /// Takes up a re-INVITE's negotiated keys (the peer may have re-keyed).
    pub(crate) fn update_srtp(&mut self, keys: Option<&switchboard_sdp::SrtpKeys>) {
        if let (Some(s), Some(k)) = (self.srtp.as_mut(), keys) {
            s.update(k);
        }
    }

    /// The datagram just received on the RTP socket, as plain RTP: unprotected in place
    /// when the leg is SRTP. A packet that fails (authentication, replay, too old) is
    /// counted (`switchboard_srtp_rejected_total` and the leg's `srtp_rejected` in
    /// `call.end`; the first one per leg is logged) and dropped: `None`.
    pub(crate) fn open_rtp(&mut self, buf: &mut RxBuf) -> Option<Bytes> {
        if let Some(s) = self.srtp.as_mut() {
            if let Err(e) = s.unprotect_rtp(&mut buf.0) {
                self.srtp_rejected(e, "SRTP");
                return None;
            }
        }
        Some(buf.take())
    }

    fn srtp_rejected(&mut self, e: switchboard_srtp::SrtpError, what: &str) {
        crate::metrics::Metrics::add(&self.metrics.srtp_rejected, 1);
        let port = self.local_port();
        if let Some(s) = self.srtp.as_mut() {
            s.rejected += 1;
            if !s.logged {
                s.logged = true;
                tracing::warn!(
                    port,
                    error = %e,
                    "{what} packet refused (later ones are counted in switchboard_srtp_rejected_total)"
                );
            }
        }
    }
    /// Feeds a datagram from the RTP socket to the session: the packet when accepted.
    /// Packets from a source the leg does not accept are counted (metric
    /// `switchboard_rtp_foreign_dropped_total`; the first one per leg is logged) and go
    /// no further: never forwarded, decoded, recorded or DTMF-detected.
    pub(crate) fn receive(
        &mut self,
        now: Instant,
        from: SocketAddr,
        data: Bytes,
    ) -> Option<switchboard_rtp::RtpPacket> {
        match self.session.handle_rtp(now, from, data) {
            Ok(p) => Some(p),
            Err(switchboard_rtp::Rejected::ForeignSource) => {
                crate::metrics::Metrics::add(&self.metrics.rtp_foreign_dropped, 1);
                if !self.foreign_logged {
                    self.foreign_logged = true;
                    tracing::warn!(
                        source = %Pii(from),
                        port = self.local_port(),
                        "RTP from a source this leg does not accept dropped (later ones are counted in switchboard_rtp_foreign_dropped_total)"
                    );
                }
                None
            }
            Err(_) => None,
        }
    }

    /// Feeds a datagram from the RTCP socket to the session (the peer's reports about our
    /// stream end up in [`MediaLeg::quality`]). RTCP from a source the leg does not accept
    /// is counted like foreign RTP (`switchboard_rtp_foreign_dropped_total`, the first
    /// one per leg and socket logged); malformed RTCP is counted in the session's `malformed`.
    /// On an SRTP leg the datagram is unprotected first; one that fails is counted like
    /// refused SRTP (see [`MediaLeg::open_rtp`]).
    pub(crate) fn receive_rtcp(&mut self, now: Instant, from: SocketAddr, buf: &mut RxBuf) {
        if let Some(s) = self.srtp.as_mut() {
            if let Err(e) = s.unprotect_rtcp(&mut buf.0) {
                self.srtp_rejected(e, "SRTCP");
                return;
            }
        }
        let data = buf.take();
        if let Err(switchboard_rtp::Rejected::ForeignSource) =
            self.session.handle_rtcp(now, from, data)
        {
            crate::metrics::Metrics::add(&self.metrics.rtp_foreign_dropped, 1);
            if !self.foreign_rtcp_logged {
                self.foreign_rtcp_logged = true;
                tracing::warn!(
                    source = %Pii(from),
                    port = self.local_port(),
                    "RTCP from a source this leg does not accept dropped (later ones are counted in switchboard_rtp_foreign_dropped_total)"
                );
            }
        }
    }

    /// This leg's receive quality for `call.end`.
    pub(crate) fn quality(&self, leg: switchboard_events::Party) -> switchboard_events::LegQuality {
        let st = self.session.stats();
        let peer = st.peer_report;
        let decode = self.pipeline.stats();
        switchboard_events::LegQuality {
            leg,
            packets: st.packets_received,
            bytes: st.octets_received,
            lost: st.receiver.map_or(0, |r| r.lost),
            jitter_ms: st.receiver.map_or(0.0, |r| r.jitter_ms),
            peer_reported_lost: peer.map(|p| i64::from(p.cumulative_lost)),
            peer_reported_fraction_lost: peer.map(|p| f64::from(p.fraction_lost) / 256.0),
            peer_reported_jitter_ms: peer.map(|p| p.jitter_ms),
            rtt_ms: st.rtt.map(|d| d.as_secs_f64() * 1000.0),
            srtp: self.srtp.is_some(),
            srtp_rejected: self.srtp.as_ref().map_or(0, |s| s.rejected),
            decode_late: decode.jitter.late,
            decode_concealed: decode.jitter.concealed,
        }
    }

    pub(crate) fn local_port(&self) -> u16 {
        self.sock.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// This leg for the two-party bridge: the negotiated codec and payload types. The
    /// bridge does not number packets; [`MediaLeg::send_relayed`] does, in this leg's
    /// session, so the leg's RTP stays continuous across every switch of its source.
    pub(crate) fn bridge_config(&self) -> LegConfig {
        self.format.leg_config()
    }

    /// Feeds a received packet to the leg's decoding path (the jitter buffer) when it is
    /// the leg's audio payload type; `true` then, and the decoded frames come out of
    /// [`MediaLeg::poll_decoded`]. Late and duplicate packets are counted there (and in
    /// the process metrics when the leg ends), not decoded.
    pub(crate) fn push_audio(&mut self, now: Instant, pkt: &switchboard_rtp::RtpPacket) -> bool {
        if pkt.header.payload_type != self.format.payload_type {
            return false;
        }
        let before = self.pipeline.stats().oversize;
        self.pipeline.push(now, &pkt.header, &pkt.payload);
        if before == 0 && self.pipeline.stats().oversize == 1 {
            tracing::warn!(
                port = self.local_port(),
                len = pkt.payload.len(),
                "RTP payload too large to decode (ptime over 60 ms?): not decoded, not recorded; later ones are counted in switchboard_decode_oversize_total"
            );
        }
        true
    }

    /// The next frame of decoded 8 kHz audio due at `now` (in timestamp order, lost and
    /// late frames concealed); call in a loop after [`MediaLeg::push_audio`].
    pub(crate) fn poll_decoded(&mut self, now: Instant) -> Option<DecodedFrame<'_>> {
        self.pipeline.poll_decoded(now)
    }

    /// At the end of the leg's stream (its bridge or recording is torn down): the next
    /// frame the jitter buffer still holds (its last 20-140 ms), decoded in order without
    /// waiting for the playout clock; call in a loop until `None`
    /// (`bridge_crossing::flush`).
    pub(crate) fn drain_decoded(&mut self) -> Option<DecodedFrame<'_>> {
        self.pipeline.drain_decoded()
    }

    /// Encodes and sends one frame of 8 kHz PCM.
    pub(crate) fn send_pcm(&mut self, now: Instant, samples: &[i16]) {
        let ticks = self.pipeline.ticks_for(samples.len());
        let payload = self.pipeline.encode(samples);
        self.out.clear();
        if let Some(to) = self.session.write_rtp(now, payload, ticks, &mut self.out) {
            self.send_out(to);
        }
    }

    /// Sends the RTP packet in `self.out`, protected in place first on an SRTP leg.
    fn send_out(&mut self, to: SocketAddr) {
        if let Some(s) = self.srtp.as_mut() {
            if s.protect_rtp(&mut self.out).is_err() {
                crate::metrics::Metrics::add(&self.metrics.srtp_rejected, 1);
                return;
            }
        }
        let _ = self.sock.try_send_to(&self.out, to);
    }

    /// Sends one decoded frame of another leg across a transcoding bridge: encoded by this
    /// leg's pipeline, numbered as `Bridge::transcoded` says (its `ticks` are this leg's),
    /// then by this leg's session like any relayed packet.
    pub(crate) fn send_transcoded(
        &mut self,
        now: Instant,
        bridge: &mut switchboard_media::Bridge,
        from: switchboard_media::Leg,
        ssrc: u32,
        frame: &DecodedFrame<'_>,
    ) {
        let ticks = self.pipeline.ticks_for(frame.samples.len());
        let packet = bridge.transcoded(from, ssrc, frame.timestamp, ticks);
        let payload = self.pipeline.encode(frame.samples);
        self.out.clear();
        if let Some(to) = self
            .session
            .write_relayed(now, packet, payload, &mut self.out)
        {
            self.send_out(to);
        }
    }

    /// Sends a packet the bridge forwards to this leg, numbered by this leg's session.
    pub(crate) fn send_relayed(&mut self, now: Instant, fwd: &switchboard_media::Forward<'_>) {
        self.out.clear();
        if let Some(to) = self
            .session
            .write_relayed(now, fwd.packet, fwd.payload, &mut self.out)
        {
            self.send_out(to);
        }
    }

    pub(crate) fn flush_session(&mut self) -> Vec<SessionEvent> {
        let mut evs = Vec::new();
        while let Some(o) = self.session.poll_output() {
            match o {
                SessionOutput::Transmit {
                    channel,
                    to,
                    datagram,
                } => {
                    let s = match channel {
                        Channel::Rtp => &self.sock,
                        Channel::Rtcp => &self.rtcp,
                    };
                    let sealed = match (self.srtp.as_mut(), channel) {
                        (None, _) => Ok(&datagram[..]),
                        (Some(srtp), Channel::Rtcp) => srtp.protect_rtcp(&datagram),
                        // The session sends RTP only through write_rtp/write_relayed.
                        (Some(_), Channel::Rtp) => Err(switchboard_srtp::SrtpError::NotRtp),
                    };
                    if let Ok(bytes) = sealed {
                        let _ = s.try_send_to(bytes, to);
                    }
                }
                SessionOutput::Event(e) => evs.push(e),
            }
        }
        evs
    }
}

impl Drop for MediaLeg {
    /// The decoding path's losses go to the process metrics once, when the leg ends.
    fn drop(&mut self) {
        let st = self.pipeline.stats();
        let m = &self.metrics;
        crate::metrics::Metrics::add(&m.decode_late, st.jitter.late);
        crate::metrics::Metrics::add(&m.decode_concealed, st.jitter.concealed);
        crate::metrics::Metrics::add(&m.decode_oversize, st.oversize);
        if st.jitter.pushed > 0 {
            tracing::debug!(
                port = self.local_port(),
                pushed = st.jitter.pushed,
                late = st.jitter.late,
                duplicates = st.jitter.duplicates,
                concealed = st.jitter.concealed,
                resyncs = st.jitter.resyncs,
                reframed = st.reframed,
                "decoding path of the leg ended"
            );
        }
    }
}

/// Maps a side's RTP timestamps onto the recording's timeline: the first packet lands at
/// its arrival time, later ones follow their timestamps (so jitter does not smear audio).
#[derive(Default)]
pub(crate) struct Timeline {
    base: Option<(u32, u64)>,
}

impl Timeline {
    pub(crate) fn position(&mut self, ts: u32, arrival: u64) -> u64 {
        match self.base {
            None => {
                self.base = Some((ts, arrival));
                arrival
            }
            Some((ts0, pos0)) => {
                let delta = ts.wrapping_sub(ts0);
                if delta > u32::MAX / 2 {
                    // Older than the first packet (reordered): place it by arrival.
                    arrival
                } else {
                    pos0 + u64::from(delta)
                }
            }
        }
    }
}

/// Where a frame of `n` samples that just arrived starts on the recording's timeline.
pub(crate) fn arrival_position(origin: Instant, now: Instant, n: usize) -> u64 {
    let at = (now.saturating_duration_since(origin).as_micros() * 8 / 1000) as u64;
    at.saturating_sub(n as u64)
}

#[cfg(test)]
mod tests {
    /// The codecs our SDP offers list (`LocalCaps::default`) are exactly the registry's,
    /// in its order: a codec added to the registry must be offered, and nothing is
    /// offered that the pipeline cannot decode.
    #[test]
    fn sdp_offers_list_the_registry_codecs() {
        let offered: Vec<(String, u8, u32)> = switchboard_sdp::LocalCaps::default()
            .codecs
            .into_iter()
            .map(|c| (c.name, c.payload_type, c.clock_rate))
            .collect();
        let registry: Vec<(String, u8, u32)> = switchboard_media::codec_registry::offer_order()
            .map(|(n, pt, r)| (n.to_owned(), pt, r))
            .collect();
        assert_eq!(offered, registry);
    }

    /// RSS per call (issue #16): a leg's inline size. Before the media pipeline
    /// (decision 0039) a `MediaLeg` was 2,352 bytes inline (both resamplers inline in
    /// every leg) plus 6 KiB of decode/encode buffers allocated for every leg (14 KiB on
    /// G.722 legs). Now the codec state is a tag plus a box, the buffers are allocated on
    /// first decode/encode, and the jitter buffer (about 8 KiB) only on decoding legs.
    #[test]
    fn a_media_leg_stays_small_inline() {
        let size = std::mem::size_of::<super::MediaLeg>();
        eprintln!("MediaLeg is {size} bytes inline");
        assert!(size <= 1400, "MediaLeg is {size} bytes inline");
    }
}
