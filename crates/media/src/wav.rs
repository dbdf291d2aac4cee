//! RIFF/WAVE header parsing and writing for 16-bit PCM; a total parser (never panics).
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

/// Size of the canonical header this crate writes (RIFF + fmt(16) + data chunk header).
pub const HEADER_LEN: usize = 44;
/// Largest number of chunks walked before giving up on finding `data`.
const MAX_CHUNKS: usize = 64;

/// Why bytes are not a WAV file we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Not a RIFF/WAVE file.
    #[error("not a RIFF/WAVE file")]
    NotWave,
    /// The file ends inside a header or chunk header.
    #[error("truncated WAV header")]
    Truncated,
    /// No `fmt ` chunk before `data`.
    #[error("no fmt chunk")]
    NoFormat,
    /// No `data` chunk within the first chunks.
    #[error("no data chunk")]
    NoData,
    /// A format other than 16-bit integer PCM.
    #[error("unsupported format tag {format} with {bits} bits per sample")]
    Unsupported {
        /// `wFormatTag` (1 = PCM, 0xFFFE = extensible).
        format: u16,
        /// Bits per sample.
        bits: u16,
    },
}

/// What a WAV header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    /// Channel count.
    pub channels: u16,
    /// Samples per second.
    pub sample_rate: u32,
    /// Bits per sample (always 16 here).
    pub bits_per_sample: u16,
    /// Byte offset of the first audio byte (just after the `data` chunk header).
    pub data_offset: usize,
    /// Byte offset of the `data` chunk's size field.
    pub data_size_offset: usize,
    /// The `data` chunk size the header claims.
    pub data_len_claimed: u32,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Some(u32::from_le_bytes(a))
}

/// Parses the header of a 16-bit PCM WAV file from its first bytes (the `data` chunk's
/// contents need not be present). Accepts extra chunks (`LIST`, `fact`, ...) and
/// `WAVE_FORMAT_EXTENSIBLE` with a PCM sub-format.
pub fn parse_header(b: &[u8]) -> Result<WavInfo, WavError> {
    if b.len() < 12 {
        return Err(if b.starts_with(b"RIFF") || b.len() < 4 {
            WavError::Truncated
        } else {
            WavError::NotWave
        });
    }
    if b.get(0..4) != Some(b"RIFF") || b.get(8..12) != Some(b"WAVE") {
        return Err(WavError::NotWave);
    }
    let mut at = 12usize;
    let mut fmt: Option<(u16, u32, u16)> = None;
    for _ in 0..MAX_CHUNKS {
        let id = b.get(at..at + 4).ok_or(WavError::Truncated)?;
        let size = le32(b, at + 4).ok_or(WavError::Truncated)?;
        let body = at + 8;
        if id == b"fmt " {
            let format = le16(b, body).ok_or(WavError::Truncated)?;
            let channels = le16(b, body + 2).ok_or(WavError::Truncated)?;
            let rate = le32(b, body + 4).ok_or(WavError::Truncated)?;
            let bits = le16(b, body + 14).ok_or(WavError::Truncated)?;
            let pcm = match format {
                1 => true,
                0xFFFE => le16(b, body + 24).ok_or(WavError::Truncated)? == 1,
                _ => false,
            };
            if !pcm || bits != 16 || channels == 0 || rate == 0 {
                return Err(WavError::Unsupported { format, bits });
            }
            fmt = Some((channels, rate, bits));
        } else if id == b"data" {
            let (channels, sample_rate, bits_per_sample) = fmt.ok_or(WavError::NoFormat)?;
            return Ok(WavInfo {
                channels,
                sample_rate,
                bits_per_sample,
                data_offset: body,
                data_size_offset: at + 4,
                data_len_claimed: size,
            });
        }
        // Chunks are padded to even length.
        let padded = usize::try_from(size)
            .map_err(|_| WavError::Truncated)?
            .saturating_add(size as usize & 1);
        at = body.checked_add(padded).ok_or(WavError::Truncated)?;
        if at > b.len() {
            return Err(WavError::Truncated);
        }
    }
    Err(WavError::NoData)
}

/// The samples of a 16-bit WAV held in memory, interleaved, limited to the bytes present
/// (a header claiming more than the file holds yields what is there).
pub fn decode_samples(b: &[u8], info: &WavInfo) -> Vec<i16> {
    let start = info.data_offset.min(b.len());
    let claimed = info.data_len_claimed as usize;
    // 0 or 0xFFFFFFFF are what streaming writers leave; then take the rest of the file.
    let end = if claimed == 0 || claimed == u32::MAX as usize {
        b.len()
    } else {
        start.saturating_add(claimed).min(b.len())
    };
    b.get(start..end)
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|p| {
            i16::from_le_bytes([
                p.first().copied().unwrap_or(0),
                p.get(1).copied().unwrap_or(0),
            ])
        })
        .collect()
}

/// A canonical 44-byte header for 16-bit PCM with `data_len` bytes of audio.
pub fn header(channels: u16, sample_rate: u32, data_len: u32) -> [u8; HEADER_LEN] {
    let block_align = channels.saturating_mul(2);
    let byte_rate = sample_rate.saturating_mul(u32::from(block_align));
    let mut h = [0u8; HEADER_LEN];
    let fields: [(usize, &[u8]); 13] = [
        (0, b"RIFF"),
        (4, &data_len.saturating_add(36).to_le_bytes()),
        (8, b"WAVE"),
        (12, b"fmt "),
        (16, &16u32.to_le_bytes()),
        (20, &1u16.to_le_bytes()),
        (22, &channels.to_le_bytes()),
        (24, &sample_rate.to_le_bytes()),
        (28, &byte_rate.to_le_bytes()),
        (32, &block_align.to_le_bytes()),
        (34, &16u16.to_le_bytes()),
        (36, b"data"),
        (40, &data_len.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        if let Some(dst) = h.get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trips() {
        let h = header(2, 8000, 320);
        let info = parse_header(&h).expect("parse");
        assert_eq!(info.channels, 2);
        assert_eq!(info.sample_rate, 8000);
        assert_eq!(info.data_offset, 44);
        assert_eq!(info.data_size_offset, 40);
        assert_eq!(info.data_len_claimed, 320);
    }

    #[test]
    fn rejects_other_formats() {
        let mut h = header(1, 8000, 0);
        h[20] = 3; // IEEE float
        assert!(matches!(
            parse_header(&h),
            Err(WavError::Unsupported { format: 3, .. })
        ));
        assert_eq!(parse_header(b"RIFX\0\0\0\0WAVE"), Err(WavError::NotWave));
        assert_eq!(parse_header(&h[..30]), Err(WavError::Truncated));
    }

    #[test]
    fn skips_list_chunk() {
        let mut f = Vec::new();
        let h = header(1, 16000, 4);
        f.extend_from_slice(&h[..36]);
        f.extend_from_slice(b"LIST\x05\0\0\0abcde\0");
        f.extend_from_slice(&h[36..]);
        f.extend_from_slice(&[1, 0, 2, 0]);
        let info = parse_header(&f).expect("parse");
        assert_eq!(info.sample_rate, 16000);
        assert_eq!(decode_samples(&f, &info), vec![1, 2]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = parse_header(&bytes);
            let mut b = header(1, 8000, 0).to_vec();
            b.truncate(12);
            b.extend_from_slice(&bytes);
            if let Ok(info) = parse_header(&b) {
                let _ = decode_samples(&b, &info);
            }
        }
    }
}
