//! Reading a dialplan and its includes: each file parsed once, include paths resolved
//! relative to the including file, missing files and include cycles reported.

use std::collections::{BTreeMap, HashMap};

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::parser::parse_file;
use crate::source::{FileId, SourceMap, Span};

/// The files of one check run and what has been parsed and reported so far.
pub(super) struct IncludeReader<'a> {
    pub(super) files: &'a BTreeMap<String, String>,
    pub(super) sources: SourceMap,
    pub(super) parsed: HashMap<String, Option<(FileId, File)>>,
    pub(super) diags: Vec<Diagnostic>,
}

fn join_include(from: &str, inc: &str) -> String {
    let base = match from.rfind('/') {
        Some(i) => from.get(..i + 1).unwrap_or(""),
        None => "",
    };
    normalize_path(&format!("{base}{inc}"))
}

/// Resolve `.` and `..` in a `/`-separated path (leading `..` of a relative path are kept).
pub(crate) fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !path.starts_with('/') {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let lead = if path.starts_with('/') { "/" } else { "" };
    format!("{lead}{}", parts.join("/"))
}

impl IncludeReader<'_> {
    fn parse(&mut self, name: &str) -> Option<(FileId, File)> {
        if let Some(p) = self.parsed.get(name) {
            return p.clone();
        }
        let text = self.files.get(name)?;
        let id = self.sources.add(name, text.clone());
        let res = match parse_file(id, text) {
            Ok(f) => Some((id, f)),
            Err(e) => {
                let mut d = Diagnostic::error(e.message, e.span);
                if let Some(h) = e.help {
                    d = d.help(h);
                }
                self.diags.push(d);
                None
            }
        };
        self.parsed.insert(name.to_string(), res.clone());
        res
    }

    pub(super) fn gather(
        &mut self,
        name: &str,
        from: Option<Span>,
        stack: &mut Vec<String>,
        out: &mut Vec<(Item, bool)>,
    ) {
        if stack.len() > 32 {
            return;
        }
        if !self.files.contains_key(name) {
            let msg = format!("can't find the file `{name}`");
            match from {
                Some(s) => self.diags.push(
                    Diagnostic::error(msg, s)
                        .label("included here")
                        .help("include paths are relative to the including file"),
                ),
                None => self.diags.push(Diagnostic::global(msg)),
            }
            return;
        }
        let Some((_, file)) = self.parse(name) else {
            return;
        };
        stack.push(name.to_string());
        let is_main = stack.len() == 1;
        for item in file.items {
            if let Item::Include(inc) = &item {
                let target = join_include(name, &inc.value);
                if let Some(pos) = stack.iter().position(|s| *s == target) {
                    let mut cycle: Vec<&str> = stack
                        .get(pos..)
                        .unwrap_or(&[])
                        .iter()
                        .map(String::as_str)
                        .collect();
                    cycle.push(&target);
                    self.diags.push(
                        Diagnostic::error("include cycle", inc.span)
                            .label(format!("`{target}` is already being included"))
                            .help(format!(
                                "the files include each other: {}; remove one of the includes",
                                cycle.join(" → ")
                            )),
                    );
                    continue;
                }
                self.gather(&target, Some(inc.span), stack, out);
            } else {
                out.push((item, is_main));
            }
        }
        stack.pop();
    }
}
