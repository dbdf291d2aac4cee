//! Every shipped dialplan checks cleanly against the demo configuration and the prompt
//! contract, and every `dialplans/*.test.toml` passes.

use std::path::{Path, PathBuf};

use switchboard_ivr::check::{CheckContext, PromptCatalog};
use switchboard_ivr::loader::load_dir;
use switchboard_ivr::run_dialplan_tests;

/// Queue names the shipped dialplans use; the server configuration must define them.
const QUEUES: [&str; 6] = ["sales", "support", "operator", "vip", "bank", "outsource"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ctx() -> CheckContext {
    // Only the contract's vocabulary and our own phrase list: what `gen-prompts.sh` makes.
    let mut prompts = PromptCatalog::with_vocabulary();
    let tsv = std::fs::read_to_string(root().join("prompts/dialplan-phrases.tsv"))
        .expect("prompts/dialplan-phrases.tsv");
    prompts.add_tsv(&tsv);
    CheckContext::new(QUEUES, prompts)
}

#[test]
fn every_shipped_dialplan_checks_without_errors_or_warnings() {
    let dir = root().join("dialplans");
    let (program, warnings) = load_dir(&dir, &ctx()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        warnings.is_empty(),
        "warnings in shipped dialplans:\n{warnings}"
    );
    let mut names: Vec<&str> = program.dialplans.iter().map(|d| d.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["after-hours", "bank-ru", "demo", "outsourcing"]);
}

#[test]
fn every_dialplan_test_passes() {
    let report = run_dialplan_tests(&root().join("dialplans"), &ctx());
    assert!(report.passed(), "{report}");
    assert!(
        report.results.len() >= 20,
        "only {} tests",
        report.results.len()
    );
}

#[test]
fn every_dialplan_phrase_exists_in_both_languages() {
    let tsv = std::fs::read_to_string(root().join("prompts/dialplan-phrases.tsv")).expect("tsv");
    let mut en = std::collections::BTreeSet::new();
    let mut ru = std::collections::BTreeSet::new();
    for line in tsv
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let parts: Vec<&str> = line.split('\t').collect();
        assert_eq!(parts.len(), 3, "bad line: {line:?}");
        assert!(!parts[2].trim().is_empty(), "empty text: {line:?}");
        match parts[0] {
            "en" => assert!(en.insert(parts[1]), "duplicate en {}", parts[1]),
            "ru" => assert!(ru.insert(parts[1]), "duplicate ru {}", parts[1]),
            other => panic!("unknown language {other}"),
        }
    }
    assert_eq!(en, ru, "every phrase needs an en and a ru line");
}

#[test]
fn the_say_vocabulary_matches_the_media_phrase_list_when_present() {
    // prompts/phrases.tsv belongs to helper "media"; once it exists, every name `say` can
    // produce must be in it, in both languages.
    let Ok(tsv) = std::fs::read_to_string(root().join("prompts/phrases.tsv")) else {
        return;
    };
    let mut media = PromptCatalog::new();
    media.add_tsv(&tsv);
    let mut missing = Vec::new();
    for lang in switchboard_ivr::Lang::ALL {
        for name in switchboard_ivr::say::vocabulary() {
            if !media.contains(lang, &name) {
                missing.push(format!("{lang}/{name}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "say-vocabulary names missing from prompts/phrases.tsv: {missing:?}"
    );
}

#[test]
fn generated_audio_covers_every_shipped_prompt_when_present() {
    // Once scripts/gen-prompts.sh has run (prompts/en/num-0.wav exists), the shipped
    // dialplans must check against the WAV files alone.
    let prompts_dir = root().join("prompts");
    if !prompts_dir.join("en/num-0.wav").exists() {
        return;
    }
    let ctx = CheckContext::new(QUEUES, PromptCatalog::from_wav_files(&prompts_dir));
    if let Err(e) = load_dir(&root().join("dialplans"), &ctx) {
        panic!("some prompts have no audio; run scripts/gen-prompts.sh:\n{e}");
    }
}
