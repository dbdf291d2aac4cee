//! Framing and parsing of whole messages from datagrams and stream buffers.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use bytes::Bytes;

use crate::error::{HeaderError, ParseError};
use crate::headers::{check_call_id, parse_delta_saturating, Header, HeaderName, Headers};
use crate::lex;
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::name_addr::{parse_name_addr, parse_name_addr_list};
use crate::status::StatusCode;
use crate::typed::CSeq;
use crate::uri::{parse_uri, Uri};
use crate::via::parse_via_list;

/// Size bounds; checked before allocating.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Whole message (start line, headers, body), default 65536.
    pub max_message: usize,
    /// Header lines, default 256.
    pub max_headers: usize,
    /// One physical line and one unfolded header, default 8192.
    pub max_line: usize,
    /// Via values over all Via lines, default 64.
    pub max_vias: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_message: 65536,
            max_headers: 256,
            max_line: 8192,
            max_vias: 64,
        }
    }
}

/// One message from one UDP datagram. Content-Length absent => body is rest of datagram;
/// bytes after Content-Length are ignored. Validates the core headers (Via, From, To, Call-ID,
/// CSeq, Max-Forwards, Content-Length, Contact, Expires when present) so malformed messages are
/// rejected here with a typed error.
pub fn parse_datagram(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    datagram(buf, limits, Check::CoreHeaders, |body| {
        Bytes::copy_from_slice(body.slice)
    })
}

/// As [`parse_datagram`] (same framing, start-line and size checks) but without validating
/// the core headers. For one use: after `parse_datagram` fails with
/// [`ParseError::BadHeader`] on a request, parse again with this, and if the top Via,
/// From, To, Call-ID and CSeq can be read, answer 400 statelessly
/// ([`crate::Response::for_request`]). Never hand the result to the transaction layer.
pub fn parse_datagram_unvalidated(buf: &[u8], limits: &Limits) -> Result<Message, ParseError> {
    datagram(buf, limits, Check::FramingOnly, |body| {
        Bytes::copy_from_slice(body.slice)
    })
}

/// As [`parse_datagram`], but the body is a zero-copy slice of `buf`.
pub fn parse_datagram_bytes(buf: &Bytes, limits: &Limits) -> Result<Message, ParseError> {
    datagram(buf, limits, Check::CoreHeaders, |body| {
        buf.slice(body.start..body.start + body.slice.len())
    })
}

/// One message from the front of a stream buffer; returns bytes consumed. Content-Length is
/// required on streams. Leading CRLF keep-alives are skipped (and counted in consumed).
/// A buffer holding only CRLFs gives `Incomplete`: use [`keepalive_prefix`] to find and drop
/// RFC 5626 `CRLF CRLF` pings.
pub fn parse_stream(buf: &[u8], limits: &Limits) -> Result<(Message, usize), ParseError> {
    stream(buf, limits, |body| Bytes::copy_from_slice(body.slice))
}

/// As [`parse_stream`], but the body is a zero-copy slice of `buf`.
pub fn parse_stream_bytes(buf: &Bytes, limits: &Limits) -> Result<(Message, usize), ParseError> {
    stream(buf, limits, |body| {
        buf.slice(body.start..body.start + body.slice.len())
    })
}

/// Number of leading CR/LF octets in `buf`: RFC 5626 keep-alives (`CRLF CRLF` ping,
/// `CRLF` pong) on a stream, or a keep-alive datagram when it equals `buf.len()`.
pub fn keepalive_prefix(buf: &[u8]) -> usize {
    skip_crlf(buf)
}

/// The body's position in the input, handed to the body constructor.
struct BodyRef<'a> {
    start: usize,
    slice: &'a [u8],
}

/// How much `datagram` checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    CoreHeaders,
    FramingOnly,
}

fn datagram(
    buf: &[u8],
    limits: &Limits,
    check: Check,
    make_body: impl FnOnce(BodyRef<'_>) -> Bytes,
) -> Result<Message, ParseError> {
    if buf.len() > limits.max_message {
        return Err(ParseError::TooLarge {
            what: "message",
            max: limits.max_message,
        });
    }
    let start = skip_crlf(buf);
    if start >= buf.len() {
        return Err(ParseError::Malformed {
            offset: start,
            what: "empty datagram",
        });
    }
    let (head_end, body_start) = match find_head_end(buf, start) {
        HeadEnd::Found {
            head_end,
            body_start,
        } => (head_end, body_start),
        // A datagram's end also ends its header section.
        HeadEnd::NotYet => (buf.len(), buf.len()),
    };
    let (start_line, headers) = parse_head(buf, start, head_end, limits)?;
    let rest = buf.get(body_start..).unwrap_or(&[]);
    let body = match content_length(&headers)? {
        None => rest,
        Some(n) => rest
            .get(..n)
            .ok_or(ParseError::ContentLength("larger than the datagram"))?,
    };
    let body = make_body(BodyRef {
        start: body_start.min(buf.len()),
        slice: body,
    });
    let msg = build(start_line, headers, body)?;
    if check == Check::CoreHeaders {
        validate(&msg, limits)?;
    }
    Ok(msg)
}

fn stream(
    buf: &[u8],
    limits: &Limits,
    make_body: impl FnOnce(BodyRef<'_>) -> Bytes,
) -> Result<(Message, usize), ParseError> {
    let start = skip_crlf(buf);
    let too_large = ParseError::TooLarge {
        what: "message",
        max: limits.max_message,
    };
    if start > limits.max_message {
        return Err(too_large);
    }
    let (head_end, body_start) = match find_head_end(buf, start) {
        HeadEnd::Found {
            head_end,
            body_start,
        } => (head_end, body_start),
        HeadEnd::NotYet => {
            if buf.len() - start > limits.max_message {
                return Err(too_large);
            }
            return Err(ParseError::Incomplete);
        }
    };
    if body_start - start > limits.max_message {
        return Err(too_large);
    }
    let (start_line, headers) = parse_head(buf, start, head_end, limits)?;
    let n = content_length(&headers)?.ok_or(ParseError::ContentLength(
        "missing (required on stream transports)",
    ))?;
    let total = (body_start - start)
        .checked_add(n)
        .ok_or(too_large.clone())?;
    if total > limits.max_message {
        return Err(too_large);
    }
    let end = body_start + n;
    let body = buf.get(body_start..end).ok_or(ParseError::Incomplete)?;
    let body = make_body(BodyRef {
        start: body_start,
        slice: body,
    });
    let msg = build(start_line, headers, body)?;
    validate(&msg, limits)?;
    Ok((msg, end))
}

fn skip_crlf(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

enum HeadEnd {
    Found { head_end: usize, body_start: usize },
    NotYet,
}

/// Find the empty line that ends the header section: `\n\r\n` or `\n\n`.
fn find_head_end(buf: &[u8], start: usize) -> HeadEnd {
    let mut i = start;
    while let Some(off) = buf
        .get(i..)
        .and_then(|s| s.iter().position(|&b| b == b'\n'))
    {
        let nl = i + off;
        match (buf.get(nl + 1), buf.get(nl + 2)) {
            (Some(b'\n'), _) => {
                return HeadEnd::Found {
                    head_end: nl + 1,
                    body_start: nl + 2,
                }
            }
            (Some(b'\r'), Some(b'\n')) => {
                return HeadEnd::Found {
                    head_end: nl + 1,
                    body_start: nl + 3,
                }
            }
            _ => i = nl + 1,
        }
    }
    HeadEnd::NotYet
}

/// Split the header section into the start line and unfolded header lines.
fn parse_head<'a>(
    buf: &'a [u8],
    start: usize,
    head_end: usize,
    limits: &Limits,
) -> Result<(Line<'a>, Headers), ParseError> {
    let raw = buf.get(start..head_end).unwrap_or(&[]);
    let text = std::str::from_utf8(raw).map_err(|e| ParseError::Malformed {
        offset: start + e.valid_up_to(),
        what: "header section is not UTF-8",
    })?;
    let mut lines = text.split('\n').scan(start, |off, l| {
        let at = *off;
        *off += l.len() + 1;
        Some((at, l.strip_suffix('\r').unwrap_or(l)))
    });
    let (sl_off, sl) = lines.next().unwrap_or((start, ""));
    if sl.contains('\r') {
        return Err(ParseError::Malformed {
            offset: sl_off,
            what: "bare CR in start line",
        });
    }
    if sl.len() > limits.max_line {
        return Err(ParseError::TooLarge {
            what: "line",
            max: limits.max_line,
        });
    }
    let mut headers: Vec<Header> = Vec::new();
    for (off, line) in lines {
        if line.len() > limits.max_line {
            return Err(ParseError::TooLarge {
                what: "line",
                max: limits.max_line,
            });
        }
        if line.is_empty() {
            continue; // only possible as the last split piece after the final LF
        }
        if line.contains('\r') {
            return Err(ParseError::Malformed {
                offset: off,
                what: "bare CR in header line",
            });
        }
        if line.starts_with([' ', '\t']) {
            let last = headers.last_mut().ok_or(ParseError::Malformed {
                offset: off,
                what: "continuation line before the first header",
            })?;
            let cont = lex::trim(line);
            if !cont.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(cont);
            }
            if last.value.len() > limits.max_line {
                return Err(ParseError::TooLarge {
                    what: "line",
                    max: limits.max_line,
                });
            }
            continue;
        }
        if headers.len() >= limits.max_headers {
            return Err(ParseError::TooLarge {
                what: "headers",
                max: limits.max_headers,
            });
        }
        let (name, value) = line.split_once(':').ok_or(ParseError::Malformed {
            offset: off,
            what: "header line without ':'",
        })?;
        let name = name.trim_end_matches([' ', '\t']);
        if !lex::is_token(name) {
            return Err(ParseError::Malformed {
                offset: off,
                what: "bad header name",
            });
        }
        headers.push(Header {
            name: HeaderName::parse(name),
            value: lex::trim(value).to_owned(),
        });
    }
    Ok((
        Line {
            offset: sl_off,
            text: sl,
        },
        Headers(headers),
    ))
}

struct Line<'a> {
    offset: usize,
    text: &'a str,
}

fn content_length(headers: &Headers) -> Result<Option<usize>, ParseError> {
    let mut found: Option<usize> = None;
    for v in headers.get_all(&HeaderName::ContentLength) {
        let v = lex::trim(v);
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::ContentLength("not a non-negative number"));
        }
        let n: usize = v
            .parse()
            .map_err(|_| ParseError::ContentLength("too large"))?;
        match found {
            Some(prev) if prev != n => return Err(ParseError::ContentLength("conflicting values")),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

fn valid_version(v: &str) -> bool {
    let Some(rest) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("SIP/"))
        .and(v.get(4..))
    else {
        return false;
    };
    match rest.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

fn build(line: Line<'_>, headers: Headers, body: Bytes) -> Result<Message, ParseError> {
    let bad = |what| ParseError::Malformed {
        offset: line.offset,
        what,
    };
    let text = line.text;
    let msg = if text.len() >= 4
        && text
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        let (version, rest) = text
            .split_once(' ')
            .ok_or(bad("status line without status code"))?;
        if !valid_version(version) {
            return Err(bad("bad SIP version"));
        }
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("status code is not 3 digits"));
        }
        let code: u16 = code.parse().map_err(|_| bad("bad status code"))?;
        if !(100..=699).contains(&code) {
            return Err(bad("status code out of range"));
        }
        Message::Response(Response {
            version: version.to_owned(),
            status: StatusCode(code),
            reason: reason.to_owned(),
            headers,
            body,
        })
    } else {
        let mut parts = text.split(' ');
        let (Some(method), Some(uri), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(
                "request line is not 'Method SP Request-URI SP SIP-Version'",
            ));
        };
        if !lex::is_token(method) {
            return Err(bad("bad method"));
        }
        let uri = parse_uri(uri).map_err(bad)?;
        if let Uri::Sip(u) = &uri {
            if !u.headers.is_empty() {
                return Err(bad("headers in Request-URI"));
            }
        }
        if !valid_version(version) {
            return Err(bad("bad SIP version"));
        }
        Message::Request(Request {
            method: Method::from_token(method),
            uri,
            version: version.to_owned(),
            headers,
            body,
        })
    };
    Ok(msg)
}

fn bad_header(name: &HeaderName, error: HeaderError) -> ParseError {
    ParseError::BadHeader {
        name: name.as_str().to_owned(),
        error,
    }
}

/// Check every present core header. Duplicates of single-value headers are left to the
/// layers above (RFC 4475 §3.3.8 wants a 400 from the element, not a parser failure).
fn validate(msg: &Message, limits: &Limits) -> Result<(), ParseError> {
    let mut vias = 0usize;
    let method = msg.as_request().map(|r| &r.method);
    for h in msg.headers() {
        let v = h.value.as_str();
        let name = &h.name;
        let hdr = |w| bad_header(name, HeaderError::new(name.static_str(), w));
        match name {
            HeaderName::Via => {
                // Count before parsing so a Via flood is refused before it is materialised.
                vias += lex::split_top(v, b',').map_err(hdr)?.len();
                if vias > limits.max_vias {
                    return Err(ParseError::TooLarge {
                        what: "Via values",
                        max: limits.max_vias,
                    });
                }
                parse_via_list(v).map_err(hdr)?;
            }
            HeaderName::From | HeaderName::To => {
                parse_name_addr(v).map_err(hdr)?;
            }
            HeaderName::CallId => check_call_id(v).map_err(|e| bad_header(name, e))?,
            HeaderName::CSeq => {
                let c = CSeq::parse(v).map_err(|e| bad_header(name, e))?;
                // A known method must match its CSeq (RFC 4475 §3.1.2.17). For an unknown
                // method the element answers 501 anyway (§3.1.2.18), so it passes here.
                if let Some(m) = method {
                    if !matches!(m, Method::Other(_)) && *m != c.method {
                        return Err(hdr("method does not match the request line"));
                    }
                }
            }
            HeaderName::MaxForwards => {
                lex::parse_u32_digits(lex::trim(v))
                    .ok_or(HeaderError::new("Max-Forwards", "not a 32-bit number"))
                    .map_err(|e| bad_header(name, e))?;
            }
            HeaderName::Expires => {
                parse_delta_saturating(v)
                    .ok_or(HeaderError::new("Expires", "not a number"))
                    .map_err(|e| bad_header(name, e))?;
            }
            HeaderName::Contact if lex::trim(v) != "*" => {
                parse_name_addr_list(v).map_err(hdr)?;
            }
            HeaderName::Date if !v.ends_with(" GMT") || !v.contains(',') => {
                return Err(hdr("not an RFC 1123 date in GMT"));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    const REG: &[u8] = b"REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nTo: <sip:a@example.com>\r\nFrom: <sip:a@example.com>;tag=1\r\nCall-ID: x@y\r\nCSeq: 1 REGISTER\r\nContent-Length: 4\r\n\r\nbodyTRAILING";

    #[test]
    fn datagram_framing() {
        let m = parse_datagram(REG, &Limits::default()).unwrap();
        assert_eq!(m.body().as_ref(), b"body");
        let short = &REG[..REG.len() - 10];
        assert_eq!(
            parse_datagram(short, &Limits::default()),
            Err(ParseError::ContentLength("larger than the datagram"))
        );
    }

    #[test]
    fn stream_framing() {
        let mut buf = b"\r\n\r\n".to_vec();
        buf.extend_from_slice(REG);
        for cut in 0..(buf.len() - 8) {
            assert_eq!(
                parse_stream(&buf[..cut], &Limits::default()),
                Err(ParseError::Incomplete),
                "cut {cut}"
            );
        }
        let (m, used) = parse_stream(&buf, &Limits::default()).unwrap();
        assert_eq!(used, buf.len() - 8);
        assert_eq!(m.body().as_ref(), b"body");
        let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n";
        assert!(matches!(
            parse_stream(no_cl, &Limits::default()),
            Err(ParseError::ContentLength(_))
        ));
    }

    #[test]
    fn limits() {
        let l = Limits {
            max_message: 100,
            ..Limits::default()
        };
        assert!(matches!(
            parse_datagram(REG, &l),
            Err(ParseError::TooLarge {
                what: "message",
                ..
            })
        ));
        assert!(matches!(
            parse_stream(&[b'A'; 200], &l),
            Err(ParseError::TooLarge { .. })
        ));
        assert_eq!(parse_stream(&[b'A'; 50], &l), Err(ParseError::Incomplete));
    }
}
