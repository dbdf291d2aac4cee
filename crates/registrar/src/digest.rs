//! HTTP Digest arithmetic for SIP (RFC 2617, RFC 7616, RFC 8760): hashes, HA1, the
//! `response` value, a total parser for `Authorization: Digest ...` credentials, and the
//! challenge string. Pure functions: no state, no clock, no SIP types.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use md5::Md5;
use sha2::{Digest as _, Sha256};
use std::fmt;

/// Longest `Authorization` header value we look at; anything longer is rejected unparsed.
pub const MAX_CREDENTIALS_LEN: usize = 4096;
/// Most `name=value` pairs accepted in one credentials header.
pub const MAX_CREDENTIALS_PARAMS: usize = 32;

/// Digest algorithm (RFC 7616 §3.3, RFC 8760 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (the default when a client sends no `algorithm` parameter).
    Md5,
    /// `MD5-sess`: HA1 also covers nonce and cnonce.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// Parses the `algorithm` token (case-insensitive); `None` for anything else
    /// (including `SHA-512-256`, which we do not implement).
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// The token as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// The hash family, ignoring `-sess`.
    pub fn hash(self) -> HashKind {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => HashKind::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => HashKind::Sha256,
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hash function behind an [`Algorithm`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashKind {
    /// MD5 (32 hex digits).
    Md5,
    /// SHA-256 (64 hex digits).
    Sha256,
}

impl HashKind {
    /// Lower-case hex digest of the parts joined with `:`.
    pub fn hex_joined(self, parts: &[&[u8]]) -> String {
        match self {
            HashKind::Md5 => hex::encode(joined::<Md5>(parts)),
            HashKind::Sha256 => hex::encode(joined::<Sha256>(parts)),
        }
    }
}

fn joined<D: sha2::Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            d.update(b":");
        }
        d.update(p);
    }
    d.finalize().to_vec()
}

/// `H(username:realm:password)` in lower-case hex, for one hash family. What a user
/// directory stores instead of the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Ha1 {
    kind: HashKind,
    hex: String,
}

impl fmt::Debug for Ha1 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ha1({:?}, <redacted>)", self.kind)
    }
}

impl Ha1 {
    /// Computes HA1 from a password.
    pub fn from_password(kind: HashKind, username: &str, realm: &str, password: &str) -> Ha1 {
        Ha1 {
            kind,
            hex: kind.hex_joined(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()]),
        }
    }

    /// Wraps a precomputed hex HA1 (e.g. from a config file); `None` unless it is hex of
    /// the right length for `kind`. Stored lower-case.
    pub fn from_hex(kind: HashKind, hex_digits: &str) -> Option<Ha1> {
        let want = match kind {
            HashKind::Md5 => 32,
            HashKind::Sha256 => 64,
        };
        (hex_digits.len() == want && hex_digits.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
            Ha1 {
                kind,
                hex: hex_digits.to_ascii_lowercase(),
            }
        })
    }

    /// The hash family this HA1 belongs to.
    pub fn kind(&self) -> HashKind {
        self.kind
    }

    /// Lower-case hex.
    pub fn as_hex(&self) -> &str {
        &self.hex
    }
}

/// `qop` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qop {
    /// `auth`: the only one we offer and accept.
    Auth,
}

/// Everything the `response` hash covers (RFC 7616 §3.4.1).
#[derive(Clone, Copy, Debug)]
pub struct ResponseInput<'a> {
    /// Algorithm the client used.
    pub algorithm: Algorithm,
    /// Base HA1 (`H(user:realm:pass)`) of the algorithm's hash family.
    pub ha1: &'a Ha1,
    /// Server nonce.
    pub nonce: &'a str,
    /// `Some((nc, cnonce, qop))` for qop responses; `None` for RFC 2069 legacy ones.
    pub qop: Option<(&'a str, &'a str, Qop)>,
    /// Request method (`REGISTER`).
    pub method: &'a str,
    /// The `uri` parameter as sent.
    pub uri: &'a str,
}

/// The lower-case hex `response` value for `input`.
///
/// For `-sess` algorithms without a cnonce (legacy) the session key falls back to the
/// base HA1; callers reject that combination before getting here.
pub fn compute_response(input: &ResponseInput<'_>) -> String {
    let kind = input.algorithm.hash();
    let cnonce = input.qop.map(|(_, c, _)| c).unwrap_or("");
    let ha1 = if input.algorithm.is_sess() {
        kind.hex_joined(&[
            input.ha1.as_hex().as_bytes(),
            input.nonce.as_bytes(),
            cnonce.as_bytes(),
        ])
    } else {
        input.ha1.as_hex().to_owned()
    };
    let ha2 = kind.hex_joined(&[input.method.as_bytes(), input.uri.as_bytes()]);
    match input.qop {
        Some((nc, cnonce, Qop::Auth)) => kind.hex_joined(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            nc.as_bytes(),
            cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => kind.hex_joined(&[ha1.as_bytes(), input.nonce.as_bytes(), ha2.as_bytes()]),
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        let h = Sha256::digest(key);
        for (dst, src) in k.iter_mut().zip(h.iter()) {
            *dst = *src;
        }
    } else {
        for (dst, src) in k.iter_mut().zip(key) {
            *dst = *src;
        }
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

/// Why a credentials header could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Scheme is not `Digest`.
    #[error("auth scheme is not Digest")]
    NotDigest,
    /// Longer than [`MAX_CREDENTIALS_LEN`] or more than [`MAX_CREDENTIALS_PARAMS`] params.
    #[error("credentials too large")]
    TooLarge,
    /// Syntax error in the parameter list.
    #[error("malformed credentials: {0}")]
    Malformed(&'static str),
    /// A parameter appears twice.
    #[error("duplicate parameter {0}")]
    Duplicate(&'static str),
    /// A required parameter is missing.
    #[error("missing parameter {0}")]
    Missing(&'static str),
    /// `algorithm` is not one we implement.
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// `qop` other than `auth`.
    #[error("unsupported qop")]
    UnsupportedQop,
    /// `nc` is not 8 hex digits.
    #[error("bad nonce count")]
    BadNonceCount,
    /// `userhash=true` (RFC 7616 §3.4.4), which we never offer.
    #[error("userhash not supported")]
    UserHash,
}

/// Parsed `Authorization: Digest ...` credentials (RFC 7616 §3.4). Values are unquoted.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (digest-uri), as sent.
    pub uri: String,
    /// `response`, lower-cased hex.
    pub response: String,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Algorithm,
    /// `Some((nc, cnonce))` with `nc` parsed, when `qop=auth` was sent.
    pub qop: Option<QopParams>,
    /// `opaque`, if any.
    pub opaque: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .field("qop", &self.qop.is_some())
            .finish_non_exhaustive()
    }
}

/// The qop-related parameters of a credentials header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QopParams {
    /// `qop` value.
    pub qop: Qop,
    /// `nc` as sent (8 hex digits), hashed verbatim.
    pub nc_text: String,
    /// `nc` as a number.
    pub nc: u32,
    /// `cnonce`.
    pub cnonce: String,
}

impl Credentials {
    /// Parses an `Authorization`/`Proxy-Authorization` header value. Total: any input
    /// gives `Ok` or a typed error.
    pub fn parse(value: &str) -> Result<Credentials, CredentialsError> {
        if value.len() > MAX_CREDENTIALS_LEN {
            return Err(CredentialsError::TooLarge);
        }
        let value = value.trim();
        let (scheme, rest) = match value.find(|c: char| c.is_ascii_whitespace()) {
            Some(i) => (value.get(..i).unwrap_or(""), value.get(i..).unwrap_or("")),
            None => (value, ""),
        };
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(CredentialsError::NotDigest);
        }
        let pairs = parse_params(rest)?;
        let mut username = None;
        let mut realm = None;
        let mut nonce = None;
        let mut uri = None;
        let mut response = None;
        let mut algorithm = None;
        let mut cnonce = None;
        let mut qop = None;
        let mut nc = None;
        let mut opaque = None;
        let mut userhash = None;
        for (name, val) in pairs {
            let slot = match name.to_ascii_lowercase().as_str() {
                "username" => (&mut username, "username"),
                "realm" => (&mut realm, "realm"),
                "nonce" => (&mut nonce, "nonce"),
                "uri" => (&mut uri, "uri"),
                "response" => (&mut response, "response"),
                "algorithm" => (&mut algorithm, "algorithm"),
                "cnonce" => (&mut cnonce, "cnonce"),
                "qop" => (&mut qop, "qop"),
                "nc" => (&mut nc, "nc"),
                "opaque" => (&mut opaque, "opaque"),
                "userhash" => (&mut userhash, "userhash"),
                _ => continue, // unknown params are ignored (RFC 7616 §3.4)
            };
            if slot.0.is_some() {
                return Err(CredentialsError::Duplicate(slot.1));
            }
            *slot.0 = Some(val);
        }
        if userhash.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(CredentialsError::UserHash);
        }
        let algorithm = match algorithm {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(&a).ok_or(CredentialsError::UnsupportedAlgorithm)?,
        };
        let qop = match qop {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc_text = nc.ok_or(CredentialsError::Missing("nc"))?;
                let cnonce = cnonce.ok_or(CredentialsError::Missing("cnonce"))?;
                if nc_text.len() != 8 || !nc_text.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(CredentialsError::BadNonceCount);
                }
                let n = u32::from_str_radix(&nc_text, 16)
                    .map_err(|_| CredentialsError::BadNonceCount)?;
                Some(QopParams {
                    qop: Qop::Auth,
                    nc_text,
                    nc: n,
                    cnonce,
                })
            }
            Some(_) => return Err(CredentialsError::UnsupportedQop),
        };
        Ok(Credentials {
            username: username.ok_or(CredentialsError::Missing("username"))?,
            realm: realm.ok_or(CredentialsError::Missing("realm"))?,
            nonce: nonce.ok_or(CredentialsError::Missing("nonce"))?,
            uri: uri.ok_or(CredentialsError::Missing("uri"))?,
            response: response
                .ok_or(CredentialsError::Missing("response"))?
                .to_ascii_lowercase(),
            algorithm,
            qop,
            opaque,
        })
    }
}

/// Parses `name=value, name="quoted \" value", ...` into unquoted pairs.
fn parse_params(s: &str) -> Result<Vec<(String, String)>, CredentialsError> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    loop {
        // skip whitespace and commas between params
        while chars
            .peek()
            .is_some_and(|(_, c)| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        if out.len() >= MAX_CREDENTIALS_PARAMS {
            return Err(CredentialsError::TooLarge);
        }
        let mut name = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if is_token_char(c) {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() {
            return Err(CredentialsError::Malformed("expected parameter name"));
        }
        while chars.peek().is_some_and(|(_, c)| c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next().map(|(_, c)| c) != Some('=') {
            return Err(CredentialsError::Malformed("expected '='"));
        }
        while chars.peek().is_some_and(|(_, c)| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek().is_some_and(|(_, c)| *c == '"') {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e)) => value.push(e),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(CredentialsError::Malformed("unterminated quoted string"));
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if is_value_char(c) {
                    value.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if value.is_empty() {
                return Err(CredentialsError::Malformed("empty parameter value"));
            }
        }
        while chars.peek().is_some_and(|(_, c)| c.is_ascii_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some((_, ',')) => {}
            Some(_) => return Err(CredentialsError::Malformed("expected ','")),
        }
        out.push((name, value));
    }
}

/// RFC 7230 tchar (parameter names).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// tchar plus `/ : @ [ ] ? =` so unquoted URIs and base64 values from sloppy clients survive.
fn is_value_char(c: char) -> bool {
    is_token_char(c) || "/:@[]?=".contains(c)
}

/// Quotes a value for a challenge (`\` and `"` escaped).
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// A `WWW-Authenticate` value offering `algorithm` with `qop="auth"` (RFC 7616 §3.3).
pub fn challenge(realm: &str, nonce: &str, algorithm: Algorithm, stale: bool) -> String {
    let mut s = format!(
        "Digest realm={}, nonce={}, algorithm={}, qop=\"auth\"",
        quote(realm),
        quote(nonce),
        algorithm.as_str()
    );
    if stale {
        s.push_str(", stale=true");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn resp(
        alg: Algorithm,
        user: &str,
        realm: &str,
        pw: &str,
        method: &str,
        uri: &str,
        nonce: &str,
        nc: &str,
        cnonce: &str,
    ) -> String {
        let ha1 = Ha1::from_password(alg.hash(), user, realm, pw);
        compute_response(&ResponseInput {
            algorithm: alg,
            ha1: &ha1,
            nonce,
            qop: Some((nc, cnonce, Qop::Auth)),
            method,
            uri,
        })
    }

    // RFC 7616 §3.9.1: Mufasa / "Circle of Life" against http-auth@example.org.
    const N7616: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const C7616: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    #[test]
    fn rfc7616_md5_example() {
        let r = resp(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            N7616,
            "00000001",
            C7616,
        );
        assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_example() {
        let r = resp(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "GET",
            "/dir/index.html",
            N7616,
            "00000001",
            C7616,
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2617_example() {
        let r = resp(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "00000001",
            "0a4f113b",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc2617_header_parses_and_verifies() {
        let h = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let c = Credentials::parse(h).expect("parses");
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.algorithm, Algorithm::Md5);
        let q = c.qop.clone().expect("qop");
        assert_eq!(q.nc, 1);
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        let ha1 = Ha1::from_password(HashKind::Md5, "Mufasa", &c.realm, "Circle Of Life");
        let r = compute_response(&ResponseInput {
            algorithm: c.algorithm,
            ha1: &ha1,
            nonce: &c.nonce,
            qop: Some((&q.nc_text, &q.cnonce, q.qop)),
            method: "GET",
            uri: &c.uri,
        });
        assert!(constant_time_eq(r.as_bytes(), c.response.as_bytes()));
    }

    #[test]
    fn rfc2069_legacy_response() {
        // Legacy (no qop): H(HA1:nonce:HA2), computed independently here.
        let ha1 = Ha1::from_password(HashKind::Md5, "u", "r", "p");
        let ha2 = HashKind::Md5.hex_joined(&[b"REGISTER", b"sip:r"]);
        let want = HashKind::Md5.hex_joined(&[ha1.as_hex().as_bytes(), b"n", ha2.as_bytes()]);
        let got = compute_response(&ResponseInput {
            algorithm: Algorithm::Md5,
            ha1: &ha1,
            nonce: "n",
            qop: None,
            method: "REGISTER",
            uri: "sip:r",
        });
        assert_eq!(got, want);
    }

    #[test]
    fn sess_variant_differs_and_uses_cnonce() {
        let a = resp(
            Algorithm::Sha256Sess,
            "u",
            "r",
            "p",
            "REGISTER",
            "sip:r",
            "n",
            "00000001",
            "c1",
        );
        let b = resp(
            Algorithm::Sha256Sess,
            "u",
            "r",
            "p",
            "REGISTER",
            "sip:r",
            "n",
            "00000001",
            "c2",
        );
        let plain = resp(
            Algorithm::Sha256,
            "u",
            "r",
            "p",
            "REGISTER",
            "sip:r",
            "n",
            "00000001",
            "c1",
        );
        assert_ne!(a, plain);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn hmac_rfc4231_case2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hmac_long_key_rfc4231_case6() {
        let key = [0xaau8; 131];
        let mac = hmac_sha256(
            &key,
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"],
        );
        assert_eq!(
            hex::encode(mac),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn algorithm_tokens_round_trip() {
        for a in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            assert_eq!(Algorithm::parse(a.as_str()), Some(a));
            assert_eq!(Algorithm::parse(&a.as_str().to_ascii_lowercase()), Some(a));
        }
        assert_eq!(Algorithm::parse("SHA-512-256"), None);
    }

    #[test]
    fn parse_errors_are_typed() {
        assert_eq!(
            Credentials::parse("Basic Zm9vOmJhcg=="),
            Err(CredentialsError::NotDigest)
        );
        assert_eq!(
            Credentials::parse("Digest username=\"a"),
            Err(CredentialsError::Malformed("unterminated quoted string"))
        );
        assert_eq!(
            Credentials::parse("Digest username=a, username=b"),
            Err(CredentialsError::Duplicate("username"))
        );
        assert_eq!(
            Credentials::parse("Digest username=a, realm=r, nonce=n, uri=u"),
            Err(CredentialsError::Missing("response"))
        );
        assert_eq!(
            Credentials::parse(
                "Digest username=a, realm=r, nonce=n, uri=u, response=x, qop=auth, nc=1, cnonce=c"
            ),
            Err(CredentialsError::BadNonceCount)
        );
        assert_eq!(
            Credentials::parse(&format!("Digest username=\"{}\"", "a".repeat(5000))),
            Err(CredentialsError::TooLarge)
        );
        assert_eq!(
            Credentials::parse(
                "Digest username=a, realm=r, nonce=n, uri=u, response=x, algorithm=SHA-512-256"
            ),
            Err(CredentialsError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn escaped_quotes_in_values() {
        let c = Credentials::parse(
            r#"digest username="a\"b", realm="r", nonce="n", uri="sip:x", response="AB""#,
        )
        .expect("parses");
        assert_eq!(c.username, "a\"b");
        assert_eq!(c.response, "ab");
        assert!(c.qop.is_none());
    }

    #[test]
    fn challenge_format() {
        assert_eq!(
            challenge("sb\"x", "abc", Algorithm::Sha256, true),
            r#"Digest realm="sb\"x", nonce="abc", algorithm=SHA-256, qop="auth", stale=true"#
        );
    }

    #[test]
    fn ha1_from_hex_checks_length() {
        assert!(Ha1::from_hex(HashKind::Md5, &"A".repeat(32)).is_some());
        assert!(Ha1::from_hex(HashKind::Md5, &"a".repeat(64)).is_none());
        assert!(Ha1::from_hex(HashKind::Sha256, &"g".repeat(64)).is_none());
        assert_eq!(
            Ha1::from_hex(HashKind::Md5, &"A".repeat(32)).map(|h| h.as_hex().to_owned()),
            Some("a".repeat(32))
        );
    }

    #[test]
    fn constant_time_eq_basics() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
