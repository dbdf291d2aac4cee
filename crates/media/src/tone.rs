//! Tone generation: single sine tones and DTMF dual tones (ITU-T Q.23 frequencies).

use std::f64::consts::TAU;

/// DTMF row frequencies in Hz (low group).
pub const DTMF_ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
/// DTMF column frequencies in Hz (high group).
pub const DTMF_COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// The keypad, indexed `[row][col]`.
pub const DTMF_KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Row and column frequencies of a DTMF key (`0-9`, `*`, `#`, `A-D`), or `None`.
pub fn dtmf_frequencies(digit: char) -> Option<(f64, f64)> {
    let d = digit.to_ascii_uppercase();
    for (r, row) in DTMF_KEYS.iter().enumerate() {
        for (c, key) in row.iter().enumerate() {
            if *key == d {
                return Some((DTMF_ROWS[r], DTMF_COLS[c]));
            }
        }
    }
    None
}

/// A phase-continuous generator of up to two summed sine tones.
#[derive(Debug, Clone)]
pub struct ToneGenerator {
    sample_rate: f64,
    freqs: [f64; 2],
    amps: [f64; 2],
    phase: [f64; 2],
}

impl ToneGenerator {
    /// A silent generator at `sample_rate` Hz.
    pub fn new(sample_rate: u32) -> ToneGenerator {
        ToneGenerator {
            sample_rate: f64::from(sample_rate),
            freqs: [0.0; 2],
            amps: [0.0; 2],
            phase: [0.0; 2],
        }
    }

    /// A generator producing one sine of `freq` Hz with peak `amplitude` (in sample units).
    pub fn single(sample_rate: u32, freq: f64, amplitude: f64) -> ToneGenerator {
        let mut g = ToneGenerator::new(sample_rate);
        g.set_single(freq, amplitude);
        g
    }

    /// A generator producing the DTMF pair for `digit`, each tone at peak `amplitude`.
    /// Returns `None` for a character that is not a DTMF key.
    pub fn dtmf(sample_rate: u32, digit: char, amplitude: f64) -> Option<ToneGenerator> {
        let mut g = ToneGenerator::new(sample_rate);
        g.set_dtmf(digit, amplitude).then_some(g)
    }

    /// Switches to a single tone (phase continues).
    pub fn set_single(&mut self, freq: f64, amplitude: f64) {
        self.freqs = [freq, 0.0];
        self.amps = [amplitude, 0.0];
    }

    /// Switches to a DTMF pair; returns `false` (unchanged) for an unknown key.
    pub fn set_dtmf(&mut self, digit: char, amplitude: f64) -> bool {
        match dtmf_frequencies(digit) {
            Some((r, c)) => {
                self.freqs = [r, c];
                self.amps = [amplitude, amplitude];
                true
            }
            None => false,
        }
    }

    /// Switches to silence.
    pub fn set_silent(&mut self) {
        self.amps = [0.0; 2];
    }

    /// Fills `out` with the next samples (saturating to 16 bits).
    pub fn fill(&mut self, out: &mut [i16]) {
        for o in out.iter_mut() {
            let mut v = 0.0;
            for k in 0..2 {
                v += self.amps[k] * self.phase[k].sin();
                self.phase[k] += TAU * self.freqs[k] / self.sample_rate;
                if self.phase[k] >= TAU {
                    self.phase[k] -= TAU;
                }
            }
            *o = v.round().clamp(-32768.0, 32767.0) as i16;
        }
    }

    /// Adds the next samples to `out` (saturating), for mixing tones with other audio.
    pub fn add_to(&mut self, out: &mut [i16]) {
        let mut buf = [0i16; 64];
        for chunk in out.chunks_mut(64) {
            let b = &mut buf[..chunk.len()];
            self.fill(b);
            for (o, s) in chunk.iter_mut().zip(b.iter()) {
                *o = o.saturating_add(*s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_sixteen_keys_have_frequencies() {
        for k in "0123456789*#ABCD".chars() {
            assert!(dtmf_frequencies(k).is_some(), "{k}");
        }
        assert_eq!(dtmf_frequencies('5'), Some((770.0, 1336.0)));
        assert_eq!(dtmf_frequencies('x'), None);
    }

    #[test]
    fn single_tone_has_expected_peak_and_period() {
        let mut g = ToneGenerator::single(8000, 1000.0, 1000.0);
        let mut b = [0i16; 16];
        g.fill(&mut b);
        // 1 kHz at 8 kHz: period of 8 samples, peak at sample 2.
        assert_eq!(b[0], 0);
        assert_eq!(b[2], 1000);
        assert_eq!(b[6], -1000);
        assert_eq!(b[8..], b[..8]);
    }
}
