//! The repository paths the docs name exist (tests only): every `` `crates/...` ``,
//! `` `docs/...` ``, `` `tests/...` `` (and `scripts/`, `benches/`, `dialplans/`, `prompts/`,
//! `fuzz/`) in README.md, benches/README.md and docs/*.md is a file or directory of the
//! repository, or the start of one's name (`docs/decisions/0002`). Patterns (`*`, `{}`,
//! `<>`) are skipped. Decision records are history and are not checked.

use std::path::Path;

/// Paths that are not the repository's: a dialplan directory's own layout.
const NOT_REPOSITORY_PATHS: [&str; 1] = ["scripts/x.md"];

const ROOTS: [&str; 8] = [
    "crates/",
    "scripts/",
    "tests/",
    "benches/",
    "docs/",
    "dialplans/",
    "prompts/",
    "fuzz/",
];

fn exists_or_prefixes(root: &Path, p: &str) -> bool {
    let path = root.join(p);
    if path.exists() {
        return true;
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let name = name.to_string_lossy();
    std::fs::read_dir(parent).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(&*name))
    })
}

#[test]
fn every_repository_path_named_in_the_docs_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs = vec![root.join("README.md"), root.join("benches/README.md")];
    for e in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "md") {
            docs.push(p);
        }
    }
    assert!(docs.len() >= 8, "{docs:?}");
    let mut missing = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("readable doc");
        for span in text.split('`').skip(1).step_by(2) {
            let p = span.trim_end_matches(['/', '.']);
            if !ROOTS.iter().any(|r| p.starts_with(r))
                || p.contains(|c: char| "*{}<>[] ".contains(c))
                || NOT_REPOSITORY_PATHS.contains(&p)
            {
                continue;
            }
            if !exists_or_prefixes(&root, p) {
                missing.push(format!("{}: {p}", doc.display()));
            }
        }
    }
    assert!(missing.is_empty(), "no such path:\n{}", missing.join("\n"));
}
