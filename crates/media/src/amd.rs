//! Answering-machine detection (AMD) from the cadence and energy of the first seconds of
//! an answered call: a person says a short greeting ("hello?") and waits; a voicemail or a
//! network announcement talks on; a line with nobody says nothing.
//!
//! [`AmdDetector::push`] takes 8 kHz 16-bit PCM in any chunk sizes (RTP packets, a file);
//! a G.711 leg's decoded samples as they are, a G.722 leg's through a
//! [`Downsampler`](crate::Downsampler) first.
//! It cuts the audio into 10 ms frames and calls a frame speech when its energy stands
//! [`AmdConfig::speech_margin_db`] above the background (a floor that drops at once to a
//! quieter frame and rises slowly, so steady noise or hum becomes the floor, not speech)
//! and above an absolute threshold, after a high-pass filter (rumble and mains hum are
//! not speech). Less than [`AmdConfig::min_speech`] of speech frames within 200 ms is a
//! click, not a word. The greeting is the first speech and whatever speech follows it
//! within [`AmdConfig::end_of_greeting`] of silence. Silence there means no word and no
//! weak speech either: half of 100 ms of frames above half the margin (in dB) keeps the
//! greeting from ending (the quiet ends of syllables, speech under line noise) without
//! lengthening it. Then:
//!
//! - a greeting longer than [`AmdConfig::max_human_greeting`] is a **machine** (decided
//!   as soon as it passes that length, it need not end);
//! - a greeting that ends (followed by `end_of_greeting` of silence) is a **human**;
//! - no speech within [`AmdConfig::max_initial_silence`] is **no speech**;
//! - at [`AmdConfig::decision_limit`] without a decision: a greeting longer than half the
//!   human limit is a machine, a shorter one a human, none is no speech.
//!
//! It is a sans-IO core: no clock (time is the audio's own sample count), no allocation
//! after `new`, and total on any input (every `i16` value, any chunk length, empty
//! chunks). Not a speech recogniser and not a beep detector.

use std::time::Duration;

/// Samples per second of the input.
pub const AMD_SAMPLE_RATE: u32 = 8000;
/// Samples per analysis frame (10 ms).
const FRAME: u32 = 80;
const FRAME_MS: u64 = 10;
/// Frames a word's speech frames are counted over (200 ms), as a bit mask.
const WORD_SPAN: u32 = 20;
const WORD_SPAN_MASK: u32 = (1 << WORD_SPAN) - 1;
/// Frames weak speech is counted over (100 ms), as a bit mask.
const WEAK_SPAN: u32 = 10;
const WEAK_SPAN_MASK: u32 = (1 << WEAK_SPAN) - 1;
/// The pole of each high-pass section: `1 / (1 + 2π·200/8000)`.
const HIGH_PASS_POLE: f64 = 0.864;

/// What the first seconds of an answered call sounded like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AmdVerdict {
    /// A short greeting and then silence: a person waiting for an answer.
    Human,
    /// A long greeting: a voicemail, an announcement.
    Machine,
    /// Nothing that sounds like speech.
    NoSpeech,
}

impl AmdVerdict {
    /// A stable name for events, metrics and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            AmdVerdict::Human => "human",
            AmdVerdict::Machine => "machine",
            AmdVerdict::NoSpeech => "no_speech",
        }
    }
}

/// The configuration of an [`AmdDetector`]. Durations are rounded down to 10 ms frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AmdConfig {
    /// No speech starting within this is [`AmdVerdict::NoSpeech`].
    pub max_initial_silence: Duration,
    /// A greeting longer than this is [`AmdVerdict::Machine`].
    pub max_human_greeting: Duration,
    /// Silence that ends the greeting (shorter pauses are between words of one greeting;
    /// weak speech, above half the margin, is not silence).
    pub end_of_greeting: Duration,
    /// Speech shorter than this within 200 ms (a click, a breath) is ignored (at most
    /// 200 ms).
    pub min_speech: Duration,
    /// The verdict is given at the latest after this much audio.
    pub decision_limit: Duration,
    /// A frame quieter than this (dBFS, mean power) is never speech.
    pub silence_threshold_dbfs: f64,
    /// How far (dB) above the background a frame must be to count as speech.
    pub speech_margin_db: f64,
    /// How fast (dB per second) the background estimate rises toward louder audio.
    pub floor_rise_db_per_s: f64,
}

impl Default for AmdConfig {
    fn default() -> AmdConfig {
        AmdConfig {
            max_initial_silence: Duration::from_millis(2500),
            max_human_greeting: Duration::from_millis(1500),
            end_of_greeting: Duration::from_millis(800),
            min_speech: Duration::from_millis(100),
            decision_limit: Duration::from_millis(3000),
            silence_threshold_dbfs: -50.0,
            speech_margin_db: 6.0,
            floor_rise_db_per_s: 6.0,
        }
    }
}

/// Where the detector is in the greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No speech yet.
    Waiting,
    /// In the greeting: it started at frame `start`; its latest word frame is `last`, its
    /// latest frame with any sound of speech (weak included) is `heard`.
    Greeting { start: u64, last: u64, heard: u64 },
    /// Decided.
    Done(AmdVerdict),
}

/// Answering-machine detection over the first seconds of a call's received audio. See the
/// module docs for the rules.
#[derive(Clone, Debug)]
pub struct AmdDetector {
    max_initial_silence: u64,
    max_human_greeting: u64,
    end_of_greeting: u64,
    min_speech: u64,
    decision_limit: u64,
    /// Mean power (of a full-scale-normalised sample) a speech frame must pass.
    abs_threshold: f64,
    margin: f64,
    rise_per_frame: f64,
    /// The partial frame: sum of squares and samples so far.
    acc: f64,
    acc_len: u32,
    /// Whole frames analysed.
    frames: u64,
    /// The background power estimate (None before the first frame).
    floor: Option<f64>,
    /// The speech flags of the latest 32 frames (bit 0: the latest), and the flags of
    /// weak speech (half the margin: the quiet ends of syllables, speech under noise).
    recent: u32,
    recent_weak: u32,
    weak_margin: f64,
    /// Two cascaded first-order high-pass filters' state (input and output of each):
    /// line hum and rumble are not speech.
    hp: [f64; 4],
    phase: Phase,
    /// Speech frames in the greeting (a figure for the decision reason).
    speech_frames: u64,
    decided_at: Option<u64>,
}

fn frames_of(d: Duration) -> u64 {
    (d.as_millis() / u128::from(FRAME_MS)).min(u128::from(u32::MAX)) as u64
}

impl AmdDetector {
    /// A detector at the start of a call's audio.
    pub fn new(cfg: AmdConfig) -> AmdDetector {
        let finite = |v: f64, default: f64| if v.is_finite() { v } else { default };
        let d = AmdConfig::default();
        let threshold_db = finite(cfg.silence_threshold_dbfs, d.silence_threshold_dbfs);
        let margin_db = finite(cfg.speech_margin_db, d.speech_margin_db).max(0.0);
        let rise_db = finite(cfg.floor_rise_db_per_s, d.floor_rise_db_per_s).max(0.0);
        AmdDetector {
            max_initial_silence: frames_of(cfg.max_initial_silence),
            max_human_greeting: frames_of(cfg.max_human_greeting),
            end_of_greeting: frames_of(cfg.end_of_greeting).max(1),
            min_speech: frames_of(cfg.min_speech).clamp(1, u64::from(WORD_SPAN)),
            decision_limit: frames_of(cfg.decision_limit).max(1),
            abs_threshold: 10f64.powf(threshold_db / 10.0),
            margin: 10f64.powf(margin_db / 10.0),
            rise_per_frame: 10f64.powf(rise_db * FRAME_MS as f64 / 1000.0 / 10.0),
            acc: 0.0,
            acc_len: 0,
            frames: 0,
            floor: None,
            recent: 0,
            recent_weak: 0,
            weak_margin: 10f64.powf(margin_db / 20.0),
            hp: [0.0; 4],
            phase: Phase::Waiting,
            speech_frames: 0,
            decided_at: None,
        }
    }

    /// Feeds received audio (8 kHz, 16-bit, mono). Returns the verdict once, on the call
    /// that decides it; `None` before and after (see [`AmdDetector::verdict`]).
    pub fn push(&mut self, pcm_8khz: &[i16]) -> Option<AmdVerdict> {
        if self.verdict().is_some() {
            return None;
        }
        for &sample in pcm_8khz {
            let x = self.high_pass(f64::from(sample) / 32768.0);
            self.acc += x * x;
            self.acc_len += 1;
            if self.acc_len == FRAME {
                let power = self.acc / f64::from(FRAME);
                self.acc = 0.0;
                self.acc_len = 0;
                if let Some(verdict) = self.frame(power) {
                    return Some(verdict);
                }
            }
        }
        None
    }

    /// The verdict, once decided.
    pub fn verdict(&self) -> Option<AmdVerdict> {
        match self.phase {
            Phase::Done(v) => Some(v),
            _ => None,
        }
    }

    /// How much audio the verdict took (None before it).
    pub fn decided_after(&self) -> Option<Duration> {
        self.decided_at.map(|f| Duration::from_millis(f * FRAME_MS))
    }

    /// Audio analysed so far (whole 10 ms frames).
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(self.frames.saturating_mul(FRAME_MS))
    }

    /// The greeting's speech so far (its speech frames, pauses between words not counted).
    pub fn greeting_speech(&self) -> Duration {
        Duration::from_millis(self.speech_frames.saturating_mul(FRAME_MS))
    }

    /// Two first-order high-pass sections (about 200 Hz each) in cascade.
    fn high_pass(&mut self, x: f64) -> f64 {
        let [x1, y1, x2, y2] = self.hp;
        let a = HIGH_PASS_POLE;
        let first = a * (y1 + x - x1);
        let second = a * (y2 + first - x2);
        self.hp = [x, first, first, second];
        second
    }

    /// One 10 ms frame of mean power `power` (full scale = 1.0).
    fn frame(&mut self, power: f64) -> Option<AmdVerdict> {
        let index = self.frames;
        self.frames += 1;
        // Speech is judged against the background before this frame; the first frame sets
        // the background and is never speech.
        let reference = self.floor.unwrap_or(power);
        self.floor = Some(match self.floor {
            None => power,
            Some(f) => (f * self.rise_per_frame).min(power),
        });
        let speech = power > self.abs_threshold && power > reference * self.margin;
        self.recent = (self.recent << 1) | u32::from(speech);
        let weak = power > self.abs_threshold && power > reference * self.weak_margin;
        self.recent_weak = (self.recent_weak << 1) | u32::from(weak);
        // Sound of speech: half of the last 100 ms weakly speech (stray noise frames are
        // rarer than that). It keeps a greeting from ending, but does not lengthen it.
        let sounding = (self.recent_weak & WEAK_SPAN_MASK).count_ones() >= WEAK_SPAN / 2;
        // Speech is often broken into syllables and bursts: a word is `min_speech` of
        // speech frames within the last WORD_SPAN frames, and starts at the oldest of them.
        let window = self.recent & WORD_SPAN_MASK;
        let word = speech && u64::from(window.count_ones()) >= self.min_speech;
        match self.phase {
            Phase::Waiting if word => {
                let oldest = u64::from(31 - window.leading_zeros());
                self.phase = Phase::Greeting {
                    start: index.saturating_sub(oldest),
                    last: index,
                    heard: index,
                };
                self.speech_frames = u64::from(window.count_ones());
            }
            Phase::Waiting if self.frames >= self.max_initial_silence => {
                return self.decide(AmdVerdict::NoSpeech);
            }
            Phase::Greeting {
                start,
                mut last,
                mut heard,
            } => {
                if word {
                    self.speech_frames += 1;
                    last = index;
                }
                if word || sounding {
                    heard = index;
                }
                self.phase = Phase::Greeting { start, last, heard };
                if index - heard >= self.end_of_greeting {
                    return self.decide(AmdVerdict::Human);
                }
                if last + 1 - start > self.max_human_greeting {
                    return self.decide(AmdVerdict::Machine);
                }
            }
            _ => {}
        }
        if self.frames >= self.decision_limit {
            let verdict = match self.phase {
                Phase::Greeting { start, last, .. }
                    if 2 * (last + 1 - start) > self.max_human_greeting =>
                {
                    AmdVerdict::Machine
                }
                Phase::Greeting { .. } => AmdVerdict::Human,
                _ => AmdVerdict::NoSpeech,
            };
            return self.decide(verdict);
        }
        None
    }

    fn decide(&mut self, verdict: AmdVerdict) -> Option<AmdVerdict> {
        self.phase = Phase::Done(verdict);
        self.decided_at = Some(self.frames);
        Some(verdict)
    }
}

#[cfg(test)]
mod tests;
