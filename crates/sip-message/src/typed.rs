//! Smaller typed header values: CSeq, Contact lists, auth parameters, Replaces,
//! Session-Expires, Retry-After.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fmt;

use crate::error::HeaderError;
use crate::lex;
use crate::method::Method;
use crate::name_addr::NameAddr;
use crate::param::{self, Param};

/// CSeq header value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number (< 2^32).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parse `1*DIGIT LWS Method`.
    pub fn parse(s: &str) -> Result<CSeq, HeaderError> {
        let err = |w| HeaderError::new("CSeq", w);
        let s = lex::trim(s);
        let end = s
            .bytes()
            .position(lex::is_ws)
            .ok_or(err("missing method"))?;
        let (num, method) = s.split_at_checked(end).ok_or(err("bad value"))?;
        let seq =
            lex::parse_u32_digits(num).ok_or(err("sequence number is not a 32-bit number"))?;
        let method = lex::trim(method);
        if !lex::is_token(method) {
            return Err(err("bad method"));
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Contact header value(s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *` (REGISTER: remove all bindings).
    Star,
    /// Zero or more addresses, in order.
    List(Vec<NameAddr>),
}

/// Digest / other auth challenge or credentials: `Digest realm="x", nonce="y", ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthParams {
    /// Scheme as written (`Digest`).
    pub scheme: String,
    /// `name=value` pairs, values unquoted. A token68 value (`Basic abc==`) is stored with an empty name.
    pub params: Vec<(String, String)>,
}

impl AuthParams {
    /// Parse a challenge or credentials value.
    pub fn parse(s: &str) -> Result<AuthParams, HeaderError> {
        let err = |w| HeaderError::new("auth", w);
        let s = lex::trim(s);
        let end = s.bytes().position(lex::is_ws).unwrap_or(s.len());
        let (scheme, rest) = s.split_at_checked(end).ok_or(err("bad value"))?;
        if !lex::is_token(scheme) {
            return Err(err("bad scheme"));
        }
        let rest = lex::trim(rest);
        let mut params = Vec::new();
        if !rest.is_empty() {
            let token68 = rest.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
            }) && rest.trim_end_matches('=').bytes().all(|b| b != b'=');
            if token68 {
                params.push((String::new(), rest.to_owned()));
            } else {
                for piece in lex::split_top(rest, b',').map_err(err)? {
                    let piece = lex::trim(piece);
                    if piece.is_empty() {
                        continue;
                    }
                    let (n, v) = piece.split_once('=').ok_or(err("parameter without ="))?;
                    let n = lex::trim(n);
                    let v = lex::trim(v);
                    if !lex::is_token(n) {
                        return Err(err("bad parameter name"));
                    }
                    let v = if v.starts_with('"') {
                        lex::unquote(v).map_err(err)?
                    } else {
                        v.to_owned()
                    };
                    params.push((n.to_owned(), v));
                }
            }
        }
        Ok(AuthParams {
            scheme: scheme.to_owned(),
            params,
        })
    }

    /// A parameter value by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Display for AuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(128);
        s.push_str(&self.scheme);
        // Credentials carry `response`; there qop is a bare token (RFC 7616 §3.4).
        let credentials = self.get("response").is_some();
        for (i, (n, v)) in self.params.iter().enumerate() {
            s.push_str(if i == 0 { " " } else { ", " });
            if n.is_empty() {
                s.push_str(v);
                continue;
            }
            s.push_str(n);
            s.push('=');
            let bare = n.eq_ignore_ascii_case("algorithm")
                || n.eq_ignore_ascii_case("stale")
                || n.eq_ignore_ascii_case("nc")
                || n.eq_ignore_ascii_case("userhash")
                || n.eq_ignore_ascii_case("charset")
                || (credentials && n.eq_ignore_ascii_case("qop"));
            if bare && lex::is_token(v) {
                s.push_str(v);
            } else {
                lex::push_quoted(&mut s, v);
            }
        }
        f.write_str(&s)
    }
}

/// Replaces header (RFC 3891): `call-id;to-tag=..;from-tag=..[;early-only]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaces {
    /// Call-ID of the dialog to replace.
    pub call_id: String,
    /// to-tag.
    pub to_tag: String,
    /// from-tag.
    pub from_tag: String,
    /// `early-only` flag.
    pub early_only: bool,
}

impl Replaces {
    /// Parse a Replaces value; to-tag and from-tag are required.
    pub fn parse(s: &str) -> Result<Replaces, HeaderError> {
        let err = |w| HeaderError::new("Replaces", w);
        let s = lex::trim(s);
        let (call_id, rest) = match s.find(';') {
            Some(i) => s.split_at_checked(i).ok_or(err("bad value"))?,
            None => return Err(err("missing tags")),
        };
        let call_id = lex::trim(call_id);
        if call_id.is_empty() || call_id.bytes().any(lex::is_ws) {
            return Err(err("bad call-id"));
        }
        let params = param::parse_generic_params(rest).map_err(err)?;
        let to_tag = param::find_param(&params, "to-tag")
            .flatten()
            .ok_or(err("missing to-tag"))?;
        let from_tag = param::find_param(&params, "from-tag")
            .flatten()
            .ok_or(err("missing from-tag"))?;
        Ok(Replaces {
            call_id: call_id.to_owned(),
            to_tag: to_tag.to_owned(),
            from_tag: from_tag.to_owned(),
            early_only: param::find_param(&params, "early-only").is_some(),
        })
    }
}

impl fmt::Display for Replaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};to-tag={};from-tag={}",
            self.call_id, self.to_tag, self.from_tag
        )?;
        if self.early_only {
            f.write_str(";early-only")?;
        }
        Ok(())
    }
}

/// Which side refreshes a session timer (RFC 4028).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refresher {
    /// The UAC refreshes.
    Uac,
    /// The UAS refreshes.
    Uas,
}

/// Session-Expires header (RFC 4028): `delta-seconds[;refresher=uac|uas]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// Session interval in seconds.
    pub delta: u32,
    /// The refresher, if named.
    pub refresher: Option<Refresher>,
    /// Other parameters.
    pub params: Vec<Param>,
}

fn split_leading_value(s: &str) -> (&str, &str) {
    let s = lex::trim(s);
    match s.find([';', ' ', '\t', '(']) {
        Some(i) => s.split_at_checked(i).unwrap_or((s, "")),
        None => (s, ""),
    }
}

impl SessionExpires {
    /// Parse a Session-Expires (or Min-SE) value.
    pub fn parse(s: &str) -> Result<SessionExpires, HeaderError> {
        let err = |w| HeaderError::new("Session-Expires", w);
        let (num, rest) = split_leading_value(s);
        let delta = lex::parse_u32_digits(num).ok_or(err("bad delta-seconds"))?;
        let mut params = param::parse_generic_params(rest).map_err(err)?;
        let mut refresher = None;
        if let Some(pos) = params
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case("refresher"))
        {
            let p = params.remove(pos);
            refresher = match p.value.as_deref() {
                Some(v) if v.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
                Some(v) if v.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
                _ => return Err(err("refresher must be uac or uas")),
            };
        }
        Ok(SessionExpires {
            delta,
            refresher,
            params,
        })
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        match self.refresher {
            Some(Refresher::Uac) => f.write_str(";refresher=uac")?,
            Some(Refresher::Uas) => f.write_str(";refresher=uas")?,
            None => {}
        }
        let mut s = String::new();
        param::push_generic_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

/// Retry-After header: `delta-seconds [(comment)] [;duration=N] [;params]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds after which to retry.
    pub seconds: u32,
    /// The comment, without parentheses.
    pub comment: Option<String>,
    /// The `duration` parameter.
    pub duration: Option<u32>,
    /// Other parameters.
    pub params: Vec<Param>,
}

impl RetryAfter {
    /// A plain `Retry-After: N`.
    pub fn new(seconds: u32) -> RetryAfter {
        RetryAfter {
            seconds,
            comment: None,
            duration: None,
            params: Vec::new(),
        }
    }

    /// Parse a Retry-After value.
    pub fn parse(s: &str) -> Result<RetryAfter, HeaderError> {
        let err = |w| HeaderError::new("Retry-After", w);
        let (num, rest) = split_leading_value(s);
        let seconds = lex::parse_u32_digits(num).ok_or(err("bad delta-seconds"))?;
        let mut rest = lex::trim(rest);
        let mut comment = None;
        if let Some(c) = rest.strip_prefix('(') {
            let close = c.find(')').ok_or(err("unterminated comment"))?;
            let (text, after) = c.split_at_checked(close).ok_or(err("bad comment"))?;
            comment = Some(text.to_owned());
            rest = after.strip_prefix(')').unwrap_or(after);
        }
        let mut params = param::parse_generic_params(rest).map_err(err)?;
        let mut duration = None;
        if let Some(pos) = params
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case("duration"))
        {
            let p = params.remove(pos);
            duration = Some(
                p.value
                    .as_deref()
                    .and_then(lex::parse_u32_digits)
                    .ok_or(err("bad duration"))?,
            );
        }
        Ok(RetryAfter {
            seconds,
            comment,
            duration,
            params,
        })
    }
}

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.seconds)?;
        if let Some(c) = &self.comment {
            write!(f, " ({})", c.replace(['(', ')', '\r', '\n'], " "))?;
        }
        if let Some(d) = self.duration {
            write!(f, ";duration={d}")?;
        }
        let mut s = String::new();
        param::push_generic_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        assert_eq!(
            CSeq::parse("0009 INVITE").unwrap(),
            CSeq {
                seq: 9,
                method: Method::Invite
            }
        );
        assert!(CSeq::parse("36893488147419103232 INVITE").is_err());
        assert!(CSeq::parse("+9 INVITE").is_err());
        assert!(CSeq::parse("9").is_err());
    }

    #[test]
    fn auth_round_trip() {
        let a = AuthParams::parse(r#"Digest realm="atlanta.com", nonce="84a4cc6f", qop="auth,auth-int", algorithm=MD5, stale=FALSE"#).unwrap();
        assert_eq!(a.scheme, "Digest");
        assert_eq!(a.get("QOP"), Some("auth,auth-int"));
        assert_eq!(AuthParams::parse(&a.to_string()).unwrap(), a);
        assert!(a.to_string().contains("algorithm=MD5"));
        let c =
            AuthParams::parse(r#"Digest username="bob", response="abc", qop=auth, nc=00000001"#)
                .unwrap();
        assert!(c.to_string().contains("qop=auth,"));
        let b = AuthParams::parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(
            b.params,
            vec![(String::new(), "QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned())]
        );
    }

    #[test]
    fn replaces_and_timers() {
        let r = Replaces::parse("425928@bobster.example.org;to-tag=7743;from-tag=6472;early-only")
            .unwrap();
        assert_eq!(r.call_id, "425928@bobster.example.org");
        assert_eq!(r.to_tag, "7743");
        assert!(r.early_only);
        assert_eq!(Replaces::parse(&r.to_string()).unwrap(), r);
        assert!(Replaces::parse("abc;to-tag=1").is_err());
        let se = SessionExpires::parse("1800;refresher=uas").unwrap();
        assert_eq!((se.delta, se.refresher), (1800, Some(Refresher::Uas)));
        assert!(SessionExpires::parse("x").is_err());
        let ra = RetryAfter::parse("18000 (I'm in a meeting);duration=3600").unwrap();
        assert_eq!(ra.comment.as_deref(), Some("I'm in a meeting"));
        assert_eq!(ra.duration, Some(3600));
        assert_eq!(RetryAfter::parse(&ra.to_string()).unwrap(), ra);
        assert!(RetryAfter::parse("9999999999999999999999").is_err());
    }
}
