//! Header handling shared by every request and response the core builds: the headers it
//! manages itself (which the application may not add), token checks, the application's
//! extra headers, and setting a body with its Content-Type and Content-Length.

use super::*;

/// Header names the core writes itself; `extra` headers with these names are dropped.
const MANAGED_HEADERS: &[HeaderName] = &[
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::Contact,
    HeaderName::MaxForwards,
    HeaderName::ContentLength,
    HeaderName::ContentType,
    HeaderName::Route,
    HeaderName::RecordRoute,
];

/// True for an RFC 3261 `token` (a header name must be one).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Appends application headers, skipping invalid names and the ones the core manages.
pub(super) fn push_extra(
    headers: &mut switchboard_sip_message::Headers,
    extra: &[(String, String)],
) {
    for (name, value) in extra {
        let h = HeaderName::parse(name);
        if is_token(name) && !MANAGED_HEADERS.contains(&h) {
            headers.push(h, value.clone());
        }
    }
}

pub(super) fn set_body(headers: &mut switchboard_sip_message::Headers, body: &Bytes) {
    if body.is_empty() {
        headers.remove(&HeaderName::ContentType);
    } else {
        headers.set(HeaderName::ContentType, "application/sdp");
    }
}
