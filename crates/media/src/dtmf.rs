//! In-band DTMF detection (ITU-T Q.24 style) with the Goertzel algorithm.
//!
//! Audio is cut into 20 ms blocks (160 samples at 8 kHz). For each block the detector
//! measures the power at the eight DTMF frequencies and accepts a key only if:
//!
//! - the strongest row and column tones are each above an absolute level,
//! - each beats the other tones of its group by 6 dB (rejects chords and speech),
//! - their ratio (twist) is within 8 dB,
//! - together they hold most of the block's energy (rejects broadband speech and music),
//! - the second harmonics are weak (a voice's harmonics would fail this).
//!
//! A key is reported after two consecutive blocks agree (so tones shorter than ~40 ms are
//! ignored) and released after two blocks without it (so a one-block dropout does not
//! produce a second press). Time is an input: each call carries the capture time of its
//! first sample, and events carry the time of the block where the key was first seen.

use std::time::{Duration, Instant};

use crate::tone::{DTMF_COLS, DTMF_KEYS, DTMF_ROWS};

const SAMPLE_RATE: f32 = 8000.0;
/// Goertzel block length (20 ms at 8 kHz).
pub const BLOCK: usize = 160;
/// Blocks of agreement before a key is reported.
const ON_BLOCKS: u8 = 2;
/// Blocks without the key before it is released.
const OFF_BLOCKS: u8 = 2;

/// Detector thresholds; `Default` suits telephone audio at 8 kHz.
#[derive(Debug, Clone, Copy)]
pub struct DtmfConfig {
    /// Minimum peak amplitude of each tone, in 16-bit sample units (default 150, ~-47 dBFS).
    pub min_amplitude: f32,
    /// Maximum row/column power ratio either way, in dB (default 8).
    pub max_twist_db: f32,
    /// How much the winning tone must exceed the others in its group, in dB (default 6).
    pub min_relative_db: f32,
    /// Share of block energy the two tones must carry, 0..1 (default 0.6).
    pub min_tone_share: f32,
    /// Maximum second-harmonic to fundamental power ratio, in dB (default -12).
    pub max_harmonic_db: f32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            min_amplitude: 150.0,
            max_twist_db: 8.0,
            min_relative_db: 6.0,
            min_tone_share: 0.6,
            max_harmonic_db: -12.0,
        }
    }
}

/// What the detector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfEvent {
    /// A key went down; `at` is the start of the first block it was seen in.
    Pressed {
        /// `0-9`, `*`, `#` or `A-D`.
        digit: char,
        /// Start of the first block holding the tone.
        at: Instant,
    },
    /// The key went up; `duration` counts the blocks the tone was seen in.
    Released {
        /// The key that was down.
        digit: char,
        /// End of the last block holding the tone.
        at: Instant,
        /// How long the tone was seen.
        duration: Duration,
    },
}

#[derive(Debug, Clone, Copy)]
struct Goertzel {
    coeff: f32,
    s1: f32,
    s2: f32,
}

impl Goertzel {
    fn new(freq: f64) -> Goertzel {
        let w = 2.0 * std::f64::consts::PI * freq / f64::from(SAMPLE_RATE);
        Goertzel {
            coeff: (2.0 * w.cos()) as f32,
            s1: 0.0,
            s2: 0.0,
        }
    }

    #[inline]
    fn push(&mut self, x: f32) {
        let s0 = x + self.coeff * self.s1 - self.s2;
        self.s2 = self.s1;
        self.s1 = s0;
    }

    /// Squared magnitude; resets the state for the next block.
    fn take_power(&mut self) -> f32 {
        let p = self.s1 * self.s1 + self.s2 * self.s2 - self.coeff * self.s1 * self.s2;
        self.s1 = 0.0;
        self.s2 = 0.0;
        p
    }
}

/// Goertzel DTMF detector over 8 kHz 16-bit PCM; a sans-IO core.
///
/// Feed audio with [`handle_samples`](Self::handle_samples) in any chunk size, then drain
/// [`poll_event`](Self::poll_event). Allocation-free after construction.
#[derive(Debug, Clone)]
pub struct DtmfDetector {
    cfg: DtmfConfig,
    /// Rows 0..4, columns 4..8, row harmonics 8..12, column harmonics 12..16.
    filters: [Goertzel; 16],
    energy: f32,
    filled: usize,
    block_start: Option<Instant>,
    candidate: Option<char>,
    candidate_blocks: u8,
    candidate_start: Option<Instant>,
    down: Option<(char, Instant)>,
    miss_blocks: u8,
    last_block_end: Option<Instant>,
    events: [Option<DtmfEvent>; 4],
    ev_head: usize,
    ev_len: usize,
}

impl Default for DtmfDetector {
    fn default() -> Self {
        Self::new(DtmfConfig::default())
    }
}

impl DtmfDetector {
    /// A detector with the given thresholds.
    pub fn new(cfg: DtmfConfig) -> DtmfDetector {
        let mut filters = [Goertzel::new(0.0); 16];
        for i in 0..4 {
            filters[i] = Goertzel::new(DTMF_ROWS[i]);
            filters[4 + i] = Goertzel::new(DTMF_COLS[i]);
            filters[8 + i] = Goertzel::new(2.0 * DTMF_ROWS[i]);
            filters[12 + i] = Goertzel::new(2.0 * DTMF_COLS[i]);
        }
        DtmfDetector {
            cfg,
            filters,
            energy: 0.0,
            filled: 0,
            block_start: None,
            candidate: None,
            candidate_blocks: 0,
            candidate_start: None,
            down: None,
            miss_blocks: 0,
            last_block_end: None,
            events: [None; 4],
            ev_head: 0,
            ev_len: 0,
        }
    }

    /// Feeds 8 kHz samples; `now` is the capture time of `samples[0]`. Call for every
    /// received frame (decoded), then drain [`poll_event`](Self::poll_event).
    pub fn handle_samples(&mut self, now: Instant, samples: &[i16]) {
        for (i, &s) in samples.iter().enumerate() {
            if self.filled == 0 {
                self.block_start = Some(now + sample_time(i));
            }
            let x = f32::from(s);
            self.energy += x * x;
            for f in self.filters.iter_mut() {
                f.push(x);
            }
            self.filled += 1;
            if self.filled == BLOCK {
                let start = self.block_start.unwrap_or(now);
                self.finish_block(start);
            }
        }
    }

    /// The next detection event, if any. Call after each `handle_samples` until `None`.
    pub fn poll_event(&mut self) -> Option<DtmfEvent> {
        if self.ev_len == 0 {
            return None;
        }
        let ev = self.events[self.ev_head].take();
        self.ev_head = (self.ev_head + 1) % self.events.len();
        self.ev_len -= 1;
        ev
    }

    /// The key currently held down, if any.
    pub fn current(&self) -> Option<char> {
        self.down.map(|(d, _)| d)
    }

    fn push_event(&mut self, ev: DtmfEvent) {
        if self.ev_len == self.events.len() {
            // Drop the oldest: the driver is not draining; keep the newest state.
            self.ev_head = (self.ev_head + 1) % self.events.len();
            self.ev_len -= 1;
        }
        let at = (self.ev_head + self.ev_len) % self.events.len();
        self.events[at] = Some(ev);
        self.ev_len += 1;
    }

    fn finish_block(&mut self, start: Instant) {
        let mut p = [0f32; 16];
        for (o, f) in p.iter_mut().zip(self.filters.iter_mut()) {
            *o = f.take_power();
        }
        let energy = std::mem::take(&mut self.energy);
        self.filled = 0;
        let end = start + sample_time(BLOCK);
        self.last_block_end = Some(end);
        let key = self.classify(&p, energy);

        match key {
            Some(k) if self.candidate == Some(k) => {
                self.candidate_blocks = self.candidate_blocks.saturating_add(1);
            }
            Some(k) => {
                self.candidate = Some(k);
                self.candidate_blocks = 1;
                self.candidate_start = Some(start);
            }
            None => {
                self.candidate = None;
                self.candidate_blocks = 0;
            }
        }

        if let Some((d, since)) = self.down {
            if key == Some(d) {
                self.miss_blocks = 0;
                return;
            }
            self.miss_blocks += 1;
            // A different valid key also ends the current one (after debouncing).
            if self.miss_blocks >= OFF_BLOCKS
                || (key.is_some() && self.candidate_blocks >= ON_BLOCKS)
            {
                let released = end - sample_time(BLOCK * usize::from(self.miss_blocks));
                self.push_event(DtmfEvent::Released {
                    digit: d,
                    at: released,
                    duration: released.saturating_duration_since(since),
                });
                self.down = None;
                self.miss_blocks = 0;
            } else {
                return;
            }
        }
        if let (Some(k), true) = (self.candidate, self.candidate_blocks >= ON_BLOCKS) {
            let at = self.candidate_start.unwrap_or(start);
            self.down = Some((k, at));
            self.miss_blocks = 0;
            self.push_event(DtmfEvent::Pressed { digit: k, at });
        }
    }

    fn classify(&self, p: &[f32; 16], energy: f32) -> Option<char> {
        let (r, pr) = argmax(&p[0..4]);
        let (c, pc) = argmax(&p[4..8]);
        // Power of a sine of amplitude A over N samples is (A*N/2)^2.
        let min_power = (self.cfg.min_amplitude * BLOCK as f32 / 2.0).powi(2);
        if pr < min_power || pc < min_power {
            return None;
        }
        let twist = db(pr / pc).abs();
        if twist > self.cfg.max_twist_db {
            return None;
        }
        let rel = self.cfg.min_relative_db;
        for (i, &x) in p[0..4].iter().enumerate() {
            if i != r && db(pr / x.max(1e-9)) < rel {
                return None;
            }
        }
        for (i, &x) in p[4..8].iter().enumerate() {
            if i != c && db(pc / x.max(1e-9)) < rel {
                return None;
            }
        }
        // A pure tone pair puts (pr + pc) = energy * N / 2.
        let share = (pr + pc) * 2.0 / (BLOCK as f32 * energy.max(1e-9));
        if share < self.cfg.min_tone_share {
            return None;
        }
        if db(p[8 + r] / pr) > self.cfg.max_harmonic_db
            || db(p[12 + c] / pc) > self.cfg.max_harmonic_db
        {
            return None;
        }
        DTMF_KEYS.get(r).and_then(|row| row.get(c)).copied()
    }
}

fn argmax(x: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::MIN);
    for (i, &v) in x.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

fn db(ratio: f32) -> f32 {
    10.0 * ratio.max(1e-12).log10()
}

fn sample_time(samples: usize) -> Duration {
    Duration::from_micros(samples as u64 * 125)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone::ToneGenerator;

    #[test]
    fn one_digit_gives_one_press_and_one_release() {
        let t0 = crate::test_epoch();
        let mut det = DtmfDetector::default();
        let mut g = ToneGenerator::dtmf(8000, '7', 6000.0).expect("key");
        let mut buf = [0i16; 800];
        g.fill(&mut buf); // 100 ms tone
        det.handle_samples(t0, &buf);
        det.handle_samples(t0 + Duration::from_millis(100), &[0; 800]);
        let mut evs = Vec::new();
        while let Some(e) = det.poll_event() {
            evs.push(e);
        }
        assert_eq!(evs.len(), 2, "{evs:?}");
        assert_eq!(evs[0], DtmfEvent::Pressed { digit: '7', at: t0 });
        match evs[1] {
            DtmfEvent::Released {
                digit, duration, ..
            } => {
                assert_eq!(digit, '7');
                assert_eq!(duration, Duration::from_millis(100));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn short_blip_is_ignored() {
        let t0 = crate::test_epoch();
        let mut det = DtmfDetector::default();
        let mut g = ToneGenerator::dtmf(8000, '1', 6000.0).expect("key");
        let mut buf = [0i16; 160];
        g.fill(&mut buf); // 20 ms: one block
        det.handle_samples(t0, &buf);
        det.handle_samples(t0, &[0; 800]);
        assert_eq!(det.poll_event(), None);
    }
}
