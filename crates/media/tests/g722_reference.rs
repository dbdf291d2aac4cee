//! G.722 against reference vectors produced by FFmpeg's independent implementation
//! (`tests/fixtures/README.md` says how they were made).

use switchboard_media::{G722Decoder, G722Encoder};

fn s16le(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect()
}

const INPUT: &[u8] = include_bytes!("fixtures/g722-input-16k.s16le");
const FFMPEG_CODES: &[u8] = include_bytes!("fixtures/g722-ffmpeg.g722");
const FFMPEG_DECODED: &[u8] = include_bytes!("fixtures/g722-ffmpeg-decoded.s16le");

#[test]
fn encoder_matches_ffmpeg_bit_exactly() {
    let pcm = s16le(INPUT);
    let mut enc = G722Encoder::new();
    let mut codes = vec![0u8; pcm.len() / 2];
    assert_eq!(enc.encode(&pcm, &mut codes), FFMPEG_CODES.len());
    let first_diff = codes.iter().zip(FFMPEG_CODES).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "first differing octet");
}

#[test]
fn decoder_matches_ffmpeg_bit_exactly() {
    let mut dec = G722Decoder::new();
    let mut out = vec![0i16; FFMPEG_CODES.len() * 2];
    assert_eq!(dec.decode(FFMPEG_CODES, &mut out), out.len());
    let want = s16le(FFMPEG_DECODED);
    let first_diff = out.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "first differing sample");
}
