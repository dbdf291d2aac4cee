//! Registering with a carrier (RFC 3261 §10 as a UAC): a sans-IO client that sends REGISTER,
//! answers a 401/407 with digest credentials (each nonce once, at most
//! [`MAX_CHALLENGES_PER_ATTEMPT`] challenges per attempt), follows a 423 `Min-Expires`,
//! refreshes at [`REFRESH_SHARE`] of the granted lifetime, backs off exponentially after a
//! failure, and can un-register (`Expires: 0`) on shutdown.
//!
//! Run loop: [`RegistrationClient::start`], then send every request from
//! [`RegistrationClient::poll_request`] in a client transaction; feed its final response to
//! [`RegistrationClient::handle_response`] (or [`RegistrationClient::handle_failure`] for a
//! timeout or transport error); sleep until [`RegistrationClient::poll_timeout`] and call
//! [`RegistrationClient::handle_timeout`]. At most one REGISTER is outstanding.

use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchboard_sip_message::{Contacts, HeaderName, Method, NameAddr, Request, Response, Uri};

use crate::digest_client::{ClientCredentials, DigestSession};

/// Refresh when this share of the granted lifetime has passed.
pub const REFRESH_SHARE: f64 = 0.85;
/// Challenges answered within one attempt before it counts as failed (a fresh nonce per
/// wrong answer must not make us loop).
pub const MAX_CHALLENGES_PER_ATTEMPT: u32 = 2;
/// Longest `Expires` we follow from a 423's `Min-Expires`.
pub const MAX_MIN_EXPIRES: u32 = 86_400;

/// What to register.
#[derive(Clone, Debug)]
pub struct RegistrationConfig {
    /// The Request-URI (`sip:carrier.example:5060`).
    pub registrar: Uri,
    /// The address of record (From and To): `sip:user@carrier.example`.
    pub aor: Uri,
    /// Our Contact.
    pub contact: NameAddr,
    /// Digest credentials.
    pub credentials: ClientCredentials,
    /// The lifetime we ask for, seconds.
    pub expires: u32,
    /// First retry delay after a failure; doubles per failure up to `retry_max`.
    pub retry_min: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

/// Where a registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not started, or un-registered.
    Unregistered,
    /// A REGISTER is outstanding (first attempt, or after a failure).
    Registering,
    /// The carrier accepted the binding and it has not expired.
    Registered,
    /// The last attempt failed; a retry is scheduled.
    Failed,
    /// An un-REGISTER (`Expires: 0`) is outstanding.
    Unregistering,
}

impl RegistrationState {
    /// Lower-case name for the API and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Unregistered => "unregistered",
            RegistrationState::Registering => "registering",
            RegistrationState::Registered => "registered",
            RegistrationState::Failed => "failed",
            RegistrationState::Unregistering => "unregistering",
        }
    }
}

/// A snapshot for status reports.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistrationStatus {
    /// The state.
    pub state: RegistrationState,
    /// The status of the last final response (408 for a timeout, 503 for a transport error).
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the current binding expires (while registered, or refreshing).
    pub expires_at: Option<Instant>,
    /// The lifetime the carrier granted last, seconds.
    pub granted_expires: Option<u32>,
    /// Successful registrations and refreshes.
    pub successes: u64,
    /// Failed attempts.
    pub failures: u64,
}

#[derive(Debug)]
enum Phase {
    Idle,
    /// A request is outstanding; `unregister` when it is an `Expires: 0`.
    Waiting {
        unregister: bool,
    },
    Registered {
        refresh_at: Instant,
    },
    RetryAt(Instant),
}

/// The client; see the module docs for the run loop.
#[derive(Debug)]
pub struct RegistrationClient {
    cfg: RegistrationConfig,
    digest: DigestSession,
    rng: ChaCha8Rng,
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    phase: Phase,
    pending: Option<Request>,
    last_sent: Option<Request>,
    challenges: u32,
    backoff: Duration,
    status: RegistrationStatus,
}

impl RegistrationClient {
    /// A client that has sent nothing; `seed` drives the Call-ID, tag and cnonces.
    pub fn new(cfg: RegistrationConfig, seed: u64) -> RegistrationClient {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let call_id = format!(
            "{:016x}{:016x}@switchboard",
            rng.gen::<u64>(),
            rng.gen::<u64>()
        );
        let from_tag = format!("{:012x}", rng.gen::<u64>() & 0xffff_ffff_ffff);
        RegistrationClient {
            digest: DigestSession::new(cfg.credentials.clone()),
            expires: cfg.expires,
            backoff: cfg.retry_min,
            cfg,
            rng,
            call_id,
            from_tag,
            cseq: 0,
            phase: Phase::Idle,
            pending: None,
            last_sent: None,
            challenges: 0,
            status: RegistrationStatus {
                state: RegistrationState::Unregistered,
                last_status: None,
                last_error: None,
                expires_at: None,
                granted_expires: None,
                successes: 0,
                failures: 0,
            },
        }
    }

    /// The current status.
    pub fn status(&self) -> &RegistrationStatus {
        &self.status
    }

    /// Sends the first REGISTER (no-op unless idle).
    pub fn start(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Idle) {
            self.send_fresh(now, false);
        }
    }

    /// Un-registers: `Expires: 0` if a binding may exist, else just stops. No further
    /// refreshes or retries happen afterwards.
    pub fn unregister(&mut self, now: Instant) {
        let bound = self.status.expires_at.is_some_and(|t| t > now);
        if bound {
            self.send_fresh(now, true);
        } else {
            self.phase = Phase::Idle;
            self.pending = None;
            self.status.state = RegistrationState::Unregistered;
        }
    }

    /// The next REGISTER to send, if any (it has no Via: the transaction layer adds it).
    pub fn poll_request(&mut self) -> Option<Request> {
        self.pending.take()
    }

    /// When [`RegistrationClient::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Registered { refresh_at } => Some(refresh_at),
            Phase::RetryAt(t) => Some(t),
            Phase::Idle | Phase::Waiting { .. } => None,
        }
    }

    /// Refreshes or retries when their time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Registered { refresh_at } if now >= refresh_at => self.send_fresh(now, false),
            Phase::RetryAt(t) if now >= t => self.send_fresh(now, false),
            _ => {}
        }
        if self.status.state == RegistrationState::Registered
            && self.status.expires_at.is_some_and(|t| now >= t)
        {
            self.status.state = RegistrationState::Registering;
        }
    }

    /// The final (or provisional, ignored) response to the last REGISTER sent.
    pub fn handle_response(&mut self, now: Instant, resp: &Response) {
        let Phase::Waiting { unregister } = self.phase else {
            return;
        };
        let status = resp.status;
        if status.is_provisional() {
            return;
        }
        self.status.last_status = Some(status.0);
        if status.is_success() {
            self.digest.reset();
            self.backoff = self.cfg.retry_min;
            self.status.last_error = None;
            if unregister {
                self.phase = Phase::Idle;
                self.status.state = RegistrationState::Unregistered;
                self.status.expires_at = None;
                return;
            }
            let granted = self.granted(resp).max(1);
            let life = Duration::from_secs(u64::from(granted));
            self.status.granted_expires = Some(granted);
            self.status.expires_at = Some(now + life);
            self.status.successes += 1;
            self.status.state = RegistrationState::Registered;
            self.phase = Phase::Registered {
                refresh_at: now + life.mul_f64(REFRESH_SHARE),
            };
            return;
        }
        if status.0 == 401 || status.0 == 407 {
            if self.challenges >= MAX_CHALLENGES_PER_ATTEMPT {
                self.fail(now, "credentials rejected (challenged again)".into());
                return;
            }
            let Some(last) = self.last_sent.clone() else {
                return;
            };
            let cnonce = format!("{:016x}", self.rng.gen::<u64>());
            match self.digest.answer(&last, resp, &cnonce) {
                Ok((name, value)) => {
                    self.challenges += 1;
                    let mut req = self.build(unregister);
                    req.headers.push(name, value);
                    self.queue(req);
                }
                Err(e) => self.fail(now, e.to_string()),
            }
            return;
        }
        if status.0 == 423 {
            let min = resp.headers.min_expires().ok().flatten().unwrap_or(0);
            if min > self.expires && min <= MAX_MIN_EXPIRES && !unregister {
                self.expires = min;
                self.digest.reset();
                self.challenges = 0;
                let req = self.build(false);
                self.queue(req);
                return;
            }
        }
        let why = format!("{} {}", status.0, resp.reason);
        self.fail(now, why);
    }

    /// The outstanding REGISTER got no response (`status` 408) or could not be sent (503).
    pub fn handle_failure(&mut self, now: Instant, status: u16, why: &str) {
        if !matches!(self.phase, Phase::Waiting { .. }) {
            return;
        }
        self.status.last_status = Some(status);
        self.fail(now, why.to_owned());
    }

    fn fail(&mut self, now: Instant, why: String) {
        self.status.failures += 1;
        self.status.last_error = Some(why);
        if matches!(self.phase, Phase::Waiting { unregister: true }) {
            self.phase = Phase::Idle;
            self.status.state = RegistrationState::Unregistered;
            return;
        }
        self.status.state = RegistrationState::Failed;
        if self.status.expires_at.is_some_and(|t| t <= now) {
            self.status.expires_at = None;
        }
        self.phase = Phase::RetryAt(now + self.backoff);
        self.backoff = (self.backoff * 2).min(self.cfg.retry_max);
    }

    fn send_fresh(&mut self, _now: Instant, unregister: bool) {
        self.digest.reset();
        self.challenges = 0;
        let req = self.build(unregister);
        self.queue(req);
        self.phase = Phase::Waiting { unregister };
        self.status.state = if unregister {
            RegistrationState::Unregistering
        } else if self.status.state == RegistrationState::Registered {
            RegistrationState::Registered
        } else {
            RegistrationState::Registering
        };
    }

    fn queue(&mut self, req: Request) {
        self.last_sent = Some(req.clone());
        self.pending = Some(req);
    }

    fn build(&mut self, unregister: bool) -> Request {
        self.cseq += 1;
        let mut req = Request::new(Method::Register, self.cfg.registrar.clone());
        let mut from = NameAddr::new(self.cfg.aor.clone());
        from.set_tag(&self.from_tag);
        req.headers.push(HeaderName::From, from.to_string());
        req.headers.push(
            HeaderName::To,
            NameAddr::new(self.cfg.aor.clone()).to_string(),
        );
        req.headers.push(HeaderName::CallId, self.call_id.clone());
        req.headers
            .push(HeaderName::CSeq, format!("{} REGISTER", self.cseq));
        req.headers
            .push(HeaderName::Contact, self.cfg.contact.to_string());
        let e = if unregister { 0 } else { self.expires };
        req.headers.push(HeaderName::Expires, e.to_string());
        req.headers.push(HeaderName::ContentLength, "0");
        req
    }

    /// The lifetime granted: our Contact's `expires` in the 2xx, else its Expires header,
    /// else what we asked for.
    fn granted(&self, resp: &Response) -> u32 {
        let ours = self.cfg.contact.uri.to_string();
        if let Ok(Contacts::List(list)) = resp.headers.contacts() {
            let mine = list
                .iter()
                .find(|c| c.uri.to_string() == ours)
                .or_else(|| (list.len() == 1).then(|| &list[0]));
            if let Some(e) = mine
                .and_then(|c| c.param("expires").flatten())
                .and_then(|v| v.parse::<u32>().ok())
            {
                return e;
            }
        }
        resp.headers
            .expires()
            .ok()
            .flatten()
            .unwrap_or(self.expires)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};
    use switchboard_registrar::{Registrar, RegistrarConfig, UserDirectory};
    use switchboard_sip_message::{parse_datagram, Limits, Message, StatusCode};

    fn cfg(password: &str) -> RegistrationConfig {
        RegistrationConfig {
            registrar: Uri::parse("sip:carrier.example").unwrap(),
            aor: Uri::parse("sip:1001@carrier.example").unwrap(),
            contact: NameAddr::parse("<sip:1001@10.0.0.5:5060>").unwrap(),
            credentials: ClientCredentials {
                username: "1001".into(),
                password: password.into(),
            },
            expires: 60,
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(40),
        }
    }

    /// Sends the request through the real registrar (the server side of this project),
    /// as bytes, with a Via as the transaction layer would add.
    fn through(reg: &mut Registrar, wall: SystemTime, mut req: Request) -> Response {
        req.headers.0.insert(
            0,
            switchboard_sip_message::Header {
                name: HeaderName::Via,
                value: "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKx".into(),
            },
        );
        let bytes = req.to_bytes();
        let Ok(Message::Request(parsed)) = parse_datagram(&bytes, &Limits::default()) else {
            panic!("our REGISTER does not parse");
        };
        reg.handle_register(wall, "10.0.0.5:5060".parse().unwrap(), "UDP", &parsed)
            .response
    }

    fn registrar(wall: SystemTime) -> Registrar {
        let users: UserDirectory = [("1001", "secret")].into_iter().collect();
        let mut rc = RegistrarConfig::new("carrier.example");
        rc.min_expires = 30;
        Registrar::new(wall, rc, users, [3u8; 32])
    }

    #[test]
    fn registers_against_a_real_digest_server_and_refreshes_at_85_percent() {
        let wall = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut reg = registrar(wall);
        let t0 = Instant::now();
        let mut c = RegistrationClient::new(cfg("secret"), 1);
        c.start(t0);
        let first = c.poll_request().unwrap();
        assert!(first.headers.get(&HeaderName::Authorization).is_none());
        let r1 = through(&mut reg, wall, first);
        assert_eq!(r1.status, StatusCode::UNAUTHORIZED);
        c.handle_response(t0, &r1);
        let second = c.poll_request().unwrap();
        assert!(second.headers.get(&HeaderName::Authorization).is_some());
        assert_eq!(second.headers.cseq().unwrap().seq, 2);
        let r2 = through(&mut reg, wall, second);
        assert_eq!(r2.status, StatusCode::OK);
        c.handle_response(t0, &r2);
        assert_eq!(c.status().state, RegistrationState::Registered);
        assert_eq!(c.status().granted_expires, Some(60));
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(51)));
        assert!(c.poll_request().is_none());
        // Refresh: nothing before the deadline, a new REGISTER at it; still registered.
        c.handle_timeout(t0 + Duration::from_secs(50));
        assert!(c.poll_request().is_none());
        let t1 = t0 + Duration::from_secs(51);
        c.handle_timeout(t1);
        let refresh = c.poll_request().unwrap();
        assert_eq!(refresh.headers.cseq().unwrap().seq, 3);
        assert_eq!(c.status().state, RegistrationState::Registered);
        let r3 = through(&mut reg, wall, refresh);
        c.handle_response(t1, &r3);
        let again = c.poll_request().expect("answers the refresh's challenge");
        let r4 = through(&mut reg, wall, again);
        c.handle_response(t1, &r4);
        assert_eq!(c.status().successes, 2);
        // Un-register on shutdown.
        c.unregister(t1);
        let bye = c.poll_request().unwrap();
        assert_eq!(bye.headers.expires().unwrap(), Some(0));
        assert_eq!(c.status().state, RegistrationState::Unregistering);
    }

    #[test]
    fn wrong_password_fails_once_then_backs_off_exponentially() {
        let wall = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut reg = registrar(wall);
        let t0 = Instant::now();
        let mut c = RegistrationClient::new(cfg("wrong"), 2);
        c.start(t0);
        let mut sent = 0;
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..4 {
            while let Some(req) = c.poll_request() {
                sent += 1;
                let r = through(&mut reg, wall, req);
                c.handle_response(now, &r);
                assert!(sent < 20, "loops on challenges");
            }
            assert_eq!(c.status().state, RegistrationState::Failed);
            let at = c.poll_timeout().unwrap();
            delays.push(at - now);
            now = at;
            c.handle_timeout(now);
        }
        assert_eq!(
            delays,
            [5, 10, 20, 40].map(Duration::from_secs).to_vec(),
            "doubling up to retry_max"
        );
        assert!(c.status().last_error.is_some());
        assert_eq!(c.status().last_status, Some(401));
    }

    #[test]
    fn timeouts_back_off_and_423_raises_expires() {
        let t0 = Instant::now();
        let mut c = RegistrationClient::new(cfg("secret"), 3);
        c.start(t0);
        let _ = c.poll_request().unwrap();
        c.handle_failure(t0, 408, "no response");
        assert_eq!(c.status().state, RegistrationState::Failed);
        assert_eq!(c.status().last_status, Some(408));
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        c.handle_timeout(t0 + Duration::from_secs(5));
        let req = c.poll_request().unwrap();
        let mut brief = Response::for_request(&req, StatusCode::INTERVAL_TOO_BRIEF);
        brief.headers.push(HeaderName::MinExpires, "120");
        c.handle_response(t0, &brief);
        let again = c.poll_request().unwrap();
        assert_eq!(again.headers.expires().unwrap(), Some(120));
        // The 200 grants less than asked via the Contact's expires parameter.
        let mut ok = Response::for_request(&again, StatusCode::OK);
        ok.headers
            .push(HeaderName::Contact, "<sip:1001@10.0.0.5:5060>;expires=100");
        c.handle_response(t0, &ok);
        assert_eq!(c.status().granted_expires, Some(100));
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(85)));
    }

    #[test]
    fn responses_when_nothing_is_outstanding_are_ignored() {
        let t0 = Instant::now();
        let mut c = RegistrationClient::new(cfg("secret"), 4);
        c.handle_response(t0, &Response::new(StatusCode::OK));
        assert_eq!(c.status().state, RegistrationState::Unregistered);
        c.unregister(t0);
        assert!(c.poll_request().is_none());
    }
}
