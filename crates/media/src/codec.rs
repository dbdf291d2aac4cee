//! The codecs the bridge can relay or transcode, with per-direction state.

use crate::g711;
use crate::g722::{G722Decoder, G722Encoder};

/// An audio codec switchboard speaks on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Codec {
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// G.711 A-law, static payload type 8.
    Pcma,
    /// G.722 at 64 kbit/s, static payload type 9.
    G722,
}

impl Codec {
    /// What the [codec registry](crate::codec_registry) knows about this codec.
    pub fn spec(self) -> &'static crate::codec_registry::CodecSpec {
        crate::codec_registry::spec(self)
    }

    /// The static RTP payload type (RFC 3551 table 4).
    pub fn static_payload_type(self) -> u8 {
        self.spec().static_payload_type
    }

    /// The codec of a static payload type, if it is one we implement.
    pub fn from_static_payload_type(pt: u8) -> Option<Codec> {
        crate::codec_registry::by_static_payload_type(pt).map(|s| s.codec)
    }

    /// Audio sample rate in Hz (16000 for G.722).
    pub fn sample_rate(self) -> u32 {
        self.spec().sample_rate
    }

    /// RTP timestamp clock rate in Hz: 8000 for all three (RFC 3551 §4.5.2 for G.722).
    pub fn rtp_clock_rate(self) -> u32 {
        self.spec().rtp_clock_rate
    }

    /// Payload bytes for `ticks` RTP clock ticks (one byte per tick for all three).
    pub fn payload_len(self, ticks: usize) -> usize {
        ticks * self.spec().bytes_per_tick as usize
    }

    /// PCM samples (at [`sample_rate`](Self::sample_rate)) carried by `payload_len` bytes.
    pub fn samples_in(self, payload_len: usize) -> usize {
        let s = self.spec();
        payload_len / s.bytes_per_tick.max(1) as usize * s.samples_per_tick() as usize
    }
}

/// Encoder state for one outgoing stream.
#[derive(Debug, Clone)]
pub enum Encoder {
    /// µ-law (stateless).
    Pcmu,
    /// A-law (stateless).
    Pcma,
    /// G.722 (adaptive state).
    G722(Box<G722Encoder>),
}

impl Encoder {
    /// A fresh encoder for `codec`.
    pub fn new(codec: Codec) -> Encoder {
        match codec {
            Codec::Pcmu => Encoder::Pcmu,
            Codec::Pcma => Encoder::Pcma,
            Codec::G722 => Encoder::G722(Box::default()),
        }
    }

    /// Encodes `pcm` (at the codec's sample rate) into `out`; returns bytes written.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> usize {
        match self {
            Encoder::Pcmu => g711::ulaw_encode_slice(pcm, out),
            Encoder::Pcma => g711::alaw_encode_slice(pcm, out),
            Encoder::G722(e) => e.encode(pcm, out),
        }
    }
}

/// Decoder state for one incoming stream.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// µ-law (stateless).
    Pcmu,
    /// A-law (stateless).
    Pcma,
    /// G.722 (adaptive state).
    G722(Box<G722Decoder>),
}

impl Decoder {
    /// A fresh decoder for `codec`.
    pub fn new(codec: Codec) -> Decoder {
        match codec {
            Codec::Pcmu => Decoder::Pcmu,
            Codec::Pcma => Decoder::Pcma,
            Codec::G722 => Decoder::G722(Box::default()),
        }
    }

    /// Decodes `payload` into `out` (at the codec's sample rate); returns samples written.
    pub fn decode(&mut self, payload: &[u8], out: &mut [i16]) -> usize {
        match self {
            Decoder::Pcmu => g711::ulaw_decode_slice(payload, out),
            Decoder::Pcma => g711::alaw_decode_slice(payload, out),
            Decoder::G722(d) => d.decode(payload, out),
        }
    }
}
