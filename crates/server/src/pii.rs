//! `Pii<T>`: wraps phone numbers, SIP URIs and credentials in log lines. It prints
//! `<redacted>` unless the `log-pii` feature is on (never in release builds).

use std::fmt;

/// Personal data in a log line.
pub(crate) struct Pii<T>(pub(crate) T);

impl<T: fmt::Display> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if cfg!(all(feature = "log-pii", debug_assertions)) {
            self.0.fmt(f)
        } else {
            f.write_str("<redacted>")
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_by_default() {
        assert_eq!(format!("{}", Pii("+79991234567")), "<redacted>");
        assert_eq!(format!("{:?}", Pii("sip:1001@example.com")), "<redacted>");
    }
}
