//! Recursive-descent parser from tokens ([`crate::lexer`], cut with nom) to the [`crate::ast`].
//!
//! Total: every input gives a [`File`] or a [`ParseError`]; nesting depth and sizes are
//! bounded so hostile input can't exhaust the stack.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]
mod expressions;
mod items;
mod statements;

use crate::ast::*;
use crate::lexer::{lex, Tok};
use crate::source::{FileId, Span};

/// Deepest nesting of blocks and expressions accepted.
pub const MAX_DEPTH: u32 = 64;

/// A syntax error, written for operators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A suggestion, if we have one.
    pub help: Option<String>,
}

/// Parse one file's text.
pub fn parse_file(file: FileId, src: &str) -> Result<File, ParseError> {
    let toks = lex(file, src).map_err(|e| ParseError {
        message: e.message,
        span: e.span,
        help: None,
    })?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    p.file()
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    depth: u32,
}

type PResult<T> = Result<T, ParseError>;

const STMT_WORDS: &str = "play, say, menu, collect, set, if, match, goto, call, return, http, \
priority, tenant, skill, screenpop, language, queue, transfer, hangup";

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("the string \"{s}\""),
        Tok::Num(n) => format!("the number {n}"),
        Tok::Dur(_) => "a duration".into(),
        Tok::Date(..) => "a date".into(),
        Tok::Time(_) => "a time".into(),
        Tok::Punct(p) => format!("`{p}`"),
        Tok::Eof => "the end of the file".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map(|t| &t.0).unwrap_or(&Tok::Eof)
    }
    fn peek_at(&self, n: usize) -> &Tok {
        self.toks
            .get(self.pos + n)
            .map(|t| &t.0)
            .unwrap_or(&Tok::Eof)
    }
    fn span(&self) -> Span {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map(|t| t.1)
            .unwrap_or_default()
    }
    fn prev_span(&self) -> Span {
        self.toks
            .get(self.pos.saturating_sub(1))
            .map(|t| t.1)
            .unwrap_or_default()
    }
    fn bump(&mut self) -> (Tok, Span) {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .unwrap_or((Tok::Eof, self.span()));
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn err<T>(&self, message: impl Into<String>, help: Option<String>) -> PResult<T> {
        Err(ParseError {
            message: message.into(),
            span: self.span(),
            help,
        })
    }
    fn expected<T>(&self, what: &str) -> PResult<T> {
        self.err(
            format!("expected {what}, found {}", describe(self.peek())),
            None,
        )
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_word(&mut self, w: &str) -> PResult<Span> {
        if self.eat_word(w) {
            Ok(self.prev_span())
        } else {
            self.expected(&format!("`{w}`"))
        }
    }
    fn expect_punct(&mut self, p: &str) -> PResult<Span> {
        if self.eat_punct(p) {
            Ok(self.prev_span())
        } else {
            self.expected(&format!("`{p}`"))
        }
    }
    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let (_, span) = self.bump();
                Ok(Ident { name, span })
            }
            _ => self.expected(what),
        }
    }
    fn string(&mut self, what: &str) -> PResult<StrLit> {
        match self.peek().clone() {
            Tok::Str(value) => {
                let (_, span) = self.bump();
                Ok(StrLit { value, span })
            }
            _ => self.expected(what),
        }
    }
    fn duration(&mut self, what: &str) -> PResult<f64> {
        match *self.peek() {
            Tok::Dur(d) => {
                self.bump();
                Ok(d)
            }
            Tok::Num(_) => self.err(
                format!("expected {what} with a unit"),
                Some("write a unit after the number: `5s`, `2m`, `1h` or `500ms`".into()),
            ),
            _ => self.expected(what),
        }
    }
    fn count(&mut self, what: &str) -> PResult<u32> {
        match *self.peek() {
            Tok::Num(n) if n.fract() == 0.0 && (0.0..=1_000_000.0).contains(&n) => {
                self.bump();
                Ok(n as u32)
            }
            _ => self.expected(what),
        }
    }
    fn lang(&mut self) -> PResult<Lang> {
        match self.peek() {
            Tok::Ident(s) => match Lang::from_code(s) {
                Some(l) => {
                    self.bump();
                    Ok(l)
                }
                None => self.err(
                    format!("unknown language `{s}`"),
                    Some("the languages are `en` and `ru`".into()),
                ),
            },
            _ => self.expected("a language (`en` or `ru`)"),
        }
    }
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("nested more than {MAX_DEPTH} levels deep"), None);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<File, ParseError> {
        parse_file(FileId(0), s)
    }

    #[test]
    fn parses_a_small_flow() {
        let f = p(r#"
            timezone "Europe/Moscow"
            entry to "100" goto main
            block main {
                play "welcome"
                menu "main-menu" timeout 5s retries 3 {
                    1 => goto sales
                    2 => { queue support { priority 5 max_wait 5m goto main } }
                    default => hangup
                }
            }
            block sales { queue sales }
        "#)
        .unwrap();
        assert_eq!(f.items.len(), 4);
        let Item::Block(b) = &f.items[2] else {
            panic!()
        };
        assert_eq!(b.body.len(), 2);
        let StmtKind::Menu(m) = &b.body[1].kind else {
            panic!()
        };
        assert_eq!(m.choices.len(), 2);
        assert_eq!(m.retries, Some(3));
        assert!(m.default.is_some());
    }

    #[test]
    fn precedence_is_conventional() {
        let f = p("block b { set x = 1 + 2 * 3 == 7 and not y }").unwrap();
        let Item::Block(b) = &f.items[0] else {
            panic!()
        };
        let StmtKind::Set(_, e) = &b.body[0].kind else {
            panic!()
        };
        let ExprKind::Bin(BinOp::And, l, r) = &e.kind else {
            panic!("{e:?}")
        };
        assert!(matches!(l.kind, ExprKind::Bin(BinOp::Eq, _, _)));
        assert!(matches!(r.kind, ExprKind::Not(_)));
    }

    #[test]
    fn assignment_without_set_gets_help() {
        let e = p("block b {\n x = 1\n}").unwrap_err();
        assert!(e.message.contains("unknown statement `x`"), "{e:?}");
        assert!(e.help.unwrap().contains("set x ="));
    }

    #[test]
    fn unclosed_block_points_at_the_brace() {
        let e = p("block b {\n play \"x\"\n").unwrap_err();
        assert!(e.message.contains("never closed"));
        assert_eq!(e.span.start, 8);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!(
            "block b {{ set x = {}1{} }}",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(p(&src).unwrap_err().message.contains("nested"));
        let src = format!("block b {} {}", "{ if x ".repeat(3000), "}".repeat(3000));
        assert!(p(&src).is_err());
    }
}
