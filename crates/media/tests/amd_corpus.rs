//! Answering-machine detection on a generated corpus of greetings (scripts/amd-corpus:
//! espeak-ng and sox, English and Russian voices, several speeds and pitches, line noise):
//! accuracy per class (human, machine, silence and noise as no speech) ≥ 90 % and every
//! verdict within 3 s of audio, on the clips as generated and after a G.711 round trip
//! (μ-law and A-law: what the detector hears from an RTP leg). The corpus is generated into target/amd-corpus at test
//! time. Without espeak-ng or sox the test is skipped, and fails when
//! SWITCHBOARD_REQUIRE_PEERS=1 (scripts/test installs both).
//!
//! The figures for docs/outbound.md:
//! `cargo test -p switchboard-media --test amd_corpus -- --nocapture`

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use switchboard_media::g711::{alaw_decode_sample, alaw_encode, ulaw_decode_sample, ulaw_encode};
use switchboard_media::{AmdConfig, AmdDetector, AmdVerdict};

fn tool_present(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn corpus_dir() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if !(tool_present("espeak-ng") && tool_present("sox")) {
        let msg = "amd_corpus: espeak-ng and sox are needed to generate the corpus";
        if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{msg} (SWITCHBOARD_REQUIRE_PEERS=1)");
        }
        eprintln!("{msg}; skipped");
        return None;
    }
    let out = root.join("target/amd-corpus");
    let status = Command::new(root.join("scripts/amd-corpus"))
        .arg(&out)
        .status()
        .expect("run scripts/amd-corpus");
    assert!(status.success(), "scripts/amd-corpus failed: {status}");
    Some(out)
}

fn read_pcm(path: &Path) -> Vec<i16> {
    let mut reader = hound::WavReader::open(path).expect("open corpus wav");
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (8000, 1, 16),
        "{}",
        path.display()
    );
    reader
        .samples::<i16>()
        .map(|s| s.expect("sample"))
        .collect()
}

/// Feeds the clip in 20 ms packets, as RTP would deliver it.
fn detect(pcm: &[i16]) -> (AmdVerdict, Duration) {
    let mut detector = AmdDetector::new(AmdConfig::default());
    for packet in pcm.chunks(160) {
        if let Some(verdict) = detector.push(packet) {
            return (verdict, detector.decided_after().expect("decided"));
        }
    }
    panic!("no verdict after {} samples", pcm.len());
}

#[derive(Default)]
struct Tally {
    total: u32,
    right: u32,
    time_sum: Duration,
    time_max: Duration,
    wrong: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
enum Path8k {
    Linear,
    Ulaw,
    Alaw,
}

impl Path8k {
    fn apply(self, pcm: &mut [i16]) {
        for s in pcm {
            *s = match self {
                Path8k::Linear => *s,
                Path8k::Ulaw => ulaw_decode_sample(ulaw_encode(*s)),
                Path8k::Alaw => alaw_decode_sample(alaw_encode(*s)),
            };
        }
    }
}

#[test]
fn amd_accuracy_on_the_generated_corpus() {
    let Some(dir) = corpus_dir() else { return };
    for path in [Path8k::Linear, Path8k::Ulaw, Path8k::Alaw] {
        evaluate(&dir, path);
    }
}

fn evaluate(dir: &Path, path: Path8k) {
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest");
    let classes = ["human", "machine", "silence", "noise"];
    let mut tallies: Vec<Tally> = classes.iter().map(|_| Tally::default()).collect();
    for line in manifest.lines() {
        let mut cols = line.splitn(3, '\t');
        let (class, file, what) = (
            cols.next().expect("class"),
            cols.next().expect("file"),
            cols.next().unwrap_or(""),
        );
        let expected = match class {
            "human" => AmdVerdict::Human,
            "machine" => AmdVerdict::Machine,
            _ => AmdVerdict::NoSpeech,
        };
        let idx = classes
            .iter()
            .position(|c| *c == class)
            .expect("known class");
        let mut pcm = read_pcm(&dir.join(file));
        path.apply(&mut pcm);
        let (verdict, after) = detect(&pcm);
        let t = &mut tallies[idx];
        t.total += 1;
        t.time_sum += after;
        t.time_max = t.time_max.max(after);
        if verdict == expected {
            t.right += 1;
        } else {
            t.wrong
                .push(format!("{file}: {verdict:?} after {after:?} ({what})"));
        }
    }
    println!("\n{path:?}:\n");
    println!("| class | clips | correct | accuracy | mean decision | max decision |");
    println!("|---|---|---|---|---|---|");
    for (class, t) in classes.iter().zip(&tallies) {
        println!(
            "| {class} | {} | {} | {:.1} % | {:.2} s | {:.2} s |",
            t.total,
            t.right,
            100.0 * f64::from(t.right) / f64::from(t.total.max(1)),
            t.time_sum.as_secs_f64() / f64::from(t.total.max(1)),
            t.time_max.as_secs_f64(),
        );
    }
    for t in &tallies {
        for w in &t.wrong {
            println!("wrong: {w}");
        }
    }
    for (class, t) in classes.iter().zip(&tallies) {
        assert!(t.total >= 15, "{class}: only {} clips", t.total);
        assert!(
            f64::from(t.right) >= 0.9 * f64::from(t.total),
            "{path:?} {class}: {} of {} right",
            t.right,
            t.total
        );
        assert!(
            t.time_max <= Duration::from_secs(3),
            "{path:?} {class}: a verdict took {:?}",
            t.time_max
        );
    }
}
