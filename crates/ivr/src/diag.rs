//! Diagnostics in the style of rustc: `file:line:col`, the source line, a caret and a help line.

use std::fmt::Write;

use crate::source::{SourceMap, Span};

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Worth a look; the dialplan still loads.
    Warning,
    /// The dialplan is rejected.
    Error,
}

/// One finding about a dialplan, with where it is and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The headline, e.g. "unknown prompt `welcom`".
    pub message: String,
    /// Where, if it has a place in a file.
    pub span: Option<Span>,
    /// Short text under the caret.
    pub label: String,
    /// "help: ..." line, if any.
    pub help: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            label: String::new(),
            help: None,
        }
    }
    /// A warning at `span`.
    pub fn warning(message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message, span)
        }
    }
    /// An error not tied to a place in a file (e.g. a missing directory).
    pub fn global(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: String::new(),
            help: None,
        }
    }
    /// Add the text shown under the caret.
    pub fn label(mut self, l: impl Into<String>) -> Diagnostic {
        self.label = l.into();
        self
    }
    /// Add a help line.
    pub fn help(mut self, h: impl Into<String>) -> Diagnostic {
        self.help = Some(h.into());
        self
    }
    /// Is this an error?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render like rustc:
    ///
    /// ```text
    /// error: unknown prompt `welcom`
    ///   --> dialplans/demo.ivr:12:10
    ///    |
    /// 12 |     play "welcom"
    ///    |          ^^^^^^^^ there is no prompt with this name in `en`
    ///    |
    ///    = help: did you mean `welcome`?
    /// ```
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut o = String::new();
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(o, "{sev}: {}", self.message);
        let file = self.span.and_then(|s| sources.get(s.file).map(|f| (s, f)));
        let Some((span, file)) = file else {
            if let Some(h) = &self.help {
                let _ = writeln!(o, "  = help: {h}");
            }
            return o;
        };
        let (line, col) = file.line_col(span.start);
        let text = file.line_text(line);
        let gutter = line.to_string().len();
        let pad = " ".repeat(gutter);
        let _ = writeln!(o, "{pad}--> {}:{}:{}", file.name, line, col);
        let _ = writeln!(o, "{pad} |");
        let _ = writeln!(o, "{line} | {}", text.replace('\t', " "));
        let (end_line, end_col) = file.line_col(span.end);
        let width = if end_line == line && end_col > col {
            end_col - col
        } else {
            text.chars().count().saturating_sub(col - 1).max(1)
        };
        let _ = write!(
            o,
            "{pad} | {}{}",
            " ".repeat(col - 1),
            "^".repeat(width.max(1))
        );
        if !self.label.is_empty() {
            let _ = write!(o, " {}", self.label);
        }
        o.push('\n');
        if let Some(h) = &self.help {
            let _ = writeln!(o, "{pad} |");
            let _ = writeln!(o, "{pad} = help: {h}");
        }
        o
    }
}

/// Render many diagnostics, errors first within each file order, plus a summary line.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let mut o = String::new();
    for d in diags {
        o.push_str(&d.render(sources));
        o.push('\n');
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    match (errors, warnings) {
        (0, 0) => {}
        (0, w) => {
            let _ = writeln!(
                o,
                "warning: {w} warning{} (the dialplan can be loaded)",
                if w == 1 { "" } else { "s" }
            );
        }
        (e, w) => {
            let _ = writeln!(
                o,
                "error: {e} error{} and {w} warning{}: the dialplan can't be loaded until the errors are fixed",
                if e == 1 { "" } else { "s" },
                if w == 1 { "" } else { "s" }
            );
        }
    }
    o
}

/// The closest candidate to `name` (by edit distance), if it is close enough to be a typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(name, c);
        let limit = name.chars().count().div_ceil(3);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_rustc() {
        let mut sm = SourceMap::new();
        let f = sm.add("demo.ivr", "block main {\n    play \"welcom\"\n}\n");
        let d = Diagnostic::error("unknown prompt `welcom`", Span::new(f, 22, 30))
            .label("no prompt with this name in `en`")
            .help("did you mean `welcome`?");
        let text = d.render(&sm);
        assert_eq!(
            text,
            "error: unknown prompt `welcom`\n --> demo.ivr:2:10\n  |\n2 |     play \"welcom\"\n  |          ^^^^^^^^ no prompt with this name in `en`\n  |\n  = help: did you mean `welcome`?\n"
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("welcom", ["welcome", "goodbye"]),
            Some("did you mean `welcome`?".into())
        );
        assert_eq!(did_you_mean("zzz", ["welcome"]), None);
    }
}
