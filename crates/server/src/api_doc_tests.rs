//! docs/api.md's endpoint table checked against the routes (tests only): every operation
//! of `http_openapi::OPERATIONS` (which its own test keeps equal to the routes registered in
//! `http_api.rs`) and every page route of `web_pages.rs` has a row, and every row names a
//! route that exists.

use std::collections::BTreeSet;

use crate::http_openapi::OPERATIONS;

const DOC: &str = include_str!("../../../docs/api.md");

/// The paths of `.route("...", get(...))` in `web_pages.rs` (every page route is a GET).
fn page_routes() -> Vec<String> {
    include_str!("web_pages.rs")
        .split(".route(")
        .skip(1)
        .filter_map(|part| part.trim_start().strip_prefix('"')?.split_once('"'))
        .map(|(path, _)| format!("GET {}", normalise(path)))
        .collect()
}

/// `/api/v1/calls/:id` and `/api/v1/calls/{id}` both become `/api/v1/calls/{}`.
fn normalise(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with(':') || (seg.starts_with('{') && seg.ends_with('}')) {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `METHOD path` of every endpoint in the "## Endpoints" table. A cell may name several:
/// `` `POST /api/v1/calls/{id}/listen`, `.../whisper` `` (`...` is the previous path's
/// parent), `` `GET/POST /x` `` (both methods); queries (`?from=`, `[?queue=]`) are dropped.
fn documented() -> BTreeSet<String> {
    let start = DOC
        .find("\n## Endpoints")
        .expect("docs/api.md has an Endpoints section");
    let end = DOC[start + 1..]
        .find("\n## ")
        .map_or(DOC.len(), |e| start + 1 + e);
    let mut out = BTreeSet::new();
    for line in DOC[start..end].lines() {
        let Some(row) = line.strip_prefix("| `") else {
            continue;
        };
        let first = row.split(" | ").next().unwrap_or("");
        let mut methods: Vec<&str> = Vec::new();
        let mut last_path = String::new();
        for span in format!("`{first}").split('`').skip(1).step_by(2) {
            let (m, path) = match span.split_once(' ') {
                Some((m, p)) if m.chars().all(|c| c.is_ascii_uppercase() || c == '/') => {
                    (Some(m), p)
                }
                _ => (None, span),
            };
            if let Some(m) = m {
                methods = m.split('/').collect();
            }
            let path = path.split(['?', '[']).next().unwrap_or(path);
            let path = match path.strip_prefix("...") {
                Some(tail) => {
                    let parent = last_path.rsplit_once('/').map_or("", |(p, _)| p);
                    format!("{parent}{tail}")
                }
                None => path.to_string(),
            };
            for m in &methods {
                out.insert(format!("{m} {}", normalise(&path)));
            }
            last_path = path;
        }
    }
    out
}

#[test]
fn every_route_has_a_row_in_docs_api_md_and_every_row_is_a_route() {
    let mut code: BTreeSet<String> = OPERATIONS
        .iter()
        .map(|o| format!("{} {}", o.method.as_str().to_uppercase(), normalise(o.path)))
        .collect();
    let pages = page_routes();
    assert!(pages.len() >= 3, "{pages:?}");
    code.extend(pages);
    let doc = documented();
    assert!(code.len() > 30, "{code:?}");
    let missing: Vec<&String> = code.difference(&doc).collect();
    let extra: Vec<&String> = doc.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes without a row in docs/api.md's Endpoints: {missing:?}\n\
         rows naming no route: {extra:?}"
    );
}

/// Every error code a handler can return: the code of each `ApiError::new(status, "code",
/// ...)` and each `"code": "..."` JSON answer in the server's sources (test code left out).
fn error_codes_in_code() -> BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("source dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs")
                && !p.to_string_lossy().ends_with("_tests.rs")
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        let text = text.split("#[cfg(test)]").next().unwrap_or("");
        for part in text.split("ApiError::new(").skip(1) {
            if let Some(code) = part.split('"').nth(1) {
                out.insert(code.to_string());
            }
        }
        for part in text.split("\"code\": \"").skip(1) {
            if let Some(code) = part.split('"').next() {
                out.insert(code.to_string());
            }
        }
    }
    // Prose (`{"error": "...", "code": "..."}` in doc comments) is not a code.
    out.retain(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
    out
}

#[test]
fn every_error_code_is_in_docs_api_md_errors_table() {
    let start = DOC
        .find("\n## Errors")
        .expect("docs/api.md has an Errors section");
    let end = DOC[start + 1..]
        .find("\n## ")
        .map_or(DOC.len(), |e| start + 1 + e);
    let documented: BTreeSet<&str> = DOC[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| status"))
        .filter_map(|l| l.split(" | ").nth(1))
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .collect();
    let code = error_codes_in_code();
    assert!(code.len() > 20, "{code:?}");
    let missing: Vec<&String> = code
        .iter()
        .filter(|c| !documented.contains(c.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "error codes not in docs/api.md's Errors table: {missing:?}"
    );
}
