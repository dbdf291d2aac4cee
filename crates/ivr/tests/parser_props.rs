//! The parser and checker are total: random and mutated input never panics, and
//! pretty-printing a parsed file parses back to the same tree.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use switchboard_ivr::check::{check_files, CheckContext, PromptCatalog};
use switchboard_ivr::parser::parse_file;
use switchboard_ivr::printer::print_file;
use switchboard_ivr::sim::{simulate_program, SimCall};
use switchboard_ivr::source::FileId;
use switchboard_ivr::testfile::parse_at;

fn shipped() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
    let mut v = Vec::new();
    for sub in ["", "lib"] {
        for e in std::fs::read_dir(dir.join(sub))
            .expect("dialplans dir")
            .flatten()
        {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "ivr") {
                v.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).expect("read"),
                ));
            }
        }
    }
    v.sort();
    v
}

#[test]
fn shipped_dialplans_round_trip_through_the_printer() {
    for (name, text) in shipped() {
        let ast = parse_file(FileId(0), &text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        let printed = print_file(&ast);
        let again = parse_file(FileId(0), &printed)
            .unwrap_or_else(|e| panic!("{name} printed:\n{printed}\n{e:?}"));
        assert_eq!(ast, again, "{name}");
        assert_eq!(
            printed,
            print_file(&again),
            "{name}: printing is not stable"
        );
    }
}

/// Check a file as a whole dialplan and, if it loads, run a call through it.
fn check_and_run(text: &str) {
    let mut files = BTreeMap::new();
    files.insert("x.ivr".to_string(), text.to_string());
    let ctx = CheckContext::new(
        ["sales", "support", "operator"],
        PromptCatalog::with_vocabulary(),
    );
    let checked = check_files(&files, &["x.ivr".to_string()], &ctx);
    let _ = checked.render();
    if let Some(p) = checked.program {
        let at = parse_at("2026-11-23T03:00+03:00").expect("time");
        let mut call = SimCall::new("100", "+79991234567", at);
        call.digits = "1,2,#3,,9".into();
        let t = simulate_program(Arc::new(p), &call);
        let _ = t.to_string();
    }
}

fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &(pos, kind, byte) in edits {
        if bytes.is_empty() {
            break;
        }
        let i = pos % bytes.len();
        match kind % 4 {
            0 => {
                bytes.remove(i);
            }
            1 => bytes.insert(i, byte),
            2 => bytes[i] = byte,
            _ => {
                // Duplicate a slice: nests braces, repeats statements.
                let end = (i + (byte as usize % 40)).min(bytes.len());
                let chunk = bytes[i..end].to_vec();
                bytes.splice(i..i, chunk);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

const ALPHABET: &[u8] = b"{}()[]\"=>-+*/%,;:#.0123456789 \n\tabcdefghijklmnopqrstuvwxyz_";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_file(FileId(0), &text);
        check_and_run(&text);
    }

    #[test]
    fn random_token_soup_never_panics(idx in proptest::collection::vec(0usize..ALPHABET.len(), 0..300)) {
        let text: String = idx.iter().map(|&i| ALPHABET[i] as char).collect();
        let _ = parse_file(FileId(0), &text);
        check_and_run(&text);
    }

    #[test]
    fn mutated_dialplans_never_panic_and_round_trip(
        which in 0usize..8,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), proptest::sample::select(ALPHABET.to_vec())), 1..6),
    ) {
        let files = shipped();
        let (_, text) = &files[which % files.len()];
        let mutated = mutate(text, &edits);
        if let Ok(ast) = parse_file(FileId(0), &mutated) {
            let printed = print_file(&ast);
            let again = parse_file(FileId(0), &printed);
            prop_assert!(again.is_ok(), "printed text does not parse:\n{}", printed);
            prop_assert_eq!(&ast, &again.unwrap_or_default());
        }
        check_and_run(&mutated);
    }
}
