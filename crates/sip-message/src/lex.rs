//! Lexical scanning shared by the header and URI parsers: tokens, quoted strings,
//! top-level comma/semicolon splitting and generic `;name=value` parameters.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::uri::Param;

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

/// Characters accepted in an unquoted generic-param value: token characters plus the
/// IPv6 reference characters (`received=[2001:db8::1]`) and a few seen in the wild.
fn is_plain_value_byte(b: u8) -> bool {
    is_token_byte(b)
        || matches!(
            b,
            b'[' | b']'
                | b':'
                | b'/'
                | b'@'
                | b'?'
                | b'='
                | b'&'
                | b'$'
                | b'#'
                | b'('
                | b')'
                | b'{'
                | b'}'
                | b'|'
                | b'^'
        )
}

/// Parse one `name[=value]` generic parameter (LWS allowed around `=`).
pub(crate) fn parse_generic_param(piece: &str) -> Result<Param, &'static str> {
    let piece = trim(piece);
    if piece.is_empty() {
        return Err("empty parameter");
    }
    let (name, value) = match piece.split_once('=') {
        Some((n, v)) => (trim(n), Some(trim(v))),
        None => (piece, None),
    };
    if !is_token(name) {
        return Err("bad parameter name");
    }
    let value = match value {
        None => None,
        Some(v) if v.starts_with('"') => Some(unquote(v)?),
        Some(v) => {
            if v.is_empty() || !v.bytes().all(is_plain_value_byte) {
                return Err("bad parameter value");
            }
            Some(v.to_owned())
        }
    };
    Ok(Param {
        name: name.to_owned(),
        value,
    })
}

/// Parse `;a=b;c` (leading `;` required unless `s` is blank) into generic parameters.
pub(crate) fn parse_generic_params(s: &str) -> Result<Vec<Param>, &'static str> {
    let s = trim(s);
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let rest = s.strip_prefix(';').ok_or("unexpected text after value")?;
    let mut out = Vec::new();
    for piece in split_top(rest, b';')? {
        out.push(parse_generic_param(piece)?);
    }
    Ok(out)
}

/// Append `;name[=value]` generic parameters, quoting values that need it.
pub(crate) fn push_generic_params(out: &mut String, params: &[Param]) {
    for p in params {
        out.push(';');
        out.push_str(&p.name);
        if let Some(v) = &p.value {
            out.push('=');
            if !v.is_empty()
                && v.bytes()
                    .all(|b| is_token_byte(b) || matches!(b, b'[' | b']' | b':'))
            {
                out.push_str(v);
            } else {
                push_quoted(out, v);
            }
        }
    }
}

/// Find a parameter by case-insensitive name.
pub(crate) fn find_param<'a>(params: &'a [Param], name: &str) -> Option<Option<&'a str>> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_deref())
}

/// Replace (or append) a parameter by case-insensitive name.
pub(crate) fn set_param(params: &mut Vec<Param>, name: &str, value: Option<String>) {
    if let Some(p) = params
        .iter_mut()
        .find(|p| p.name.eq_ignore_ascii_case(name))
    {
        p.value = value;
    } else {
        params.push(Param {
            name: name.to_owned(),
            value,
        });
    }
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

    #[test]
    fn params_parse_and_reject_empty() {
        let p = parse_generic_params(" ;  tag    = 1918181833n").unwrap();
        assert_eq!(p[0].name, "tag");
        assert_eq!(p[0].value.as_deref(), Some("1918181833n"));
        assert!(parse_generic_params(";;").is_err());
        assert!(parse_generic_params("x").is_err());
    }
}
