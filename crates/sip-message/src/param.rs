//! Generic `;name[=value]` parameters, as they follow URIs, name-addrs, Via and other
//! headers: the [`Param`] type, and parsing, printing and lookup by case-insensitive name.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::lex::{is_token, is_token_byte, push_quoted, split_top, trim, unquote};

/// A generic `;name[=value]` parameter (value kept as written, quotes removed if quoted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// Parameter name, as written.
    pub name: String,
    /// Value, if any (URI params: %-decoded; header params: unquoted).
    pub value: Option<String>,
}

impl Param {
    /// A parameter with a value.
    pub fn new(name: impl Into<String>, value: Option<String>) -> Param {
        Param {
            name: name.into(),
            value,
        }
    }
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

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn params_parse_and_reject_empty() {
        let p = parse_generic_params(" ;  tag    = 1918181833n").unwrap();
        assert_eq!(p[0].name, "tag");
        assert_eq!(p[0].value.as_deref(), Some("1918181833n"));
        assert!(parse_generic_params(";;").is_err());
        assert!(parse_generic_params("x").is_err());
    }
}
