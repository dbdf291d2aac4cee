//! The SIP driver's carrier side: drives each trunk's registration client
//! (`switchboard_trunk::RegistrationClient`) through the B2BUA's client transactions, and
//! places outbound calls through the trunks (`SipCommand::DialTrunk`): trunk selection
//! with per-trunk limits, number format, caller ID, and digest answers to the carrier's
//! 401/407. Failover is the caller's next `DialTrunk` with the failed trunk excluded (see
//! `outbound_call`). Status goes to `metrics.trunks` for the API and `/metrics`.

use switchboard_sip::{ChallengeResponder, OriginateOptions};
use switchboard_trunk::{
    InviteCredentials, LimitRefusal, RegistrationClient, RegistrationConfig, TrunkId, TrunkSet,
};

use super::*;
use crate::trunk_config::TrunkSpec;
use crate::trunk_status::TrunkRow;

/// First retry after a failed registration; doubles up to [`REGISTER_RETRY_MAX`].
const REGISTER_RETRY_MIN: Duration = Duration::from_secs(5);
const REGISTER_RETRY_MAX: Duration = Duration::from_secs(300);

/// Place a call to `number` (canonical: digits, optional leading `+`, already admitted
/// by the dial policy) through the first trunk by priority that is not in `exclude` and
/// has room. The call's signals go to `signals`, the outcome to `reply`.
#[derive(Debug)]
pub(crate) struct TrunkDial {
    pub(crate) number: String,
    /// The caller ID the originator asks for (a queue's `caller_id`); a trunk with a
    /// fixed caller ID overrides it.
    pub(crate) caller_id: Option<String>,
    pub(crate) exclude: Vec<TrunkId>,
    /// Our offer for each trunk, indexed like `trunk_specs` (each under that trunk's SRTP
    /// policy; see `trunk_offer.rs`).
    pub(crate) sdp: Vec<Bytes>,
    pub(crate) signals: crate::call_signals::SignalSender,
    pub(crate) reply: tokio::sync::oneshot::Sender<TrunkDialed>,
}

/// What became of a [`TrunkDial`].
#[derive(Debug)]
pub(crate) struct TrunkDialed {
    /// The call and the trunk it went to; None when no trunk could take it.
    pub(crate) placed: Option<(CallKey, TrunkId)>,
    /// Trunks skipped on the way for their limits, by name.
    pub(crate) skipped: Vec<(String, LimitRefusal)>,
}

/// The trunks' live state, owned by the SIP driver.
pub(crate) struct Trunks {
    pub(super) specs: Vec<TrunkSpec>,
    set: TrunkSet,
    regs: Vec<Option<RegistrationClient>>,
    reg_txs: HashMap<TxKey, usize>,
    calls: HashMap<CallKey, TrunkId>,
    seed: u64,
}

impl Trunks {
    pub(super) fn new(cfg: &Config, local: SocketAddr, tls_local: Option<SocketAddr>) -> Trunks {
        let specs = cfg.trunk_specs.clone();
        let set = TrunkSet::new(specs.iter().map(|s| (s.priority, s.limits)));
        let seed: u64 = rand::random();
        let regs = specs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let creds = s.credentials.clone().filter(|_| s.register)?;
                let mut contact = SipUri::new(host_of(local.ip()));
                contact.user = Some(creds.username.clone());
                contact.port = Some(local.port());
                if s.transport == Transport::Tls {
                    // The carrier reaches us over TLS again, at our TLS listener.
                    contact.port = tls_local.map(|a| a.port());
                }
                push_transport_param(&mut contact, s.transport);
                let rcfg = RegistrationConfig {
                    registrar: Uri::Sip(request_host(s, None)),
                    aor: Uri::Sip(aor(s, &creds.username)),
                    contact: NameAddr::new(Uri::Sip(contact)),
                    credentials: creds,
                    expires: s.register_expires,
                    retry_min: REGISTER_RETRY_MIN,
                    retry_max: REGISTER_RETRY_MAX,
                };
                Some(RegistrationClient::new(rcfg, seed ^ (i as u64 + 1)))
            })
            .collect();
        Trunks {
            specs,
            set,
            regs,
            reg_txs: HashMap::new(),
            calls: HashMap::new(),
            seed,
        }
    }

    /// When a registration needs a refresh or retry.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.regs
            .iter()
            .flatten()
            .filter_map(|r| r.poll_timeout())
            .min()
    }
}

/// `sip:[user@]domain[:port]`: the port only when the domain is the address's IP.
fn request_host(s: &TrunkSpec, user: Option<String>) -> SipUri {
    let ip_domain = s.domain == s.address.ip().to_string();
    let host = if ip_domain {
        host_of(s.address.ip())
    } else {
        Host::parse(&s.domain).unwrap_or_else(|_| host_of(s.address.ip()))
    };
    let mut u = SipUri::new(host);
    u.user = user;
    if ip_domain {
        u.port = Some(s.address.port());
    }
    push_transport_param(&mut u, s.transport);
    u
}

/// `;transport=tcp` / `;transport=tls` (UDP is the default and gets none).
fn push_transport_param(u: &mut SipUri, t: Transport) {
    let token = match t {
        Transport::Udp => return,
        Transport::Tcp => "tcp",
        Transport::Tls => "tls",
    };
    u.params.push(switchboard_sip_message::Param::new(
        "transport",
        Some(token.into()),
    ));
}

fn aor(s: &TrunkSpec, user: &str) -> SipUri {
    let mut u = SipUri::new(Host::parse(&s.domain).unwrap_or_else(|_| host_of(s.address.ip())));
    u.user = Some(user.to_owned());
    u
}

impl SipDriver {
    /// Publishes the trunks' rows and sends the first REGISTERs.
    pub(super) fn trunk_start(&mut self, now: Instant) {
        let rows = self
            .trunks
            .specs
            .iter()
            .map(|s| TrunkRow {
                name: s.name.clone(),
                address: s.address.to_string(),
                transport: s.transport.as_str(),
                register: s.register,
                registration: if s.register { "unregistered" } else { "none" },
                ..TrunkRow::default()
            })
            .collect();
        self.metrics.trunks.set_all(rows);
        for r in self.trunks.regs.iter_mut().flatten() {
            r.start(now);
        }
        self.trunk_pump(now);
    }

    /// Refreshes and retries that are due.
    pub(super) fn trunk_timers(&mut self, now: Instant) {
        if self.trunks.deadline().is_some_and(|t| t <= now) {
            for r in self.trunks.regs.iter_mut().flatten() {
                r.handle_timeout(now);
            }
            self.trunk_pump(now);
        }
    }

    /// Un-registers every registered trunk (shutdown).
    pub(super) fn trunk_unregister(&mut self, now: Instant) {
        for r in self.trunks.regs.iter_mut().flatten() {
            r.unregister(now);
        }
        self.trunk_pump(now);
    }

    /// Whether an un-REGISTER (shutdown) is still waiting for its answer.
    pub(super) fn trunk_unregistering(&self) -> bool {
        self.trunks
            .regs
            .iter()
            .flatten()
            .any(|r| r.status().state == switchboard_trunk::RegistrationState::Unregistering)
    }

    /// Sends what the registration clients queued and publishes their status.
    fn trunk_pump(&mut self, now: Instant) {
        for i in 0..self.trunks.regs.len() {
            let Some(r) = self.trunks.regs[i].as_mut() else {
                continue;
            };
            if let Some(req) = r.poll_request() {
                let s = &self.trunks.specs[i];
                match self.b2bua.send_request(now, s.address, s.transport, req) {
                    Ok(tx) => {
                        self.trunks.reg_txs.insert(tx, i);
                    }
                    Err(e) => {
                        tracing::warn!(trunk = %s.name, error = %e, "REGISTER not sent");
                        r.handle_failure(now, 503, "could not send REGISTER");
                    }
                }
            }
            let st = r.status().clone();
            self.metrics.trunks.update(i, |row| {
                row.registration = st.state.as_str();
                row.last_status = st.last_status;
                row.last_error = st.last_error.clone();
                row.expires_at = st.expires_at;
                row.registrations_ok = st.successes;
                row.registration_failures = st.failures;
            });
        }
    }

    /// The outcome of a request sent with `send_request`; false if it was not ours.
    pub(super) fn trunk_request_result(
        &mut self,
        tx: TxKey,
        status: StatusCode,
        resp: Option<switchboard_sip_message::Response>,
    ) -> bool {
        let Some(i) = self.trunks.reg_txs.remove(&tx) else {
            return false;
        };
        let now = Instant::now();
        let name = self.trunks.specs[i].name.clone();
        if let Some(r) = self.trunks.regs[i].as_mut() {
            let before = r.status().state;
            match &resp {
                Some(resp) => r.handle_response(now, resp),
                None => r.handle_failure(now, status.0, "no response from the carrier"),
            }
            let st = r.status();
            if st.state != before {
                match st.state {
                    switchboard_trunk::RegistrationState::Failed => tracing::warn!(
                        trunk = %name,
                        status = status.0,
                        error = st.last_error.as_deref().unwrap_or(""),
                        "trunk registration failed; retrying later"
                    ),
                    s => tracing::info!(trunk = %name, state = s.as_str(), "trunk registration"),
                }
            }
        }
        self.trunk_pump(now);
        true
    }

    /// Places a call through the trunks (see [`TrunkDial`]).
    pub(super) fn trunk_dial(&mut self, now: Instant, d: TrunkDial) {
        let TrunkDial {
            number,
            caller_id,
            exclude,
            sdp,
            signals,
            reply,
        } = d;
        // The last excluded trunk is the one that just failed: a failover from it.
        if let Some(&TrunkId(i)) = exclude.last() {
            self.metrics.trunks.update(i, |r| r.failovers += 1);
        }
        let got = self.trunks.set.acquire(now, &exclude);
        let chosen = got.trunk;
        let skipped = self.trunk_refusals(&got.refused);
        let placed = chosen.and_then(|id| {
            let sdp = sdp.get(id.0).or(sdp.first()).cloned().unwrap_or_default();
            let key = self.trunk_invite(now, id, &number, caller_id.as_deref(), sdp);
            if key.is_none() {
                self.trunks.set.release(id);
            }
            key.map(|k| (k, id))
        });
        if let Some((k, id)) = placed {
            self.trunks.calls.insert(k, id);
            self.calls.insert(k, signals);
            let active = self.trunks.set.active(id);
            self.metrics.trunks.update(id.0, |r| {
                r.calls_placed += 1;
                r.active_calls = active;
            });
        }
        let _ = reply.send(TrunkDialed { placed, skipped });
    }

    fn trunk_refusals(
        &mut self,
        refused: &[(TrunkId, LimitRefusal)],
    ) -> Vec<(String, LimitRefusal)> {
        refused
            .iter()
            .map(|&(id, why)| {
                self.metrics.trunks.update(id.0, |r| match why {
                    LimitRefusal::MaxCalls => r.refused_max_calls += 1,
                    LimitRefusal::CallsPerSecond => r.refused_calls_per_second += 1,
                });
                (self.trunks.specs[id.0].name.clone(), why)
            })
            .collect()
    }

    fn trunk_invite(
        &mut self,
        now: Instant,
        id: TrunkId,
        number: &str,
        caller_id: Option<&str>,
        sdp: Bytes,
    ) -> Option<CallKey> {
        let s = &self.trunks.specs[id.0];
        let target = Uri::Sip(request_host(s, Some(s.format.apply(number))));
        let caller = s.caller_id.resolve(caller_id, s.fallback_caller());
        let from = NameAddr::new(Uri::Sip(aor(s, &caller)));
        let mut extra = Vec::new();
        if s.p_asserted_identity {
            extra.push((
                "P-Asserted-Identity".to_owned(),
                format!("<{}>", Uri::Sip(aor(s, &caller))),
            ));
        }
        let (dest, transport) = (s.address, s.transport);
        let name = s.name.clone();
        let mut options = OriginateOptions {
            without_session_timer: !s.session_timers,
            ..OriginateOptions::default()
        };
        if let Some(creds) = s.credentials.clone() {
            self.trunks.seed = self.trunks.seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let auth: Box<dyn ChallengeResponder> =
                Box::new(InviteCredentials::new(creds, self.trunks.seed));
            options.auth = Some(auth);
        }
        let r = self
            .b2bua
            .originate_with_options(now, target, dest, transport, from, sdp, &extra, options);
        match r {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::info!(trunk = %name, error = %e, "outbound INVITE not sent");
                None
            }
        }
    }

    /// A trunk call arrived. When it comes from a `[[trunks]]` entry (its pinned TLS
    /// certificate, or `inbound = true` with its address and transport) it takes a slot
    /// of that trunk's `max_calls` / `calls_per_second`, shared with the calls we place
    /// through it. At the limit the INVITE gets 503 with Retry-After, counted and logged
    /// as `trunk.refused`; returns false then.
    pub(super) fn trunk_admit_inbound(
        &mut self,
        now: Instant,
        call: CallKey,
        from: SocketAddr,
        transport: Transport,
    ) -> bool {
        let pinned = self.trust.pinned_trunk(from, transport);
        let found = self.trunks.specs.iter().position(|s| match pinned {
            Some(name) => s.name == name,
            None => s.inbound && s.address.ip() == from.ip() && s.transport == transport,
        });
        let Some(id) = found.map(TrunkId) else {
            return true;
        };
        match self.trunks.set.acquire_on(now, id) {
            Ok(()) => {
                self.trunks.calls.insert(call, id);
                let active = self.trunks.set.active(id);
                self.metrics
                    .trunks
                    .update(id.0, |r| r.active_calls = active);
                true
            }
            Err(why) => {
                for (trunk, why) in self.trunk_refusals(&[(id, why)]) {
                    tracing::warn!(
                        trunk = %trunk,
                        reason = why.as_str(),
                        "inbound trunk call refused with 503: the trunk is at its limit"
                    );
                    self.events.append(NewEvent::system(Event::TrunkRefused {
                        trunk,
                        reason: match why {
                            LimitRefusal::MaxCalls => switchboard_events::TrunkLimit::MaxCalls,
                            LimitRefusal::CallsPerSecond => {
                                switchboard_events::TrunkLimit::CallsPerSecond
                            }
                        },
                    }));
                }
                let _ = self.b2bua.reject_with_retry_after(
                    now,
                    call,
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(5),
                );
                false
            }
        }
    }

    /// The call is over (ended, failed or hung up): its trunk slot is free again.
    /// A trunk leg moved into another call (a transfer to a number): its trunk slot is
    /// released when that call ends.
    pub(super) fn trunk_call_moved(&mut self, from: CallKey, to: CallKey) {
        if let Some(id) = self.trunks.calls.remove(&from) {
            self.trunks.calls.insert(to, id);
        }
    }

    pub(super) fn trunk_call_gone(&mut self, call: CallKey) {
        if let Some(id) = self.trunks.calls.remove(&call) {
            self.trunks.set.release(id);
            let active = self.trunks.set.active(id);
            self.metrics
                .trunks
                .update(id.0, |r| r.active_calls = active);
        }
    }
}
