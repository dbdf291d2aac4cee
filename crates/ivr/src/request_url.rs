//! Building the URL of a dialplan `http` request so that caller input cannot change its
//! structure.
//!
//! An operator writes `http get "https://crm.example/api?phone=" + caller`. The string
//! literals are the operator's: they are kept as written. Every other value joined into
//! the URL (variables, digits the caller pressed, function results) is data: it is
//! percent-encoded as an RFC 3986 component, so input such as `+7999&phone=1` arrives as
//! one query value (`%2B7999%26phone%3D1`) and can add no parameter, path segment or
//! fragment.

use crate::ast::{BinOp, Expr, ExprKind};

/// Appends `s` to `out`, percent-encoding everything but RFC 3986 unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`). Non-ASCII text is encoded as its UTF-8 bytes.
pub fn push_component(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 0xF) as usize] as char);
        }
    }
}

/// One piece of a URL expression: operator text, or a value to encode.
pub(crate) enum UrlPart<'e> {
    /// A string literal written in the dialplan: used as is.
    Literal(&'e str),
    /// Any other expression: evaluated, then percent-encoded.
    Value(&'e Expr),
}

/// Splits a URL expression along its string joins (`a + b + c`). `joins_text` tells
/// whether a `+` node joins text (rather than adding numbers), so `"n=" + (1 + 2)`
/// keeps `(1 + 2)` as one value. The walk is bounded by the parser's expression depth.
pub(crate) fn url_parts<'e>(
    e: &'e Expr,
    joins_text: &mut dyn FnMut(&Expr) -> bool,
    out: &mut Vec<UrlPart<'e>>,
) {
    match &e.kind {
        ExprKind::Str(s) => out.push(UrlPart::Literal(s)),
        ExprKind::Bin(BinOp::Add, l, r) if joins_text(e) => {
            url_parts(l, joins_text, out);
            url_parts(r, joins_text, out);
        }
        _ => out.push(UrlPart::Value(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut o = String::new();
        push_component(&mut o, s);
        o
    }

    #[test]
    fn reserved_characters_are_encoded() {
        assert_eq!(enc("+7999&phone=1"), "%2B7999%26phone%3D1");
        assert_eq!(enc("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(enc("79161112233"), "79161112233");
        assert_eq!(enc("Az-._~"), "Az-._~");
        assert_eq!(enc("Иван"), "%D0%98%D0%B2%D0%B0%D0%BD");
        assert_eq!(enc("%41"), "%2541");
    }
}
