//! Conversation scripts for the agent desktop: a dialplan's `screenpop "script" = "name"`
//! names `scripts/<name>.md` beside the dialplans, and `GET /api/v1/scripts/{name}` serves
//! it parsed into a small document tree (headings, paragraphs, lists, emphasis) as JSON;
//! the page builds DOM nodes from the tree with `textContent`.
//!
//! A call for a tenant (client) finds its script first in `scripts/<tenant>/<name>.md`, then
//! in the shared `scripts/<name>.md` ([`script_path`]); `?tenant=` names the call's tenant,
//! and a token that does not serve that tenant is answered 404, as for a missing script.
//!
//! This is not a Markdown implementation and produces no HTML: whatever the file holds
//! (tags, links, images) comes out as plain text. Decision record:
//! docs/decisions/0031-conversation-scripts.md.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::{json, Value};

use crate::http_auth::Principal;
use crate::http_error::ApiError;

/// Largest script file served (bytes); a bigger one is refused, not cut.
pub(crate) const MAX_SCRIPT_BYTES: u64 = 64 * 1024;
/// Longest script name (`[A-Za-z0-9_-]`).
const MAX_NAME_CHARS: usize = 64;

/// A run of text with its emphasis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Span {
    pub(crate) text: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) em: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) strong: bool,
}

/// One block of a script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block {
    /// `#` .. `###` (deeper levels count as 3).
    Heading { level: u8, spans: Vec<Span> },
    /// Consecutive text lines, joined by spaces.
    Paragraph { spans: Vec<Span> },
    /// `- ` / `* ` items, or `1. ` items when `ordered`.
    List {
        ordered: bool,
        items: Vec<Vec<Span>>,
    },
}

/// Whether `name` may name a script: 1..=64 of `[A-Za-z0-9_-]` (no path, no dot).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The list marker of a line, if any: (ordered, the item's text).
fn list_item(line: &str) -> Option<(bool, &str)> {
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some((false, rest));
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        if let Some(rest) = line[digits..].strip_prefix(". ") {
            return Some((true, rest));
        }
    }
    None
}

/// Parses a script. Total: any text gives a document.
pub(crate) fn parse(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    // The open list: ordered, its items' raw text (continuation lines joined).
    let mut list: Option<(bool, Vec<String>)> = None;
    let flush_para = |para: &mut Vec<&str>, blocks: &mut Vec<Block>| {
        if !para.is_empty() {
            blocks.push(Block::Paragraph {
                spans: inline(&para.join(" ")),
            });
            para.clear();
        }
    };
    let flush_list = |list: &mut Option<(bool, Vec<String>)>, blocks: &mut Vec<Block>| {
        if let Some((ordered, items)) = list.take() {
            blocks.push(Block::List {
                ordered,
                items: items.iter().map(|i| inline(i)).collect(),
            });
        }
    };
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() {
            flush_para(&mut para, &mut blocks);
            flush_list(&mut list, &mut blocks);
            continue;
        }
        let hashes = line.bytes().take_while(|b| *b == b'#').count();
        if hashes > 0 && line[hashes..].starts_with(' ') {
            flush_para(&mut para, &mut blocks);
            flush_list(&mut list, &mut blocks);
            blocks.push(Block::Heading {
                level: hashes.min(3) as u8,
                spans: inline(line[hashes..].trim()),
            });
            continue;
        }
        if let Some((ordered, item)) = list_item(line) {
            flush_para(&mut para, &mut blocks);
            match &mut list {
                Some((o, items)) if *o == ordered => items.push(item.trim().to_string()),
                _ => {
                    flush_list(&mut list, &mut blocks);
                    list = Some((ordered, vec![item.trim().to_string()]));
                }
            }
            continue;
        }
        if let Some((_, items)) = &mut list {
            // A continuation line of the last item.
            if let Some(last) = items.last_mut() {
                last.push(' ');
                last.push_str(line);
                continue;
            }
        }
        para.push(line);
    }
    flush_para(&mut para, &mut blocks);
    flush_list(&mut list, &mut blocks);
    blocks
}

/// Emphasis within a line: `**strong**`, `*em*` / `_em_`. An unclosed marker is text.
fn inline(text: &str) -> Vec<Span> {
    let mut spans: Vec<Span> = Vec::new();
    let mut push = |t: &str, em: bool, strong: bool| {
        if t.is_empty() {
            return;
        }
        match spans.last_mut() {
            Some(s) if s.em == em && s.strong == strong => s.text.push_str(t),
            _ => spans.push(Span {
                text: t.to_string(),
                em,
                strong,
            }),
        }
    };
    let mut rest = text;
    while !rest.is_empty() {
        let marker = ["**", "*", "_"]
            .iter()
            .filter_map(|m| rest.find(m).map(|i| (i, *m)))
            .min_by_key(|(i, m)| (*i, std::cmp::Reverse(m.len())));
        let Some((at, m)) = marker else {
            push(rest, false, false);
            break;
        };
        let after = &rest[at + m.len()..];
        match after.find(m) {
            Some(end) if end > 0 => {
                push(&rest[..at], false, false);
                let inner = &after[..end];
                if m == "**" {
                    push(inner, false, true);
                } else {
                    push(inner, true, false);
                }
                rest = &after[end + m.len()..];
            }
            _ => {
                push(&rest[..at + m.len()], false, false);
                rest = after;
            }
        }
    }
    spans
}

/// Where script `name` is for a call of `tenant`: `<scripts>/<tenant>/<name>.md` when that
/// file exists, else `<scripts>/<name>.md` (which may not exist either). Both names must
/// be [`valid_name`]s (no path can be formed from them).
pub(crate) fn script_path(
    scripts: &std::path::Path,
    tenant: Option<&str>,
    name: &str,
) -> std::path::PathBuf {
    if let Some(own) = tenant
        .map(|t| scripts.join(t).join(format!("{name}.md")))
        .filter(|p| p.is_file())
    {
        return own;
    }
    scripts.join(format!("{name}.md"))
}

/// The names of the scripts in `scripts` (the shared `<name>.md`) and in its tenant
/// subdirectories (`<tenant>/<name>.md`): what `switchboard check` knows a dialplan's
/// `screenpop "script"` may name. A missing directory has none.
pub(crate) fn script_names(scripts: &std::path::Path) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut scan = |dir: &std::path::Path, depth: u8| {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut subdirs = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() && depth == 0 {
                subdirs.push(p);
            } else if p.extension().is_some_and(|x| x == "md") && p.is_file() {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    if valid_name(stem) {
                        names.insert(stem.to_string());
                    }
                }
            }
        }
        subdirs
    };
    for sub in scan(scripts, 0) {
        scan(&sub, 1);
    }
    names
}

/// Whether `who` may read tenant `tenant`'s scripts: a tenant-scoped token only its own
/// tenant's, an agent token those of the configured tenants its user serves (a dialplan
/// tenant that is not in `[[tenants]]` is only a label: any agent may take its calls),
/// other tokens any.
fn may_read(who: &Principal, tenant: &str, cfg: &crate::config::Config) -> bool {
    if who.tenant().is_some_and(|t| t != tenant) {
        return false;
    }
    if cfg.tenant(tenant).is_none() {
        return true;
    }
    match (&who.role, &who.agent) {
        (crate::http_auth::Role::Agent, Some(agent)) => cfg
            .users
            .iter()
            .any(|u| &u.name == agent && u.tenants.iter().any(|t| t == tenant)),
        _ => true,
    }
}

/// Query of `GET /api/v1/scripts/{name}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScriptQuery {
    /// The call's tenant: its own script of that name comes first.
    tenant: Option<String>,
}

/// `GET /api/v1/scripts/{name}[?tenant=T]`: any token (for `tenant`, one that serves it;
/// a tenant-scoped token's own tenant is used when none is named). 400 for a bad name,
/// 404 for no such script or another tenant's, 422 for a file over [`MAX_SCRIPT_BYTES`]
/// or not UTF-8.
pub(crate) async fn serve(
    who: Principal,
    Extension(calls): Extension<Arc<crate::call::CallContext>>,
    Path(name): Path<String>,
    query: Result<axum::extract::Query<ScriptQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if !valid_name(&name) {
        return Err(ApiError::bad_request(
            "a script name is 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    let tenant = q.tenant.as_deref().or(who.tenant());
    if let Some(t) = tenant {
        if !valid_name(t) {
            return Err(ApiError::bad_request(
                "tenant: a tenant name is 1 to 64 letters, digits, '-' or '_'",
            ));
        }
        if !may_read(&who, t, &calls.cfg) {
            // The answer for a script that does not exist: no oracle of other clients'.
            return Err(ApiError::not_found(format!(
                "no conversation script '{name}'"
            )));
        }
    }
    let dir = calls.cfg.ivr.dialplans.join("scripts");
    let path = script_path(&dir, tenant, &name);
    let unreadable = |why: String| {
        tracing::warn!(script = %name, path = %path.display(), "conversation script not served: {why}");
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "script_unreadable", why)
    };
    let meta = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m,
        _ => {
            return Err(ApiError::not_found(format!(
                "no conversation script '{name}'"
            )))
        }
    };
    if meta.len() > MAX_SCRIPT_BYTES {
        return Err(unreadable(format!(
            "script '{name}' is {} bytes, more than {MAX_SCRIPT_BYTES}",
            meta.len()
        )));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| unreadable(format!("script '{name}': {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| unreadable(format!("script '{name}' is not UTF-8 text")))?;
    Ok(Json(json!({"name": name, "blocks": parse(&text)})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(t: &str) -> Span {
        Span {
            text: t.into(),
            em: false,
            strong: false,
        }
    }

    #[test]
    fn headings_paragraphs_and_lists() {
        let doc = parse("# Hello\n\nFirst line\nsecond line\n\n- one\n- two\n  more\n1. a\n2. b\n### Deep\n#### Deeper");
        assert_eq!(
            doc,
            vec![
                Block::Heading {
                    level: 1,
                    spans: vec![plain("Hello")]
                },
                Block::Paragraph {
                    spans: vec![plain("First line second line")]
                },
                Block::List {
                    ordered: false,
                    items: vec![vec![plain("one")], vec![plain("two more")]]
                },
                Block::List {
                    ordered: true,
                    items: vec![vec![plain("a")], vec![plain("b")]]
                },
                Block::Heading {
                    level: 3,
                    spans: vec![plain("Deep")]
                },
                Block::Heading {
                    level: 3,
                    spans: vec![plain("Deeper")]
                },
            ]
        );
    }

    #[test]
    fn emphasis_and_unclosed_markers() {
        let spans = inline("Say **hello** to *you* and a_b 2*3");
        assert_eq!(
            spans,
            vec![
                plain("Say "),
                Span {
                    text: "hello".into(),
                    em: false,
                    strong: true
                },
                plain(" to "),
                Span {
                    text: "you".into(),
                    em: true,
                    strong: false
                },
                plain(" and a_b 2*3"),
            ]
        );
    }

    #[test]
    fn markup_stays_text() {
        let doc = parse("<script>alert(1)</script> [link](javascript:x) <img src=x onerror=y>");
        let Block::Paragraph { spans } = &doc[0] else {
            panic!("{doc:?}")
        };
        assert_eq!(
            spans[0].text,
            "<script>alert(1)</script> [link](javascript:x) <img src=x onerror=y>"
        );
    }

    #[test]
    fn any_text_parses() {
        for t in [
            "",
            "#",
            "##x",
            "- ",
            "1.",
            "**",
            "***",
            "_*_*",
            "* * *",
            "1234567890. x",
            "é**ü",
        ] {
            let _ = parse(t);
        }
        assert_eq!(
            parse("#"),
            vec![Block::Paragraph {
                spans: vec![plain("#")]
            }]
        );
    }

    #[test]
    fn a_tenant_s_own_script_comes_before_the_shared_one() {
        let dir = std::env::temp_dir().join(format!("sb-scripts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("acme")).unwrap();
        std::fs::write(dir.join("greeting.md"), "# Shared").unwrap();
        std::fs::write(dir.join("acme").join("greeting.md"), "# ACME").unwrap();
        assert_eq!(
            script_path(&dir, Some("acme"), "greeting"),
            dir.join("acme").join("greeting.md")
        );
        assert_eq!(
            script_path(&dir, Some("globex"), "greeting"),
            dir.join("greeting.md")
        );
        assert_eq!(script_path(&dir, None, "greeting"), dir.join("greeting.md"));
        assert_eq!(
            script_path(&dir, Some("acme"), "other"),
            dir.join("other.md"),
            "falls back even when missing (then 404)"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_catalogue_has_shared_and_tenant_scripts() {
        let dir = std::env::temp_dir().join(format!("sb-script-names-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("acme").join("deeper")).unwrap();
        for f in [
            "shared.md",
            "acme/own.md",
            "acme/deeper/too-deep.md",
            "notes.txt",
            "bad name.md",
        ] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let names: Vec<String> = script_names(&dir).into_iter().collect();
        assert_eq!(names, ["own", "shared"]);
        assert!(script_names(&dir.join("missing")).is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_tokens_that_serve_a_tenant_read_its_scripts() {
        use crate::http_auth::Role;
        let mut cfg = crate::config::Config::load(None).unwrap();
        cfg.users[0].tenants = vec!["acme".into()];
        let p = |role, agent: Option<&str>, scope: Option<&str>| Principal {
            name: "t".into(),
            role,
            agent: agent.map(str::to_string),
            scope: scope.map(|t| Arc::new(crate::tenants::TenantScope::for_test(t, &[], &[]))),
        };
        assert!(may_read(&p(Role::Supervisor, None, None), "acme", &cfg));
        assert!(may_read(
            &p(Role::Supervisor, None, Some("acme")),
            "acme",
            &cfg
        ));
        assert!(!may_read(
            &p(Role::Supervisor, None, Some("acme")),
            "globex",
            &cfg
        ));
        // 1001 serves acme here, 1002 acme and globex (the demo's).
        assert!(may_read(
            &p(Role::Agent, Some("1002"), None),
            "globex",
            &cfg
        ));
        assert!(!may_read(
            &p(Role::Agent, Some("1001"), None),
            "globex",
            &cfg
        ));
        assert!(may_read(&p(Role::Agent, Some("1001"), None), "acme", &cfg));
        // initech is only a dialplan label (not in [[tenants]]): anyone.
        assert!(may_read(
            &p(Role::Agent, Some("1001"), None),
            "initech",
            &cfg
        ));
    }

    #[test]
    fn names_are_plain() {
        assert!(valid_name("sales-intro"));
        assert!(valid_name("lost_card_ru"));
        for bad in ["", "../x", "a.md", "a/b", "a b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
