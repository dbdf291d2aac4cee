use super::*;

const RATE: usize = 8000;

/// A deterministic noise source (xorshift), amplitude `amp` peak.
fn noise(len: usize, amp: f64, seed: u32) -> Vec<i16> {
    let mut s = seed.max(1);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            ((f64::from(s) / f64::from(u32::MAX) * 2.0 - 1.0) * amp) as i16
        })
        .collect()
}

/// Syllable-like bursts: a 220 Hz tone with harmonics, `on_ms` on and `off_ms` off,
/// over `ms`, on top of quiet noise.
fn talk(ms: usize, on_ms: usize, off_ms: usize) -> Vec<i16> {
    let mut out = noise(ms * RATE / 1000, 60.0, 7);
    for (i, s) in out.iter_mut().enumerate() {
        let t_ms = i * 1000 / RATE;
        if t_ms % (on_ms + off_ms) < on_ms {
            let t = i as f64 / RATE as f64;
            let v = (t * 220.0 * std::f64::consts::TAU).sin() * 6000.0
                + (t * 660.0 * std::f64::consts::TAU).sin() * 2000.0;
            *s = s.saturating_add(v as i16);
        }
    }
    out
}

fn quiet(ms: usize) -> Vec<i16> {
    noise(ms * RATE / 1000, 60.0, 11)
}

fn run(audio: &[i16], chunk: usize) -> (Option<AmdVerdict>, Option<Duration>) {
    let mut d = AmdDetector::new(AmdConfig::default());
    let mut got = None;
    for c in audio.chunks(chunk.max(1)) {
        if let Some(v) = d.push(c) {
            assert!(got.is_none(), "a verdict is returned once");
            got = Some(v);
        }
    }
    assert_eq!(got, d.verdict());
    (got, d.decided_after())
}

fn concat(parts: &[Vec<i16>]) -> Vec<i16> {
    parts.concat()
}

#[test]
fn a_short_hello_then_silence_is_a_human() {
    let audio = concat(&[quiet(400), talk(500, 200, 60), quiet(3000)]);
    let (v, at) = run(&audio, 160);
    assert_eq!(v, Some(AmdVerdict::Human));
    // Onset 0.4 s + 0.5 s greeting + 0.8 s silence.
    let at = at.unwrap();
    assert!(
        at >= Duration::from_millis(1600) && at <= Duration::from_millis(1800),
        "{at:?}"
    );
}

#[test]
fn a_long_greeting_is_a_machine_before_it_ends() {
    let audio = concat(&[quiet(300), talk(5000, 250, 120), quiet(1000)]);
    let (v, at) = run(&audio, 160);
    assert_eq!(v, Some(AmdVerdict::Machine));
    let at = at.unwrap();
    assert!(at <= Duration::from_millis(2000), "{at:?}");
}

#[test]
fn silence_and_steady_noise_are_no_speech() {
    let silent = vec![0i16; 4 * RATE];
    assert_eq!(run(&silent, 160).0, Some(AmdVerdict::NoSpeech));
    let hiss = noise(4 * RATE, 3000.0, 3);
    let (v, at) = run(&hiss, 160);
    assert_eq!(v, Some(AmdVerdict::NoSpeech));
    assert_eq!(at, Some(Duration::from_millis(2500)));
}

#[test]
fn chunking_does_not_change_the_verdict() {
    let audio = concat(&[quiet(350), talk(700, 180, 80), quiet(2500)]);
    let reference = run(&audio, 160);
    for chunk in [1, 7, 80, 81, 333, 4000, audio.len()] {
        assert_eq!(run(&audio, chunk), reference, "chunk {chunk}");
    }
}

#[test]
fn a_greeting_still_going_at_the_limit_is_decided_by_its_length() {
    // Speech starts late (2.2 s) and is still going at 3 s: 0.8 s of greeting, more
    // than half the human limit: a machine, decided at the limit.
    let audio = concat(&[quiet(2200), talk(2000, 400, 100)]);
    let (v, at) = run(&audio, 80);
    assert_eq!(v, Some(AmdVerdict::Machine));
    assert_eq!(at, Some(Duration::from_millis(3000)));
}

#[test]
fn total_on_any_input() {
    let mut d = AmdDetector::new(AmdConfig {
        max_initial_silence: Duration::ZERO,
        max_human_greeting: Duration::MAX,
        end_of_greeting: Duration::ZERO,
        min_speech: Duration::ZERO,
        decision_limit: Duration::MAX,
        silence_threshold_dbfs: f64::NAN,
        speech_margin_db: f64::INFINITY,
        floor_rise_db_per_s: -5.0,
    });
    assert_eq!(d.push(&[]), None);
    let extremes: Vec<i16> = (0..RATE)
        .map(|i| if i % 2 == 0 { i16::MIN } else { i16::MAX })
        .collect();
    let _ = d.push(&extremes);
    let _ = d.push(&extremes);
    let mut d = AmdDetector::new(AmdConfig::default());
    for _ in 0..10 {
        let _ = d.push(&extremes);
    }
    assert!(d.verdict().is_some());
    assert_eq!(d.push(&extremes), None, "nothing after the verdict");
}

proptest::proptest! {
    /// Any samples in any chunking: no panic, and a verdict by the decision limit.
    #[test]
    fn any_audio_gets_a_verdict_within_the_limit(
        chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::i16::ANY, 0..400), 1..40),
        filler in proptest::num::i16::ANY,
    ) {
        let mut d = AmdDetector::new(AmdConfig::default());
        let mut pushed = 0usize;
        for c in &chunks {
            let _ = d.push(c);
            pushed += c.len();
        }
        // Top up to 3 s of audio.
        let rest = (3 * RATE).saturating_sub(pushed);
        let _ = d.push(&vec![filler; rest]);
        proptest::prop_assert!(d.verdict().is_some());
        proptest::prop_assert!(d.decided_after().unwrap() <= Duration::from_secs(3));
    }
}

/// Bursts of a 700 Hz tone of peak `amp`, `on_ms` on and `off_ms` off, over `ms`, on top
/// of white noise of peak `noise_amp`.
fn tone_bursts(ms: usize, on_ms: usize, off_ms: usize, amp: f64, noise_amp: f64) -> Vec<i16> {
    let mut out = noise(ms * RATE / 1000, noise_amp, 5);
    for (i, s) in out.iter_mut().enumerate() {
        if (i * 1000 / RATE) % (on_ms + off_ms) < on_ms {
            let t = i as f64 / RATE as f64;
            *s = s.saturating_add(((t * 700.0 * std::f64::consts::TAU).sin() * amp) as i16);
        }
    }
    out
}

#[test]
fn weak_speech_between_words_keeps_the_greeting_together() {
    // A loud word, a second of syllables only a few dB above the line noise (too weak to
    // be words, loud enough to be speech), then loud words again: one long greeting.
    let noise_amp = 600.0;
    let audio = concat(&[
        tone_bursts(400, 1, 0, 0.0, noise_amp),
        tone_bursts(500, 200, 40, 6000.0, noise_amp),
        tone_bursts(1000, 200, 40, 450.0, noise_amp),
        tone_bursts(2000, 200, 40, 6000.0, noise_amp),
    ]);
    let (v, at) = run(&audio, 160);
    assert_eq!(v, Some(AmdVerdict::Machine), "decided after {at:?}");
    // Without the weak frames the greeting would have ended 0.8 s after the first word
    // (a human at 1.7 s).
    assert!(at.unwrap() > Duration::from_millis(1700), "{at:?}");
}
