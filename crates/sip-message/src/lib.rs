//! SIP message model (RFC 3261 §7, §19, §20, §25): parse and print requests and responses,
//! typed header values and URIs (sip:, sips:, tel:), with size bounds and a parser that
//! returns `Ok` or a typed error for any input and never panics. Framing for datagrams
//! ([`parse_datagram`]) and stream transports ([`parse_stream`]) lives here too.
//! It is not a transaction or dialog layer (see `switchboard-sip`), does no I/O, and does
//! not decide how to answer a message: it only says whether the bytes are a SIP message.

#![warn(missing_docs)]

mod error;
mod headers;
mod lex;
mod message;
mod method;
mod name_addr;
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
pub use parse::{
    keepalive_prefix, parse_datagram, parse_datagram_bytes, parse_stream, parse_stream_bytes,
    Limits,
};
pub use status::StatusCode;
pub use typed::{AuthParams, CSeq, Contacts, Refresher, Replaces, RetryAfter, SessionExpires};
pub use uri::{Host, Param, SipUri, TelUri, Uri};
pub use via::Via;
