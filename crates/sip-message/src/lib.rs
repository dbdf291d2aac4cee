//! SIP message model (RFC 3261 §7, §19, §20, §25): parse and print requests and responses,
//! typed header values and URIs (sip:, sips:, tel:), with size bounds and a parser that
//! returns `Ok` or a typed error for any input and never panics. Framing for datagrams
//! ([`parse_datagram`]) and stream transports ([`parse_stream`]) lives here too.
//! It is not a transaction or dialog layer (see `switchboard-sip`), does no I/O, and does
//! not decide how to answer a message: it only says whether the bytes are a SIP message.

//!
//! ```
//! use switchboard_sip_message::{parse_datagram, HeaderName, Limits, Message, Response, StatusCode};
//!
//! let wire = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//! v: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bK7\r\n\
//! t: <sip:bob@example.com>\r\nf: <sip:alice@example.com>;tag=1\r\n\
//! i: abc@example.com\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n";
//! let Message::Request(req) = parse_datagram(wire, &Limits::default())? else { unreachable!() };
//! assert_eq!(req.headers.top_via()?.branch(), Some("z9hG4bK7"));
//! let mut ok = Response::for_request(&req, StatusCode::OK);
//! ok.headers.push(HeaderName::Allow, "INVITE, ACK, BYE, CANCEL, OPTIONS");
//! let bytes = ok.to_bytes(); // always carries a correct Content-Length
//! assert!(bytes.starts_with(b"SIP/2.0 200 OK\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod error;
mod from_str;
mod headers;
mod lex;
mod message;
mod method;
mod name_addr;
mod param;
mod parse;
mod status;
mod typed;
mod uri;
mod via;

pub use error::{HeaderError, ParseError};
pub use headers::{Header, HeaderName, Headers};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use name_addr::NameAddr;
pub use param::Param;
pub use parse::{
    keepalive_prefix, parse_datagram, parse_datagram_bytes, parse_datagram_unvalidated,
    parse_stream, parse_stream_bytes, Limits,
};
pub use status::StatusCode;
pub use typed::{AuthParams, CSeq, Contacts, Refresher, Replaces, RetryAfter, SessionExpires};
pub use uri::{Host, SipUri, TelUri, Uri};
pub use via::Via;
