//! SDP (RFC 4566) session model, parser and printer, and RFC 3264 offer/answer for the
//! single audio stream of a call leg (PCMU, PCMA, G.722, RFC 4733 telephone-event),
//! IPv4 and IPv6 (RFC 5118). Pure data in, data out: no media, no sockets, no clock.
//! SDES keys for SRTP (RFC 4568 `a=crypto`) are parsed, printed and negotiated here; the
//! SRTP itself is `switchboard-srtp`. Not ICE, not DTLS-SRTP, not video.
#![warn(missing_docs)]

mod codec;
mod crypto;
mod error;
mod model;
mod negotiate;

pub use codec::{MAX_FORMATS, MAX_LINES, MAX_MEDIA, MAX_SDP_SIZE};
pub use crypto::{Crypto, CryptoError, SrtpKeys, SrtpMode, KEY_SALT_LEN};
pub use error::{Limit, SdpError};
pub use model::{
    AddrType, Attribute, Connection, Direction, Fmtp, MediaDescription, MediaType, Origin, Rtpmap,
    SessionDescription, Timing,
};
pub use negotiate::{
    answer, check_connection, offer, process_answer, Codec, CodecPreference, LocalCaps, LocalMedia,
    Negotiated,
};
pub use switchboard_srtp::{MasterKey, Suite};
