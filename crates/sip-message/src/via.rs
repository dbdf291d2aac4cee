//! The Via header value.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fmt::{self, Write as _};

use crate::error::HeaderError;
use crate::lex;
use crate::param::{self, Param};
use crate::uri::{parse_host, parse_port, split_host, Host};

/// One Via value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// Protocol name and version, LWS removed: `SIP/2.0`.
    pub protocol: String,
    /// Transport, upper-cased: `UDP`, `TCP`, `TLS`, `WS`, ...
    pub transport: String,
    /// sent-by host.
    pub host: Host,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// Parameters (`branch`, `received`, `rport`, ...), unquoted.
    pub params: Vec<Param>,
}

impl Via {
    /// A `SIP/2.0/<transport>` Via with a branch parameter.
    pub fn new(transport: &str, host: Host, port: Option<u16>, branch: &str) -> Via {
        Via {
            protocol: "SIP/2.0".to_owned(),
            transport: transport.to_ascii_uppercase(),
            host,
            port,
            params: vec![Param::new("branch", Some(branch.to_owned()))],
        }
    }

    /// Parse one Via value (not a comma-joined list).
    pub fn parse(s: &str) -> Result<Via, HeaderError> {
        parse_via(s).map_err(|w| HeaderError::new("Via", w))
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        param::find_param(&self.params, "branch").flatten()
    }

    /// The `received` parameter as written (an IPv6 value may or may not have brackets).
    pub fn received(&self) -> Option<&str> {
        param::find_param(&self.params, "received").flatten()
    }

    /// `rport`: `None` absent, `Some(None)` present without a value, `Some(Some(p))` filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        param::find_param(&self.params, "rport").map(|v| v.and_then(|p| parse_port(p).ok()))
    }

    /// Any parameter, case-insensitively.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        param::find_param(&self.params, name)
    }

    /// Replace or add a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        param::set_param(&mut self.params, name, value);
    }
}

fn take_token(s: &str) -> (&str, &str) {
    let end = s
        .bytes()
        .position(|b| !lex::is_token_byte(b))
        .unwrap_or(s.len());
    s.split_at_checked(end).unwrap_or((s, ""))
}

pub(crate) fn parse_via(s: &str) -> Result<Via, &'static str> {
    let s = lex::trim(s);
    let (name, rest) = take_token(s);
    if name.is_empty() {
        return Err("missing protocol name");
    }
    let rest = lex::trim(rest)
        .strip_prefix('/')
        .ok_or("missing / after protocol")?;
    let (version, rest) = take_token(lex::trim(rest));
    if version.is_empty() {
        return Err("missing protocol version");
    }
    let rest = lex::trim(rest)
        .strip_prefix('/')
        .ok_or("missing / before transport")?;
    let (transport, rest) = take_token(lex::trim(rest));
    if transport.is_empty() {
        return Err("missing transport");
    }
    if lex::trim(rest).is_empty() {
        return Err("missing sent-by");
    }
    if !rest.starts_with([' ', '\t']) {
        return Err("missing space before sent-by");
    }
    let rest = lex::trim(rest);
    let (host_text, rest) = split_host(rest, b": \t;,")?;
    let host = parse_host(host_text).map_err(|_| "bad sent-by host")?;
    let mut rest = lex::trim(rest);
    let mut port = None;
    if let Some(r) = rest.strip_prefix(':') {
        let r = lex::trim(r);
        let end = r
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(r.len());
        let (p, r2) = r.split_at_checked(end).ok_or("bad port")?;
        port = Some(parse_port(p)?);
        rest = r2;
    }
    let params = param::parse_generic_params(rest)?;
    Ok(Via {
        protocol: format!("{name}/{version}"),
        transport: transport.to_ascii_uppercase(),
        host,
        port,
        params,
    })
}

impl Via {
    pub(crate) fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{}/{} {}", self.protocol, self.transport, self.host);
        if let Some(p) = self.port {
            let _ = write!(out, ":{p}");
        }
        param::push_generic_params(out, &self.params);
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(64);
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

/// Split a comma-joined Via header value and parse each value.
pub(crate) fn parse_via_list(s: &str) -> Result<Vec<Via>, &'static str> {
    let mut out = Vec::new();
    for piece in lex::split_top(s, b',')? {
        out.push(parse_via(piece)?);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lws_everywhere() {
        let v = parse_via_list("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239").unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].protocol, "SIP/2.0");
        assert_eq!(v[0].transport, "TCP");
        assert_eq!(v[0].branch(), Some("z9hG4bK9ikj8"));
        assert_eq!(v[1].host, Host::V4("192.168.255.111".parse().unwrap()));
    }

    #[test]
    fn ipv6_and_received() {
        let v = Via::parse(
            "SIP/2.0/UDP [2001:db8::9:1]:6050;branch=z9hG4bKas3-111;received=[2001:db8::9:255]",
        )
        .unwrap();
        assert_eq!(v.port, Some(6050));
        assert_eq!(v.received(), Some("[2001:db8::9:255]"));
        let w = Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;rport").unwrap();
        assert_eq!(w.received(), Some("2001:db8::9:255"));
        assert_eq!(w.rport(), Some(None));
        assert_eq!(Via::parse(&v.to_string()).unwrap(), v);
    }

    #[test]
    fn rejects() {
        assert!(Via::parse("SIP/2.0/UDP").is_err());
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse("SIP/2.0 192.0.2.15").is_err());
        assert!(parse_via_list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
    }
}
