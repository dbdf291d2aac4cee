//! Tokens of the dialplan language, cut with nom.
//!
//! Newlines are not significant; `#` starts a comment that runs to the end of the line
//! (a `#` inside a string is just a character).

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1, take_while_m_n};
use nom::character::complete::{char, digit1};
use nom::combinator::{opt, recognize};
use nom::sequence::tuple;
use nom::IResult;

use crate::source::{FileId, Span};

/// Largest accepted source file, in bytes.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Longest accepted string literal, in bytes.
pub const MAX_STRING_BYTES: usize = 4096;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A word: keyword, name of a block, variable, queue...
    Ident(String),
    /// A double-quoted string, escapes resolved.
    Str(String),
    /// A number such as `42` or `12.50`.
    Num(f64),
    /// A duration such as `5s`, `2m`, `1h`, `500ms`, in seconds.
    Dur(f64),
    /// A calendar date `2026-01-01`.
    Date(u16, u8, u8),
    /// A clock time `09:30`, in minutes since midnight.
    Time(u32),
    /// Punctuation or an operator.
    Punct(&'static str),
    /// End of input.
    Eof,
}

/// A lexing error with its location.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    /// What went wrong, for operators.
    pub message: String,
    /// Where.
    pub span: Span,
}

const PUNCTS: [&str; 24] = [
    "=>", "->", "==", "!=", "<=", ">=", "{", "}", "(", ")", "[", "]", ",", ";", ":", "=", "<", ">",
    "+", "-", "*", "/", "%", ".",
];

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}
fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn skip_ws(i: &str) -> &str {
    let mut rest = i;
    loop {
        let trimmed = rest.trim_start();
        if let Some(c) = trimmed.strip_prefix('#') {
            rest = match c.find('\n') {
                Some(n) => c.get(n..).unwrap_or(""),
                None => "",
            };
        } else {
            return trimmed;
        }
    }
}

fn two_digits(i: &str) -> IResult<&str, &str> {
    take_while_m_n(2, 2, |c: char| c.is_ascii_digit())(i)
}

fn date(i: &str) -> IResult<&str, Tok> {
    let (r, (y, _, m, _, d)) = tuple((
        take_while_m_n(4, 4, |c: char| c.is_ascii_digit()),
        char('-'),
        two_digits,
        char('-'),
        two_digits,
    ))(i)?;
    let tok = Tok::Date(
        y.parse().unwrap_or(0),
        m.parse().unwrap_or(0),
        d.parse().unwrap_or(0),
    );
    Ok((r, tok))
}

fn time(i: &str) -> IResult<&str, Tok> {
    let (r, (h, _, m)) = tuple((
        take_while_m_n(1, 2, |c: char| c.is_ascii_digit()),
        char(':'),
        two_digits,
    ))(i)?;
    let h: u32 = h.parse().unwrap_or(0);
    let m: u32 = m.parse().unwrap_or(0);
    Ok((r, Tok::Time(h * 60 + m)))
}

fn number(i: &str) -> IResult<&str, Tok> {
    let (r, text) = recognize(tuple((digit1, opt(tuple((char('.'), digit1))))))(i)?;
    let value: f64 = text.parse().unwrap_or(0.0);
    let unit: IResult<&str, &str> = alt((tag("ms"), tag("s"), tag("m"), tag("h")))(r);
    if let Ok((r2, u)) = unit {
        if !r2.starts_with(is_ident_char) {
            let secs = match u {
                "ms" => value / 1000.0,
                "s" => value,
                "m" => value * 60.0,
                _ => value * 3600.0,
            };
            return Ok((r2, Tok::Dur(secs)));
        }
    }
    Ok((r, Tok::Num(value)))
}

fn ident(i: &str) -> IResult<&str, Tok> {
    let (r, s) = recognize(tuple((
        take_while1(is_ident_start),
        take_while(is_ident_char),
    )))(i)?;
    Ok((r, Tok::Ident(s.to_string())))
}

fn punct(i: &str) -> IResult<&str, Tok> {
    for p in PUNCTS {
        if let Some(r) = i.strip_prefix(p) {
            return Ok((r, Tok::Punct(p)));
        }
    }
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Tag,
    )))
}

/// Cut `src` into tokens with spans. The last token is always [`Tok::Eof`].
pub fn lex(file: FileId, src: &str) -> Result<Vec<(Tok, Span)>, LexError> {
    let total = src.len();
    let at = |rest: &str| total - rest.len();
    if total > MAX_SOURCE_BYTES {
        return Err(LexError {
            message: format!(
                "this file is too large ({total} bytes, the limit is {MAX_SOURCE_BYTES})"
            ),
            span: Span::new(file, 0, 0),
        });
    }
    let mut out = Vec::new();
    let mut rest = skip_ws(src);
    while !rest.is_empty() {
        let start = at(rest);
        if rest.starts_with('"') {
            let (tok, r) = string(file, rest, start)?;
            out.push((tok, Span::new(file, start, at(r))));
            rest = skip_ws(r);
            continue;
        }
        let res = alt((date, time, number, ident, punct))(rest);
        match res {
            Ok((r, tok)) => {
                out.push((tok, Span::new(file, start, at(r))));
                rest = skip_ws(r);
            }
            Err(_) => {
                let c = rest.chars().next().unwrap_or(' ');
                return Err(LexError {
                    message: format!("unexpected character `{c}`"),
                    span: Span::new(file, start, start + c.len_utf8()),
                });
            }
        }
    }
    out.push((Tok::Eof, Span::new(file, total, total)));
    Ok(out)
}

fn string(file: FileId, input: &str, start: usize) -> Result<(Tok, &str), LexError> {
    let mut s = String::new();
    let mut chars = input.char_indices().skip(1);
    while let Some((idx, c)) = chars.next() {
        match c {
            '"' => return Ok((Tok::Str(s), input.get(idx + 1..).unwrap_or(""))),
            '\n' => break,
            '\\' => match chars.next() {
                Some((_, 'n')) => s.push('\n'),
                Some((_, 't')) => s.push('\t'),
                Some((_, e @ ('"' | '\\'))) => s.push(e),
                Some((j, e)) => {
                    return Err(LexError {
                        message: format!(
                            "unknown escape `\\{e}` in a string (use `\\\\` for a backslash)"
                        ),
                        span: Span::new(file, start + j - 1, start + j + e.len_utf8()),
                    })
                }
                None => break,
            },
            c => s.push(c),
        }
        if s.len() > MAX_STRING_BYTES {
            return Err(LexError {
                message: format!("string longer than {MAX_STRING_BYTES} bytes"),
                span: Span::new(file, start, start + 1),
            });
        }
    }
    Err(LexError {
        message: "this string is never closed: add a `\"` before the end of the line".into(),
        span: Span::new(file, start, start + 1),
    })
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(FileId(0), s)
            .unwrap()
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn lexes_literals_and_comments() {
        assert_eq!(
            toks("play \"a#b\" # comment\n 5s 2m 12.5 2026-01-07 09:30 => x"),
            vec![
                Tok::Ident("play".into()),
                Tok::Str("a#b".into()),
                Tok::Dur(5.0),
                Tok::Dur(120.0),
                Tok::Num(12.5),
                Tok::Date(2026, 1, 7),
                Tok::Time(570),
                Tok::Punct("=>"),
                Tok::Ident("x".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn unterminated_string_is_an_error() {
        let e = lex(FileId(0), "play \"abc\nhangup").unwrap_err();
        assert!(e.message.contains("never closed"));
        assert_eq!(e.span.start, 5);
    }

    #[test]
    fn number_followed_by_word_is_not_a_duration() {
        assert_eq!(
            toks("5sec"),
            vec![Tok::Num(5.0), Tok::Ident("sec".into()), Tok::Eof]
        );
    }
}
