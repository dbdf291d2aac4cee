//! name-addr / addr-spec values with header parameters (From, To, Contact, Route, ...).
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fmt;

use crate::error::HeaderError;
use crate::lex;
use crate::param::{self, Param};
use crate::uri::{parse_uri, Uri};

/// name-addr or addr-spec with header params (From, To, Contact, Route, Record-Route, Refer-To...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name, unquoted (quoted-pairs resolved).
    pub display: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address (`tag`, `expires`, `q`, ...), unquoted.
    pub params: Vec<Param>,
}

impl NameAddr {
    /// A bare address with no display name or parameters.
    pub fn new(uri: Uri) -> NameAddr {
        NameAddr {
            display: None,
            uri,
            params: Vec::new(),
        }
    }

    /// Parse one name-addr or addr-spec with its parameters.
    pub fn parse(s: &str) -> Result<NameAddr, HeaderError> {
        parse_name_addr(s).map_err(|w| HeaderError::new("name-addr", w))
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Set (or replace) the `tag` parameter.
    pub fn set_tag(&mut self, tag: &str) {
        param::set_param(&mut self.params, "tag", Some(tag.to_owned()));
    }

    /// Look up a header parameter, case-insensitively: `Some(None)` for a flag.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        param::find_param(&self.params, name)
    }

    /// Replace or add a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        param::set_param(&mut self.params, name, value);
    }
}

/// Display names written without quotes: tokens separated by LWS.
/// Non-ASCII UTF-8 is tolerated too (phones send it unquoted); ASCII separators such as
/// `,` are not (RFC 4475 §3.1.2.15).
fn valid_unquoted_display(s: &str) -> bool {
    s.bytes()
        .all(|b| lex::is_token_byte(b) || lex::is_ws(b) || b >= 0x80)
}

/// Byte index of the first `<` outside quoted strings, before any `;`.
fn find_unquoted_lt(s: &str) -> Option<usize> {
    let mut in_quote = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_quote = false;
            }
        } else if b == b'"' {
            in_quote = true;
        } else if b == b'<' {
            return Some(i);
        } else if b == b';' {
            // An addr-spec's header params start here; a '<' after this is inside a value.
            return None;
        }
    }
    None
}

pub(crate) fn parse_name_addr(s: &str) -> Result<NameAddr, &'static str> {
    let s = lex::trim(s);
    if s.is_empty() {
        return Err("empty value");
    }
    let (display, after_display) = if s.starts_with('"') {
        let n = lex::quoted_len(s).ok_or("unterminated quoted string")?;
        let (q, rest) = s.split_at_checked(n).ok_or("bad quoted string")?;
        let rest = lex::trim(rest);
        if !rest.starts_with('<') {
            return Err("quoted display name without <uri>");
        }
        (Some(lex::unquote(q)?), rest)
    } else if let Some(lt) = find_unquoted_lt(s) {
        let (d, rest) = s.split_at_checked(lt).ok_or("bad display name")?;
        let d = lex::trim(d);
        if !valid_unquoted_display(d) {
            return Err("non-token characters in unquoted display name");
        }
        (
            if d.is_empty() {
                None
            } else {
                Some(d.to_owned())
            },
            rest,
        )
    } else {
        // addr-spec: the URI ends at the first ';', which starts header params.
        let (u, p) = match s.find(';') {
            Some(i) => s.split_at_checked(i).ok_or("bad addr-spec")?,
            None => (s, ""),
        };
        let u = lex::trim(u);
        if u.contains(['?', ',']) {
            return Err("URI with '?' or ',' must be enclosed in <>");
        }
        let uri = parse_uri(u)?;
        let params = param::parse_generic_params(p)?;
        return Ok(NameAddr {
            display: None,
            uri,
            params,
        });
    };
    let inner = after_display.strip_prefix('<').ok_or("expected <")?;
    let gt = inner.find('>').ok_or("unterminated <")?;
    let (u, rest) = inner.split_at_checked(gt).ok_or("bad <uri>")?;
    let rest = rest.strip_prefix('>').unwrap_or(rest);
    let uri = parse_uri(u)?;
    let params = param::parse_generic_params(rest)?;
    Ok(NameAddr {
        display,
        uri,
        params,
    })
}

impl NameAddr {
    pub(crate) fn write_to(&self, out: &mut String) {
        if let Some(d) = &self.display {
            lex::push_quoted(out, d);
            out.push(' ');
        }
        out.push('<');
        match &self.uri {
            crate::Uri::Sip(u) => u.write_to(out),
            other => out.push_str(&other.to_string()),
        }
        out.push('>');
        param::push_generic_params(out, &self.params);
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(64);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

/// Split a comma-joined list of name-addrs and parse each one.
pub(crate) fn parse_name_addr_list(s: &str) -> Result<Vec<NameAddr>, &'static str> {
    let mut out = Vec::new();
    for piece in lex::split_top(s, b',')? {
        out.push(parse_name_addr(piece)?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let a = NameAddr::parse(
            r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(a.display.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(a.tag(), Some("98asjd8"));
        let b = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(b.display.as_deref(), Some("caller"));
        let c = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert_eq!(c.param("unknownparam"), Some(None));
        assert_eq!(c.uri.as_sip().unwrap().params, vec![]);
        let d = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert!(d.params.is_empty());
        assert_eq!(d.uri.as_sip().unwrap().param("unknownparam"), Some(None));
    }

    #[test]
    fn quoted_angle_in_param_and_utf8_display() {
        let a = NameAddr::parse("sip:a@b.example;+sip.instance=\"<urn:uuid:1234>\"").unwrap();
        assert_eq!(a.param("+sip.instance"), Some(Some("<urn:uuid:1234>")));
        let b = NameAddr::parse("<sip:a@b.example>;+sip.instance=\"<urn:uuid:1234>\"").unwrap();
        assert_eq!(a.params, b.params);
        let c = NameAddr::parse("J\u{f6}rg M\u{fc}ller <sip:j@b.example>").unwrap();
        assert_eq!(c.display.as_deref(), Some("J\u{f6}rg M\u{fc}ller"));
    }

    #[test]
    fn rejects() {
        assert!(NameAddr::parse(r#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        assert!(NameAddr::parse(r#""Watson, Thomas" < sip:t.watson@example.org >"#).is_err());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43").is_err());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
        assert!(NameAddr::parse(r#""Joe" <sip:joe@example.org>;;;;"#).is_err());
    }

    #[test]
    fn round_trip() {
        let mut a =
            NameAddr::parse("token1~` token2'+_ <sip:mundane@example.com>;p=\"a b\"").unwrap();
        a.set_tag("xyz");
        let b = NameAddr::parse(&a.to_string()).unwrap();
        assert_eq!(a, b);
    }
}
