//! Conversation scripts for the agent desktop: a dialplan's `screenpop "script" = "name"`
//! names `scripts/<name>.md` beside the dialplans, and `GET /api/v1/scripts/{name}` serves
//! it parsed into a small document tree (headings, paragraphs, lists, emphasis) as JSON;
//! the page builds DOM nodes from the tree with `textContent`.
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

/// `GET /api/v1/scripts/{name}`: any token. 400 for a bad name, 404 for no such script,
/// 422 for a file over [`MAX_SCRIPT_BYTES`] or not UTF-8.
pub(crate) async fn serve(
    _who: Principal,
    Extension(calls): Extension<Arc<crate::call::CallContext>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !valid_name(&name) {
        return Err(ApiError::bad_request(
            "a script name is 1 to 64 letters, digits, '-' or '_'",
        ));
    }
    let dir = calls.cfg.ivr.dialplans.join("scripts");
    let path = dir.join(format!("{name}.md"));
    let unreadable = |why: String| {
        tracing::warn!(script = %name, path = %path.display(), "conversation script not served: {why}");
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "script_unreadable", why)
    };
    let meta = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m,
        _ => {
            return Err(ApiError::not_found(format!(
                "no conversation script '{name}' ({})",
                path.display()
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
    fn names_are_plain() {
        assert!(valid_name("sales-intro"));
        assert!(valid_name("lost_card_ru"));
        for bad in ["", "../x", "a.md", "a/b", "a b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
