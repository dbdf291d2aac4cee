//! Error types of the message layer.

/// A header value (or URI) that failed to parse. Display: `bad Via: missing host`.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("bad {header}: {what}")]
pub struct HeaderError {
    /// Canonical header name (or `URI`, `name-addr`, ... for free-standing values).
    pub header: &'static str,
    /// What was wrong.
    pub what: &'static str,
}

impl HeaderError {
    pub(crate) fn new(header: &'static str, what: &'static str) -> Self {
        HeaderError { header, what }
    }
}

/// Why a buffer is not a SIP message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Stream transports only: the message is not complete yet, read more bytes.
    #[error("incomplete message: read more")]
    Incomplete,
    /// A size bound from [`crate::Limits`] was exceeded.
    #[error("{what} exceeds the limit of {max}")]
    TooLarge {
        /// Which bound (`message`, `line`, `headers`, `Via values`).
        what: &'static str,
        /// The configured bound.
        max: usize,
    },
    /// The start line or header section is not SIP syntax.
    #[error("malformed message at offset {offset}: {what}")]
    Malformed {
        /// Byte offset (from the start of the buffer) of the offending line.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// A core header (Via, From, To, Call-ID, CSeq, Max-Forwards, Contact, Expires, Date)
    /// failed validation.
    #[error("{error}")]
    BadHeader {
        /// Canonical header name.
        name: String,
        /// The header-level error.
        error: HeaderError,
    },
    /// Content-Length missing (streams), not a number, conflicting, or larger than the datagram.
    #[error("bad Content-Length: {0}")]
    ContentLength(&'static str),
}

impl ParseError {
    /// True when a stream reader should read more bytes and retry.
    pub fn is_incomplete(&self) -> bool {
        matches!(self, ParseError::Incomplete)
    }

    /// Short, stable label for counting errors (`incomplete`, `too_large`, `malformed`,
    /// `bad_header`, `content_length`).
    pub fn kind(&self) -> &'static str {
        match self {
            ParseError::Incomplete => "incomplete",
            ParseError::TooLarge { .. } => "too_large",
            ParseError::Malformed { .. } => "malformed",
            ParseError::BadHeader { .. } => "bad_header",
            ParseError::ContentLength(_) => "content_length",
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn display() {
        assert_eq!(
            HeaderError::new("Via", "missing host").to_string(),
            "bad Via: missing host"
        );
        assert_eq!(ParseError::Incomplete.kind(), "incomplete");
        assert!(ParseError::Incomplete.is_incomplete());
    }
}
