//! The dialplans the end-to-end tests use (`tests/dialplans-*/`) keep their own
//! `*.test.toml` cases; they must pass like the shipped ones, so a change to the
//! interpreter that breaks a test dialplan shows up here and not only as an e2e timeout.
//! Their queues belong to each e2e test's own configuration, so the queue and prompt
//! checks are skipped (the default context).

use std::path::{Path, PathBuf};

use switchboard_ivr::check::CheckContext;
use switchboard_ivr::run_dialplan_tests;

fn test_dialplan_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dialplans-"))
        })
        .filter(|p| {
            std::fs::read_dir(p).is_ok_and(|mut rd| {
                rd.any(|e| {
                    e.ok()
                        .is_some_and(|e| e.file_name().to_string_lossy().ends_with(".test.toml"))
                })
            })
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_test_dialplan_case_passes() {
    let dirs = test_dialplan_dirs();
    assert!(
        dirs.len() >= 3,
        "expected the e2e dialplan directories with cases, found {dirs:?}"
    );
    let mut cases = 0;
    for dir in &dirs {
        let report = run_dialplan_tests(dir, &CheckContext::default());
        assert!(report.passed(), "{}:\n{report}", dir.display());
        cases += report.results.len();
    }
    assert!(cases >= 8, "only {cases} cases in {dirs:?}");
}
