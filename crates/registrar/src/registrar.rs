//! The REGISTER handler (RFC 3261 §10.3) with digest authentication and brute-force lockout.
//! [`request_auth`] applies the same digest check to other requests (INVITE, 407).

mod authenticate;
mod http_date;
mod request_auth;
mod users;

use crate::digest::{challenge, hmac_sha256, Algorithm, Ha1, HashKind};
use crate::limiter::{FailureTable, LockoutConfig, LockoutStarted, TrustTable};
use crate::location::{contact_key, Binding, LocationEvent, LocationTable, LogoutReason};
use crate::nonce::NonceKeeper;
pub use http_date::http_date;
pub use request_auth::{RequestAuth, RequestAuthOutcome};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};
use switchboard_sip_message::{
    Contacts, HeaderName, Method, NameAddr, Param, Request, Response, StatusCode,
};
pub use users::UserDirectory;
use users::{Ha1Set, Secret};

/// Registrar settings. [`RegistrarConfig::new`] gives the defaults below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Digest realm (also what HA1s are computed against).
    pub realm: String,
    /// Algorithms challenged with, one `WWW-Authenticate` each, in this order.
    /// Default `[SHA-256, MD5]` (RFC 8760 §2.4: preferred first). Empty means the default.
    pub algorithms: Vec<Algorithm>,
    /// How long a nonce stays good (default 300 s). Older ones get `stale=true`.
    pub nonce_lifetime: Duration,
    /// Most nonces whose `nc` is tracked for replay protection (default 65536).
    pub nonce_capacity: usize,
    /// Accept RFC 2069 responses (no `qop`). Default `false`: such clients are challenged
    /// again. When `true`, each nonce is good for one legacy request.
    pub allow_rfc2069: bool,
    /// Shortest registration accepted, seconds (default 60); shorter gets 423.
    pub min_expires: u32,
    /// Longer registrations are cut to this, seconds (default 3600; raised to
    /// `min_expires` if below it).
    pub max_expires: u32,
    /// Used when neither the contact nor the request says (default 3600).
    pub default_expires: u32,
    /// Most bindings per user (default 10); more gets 403.
    pub max_bindings_per_user: usize,
    /// Brute-force protection.
    pub lockout: LockoutConfig,
}

impl RegistrarConfig {
    /// Defaults for `realm`.
    pub fn new(realm: impl Into<String>) -> RegistrarConfig {
        RegistrarConfig {
            realm: realm.into(),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            nonce_lifetime: Duration::from_secs(300),
            nonce_capacity: 65_536,
            allow_rfc2069: false,
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_bindings_per_user: 10,
            lockout: LockoutConfig::default(),
        }
    }
}

/// What the registrar decided; the response says the same thing on the wire. For logs and
/// metrics only: it never reaches the client.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disposition {
    /// 200: bindings of `user` updated (or just listed).
    Accepted {
        /// Authenticated username.
        user: String,
    },
    /// 401: no usable credentials; challenged.
    Challenged,
    /// 401 `stale=true`: right credentials, old or foreign nonce.
    Stale,
    /// 401 `stale=true`: nonce count not above the last one seen (replay).
    Replay,
    /// 401: wrong credentials (wrong password or unknown user: indistinguishable).
    AuthFailed,
    /// 403: the source is in its lockout cooldown and has no exemption for the To user;
    /// nothing evaluated. The same answer whether or not the user exists.
    LockedOut,
    /// 403: authenticated, but not as the To AOR, or too many bindings.
    Forbidden(&'static str),
    /// 403: the credentials verified, but they are a trunk's INVITE-only account
    /// (see [`UserDirectory::insert_invite_only_password`]), which may not register.
    InviteOnlyCredentials {
        /// The authenticated (trunk) username.
        user: String,
    },
    /// 423: expiry below the minimum.
    IntervalTooBrief,
    /// 420: the request `Require`s extensions we do not support (listed in `Unsupported`).
    BadExtension,
    /// 400 (or 405 for a non-REGISTER): the request was malformed.
    BadRequest(&'static str),
}

/// Result of [`Registrar::handle_register`].
#[derive(Clone, Debug)]
pub struct RegisterOutcome {
    /// The response to send back on the REGISTER's server transaction.
    pub response: Response,
    /// Presence changes caused by this request, in order (feed to the ACD).
    pub events: Vec<LocationEvent>,
    /// What happened, for metrics/logs.
    pub disposition: Disposition,
    /// Set when this request's failure locked its source (log it, count it).
    pub lockout: Option<LockoutStarted>,
}

/// Counters for monitoring. `locked_*` and `tracked_nonces` are current values, the rest
/// are totals since construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthStats {
    /// 401 challenges sent for requests without usable credentials.
    pub challenges: u64,
    /// Successful authentications.
    pub accepted: u64,
    /// Wrong credentials (including unknown users and forged nonces).
    pub failures: u64,
    /// `stale=true` answers for old nonces.
    pub stale: u64,
    /// `stale=true` answers for replayed nonce counts.
    pub replays: u64,
    /// Requests refused unevaluated because of a lockout.
    pub locked_rejections: u64,
    /// Requests from a locked source let through because the source has a live binding
    /// of the user or authenticated the user recently.
    pub lockout_exemptions: u64,
    /// Lockouts started (sources).
    pub lockouts_started: u64,
    /// Sources (IPv4 addresses, IPv6 /64s) locked right now.
    pub locked_ips: usize,
    /// Sources with failure counters right now.
    pub tracked_sources: usize,
    /// (source, user) pairs remembered as recently authenticated.
    pub trusted_pairs: usize,
    /// Nonces in the replay table.
    pub tracked_nonces: usize,
}

/// A sans-IO SIP registrar: feed REGISTER requests with the time and source, send back
/// the response it returns, forward its events. Owns the writer side of a
/// [`LocationTable`].
pub struct Registrar {
    cfg: RegistrarConfig,
    users: HashMap<String, Ha1Set>,
    /// Usernames that may authenticate INVITEs but not REGISTERs (trunk accounts).
    invite_only: HashSet<String>,
    fake: Ha1Set,
    secret: [u8; 32],
    nonces: NonceKeeper,
    by_source: FailureTable<IpAddr>,
    trusted: TrustTable,
    /// Set by `authenticate` when a failure locks the source.
    lockout: Option<LockoutStarted>,
    location: LocationTable,
    stats: AuthStats,
}

impl fmt::Debug for Registrar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registrar")
            .field("realm", &self.cfg.realm)
            .field("users", &self.users.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

pub(crate) enum Reject {
    Status(StatusCode, Disposition),
    MinExpires,
    Unsupported(Vec<String>),
}

/// Contacts accepted in one REGISTER (bounds per-request work; bindings are capped
/// separately by `max_bindings_per_user`).
pub const MAX_CONTACTS_PER_REQUEST: usize = 32;

fn bad(what: &'static str) -> Reject {
    Reject::Status(StatusCode::BAD_REQUEST, Disposition::BadRequest(what))
}

impl Registrar {
    /// A registrar with a fresh, empty location table.
    ///
    /// `secret` keys nonce MACs and derived values; keep it stable across restarts only if
    /// several instances must accept each other's nonces (nonces issued before `now` are
    /// treated as stale either way). `now` is the current wall-clock time.
    pub fn new(
        now: SystemTime,
        config: RegistrarConfig,
        users: UserDirectory,
        secret: [u8; 32],
    ) -> Registrar {
        Registrar::with_location(now, config, users, secret, LocationTable::new())
    }

    /// Like [`new`](Self::new) but writing into an existing shared `location` table.
    pub fn with_location(
        now: SystemTime,
        config: RegistrarConfig,
        users: UserDirectory,
        secret: [u8; 32],
        location: LocationTable,
    ) -> Registrar {
        let mut config = config;
        if config.algorithms.is_empty() {
            config.algorithms = RegistrarConfig::new("").algorithms;
        }
        config.max_expires = config.max_expires.max(config.min_expires);
        let fake_pw = hex::encode(hmac_sha256(&secret, &[b"sb-fake-password"]));
        let fake = Ha1Set {
            md5: Some(Ha1::from_password(
                HashKind::Md5,
                "",
                &config.realm,
                &fake_pw,
            )),
            sha256: Some(Ha1::from_password(
                HashKind::Sha256,
                "",
                &config.realm,
                &fake_pw,
            )),
        };
        let mut r = Registrar {
            nonces: NonceKeeper::new(
                secret,
                &config.realm,
                config.nonce_lifetime,
                config.nonce_capacity,
                now,
            ),
            by_source: FailureTable::new(config.lockout.clone()),
            trusted: TrustTable::new(config.lockout.clone()),
            lockout: None,
            users: HashMap::new(),
            invite_only: HashSet::new(),
            fake,
            secret,
            location,
            stats: AuthStats::default(),
            cfg: config,
        };
        r.set_users(users);
        r
    }

    /// Replaces the user directory (config reload). Existing bindings stay.
    pub fn set_users(&mut self, users: UserDirectory) {
        let realm = self.cfg.realm.clone();
        self.invite_only = users.invite_only;
        self.users = users
            .users
            .into_iter()
            .map(|(u, s)| {
                let set = match s {
                    Secret::Password(p) => Ha1Set {
                        md5: Some(Ha1::from_password(HashKind::Md5, &u, &realm, &p)),
                        sha256: Some(Ha1::from_password(HashKind::Sha256, &u, &realm, &p)),
                    },
                    Secret::Ha1(md5, sha256) => Ha1Set { md5, sha256 },
                };
                (u, set)
            })
            .collect();
    }

    /// A clone of the shared location table, for INVITE routing and keepalives.
    pub fn location(&self) -> LocationTable {
        self.location.clone()
    }

    /// The configuration in use.
    pub fn config(&self) -> &RegistrarConfig {
        &self.cfg
    }

    /// Counters at `now`.
    pub fn stats(&self, now: SystemTime) -> AuthStats {
        AuthStats {
            locked_ips: self.by_source.locked_count(now),
            tracked_sources: self.by_source.len(),
            trusted_pairs: self.trusted.len(),
            tracked_nonces: self.nonces.tracked(),
            ..self.stats.clone()
        }
    }

    /// Next time [`handle_timeout`](Self::handle_timeout) has work: the earliest binding
    /// expiry. `None` when nothing is registered.
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        self.location.next_expiry()
    }

    /// Expires lapsed bindings and prunes the nonce and lockout tables. Call at (or after)
    /// [`poll_timeout`](Self::poll_timeout); calling more often is harmless.
    pub fn handle_timeout(&mut self, now: SystemTime) -> Vec<LocationEvent> {
        self.nonces.prune(now);
        self.by_source.prune(now);
        self.trusted.prune(now);
        self.location.expire(now)
    }

    /// Handles one REGISTER that arrived at `now` from `source` over `transport`
    /// (`"UDP"`, `"TCP"`, ...). Returns the response to send and the presence events.
    pub fn handle_register(
        &mut self,
        now: SystemTime,
        source: SocketAddr,
        transport: &str,
        req: &Request,
    ) -> RegisterOutcome {
        let mut events = Vec::new();
        self.lockout = None;
        let result = self.register(now, source, transport, req, &mut events);
        let (mut response, disposition) = match result {
            Ok((user, bindings)) => {
                let mut resp = Response::for_request(req, StatusCode::OK);
                for b in &bindings {
                    resp.headers
                        .push(HeaderName::Contact, contact_with_expires(b, now));
                }
                resp.headers.push(HeaderName::Date, http_date(now));
                (resp, Disposition::Accepted { user })
            }
            Err((Reject::Unsupported(tags), _)) => {
                let mut resp = Response::for_request(req, StatusCode::BAD_EXTENSION);
                resp.headers.push(HeaderName::Unsupported, tags.join(", "));
                (resp, Disposition::BadExtension)
            }
            Err((Reject::MinExpires, _)) => {
                let mut resp = Response::for_request(req, StatusCode::INTERVAL_TOO_BRIEF);
                resp.headers
                    .push(HeaderName::MinExpires, self.cfg.min_expires.to_string());
                (resp, Disposition::IntervalTooBrief)
            }
            Err((Reject::Status(status, d), stale)) => {
                let mut resp = Response::for_request(req, status);
                if status == StatusCode::UNAUTHORIZED {
                    let nonce = self.nonces.issue(now);
                    for alg in &self.cfg.algorithms {
                        resp.headers.push(
                            HeaderName::WwwAuthenticate,
                            challenge(&self.cfg.realm, &nonce, *alg, stale),
                        );
                    }
                }
                (resp, d)
            }
        };
        if let Disposition::InviteOnlyCredentials { .. } = disposition {
            response.reason = "Trunk Account May Not Register".into();
        }
        self.add_to_tag(req, &mut response);
        RegisterOutcome {
            response,
            events,
            disposition,
            lockout: self.lockout.take(),
        }
    }

    /// RFC 3261 §8.2.6.2: a To tag on responses. Derived from the request so retransmitted
    /// requests get the same tag and the tag says nothing about the user.
    fn add_to_tag(&self, req: &Request, resp: &mut Response) {
        let Ok(mut to) = resp.headers.to() else {
            return;
        };
        if to.tag().is_some() {
            return;
        }
        let call_id = req.headers.call_id().unwrap_or("");
        let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        let from_tag = req
            .headers
            .from()
            .ok()
            .and_then(|f| f.tag().map(str::to_owned))
            .unwrap_or_default();
        let mac = hmac_sha256(
            &self.secret,
            &[
                b"sb-to-tag",
                call_id.as_bytes(),
                &cseq.to_be_bytes(),
                from_tag.as_bytes(),
            ],
        );
        let tag = hex::encode(mac.get(..8).unwrap_or(&mac));
        to.set_tag(&tag);
        resp.headers.set(HeaderName::To, to.to_string());
    }

    /// Returns the authenticated user and their bindings, or the rejection plus whether
    /// a challenge should say `stale=true`.
    fn register(
        &mut self,
        now: SystemTime,
        source: SocketAddr,
        transport: &str,
        req: &Request,
        events: &mut Vec<LocationEvent>,
    ) -> Result<(String, Vec<Binding>), (Reject, bool)> {
        if req.method != Method::Register {
            return Err((
                Reject::Status(
                    StatusCode::METHOD_NOT_ALLOWED,
                    Disposition::BadRequest("not a REGISTER"),
                ),
                false,
            ));
        }
        let h = &req.headers;
        let to = h.to().map_err(|_| (bad("bad To"), false))?;
        h.from().map_err(|_| (bad("bad From"), false))?;
        let call_id = h
            .call_id()
            .map_err(|_| (bad("bad Call-ID"), false))?
            .to_owned();
        let cseq = h.cseq().map_err(|_| (bad("bad CSeq"), false))?;
        if cseq.method != Method::Register {
            return Err((bad("CSeq method is not REGISTER"), false));
        }
        let contacts = h.contacts().map_err(|_| (bad("bad Contact"), false))?;
        let expires = h.expires().map_err(|_| (bad("bad Expires"), false))?;
        // RFC 3261 §10.3 step 2: we implement no extensions (no path, outbound, gruu).
        let required = h.tokens(&HeaderName::Require);
        if !required.is_empty() {
            return Err((Reject::Unsupported(required), false));
        }
        if let Contacts::List(list) = &contacts {
            if list.len() > MAX_CONTACTS_PER_REQUEST {
                return Err((bad("too many Contact values"), false));
            }
        }

        let user = self.authenticate(
            now,
            source,
            to.uri.user().unwrap_or(""),
            &HeaderName::Authorization,
            req,
        )?;

        if self.invite_only.contains(&user) {
            // Checked after the digest verified, so only the holder of a trunk's password
            // learns that the name is a trunk's (no oracle for guessers).
            return Err((
                Reject::Status(
                    StatusCode::FORBIDDEN,
                    Disposition::InviteOnlyCredentials { user },
                ),
                false,
            ));
        }
        if to.uri.user() != Some(user.as_str()) {
            return Err((
                Reject::Status(
                    StatusCode::FORBIDDEN,
                    Disposition::Forbidden("To does not match authenticated user"),
                ),
                false,
            ));
        }

        let user_agent = h.get(&HeaderName::UserAgent).map(str::to_owned);
        let cfg = &self.cfg;
        let (result, evs) = match contacts {
            Contacts::Star => {
                if expires != Some(0) {
                    return Err((bad("Contact: * needs Expires: 0"), false));
                }
                self.location
                    .update(&user, now, LogoutReason::Unregistered, |bs| {
                        if bs
                            .iter()
                            .any(|b| b.call_id == call_id && cseq.seq <= b.cseq)
                        {
                            return Err(bad("CSeq out of order"));
                        }
                        bs.clear();
                        Ok(Vec::new())
                    })
            }
            Contacts::List(list) => {
                let mut wanted: Vec<(String, NameAddr, u32)> = Vec::with_capacity(list.len());
                for na in list {
                    let secs = match na.param("expires") {
                        Some(Some(v)) => v
                            .trim()
                            .parse::<u32>()
                            .map_err(|_| (bad("bad contact expires"), false))?,
                        Some(None) => return Err((bad("bad contact expires"), false)),
                        None => expires.unwrap_or(cfg.default_expires),
                    };
                    if secs != 0 && secs < cfg.min_expires {
                        return Err((Reject::MinExpires, false));
                    }
                    let mut contact = na;
                    contact
                        .params
                        .retain(|p| !p.name.eq_ignore_ascii_case("expires"));
                    let key = contact_key(&contact.uri);
                    wanted.retain(|(k, _, _)| *k != key);
                    wanted.push((key, contact, secs.min(cfg.max_expires)));
                }
                let max_bindings = cfg.max_bindings_per_user;
                self.location
                    .update(&user, now, LogoutReason::Unregistered, |bs| {
                        for (key, _, _) in &wanted {
                            if bs.iter().any(|b| {
                                b.key() == *key && b.call_id == call_id && cseq.seq <= b.cseq
                            }) {
                                return Err(bad("CSeq out of order"));
                            }
                        }
                        let mut next = bs.clone();
                        for (key, contact, secs) in wanted {
                            let pos = next.iter().position(|b| b.key() == key);
                            if secs == 0 {
                                if let Some(i) = pos {
                                    next.remove(i);
                                }
                                continue;
                            }
                            let b = Binding {
                                contact,
                                source,
                                transport: transport.to_owned(),
                                expires_at: now + Duration::from_secs(u64::from(secs)),
                                call_id: call_id.clone(),
                                cseq: cseq.seq,
                                user_agent: user_agent.clone(),
                            };
                            match pos.and_then(|i| next.get_mut(i)) {
                                Some(slot) => *slot = b,
                                None => next.push(b),
                            }
                        }
                        if next.len() > max_bindings {
                            return Err(Reject::Status(
                                StatusCode::FORBIDDEN,
                                Disposition::Forbidden("too many bindings"),
                            ));
                        }
                        *bs = next;
                        Ok(bs.clone())
                    })
            }
        };
        events.extend(evs);
        let bindings = result.map_err(|r| (r, false))?;
        Ok((user, bindings))
    }
}

/// `<uri>;params;expires=N` for a 200's Contact list.
fn contact_with_expires(b: &Binding, now: SystemTime) -> String {
    let mut na = b.contact.clone();
    na.params.push(Param {
        name: "expires".to_owned(),
        value: Some(b.remaining_secs(now).to_string()),
    });
    na.to_string()
}
