//! One RTP leg, sans-IO: strict media sources, remote SSRC and timestamp-jump tracking,
//! reception statistics, RTCP SR/RR on an interval, inactivity detection, and outgoing
//! sequence/timestamp/SSRC management.
//!
//! Run loop (driver): feed `handle_rtp` / `handle_rtcp` with each datagram and its source,
//! `handle_timeout` when [`RtpSession::poll_timeout`] is reached, then drain
//! [`RtpSession::poll_output`] until `None`. Outgoing media is written straight into the
//! driver's reused buffer by [`RtpSession::write_rtp`] (no allocation per packet).
//!
//! # Who media is accepted from
//!
//! A leg never latches onto an arbitrary source: anyone who can reach the RTP port could
//! otherwise take the leg over (spraying the port range). Accepted are:
//!
//! ```text
//!   Unlatched --RTP from the SDP address-------------------------> Latched(SDP address)
//!   Unlatched --RTP from the signalling IP, any port, within the---> Latched(that address)
//!               latching window (Latching::Signalling, NAT only)
//!   Latched(A): RTP from any other address is dropped and counted (foreign_dropped).
//! ```
//!
//! RTCP is accepted from the latched (else the SDP) address's IP on the RTP port or the
//! one above it; with [`Latching::Signalling`] from the latched IP on any port (NATs map
//! the RTCP port independently), or from the signalling IP while the window is open.
//!
//! # No amplification
//!
//! Nothing (RTP or RTCP) is sent until the remote address is confirmed: by
//! [`RtpSession::confirm`] (the driver saw the dialog confirmed, e.g. the ACK of our 2xx
//! from the signalling source, or the 200 to an INVITE we sent), or by accepting RTP from
//! it. So a spoofed INVITE naming a victim's address in its SDP makes a leg send nothing.
//!
//! # Outgoing numbering: one owner per leg
//!
//! Everything sent on a leg is numbered here, whatever feeds it: frames the server generates
//! ([`RtpSession::write_rtp`]: prompts, music on hold, whisper, the supervision mix) and
//! packets relayed from another leg ([`RtpSession::write_relayed`]: the two-party bridge).
//! One SSRC, and within it (RFC 3550 §5.1; RFC 7667 on back-to-back RTP sessions that
//! switch what feeds a stream; decision 0011):
//!
//! - sequence numbers continue by one across every switch of source;
//! - timestamps continue on the media clock: a locally generated frame carries the next
//!   timestamp in sequence, or, after a pause in sending longer than
//!   [`RtpSessionConfig::silence_gap`], the last timestamp sent plus the elapsed time in
//!   clock ticks;
//! - a relayed stream keeps its own gaps (loss, silence) but is anchored at our numbering
//!   when it starts, when its SSRC changes, and when its numbering jumps by more than
//!   [`RELAY_MAX_JUMP`] packets;
//! - the marker bit is set on the first packet after every switch and every gap.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use rand::RngCore;

use crate::packet::{RtpError, RtpHeader, RtpPacket};
use crate::rtcp::{
    parse_compound, write_compound, Bye, ReceiverReport, RtcpError, RtcpPacket, SdesChunk,
    SdesItem, SenderReport, SDES_CNAME,
};
use crate::stats::{
    ntp_middle32, rtt_from_report, NtpClock, PeerReport, ReceiverStats, ReceptionState, SeqVerdict,
};

/// Which sources a leg accepts media from (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latching {
    /// Strict: RTP only from the address:port the SDP names.
    SdpAddress,
    /// For peers behind NAT: the SDP address, or, within `window` of the session's start
    /// (or of [`RtpSession::set_remote`]), the first RTP source whose IP is the call's
    /// signalling source `ip` (any port); once latched, only that address.
    Signalling {
        /// The IP the call's SIP came from.
        ip: IpAddr,
        /// How long after the start latching stays possible.
        window: Duration,
    },
}

/// The usual NAT latching window: 2 s after the answer.
pub const NAT_LATCH_WINDOW: Duration = Duration::from_secs(2);

/// Session settings.
#[derive(Debug, Clone)]
pub struct RtpSessionConfig {
    /// RTP clock rate of the negotiated codec.
    pub clock_rate: u32,
    /// Payload type used by [`RtpSession::write_rtp`].
    pub payload_type: u8,
    /// Remote RTP address from SDP, if known.
    pub remote: Option<SocketAddr>,
    /// Which sources media is accepted from.
    pub latching: Latching,
    /// The remote address is confirmed from the start (we placed the call and its answer
    /// came back): send at once. When false, nothing is sent until
    /// [`RtpSession::confirm`] or until RTP is accepted from the remote.
    pub confirmed: bool,
    /// RTCP multiplexed on the RTP port (RFC 5761); otherwise RTCP goes to port + 1.
    pub rtcp_mux: bool,
    /// No RTP for this long raises [`SessionEvent::Inactive`]; `None` disables (hold).
    pub inactivity_timeout: Option<Duration>,
    /// Mean RTCP report interval (randomised to 0.5-1.5×, RFC 3550 §6.3.1); `None` disables.
    pub rtcp_interval: Option<Duration>,
    /// Timestamp/arrival disagreement that counts as a timestamp jump.
    pub timestamp_jump: Duration,
    /// A pause in locally generated media longer than this (elapsed time since the last
    /// packet sent, against the timestamps sent) is a silence: the next frame's timestamp
    /// includes it and the frame starts a talkspurt. Shorter lags are a late driver
    /// catching up, and keep the timestamps in sequence.
    pub silence_gap: Duration,
    /// Our SDES CNAME.
    pub cname: Bytes,
    /// Mapping from the driver's monotonic clock to NTP (for SR timestamps).
    pub ntp: NtpClock,
}

impl RtpSessionConfig {
    /// Defaults for an 8 kHz leg: strict SDP address, unconfirmed, no mux, 30 s
    /// inactivity, 5 s RTCP, 1 s jump threshold, 100 ms silence gap.
    pub fn new(ntp: NtpClock, cname: Bytes, payload_type: u8) -> Self {
        RtpSessionConfig {
            clock_rate: 8000,
            payload_type,
            remote: None,
            latching: Latching::SdpAddress,
            confirmed: false,
            rtcp_mux: false,
            inactivity_timeout: Some(Duration::from_secs(30)),
            rtcp_interval: Some(Duration::from_secs(5)),
            timestamp_jump: Duration::from_secs(1),
            silence_gap: Duration::from_millis(100),
            cname,
            ntp,
        }
    }
}

/// Why a received datagram was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// Not a valid RTP packet.
    #[error("malformed RTP: {0}")]
    Malformed(#[from] RtpError),
    /// Not a valid RTCP packet.
    #[error("malformed RTCP: {0}")]
    MalformedRtcp(#[from] RtcpError),
    /// From an address the leg does not accept media from.
    #[error("packet from a foreign source")]
    ForeignSource,
    /// Failed RFC 3550 A.1 sequence validation (a big unconfirmed jump).
    #[error("bad sequence number")]
    BadSequence,
}

/// Something the server should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Media source latched to this address.
    Latched(SocketAddr),
    /// The remote SSRC changed (`old` is `None` for the first one).
    SsrcChanged {
        /// Previous SSRC.
        old: Option<u32>,
        /// New SSRC.
        new: u32,
    },
    /// RTP timestamps jumped relative to arrival time (the jitter buffer resyncs itself).
    TimestampJump {
        /// SSRC of the stream.
        ssrc: u32,
        /// Timestamp jump minus elapsed arrival time, in timestamp units.
        delta: i64,
    },
    /// No RTP for the inactivity timeout: end the call.
    Inactive {
        /// Last media arrival (or session start).
        last_media: Instant,
    },
    /// The remote sent RTCP BYE.
    Bye {
        /// SSRC that left.
        ssrc: u32,
    },
}

/// Which port a datagram goes out on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The RTP socket.
    Rtp,
    /// The RTCP socket (the RTP one when muxed).
    Rtcp,
}

/// What to do after feeding the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutput {
    /// Send `datagram` to `to` on `channel`.
    Transmit {
        /// Socket to use.
        channel: Channel,
        /// Destination.
        to: SocketAddr,
        /// Bytes to send.
        datagram: Bytes,
    },
    /// An event for the call.
    Event(SessionEvent),
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SessionStats {
    /// Reception statistics of the current remote source.
    pub receiver: Option<ReceiverStats>,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP payload octets sent.
    pub octets_sent: u64,
    /// Datagrams (RTP and RTCP) dropped because they came from a foreign source.
    pub foreign_dropped: u64,
    /// Malformed RTP/RTCP datagrams.
    pub malformed: u64,
    /// Remote SSRC changes (after the first).
    pub ssrc_changes: u64,
    /// Timestamp jumps detected.
    pub timestamp_jumps: u64,
    /// Round-trip time from the latest RTCP report about us.
    pub rtt: Option<Duration>,
    /// RTP packets accepted from the remote (including those still in RFC 3550 A.1
    /// probation and duplicates, which [`ReceiverStats::received`] leaves out or counts).
    pub packets_received: u64,
    /// Octets of those packets (whole datagrams: header and payload).
    pub octets_received: u64,
    /// The remote's latest RTCP report block about our stream, if any arrived.
    pub peer_report: Option<PeerReport>,
}

/// How far (in packets, either way) a relayed stream's sequence number may move from
/// the next one we would send before it is treated as a new source and re-anchored.
/// Loss and reordering within this stay visible to the receiver; a source that restarts
/// its numbering under the same SSRC does not become a jump in ours.
pub const RELAY_MAX_JUMP: u16 = 50;

/// A packet from another leg to send on this one, still numbered by its source:
/// [`RtpSession::write_relayed`] maps it into this leg's numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Relayed {
    /// SSRC of the source stream.
    pub ssrc: u32,
    /// The source's sequence number.
    pub sequence: u16,
    /// The source's RTP timestamp.
    pub timestamp: u32,
    /// Marker bit to send (the source's, or set by whoever switched the stream).
    pub marker: bool,
    /// Payload type on this leg.
    pub payload_type: u8,
    /// Media clock ticks the payload covers (0 for telephone events).
    pub ticks: u32,
}

/// A relayed source mapped into our numbering: ours = theirs + offset.
#[derive(Debug, Clone, Copy)]
struct RelayAnchor {
    ssrc: u32,
    seq_offset: u16,
    ts_offset: u32,
}

#[derive(Debug, Clone, Copy)]
enum Timer {
    Rtcp,
    Inactivity,
}

#[derive(Debug, Default)]
struct Timers {
    at: [Option<Instant>; 2],
}

impl Timers {
    fn arm(&mut self, t: Timer, at: Instant) {
        if let Some(s) = self.at.get_mut(t as usize) {
            *s = Some(at);
        }
    }
    fn disarm(&mut self, t: Timer) {
        if let Some(s) = self.at.get_mut(t as usize) {
            *s = None;
        }
    }
    fn fired(&self, t: Timer, now: Instant) -> bool {
        self.at
            .get(t as usize)
            .copied()
            .flatten()
            .is_some_and(|d| d <= now)
    }
    fn earliest(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }
}

/// One RTP leg (see the module docs for the run loop and latching states).
#[derive(Debug)]
pub struct RtpSession {
    cfg: RtpSessionConfig,
    rng_state: u64,
    latched: Option<SocketAddr>,
    /// Until when [`Latching::Signalling`] may latch.
    latch_until: Option<Instant>,
    /// Sending is allowed (see "No amplification" in the module docs).
    confirmed: bool,
    rtcp_remote: Option<SocketAddr>,
    reception: Option<ReceptionState>,
    last_arrival: Option<(Instant, u32)>,
    last_media: Instant,
    inactive_reported: bool,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    talkspurt_start: bool,
    sent_since_report: bool,
    sent_srs: [(u32, Instant); 4],
    sent_sr_next: usize,
    last_sent: Option<(Instant, u32)>,
    /// The relayed stream currently mapped into our numbering, if relaying.
    relay: Option<RelayAnchor>,
    timers: Timers,
    out: VecDeque<SessionOutput>,
    stats: SessionStats,
}

impl RtpSession {
    /// A session starting at `now`; SSRC, first sequence number and first timestamp come
    /// from `rng` (as does RTCP interval randomisation, via a seed drawn here).
    pub fn new(now: Instant, cfg: RtpSessionConfig, rng: &mut dyn RngCore) -> Self {
        let ssrc = rng.next_u32();
        let seq = rng.next_u32() as u16;
        let timestamp = rng.next_u32();
        let rng_state = rng.next_u64() | 1;
        let latch_until = match cfg.latching {
            Latching::SdpAddress => None,
            Latching::Signalling { window, .. } => Some(now + window),
        };
        let confirmed = cfg.confirmed;
        let mut s = RtpSession {
            cfg,
            rng_state,
            latched: None,
            latch_until,
            confirmed,
            rtcp_remote: None,
            reception: None,
            last_arrival: None,
            last_media: now,
            inactive_reported: false,
            ssrc,
            seq,
            timestamp,
            talkspurt_start: true,
            sent_since_report: false,
            sent_srs: [(0, now); 4],
            sent_sr_next: 0,
            last_sent: None,
            relay: None,
            timers: Timers::default(),
            out: VecDeque::with_capacity(8),
            stats: SessionStats::default(),
        };
        if let Some(t) = s.cfg.inactivity_timeout {
            s.timers.arm(Timer::Inactivity, now + t);
        }
        s.arm_rtcp(now);
        s
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// The address media is accepted from (once latched).
    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }

    /// The peer's address: the latched source, else the SDP address. Media goes there
    /// once the session is [confirmed](Self::is_confirmed).
    pub fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.cfg.remote)
    }

    /// The remote address the SDP names (`None` when unspecified: hold).
    pub fn sdp_remote(&self) -> Option<SocketAddr> {
        self.cfg.remote
    }

    /// The remote address is confirmed: the driver saw the dialog confirmed by its
    /// signalling source (the ACK of our 2xx). Sending starts.
    pub fn confirm(&mut self) {
        self.confirmed = true;
    }

    /// Whether media may be sent: [`confirm`](Self::confirm)ed, configured so, or RTP was
    /// accepted from the remote.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Where media goes now: the remote, once confirmed.
    fn destination(&self) -> Option<SocketAddr> {
        if self.confirmed {
            self.remote()
        } else {
            None
        }
    }

    /// Whether an RTP packet from `from` is accepted at `now`; latches when it is the
    /// first one (see the module docs).
    fn admit_rtp(&mut self, now: Instant, from: SocketAddr) -> bool {
        if let Some(a) = self.latched {
            return a == from;
        }
        let from_sdp = self.cfg.remote == Some(from);
        let from_signalling = match self.cfg.latching {
            Latching::SdpAddress => false,
            Latching::Signalling { ip, .. } => {
                from.ip() == ip && self.latch_until.is_some_and(|t| now <= t)
            }
        };
        if !(from_sdp || from_signalling) {
            return false;
        }
        self.latched = Some(from);
        self.latch_until = None;
        self.out
            .push_back(SessionOutput::Event(SessionEvent::Latched(from)));
        true
    }

    /// Whether an RTCP datagram from `from` is accepted at `now`.
    fn admits_rtcp(&self, now: Instant, from: SocketAddr) -> bool {
        let nat = match self.cfg.latching {
            Latching::SdpAddress => None,
            Latching::Signalling { ip, .. } => Some(ip),
        };
        match (self.latched, nat) {
            (Some(a), Some(_)) => a.ip() == from.ip(),
            (Some(a), None) => same_ip_rtp_or_next_port(a, from),
            (None, nat) => {
                self.cfg
                    .remote
                    .is_some_and(|r| same_ip_rtp_or_next_port(r, from))
                    || nat.is_some_and(|ip| {
                        ip == from.ip() && self.latch_until.is_some_and(|t| now <= t)
                    })
            }
        }
    }

    /// Counters and reception statistics.
    pub fn stats(&self) -> SessionStats {
        SessionStats {
            receiver: self.reception.as_ref().map(ReceptionState::stats),
            ..self.stats
        }
    }

    /// The remote address changed by a new SDP (re-INVITE, within the confirmed dialog):
    /// sends go there and latching starts over at `now` (a new window for
    /// [`Latching::Signalling`]).
    pub fn set_remote(&mut self, now: Instant, remote: Option<SocketAddr>) {
        self.cfg.remote = remote;
        self.rtcp_remote = None;
        self.latched = None;
        self.latch_until = match self.cfg.latching {
            Latching::SdpAddress => None,
            Latching::Signalling { window, .. } => Some(now + window),
        };
    }

    /// Changes or disables (`None`, e.g. on hold) the inactivity timeout from `now`.
    pub fn set_inactivity_timeout(&mut self, now: Instant, timeout: Option<Duration>) {
        self.cfg.inactivity_timeout = timeout;
        self.inactive_reported = false;
        self.last_media = now;
        match timeout {
            Some(t) => self.timers.arm(Timer::Inactivity, now + t),
            None => self.timers.disarm(Timer::Inactivity),
        }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: RTCP jitter only; seeded from the caller's RNG.
        let mut x = self.rng_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng_state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn arm_rtcp(&mut self, now: Instant) {
        if let Some(iv) = self.cfg.rtcp_interval {
            let factor = 0.5 + (self.next_random() >> 11) as f64 / (1u64 << 53) as f64;
            self.timers.arm(Timer::Rtcp, now + iv.mul_f64(factor));
        }
    }

    /// Feeds a datagram received on the RTP port. Returns the packet for the jitter buffer
    /// / DTMF receiver when accepted; rejected ones are counted.
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: Bytes,
    ) -> Result<RtpPacket, Rejected> {
        let packet = match RtpPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e.into());
            }
        };
        if !self.admit_rtp(now, from) {
            self.stats.foreign_dropped += 1;
            return Err(Rejected::ForeignSource);
        }
        // RTP from the address we would send to: sending is safe (no amplification).
        self.confirmed = true;
        self.stats.packets_received += 1;
        self.stats.octets_received += packet.encoded_len() as u64;
        let h = &packet.header;
        let rs = match &mut self.reception {
            Some(r) if r.ssrc() == h.ssrc => r,
            other => {
                let old = other.as_ref().map(ReceptionState::ssrc);
                if old.is_some() {
                    self.stats.ssrc_changes += 1;
                }
                self.out
                    .push_back(SessionOutput::Event(SessionEvent::SsrcChanged {
                        old,
                        new: h.ssrc,
                    }));
                self.last_arrival = None;
                other.insert(ReceptionState::new(
                    now,
                    h.ssrc,
                    h.sequence,
                    self.cfg.clock_rate,
                ))
            }
        };
        if rs.update(now, h.sequence, h.timestamp) == SeqVerdict::Bad {
            return Err(Rejected::BadSequence);
        }
        if let Some((t, ts)) = self.last_arrival {
            let elapsed = now.saturating_duration_since(t);
            let units = (elapsed.as_micros() * u128::from(self.cfg.clock_rate) / 1_000_000) as i64;
            let dts = i64::from(h.timestamp.wrapping_sub(ts) as i32);
            let delta = dts - units;
            let limit = (self.cfg.timestamp_jump.as_micros() * u128::from(self.cfg.clock_rate)
                / 1_000_000) as i64;
            if delta.abs() > limit {
                self.stats.timestamp_jumps += 1;
                self.out
                    .push_back(SessionOutput::Event(SessionEvent::TimestampJump {
                        ssrc: h.ssrc,
                        delta,
                    }));
            }
        }
        self.last_arrival = Some((now, h.timestamp));
        self.last_media = now;
        self.inactive_reported = false;
        if let Some(t) = self.cfg.inactivity_timeout {
            self.timers.arm(Timer::Inactivity, now + t);
        }
        Ok(packet)
    }

    /// Feeds a datagram received on the RTCP port (or an RTCP datagram demultiplexed from
    /// the RTP port with [`crate::looks_like_rtcp`]).
    pub fn handle_rtcp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: Bytes,
    ) -> Result<(), Rejected> {
        if !self.admits_rtcp(now, from) {
            self.stats.foreign_dropped += 1;
            return Err(Rejected::ForeignSource);
        }
        let packets = match parse_compound(&datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(e.into());
            }
        };
        self.rtcp_remote = Some(from);
        for p in packets {
            match p {
                RtcpPacket::SenderReport(sr) => {
                    if let Some(r) = self.reception.as_mut().filter(|r| r.ssrc() == sr.ssrc) {
                        r.handle_sender_report(now, sr.ntp_timestamp);
                    }
                    self.handle_blocks(now, &sr.reports);
                }
                RtcpPacket::ReceiverReport(rr) => self.handle_blocks(now, &rr.reports),
                RtcpPacket::Bye(bye) => {
                    for ssrc in bye.ssrcs {
                        self.out
                            .push_back(SessionOutput::Event(SessionEvent::Bye { ssrc }));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn handle_blocks(&mut self, now: Instant, blocks: &[crate::rtcp::ReportBlock]) {
        for b in blocks.iter().filter(|b| b.ssrc == self.ssrc) {
            self.stats.peer_report = Some(PeerReport::from_block(b, self.cfg.clock_rate));
            if let Some(rtt) = rtt_from_report(now, b, &self.sent_srs) {
                self.stats.rtt = Some(rtt);
                if let Some(r) = self.reception.as_mut() {
                    r.set_rtt(rtt);
                }
            }
        }
    }

    /// Call when [`poll_timeout`](Self::poll_timeout) is reached: emits due RTCP reports
    /// and the inactivity event.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timers.fired(Timer::Inactivity, now) {
            self.timers.disarm(Timer::Inactivity);
            if !self.inactive_reported {
                self.inactive_reported = true;
                self.out
                    .push_back(SessionOutput::Event(SessionEvent::Inactive {
                        last_media: self.last_media,
                    }));
            }
        }
        if self.timers.fired(Timer::Rtcp, now) {
            let report = self.build_report(now);
            self.queue_rtcp(&report);
            self.arm_rtcp(now);
        }
    }

    /// The next deadline for [`handle_timeout`](Self::handle_timeout).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// Next datagram to send or event; call until `None` after every `handle_*`.
    pub fn poll_output(&mut self) -> Option<SessionOutput> {
        self.out.pop_front()
    }

    fn rtcp_destination(&self) -> Option<SocketAddr> {
        if !self.confirmed {
            return None;
        }
        if let Some(a) = self.rtcp_remote {
            return Some(a);
        }
        let mut a = self.remote()?;
        if !self.cfg.rtcp_mux {
            a.set_port(a.port().wrapping_add(1));
        }
        Some(a)
    }

    fn queue_rtcp(&mut self, packets: &[RtcpPacket]) {
        let Some(to) = self.rtcp_destination() else {
            return;
        };
        let mut buf = BytesMut::with_capacity(128);
        write_compound(packets, &mut buf);
        let channel = if self.cfg.rtcp_mux {
            Channel::Rtp
        } else {
            Channel::Rtcp
        };
        self.out.push_back(SessionOutput::Transmit {
            channel,
            to,
            datagram: buf.freeze(),
        });
    }

    /// Builds the compound report due at `now`: SR if we sent RTP since the last report,
    /// else RR; plus SDES CNAME.
    pub fn build_report(&mut self, now: Instant) -> Vec<RtcpPacket> {
        let reports: Vec<_> = self
            .reception
            .as_mut()
            .map(|r| r.report_block(now))
            .into_iter()
            .collect();
        let first = if self.sent_since_report {
            let ntp = self.cfg.ntp.ntp(now);
            if let Some(slot) = self.sent_srs.get_mut(self.sent_sr_next) {
                *slot = (ntp_middle32(ntp), now);
            }
            self.sent_sr_next = (self.sent_sr_next + 1) % self.sent_srs.len();
            // RTP timestamp extrapolated from the last packet sent to `now`.
            let rtp_timestamp = self.last_sent.map_or(self.timestamp, |(t, ts)| {
                let el = now.saturating_duration_since(t);
                ts.wrapping_add(
                    (el.as_micros() * u128::from(self.cfg.clock_rate) / 1_000_000) as u32,
                )
            });
            RtcpPacket::SenderReport(SenderReport {
                ssrc: self.ssrc,
                ntp_timestamp: ntp,
                rtp_timestamp,
                packet_count: self.stats.packets_sent as u32,
                octet_count: self.stats.octets_sent as u32,
                reports,
                extension: Bytes::new(),
            })
        } else {
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: self.ssrc,
                reports,
                extension: Bytes::new(),
            })
        };
        self.sent_since_report = false;
        vec![
            first,
            RtcpPacket::SourceDescription(vec![SdesChunk {
                ssrc: self.ssrc,
                items: vec![SdesItem {
                    kind: SDES_CNAME,
                    value: self.cfg.cname.clone(),
                }],
            }]),
        ]
    }

    /// Queues a final report and BYE (call when the leg ends).
    pub fn close(&mut self, now: Instant) {
        let mut packets = self.build_report(now);
        packets.push(RtcpPacket::Bye(Bye {
            ssrcs: vec![self.ssrc],
            reason: None,
        }));
        self.queue_rtcp(&packets);
        self.timers.disarm(Timer::Rtcp);
        self.timers.disarm(Timer::Inactivity);
    }

    /// The RTP timestamp the next media frame will carry (if sent without a gap).
    pub fn next_timestamp(&self) -> u32 {
        self.timestamp
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.seq
    }

    /// Advances the media clock by `samples` without sending (silence / DTX, or while a
    /// DTMF event occupies the stream); the next frame starts a talkspurt (marker bit).
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.talkspurt_start = true;
    }

    fn ticks(&self, d: Duration) -> u32 {
        (d.as_micros() * u128::from(self.cfg.clock_rate) / 1_000_000) as u32
    }

    /// How far the media clock at `now` (last timestamp sent + elapsed ticks) is ahead of
    /// the next timestamp in sequence; with that clock value.
    fn clock_lead(&self, now: Instant) -> Option<(i32, u32)> {
        let (t, ts) = self.last_sent?;
        let clock = ts.wrapping_add(self.ticks(now.saturating_duration_since(t)));
        Some((clock.wrapping_sub(self.timestamp) as i32, clock))
    }

    /// Appends one media frame (default payload type, current timestamp, marker bit at
    /// talkspurt start) to `out` and advances the timestamp by `samples`. After relayed
    /// packets or a pause longer than [`RtpSessionConfig::silence_gap`] the timestamp
    /// first catches up with the media clock and the frame starts a talkspurt. Returns
    /// where to send it, `None` if no remote address is known or confirmed yet (nothing
    /// written then).
    pub fn write_rtp(
        &mut self,
        now: Instant,
        payload: &[u8],
        samples: u32,
        out: &mut BytesMut,
    ) -> Option<SocketAddr> {
        let switched = self.relay.take().is_some();
        let gap = self.ticks(self.cfg.silence_gap) as i32;
        if let Some((lead, clock)) = self.clock_lead(now) {
            if lead > gap || (switched && lead > 0) {
                self.timestamp = clock;
                self.talkspurt_start = true;
            }
        }
        if switched {
            self.talkspurt_start = true;
        }
        let marker = self.talkspurt_start;
        let ts = self.timestamp;
        // The media clock runs whether or not the frame can be sent.
        self.timestamp = self.timestamp.wrapping_add(samples);
        let to = self.write_raw(now, self.cfg.payload_type, marker, ts, payload, out)?;
        self.talkspurt_start = false;
        Some(to)
    }

    /// Appends a packet with an explicit payload type, marker and timestamp (RFC 4733
    /// events from a [`crate::DtmfSender`]) to `out`; assigns the sequence number and SSRC.
    /// Ends any relayed stream (the next relayed packet is anchored afresh).
    pub fn write_raw(
        &mut self,
        now: Instant,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Option<SocketAddr> {
        let to = self.destination()?;
        self.relay = None;
        let mut h = RtpHeader::new(payload_type, self.seq, timestamp, self.ssrc);
        h.marker = marker;
        write_header_and_payload(&h, payload, out);
        self.seq = self.seq.wrapping_add(1);
        self.count_sent(now, Some(timestamp), payload.len());
        Some(to)
    }

    /// Appends a packet relayed from another leg (the two-party bridge) to `out`, numbered
    /// in this leg's sequence: its source's sequence numbers and timestamps are shifted by
    /// an offset fixed when the source starts (continuing our numbering by one, and our
    /// media clock), so the source's own loss and silence gaps stay visible. A new source
    /// SSRC, or a jump of more than [`RELAY_MAX_JUMP`] packets, anchors afresh; the first
    /// packet after an anchor carries the marker bit. No allocation when `out` has room.
    /// Returns where to send it, `None` if no remote address is known or confirmed yet.
    pub fn write_relayed(
        &mut self,
        now: Instant,
        r: Relayed,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Option<SocketAddr> {
        let to = self.destination()?;
        let within = |a: &RelayAnchor| {
            let d = r.sequence.wrapping_add(a.seq_offset).wrapping_sub(self.seq) as i16;
            a.ssrc == r.ssrc && d.unsigned_abs() <= RELAY_MAX_JUMP
        };
        let (anchor, fresh) = match self.relay {
            Some(a) if within(&a) => (a, false),
            _ => {
                // Continue our clock: the next timestamp in sequence, or the media clock
                // if more time has passed since the last packet.
                let ts = match self.clock_lead(now) {
                    Some((lead, clock)) if lead > 0 => clock,
                    _ => self.timestamp,
                };
                let a = RelayAnchor {
                    ssrc: r.ssrc,
                    seq_offset: self.seq.wrapping_sub(r.sequence),
                    ts_offset: ts.wrapping_sub(r.timestamp),
                };
                self.relay = Some(a);
                (a, true)
            }
        };
        let seq = r.sequence.wrapping_add(anchor.seq_offset);
        let ts = r.timestamp.wrapping_add(anchor.ts_offset);
        let mut h = RtpHeader::new(r.payload_type, seq, ts, self.ssrc);
        h.marker = r.marker || fresh;
        write_header_and_payload(&h, payload, out);
        // Late (reordered) packets keep their place; only newer ones move us on.
        if (seq.wrapping_sub(self.seq) as i16) >= 0 {
            self.seq = seq.wrapping_add(1);
        }
        let end = ts.wrapping_add(r.ticks);
        if (end.wrapping_sub(self.timestamp) as i32) > 0 {
            self.timestamp = end;
        }
        let newer = self
            .last_sent
            .is_none_or(|(_, last)| (ts.wrapping_sub(last) as i32) >= 0);
        self.count_sent(now, newer.then_some(ts), payload.len());
        Some(to)
    }

    /// Counts a packet sent at `now`; `timestamp` is its RTP timestamp when it is the
    /// newest sent so far (the media clock is extrapolated from it).
    fn count_sent(&mut self, now: Instant, timestamp: Option<u32>, octets: usize) {
        self.stats.packets_sent += 1;
        self.stats.octets_sent += octets as u64;
        self.sent_since_report = true;
        if let Some(ts) = timestamp {
            self.last_sent = Some((now, ts));
        }
    }
}

/// RTCP from `rtp`'s IP on the RTP port (RFC 5761 mux) or the one above it (RFC 3550).
fn same_ip_rtp_or_next_port(rtp: SocketAddr, from: SocketAddr) -> bool {
    rtp.ip() == from.ip()
        && (from.port() == rtp.port() || from.port() == rtp.port().wrapping_add(1))
}

fn write_header_and_payload(h: &RtpHeader, payload: &[u8], out: &mut BytesMut) {
    use bytes::BufMut;
    out.reserve(12 + payload.len());
    out.put_u8(0x80);
    out.put_u8((u8::from(h.marker) << 7) | (h.payload_type & 0x7f));
    out.put_u16(h.sequence);
    out.put_u32(h.timestamp);
    out.put_u32(h.ssrc);
    out.put_slice(payload);
}
