//! Requests, responses and printing them to wire bytes.

use bytes::Bytes;
use std::fmt::Write as _;

use crate::headers::{HeaderName, Headers};
use crate::method::Method;
use crate::status::StatusCode;
use crate::uri::Uri;

/// A SIP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Method from the request line.
    pub method: Method,
    /// Request-URI.
    pub uri: Uri,
    /// Version from the request line, `SIP/2.0`.
    pub version: String,
    /// Header lines in order.
    pub headers: Headers,
    /// Body (exactly Content-Length octets when received).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Version from the status line, `SIP/2.0`.
    pub version: String,
    /// Status code.
    pub status: StatusCode,
    /// Reason phrase (may be empty).
    pub reason: String,
    /// Header lines in order.
    pub headers: Headers,
    /// Body.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

const VERSION: &str = "SIP/2.0";

fn write_message(start_line: &str, headers: &Headers, body: &Bytes) -> Bytes {
    let mut head = String::with_capacity(
        start_line.len() + 32 + headers.iter().map(|h| h.value.len() + 24).sum::<usize>(),
    );
    head.push_str(start_line);
    head.push_str("\r\n");
    for h in headers {
        if h.name == HeaderName::ContentLength {
            continue;
        }
        head.push_str(h.name.as_str());
        head.push_str(": ");
        if h.value.contains(['\r', '\n']) {
            // Parsed values never hold CR/LF; a caller-built one must not inject lines.
            head.push_str(&h.value.replace(['\r', '\n'], " "));
        } else {
            head.push_str(&h.value);
        }
        head.push_str("\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    Bytes::from(out)
}

impl Request {
    /// A `SIP/2.0` request with no headers and an empty body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            version: VERSION.to_owned(),
            headers: Headers::default(),
            body: Bytes::new(),
        }
    }

    /// Wire form. Content-Length is always written, last, with the body's real length.
    pub fn to_bytes(&self) -> Bytes {
        let line = format!("{} {} {}", self.method, self.uri, self.version);
        write_message(&line, &self.headers, &self.body)
    }
}

impl Response {
    /// A `SIP/2.0` response with the default reason, no headers and an empty body.
    pub fn new(status: StatusCode) -> Response {
        Response {
            version: VERSION.to_owned(),
            status,
            reason: status.default_reason().to_owned(),
            headers: Headers::default(),
            body: Bytes::new(),
        }
    }

    /// RFC 3261 §8.2.6: copy Via(s), From, To, Call-ID, CSeq (and Record-Route for
    /// dialog-creating 1xx/2xx is the caller's job); reason = default_reason.
    /// The To tag is not added here either: the caller sets it when it creates one.
    /// A 100 Trying also copies Timestamp (§8.2.6.1).
    pub fn for_request(req: &Request, status: StatusCode) -> Response {
        let mut resp = Response::new(status);
        for h in &req.headers {
            let copy = match h.name {
                HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq => true,
                HeaderName::Timestamp => status == StatusCode::TRYING,
                _ => false,
            };
            if copy {
                resp.headers.0.push(h.clone());
            }
        }
        resp
    }

    /// Wire form. Content-Length is always written, last, with the body's real length.
    pub fn to_bytes(&self) -> Bytes {
        let line = format!(
            "{} {} {}",
            self.version,
            self.status.0,
            self.reason.replace(['\r', '\n'], " ")
        );
        write_message(&line, &self.headers, &self.body)
    }
}

impl Message {
    /// Wire form (see [`Request::to_bytes`]).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }

    /// The header list.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The header list, mutable.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// The request, if this is one.
    pub fn as_request(&self) -> Option<&Request> {
        match self {
            Message::Request(r) => Some(r),
            Message::Response(_) => None,
        }
    }

    /// The response, if this is one.
    pub fn as_response(&self) -> Option<&Response> {
        match self {
            Message::Response(r) => Some(r),
            Message::Request(_) => None,
        }
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Message {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Message {
        Message::Response(r)
    }
}
