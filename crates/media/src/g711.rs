//! ITU-T G.711 µ-law (PCMU) and A-law (PCMA), table-driven.
//!
//! Encoding indexes a table by the top 14 (µ-law) or 13 (A-law) bits of the sample, which
//! is exactly the resolution G.711 quantises from; decoding is a 256-entry table. The tables
//! are computed at compile time from the segment/mantissa definition in G.711 §2/§3.

/// µ-law bias added to the magnitude before segment search (G.711 §3.2, 14-bit domain).
const ULAW_BIAS: i32 = 0x21;
/// Largest 14-bit magnitude µ-law can represent before the bias.
const ULAW_CLIP: i32 = 8159;

const fn ulaw_encode_14(sample14: i32) -> u8 {
    // sample14 is a signed 14-bit value.
    // Negative values use the one's complement magnitude, as in ITU-T G.191's reference.
    let (mut mag, mask) = if sample14 < 0 {
        (-sample14 - 1, 0x7Fu8)
    } else {
        (sample14, 0xFFu8)
    };
    if mag > ULAW_CLIP {
        mag = ULAW_CLIP;
    }
    mag += ULAW_BIAS;
    // Segment: position of the highest set bit above bit 5.
    let mut seg = 0;
    while seg < 8 && mag > (0x40 << seg) - 1 {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mant = (mag >> (seg + 1)) & 0x0F;
    (((seg << 4) | mant) as u8) ^ mask
}

const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let mant = (u & 0x0F) as i32;
    let seg = ((u >> 4) & 0x07) as i32;
    let t = (((mant << 3) + (ULAW_BIAS << 2)) << seg) - (ULAW_BIAS << 2);
    if u & 0x80 != 0 {
        -t as i16
    } else {
        t as i16
    }
}

const fn alaw_encode_13(sample13: i32) -> u8 {
    let (mag, mask) = if sample13 >= 0 {
        (sample13, 0xD5u8)
    } else {
        (-sample13 - 1, 0x55u8)
    };
    let mut seg = 0;
    while seg < 8 && mag > (0x20 << seg) - 1 {
        seg += 1;
    }
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mant = if seg < 2 {
        (mag >> 1) & 0x0F
    } else {
        (mag >> seg) & 0x0F
    };
    (((seg << 4) | mant) as u8) ^ mask
}

const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mant = ((a & 0x0F) as i32) << 4;
    let seg = ((a >> 4) & 0x07) as i32;
    let t = match seg {
        0 => mant + 8,
        _ => (mant + 0x108) << (seg - 1),
    };
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_ulaw_encode() -> [u8; 1 << 14] {
    let mut t = [0u8; 1 << 14];
    let mut i = 0;
    while i < (1 << 14) {
        // Index is the 14-bit two's complement pattern.
        let s = if i >= (1 << 13) {
            i as i32 - (1 << 14)
        } else {
            i as i32
        };
        t[i] = ulaw_encode_14(s);
        i += 1;
    }
    t
}

const fn build_alaw_encode() -> [u8; 1 << 13] {
    let mut t = [0u8; 1 << 13];
    let mut i = 0;
    while i < (1 << 13) {
        let s = if i >= (1 << 12) {
            i as i32 - (1 << 13)
        } else {
            i as i32
        };
        t[i] = alaw_encode_13(s);
        i += 1;
    }
    t
}

const fn build_decode(ulaw: bool) -> [i16; 256] {
    let mut t = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if ulaw {
            ulaw_decode(i as u8)
        } else {
            alaw_decode(i as u8)
        };
        i += 1;
    }
    t
}

static ULAW_ENCODE: [u8; 1 << 14] = build_ulaw_encode();
static ALAW_ENCODE: [u8; 1 << 13] = build_alaw_encode();
static ULAW_DECODE: [i16; 256] = build_decode(true);
static ALAW_DECODE: [i16; 256] = build_decode(false);

/// Encodes one 16-bit linear sample to µ-law.
#[inline]
pub fn ulaw_encode(sample: i16) -> u8 {
    ULAW_ENCODE[((sample >> 2) as u16 & 0x3FFF) as usize]
}

/// Decodes one µ-law byte to a 16-bit linear sample.
#[inline]
pub fn ulaw_decode_sample(code: u8) -> i16 {
    ULAW_DECODE[code as usize]
}

/// Encodes one 16-bit linear sample to A-law.
#[inline]
pub fn alaw_encode(sample: i16) -> u8 {
    ALAW_ENCODE[((sample >> 3) as u16 & 0x1FFF) as usize]
}

/// Decodes one A-law byte to a 16-bit linear sample.
#[inline]
pub fn alaw_decode_sample(code: u8) -> i16 {
    ALAW_DECODE[code as usize]
}

/// Encodes `pcm` into `out` as µ-law; returns the number of bytes written
/// (`min(pcm.len(), out.len())`).
pub fn ulaw_encode_slice(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, s) in out.iter_mut().zip(pcm) {
        *o = ulaw_encode(*s);
    }
    n
}

/// Decodes µ-law `codes` into `out`; returns the number of samples written.
pub fn ulaw_decode_slice(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, c) in out.iter_mut().zip(codes) {
        *o = ulaw_decode_sample(*c);
    }
    n
}

/// Encodes `pcm` into `out` as A-law; returns the number of bytes written.
pub fn alaw_encode_slice(pcm: &[i16], out: &mut [u8]) -> usize {
    let n = pcm.len().min(out.len());
    for (o, s) in out.iter_mut().zip(pcm) {
        *o = alaw_encode(*s);
    }
    n
}

/// Decodes A-law `codes` into `out`; returns the number of samples written.
pub fn alaw_decode_slice(codes: &[u8], out: &mut [i16]) -> usize {
    let n = codes.len().min(out.len());
    for (o, c) in out.iter_mut().zip(codes) {
        *o = alaw_decode_sample(*c);
    }
    n
}

/// Transcodes µ-law directly to A-law through a 256-entry table (no linear step).
pub fn ulaw_to_alaw(code: u8) -> u8 {
    ULAW_TO_ALAW[code as usize]
}

/// Transcodes A-law directly to µ-law through a 256-entry table.
pub fn alaw_to_ulaw(code: u8) -> u8 {
    ALAW_TO_ULAW[code as usize]
}

const fn build_cross(from_ulaw: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if from_ulaw {
            alaw_encode_13((ulaw_decode(i as u8) as i32) >> 3)
        } else {
            ulaw_encode_14((alaw_decode(i as u8) as i32) >> 2)
        };
        i += 1;
    }
    t
}

static ULAW_TO_ALAW: [u8; 256] = build_cross(true);
static ALAW_TO_ULAW: [u8; 256] = build_cross(false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        // Silence encodes to 0xFF; the extremes decode to ±32124 (G.711 Table 2a).
        assert_eq!(ulaw_encode(0), 0xFF);
        assert_eq!(ulaw_encode(-1), 0x7F);
        assert_eq!(ulaw_decode_sample(0xFF), 0);
        assert_eq!(ulaw_decode_sample(0x7F), 0);
        assert_eq!(ulaw_decode_sample(0x80), 32124);
        assert_eq!(ulaw_decode_sample(0x00), -32124);
        assert_eq!(ulaw_encode(i16::MAX), 0x80);
        assert_eq!(ulaw_encode(i16::MIN), 0x00);
        // First segment step: decoded values 8 apart.
        assert_eq!(ulaw_decode_sample(0xFE), 8);
        assert_eq!(ulaw_decode_sample(0xEF), 132);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(alaw_encode(0), 0xD5);
        assert_eq!(alaw_encode(-1), 0x55);
        assert_eq!(alaw_decode_sample(0xD5), 8);
        assert_eq!(alaw_decode_sample(0x55), -8);
        assert_eq!(alaw_decode_sample(0xAA), 32256);
        assert_eq!(alaw_decode_sample(0x2A), -32256);
        assert_eq!(alaw_encode(i16::MAX), 0xAA);
        assert_eq!(alaw_encode(i16::MIN), 0x2A);
    }

    #[test]
    fn decode_then_encode_is_identity_on_codes() {
        for c in 0..=255u8 {
            // µ-law has two zeros (0x7F and 0xFF); both decode to 0 which encodes to 0xFF.
            let back = ulaw_encode(ulaw_decode_sample(c));
            if c == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, c, "ulaw code {c:#04x}");
            }
            assert_eq!(alaw_encode(alaw_decode_sample(c)), c, "alaw code {c:#04x}");
        }
    }

    #[test]
    fn decode_tables_are_monotonic_and_odd_symmetric() {
        // Codes 0x80..=0xFF (positive) decode in decreasing order as the code grows.
        for c in 0x80..0xFFu8 {
            assert!(ulaw_decode_sample(c) > ulaw_decode_sample(c + 1));
            assert_eq!(ulaw_decode_sample(c), -ulaw_decode_sample(c & 0x7F));
            assert_eq!(alaw_decode_sample(c), -alaw_decode_sample(c & 0x7F));
        }
    }

    #[test]
    fn full_range_round_trip_error_is_within_half_a_step() {
        for s in i16::MIN..=i16::MAX {
            let x = s as i32;
            let u = ulaw_decode_sample(ulaw_encode(s)) as i32;
            let a = alaw_decode_sample(alaw_encode(s)) as i32;
            let mag = x.abs();
            // Half a quantisation step is at most 1/32 of the magnitude (plus the 2 or 3
            // LSBs dropped before the lookup); the lowest segments have fixed steps.
            if mag < 32000 {
                assert!((x - u).abs() <= (mag + 132) / 32 + 8, "ulaw {s} -> {u}");
                assert!((x - a).abs() <= mag / 32 + 16, "alaw {s} -> {a}");
            }
            // Sign is preserved (or the value quantises to the zero level).
            assert!(u == 0 || (u > 0) == (x >= 0) || x.abs() < 8);
        }
    }

    #[test]
    fn cross_tables_match_linear_path() {
        for c in 0..=255u8 {
            assert_eq!(ulaw_to_alaw(c), alaw_encode(ulaw_decode_sample(c)));
            assert_eq!(alaw_to_ulaw(c), ulaw_encode(alaw_decode_sample(c)));
        }
    }
}
