//! Audio checks: tone power by Goertzel and prompt detection by normalised
//! cross-correlation, on WAV files read with hound.

use std::path::Path;

/// Mono samples (channel `ch`) and the sample rate of a 16-bit WAV.
pub fn read_channel(path: &Path, ch: usize) -> (Vec<f64>, u32) {
    let mut r =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let spec = r.spec();
    let n = spec.channels as usize;
    let all: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap_or(0)).collect();
    (
        all.iter()
            .skip(ch)
            .step_by(n)
            .map(|&s| f64::from(s))
            .collect(),
        spec.sample_rate,
    )
}

/// Share of the segment's energy at `freq` (about 0.5 for a pure tone at that frequency).
pub fn tone_share(x: &[f64], sr: u32, freq: f64) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let k = 2.0 * (2.0 * std::f64::consts::PI * freq / f64::from(sr)).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v + k * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - k * s1 * s2;
    let e: f64 = x.iter().map(|v| v * v).sum::<f64>().max(1.0);
    p / e / x.len() as f64
}

/// Root-mean-square level.
pub fn rms(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64).sqrt()
}

fn decimate(x: &[f64], by: usize) -> Vec<f64> {
    x.chunks(by)
        .map(|c| c.iter().sum::<f64>() / c.len() as f64)
        .collect()
}

/// Best normalised cross-correlation of `needle` (its first `max_len` samples) anywhere in
/// `hay`, both at `sr`, computed at 2 kHz over every decimation phase (so the result does
/// not depend on how the recording is aligned to the 4-sample blocks). 1.0 is a perfect
/// match.
pub fn best_match(hay: &[f64], needle: &[f64], sr: u32, max_len: usize) -> f64 {
    let by = (sr / 2000).max(1) as usize;
    let n = decimate(&needle[..needle.len().min(max_len)], by);
    let nn: f64 = n.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-9);
    let mut best: f64 = 0.0;
    for phase in 0..by.min(hay.len()) {
        let h = decimate(&hay[phase..], by);
        if n.is_empty() || h.len() < n.len() {
            continue;
        }
        let mut we: f64 = h[..n.len()].iter().map(|v| v * v).sum();
        for i in 0..=h.len() - n.len() {
            if i > 0 {
                we += h[i + n.len() - 1].powi(2) - h[i - 1].powi(2);
            }
            let dot: f64 = h[i..i + n.len()].iter().zip(&n).map(|(a, b)| a * b).sum();
            best = best.max(dot / (nn * we.max(1e-9).sqrt()));
        }
    }
    best
}

/// The largest share of energy at `freq` over 400 ms windows of `x` (sampled at `sr`): a
/// tone heard for part of a recording, wherever it is.
pub fn best_tone_share(x: &[f64], sr: u32, freq: f64) -> f64 {
    let w = (sr as usize * 2 / 5).max(1);
    x.chunks(w)
        .filter(|c| c.len() == w)
        .map(|c| tone_share(c, sr, freq))
        .fold(0.0, f64::max)
}
