//! RTP data packets (RFC 3550 §5.1): parse from a datagram without copying the payload,
//! serialize into a reusable buffer.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Fixed RTP header length (no CSRCs, no extension).
pub const RTP_FIXED_HEADER_LEN: usize = 12;
/// Largest CSRC count the 4-bit CC field can carry.
pub const MAX_CSRC: usize = 15;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The datagram ends before the header (fixed part, CSRCs or extension) does.
    #[error("datagram of {len} bytes is shorter than the {need}-byte header")]
    TooShort {
        /// Datagram length.
        len: usize,
        /// Bytes the header claims to need.
        need: usize,
    },
    /// The version field is not 2.
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding bit is set but the padding count is 0 or longer than the payload.
    #[error("invalid padding count {count} with {available} bytes after the header")]
    BadPadding {
        /// Padding count found in the last octet.
        count: u8,
        /// Bytes available after the header.
        available: usize,
    },
}

/// An RTP header extension (RFC 3550 §5.3.1), kept opaque.
///
/// RFC 8285 one-byte (`0xBEDE`) and two-byte (`0x100x`) element lists are carried in
/// `data` unparsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpExtension {
    /// The 16-bit "defined by profile" field.
    pub profile: u16,
    /// Extension body; on the wire it is zero-padded to a multiple of 4 bytes
    /// (at most 65535 words).
    pub data: Bytes,
}

/// The contributing-source list, stored inline (no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct CsrcList {
    ids: [u32; MAX_CSRC],
    len: u8,
}

impl CsrcList {
    /// An empty list.
    pub const fn new() -> Self {
        CsrcList {
            ids: [0; MAX_CSRC],
            len: 0,
        }
    }

    /// Appends a CSRC; returns `false` (and leaves the list unchanged) when 15 are present.
    pub fn push(&mut self, csrc: u32) -> bool {
        match self.ids.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = csrc;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// The CSRCs as a slice.
    pub fn as_slice(&self) -> &[u32] {
        self.ids.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Number of CSRCs.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl std::fmt::Debug for CsrcList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl<'a> FromIterator<&'a u32> for CsrcList {
    fn from_iter<T: IntoIterator<Item = &'a u32>>(iter: T) -> Self {
        let mut l = CsrcList::new();
        for c in iter {
            if !l.push(*c) {
                break;
            }
        }
        l
    }
}

/// The RTP header (RFC 3550 §5.1). Version is always 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpHeader {
    /// Marker bit (talkspurt start for audio, RFC 3551 §4.1).
    pub marker: bool,
    /// Payload type, 7 bits (serialization masks to `0x7f`).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources.
    pub csrc: CsrcList,
    /// Header extension, if the X bit is set.
    pub extension: Option<RtpExtension>,
}

impl RtpHeader {
    /// A header with no CSRCs and no extension.
    pub fn new(payload_type: u8, sequence: u16, timestamp: u32, ssrc: u32) -> Self {
        RtpHeader {
            marker: false,
            payload_type: payload_type & 0x7f,
            sequence,
            timestamp,
            ssrc,
            csrc: CsrcList::new(),
            extension: None,
        }
    }

    /// Serialized length of this header in bytes.
    pub fn encoded_len(&self) -> usize {
        RTP_FIXED_HEADER_LEN
            + 4 * self.csrc.len()
            + self
                .extension
                .as_ref()
                .map_or(0, |e| 4 + 4 * ext_words(e.data.len()))
    }
}

/// Extension body length in 32-bit words, capped at the 16-bit length field.
fn ext_words(len: usize) -> usize {
    len.div_ceil(4).min(usize::from(u16::MAX))
}

/// An RTP packet: header plus a zero-copy slice of the datagram as payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// The header.
    pub header: RtpHeader,
    /// Payload without padding; a `Bytes` slice of the received datagram.
    pub payload: Bytes,
    /// Padding length in bytes including the count octet (0 = no padding, P bit clear).
    pub padding: u8,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_be_bytes(a))
}

impl RtpPacket {
    /// A packet with the given header, payload and no padding.
    pub fn new(header: RtpHeader, payload: Bytes) -> Self {
        RtpPacket {
            header,
            payload,
            padding: 0,
        }
    }

    /// Parses a datagram. The payload (and extension body) are slices of `datagram`;
    /// nothing is copied. Never panics.
    pub fn parse(datagram: Bytes) -> Result<RtpPacket, RtpError> {
        let b = &datagram[..];
        let len = b.len();
        let too_short = |need| RtpError::TooShort { len, need };
        let first = *b.first().ok_or(too_short(RTP_FIXED_HEADER_LEN))?;
        if len < RTP_FIXED_HEADER_LEN {
            return Err(too_short(RTP_FIXED_HEADER_LEN));
        }
        let version = first >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = first & 0x20 != 0;
        let has_ext = first & 0x10 != 0;
        let cc = usize::from(first & 0x0f);
        let second = *b.get(1).ok_or(too_short(RTP_FIXED_HEADER_LEN))?;
        let sequence = be16(b, 2).ok_or(too_short(RTP_FIXED_HEADER_LEN))?;
        let timestamp = be32(b, 4).ok_or(too_short(RTP_FIXED_HEADER_LEN))?;
        let ssrc = be32(b, 8).ok_or(too_short(RTP_FIXED_HEADER_LEN))?;
        let mut at = RTP_FIXED_HEADER_LEN;
        let need = at + 4 * cc;
        if len < need {
            return Err(too_short(need));
        }
        let mut csrc = CsrcList::new();
        for _ in 0..cc {
            csrc.push(be32(b, at).ok_or(too_short(need))?);
            at += 4;
        }
        let extension = if has_ext {
            let profile = be16(b, at).ok_or(too_short(at + 4))?;
            let words = usize::from(be16(b, at + 2).ok_or(too_short(at + 4))?);
            let start = at + 4;
            let end = start + 4 * words;
            if len < end {
                return Err(too_short(end));
            }
            at = end;
            Some(RtpExtension {
                profile,
                data: datagram.slice(start..end),
            })
        } else {
            None
        };
        let mut end = len;
        let mut padding = 0;
        if has_padding {
            let count = b.last().copied().unwrap_or(0);
            let available = len - at;
            if count == 0 || usize::from(count) > available {
                return Err(RtpError::BadPadding { count, available });
            }
            padding = count;
            end = len - usize::from(count);
        }
        Ok(RtpPacket {
            header: RtpHeader {
                marker: second & 0x80 != 0,
                payload_type: second & 0x7f,
                sequence,
                timestamp,
                ssrc,
                csrc,
                extension,
            },
            payload: {
                // Narrow the datagram in place: no reference-count traffic.
                let mut payload = datagram;
                payload.truncate(end);
                payload.advance(at);
                payload
            },
            padding,
        })
    }

    /// Serialized length in bytes.
    pub fn encoded_len(&self) -> usize {
        self.header.encoded_len() + self.payload.len() + usize::from(self.padding)
    }

    /// Appends the wire form to `out` (reserve once, reuse the buffer: no allocation when
    /// `out` has spare capacity).
    pub fn write_to(&self, out: &mut BytesMut) {
        let h = &self.header;
        out.reserve(self.encoded_len());
        let mut first = 0x80u8 | (h.csrc.len() as u8 & 0x0f);
        if self.padding > 0 {
            first |= 0x20;
        }
        if h.extension.is_some() {
            first |= 0x10;
        }
        out.put_u8(first);
        out.put_u8((u8::from(h.marker) << 7) | (h.payload_type & 0x7f));
        out.put_u16(h.sequence);
        out.put_u32(h.timestamp);
        out.put_u32(h.ssrc);
        for c in h.csrc.as_slice() {
            out.put_u32(*c);
        }
        if let Some(ext) = &h.extension {
            let words = ext_words(ext.data.len());
            out.put_u16(ext.profile);
            out.put_u16(words as u16);
            let n = (4 * words).min(ext.data.len());
            out.put_slice(ext.data.get(..n).unwrap_or(&[]));
            out.put_bytes(0, 4 * words - n);
        }
        out.put_slice(&self.payload);
        if self.padding > 0 {
            out.put_bytes(0, usize::from(self.padding) - 1);
            out.put_u8(self.padding);
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out.freeze()
    }
}

/// RFC 5761 §4 demultiplexing: `true` if a datagram on a shared port looks like RTCP
/// (version 2 and second octet in 192..=223, i.e. RTCP packet types 192-223).
pub fn looks_like_rtcp(datagram: &[u8]) -> bool {
    matches!(datagram, [f, s, ..] if f >> 6 == 2 && (192..=223).contains(s))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_pcmu_packet_zero_copy() {
        let mut d = vec![
            0x80, 0x80, 0x12, 0x34, 0, 0, 0x03, 0x20, 0xde, 0xad, 0xbe, 0xef,
        ];
        d.extend_from_slice(&[0xff; 160]);
        let dg = Bytes::from(d);
        let p = RtpPacket::parse(dg.clone()).expect("valid");
        assert!(p.header.marker);
        assert_eq!(p.header.payload_type, 0);
        assert_eq!(p.header.sequence, 0x1234);
        assert_eq!(p.header.timestamp, 800);
        assert_eq!(p.header.ssrc, 0xdeadbeef);
        assert_eq!(p.payload.len(), 160);
        // Same backing storage: the payload points into the datagram.
        assert_eq!(p.payload.as_ptr(), dg[12..].as_ptr());
        assert_eq!(p.to_bytes(), dg);
    }

    #[test]
    fn csrc_extension_padding() {
        let mut h = RtpHeader::new(96, 7, 9, 10);
        h.csrc.push(1);
        h.csrc.push(2);
        h.extension = Some(RtpExtension {
            profile: 0xBEDE,
            data: Bytes::from_static(&[0x10, 0xaa, 0, 0]),
        });
        let p = RtpPacket {
            header: h,
            payload: Bytes::from_static(b"abc"),
            padding: 5,
        };
        let wire = p.to_bytes();
        assert_eq!(wire.len(), 12 + 8 + 8 + 3 + 5);
        assert_eq!(RtpPacket::parse(wire), Ok(p));
    }

    #[test]
    fn typed_errors() {
        assert_eq!(
            RtpPacket::parse(Bytes::from_static(&[0x80, 0])),
            Err(RtpError::TooShort { len: 2, need: 12 })
        );
        assert_eq!(
            RtpPacket::parse(Bytes::from_static(&[0x40; 12])),
            Err(RtpError::BadVersion(1))
        );
        // CC = 2 but no CSRCs present.
        assert!(matches!(
            RtpPacket::parse(Bytes::from_static(&[0x82, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
            Err(RtpError::TooShort { need: 20, .. })
        ));
        // Padding bit with a count of zero.
        assert!(matches!(
            RtpPacket::parse(Bytes::from_static(&[
                0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
            ])),
            Err(RtpError::BadPadding { count: 0, .. })
        ));
        // Extension header claiming 1 word that is missing.
        assert!(matches!(
            RtpPacket::parse(Bytes::from_static(&[
                0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0, 1
            ])),
            Err(RtpError::TooShort { need: 20, .. })
        ));
    }

    #[test]
    fn rtcp_demux() {
        assert!(looks_like_rtcp(&[0x80, 200, 0, 6]));
        assert!(!looks_like_rtcp(&[0x80, 0, 0, 6]));
        assert!(!looks_like_rtcp(&[0x80, 96 | 0x80]));
    }

    pub(crate) fn arb_packet() -> impl Strategy<Value = RtpPacket> {
        (
            any::<bool>(),
            0u8..128,
            any::<u16>(),
            any::<u32>(),
            any::<u32>(),
            proptest::collection::vec(any::<u32>(), 0..=15),
            proptest::option::of((any::<u16>(), proptest::collection::vec(any::<u32>(), 0..8))),
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<u8>(),
        )
            .prop_map(
                |(m, pt, seq, ts, ssrc, cs, ext, payload, padding)| RtpPacket {
                    header: RtpHeader {
                        marker: m,
                        payload_type: pt,
                        sequence: seq,
                        timestamp: ts,
                        ssrc,
                        csrc: cs.iter().collect(),
                        extension: ext.map(|(profile, words)| RtpExtension {
                            profile,
                            data: words.iter().flat_map(|w| w.to_be_bytes()).collect(),
                        }),
                    },
                    payload: Bytes::from(payload),
                    padding,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = RtpPacket::parse(Bytes::from(b));
        }

        #[test]
        fn roundtrip(p in arb_packet()) {
            let wire = p.to_bytes();
            prop_assert_eq!(wire.len(), p.encoded_len());
            prop_assert_eq!(RtpPacket::parse(wire), Ok(p));
        }
    }
}
