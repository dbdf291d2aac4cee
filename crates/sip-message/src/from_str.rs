//! `FromStr` for the typed values, so `"sip:a@b".parse::<Uri>()` works.

use std::str::FromStr;

use crate::error::HeaderError;
use crate::name_addr::NameAddr;
use crate::typed::{AuthParams, CSeq, Replaces, RetryAfter, SessionExpires};
use crate::uri::{Host, Uri};
use crate::via::Via;

macro_rules! from_str_via_parse {
    ($($t:ty),*) => {$(
        impl FromStr for $t {
            type Err = HeaderError;
            fn from_str(s: &str) -> Result<Self, HeaderError> {
                <$t>::parse(s)
            }
        }
    )*};
}

from_str_via_parse!(
    Uri,
    Host,
    NameAddr,
    Via,
    CSeq,
    AuthParams,
    Replaces,
    SessionExpires,
    RetryAfter
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_via_from_str() {
        let u: Uri = "sip:alice@example.com".parse().unwrap();
        assert_eq!(u.user(), Some("alice"));
        let v: Via = "SIP/2.0/UDP h.example.com;branch=z9hG4bK1".parse().unwrap();
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert!("nonsense".parse::<CSeq>().is_err());
        let h: Host = "[::1]".parse().unwrap();
        assert_eq!(h.to_string(), "[::1]");
    }
}
