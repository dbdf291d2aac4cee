//! HTTP digest (RFC 2617 / RFC 3261 §22.4) answers to a server's MD5 challenge, as a
//! softphone computes them for REGISTER.

use md5::{Digest, Md5};
use switchboard_sip_message::AuthParams;

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The `Authorization` header value answering `challenge` (a parsed `WWW-Authenticate`)
/// for `method` on `uri`. `None` unless the challenge is Digest with MD5 (or no algorithm)
/// and a nonce: the load tool only speaks MD5.
pub(crate) fn authorization(
    challenge: &AuthParams,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Option<String> {
    if !challenge.scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let algorithm = challenge.get("algorithm").unwrap_or("MD5");
    if !algorithm.eq_ignore_ascii_case("MD5") {
        return None;
    }
    let realm = challenge.get("realm").unwrap_or("");
    let nonce = challenge.get("nonce")?;
    let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let qop_auth = challenge
        .get("qop")
        .is_some_and(|q| q.split(',').any(|q| q.trim().eq_ignore_ascii_case("auth")));
    let mut out = format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5"
    );
    if qop_auth {
        let nc = format!("{nc:08x}");
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
        out.push_str(&format!(
            ", response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\""
        ));
    } else {
        let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        out.push_str(&format!(", response=\"{response}\""));
    }
    if let Some(opaque) = challenge.get("opaque") {
        out.push_str(&format!(", opaque=\"{opaque}\""));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example_with_qop_auth() {
        // RFC 2617 §3.5 (the response is for GET, the method does not matter to the maths).
        let ch = AuthParams::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .expect("challenge");
        let a = authorization(
            &ch,
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        )
        .expect("answer");
        assert!(
            a.contains("response=\"6629fae49393a05397450978507c4ef1\""),
            "{a}"
        );
        assert!(a.contains("nc=00000001"));
        assert!(a.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    #[test]
    fn without_qop_the_rfc2069_form() {
        let ch = AuthParams::parse("Digest realm=\"r\", nonce=\"n\"").expect("challenge");
        let a = authorization(&ch, "u", "p", "REGISTER", "sip:r", "c", 1).expect("answer");
        let ha1 = md5_hex("u:r:p");
        let ha2 = md5_hex("REGISTER:sip:r");
        let want = md5_hex(&format!("{ha1}:n:{ha2}"));
        assert!(a.contains(&format!("response=\"{want}\"")), "{a}");
        assert!(!a.contains("qop"));
    }

    #[test]
    fn refuses_other_algorithms_and_schemes() {
        let sha =
            AuthParams::parse("Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256").expect("p");
        assert!(authorization(&sha, "u", "p", "REGISTER", "sip:r", "c", 1).is_none());
        let basic = AuthParams::parse("Basic realm=\"r\"").expect("p");
        assert!(authorization(&basic, "u", "p", "REGISTER", "sip:r", "c", 1).is_none());
    }
}
