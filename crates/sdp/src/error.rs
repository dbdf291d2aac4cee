//! Errors of parsing and negotiation.

/// A size limit that was exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Whole description in bytes.
    Size,
    /// Number of lines.
    Lines,
    /// Number of `m=` sections.
    Media,
    /// Formats on one `m=` line.
    Formats,
}

/// What went wrong with an SDP body or an offer/answer exchange.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// A limit was exceeded (checked before allocating).
    #[error("SDP too large: {what:?} over {max}")]
    TooLarge {
        /// Which limit.
        what: Limit,
        /// The limit.
        max: usize,
    },
    /// The body is not UTF-8 text.
    #[error("SDP is not UTF-8")]
    NotText,
    /// A line does not parse.
    #[error("malformed SDP line {line}: {what}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// A mandatory line is missing.
    #[error("SDP has no {0}= line")]
    Missing(char),
    /// No audio stream with a codec both sides support (the server answers 488).
    #[error("no common codec")]
    NoCommonCodec,
    /// The offered stream has no usable connection address (the server answers 488):
    /// no `c=` line, an address that does not parse or does not match its type, a
    /// multicast or broadcast address, or `0.0.0.0`/`::` on a stream that is not on hold.
    #[error("no usable connection address: {0}")]
    NoConnectionAddress(&'static str),
    /// The leg's SRTP policy and the other side's streams do not agree (the server
    /// answers 488): SAVP offered while SRTP is off, no crypto suite we support, SRTP
    /// required but plain RTP offered, or an answer whose crypto line does not match.
    #[error("SRTP: {0}")]
    Srtp(&'static str),
    /// An answer does not match our offer (different number of m= lines, ...).
    #[error("answer does not match the offer: {0}")]
    AnswerMismatch(&'static str),
}
