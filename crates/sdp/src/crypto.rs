//! SDES (RFC 4568): the `a=crypto` attribute and the SRTP policy of a leg.
//!
//! `a=crypto:<tag> <suite> inline:<base64 key||salt>[|<lifetime>]`. We support the two
//! AES-CM suites of `switchboard-srtp`, exactly one key parameter, an optional lifetime
//! (`2^n` or decimal; the engine never sends that many packets on one call leg), and no
//! MKI and no session parameters (`KDR=`, `UNENCRYPTED_SRTP`, ...): a line with any of
//! those is refused with a typed [`CryptoError`], and negotiation skips it as if it were
//! not offered.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use switchboard_srtp::{MasterKey, Suite, MASTER_KEY_LEN, MASTER_SALT_LEN};

use crate::model::{Attribute, MediaDescription};

/// The SRTP policy of one leg, with our master key when SRTP may be used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SrtpMode {
    /// Plain RTP only: SAVP streams are refused, `a=crypto` lines are ignored.
    #[default]
    Off,
    /// SRTP when the peer asks for it (an SAVP stream, or `a=crypto` on AVP); plain RTP
    /// otherwise. Our offers are RTP/AVP carrying `a=crypto`, so a peer without SRTP
    /// still answers.
    Optional(MasterKey),
    /// SRTP or nothing: a stream without a crypto line we support is refused (488), our
    /// offers are RTP/SAVP.
    Required(MasterKey),
}

impl SrtpMode {
    /// Our master key, unless SRTP is off.
    pub fn key(&self) -> Option<&MasterKey> {
        match self {
            SrtpMode::Off => None,
            SrtpMode::Optional(k) | SrtpMode::Required(k) => Some(k),
        }
    }

    /// Whether SRTP is required.
    pub fn required(&self) -> bool {
        matches!(self, SrtpMode::Required(_))
    }
}

/// The keys of a negotiated SRTP stream, one master key per direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The crypto suite both sides use.
    pub suite: Suite,
    /// Our key: protects what we send.
    pub send: MasterKey,
    /// The peer's key: unprotects what we receive.
    pub receive: MasterKey,
}

/// One `a=crypto` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    /// The tag (1..=999999999) that the answer echoes.
    pub tag: u32,
    /// The suite.
    pub suite: Suite,
    /// The master key and salt.
    pub key: MasterKey,
}

/// Why an `a=crypto` value is not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// Not `<tag> <suite> <key-params>`.
    #[error("malformed crypto attribute: {0}")]
    Malformed(&'static str),
    /// A suite we do not implement (AES_256, F8, GCM, ...).
    #[error("unsupported crypto suite")]
    UnsupportedSuite,
    /// More than one key, an MKI, or session parameters.
    #[error("unsupported crypto parameter: {0}")]
    Unsupported(&'static str),
}

impl Crypto {
    /// Parses the value after `a=crypto:`.
    pub fn parse(value: &str) -> Result<Crypto, CryptoError> {
        let mut fields = value.split(' ').filter(|f| !f.is_empty());
        let tag = fields.next().ok_or(CryptoError::Malformed("no tag"))?;
        let suite = fields.next().ok_or(CryptoError::Malformed("no suite"))?;
        let params = fields
            .next()
            .ok_or(CryptoError::Malformed("no key parameters"))?;
        if fields.next().is_some() {
            return Err(CryptoError::Unsupported("session parameters"));
        }
        if tag.is_empty() || tag.len() > 9 || !tag.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CryptoError::Malformed("tag is not 1 to 9 digits"));
        }
        let tag: u32 = tag
            .parse()
            .map_err(|_| CryptoError::Malformed("tag is not 1 to 9 digits"))?;
        let suite = Suite::from_name(suite).ok_or(CryptoError::UnsupportedSuite)?;
        if params.contains(';') {
            return Err(CryptoError::Unsupported("more than one key"));
        }
        let info = params
            .strip_prefix("inline:")
            .ok_or(CryptoError::Malformed("key method is not inline"))?;
        let mut parts = info.split('|');
        let key = parts.next().unwrap_or_default();
        if let Some(lifetime) = parts.next() {
            if lifetime.contains(':') {
                return Err(CryptoError::Unsupported("MKI"));
            }
            let ok = match lifetime.strip_prefix("2^") {
                Some(exp) => exp.parse::<u8>().is_ok_and(|e| e <= 64),
                None => !lifetime.is_empty() && lifetime.bytes().all(|b| b.is_ascii_digit()),
            };
            if !ok {
                return Err(CryptoError::Malformed("lifetime"));
            }
        }
        if parts.next().is_some() {
            return Err(CryptoError::Unsupported("MKI"));
        }
        if key.len() > 64 {
            return Err(CryptoError::Malformed("key too long"));
        }
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| CryptoError::Malformed("key is not base64"))?;
        let key = MasterKey::from_concatenated(&bytes).ok_or(CryptoError::Malformed(
            "key||salt is not 30 bytes for this suite",
        ))?;
        Ok(Crypto { tag, suite, key })
    }

    /// The value after `a=crypto:`.
    pub fn to_value(&self) -> String {
        format!(
            "{} {} inline:{}",
            self.tag,
            self.suite.as_str(),
            STANDARD.encode(self.key.concatenated())
        )
    }

    /// As an SDP attribute.
    pub fn to_attribute(&self) -> Attribute {
        Attribute::Other {
            name: "crypto".to_owned(),
            value: Some(self.to_value()),
        }
    }
}

/// Length of an SDES key parameter's key||salt.
pub const KEY_SALT_LEN: usize = MASTER_KEY_LEN + MASTER_SALT_LEN;

impl MediaDescription {
    /// The `a=crypto` lines of this section, in order, each parsed or refused.
    pub fn crypto(&self) -> impl Iterator<Item = Result<Crypto, CryptoError>> + '_ {
        self.attributes.iter().filter_map(|a| match a {
            Attribute::Other {
                name,
                value: Some(v),
            } if name == "crypto" => Some(Crypto::parse(v)),
            _ => None,
        })
    }

    /// The first `a=crypto` line we support.
    pub fn first_supported_crypto(&self) -> Option<Crypto> {
        self.crypto().find_map(Result::ok)
    }

    /// Whether the transport is one of the secure RTP profiles (`RTP/SAVP`, `RTP/SAVPF`).
    pub fn is_savp(&self) -> bool {
        self.protocol.eq_ignore_ascii_case("RTP/SAVP")
            || self.protocol.eq_ignore_ascii_case("RTP/SAVPF")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz";

    #[test]
    fn parses_the_rfc_4568_example_and_prints_it_back() {
        let c =
            Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20")).expect("parses");
        assert_eq!(c.tag, 1);
        assert_eq!(c.suite, Suite::AesCm128HmacSha1_80);
        assert_eq!(
            c.to_value(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")
        );
        assert_eq!(Crypto::parse(&c.to_value()), Ok(c));
        let c = Crypto::parse(&format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}")).expect("_32");
        assert_eq!(c.suite, Suite::AesCm128HmacSha1_32);
    }

    #[test]
    fn refuses_what_we_do_not_support_with_a_reason() {
        for (value, want) in [
            (
                format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
                CryptoError::UnsupportedSuite,
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"),
                CryptoError::Unsupported("MKI"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1:4"),
                CryptoError::Unsupported("MKI"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} KDR=1"),
                CryptoError::Unsupported("session parameters"),
            ),
            (
                format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY};inline:{KEY}"),
                CryptoError::Unsupported("more than one key"),
            ),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA".to_owned(),
                CryptoError::Malformed("key||salt is not 30 bytes for this suite"),
            ),
            (
                format!("x AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
                CryptoError::Malformed("tag is not 1 to 9 digits"),
            ),
            ("1".to_owned(), CryptoError::Malformed("no suite")),
            (
                "1 AES_CM_128_HMAC_SHA1_80 inline:!!".to_owned(),
                CryptoError::Malformed("key is not base64"),
            ),
        ] {
            assert_eq!(Crypto::parse(&value), Err(want), "{value}");
        }
    }

    #[test]
    fn debug_output_carries_no_key() {
        let c = Crypto::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")).expect("ok");
        assert!(!format!("{c:?}").contains("WVNf"));
    }
}
