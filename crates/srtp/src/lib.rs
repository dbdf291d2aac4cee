//! SRTP and SRTCP (RFC 3711) for the two SDES crypto suites RFC 4568 defines for
//! AES counter mode: `AES_CM_128_HMAC_SHA1_80` and `AES_CM_128_HMAC_SHA1_32`. One
//! [`SrtpContext`] protects (or unprotects) one direction of one media leg: it derives the
//! session keys from the master key (RFC 3711 §4.3, key derivation rate 0), tracks the
//! rollover counter and estimates each packet's index (§3.3.1, Appendix A), keeps a
//! 64-packet replay window per SSRC (§3.3.2), and encrypts and authenticates RTP and RTCP
//! packets in place on the caller's buffer: nothing is allocated per packet.
//!
//! This crate is not a key exchange (SDES keys come from SDP, see `switchboard-sdp`), not
//! DTLS-SRTP, not AEAD (GCM) suites, not MKI, not a key lifetime policy beyond refusing to
//! protect past the index space (2^48 RTP, 2^31 RTCP packets). It does no I/O and never
//! reads a clock. Keys never appear in `Debug` output.
#![warn(missing_docs)]
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

mod context;
mod keys;
mod replay;

pub use context::{SrtpContext, SrtpError};
pub use keys::{MasterKey, Suite, MASTER_KEY_LEN, MASTER_SALT_LEN};
