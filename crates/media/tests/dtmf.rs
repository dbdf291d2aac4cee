//! DTMF detection end to end: generated keys (clean, noisy, through G.711) are found with
//! the right timing; speech prompts and music on hold produce no digits.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use switchboard_media::g711;
use switchboard_media::prompt::decode_prompt_wav;
use switchboard_media::{DtmfDetector, DtmfEvent, ToneGenerator};

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// `digits` as 80 ms tones separated by 80 ms of silence, with optional white noise.
fn keyed(digits: &str, amplitude: f64, noise_rms: f64, seed: u64) -> Vec<i16> {
    let mut out = vec![0i16; 400];
    for d in digits.chars() {
        let mut g = ToneGenerator::dtmf(8000, d, amplitude).expect("key");
        let mut tone = vec![0i16; 640];
        g.fill(&mut tone);
        out.extend_from_slice(&tone);
        out.extend(std::iter::repeat_n(0, 640));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    if noise_rms > 0.0 {
        for s in out.iter_mut() {
            // Uniform noise with the requested RMS: amplitude = rms * sqrt(3).
            let n: f64 = rng.gen_range(-1.0..1.0) * noise_rms * 3f64.sqrt();
            *s = (f64::from(*s) + n).round().clamp(-32768.0, 32767.0) as i16;
        }
    }
    out
}

fn detect(pcm: &[i16], t0: Instant) -> Vec<DtmfEvent> {
    let mut det = DtmfDetector::default();
    let mut evs = Vec::new();
    for (k, frame) in pcm.chunks(160).enumerate() {
        det.handle_samples(t0 + Duration::from_millis(20 * k as u64), frame);
        while let Some(e) = det.poll_event() {
            evs.push(e);
        }
    }
    evs
}

fn pressed(evs: &[DtmfEvent]) -> String {
    evs.iter()
        .filter_map(|e| match e {
            DtmfEvent::Pressed { digit, .. } => Some(*digit),
            _ => None,
        })
        .collect()
}

const ALL: &str = "123A456B789C*0#D";

#[test]
fn all_sixteen_digits_clean() {
    let t0 = epoch();
    let evs = detect(&keyed(ALL, 8000.0, 0.0, 1), t0);
    assert_eq!(pressed(&evs), ALL);
    // Each press is reported within one block of its true start (400 + k*1280 samples).
    let starts: Vec<Duration> = evs
        .iter()
        .filter_map(|e| match e {
            DtmfEvent::Pressed { at, .. } => Some(*at - t0),
            _ => None,
        })
        .collect();
    for (k, s) in starts.iter().enumerate() {
        let truth = Duration::from_micros((400 + 1280 * k as u64) * 125);
        let err = s.abs_diff(truth);
        assert!(
            err <= Duration::from_millis(20),
            "digit {k}: {s:?} vs {truth:?}"
        );
    }
    let releases = evs
        .iter()
        .filter(|e| matches!(e, DtmfEvent::Released { .. }))
        .count();
    assert_eq!(releases, 16);
}

#[test]
fn all_sixteen_digits_in_noise() {
    // Tones at 3000 peak (~ -24 dBFS each), noise at 300 RMS: ~14 dB SNR per tone.
    for seed in 0..4 {
        let evs = detect(&keyed(ALL, 3000.0, 300.0, seed), epoch());
        assert_eq!(pressed(&evs), ALL, "seed {seed}");
    }
}

#[test]
fn all_sixteen_digits_through_pcmu_and_pcma() {
    let pcm = keyed(ALL, 5000.0, 50.0, 9);
    let via_ulaw: Vec<i16> = pcm
        .iter()
        .map(|&s| g711::ulaw_decode_sample(g711::ulaw_encode(s)))
        .collect();
    let via_alaw: Vec<i16> = pcm
        .iter()
        .map(|&s| g711::alaw_decode_sample(g711::alaw_encode(s)))
        .collect();
    assert_eq!(pressed(&detect(&via_ulaw, epoch())), ALL);
    assert_eq!(pressed(&detect(&via_alaw, epoch())), ALL);
}

#[test]
fn weak_and_twisted_tones_are_rejected() {
    // Far below the minimum level.
    assert_eq!(pressed(&detect(&keyed("5", 60.0, 0.0, 1), epoch())), "");
    // Twist of ~14 dB (column 5x the row amplitude).
    let mut row = ToneGenerator::single(8000, 770.0, 1000.0);
    let mut col = ToneGenerator::single(8000, 1336.0, 5000.0);
    let mut pcm = vec![0i16; 1600];
    row.fill(&mut pcm);
    col.add_to(&mut pcm);
    assert_eq!(pressed(&detect(&pcm, epoch())), "");
}

fn prompt(path: &str) -> Vec<i16> {
    let full = format!("{}/../../prompts/{path}", env!("CARGO_MANIFEST_DIR"));
    let bytes =
        std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e} (run scripts/gen-prompts.sh)"));
    decode_prompt_wav(&bytes).expect("decode")
}

#[test]
fn speech_and_music_give_no_false_digits() {
    // Talk-off: every generated prompt (~190 phrases in two languages) and the music.
    let mut all = Vec::new();
    let mut names = vec!["moh.wav".to_owned()];
    for lang in ["en", "ru"] {
        let dir = format!("{}/../../prompts/{lang}", env!("CARGO_MANIFEST_DIR"));
        for e in std::fs::read_dir(&dir).expect("prompt dir") {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            names.push(format!("{lang}/{name}"));
        }
    }
    assert!(names.len() > 180);
    for p in &names {
        let pcm = prompt(p);
        let evs = detect(&pcm, epoch());
        assert_eq!(pressed(&evs), "", "false digit in {p}");
        all.extend_from_slice(&pcm);
    }
    // And a digit keyed over music is still found.
    let mut moh = prompt("moh.wav");
    let mut g = ToneGenerator::dtmf(8000, '#', 8000.0).expect("key");
    g.add_to(&mut moh[16000..16800]);
    assert_eq!(pressed(&detect(&moh, epoch())), "#");
    assert!(all.len() > 160_000);
}
