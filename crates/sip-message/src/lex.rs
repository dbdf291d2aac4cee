//! Lexical scanning shared by the header and URI parsers: tokens, quoted strings,
//! top-level comma/semicolon splitting and digit strings. It depends on no other module of
//! this crate; generic `;name=value` parameters are in `param`.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

/// RFC 3261 `token` character.
pub(crate) fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Non-empty and made only of token characters.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_byte)
}

/// Linear white space byte (after unfolding only SP and HTAB remain, but be generous).
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trim SP/HTAB/CR/LF from both ends.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r' || c == '\n')
}

/// Split `s` at every `sep` byte that is outside quoted strings (honouring backslash
/// escapes) and outside `<...>`. Fails on an unterminated quoted string or `<`.
pub(crate) fn split_top(s: &str, sep: u8) -> Result<Vec<&str>, &'static str> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut in_quote = false;
    let mut escaped = false;
    let mut in_angle = false;
    for (i, b) in s.bytes().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
            continue;
        }
        if in_angle {
            if b == b'>' {
                in_angle = false;
            }
            continue;
        }
        if b == b'"' {
            in_quote = true;
        } else if b == b'<' {
            in_angle = true;
        } else if b == sep {
            out.push(s.get(start..i).unwrap_or(""));
            start = i + 1;
        }
    }
    if in_quote {
        return Err("unterminated quoted string");
    }
    if in_angle {
        return Err("unterminated <");
    }
    out.push(s.get(start..).unwrap_or(""));
    Ok(out)
}

/// Parse a quoted string that must span all of `s` (after trimming by the caller):
/// `"..."` with `\x` quoted-pairs. Returns the unescaped content.
pub(crate) fn unquote(s: &str) -> Result<String, &'static str> {
    let inner = s.strip_prefix('"').ok_or("expected quoted string")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e)) => out.push(e),
                None => return Err("unterminated quoted string"),
            },
            '"' => {
                if i + 1 != inner.len() {
                    return Err("junk after quoted string");
                }
                return Ok(out);
            }
            _ => out.push(c),
        }
    }
    Err("unterminated quoted string")
}

/// Byte length of the quoted string at the start of `s` (including both quotes), if closed.
pub(crate) fn quoted_len(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate().skip(1) {
        if escaped {
            escaped = false;
        } else if b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            return Some(i + 1);
        }
    }
    None
}

/// Append `s` as a quoted string. CR and LF cannot be quoted in SIP; they become SP.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out.push('"');
}

/// Parse an all-digit decimal string into u32; `None` on empty, non-digit or overflow.
pub(crate) fn parse_u32_digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_angles() {
        let v = split_top(r#""a,b" <sip:x;y,z>, c"#, b',').unwrap();
        assert_eq!(v, vec![r#""a,b" <sip:x;y,z>"#, " c"]);
        assert!(split_top("\"abc", b',').is_err());
        assert!(split_top("<sip:x", b',').is_err());
    }

    #[test]
    fn unquote_handles_pairs() {
        assert_eq!(unquote(r#""J \\\"""#).unwrap(), "J \\\"");
        assert!(unquote(r#""abc"x"#).is_err());
        assert!(unquote(r#""abc"#).is_err());
    }
}
