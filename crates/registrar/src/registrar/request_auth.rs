//! Digest authentication of requests other than REGISTER (RFC 3261 §22.3): an INVITE
//! from a phone is challenged with 407 `Proxy-Authenticate` and proceeds only when its
//! `Proxy-Authorization` verifies as a configured user. Same users, realm, algorithms,
//! stateless nonces, replay table and per-source lockout as REGISTER: a guess against an
//! INVITE counts toward the same source lockout as one against a REGISTER.

use super::{Disposition, Registrar, Reject};
use crate::digest::challenge;
use crate::limiter::LockoutStarted;
use std::net::SocketAddr;
use std::time::SystemTime;
use switchboard_sip_message::{HeaderName, Request, StatusCode};

/// What [`Registrar::authenticate_request`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestAuth {
    /// The credentials verified: the request acts as this user (never as whoever the
    /// source address or the From header suggests).
    Authenticated {
        /// The authenticated username.
        user: String,
    },
    /// Answer 407 with these `Proxy-Authenticate` values (one per configured algorithm):
    /// no credentials, wrong ones, an unknown user (indistinguishable), or a stale or
    /// replayed nonce (`stale=true`).
    Challenge {
        /// The header values, in the configured algorithm order.
        proxy_authenticate: Vec<String>,
    },
    /// Answer with this status, unchallenged: 403 for a locked source, 400 for malformed
    /// credentials.
    Refused {
        /// The status to send.
        status: StatusCode,
    },
}

/// Result of [`Registrar::authenticate_request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestAuthOutcome {
    /// What to do with the request.
    pub verdict: RequestAuth,
    /// Why, for metrics and logs (never sent to the client).
    pub disposition: Disposition,
    /// Set when this request's failure locked its source (log it, count it).
    pub lockout: Option<LockoutStarted>,
}

impl Registrar {
    /// Authenticates a non-REGISTER request (an INVITE) that arrived at `now` from
    /// `source` by its `Proxy-Authorization` header. The From user is the user the request
    /// claims to be; it only decides whether a locked source is exempt (it authenticated
    /// that user recently, or has a live binding of it at exactly `source`).
    pub fn authenticate_request(
        &mut self,
        now: SystemTime,
        source: SocketAddr,
        req: &Request,
    ) -> RequestAuthOutcome {
        self.lockout = None;
        let claimed = req
            .headers
            .from()
            .ok()
            .and_then(|f| f.uri.user().map(str::to_owned))
            .unwrap_or_default();
        let result = self.authenticate(now, source, &claimed, &HeaderName::ProxyAuthorization, req);
        let (verdict, disposition) = match result {
            Ok(user) => (
                RequestAuth::Authenticated { user: user.clone() },
                Disposition::Accepted { user },
            ),
            Err((Reject::Status(StatusCode::UNAUTHORIZED, d), stale)) => {
                let nonce = self.nonces.issue(now);
                let proxy_authenticate = self
                    .cfg
                    .algorithms
                    .iter()
                    .map(|alg| challenge(&self.cfg.realm, &nonce, *alg, stale))
                    .collect();
                (RequestAuth::Challenge { proxy_authenticate }, d)
            }
            Err((Reject::Status(status, d), _)) => (RequestAuth::Refused { status }, d),
            // `authenticate` gives only statuses; anything else would be a REGISTER reply.
            Err((Reject::MinExpires | Reject::Unsupported(_), _)) => (
                RequestAuth::Refused {
                    status: StatusCode::BAD_REQUEST,
                },
                Disposition::BadRequest("unexpected rejection"),
            ),
        };
        RequestAuthOutcome {
            verdict,
            disposition,
            lockout: self.lockout.take(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{compute_response, Algorithm, Ha1, HashKind, Qop, ResponseInput};
    use crate::{LockoutConfig, RegistrarConfig, UserDirectory};
    use std::time::{Duration, UNIX_EPOCH};
    use switchboard_sip_message::{parse_datagram, Limits, Message};

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn registrar(max_failures: u32) -> Registrar {
        let mut cfg = RegistrarConfig::new("switchboard");
        cfg.algorithms = vec![Algorithm::Md5];
        cfg.lockout = LockoutConfig {
            max_failures,
            ..LockoutConfig::default()
        };
        let users: UserDirectory = [("1001", "secret-1001"), ("2001", "secret-2001")]
            .into_iter()
            .collect();
        Registrar::new(t0() - Duration::from_secs(1), cfg, users, [9u8; 32])
    }

    fn invite(from_user: &str, cseq: u32, auth: Option<&str>) -> Request {
        let mut text = format!(
            "INVITE sip:listen-1001@127.0.0.1:5060 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK{cseq}\r\n\
             From: <sip:{from_user}@127.0.0.1>;tag=f1\r\nTo: <sip:listen-1001@127.0.0.1>\r\n\
             Call-ID: c1\r\nCSeq: {cseq} INVITE\r\nContact: <sip:{from_user}@10.0.0.9:5062>\r\n"
        );
        if let Some(a) = auth {
            text.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match parse_datagram(text.as_bytes(), &Limits::default()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test INVITE does not parse: {other:?}"),
        }
    }

    /// The nonce in a challenge's `nonce="..."`.
    fn nonce_of(challenge: &str) -> String {
        let start = challenge.find("nonce=\"").expect("nonce") + 7;
        let rest = &challenge[start..];
        rest[..rest.find('"').expect("closing quote")].to_owned()
    }

    fn credentials(user: &str, password: &str, nonce: &str, nc: u32) -> String {
        let uri = "sip:listen-1001@127.0.0.1:5060";
        let ha1 = Ha1::from_password(HashKind::Md5, user, "switchboard", password);
        let nc_text = format!("{nc:08x}");
        let response = compute_response(&ResponseInput {
            algorithm: Algorithm::Md5,
            ha1: &ha1,
            nonce,
            qop: Some((&nc_text, "cn0", Qop::Auth)),
            method: "INVITE",
            uri,
        });
        format!(
            "Digest username=\"{user}\", realm=\"switchboard\", nonce=\"{nonce}\", \
             uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, \
             nc={nc_text}, cnonce=\"cn0\""
        )
    }

    fn challenge_nonce(out: &RequestAuthOutcome) -> String {
        match &out.verdict {
            RequestAuth::Challenge { proxy_authenticate } => {
                assert_eq!(proxy_authenticate.len(), 1);
                nonce_of(&proxy_authenticate[0])
            }
            v => panic!("expected a 407 challenge, got {v:?}"),
        }
    }

    #[test]
    fn an_invite_without_credentials_is_challenged_then_acts_as_the_authenticated_user() {
        let mut r = registrar(10);
        let src: SocketAddr = "10.0.0.9:5062".parse().expect("addr");
        let first = r.authenticate_request(t0(), src, &invite("1001", 1, None));
        assert_eq!(first.disposition, Disposition::Challenged);
        let nonce = challenge_nonce(&first);
        // The From header says 1001, the credentials say 2001: 2001 is who calls.
        let creds = credentials("2001", "secret-2001", &nonce, 1);
        let second = r.authenticate_request(t0(), src, &invite("1001", 2, Some(&creds)));
        assert_eq!(
            second.verdict,
            RequestAuth::Authenticated {
                user: "2001".into()
            }
        );
        // The same credentials again are a replay: challenged with stale=true, not admitted.
        let replay = r.authenticate_request(t0(), src, &invite("1001", 3, Some(&creds)));
        assert_eq!(replay.disposition, Disposition::Replay);
        match replay.verdict {
            RequestAuth::Challenge { proxy_authenticate } => {
                assert!(proxy_authenticate[0].contains("stale=true"))
            }
            v => panic!("replay admitted: {v:?}"),
        }
    }

    #[test]
    fn wrong_passwords_lock_the_source_shared_with_register_but_not_other_sources() {
        let mut r = registrar(3);
        let bad: SocketAddr = "10.0.0.66:5060".parse().expect("addr");
        let good: SocketAddr = "10.0.0.9:5062".parse().expect("addr");
        let mut lockouts = 0;
        for n in 0..3 {
            let out = r.authenticate_request(t0(), bad, &invite("1001", n, None));
            let nonce = challenge_nonce(&out);
            let creds = credentials("1001", "guess", &nonce, 1);
            let out = r.authenticate_request(t0(), bad, &invite("1001", n, Some(&creds)));
            assert_eq!(out.disposition, Disposition::AuthFailed);
            assert!(matches!(out.verdict, RequestAuth::Challenge { .. }));
            lockouts += usize::from(out.lockout.is_some());
        }
        assert_eq!(lockouts, 1, "the third failure locks the source");
        assert_eq!(r.stats(t0()).failures, 3);
        let locked = r.authenticate_request(t0(), bad, &invite("1001", 9, None));
        assert_eq!(
            locked.verdict,
            RequestAuth::Refused {
                status: StatusCode::FORBIDDEN
            }
        );
        // Another source with the right password still gets in.
        let out = r.authenticate_request(t0(), good, &invite("1001", 1, None));
        let creds = credentials("1001", "secret-1001", &challenge_nonce(&out), 1);
        let out = r.authenticate_request(t0(), good, &invite("1001", 2, Some(&creds)));
        assert_eq!(
            out.verdict,
            RequestAuth::Authenticated {
                user: "1001".into()
            }
        );
    }

    #[test]
    fn malformed_credentials_get_400_and_unknown_users_the_same_challenge() {
        let mut r = registrar(10);
        let src: SocketAddr = "10.0.0.9:5062".parse().expect("addr");
        let out = r.authenticate_request(t0(), src, &invite("1001", 1, Some("Digest username=")));
        assert_eq!(
            out.verdict,
            RequestAuth::Refused {
                status: StatusCode::BAD_REQUEST
            }
        );
        let out = r.authenticate_request(t0(), src, &invite("9999", 1, None));
        let creds = credentials("9999", "whatever", &challenge_nonce(&out), 1);
        let out = r.authenticate_request(t0(), src, &invite("9999", 2, Some(&creds)));
        assert_eq!(out.disposition, Disposition::AuthFailed);
        assert!(matches!(out.verdict, RequestAuth::Challenge { .. }));
    }
}
