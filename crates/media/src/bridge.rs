//! Two-party media bridge: relay without decoding when both legs share a codec,
//! transcode (decode, resample, encode) when they differ.
//!
//! The bridge sees each RTP packet once and says what to send to the other leg: payload
//! type, marker, payload, and the packet's numbering *as its source sent it*
//! ([`Relayed`]). It does not number anything itself: the other leg's
//! [`switchboard_rtp::RtpSession::write_relayed`] maps the source's numbering into that
//! leg's one sequence (so what a phone receives stays continuous when the bridge starts,
//! stops, or gives way to prompts or the supervision mixer). In relay mode the payload is
//! the *same* bytes as the input (the sender copies them into its reused buffer; nothing
//! is allocated per packet). In
//! transcode mode the payload is re-encoded into a buffer the bridge allocated for that
//! direction on its first transcoded packet.
//!
//! RFC 4733 telephone-event packets are relayed in both modes, with the payload type
//! mapped to the one negotiated on the other leg (or dropped if that leg has none).
//!
//! **Transcoding through the jitter buffer.** [`Bridge::handle_packet`] transcodes each
//! packet as it arrives, so a reordered packet is decoded out of place (and a stateful
//! decoder such as G.722's ADPCM goes wrong for the packets after it), a duplicate twice.
//! A caller that holds each leg's [`LegPipeline`](crate::LegPipeline) (the server's call
//! path) asks [`Bridge::transcodes`] instead, pushes the packet into the source leg's
//! pipeline, and forwards every frame that comes out of it (in timestamp order, once each,
//! lost ones concealed) numbered by [`Bridge::transcoded`] and encoded by the other leg's
//! pipeline. The bridge's own transcoders are then never built.

use switchboard_rtp::{Relayed, RtpPacket};

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

/// What was negotiated on one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegConfig {
    /// Audio codec on this leg.
    pub codec: Codec,
    /// Payload type of the audio codec on this leg (may be dynamic).
    pub payload_type: u8,
    /// Payload type of `telephone-event` (RFC 4733) on this leg, if negotiated.
    pub telephone_event_pt: Option<u8>,
}

impl LegConfig {
    /// A leg using `codec` with its static payload type and no telephone-event.
    pub fn new(codec: Codec) -> LegConfig {
        LegConfig {
            codec,
            payload_type: codec.static_payload_type(),
            telephone_event_pt: None,
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

/// A packet to send to the other leg: write it with that leg's
/// [`switchboard_rtp::RtpSession::write_relayed`], which numbers it.
#[derive(Debug, Clone)]
pub struct Forward<'a> {
    /// Leg to send to.
    pub to: Leg,
    /// The source's numbering, with the payload type and marker for the other leg.
    pub packet: Relayed,
    /// The payload: the input payload itself when `transcoded` is false.
    pub payload: &'a [u8],
    /// `false`: the payload is the input payload unchanged.
    pub transcoded: bool,
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
/// leg and send what it returns. Nothing allocates per packet: a transcoding direction
/// builds its transcoder on its first packet, relaying allocates nothing at all.
#[derive(Debug)]
pub struct Bridge {
    legs: [LegConfig; 2],
    /// The SSRC last seen *from* each leg (to count source changes).
    sources: [Option<u32>; 2],
    /// Transcoders for packets *from* each leg, built on the first packet
    /// [`handle_packet`](Self::handle_packet) transcodes. Boxed: their resampler state and
    /// buffers are about 12 KiB each, and a same-codec bridge (most of them) or one whose
    /// caller transcodes through the legs' pipelines carries none.
    transcoders: [Option<Box<Transcoder>>; 2],
    /// Sequence numbers of the frames [`transcoded`](Self::transcoded) numbers, per source leg.
    frame_seq: [u16; 2],
    mode: BridgeMode,
    stats: BridgeStats,
}

impl Bridge {
    /// A bridge between two legs; picks relay or transcode from their codecs.
    pub fn new(a: LegConfig, b: LegConfig) -> Bridge {
        let mut bridge = Bridge {
            sources: [None, None],
            legs: [a, b],
            transcoders: [None, None],
            frame_seq: [0, 0],
            mode: BridgeMode::Relay,
            stats: BridgeStats::default(),
        };
        bridge.configure();
        bridge
    }

    fn configure(&mut self) {
        let [a, b] = self.legs;
        self.transcoders = [None, None];
        self.mode = if a.codec == b.codec {
            BridgeMode::Relay
        } else {
            BridgeMode::Transcode
        };
    }

    /// Whether a packet of payload type `payload_type` from `from` is audio this bridge
    /// transcodes (transcode mode, the leg's audio payload type). Such a packet goes
    /// through the source leg's pipeline and [`transcoded`](Self::transcoded) instead of
    /// [`handle_packet`](Self::handle_packet); everything else (telephone events, relayed
    /// audio) still crosses with `handle_packet`.
    pub fn transcodes(&self, from: Leg, payload_type: u8) -> bool {
        self.mode == BridgeMode::Transcode && payload_type == self.legs[from.idx()].payload_type
    }

    /// The numbering of one decoded frame from `from`'s pipeline (source SSRC `ssrc`, RTP
    /// timestamp `timestamp`, `ticks` long on the other leg's clock), to encode with the
    /// other leg's pipeline and write with its
    /// [`switchboard_rtp::RtpSession::write_relayed`]. The frames come out of the
    /// pipeline in timestamp order, one per ptime (concealed ones included), so they are
    /// numbered consecutively; the timestamp is the source's (every codec in the registry
    /// runs an 8000 Hz RTP clock, so both legs count the same ticks).
    pub fn transcoded(&mut self, from: Leg, ssrc: u32, timestamp: u32, ticks: u32) -> Relayed {
        let seq = &mut self.frame_seq[from.idx()];
        let sequence = *seq;
        *seq = seq.wrapping_add(1);
        self.stats.transcoded += 1;
        let source = &mut self.sources[from.idx()];
        if source.is_some_and(|s| s != ssrc) {
            self.stats.ssrc_changes += 1;
        }
        *source = Some(ssrc);
        Relayed {
            ssrc,
            sequence,
            timestamp,
            marker: false,
            payload_type: self.legs[from.other().idx()].payload_type,
            ticks,
        }
    }

    /// The SSRC of the last frame from `from` that [`Bridge::transcoded`] numbered (what a
    /// flush of that leg's jitter buffer at the end continues with).
    pub fn transcoded_source(&self, from: Leg) -> Option<u32> {
        self.sources[from.idx()]
    }

    /// Replaces a leg's codec/payload types after a re-INVITE; codec state is reset.
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

        let source = &mut self.sources[from.idx()];
        let changed = source.is_some_and(|s| s != h.ssrc);
        *source = Some(h.ssrc);
        if changed {
            self.stats.ssrc_changes += 1;
        }
        let packet = Relayed {
            ssrc: h.ssrc,
            sequence: h.sequence,
            timestamp: h.timestamp,
            marker: h.marker,
            payload_type,
            ticks,
        };

        if !transcode {
            self.stats.relayed += 1;
            return Ok(Forward {
                to,
                packet,
                payload,
                transcoded: false,
            });
        }
        self.stats.transcoded += 1;
        let t = self.transcoders[from.idx()]
            .get_or_insert_with(|| Box::new(Transcoder::new(src.codec, dst.codec)));
        let n = t.run(src.codec, dst.codec, payload);
        Ok(Forward {
            to,
            packet,
            payload: &t.out[..n],
            transcoded: true,
        })
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
    use switchboard_rtp::RtpHeader;

    fn pkt(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> RtpPacket {
        RtpPacket::new(
            RtpHeader::new(pt, seq, ts, ssrc),
            Bytes::copy_from_slice(payload),
        )
    }

    #[test]
    fn same_codec_relays_payload_untouched_with_source_numbering() {
        let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::Pcmu));
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
            f.packet,
            Relayed {
                ssrc: 0x1234,
                sequence: 40000,
                timestamp: 1_000_000,
                marker: false,
                payload_type: 0,
                ticks: 160,
            },
            "the bridge passes the source's numbering on; the other leg's session numbers it"
        );
    }

    #[test]
    fn ssrc_changes_are_counted() {
        let mut br = Bridge::new(LegConfig::new(Codec::Pcma), LegConfig::new(Codec::Pcma));
        br.handle_packet(Leg::B, &pkt(8, 500, 77, 9, &[0; 160]))
            .expect("fwd");
        br.handle_packet(Leg::A, &pkt(8, 1, 77, 3, &[0; 160]))
            .expect("fwd");
        assert_eq!(br.stats().ssrc_changes, 0);
        let p = pkt(8, 9, 123456, 10, &[0; 160]);
        let f = br.handle_packet(Leg::B, &p).expect("fwd");
        assert_eq!((f.packet.ssrc, f.packet.sequence), (10, 9));
        assert_eq!(br.stats().ssrc_changes, 1);
    }

    #[test]
    fn different_codecs_transcode() {
        let mut br = Bridge::new(LegConfig::new(Codec::Pcmu), LegConfig::new(Codec::Pcma));
        assert_eq!(br.mode(), BridgeMode::Transcode);
        let ulaw: Vec<u8> = (0..160)
            .map(|i| g711::ulaw_encode((i * 100) as i16))
            .collect();
        let p = pkt(0, 1, 0, 5, &ulaw);
        let f = br.handle_packet(Leg::A, &p).expect("fwd");
        assert!(f.transcoded);
        assert_eq!(f.packet.payload_type, 8);
        assert_eq!(f.payload.len(), 160);
        for (a, u) in f.payload.iter().zip(&ulaw) {
            assert_eq!(*a, g711::alaw_encode(g711::ulaw_decode_sample(*u)));
        }
    }

    #[test]
    fn telephone_events_are_mapped_or_dropped() {
        let mut a = LegConfig::new(Codec::Pcmu);
        a.telephone_event_pt = Some(101);
        let mut b = LegConfig::new(Codec::G722);
        b.telephone_event_pt = Some(96);
        let mut br = Bridge::new(a, b);
        let ev = pkt(101, 1, 0, 5, &[5, 0x8a, 0, 160]);
        let f = br.handle_packet(Leg::A, &ev).expect("event");
        assert_eq!((f.packet.payload_type, f.packet.ticks), (96, 0));
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
