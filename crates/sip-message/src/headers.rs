//! Header names, the ordered header list and its typed accessors.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::error::HeaderError;
use crate::lex;
use crate::name_addr::{parse_name_addr, parse_name_addr_list, NameAddr};
use crate::typed::{AuthParams, CSeq, Contacts, Replaces, RetryAfter, SessionExpires};
use crate::via::{parse_via_list, Via};

/// Header names: case-insensitive, compact forms accepted (v f t i m l c k s e o r u b x y d a j
/// as defined in RFC 3261 / 3515 / 3892 / 4028 / 3265 ...).
///
/// Equality and hashing treat `Other` names case-insensitively (`X-Foo` == `x-foo`), as
/// SIP does; the name as received is still what gets printed.
#[derive(Clone, Debug)]
#[allow(missing_docs)] // each variant is the header of the same name
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    Route,
    RecordRoute,
    Authorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    ProxyAuthorization,
    Expires,
    MinExpires,
    Allow,
    Supported,
    Require,
    ProxyRequire,
    Unsupported,
    UserAgent,
    Server,
    ReferTo,
    ReferredBy,
    Replaces,
    SessionExpires,
    MinSe,
    RetryAfter,
    Accept,
    Event,
    Subject,
    Date,
    Timestamp,
    Warning,
    ContentEncoding,
    AllowEvents,
    Identity,
    RequestDisposition,
    AcceptContact,
    RejectContact,
    /// Any other header, name kept as received (matched case-insensitively).
    Other(String),
}

/// (canonical long form, compact form, name).
const NAMES: &[(&str, &str, HeaderName)] = &[
    ("Via", "v", HeaderName::Via),
    ("From", "f", HeaderName::From),
    ("To", "t", HeaderName::To),
    ("Call-ID", "i", HeaderName::CallId),
    ("CSeq", "", HeaderName::CSeq),
    ("Contact", "m", HeaderName::Contact),
    ("Max-Forwards", "", HeaderName::MaxForwards),
    ("Content-Length", "l", HeaderName::ContentLength),
    ("Content-Type", "c", HeaderName::ContentType),
    ("Route", "", HeaderName::Route),
    ("Record-Route", "", HeaderName::RecordRoute),
    ("Authorization", "", HeaderName::Authorization),
    ("WWW-Authenticate", "", HeaderName::WwwAuthenticate),
    ("Proxy-Authenticate", "", HeaderName::ProxyAuthenticate),
    ("Proxy-Authorization", "", HeaderName::ProxyAuthorization),
    ("Expires", "", HeaderName::Expires),
    ("Min-Expires", "", HeaderName::MinExpires),
    ("Allow", "", HeaderName::Allow),
    ("Supported", "k", HeaderName::Supported),
    ("Require", "", HeaderName::Require),
    ("Proxy-Require", "", HeaderName::ProxyRequire),
    ("Unsupported", "", HeaderName::Unsupported),
    ("User-Agent", "", HeaderName::UserAgent),
    ("Server", "", HeaderName::Server),
    ("Refer-To", "r", HeaderName::ReferTo),
    ("Referred-By", "b", HeaderName::ReferredBy),
    ("Replaces", "", HeaderName::Replaces),
    ("Session-Expires", "x", HeaderName::SessionExpires),
    ("Min-SE", "", HeaderName::MinSe),
    ("Retry-After", "", HeaderName::RetryAfter),
    ("Accept", "", HeaderName::Accept),
    ("Event", "o", HeaderName::Event),
    ("Subject", "s", HeaderName::Subject),
    ("Date", "", HeaderName::Date),
    ("Timestamp", "", HeaderName::Timestamp),
    ("Warning", "", HeaderName::Warning),
    ("Content-Encoding", "e", HeaderName::ContentEncoding),
    ("Allow-Events", "u", HeaderName::AllowEvents),
    ("Identity", "y", HeaderName::Identity),
    ("Request-Disposition", "d", HeaderName::RequestDisposition),
    ("Accept-Contact", "a", HeaderName::AcceptContact),
    ("Reject-Contact", "j", HeaderName::RejectContact),
];

impl HeaderName {
    /// Map a header name (long or compact form, any case) to a `HeaderName`.
    pub fn parse(s: &str) -> HeaderName {
        if s.len() == 1 {
            for (_, compact, name) in NAMES {
                if compact.eq_ignore_ascii_case(s) {
                    return name.clone();
                }
            }
        } else {
            for (long, _, name) in NAMES {
                if long.len() == s.len() && long.eq_ignore_ascii_case(s) {
                    return name.clone();
                }
            }
        }
        HeaderName::Other(s.to_owned())
    }

    /// Canonical long form (`Call-ID`); an `Other` name as received.
    pub fn as_str(&self) -> &str {
        match self {
            HeaderName::Other(s) => s,
            known => known.static_str(),
        }
    }

    /// Canonical long form for known names, `extension-header` for `Other`.
    pub(crate) fn static_str(&self) -> &'static str {
        match self {
            HeaderName::Via => "Via",
            HeaderName::From => "From",
            HeaderName::To => "To",
            HeaderName::CallId => "Call-ID",
            HeaderName::CSeq => "CSeq",
            HeaderName::Contact => "Contact",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::Route => "Route",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::Authorization => "Authorization",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::Expires => "Expires",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::Allow => "Allow",
            HeaderName::Supported => "Supported",
            HeaderName::Require => "Require",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Server => "Server",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::Replaces => "Replaces",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Accept => "Accept",
            HeaderName::Event => "Event",
            HeaderName::Subject => "Subject",
            HeaderName::Date => "Date",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::Warning => "Warning",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::Identity => "Identity",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::Other(_) => "extension-header",
        }
    }

    /// Same header? `Other` names compare case-insensitively (the same as `==`).
    pub fn matches(&self, other: &HeaderName) -> bool {
        self == other
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName {}

impl std::hash::Hash for HeaderName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(s) = self {
            for b in s.bytes() {
                state.write_u8(b.to_ascii_lowercase());
            }
        }
    }
}

impl std::fmt::Display for HeaderName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One header line as received (folding removed, surrounding whitespace trimmed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Name.
    pub name: HeaderName,
    /// Value, verbatim apart from unfolding and trimming.
    pub value: String,
}

/// Ordered header list. Comma-joined values are kept in ONE Header; typed accessors split them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<Header>);

impl Headers {
    /// An empty list.
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    /// First value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0
            .iter()
            .find(|h| h.name.matches(name))
            .map(|h| h.value.as_str())
    }

    /// Every value of `name`, in order (comma-joined lines are not split).
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| h.name.matches(name))
            .map(|h| h.value.as_str())
    }

    /// Append a header line.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(Header {
            name,
            value: value.into(),
        });
    }

    /// Replace all lines of `name` by one, kept at the position of the first (or appended).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|h| h.name.matches(&name)) {
            Some(first) => {
                let mut i = 0usize;
                self.0.retain(|h| {
                    let keep = i <= first || !h.name.matches(&name);
                    i += 1;
                    keep
                });
                if let Some(h) = self.0.get_mut(first) {
                    h.value = value;
                }
            }
            None => self.push(name, value),
        }
    }

    /// Remove all lines of `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|h| !h.name.matches(name));
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterate over the lines.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    fn first_required(&self, name: &HeaderName) -> Result<&str, HeaderError> {
        self.get(name)
            .ok_or(HeaderError::new(name.static_str(), "missing"))
    }

    /// All Via values (every line, comma-joined values split), top first.
    pub fn vias(&self) -> Result<Vec<Via>, HeaderError> {
        let mut out = Vec::new();
        for v in self.get_all(&HeaderName::Via) {
            out.extend(parse_via_list(v).map_err(|w| HeaderError::new("Via", w))?);
        }
        Ok(out)
    }

    /// The topmost Via value.
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        let first = self.first_required(&HeaderName::Via)?;
        let top = lex::split_top(first, b',')
            .map_err(|w| HeaderError::new("Via", w))?
            .into_iter()
            .next()
            .unwrap_or(first);
        Via::parse(top)
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr, HeaderError> {
        parse_name_addr(self.first_required(&HeaderName::From)?)
            .map_err(|w| HeaderError::new("From", w))
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr, HeaderError> {
        parse_name_addr(self.first_required(&HeaderName::To)?)
            .map_err(|w| HeaderError::new("To", w))
    }

    /// Call-ID (non-empty, no whitespace).
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let v = self.first_required(&HeaderName::CallId)?;
        check_call_id(v)?;
        Ok(v)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        CSeq::parse(self.first_required(&HeaderName::CSeq)?)
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        self.get(&HeaderName::MaxForwards)
            .map(|v| {
                lex::parse_u32_digits(lex::trim(v))
                    .ok_or(HeaderError::new("Max-Forwards", "not a 32-bit number"))
            })
            .transpose()
    }

    /// All Contact values; `List(vec![])` when absent.
    pub fn contacts(&self) -> Result<Contacts, HeaderError> {
        let err = |w| HeaderError::new("Contact", w);
        let mut list = Vec::new();
        let mut star = false;
        for v in self.get_all(&HeaderName::Contact) {
            if lex::trim(v) == "*" {
                star = true;
            } else {
                list.extend(parse_name_addr_list(v).map_err(err)?);
            }
        }
        if star {
            if !list.is_empty() {
                return Err(err("* mixed with addresses"));
            }
            return Ok(Contacts::Star);
        }
        Ok(Contacts::List(list))
    }

    /// Expires, if present. Values above 2^32-1 saturate (RFC 3261 §20.19 allows it).
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.get(&HeaderName::Expires)
            .map(|v| parse_delta_saturating(v).ok_or(HeaderError::new("Expires", "not a number")))
            .transpose()
    }

    /// Min-Expires, if present.
    pub fn min_expires(&self) -> Result<Option<u32>, HeaderError> {
        self.get(&HeaderName::MinExpires)
            .map(|v| {
                parse_delta_saturating(v).ok_or(HeaderError::new("Min-Expires", "not a number"))
            })
            .transpose()
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<usize>, HeaderError> {
        self.get(&HeaderName::ContentLength)
            .map(|v| {
                let v = lex::trim(v);
                if v.is_empty() || v.len() > 19 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(HeaderError::new("Content-Length", "not a number"));
                }
                v.parse()
                    .map_err(|_| HeaderError::new("Content-Length", "not a number"))
            })
            .transpose()
    }

    /// Content-Type, if present (verbatim).
    pub fn content_type(&self) -> Option<&str> {
        self.get(&HeaderName::ContentType)
    }

    /// All Route values, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.name_addr_list(&HeaderName::Route)
    }

    /// All Record-Route values, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.name_addr_list(&HeaderName::RecordRoute)
    }

    fn name_addr_list(&self, name: &HeaderName) -> Result<Vec<NameAddr>, HeaderError> {
        let mut out = Vec::new();
        for v in self.get_all(name) {
            out.extend(
                parse_name_addr_list(v).map_err(|w| HeaderError::new(name.static_str(), w))?,
            );
        }
        Ok(out)
    }

    /// Comma list of tokens over all lines of `name` (Allow, Supported, Require,
    /// Proxy-Require, Unsupported, ...), empty items skipped.
    pub fn tokens(&self, name: &HeaderName) -> Vec<String> {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .map(lex::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Every challenge or credentials line of `name` (WWW-Authenticate, Authorization, ...).
    pub fn auth(&self, name: &HeaderName) -> Result<Vec<AuthParams>, HeaderError> {
        self.get_all(name)
            .map(|v| AuthParams::parse(v).map_err(|e| HeaderError::new(name.static_str(), e.what)))
            .collect()
    }

    /// Refer-To, if present.
    pub fn refer_to(&self) -> Result<Option<NameAddr>, HeaderError> {
        self.get(&HeaderName::ReferTo)
            .map(|v| parse_name_addr(v).map_err(|w| HeaderError::new("Refer-To", w)))
            .transpose()
    }

    /// Referred-By, if present.
    pub fn referred_by(&self) -> Result<Option<NameAddr>, HeaderError> {
        self.get(&HeaderName::ReferredBy)
            .map(|v| parse_name_addr(v).map_err(|w| HeaderError::new("Referred-By", w)))
            .transpose()
    }

    /// Replaces, if present.
    pub fn replaces(&self) -> Result<Option<Replaces>, HeaderError> {
        self.get(&HeaderName::Replaces)
            .map(Replaces::parse)
            .transpose()
    }

    /// Session-Expires, if present.
    pub fn session_expires(&self) -> Result<Option<SessionExpires>, HeaderError> {
        self.get(&HeaderName::SessionExpires)
            .map(SessionExpires::parse)
            .transpose()
    }

    /// Min-SE (delta-seconds), if present.
    pub fn min_se(&self) -> Result<Option<u32>, HeaderError> {
        self.get(&HeaderName::MinSe)
            .map(|v| {
                SessionExpires::parse(v)
                    .map(|s| s.delta)
                    .map_err(|e| HeaderError::new("Min-SE", e.what))
            })
            .transpose()
    }

    /// Retry-After, if present.
    pub fn retry_after(&self) -> Result<Option<RetryAfter>, HeaderError> {
        self.get(&HeaderName::RetryAfter)
            .map(RetryAfter::parse)
            .transpose()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Call-ID syntax check: non-empty, no whitespace.
pub(crate) fn check_call_id(v: &str) -> Result<(), HeaderError> {
    if v.is_empty() || v.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HeaderError::new("Call-ID", "empty or contains whitespace"));
    }
    Ok(())
}

/// delta-seconds, saturating at 2^32-1; `None` if not all digits.
pub(crate) fn parse_delta_saturating(v: &str) -> Option<u32> {
    let v = lex::trim(v);
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse().unwrap_or(u32::MAX))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(HeaderName::parse("i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("MaX-fOrWaRdS"), HeaderName::MaxForwards);
        assert_eq!(HeaderName::parse("x"), HeaderName::SessionExpires);
        assert_eq!(
            HeaderName::parse("C%6Fntact"),
            HeaderName::Other("C%6Fntact".into())
        );
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
        for (long, _, name) in NAMES {
            assert_eq!(name.as_str(), *long);
            assert_eq!(&HeaderName::parse(long), name);
        }
        assert!(HeaderName::Other("X-Foo".into()).matches(&HeaderName::Other("x-foo".into())));
        assert_eq!(
            HeaderName::Other("X-Foo".into()),
            HeaderName::Other("x-foo".into())
        );
        assert_ne!(
            HeaderName::Other("X-Foo".into()),
            HeaderName::Other("X-Bar".into())
        );
        assert_ne!(HeaderName::Via, HeaderName::Other("Via".into()));
        let set: std::collections::HashSet<HeaderName> = [
            HeaderName::Other("X-Foo".into()),
            HeaderName::Other("x-FOO".into()),
            HeaderName::To,
        ]
        .into_iter()
        .collect();
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn list_ops_and_accessors() {
        let mut h = Headers::new();
        h.push(
            HeaderName::Via,
            "SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b.example.com;branch=z9hG4bK2",
        );
        h.push(HeaderName::Via, "SIP/2.0/UDP c.example.com;branch=z9hG4bK3");
        h.push(HeaderName::Allow, "INVITE, ACK,BYE");
        h.push(HeaderName::Expires, "1".to_owned() + &"0".repeat(100));
        assert_eq!(h.vias().unwrap().len(), 3);
        assert_eq!(h.top_via().unwrap().branch(), Some("z9hG4bK1"));
        assert_eq!(h.tokens(&HeaderName::Allow), vec!["INVITE", "ACK", "BYE"]);
        assert_eq!(h.expires().unwrap(), Some(u32::MAX));
        assert_eq!(h.contacts().unwrap(), Contacts::List(vec![]));
        assert_eq!(h.call_id().unwrap_err().to_string(), "bad Call-ID: missing");
        h.set(HeaderName::Via, "SIP/2.0/UDP d.example.com");
        assert_eq!(h.get_all(&HeaderName::Via).count(), 1);
        assert_eq!(h.0[0].name, HeaderName::Via);
        h.remove(&HeaderName::Via);
        assert!(h.get(&HeaderName::Via).is_none());
        h.push(HeaderName::Contact, "*");
        assert_eq!(h.contacts().unwrap(), Contacts::Star);
    }
}
