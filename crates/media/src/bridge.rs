//! Two-party media bridge: relay without decoding when both legs share a codec,
//! transcode (decode, resample, encode) when they differ.
//!
//! The bridge sees each RTP packet once and says what to send to the other leg. In relay
//! mode the payload is not touched: the output header gets our SSRC for that leg and
//! sequence numbers/timestamps shifted by a fixed offset (so loss, reordering and silence
//! gaps stay visible to the far end), and the payload is the *same* bytes as the input —
//! the driver can forward the received `Bytes` slice without copying. In transcode mode the
//! payload is re-encoded into a buffer the bridge allocated when it was built.
//!
//! RFC 4733 telephone-event packets are relayed in both modes, with the payload type
//! mapped to the one negotiated on the other leg (or dropped if that leg has none).

use bytes::{BufMut, BytesMut};
use switchboard_rtp::{RtpHeader, RtpPacket};

use crate::codec::{Codec, Decoder, Encoder};
use crate::g711;
use crate::resample::{Downsampler, Upsampler};

/// Largest payload the bridge transcodes (150 ms of G.711); larger packets are dropped.
pub const MAX_PAYLOAD: usize = 1200;

/// One side of a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The first leg (usually the caller).
    A,
    /// The second leg (usually the agent).
    B,
}

impl Leg {
    /// The other leg.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }

    fn idx(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }
}

/// What was negotiated on one leg, and how we number what we send to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    /// Audio codec on this leg.
    pub codec: Codec,
    /// Payload type of the audio codec on this leg (may be dynamic).
    pub payload_type: u8,
    /// Payload type of `telephone-event` (RFC 4733) on this leg, if negotiated.
    pub telephone_event_pt: Option<u8>,
    /// SSRC we use when sending to this leg.
    pub ssrc: u32,
    /// First sequence number we send to this leg (random per RFC 3550).
    pub initial_seq: u16,
    /// First RTP timestamp we send to this leg (random per RFC 3550).
    pub initial_timestamp: u32,
}

impl LegConfig {
    /// A leg using `codec` with its static payload type and no telephone-event.
    pub fn new(codec: Codec, ssrc: u32, initial_seq: u16, initial_timestamp: u32) -> LegConfig {
        LegConfig {
            codec,
            payload_type: codec.static_payload_type(),
            telephone_event_pt: None,
            ssrc,
            initial_seq,
            initial_timestamp,
        }
    }
}

/// How audio crosses the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeMode {
    /// Same codec both sides: headers rewritten, payload passed through untouched.
    Relay,
    /// Different codecs: decode, resample if needed, encode.
    Transcode,
}

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BridgeError {
    /// The payload type is neither the leg's audio nor its telephone-event type.
    #[error("unexpected payload type {0}")]
    UnexpectedPayloadType(u8),
    /// A telephone-event packet, but the other leg did not negotiate telephone-event.
    #[error("telephone-event not negotiated on the other leg")]
    NoTelephoneEvent,
    /// The payload is larger than [`MAX_PAYLOAD`] and must be transcoded.
    #[error("payload of {0} bytes is too large to transcode")]
    PayloadTooLarge(usize),
}

/// Counters, per bridge; nothing is logged per packet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeStats {
    /// Packets relayed without touching the payload (audio and telephone-event).
    pub relayed: u64,
    /// Packets transcoded.
    pub transcoded: u64,
    /// Packets dropped.
    pub dropped: u64,
    /// Source changes seen (new SSRC on a leg).
    pub ssrc_changes: u64,
}

/// A packet to send: header for the other leg plus the payload.
#[derive(Debug, Clone)]
pub struct Forward<'a> {
    /// Leg to send to.
    pub to: Leg,
    /// Complete header for the outgoing packet (no CSRCs, no extension).
    pub header: RtpHeader,
    /// The payload: the input payload itself when `transcoded` is false.
    pub payload: &'a [u8],
    /// `false`: the payload is the input payload unchanged (forward the received `Bytes`).
    pub transcoded: bool,
}

impl Forward<'_> {
    /// Appends the datagram (12-byte header + payload) to `out`; no allocation when `out`
    /// has spare capacity.
    pub fn write_to(&self, out: &mut BytesMut) {
        let h = &self.header;
        out.reserve(12 + self.payload.len());
        out.put_u8(0x80);
        out.put_u8((u8::from(h.marker) << 7) | (h.payload_type & 0x7f));
        out.put_u16(h.sequence);
        out.put_u32(h.timestamp);
        out.put_u32(h.ssrc);
        out.put_slice(self.payload);
    }
}

/// Per-direction numbering: maps the input stream's seq/timestamp into ours.
#[derive(Debug, Clone)]
struct Numbering {
    in_ssrc: Option<u32>,
    seq_offset: u16,
    ts_offset: u32,
    next_seq: u16,
    next_ts: u32,
    force_marker: bool,
}

impl Numbering {
    fn new(cfg: &LegConfig) -> Numbering {
        Numbering {
            in_ssrc: None,
            seq_offset: 0,
            ts_offset: 0,
            next_seq: cfg.initial_seq,
            next_ts: cfg.initial_timestamp,
            force_marker: false,
        }
    }

    /// Maps (seq, ts) of an input packet; re-anchors on a new SSRC. Returns (seq, ts,
    /// marker-forced, ssrc-changed).
    fn map(&mut self, ssrc: u32, seq: u16, ts: u32, ticks: u32) -> (u16, u32, bool, bool) {
        let mut changed = false;
        if self.in_ssrc != Some(ssrc) {
            changed = self.in_ssrc.is_some();
            self.in_ssrc = Some(ssrc);
            self.seq_offset = self.next_seq.wrapping_sub(seq);
            self.ts_offset = self.next_ts.wrapping_sub(ts);
            self.force_marker = true;
        }
        let out_seq = seq.wrapping_add(self.seq_offset);
        let out_ts = ts.wrapping_add(self.ts_offset);
        // Track the highest (by RFC 1982 serial arithmetic) to re-anchor after a change.
        if (out_seq.wrapping_sub(self.next_seq) as i16) >= 0 {
            self.next_seq = out_seq.wrapping_add(1);
        }
        if (out_ts.wrapping_add(ticks).wrapping_sub(self.next_ts) as i32) > 0 {
            self.next_ts = out_ts.wrapping_add(ticks);
        }
        let marker = std::mem::take(&mut self.force_marker);
        (out_seq, out_ts, marker, changed)
    }
}

/// Transcoding state and buffers for one direction (allocated once).
#[derive(Debug)]
struct Transcoder {
    decoder: Decoder,
    encoder: Encoder,
    up: Upsampler,
    down: Downsampler,
    pcm: Box<[i16]>,
    pcm2: Box<[i16]>,
    out: Box<[u8]>,
}

impl Transcoder {
    fn new(from: Codec, to: Codec) -> Transcoder {
        Transcoder {
            decoder: Decoder::new(from),
            encoder: Encoder::new(to),
            up: Upsampler::new(),
            down: Downsampler::new(),
            pcm: vec![0i16; 2 * MAX_PAYLOAD].into_boxed_slice(),
            pcm2: vec![0i16; 2 * MAX_PAYLOAD].into_boxed_slice(),
            out: vec![0u8; MAX_PAYLOAD].into_boxed_slice(),
        }
    }

    /// Transcodes one payload; returns the encoded length in `self.out`.
    fn run(&mut self, from: Codec, to: Codec, payload: &[u8]) -> usize {
        match (from, to) {
            (Codec::Pcmu, Codec::Pcma) => {
                for (o, c) in self.out.iter_mut().zip(payload) {
                    *o = g711::ulaw_to_alaw(*c);
                }
                return payload.len().min(self.out.len());
            }
            (Codec::Pcma, Codec::Pcmu) => {
                for (o, c) in self.out.iter_mut().zip(payload) {
                    *o = g711::alaw_to_ulaw(*c);
                }
                return payload.len().min(self.out.len());
            }
            _ => {}
        }
        let n = self.decoder.decode(payload, &mut self.pcm);
        let pcm: &[i16] = match (from.sample_rate(), to.sample_rate()) {
            (8000, 16000) => {
                let m = self.up.process(&self.pcm[..n], &mut self.pcm2);
                &self.pcm2[..m]
            }
            (16000, 8000) => {
                let m = self.down.process(&self.pcm[..n], &mut self.pcm2);
                &self.pcm2[..m]
            }
            _ => &self.pcm[..n],
        };
        self.encoder.encode(pcm, &mut self.out)
    }
}

/// A two-party bridge between legs A and B; a sans-IO core.
///
/// Call [`handle_packet`](Self::handle_packet) for every RTP packet received on either
/// leg and send what it returns. Nothing allocates after [`Bridge::new`].
#[derive(Debug)]
pub struct Bridge {
    legs: [LegConfig; 2],
    /// Numbering of what we send *to* each leg.
    numbering: [Numbering; 2],
    /// Transcoders for packets *from* each leg (present in transcode mode).
    transcoders: [Option<Transcoder>; 2],
    mode: BridgeMode,
    stats: BridgeStats,
}

impl Bridge {
    /// A bridge between two legs; picks relay or transcode from their codecs.
    pub fn new(a: LegConfig, b: LegConfig) -> Bridge {
        let mut bridge = Bridge {
            numbering: [Numbering::new(&a), Numbering::new(&b)],
            legs: [a, b],
            transcoders: [None, None],
            mode: BridgeMode::Relay,
            stats: BridgeStats::default(),
        };
        bridge.configure();
        bridge
    }

    fn configure(&mut self) {
        let [a, b] = self.legs;
        if a.codec == b.codec {
            self.mode = BridgeMode::Relay;
            self.transcoders = [None, None];
        } else {
            self.mode = BridgeMode::Transcode;
            self.transcoders = [
                Some(Transcoder::new(a.codec, b.codec)),
                Some(Transcoder::new(b.codec, a.codec)),
            ];
        }
    }

    /// Replaces a leg's codec/payload types after a re-INVITE. Our SSRC and numbering
    /// toward that leg continue; codec state is reset.
    pub fn update_leg(
        &mut self,
        leg: Leg,
        codec: Codec,
        payload_type: u8,
        telephone_event_pt: Option<u8>,
    ) {
        let cfg = &mut self.legs[leg.idx()];
        cfg.codec = codec;
        cfg.payload_type = payload_type;
        cfg.telephone_event_pt = telephone_event_pt;
        self.configure();
    }

    /// Relay or transcode.
    pub fn mode(&self) -> BridgeMode {
        self.mode
    }

    /// The configuration of a leg.
    pub fn leg(&self, leg: Leg) -> &LegConfig {
        &self.legs[leg.idx()]
    }

    /// Counters so far.
    pub fn stats(&self) -> BridgeStats {
        self.stats
    }

    /// Handles a packet received on leg `from`; returns the packet to send to the other
    /// leg, or why it was dropped. The returned payload borrows either `packet` (relay) or
    /// the bridge's own buffer (transcode).
    pub fn handle_packet<'a>(
        &'a mut self,
        from: Leg,
        packet: &'a RtpPacket,
    ) -> Result<Forward<'a>, BridgeError> {
        let to = from.other();
        let src = self.legs[from.idx()];
        let dst = self.legs[to.idx()];
        let h = &packet.header;
        let payload: &'a [u8] = &packet.payload;

        let (payload_type, ticks, kind) = if h.payload_type == src.payload_type {
            (dst.payload_type, payload.len() as u32, Kind::Audio)
        } else if Some(h.payload_type) == src.telephone_event_pt {
            match dst.telephone_event_pt {
                Some(pt) => (pt, 0, Kind::Event),
                None => {
                    self.stats.dropped += 1;
                    return Err(BridgeError::NoTelephoneEvent);
                }
            }
        } else {
            self.stats.dropped += 1;
            return Err(BridgeError::UnexpectedPayloadType(h.payload_type));
        };
        let transcode = kind == Kind::Audio && self.mode == BridgeMode::Transcode;
        if transcode && payload.len() > MAX_PAYLOAD {
            self.stats.dropped += 1;
            return Err(BridgeError::PayloadTooLarge(payload.len()));
        }

        let (seq, ts, forced, changed) =
            self.numbering[to.idx()].map(h.ssrc, h.sequence, h.timestamp, ticks);
        if changed {
            self.stats.ssrc_changes += 1;
        }
        let mut header = RtpHeader::new(payload_type, seq, ts, dst.ssrc);
        header.marker = h.marker || forced;

        if !transcode {
            self.stats.relayed += 1;
            return Ok(Forward {
                to,
                header,
                payload,
                transcoded: false,
            });
        }
        self.stats.transcoded += 1;
        match self.transcoders[from.idx()].as_mut() {
            Some(t) => {
                let n = t.run(src.codec, dst.codec, payload);
                Ok(Forward {
                    to,
                    header,
                    payload: &t.out[..n],
                    transcoded: true,
                })
            }
            // Unreachable by construction (transcode mode always has both); relay instead.
            None => Ok(Forward {
                to,
                header,
                payload,
                transcoded: false,
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Audio,
    Event,
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> RtpPacket {
        RtpPacket::new(
            RtpHeader::new(pt, seq, ts, ssrc),
            Bytes::copy_from_slice(payload),
        )
    }

    #[test]
    fn same_codec_relays_payload_untouched_with_rewritten_header() {
        let mut br = Bridge::new(
            LegConfig::new(Codec::Pcmu, 0xAAAA, 100, 5000),
            LegConfig::new(Codec::Pcmu, 0xBBBB, 7000, 90000),
        );
        assert_eq!(br.mode(), BridgeMode::Relay);
        let p = pkt(0, 40000, 1_000_000, 0x1234, &[0x55; 160]);
        let f = br.handle_packet(Leg::A, &p).expect("relay");
        assert_eq!(f.to, Leg::B);
        assert!(!f.transcoded);
        assert_eq!(
            f.payload.as_ptr(),
            p.payload.as_ptr(),
            "payload must not be copied"
        );
        assert_eq!(
            (f.header.sequence, f.header.timestamp, f.header.ssrc),
            (7000, 90000, 0xBBBB)
        );
        assert!(
            f.header.marker,
            "first packet of a new source starts a talkspurt"
        );
        // A gap of two packets stays a gap.
        let p = pkt(0, 40003, 1_000_480, 0x1234, &[0x55; 160]);
        let f = br.handle_packet(Leg::A, &p).expect("relay");
        assert_eq!((f.header.sequence, f.header.timestamp), (7003, 90480));
        assert!(!f.header.marker);
        let mut out = BytesMut::with_capacity(256);
        f.write_to(&mut out);
        let back = RtpPacket::parse(out.freeze()).expect("parse");
        assert_eq!(back.header.sequence, 7003);
        assert_eq!(back.header.ssrc, 0xBBBB);
        assert_eq!(&back.payload[..], &[0x55; 160][..]);
    }

    #[test]
    fn ssrc_change_continues_numbering_with_marker() {
        let mut br = Bridge::new(
            LegConfig::new(Codec::Pcma, 1, 0, 0),
            LegConfig::new(Codec::Pcma, 2, 10, 1000),
        );
        let p1 = pkt(8, 500, 77, 9, &[0; 160]);
        let f = br.handle_packet(Leg::B, &p1).expect("fwd");
        assert_eq!((f.header.sequence, f.header.timestamp), (0, 0));
        let p2 = pkt(8, 9, 123456, 10, &[0; 160]);
        let f = br.handle_packet(Leg::B, &p2).expect("fwd");
        assert_eq!((f.header.sequence, f.header.timestamp), (1, 160));
        assert!(f.header.marker);
        assert_eq!(br.stats().ssrc_changes, 1);
    }

    #[test]
    fn different_codecs_transcode() {
        let mut br = Bridge::new(
            LegConfig::new(Codec::Pcmu, 1, 0, 0),
            LegConfig::new(Codec::Pcma, 2, 0, 0),
        );
        assert_eq!(br.mode(), BridgeMode::Transcode);
        let ulaw: Vec<u8> = (0..160)
            .map(|i| g711::ulaw_encode((i * 100) as i16))
            .collect();
        let p = pkt(0, 1, 0, 5, &ulaw);
        let f = br.handle_packet(Leg::A, &p).expect("fwd");
        assert!(f.transcoded);
        assert_eq!(f.header.payload_type, 8);
        assert_eq!(f.payload.len(), 160);
        for (a, u) in f.payload.iter().zip(&ulaw) {
            assert_eq!(*a, g711::alaw_encode(g711::ulaw_decode_sample(*u)));
        }
    }

    #[test]
    fn telephone_events_are_mapped_or_dropped() {
        let mut a = LegConfig::new(Codec::Pcmu, 1, 0, 0);
        a.telephone_event_pt = Some(101);
        let mut b = LegConfig::new(Codec::G722, 2, 0, 0);
        b.telephone_event_pt = Some(96);
        let mut br = Bridge::new(a, b);
        let ev = pkt(101, 1, 0, 5, &[5, 0x8a, 0, 160]);
        let f = br.handle_packet(Leg::A, &ev).expect("event");
        assert_eq!(f.header.payload_type, 96);
        assert!(!f.transcoded);
        assert_eq!(f.payload, &[5, 0x8a, 0, 160]);
        br.update_leg(Leg::B, Codec::G722, 9, None);
        assert_eq!(
            br.handle_packet(Leg::A, &ev).err(),
            Some(BridgeError::NoTelephoneEvent)
        );
        assert_eq!(
            br.handle_packet(Leg::A, &pkt(13, 2, 0, 5, &[0])).err(),
            Some(BridgeError::UnexpectedPayloadType(13))
        );
    }
}
