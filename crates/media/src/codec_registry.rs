//! The codec registry: the one place that knows, for every audio codec switchboard
//! implements, its SDP encoding name, static payload type, RTP clock rate, audio sample
//! rate and payload size, and how a negotiated `a=rtpmap` line maps onto it.
//!
//! The server asks here and nowhere else: [`StreamFormat::negotiated`] turns what the SDP
//! answer chose (encoding name, RTP clock rate, payload type — dynamic ones included, a
//! phone that maps PCMU to payload type 96 works — the `telephone-event` payload type and
//! the ptime) into the stream's format, and [`offer_order`] is the list the SDP offers are
//! built from. Adding a codec is a new [`Codec`] variant, a row in [`REGISTRY`] and its
//! encoder/decoder in [`crate::codec`] and [`crate::pipeline`]; nothing in the server changes.
//!
//! **G.722's clock quirk** (RFC 3551 §4.5.2): G.722 is 16 kHz audio but its RTP clock
//! runs at 8000 Hz, "for historical reasons"; `a=rtpmap:9 G722/8000` is the correct
//! line. Some endpoints write `G722/16000`; [`lookup`] accepts it as the same codec and
//! the stream still runs on the 8000 Hz RTP clock (what every other implementation
//! sends), so timestamps advance by one tick per byte either way.
//!
//! **Internal rate.** Everything between decode and encode (prompts, the recorder, DTMF
//! and answering-machine detection, the supervision mixer) runs at [`INTERNAL_RATE`]
//! (8 kHz); wideband codecs are resampled by the leg's pipeline.

use crate::bridge::LegConfig;
use crate::codec::Codec;

/// The sample rate of all audio between decode and encode.
pub const INTERNAL_RATE: u32 = 8000;

/// What the registry knows about one codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecSpec {
    /// The codec.
    pub codec: Codec,
    /// SDP encoding name, as we write it (`a=rtpmap` matches case-insensitively).
    pub encoding: &'static str,
    /// RFC 3551 static payload type (what our offers use).
    pub static_payload_type: u8,
    /// RTP timestamp clock rate in Hz (8000 for G.722 too).
    pub rtp_clock_rate: u32,
    /// Audio sample rate of the codec in Hz.
    pub sample_rate: u32,
    /// Payload bytes per RTP clock tick (1 for all three at 64 kbit/s).
    pub bytes_per_tick: u32,
    /// Other RTP clock rates accepted in `a=rtpmap` for this encoding (interoperability
    /// quirks); the stream still runs at `rtp_clock_rate`.
    pub clock_aliases: &'static [u32],
}

impl CodecSpec {
    /// PCM samples (at [`sample_rate`](Self::sample_rate)) per RTP clock tick.
    pub fn samples_per_tick(&self) -> u32 {
        self.sample_rate / self.rtp_clock_rate
    }

    /// Payload bytes for `ticks` RTP clock ticks.
    pub fn payload_len(&self, ticks: u32) -> usize {
        (ticks * self.bytes_per_tick) as usize
    }

    /// RTP clock ticks carried by a payload of `len` bytes.
    pub fn ticks_in(&self, len: usize) -> u32 {
        (len as u32) / self.bytes_per_tick.max(1)
    }

    /// Whether a wideband (or any non-internal-rate) codec needs resampling.
    pub fn resamples(&self) -> bool {
        self.sample_rate != INTERNAL_RATE
    }
}

/// Every codec we implement, in our offer preference order.
pub const REGISTRY: [CodecSpec; 3] = [
    CodecSpec {
        codec: Codec::Pcmu,
        encoding: "PCMU",
        static_payload_type: 0,
        rtp_clock_rate: 8000,
        sample_rate: 8000,
        bytes_per_tick: 1,
        clock_aliases: &[],
    },
    CodecSpec {
        codec: Codec::Pcma,
        encoding: "PCMA",
        static_payload_type: 8,
        rtp_clock_rate: 8000,
        sample_rate: 8000,
        bytes_per_tick: 1,
        clock_aliases: &[],
    },
    CodecSpec {
        codec: Codec::G722,
        encoding: "G722",
        static_payload_type: 9,
        rtp_clock_rate: 8000,
        sample_rate: 16000,
        bytes_per_tick: 1,
        clock_aliases: &[16000],
    },
];

/// The spec of `codec`.
pub fn spec(codec: Codec) -> &'static CodecSpec {
    // Every variant has a row (checked by a test); PCMU is a safe default otherwise.
    REGISTRY
        .iter()
        .find(|s| s.codec == codec)
        .unwrap_or(&REGISTRY[0])
}

/// The codec of an `a=rtpmap` encoding name and clock rate (case-insensitive name).
pub fn lookup(encoding: &str, clock_rate: u32) -> Option<&'static CodecSpec> {
    REGISTRY.iter().find(|s| {
        s.encoding.eq_ignore_ascii_case(encoding)
            && (s.rtp_clock_rate == clock_rate || s.clock_aliases.contains(&clock_rate))
    })
}

/// The codec of a static payload type (RFC 3551 table 4), if we implement it.
pub fn by_static_payload_type(pt: u8) -> Option<&'static CodecSpec> {
    REGISTRY.iter().find(|s| s.static_payload_type == pt)
}

/// Our codecs for an SDP offer, in preference order: (encoding, payload type, RTP clock).
pub fn offer_order() -> impl Iterator<Item = (&'static str, u8, u32)> {
    REGISTRY
        .iter()
        .map(|s| (s.encoding, s.static_payload_type, s.rtp_clock_rate))
}

/// Why a negotiated stream has no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The encoding (at that clock rate) is not one we implement.
    #[error("codec {encoding}/{clock_rate} is not implemented")]
    UnknownCodec {
        /// The `a=rtpmap` encoding name.
        encoding: String,
        /// The `a=rtpmap` clock rate.
        clock_rate: u32,
    },
    /// A payload type outside 0..=127.
    #[error("payload type {0} is out of range")]
    PayloadType(u8),
    /// The audio and telephone-event payload types are the same number.
    #[error("telephone-event uses the audio payload type {0}")]
    SharedPayloadType(u8),
}

/// The format of one negotiated RTP audio stream: its codec, the payload types on the
/// wire and the packetisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamFormat {
    /// The codec.
    pub spec: &'static CodecSpec,
    /// The audio payload type on the wire (may be dynamic, 96..=127).
    pub payload_type: u8,
    /// The RFC 4733 telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// Packetisation time in ms (at least 10, at most 120).
    pub ptime_ms: u32,
}

impl StreamFormat {
    /// Lowest and highest ptime accepted; others are clamped.
    pub const PTIME_RANGE: (u32, u32) = (10, 120);

    /// The format of what an SDP negotiation chose.
    pub fn negotiated(
        encoding: &str,
        clock_rate: u32,
        payload_type: u8,
        telephone_event: Option<u8>,
        ptime_ms: u32,
    ) -> Result<StreamFormat, FormatError> {
        let spec = lookup(encoding, clock_rate).ok_or_else(|| FormatError::UnknownCodec {
            encoding: encoding.to_owned(),
            clock_rate,
        })?;
        if payload_type > 127 {
            return Err(FormatError::PayloadType(payload_type));
        }
        if let Some(te) = telephone_event {
            if te > 127 {
                return Err(FormatError::PayloadType(te));
            }
            if te == payload_type {
                return Err(FormatError::SharedPayloadType(te));
            }
        }
        let (lo, hi) = Self::PTIME_RANGE;
        Ok(StreamFormat {
            spec,
            payload_type,
            telephone_event,
            ptime_ms: ptime_ms.clamp(lo, hi),
        })
    }

    /// A stream of `codec` on its static payload type, 20 ms, no telephone-event.
    pub fn of(codec: Codec) -> StreamFormat {
        let spec = spec(codec);
        StreamFormat {
            spec,
            payload_type: spec.static_payload_type,
            telephone_event: None,
            ptime_ms: 20,
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.spec.codec
    }

    /// RTP clock ticks per packet.
    pub fn frame_ticks(&self) -> u32 {
        self.spec.rtp_clock_rate * self.ptime_ms / 1000
    }

    /// Samples per packet at [`INTERNAL_RATE`].
    pub fn internal_frame_len(&self) -> usize {
        (INTERNAL_RATE * self.ptime_ms / 1000) as usize
    }

    /// This stream as one leg of the two-party [`Bridge`](crate::Bridge).
    pub fn leg_config(&self) -> LegConfig {
        LegConfig {
            codec: self.spec.codec,
            payload_type: self.payload_type,
            telephone_event_pt: self.telephone_event,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_codec_has_one_row() {
        for c in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            assert_eq!(REGISTRY.iter().filter(|s| s.codec == c).count(), 1);
            assert_eq!(spec(c).codec, c);
        }
    }

    #[test]
    fn rtpmap_lookup_is_case_insensitive_and_checks_the_clock() {
        assert_eq!(lookup("pcmu", 8000).unwrap().codec, Codec::Pcmu);
        assert_eq!(lookup("PCMA", 8000).unwrap().codec, Codec::Pcma);
        assert!(lookup("PCMU", 16000).is_none());
        assert!(lookup("opus", 48000).is_none());
        assert!(lookup("", 8000).is_none());
    }

    #[test]
    fn g722_runs_on_an_8000_clock_and_accepts_the_16000_quirk() {
        let g = lookup("G722", 8000).unwrap();
        assert_eq!((g.rtp_clock_rate, g.sample_rate), (8000, 16000));
        assert_eq!(g.samples_per_tick(), 2);
        assert!(g.resamples());
        let quirk = StreamFormat::negotiated("g722", 16000, 9, None, 20).unwrap();
        assert_eq!(quirk.codec(), Codec::G722);
        assert_eq!(quirk.frame_ticks(), 160, "still 8000 Hz timestamps");
        assert_eq!(g.payload_len(160), 160);
    }

    #[test]
    fn dynamic_payload_types_map_by_name() {
        let f = StreamFormat::negotiated("PCMU", 8000, 96, Some(101), 20).unwrap();
        assert_eq!(f.codec(), Codec::Pcmu);
        assert_eq!(f.leg_config().payload_type, 96);
        assert_eq!(f.leg_config().telephone_event_pt, Some(101));
        assert_eq!(f.internal_frame_len(), 160);
    }

    #[test]
    fn bad_formats_are_typed_errors() {
        assert!(matches!(
            StreamFormat::negotiated("GSM", 8000, 3, None, 20),
            Err(FormatError::UnknownCodec { .. })
        ));
        assert_eq!(
            StreamFormat::negotiated("PCMU", 8000, 200, None, 20),
            Err(FormatError::PayloadType(200))
        );
        assert_eq!(
            StreamFormat::negotiated("PCMU", 8000, 96, Some(96), 20),
            Err(FormatError::SharedPayloadType(96))
        );
        let f = StreamFormat::negotiated("PCMA", 8000, 8, None, 0).unwrap();
        assert_eq!(f.ptime_ms, 10, "clamped");
    }

    #[test]
    fn offers_and_static_types_agree() {
        for (name, pt, clock) in offer_order() {
            let s = by_static_payload_type(pt).unwrap();
            assert_eq!((s.encoding, s.rtp_clock_rate), (name, clock));
        }
        assert!(by_static_payload_type(18).is_none());
    }
}
