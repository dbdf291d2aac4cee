//! URIs: sip:, sips:, tel: and any other absolute URI kept verbatim.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::HeaderError;
use crate::param::{self, Param};

/// Host part of a URI or Via.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as written.
    Name(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets on the wire).
    V6(Ipv6Addr),
}

impl Host {
    /// Parse a host: `[v6]`, dotted IPv4, or a domain name.
    pub fn parse(s: &str) -> Result<Host, HeaderError> {
        parse_host(s).map_err(|w| HeaderError::new("host", w))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Parse IPv6 text, tolerating the RFC 3261 ABNF bug `x:y:::a.b.c.d` (RFC 5118 §4.10).
fn parse_v6(inner: &str) -> Option<Ipv6Addr> {
    if let Ok(a) = inner.parse() {
        return Some(a);
    }
    if inner.contains(":::") && inner.matches(":::").count() == 1 && !inner.contains("::::") {
        let (a, b) = inner.split_once(":::")?;
        // hexpart "::" followed by ":" IPv4address: valid only with an embedded IPv4 tail.
        if b.contains('.') && !b.contains(':') {
            return format!("{a}::{b}").parse().ok();
        }
    }
    None
}

pub(crate) fn parse_host(s: &str) -> Result<Host, &'static str> {
    if s.is_empty() {
        return Err("missing host");
    }
    if let Some(rest) = s.strip_prefix('[') {
        let inner = rest
            .strip_suffix(']')
            .ok_or("unterminated IPv6 reference")?;
        return parse_v6(inner).map(Host::V6).ok_or("bad IPv6 reference");
    }
    if let Ok(a) = s.parse::<Ipv4Addr>() {
        return Ok(Host::V4(a));
    }
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        Ok(Host::Name(s.to_owned()))
    } else {
        Err("bad host")
    }
}

/// Split host text off the front of `s`: a bracketed IPv6 reference, or up to a delimiter.
/// Returns (host text, rest).
pub(crate) fn split_host<'a>(
    s: &'a str,
    delims: &[u8],
) -> Result<(&'a str, &'a str), &'static str> {
    if s.starts_with('[') {
        let end = s.find(']').ok_or("unterminated IPv6 reference")?;
        let (h, rest) = s.split_at_checked(end + 1).ok_or("bad IPv6 reference")?;
        Ok((h, rest))
    } else {
        let end = s
            .bytes()
            .position(|b| delims.contains(&b))
            .unwrap_or(s.len());
        s.split_at_checked(end).ok_or("bad host")
    }
}

/// Parse a port: 1 to 5 digits, fitting u16.
pub(crate) fn parse_port(s: &str) -> Result<u16, &'static str> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("bad port");
    }
    s.parse().map_err(|_| "bad port")
}

/// sip: or sips: URI. `user`/`password` and param values are stored UNESCAPED (%XX decoded once);
/// printing re-escapes what must be escaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// `sips:` rather than `sip:`.
    pub secure: bool,
    /// User part, %-decoded.
    pub user: Option<String>,
    /// Password, %-decoded.
    pub password: Option<String>,
    /// Host.
    pub host: Host,
    /// Port, if written.
    pub port: Option<u16>,
    /// uri-parameters, %-decoded.
    pub params: Vec<Param>,
    /// `?name=value&...` headers, %-decoded.
    pub headers: Vec<(String, String)>,
}

impl SipUri {
    /// A plain `sip:` URI for `host` with no user, port or parameters.
    pub fn new(host: Host) -> SipUri {
        SipUri {
            secure: false,
            user: None,
            password: None,
            host,
            port: None,
            params: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Look up a uri-parameter, case-insensitively: `Some(None)` for a flag such as `;lr`.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        param::find_param(&self.params, name)
    }

    /// The `transport` parameter, if present with a value.
    pub fn transport(&self) -> Option<&str> {
        self.param("transport").flatten()
    }

    /// Replace or add a uri-parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        param::set_param(&mut self.params, name, value);
    }
}

/// tel: URI (RFC 3966).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelUri {
    /// The number, %-decoded, visual separators kept (`+1-212-555-0100`).
    pub number: String,
    /// Parameters (`phone-context`, `ext`, ...), %-decoded.
    pub params: Vec<Param>,
}

/// Any URI that may appear in a SIP message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    /// sip: or sips:.
    Sip(SipUri),
    /// tel:.
    Tel(TelUri),
    /// Any other absoluteURI, kept verbatim.
    Other(String),
}

impl Uri {
    /// Parse a URI. No surrounding whitespace or `<>` is accepted.
    pub fn parse(s: &str) -> Result<Uri, HeaderError> {
        parse_uri(s).map_err(|w| HeaderError::new("URI", w))
    }

    /// User part of a SIP URI, or the number of a tel URI.
    pub fn user(&self) -> Option<&str> {
        match self {
            Uri::Sip(u) => u.user.as_deref(),
            Uri::Tel(t) => Some(&t.number),
            Uri::Other(_) => None,
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }
}

impl From<SipUri> for Uri {
    fn from(u: SipUri) -> Uri {
        Uri::Sip(u)
    }
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode `%XX` escapes exactly once. Fails on a broken escape or non-UTF-8 result.
pub(crate) fn pct_decode(s: &str) -> Result<String, &'static str> {
    if !s.contains('%') {
        return Ok(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_val);
            let lo = b.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => {
                    out.push((h << 4) | l);
                    i += 3;
                }
                _ => return Err("bad %-escape"),
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "%-escape is not UTF-8")
}

/// `user-unreserved` (RFC 3261 §25.1).
pub(crate) const USER_SAFE: &[u8] = b"&=+$,;?/";
/// Password characters besides unreserved.
pub(crate) const PASSWORD_SAFE: &[u8] = b"&=+$,";
/// `param-unreserved`.
pub(crate) const PARAM_SAFE: &[u8] = b"[]/:&+$";
/// `hnv-unreserved`.
pub(crate) const HNV_SAFE: &[u8] = b"[]/?:+$";
/// Characters printed raw in a tel number.
const TEL_SAFE: &[u8] = b"+-.()*";

/// Append `s`, escaping everything that is not unreserved or in `safe`.
pub(crate) fn pct_encode(out: &mut String, s: &str, safe: &[u8]) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) || safe.contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

fn valid_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
}

pub(crate) fn parse_uri(s: &str) -> Result<Uri, &'static str> {
    if s.is_empty() {
        return Err("empty URI");
    }
    if s.bytes()
        .any(|b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'"'))
    {
        return Err("whitespace, control or <>\" in URI");
    }
    let (scheme, rest) = s.split_once(':').ok_or("missing scheme")?;
    if !valid_scheme(scheme) {
        return Err("bad scheme");
    }
    if rest.is_empty() {
        return Err("empty URI after scheme");
    }
    if scheme.eq_ignore_ascii_case("sip") {
        parse_sip(false, rest).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case("sips") {
        parse_sip(true, rest).map(Uri::Sip)
    } else if scheme.eq_ignore_ascii_case("tel") {
        parse_tel(rest).map(Uri::Tel)
    } else {
        Ok(Uri::Other(s.to_owned()))
    }
}

fn parse_uri_params(s: &str) -> Result<Vec<Param>, &'static str> {
    let mut out = Vec::new();
    for piece in s.split(';') {
        let (name, value) = match piece.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (piece, None),
        };
        let name = pct_decode(name)?;
        if name.is_empty() {
            return Err("empty uri-parameter");
        }
        let value = match value {
            Some("") => return Err("empty uri-parameter value"),
            Some(v) => Some(pct_decode(v)?),
            None => None,
        };
        out.push(Param { name, value });
    }
    Ok(out)
}

fn parse_sip(secure: bool, rest: &str) -> Result<SipUri, &'static str> {
    let (userinfo, hostpart) = match rest.split_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(ui) => {
            let (u, p) = match ui.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (ui, None),
            };
            if u.is_empty() {
                return Err("empty user part");
            }
            (Some(pct_decode(u)?), p.map(pct_decode).transpose()?)
        }
    };
    let (host_text, mut rest) = split_host(hostpart, b":;?")?;
    let host = parse_host(host_text)?;
    let mut port = None;
    if let Some(r) = rest.strip_prefix(':') {
        let end = r
            .bytes()
            .position(|b| b == b';' || b == b'?')
            .unwrap_or(r.len());
        let (p, r2) = r.split_at_checked(end).ok_or("bad port")?;
        port = Some(parse_port(p)?);
        rest = r2;
    }
    let mut params = Vec::new();
    if let Some(r) = rest.strip_prefix(';') {
        let (p, r2) = match r.split_once('?') {
            Some((p, h)) => (p, Some(h)),
            None => (r, None),
        };
        params = parse_uri_params(p)?;
        rest = match r2 {
            Some(_) => r.get(p.len()..).unwrap_or(""),
            None => "",
        };
    }
    let mut headers = Vec::new();
    if let Some(h) = rest.strip_prefix('?') {
        for piece in h.split('&') {
            let (n, v) = piece.split_once('=').ok_or("uri header without =")?;
            let n = pct_decode(n)?;
            if n.is_empty() {
                return Err("empty uri header name");
            }
            headers.push((n, pct_decode(v)?));
        }
    } else if !rest.is_empty() {
        return Err("junk after host");
    }
    Ok(SipUri {
        secure,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

fn parse_tel(rest: &str) -> Result<TelUri, &'static str> {
    let (number, params) = match rest.split_once(';') {
        Some((n, p)) => (n, parse_uri_params(p)?),
        None => (rest, Vec::new()),
    };
    let number = pct_decode(number)?;
    if number.is_empty()
        || !number.bytes().all(|b| {
            b.is_ascii_hexdigit() || matches!(b, b'+' | b'-' | b'.' | b'(' | b')' | b'*' | b'#')
        })
    {
        return Err("bad telephone number");
    }
    Ok(TelUri { number, params })
}

fn push_uri_params(out: &mut String, params: &[Param]) {
    for p in params {
        out.push(';');
        pct_encode(out, &p.name, PARAM_SAFE);
        if let Some(v) = &p.value {
            out.push('=');
            pct_encode(out, v, PARAM_SAFE);
        }
    }
}

impl SipUri {
    pub(crate) fn write_to(&self, out: &mut String) {
        out.push_str(if self.secure { "sips:" } else { "sip:" });
        if let Some(u) = &self.user {
            pct_encode(out, u, USER_SAFE);
            if let Some(p) = &self.password {
                out.push(':');
                pct_encode(out, p, PASSWORD_SAFE);
            }
            out.push('@');
        }
        let _ = write!(out, "{}", self.host);
        if let Some(p) = self.port {
            let _ = write!(out, ":{p}");
        }
        push_uri_params(out, &self.params);
        for (i, (n, v)) in self.headers.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            pct_encode(out, n, HNV_SAFE);
            out.push('=');
            pct_encode(out, v, HNV_SAFE);
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(48);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Display for TelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(32);
        s.push_str("tel:");
        pct_encode(&mut s, &self.number, TEL_SAFE);
        push_uri_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => u.fmt(f),
            Uri::Tel(t) => t.fmt(f),
            Uri::Other(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri {
        match Uri::parse(s).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn escapes_decode_once() {
        let u = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31");
        assert_eq!(u.user.as_deref(), Some("caller"));
        assert_eq!(u.param("lr"), Some(None));
        assert_eq!(u.param("name"), Some(Some("value%41")));
        let again = sip(&u.to_string());
        assert_eq!(again, u);
    }

    #[test]
    fn user_with_semicolons_and_escaped_at() {
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user.as_deref(), Some("user;par=u@example.net"));
        assert_eq!(u.host, Host::Name("example.com".into()));
        assert_eq!(u.to_string(), "sip:user;par=u%40example.net@example.com");
    }

    #[test]
    fn ipv6_hosts() {
        let u = sip("sip:[2001:db8::10]:5070");
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        let amb = sip("sip:[2001:db8::10:5070]");
        assert_eq!(amb.port, None);
        let bug = sip("sip:user@[2001:db8:::192.0.2.1]");
        assert_eq!(bug.host, Host::V6("2001:db8::192.0.2.1".parse().unwrap()));
        assert!(Uri::parse("sip:2001:db8::10").is_err());
        assert_eq!(amb.to_string(), "sip:[2001:db8::10:5070]");
    }

    #[test]
    fn tel_and_other() {
        let t = Uri::parse("tel:+1-212-555-0100;phone-context=example.com").unwrap();
        assert_eq!(t.user(), Some("+1-212-555-0100"));
        assert_eq!(
            t.to_string(),
            "tel:+1-212-555-0100;phone-context=example.com"
        );
        let o = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(o, Uri::Other("soap.beep://192.0.2.103:3002".into()));
        assert!(Uri::parse("<sip:a@b>").is_err());
        assert!(Uri::parse("sip:a@b; lr").is_err());
        assert!(Uri::parse("sip:a@b:99999").is_err());
    }

    #[test]
    fn uri_headers() {
        let u = sip("sip:user@example.com?Route=%3Csip:sip.example.com%3E");
        assert_eq!(
            u.headers,
            vec![("Route".into(), "<sip:sip.example.com>".into())]
        );
        assert_eq!(sip(&u.to_string()), u);
    }

    #[test]
    fn password_and_odd_user() {
        let u = sip("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com");
        assert_eq!(
            u.user.as_deref(),
            Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
        );
        assert_eq!(
            u.password.as_deref(),
            Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)")
        );
        assert_eq!(sip(&u.to_string()), u);
    }
}
