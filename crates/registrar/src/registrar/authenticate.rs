//! The digest check shared by REGISTER and other requests: credentials for our realm,
//! the same work for known and unknown users, stateless nonces with a replay table, and
//! the per-source lockout with its exemptions for known devices.

use super::{bad, AuthStats, Disposition, Registrar, Reject};
use crate::digest::{
    compute_response, constant_time_eq, Credentials, CredentialsError, ResponseInput,
};
use crate::limiter::{source_key, LockoutStarted};
use crate::nonce::NonceState;
use std::net::SocketAddr;
use std::time::SystemTime;
use switchboard_sip_message::{HeaderName, Request, StatusCode, Uri};

impl Registrar {
    /// Checks the digest credentials in `header` (`Authorization` for REGISTER,
    /// `Proxy-Authorization` for other requests). `to_user` is the user the request claims
    /// to act for (REGISTER: the To user; INVITE: the From user), which decides a locked
    /// source's exemption. `Ok(username)` on success; otherwise the 401/403/400 to send and
    /// whether it is `stale`.
    pub(crate) fn authenticate(
        &mut self,
        now: SystemTime,
        source: SocketAddr,
        to_user: &str,
        header: &HeaderName,
        req: &Request,
    ) -> Result<String, (Reject, bool)> {
        let key = source_key(source.ip());
        // Exempt while locked: a refresh from one of the To user's live bindings, or a
        // source that authenticated that user recently. Decided on the To user alone, so
        // the challenge round trip works too; a different digest username is refused.
        let exempt_user = if self.by_source.is_locked(&key, now) {
            if !(self.has_binding_from(to_user, source, now)
                || self.trusted.trusts(key, to_user, now))
            {
                self.stats.locked_rejections += 1;
                return Err((locked(), false));
            }
            self.stats.lockout_exemptions += 1;
            Some(to_user)
        } else {
            None
        };
        let challenged = |s: &mut AuthStats| {
            s.challenges += 1;
            Err((
                Reject::Status(StatusCode::UNAUTHORIZED, Disposition::Challenged),
                false,
            ))
        };

        // Pick the Digest credentials for our realm, if any.
        let mut creds = None;
        for value in req.headers.get_all(header) {
            match Credentials::parse(value) {
                Ok(c) if c.realm == self.cfg.realm => {
                    creds = Some(c);
                    break;
                }
                Ok(_)
                | Err(CredentialsError::NotDigest)
                | Err(CredentialsError::UnsupportedAlgorithm)
                | Err(CredentialsError::UnsupportedQop)
                | Err(CredentialsError::UserHash) => {}
                Err(_) => return Err((bad("malformed credentials"), false)),
            }
        }
        let Some(c) = creds else {
            return challenged(&mut self.stats);
        };
        if !self.cfg.algorithms.contains(&c.algorithm)
            || (c.qop.is_none() && (!self.cfg.allow_rfc2069 || c.algorithm.is_sess()))
        {
            return challenged(&mut self.stats);
        }
        let uri_matches =
            c.uri == req.uri.to_string() || Uri::parse(&c.uri).is_ok_and(|u| u == req.uri);
        if !uri_matches {
            return Err((bad("digest uri does not match Request-URI"), false));
        }
        if exempt_user.is_some_and(|u| u != c.username) {
            self.stats.locked_rejections += 1;
            return Err((locked(), false));
        }

        // Same work for known and unknown users: unknown ones use a fake HA1.
        let kind = c.algorithm.hash();
        let real = self.users.get(&c.username).and_then(|s| s.get(kind));
        let known = real.is_some();
        let ha1 = real.or(self.fake.get(kind)).cloned();
        let Some(ha1) = ha1 else {
            return challenged(&mut self.stats);
        };
        let expected = compute_response(&ResponseInput {
            algorithm: c.algorithm,
            ha1: &ha1,
            nonce: &c.nonce,
            qop: c
                .qop
                .as_ref()
                .map(|q| (q.nc_text.as_str(), q.cnonce.as_str(), q.qop)),
            method: req.method.as_str(),
            uri: &c.uri,
        });
        let matches = constant_time_eq(expected.as_bytes(), c.response.as_bytes()) & known;
        let nonce_state = self.nonces.check(&c.nonce, now);

        if !matches {
            self.stats.failures += 1;
            if let Some((cooldown, strike)) = self.by_source.record_failure(&key, now) {
                self.stats.lockouts_started += 1;
                self.lockout = Some(LockoutStarted {
                    source: key,
                    cooldown,
                    strike,
                });
            }
            return Err((
                Reject::Status(StatusCode::UNAUTHORIZED, Disposition::AuthFailed),
                false,
            ));
        }
        let id = match nonce_state {
            NonceState::Valid(id) => id,
            NonceState::Stale | NonceState::Invalid => {
                self.stats.stale += 1;
                return Err((
                    Reject::Status(StatusCode::UNAUTHORIZED, Disposition::Stale),
                    true,
                ));
            }
        };
        // Legacy (no qop) responses count as nc=1, so each nonce serves one request.
        let nc = c.qop.as_ref().map(|q| q.nc).unwrap_or(1);
        if !self.nonces.accept_nc(id, nc, now) {
            self.stats.replays += 1;
            return Err((
                Reject::Status(StatusCode::UNAUTHORIZED, Disposition::Replay),
                true,
            ));
        }
        self.stats.accepted += 1;
        self.trusted.record(key, &c.username, now);
        Ok(c.username)
    }

    /// Whether `user` has a live binding registered from exactly `source` (address and
    /// port): such a device keeps refreshing while its source is locked by others' failures.
    fn has_binding_from(&self, user: &str, source: SocketAddr, now: SystemTime) -> bool {
        self.location
            .lookup_active(user, now)
            .iter()
            .any(|b| b.source == source)
    }
}

fn locked() -> Reject {
    Reject::Status(StatusCode::FORBIDDEN, Disposition::LockedOut)
}
