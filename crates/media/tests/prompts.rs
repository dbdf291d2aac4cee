//! The generated prompt set: the names the IVR's `say` relies on exist in both languages,
//! in the contracted format, and play through the PromptPlayer.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchboard_media::wav::parse_header;
use switchboard_media::{PlayerConfig, PlayerEvent, Playlist, PromptCache, PromptPlayer};

fn prompts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../prompts")
}

#[allow(clippy::disallowed_methods)] // a base instant only; tests never wait on real time
fn epoch() -> Instant {
    switchboard_test_support::epoch()
}

/// Every say-vocabulary and queue name from the prompt-name contract.
fn contract_names() -> Vec<String> {
    let mut n: Vec<String> = (0..20).map(|i| format!("num-{i}")).collect();
    n.extend((2..10).map(|t| format!("num-{}", t * 10)));
    n.extend((1..10).map(|h| format!("num-{}", h * 100)));
    for s in [
        "num-1000-1",
        "num-1000-2",
        "num-1000-5",
        "num-1-f",
        "num-2-f",
        "num-minus",
        "and",
    ] {
        n.push(s.into());
    }
    for unit in [
        "minute", "second", "hour", "ruble", "kopeck", "dollar", "cent",
    ] {
        for f in [1, 2, 5] {
            n.push(format!("{unit}-{f}"));
        }
    }
    n.extend((0..10).map(|d| format!("digit-{d}")));
    for s in [
        "digit-star",
        "digit-pound",
        "queue-you-are-number",
        "queue-in-line",
        "queue-your-position",
        "queue-ewt-about",
        "queue-ewt-less-minute",
        "queue-please-hold",
        "queue-callback-offer",
        "queue-callback-confirmed",
        "whisper-call-for",
        "queue-name-sales",
        "queue-name-support",
        "goodbye",
        "invalid-choice",
        "no-input",
        "please-wait",
        "transfer-in-progress",
        "all-agents-busy",
    ] {
        n.push(s.into());
    }
    n
}

#[test]
fn every_contract_name_exists_in_both_languages_as_8k_mono_16bit() {
    let names = contract_names();
    assert_eq!(names.len(), 94);
    let tsv = std::fs::read_to_string(prompts_dir().join("phrases.tsv")).expect("phrases.tsv");
    for lang in ["en", "ru"] {
        for name in &names {
            let line = format!("{lang}\t{name}\t");
            assert!(
                tsv.lines().any(|l| l.starts_with(&line)),
                "phrases.tsv lacks {lang}/{name}"
            );
            let path = prompts_dir().join(lang).join(format!("{name}.wav"));
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let info = parse_header(&bytes).expect("wav header");
            assert_eq!(
                (info.channels, info.sample_rate, info.bits_per_sample),
                (1, 8000, 16),
                "{lang}/{name}"
            );
            let dur = u64::from(info.data_len_claimed) / 2;
            assert!((800..80_000).contains(&dur), "{lang}/{name}: {dur} samples");
        }
    }
    let moh = std::fs::read(prompts_dir().join("moh.wav")).expect("moh");
    let info = parse_header(&moh).expect("moh header");
    assert_eq!((info.channels, info.sample_rate), (1, 8000));
    assert!(
        (15 * 16000..=25 * 16000).contains(&info.data_len_claimed),
        "moh is ~20 s"
    );
}

#[test]
fn russian_plural_forms_differ() {
    let tsv = std::fs::read_to_string(prompts_dir().join("phrases.tsv")).expect("phrases.tsv");
    let text = |name: &str| {
        tsv.lines()
            .find_map(|l| l.strip_prefix(&format!("ru\t{name}\t")))
            .unwrap_or_else(|| panic!("ru/{name}"))
            .to_owned()
    };
    assert_eq!(text("minute-1"), "минута");
    assert_eq!(text("minute-2"), "минуты");
    assert_eq!(text("minute-5"), "минут");
    assert_eq!(text("num-1-f"), "одна");
    assert_eq!(text("num-2-f"), "две");
    assert_eq!(text("num-1000-5"), "тысяч");
}

#[test]
fn cache_loads_the_tree_and_player_speaks_a_sentence() {
    let mut cache = PromptCache::new();
    let n = cache.load_dir(&prompts_dir()).expect("load");
    assert!(n > 2 * 94, "{n}");
    assert!(cache.contains("moh") && cache.contains("ru/minute-5") && cache.contains("en/num-3"));

    // "You are number 3 in line."
    let parts = ["en/queue-you-are-number", "en/num-3", "en/queue-in-line"];
    let items: Vec<_> = parts
        .iter()
        .map(|p| cache.get(p).expect("prompt"))
        .collect();
    let total: usize = items.iter().map(|p| p.samples().len()).sum();
    let t0 = epoch();
    let mut player = PromptPlayer::new(PlayerConfig {
        initial_timestamp: 42,
        ..PlayerConfig::default()
    });
    player.play(t0, Playlist::new(items.clone()));
    let mut out = Vec::new();
    let mut now = t0;
    while let Some(deadline) = player.poll_timeout() {
        now = deadline;
        while let Some(f) = player.poll_frame(now) {
            assert_eq!(f.timestamp, 42 + out.len() as u32);
            assert_eq!(f.marker, out.is_empty());
            out.extend_from_slice(f.samples);
        }
    }
    assert_eq!(player.poll_event(), Some(PlayerEvent::Finished));
    assert_eq!(out.len(), total.div_ceil(160) * 160);
    let concat: Vec<i16> = items
        .iter()
        .flat_map(|p| p.samples().iter().copied())
        .collect();
    assert_eq!(&out[..total], &concat[..]);
    // Paced in real time: the last frame was due (frames - 1) * 20 ms after the start.
    assert_eq!(
        now - t0,
        Duration::from_millis(20 * (out.len() as u64 / 160 - 1))
    );
}

#[test]
fn sixteen_khz_prompts_are_resampled() {
    // A 16 kHz 1 kHz tone, built in memory.
    let n = 16000usize;
    let mut bytes = switchboard_media::wav::header(1, 16000, (n * 2) as u32).to_vec();
    for i in 0..n {
        let v = (8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 16000.0).sin()) as i16;
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let mut cache = PromptCache::new();
    let p = cache.insert_wav("tone16k", &bytes).expect("insert");
    assert_eq!(p.samples().len(), 8000);
    assert_eq!(p.duration(), Duration::from_secs(1));
    let tail = &p.samples()[100..];
    let rms = (tail.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / tail.len() as f64).sqrt();
    assert!((rms - 8000.0 / 2f64.sqrt()).abs() < 60.0, "rms {rms}");
}

#[test]
fn every_listed_phrase_has_a_generated_wav() {
    // Both phrase lists; a missing file means scripts/gen-prompts.sh was not rerun.
    for list in ["phrases.tsv", "dialplan-phrases.tsv"] {
        let Ok(tsv) = std::fs::read_to_string(prompts_dir().join(list)) else {
            continue;
        };
        for line in tsv.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(lang), Some(name), Some(_text)) = (cols.next(), cols.next(), cols.next())
            else {
                panic!("{list}: malformed line {line:?}");
            };
            let path = prompts_dir().join(lang).join(format!("{name}.wav"));
            assert!(
                path.exists(),
                "{list}: {lang}/{name}.wav missing; run scripts/gen-prompts.sh"
            );
        }
    }
}
