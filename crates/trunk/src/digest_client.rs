//! The client side of SIP digest authentication (RFC 3261 §22, RFC 2617, RFC 7616, RFC
//! 8760): reading a `WWW-Authenticate`/`Proxy-Authenticate` challenge and writing the
//! `Authorization`/`Proxy-Authorization` that answers it, with `qop=auth`, `nc` and
//! `cnonce`. The hash arithmetic is the registrar's ([`switchboard_registrar::digest`]);
//! this module only adds what a UAC needs on top.
//!
//! A [`DigestSession`] answers each nonce once: a second challenge with the nonce it
//! already answered (and no `stale=true`) means the credentials are wrong, and it says so
//! instead of looping.

use std::fmt;

use switchboard_registrar::digest::{compute_response, Algorithm, Ha1, Qop, ResponseInput};
use switchboard_sip_message::{AuthParams, HeaderName, Request, Response, StatusCode};

/// Longest challenge header value we read.
pub const MAX_CHALLENGE_LEN: usize = 4096;

/// A digest challenge, as a server sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back unchanged.
    pub opaque: Option<String>,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (otherwise: RFC 2069 style, no nc/cnonce).
    pub qop_auth: bool,
    /// `stale=true`: the nonce expired but the credentials were right.
    pub stale: bool,
}

/// Why a challenge cannot be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// The response carries no challenge header of the kind its status needs.
    #[error("no {0} challenge in the response")]
    Missing(&'static str),
    /// Not `Digest`, unparsable, or longer than [`MAX_CHALLENGE_LEN`].
    #[error("the challenge is not a readable Digest challenge")]
    Malformed,
    /// No `realm` or no `nonce`.
    #[error("the challenge lacks realm or nonce")]
    Incomplete,
    /// An algorithm we do not implement (e.g. SHA-512-256).
    #[error("unsupported digest algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// `qop` offered, but not `auth` (only `auth-int`).
    #[error("unsupported qop {0}")]
    UnsupportedQop(String),
    /// The server challenged the nonce we already answered: the credentials are wrong.
    #[error("credentials rejected (the same nonce was challenged again)")]
    Rejected,
    /// Not a 401 or 407.
    #[error("status {0} is not a challenge")]
    NotAChallenge(u16),
}

impl Challenge {
    /// Parses one challenge header value (total: any string gives Ok or an error).
    pub fn parse(value: &str) -> Result<Challenge, ChallengeError> {
        if value.len() > MAX_CHALLENGE_LEN {
            return Err(ChallengeError::Malformed);
        }
        let p = AuthParams::parse(value).map_err(|_| ChallengeError::Malformed)?;
        if !p.scheme.eq_ignore_ascii_case("Digest") {
            return Err(ChallengeError::Malformed);
        }
        let (Some(realm), Some(nonce)) = (p.get("realm"), p.get("nonce")) else {
            return Err(ChallengeError::Incomplete);
        };
        let algorithm = match p.get("algorithm") {
            None => Algorithm::Md5,
            Some(a) => Algorithm::parse(a)
                .ok_or_else(|| ChallengeError::UnsupportedAlgorithm(a.to_owned()))?,
        };
        let qop_auth = match p.get("qop") {
            None => false,
            Some(q) => {
                if q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")) {
                    true
                } else {
                    return Err(ChallengeError::UnsupportedQop(q.to_owned()));
                }
            }
        };
        Ok(Challenge {
            realm: realm.to_owned(),
            nonce: nonce.to_owned(),
            opaque: p.get("opaque").map(str::to_owned),
            algorithm,
            qop_auth,
            stale: p
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Picks the challenge to answer among a response's headers of one kind: the
    /// strongest we implement (SHA-256 before MD5, plain before `-sess`).
    pub fn choose<'a>(values: impl Iterator<Item = &'a str>) -> Result<Challenge, ChallengeError> {
        let mut best: Option<Challenge> = None;
        let mut first_err = None;
        for v in values {
            match Challenge::parse(v) {
                Ok(c) => {
                    let rank = |c: &Challenge| match c.algorithm {
                        Algorithm::Sha256 => 3,
                        Algorithm::Sha256Sess => 2,
                        Algorithm::Md5 => 1,
                        Algorithm::Md5Sess => 0,
                    };
                    if best.as_ref().is_none_or(|b| rank(&c) > rank(b)) {
                        best = Some(c);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        best.ok_or(first_err.unwrap_or(ChallengeError::Missing("digest")))
    }
}

/// A user name and password for a carrier. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The digest user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The credentials value (`Digest username=..., response=...`) answering `challenge` for a
/// request `method` to `uri`, with nonce count `nc` and client nonce `cnonce` (used only
/// when the server offered `qop=auth`).
pub fn authorization(
    challenge: &Challenge,
    creds: &ClientCredentials,
    method: &str,
    uri: &str,
    nc: u32,
    cnonce: &str,
) -> String {
    let ha1 = Ha1::from_password(
        challenge.algorithm.hash(),
        &creds.username,
        &challenge.realm,
        &creds.password,
    );
    let nc_hex = format!("{nc:08x}");
    let qop = challenge
        .qop_auth
        .then_some((nc_hex.as_str(), cnonce, Qop::Auth));
    let response = compute_response(&ResponseInput {
        algorithm: challenge.algorithm,
        ha1: &ha1,
        nonce: &challenge.nonce,
        qop,
        method,
        uri,
    });
    let mut params = vec![
        ("username".to_owned(), creds.username.clone()),
        ("realm".to_owned(), challenge.realm.clone()),
        ("nonce".to_owned(), challenge.nonce.clone()),
        ("uri".to_owned(), uri.to_owned()),
        ("response".to_owned(), response),
        (
            "algorithm".to_owned(),
            challenge.algorithm.as_str().to_owned(),
        ),
    ];
    if challenge.qop_auth {
        params.push(("qop".to_owned(), "auth".to_owned()));
        params.push(("nc".to_owned(), nc_hex));
        params.push(("cnonce".to_owned(), cnonce.to_owned()));
    }
    if let Some(o) = &challenge.opaque {
        params.push(("opaque".to_owned(), o.clone()));
    }
    AuthParams {
        scheme: "Digest".to_owned(),
        params,
    }
    .to_string()
}

/// Answers the challenges of one request stream (a registration, or one call's INVITE):
/// remembers the nonce it answered last and its nonce count.
#[derive(Debug)]
pub struct DigestSession {
    creds: ClientCredentials,
    last_nonce: Option<String>,
    nc: u32,
}

impl DigestSession {
    /// A session with no nonce answered yet.
    pub fn new(creds: ClientCredentials) -> DigestSession {
        DigestSession {
            creds,
            last_nonce: None,
            nc: 0,
        }
    }

    /// The credentials this session answers with.
    pub fn credentials(&self) -> &ClientCredentials {
        &self.creds
    }

    /// The header to add to `req` (resent with a new CSeq) to answer the 401/407 `resp`,
    /// using `cnonce` if the challenge wants one. [`ChallengeError::Rejected`] when `resp`
    /// challenges the nonce already answered without `stale=true`.
    pub fn answer(
        &mut self,
        req: &Request,
        resp: &Response,
        cnonce: &str,
    ) -> Result<(HeaderName, String), ChallengeError> {
        let (want, give, label) = if resp.status == StatusCode::UNAUTHORIZED {
            (
                HeaderName::WwwAuthenticate,
                HeaderName::Authorization,
                "WWW-Authenticate",
            )
        } else if resp.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            (
                HeaderName::ProxyAuthenticate,
                HeaderName::ProxyAuthorization,
                "Proxy-Authenticate",
            )
        } else {
            return Err(ChallengeError::NotAChallenge(resp.status.0));
        };
        let mut values = resp.headers.get_all(&want).peekable();
        if values.peek().is_none() {
            return Err(ChallengeError::Missing(label));
        }
        let c = Challenge::choose(values)?;
        if self.last_nonce.as_deref() == Some(c.nonce.as_str()) && !c.stale {
            return Err(ChallengeError::Rejected);
        }
        self.last_nonce = Some(c.nonce.clone());
        self.nc = 1;
        let uri = req.uri.to_string();
        let value = authorization(&c, &self.creds, req.method.as_str(), &uri, self.nc, cnonce);
        Ok((give, value))
    }

    /// Forgets the nonce answered last (after a success, so that a later challenge with a
    /// new nonce is answered, and one repeating an old nonce too).
    pub fn reset(&mut self) {
        self.last_nonce = None;
        self.nc = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sip_message::{Method, Uri};

    fn mufasa() -> ClientCredentials {
        ClientCredentials {
            username: "Mufasa".into(),
            password: "Circle Of Life".into(),
        }
    }

    #[test]
    fn rfc2617_section_3_5_vector() {
        let c = Challenge::parse(
            r#"Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        )
        .unwrap();
        assert!(c.qop_auth);
        assert_eq!(c.algorithm, Algorithm::Md5);
        let v = authorization(&c, &mufasa(), "GET", "/dir/index.html", 1, "0a4f113b");
        let p = AuthParams::parse(&v).unwrap();
        assert_eq!(p.get("response"), Some("6629fae49393a05397450978507c4ef1"));
        assert_eq!(p.get("nc"), Some("00000001"));
        assert_eq!(p.get("qop"), Some("auth"));
        assert_eq!(p.get("opaque"), Some("5ccc069c403ebaf9f0171e9517f40e41"));
        assert!(v.contains("qop=auth,") && v.contains("nc=00000001"));
    }

    #[test]
    fn rfc7616_section_3_9_1_vectors() {
        let base = r#"realm="http-auth@example.org", qop="auth, auth-int", nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#;
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let sha = Challenge::parse(&format!("Digest {base}, algorithm=SHA-256")).unwrap();
        let md5 = Challenge::parse(&format!("Digest {base}, algorithm=MD5")).unwrap();
        // RFC 7616 spells the password "Circle of Life" (RFC 2617: "Circle Of Life").
        let creds = ClientCredentials {
            username: "Mufasa".into(),
            password: "Circle of Life".into(),
        };
        let r = |c: &Challenge| {
            let v = authorization(c, &creds, "GET", "/dir/index.html", 1, cnonce);
            AuthParams::parse(&v)
                .unwrap()
                .get("response")
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            r(&sha),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert_eq!(r(&md5), "8ca523f5e9506fed4657c9700eebdbec");
        // Offered both: SHA-256 is chosen.
        let both = [
            format!("Digest {base}, algorithm=MD5"),
            format!("Digest {base}, algorithm=SHA-256"),
        ];
        let chosen = Challenge::choose(both.iter().map(String::as_str)).unwrap();
        assert_eq!(chosen.algorithm, Algorithm::Sha256);
    }

    #[test]
    fn rfc2069_style_challenge_has_no_qop_fields() {
        let c = Challenge::parse(r#"Digest realm="r", nonce="n""#).unwrap();
        let v = authorization(&c, &mufasa(), "INVITE", "sip:1@h", 1, "x");
        assert!(!v.contains("qop") && !v.contains("cnonce") && !v.contains("nc="));
    }

    #[test]
    fn bad_challenges_are_typed_errors() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(ChallengeError::Malformed)
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"x\""),
            Err(ChallengeError::Incomplete)
        );
        assert!(matches!(
            Challenge::parse(r#"Digest realm="x", nonce="y", algorithm=SHA-512-256"#),
            Err(ChallengeError::UnsupportedAlgorithm(_))
        ));
        assert!(matches!(
            Challenge::parse(r#"Digest realm="x", nonce="y", qop="auth-int""#),
            Err(ChallengeError::UnsupportedQop(_))
        ));
        assert_eq!(
            Challenge::parse(&"x".repeat(MAX_CHALLENGE_LEN + 1)),
            Err(ChallengeError::Malformed)
        );
        for junk in ["", "Digest", "Digest ,,,", "Digest a=\"", "\u{0}\u{ff}"] {
            assert!(Challenge::parse(junk).is_err(), "{junk:?}");
        }
    }

    fn register() -> Request {
        let mut r = Request::new(Method::Register, Uri::parse("sip:carrier.example").unwrap());
        r.headers.push(HeaderName::CSeq, "1 REGISTER");
        r
    }

    fn challenge(status: StatusCode, name: HeaderName, nonce: &str, stale: bool) -> Response {
        let mut resp = Response::new(status);
        resp.headers.push(
            name,
            format!(r#"Digest realm="carrier", nonce="{nonce}", qop="auth", stale={stale}"#),
        );
        resp
    }

    #[test]
    fn a_session_answers_each_nonce_once() {
        let mut s = DigestSession::new(mufasa());
        let req = register();
        let r1 = challenge(
            StatusCode::UNAUTHORIZED,
            HeaderName::WwwAuthenticate,
            "n1",
            false,
        );
        let (name, value) = s.answer(&req, &r1, "c1").unwrap();
        assert_eq!(name, HeaderName::Authorization);
        assert!(value.contains("uri=\"sip:carrier.example\""));
        assert_eq!(s.answer(&req, &r1, "c2"), Err(ChallengeError::Rejected));
        // Stale: same credentials, new nonce; answered.
        let r2 = challenge(
            StatusCode::UNAUTHORIZED,
            HeaderName::WwwAuthenticate,
            "n2",
            true,
        );
        assert!(s.answer(&req, &r2, "c3").is_ok());
        let p = challenge(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            HeaderName::ProxyAuthenticate,
            "n3",
            false,
        );
        assert_eq!(
            s.answer(&req, &p, "c4").unwrap().0,
            HeaderName::ProxyAuthorization
        );
        // A 407 without Proxy-Authenticate is not answerable.
        let bare = Response::new(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        assert_eq!(
            s.answer(&req, &bare, "c5"),
            Err(ChallengeError::Missing("Proxy-Authenticate"))
        );
        assert!(matches!(
            s.answer(&req, &Response::new(StatusCode::OK), "c"),
            Err(ChallengeError::NotAChallenge(200))
        ));
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        assert!(!format!("{:?}", mufasa()).contains("Circle"));
    }
}
