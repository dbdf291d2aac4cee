//! RTCP compound packets (RFC 3550 §6.4-6.6): SR, RR, SDES, BYE; other packet types are
//! kept as opaque bodies so they can be skipped or forwarded unchanged.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use bytes::{BufMut, Bytes, BytesMut};

/// RTCP packet type: sender report.
pub const PT_SR: u8 = 200;
/// RTCP packet type: receiver report.
pub const PT_RR: u8 = 201;
/// RTCP packet type: source description.
pub const PT_SDES: u8 = 202;
/// RTCP packet type: goodbye.
pub const PT_BYE: u8 = 203;
/// SDES item type for CNAME.
pub const SDES_CNAME: u8 = 1;
/// Most packets accepted in one compound datagram.
pub const MAX_COMPOUND_PACKETS: usize = 32;

/// Why a datagram is not a valid RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// A packet header or body is cut short.
    #[error("RTCP packet truncated at offset {offset}")]
    Truncated {
        /// Offset in the datagram of the packet that is cut short.
        offset: usize,
    },
    /// The version field is not 2.
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is zero or larger than the packet.
    #[error("invalid RTCP padding at offset {offset}")]
    BadPadding {
        /// Offset of the packet.
        offset: usize,
    },
    /// The datagram holds no packet.
    #[error("empty RTCP datagram")]
    Empty,
    /// More than [`MAX_COMPOUND_PACKETS`] packets.
    #[error("more than {MAX_COMPOUND_PACKETS} packets in one compound")]
    TooManyPackets,
    /// An SDES item or chunk runs past its packet.
    #[error("malformed SDES at offset {offset}")]
    BadSdes {
        /// Offset of the packet.
        offset: usize,
    },
}

/// A reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// Source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, fixed point /256.
    pub fraction_lost: u8,
    /// Cumulative packets lost, signed 24 bits (-8388608..=8388607).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received (0 if none).
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub dlsr: u32,
}

/// Sender report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderReport {
    /// Sender SSRC.
    pub ssrc: u32,
    /// 64-bit NTP timestamp (seconds since 1900 in the high word).
    pub ntp_timestamp: u64,
    /// RTP timestamp corresponding to `ntp_timestamp`.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
    /// Report blocks (at most 31).
    pub reports: Vec<ReportBlock>,
    /// Profile-specific extension after the blocks (multiple of 4 bytes).
    pub extension: Bytes,
}

/// Receiver report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverReport {
    /// Reporter SSRC.
    pub ssrc: u32,
    /// Report blocks (at most 31).
    pub reports: Vec<ReportBlock>,
    /// Profile-specific extension (multiple of 4 bytes).
    pub extension: Bytes,
}

/// One SDES item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesItem {
    /// Item type (1 = CNAME, ...). Never 0.
    pub kind: u8,
    /// Item text (at most 255 bytes).
    pub value: Bytes,
}

/// One SDES chunk: a source and its items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdesChunk {
    /// Source described.
    pub ssrc: u32,
    /// Items.
    pub items: Vec<SdesItem>,
}

/// Goodbye.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bye {
    /// Sources leaving (at most 31).
    pub ssrcs: Vec<u32>,
    /// Optional reason (at most 255 bytes).
    pub reason: Option<Bytes>,
}

/// One packet of an RTCP compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// SR (200).
    SenderReport(SenderReport),
    /// RR (201).
    ReceiverReport(ReceiverReport),
    /// SDES (202).
    SourceDescription(Vec<SdesChunk>),
    /// BYE (203).
    Bye(Bye),
    /// Any other type (APP, RTPFB, PSFB, XR, ...), body kept verbatim.
    Other {
        /// Packet type octet.
        packet_type: u8,
        /// The 5-bit count/format field.
        count: u8,
        /// Body after the 4-byte header, without padding (multiple of 4 bytes).
        body: Bytes,
    },
}

impl SdesChunk {
    /// The CNAME item of this chunk, if any.
    pub fn cname(&self) -> Option<&Bytes> {
        self.items
            .iter()
            .find(|i| i.kind == SDES_CNAME)
            .map(|i| &i.value)
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_be_bytes(a))
}

fn parse_block(b: &[u8], at: usize) -> Option<ReportBlock> {
    let w1 = be32(b, at + 4)?;
    let raw = w1 & 0x00ff_ffff;
    // Sign-extend 24 bits.
    let cumulative_lost = ((raw << 8) as i32) >> 8;
    Some(ReportBlock {
        ssrc: be32(b, at)?,
        fraction_lost: (w1 >> 24) as u8,
        cumulative_lost,
        highest_seq: be32(b, at + 8)?,
        jitter: be32(b, at + 12)?,
        lsr: be32(b, at + 16)?,
        dlsr: be32(b, at + 20)?,
    })
}

fn write_block(r: &ReportBlock, out: &mut BytesMut) {
    out.put_u32(r.ssrc);
    let lost = (r.cumulative_lost.clamp(-0x80_0000, 0x7f_ffff) as u32) & 0x00ff_ffff;
    out.put_u32((u32::from(r.fraction_lost) << 24) | lost);
    out.put_u32(r.highest_seq);
    out.put_u32(r.jitter);
    out.put_u32(r.lsr);
    out.put_u32(r.dlsr);
}

/// Parses a compound RTCP datagram into its packets. Body slices share `datagram`'s
/// storage. Never panics; bounded to [`MAX_COMPOUND_PACKETS`] packets.
pub fn parse_compound(datagram: &Bytes) -> Result<Vec<RtcpPacket>, RtcpError> {
    let b = &datagram[..];
    if b.is_empty() {
        return Err(RtcpError::Empty);
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        if out.len() == MAX_COMPOUND_PACKETS {
            return Err(RtcpError::TooManyPackets);
        }
        let head = be32(b, at).ok_or(RtcpError::Truncated { offset: at })?;
        let version = (head >> 30) as u8;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let padded = head & 0x2000_0000 != 0;
        let count = ((head >> 24) & 0x1f) as u8;
        let pt = ((head >> 16) & 0xff) as u8;
        let total = 4 * (usize::from(head as u16) + 1);
        let end = at + total;
        if end > b.len() {
            return Err(RtcpError::Truncated { offset: at });
        }
        let mut body_end = end;
        if padded {
            let pad = usize::from(b.get(end - 1).copied().unwrap_or(0));
            if pad == 0 || pad > total - 4 {
                return Err(RtcpError::BadPadding { offset: at });
            }
            body_end = end - pad;
        }
        let body = datagram.slice(at + 4..body_end);
        out.push(parse_one(pt, count, &body, at)?);
        at = end;
    }
    Ok(out)
}

fn parse_blocks(
    body: &Bytes,
    from: usize,
    count: u8,
    offset: usize,
) -> Result<(Vec<ReportBlock>, Bytes), RtcpError> {
    let n = usize::from(count);
    let mut blocks = Vec::with_capacity(n);
    for i in 0..n {
        blocks.push(parse_block(body, from + 24 * i).ok_or(RtcpError::Truncated { offset })?);
    }
    let ext_at = from + 24 * n;
    let ext = if ext_at <= body.len() {
        body.slice(ext_at..)
    } else {
        return Err(RtcpError::Truncated { offset });
    };
    Ok((blocks, ext))
}

fn parse_one(pt: u8, count: u8, body: &Bytes, offset: usize) -> Result<RtcpPacket, RtcpError> {
    let trunc = RtcpError::Truncated { offset };
    Ok(match pt {
        PT_SR => {
            let ssrc = be32(body, 0).ok_or(trunc)?;
            let hi = be32(body, 4).ok_or(trunc)?;
            let lo = be32(body, 8).ok_or(trunc)?;
            let (reports, extension) = parse_blocks(body, 24, count, offset)?;
            RtcpPacket::SenderReport(SenderReport {
                ssrc,
                ntp_timestamp: (u64::from(hi) << 32) | u64::from(lo),
                rtp_timestamp: be32(body, 12).ok_or(trunc)?,
                packet_count: be32(body, 16).ok_or(trunc)?,
                octet_count: be32(body, 20).ok_or(trunc)?,
                reports,
                extension,
            })
        }
        PT_RR => {
            let ssrc = be32(body, 0).ok_or(trunc)?;
            let (reports, extension) = parse_blocks(body, 4, count, offset)?;
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc,
                reports,
                extension,
            })
        }
        PT_SDES => RtcpPacket::SourceDescription(parse_sdes(body, count, offset)?),
        PT_BYE => {
            let n = usize::from(count);
            let mut ssrcs = Vec::with_capacity(n);
            for i in 0..n {
                ssrcs.push(be32(body, 4 * i).ok_or(trunc)?);
            }
            let at = 4 * n;
            let reason = match body.get(at) {
                Some(&len) => {
                    let len = usize::from(len);
                    if at + 1 + len > body.len() {
                        return Err(trunc);
                    }
                    Some(body.slice(at + 1..at + 1 + len))
                }
                None => None,
            };
            RtcpPacket::Bye(Bye { ssrcs, reason })
        }
        _ => RtcpPacket::Other {
            packet_type: pt,
            count,
            body: body.clone(),
        },
    })
}

fn parse_sdes(body: &Bytes, count: u8, offset: usize) -> Result<Vec<SdesChunk>, RtcpError> {
    let bad = RtcpError::BadSdes { offset };
    let mut chunks = Vec::with_capacity(usize::from(count));
    let mut at = 0;
    for _ in 0..count {
        let ssrc = be32(body, at).ok_or(bad)?;
        at += 4;
        let mut items = Vec::new();
        loop {
            let kind = *body.get(at).ok_or(bad)?;
            if kind == 0 {
                // End of list: skip to the next 32-bit boundary.
                at = (at + 4) & !3;
                break;
            }
            let len = usize::from(*body.get(at + 1).ok_or(bad)?);
            let start = at + 2;
            if start + len > body.len() {
                return Err(bad);
            }
            items.push(SdesItem {
                kind,
                value: body.slice(start..start + len),
            });
            at = start + len;
            if items.len() > 64 {
                return Err(bad);
            }
        }
        chunks.push(SdesChunk { ssrc, items });
    }
    Ok(chunks)
}

impl RtcpPacket {
    /// Appends this packet (header, body, no padding) to `out`. Lists longer than the
    /// 5-bit count field allows are truncated to 31 entries; items/reasons to 255 bytes.
    pub fn write_to(&self, out: &mut BytesMut) {
        let start = out.len();
        out.put_u32(0); // header placeholder
        let (count, pt) = match self {
            RtcpPacket::SenderReport(sr) => {
                out.put_u32(sr.ssrc);
                out.put_u64(sr.ntp_timestamp);
                out.put_u32(sr.rtp_timestamp);
                out.put_u32(sr.packet_count);
                out.put_u32(sr.octet_count);
                let n = sr.reports.len().min(31);
                for r in sr.reports.iter().take(n) {
                    write_block(r, out);
                }
                put_words(out, &sr.extension);
                (n as u8, PT_SR)
            }
            RtcpPacket::ReceiverReport(rr) => {
                out.put_u32(rr.ssrc);
                let n = rr.reports.len().min(31);
                for r in rr.reports.iter().take(n) {
                    write_block(r, out);
                }
                put_words(out, &rr.extension);
                (n as u8, PT_RR)
            }
            RtcpPacket::SourceDescription(chunks) => {
                let n = chunks.len().min(31);
                for c in chunks.iter().take(n) {
                    out.put_u32(c.ssrc);
                    let mut len = 0usize;
                    for item in &c.items {
                        let v = item.value.get(..item.value.len().min(255)).unwrap_or(&[]);
                        out.put_u8(item.kind);
                        out.put_u8(v.len() as u8);
                        out.put_slice(v);
                        len += 2 + v.len();
                    }
                    // Null terminator plus padding to a 32-bit boundary (at least one 0).
                    out.put_bytes(0, 4 - len % 4);
                }
                (n as u8, PT_SDES)
            }
            RtcpPacket::Bye(bye) => {
                let n = bye.ssrcs.len().min(31);
                for s in bye.ssrcs.iter().take(n) {
                    out.put_u32(*s);
                }
                if let Some(r) = &bye.reason {
                    let v = r.get(..r.len().min(255)).unwrap_or(&[]);
                    out.put_u8(v.len() as u8);
                    out.put_slice(v);
                    let used = 1 + v.len();
                    out.put_bytes(0, (4 - used % 4) % 4);
                }
                (n as u8, PT_BYE)
            }
            RtcpPacket::Other {
                packet_type,
                count,
                body,
            } => {
                put_words(out, body);
                (*count & 0x1f, *packet_type)
            }
        };
        let words = ((out.len() - start) / 4 - 1).min(usize::from(u16::MAX)) as u16;
        let head =
            (2u32 << 30) | (u32::from(count) << 24) | (u32::from(pt) << 16) | u32::from(words);
        if let Some(h) = out.get_mut(start..start + 4) {
            h.copy_from_slice(&head.to_be_bytes());
        }
    }
}

fn put_words(out: &mut BytesMut, b: &[u8]) {
    out.put_slice(b);
    out.put_bytes(0, (4 - b.len() % 4) % 4);
}

/// Serializes packets into one compound datagram.
pub fn write_compound(packets: &[RtcpPacket], out: &mut BytesMut) {
    for p in packets {
        p.write_to(out);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(p: &[RtcpPacket]) -> Vec<RtcpPacket> {
        let mut out = BytesMut::new();
        write_compound(p, &mut out);
        parse_compound(&out.freeze()).unwrap()
    }

    #[test]
    fn sr_sdes_bye_compound() {
        let pk = vec![
            RtcpPacket::SenderReport(SenderReport {
                ssrc: 1,
                ntp_timestamp: 0x0102_0304_0506_0708,
                rtp_timestamp: 160,
                packet_count: 10,
                octet_count: 1600,
                reports: vec![ReportBlock {
                    ssrc: 2,
                    fraction_lost: 25,
                    cumulative_lost: -3,
                    highest_seq: 70000,
                    jitter: 12,
                    lsr: 0x0304_0506,
                    dlsr: 65536,
                }],
                extension: Bytes::new(),
            }),
            RtcpPacket::SourceDescription(vec![SdesChunk {
                ssrc: 1,
                items: vec![SdesItem {
                    kind: SDES_CNAME,
                    value: Bytes::from_static(b"sb@host"),
                }],
            }]),
            RtcpPacket::Bye(Bye {
                ssrcs: vec![1],
                reason: Some(Bytes::from_static(b"bye")),
            }),
        ];
        let back = roundtrip(&pk);
        assert_eq!(back, pk);
        match &back[1] {
            RtcpPacket::SourceDescription(c) => assert_eq!(c[0].cname().unwrap(), "sb@host"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_type_kept_and_padding_stripped() {
        // APP packet (204), 1 word body, then an RR with padding (P bit, 4 pad bytes).
        let d: &[u8] = &[
            0x80, 204, 0, 1, b'a', b'b', b'c', b'd', //
            0xa0, 201, 0, 2, 0, 0, 0, 9, 0, 0, 0, 4,
        ];
        let p = parse_compound(&Bytes::copy_from_slice(d)).unwrap();
        assert_eq!(
            p[0],
            RtcpPacket::Other {
                packet_type: 204,
                count: 0,
                body: Bytes::from_static(b"abcd")
            }
        );
        assert_eq!(
            p[1],
            RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: 9,
                reports: vec![],
                extension: Bytes::new()
            })
        );
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(parse_compound(&Bytes::new()), Err(RtcpError::Empty));
        assert_eq!(
            parse_compound(&Bytes::from_static(&[0x80, 200, 0, 6, 0, 0])),
            Err(RtcpError::Truncated { offset: 0 })
        );
        assert_eq!(
            parse_compound(&Bytes::from_static(&[0x40, 200, 0, 0])),
            Err(RtcpError::BadVersion(1))
        );
        // RR claiming one report block but carrying none.
        assert_eq!(
            parse_compound(&Bytes::from_static(&[0x81, 201, 0, 1, 0, 0, 0, 1])),
            Err(RtcpError::Truncated { offset: 0 })
        );
    }

    fn arb_block() -> impl Strategy<Value = ReportBlock> + Clone {
        (
            any::<u32>(),
            any::<u8>(),
            -0x80_0000i32..=0x7f_ffff,
            any::<[u32; 4]>(),
        )
            .prop_map(|(ssrc, f, lost, w)| ReportBlock {
                ssrc,
                fraction_lost: f,
                cumulative_lost: lost,
                highest_seq: w[0],
                jitter: w[1],
                lsr: w[2],
                dlsr: w[3],
            })
    }

    fn arb_words() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..4)
            .prop_map(|v| Bytes::from(v.iter().flat_map(|b| [*b; 4]).collect::<Vec<u8>>()))
    }

    fn arb_text() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
    }

    fn arb_packet() -> impl Strategy<Value = RtcpPacket> {
        let blocks = proptest::collection::vec(arb_block(), 0..4);
        prop_oneof![
            (
                any::<u32>(),
                any::<u64>(),
                any::<[u32; 3]>(),
                blocks.clone(),
                arb_words()
            )
                .prop_map(|(ssrc, ntp, w, reports, extension)| {
                    RtcpPacket::SenderReport(SenderReport {
                        ssrc,
                        ntp_timestamp: ntp,
                        rtp_timestamp: w[0],
                        packet_count: w[1],
                        octet_count: w[2],
                        reports,
                        extension,
                    })
                }),
            (any::<u32>(), blocks, arb_words()).prop_map(|(ssrc, reports, extension)| {
                RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc,
                    reports,
                    extension,
                })
            }),
            proptest::collection::vec(
                (
                    any::<u32>(),
                    proptest::collection::vec((1u8..=255, arb_text()), 0..3)
                ),
                0..3
            )
            .prop_map(|chunks| RtcpPacket::SourceDescription(
                chunks
                    .into_iter()
                    .map(|(ssrc, items)| SdesChunk {
                        ssrc,
                        items: items
                            .into_iter()
                            .map(|(kind, value)| SdesItem { kind, value })
                            .collect()
                    })
                    .collect()
            )),
            (
                proptest::collection::vec(any::<u32>(), 0..4),
                proptest::option::of(arb_text())
            )
                .prop_map(|(ssrcs, reason)| RtcpPacket::Bye(Bye { ssrcs, reason })),
            (205u8..=207, 0u8..32, arb_words()).prop_map(|(packet_type, count, body)| {
                RtcpPacket::Other {
                    packet_type,
                    count,
                    body,
                }
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_compound(&Bytes::from(b));
        }

        #[test]
        fn compound_roundtrip(p in proptest::collection::vec(arb_packet(), 1..5)) {
            prop_assert_eq!(roundtrip(&p), p);
        }
    }
}
