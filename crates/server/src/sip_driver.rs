//! The SIP driver: one task that owns the B2BUA core (transactions, dialogs, calls) and
//! the registrar, feeds them datagrams, timeouts and commands with `now`, and drains their
//! outputs to the transport, the event log and the call tasks. It makes no SIP decisions
//! of its own beyond "which core gets this".

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use switchboard_registrar::{
    LocationEvent, LocationTable, Registrar, RegistrarConfig, UserDirectory,
};
use switchboard_sip::{
    B2bua, B2buaConfig, B2buaOutput, CallEvent, CallKey, Leg, Transport, TxConfig, TxKey, UasPolicy,
};
use switchboard_sip_message::{Host, Method, NameAddr, Request, SipUri, StatusCode, Uri};
use switchboard_transport::{Inbound, InboundReceiver, SipTransport, TransportKind};
use tokio::sync::{mpsc, watch};

use crate::admission::{CallGate, CallRefusal, RateConfig, SourceLimiter, Verdict, PRUNE_EVERY};
use crate::call_signals::CallSignal;
use crate::config::Config;
use crate::event_log::{EventLog, NewEvent};
use crate::invite_auth::{admit_invite, publish_auth_stats, InviteAdmission};
use crate::metrics::Metrics;
use crate::trunk_trust::TrunkTrust;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use switchboard_events::Event;

mod call_events;
mod callee_calls;
mod fd_budget;
mod forking;
mod priority_sources;
mod register;
mod trunk_io;
mod tx_pressure;
mod user_legs;
pub(crate) use trunk_io::TrunkDial;

/// How long a drained driver waits for its last transactions (BYEs being answered).
const SETTLE_AFTER_DRAIN: Duration = Duration::from_secs(4);

/// Where the process is in its shutdown, as `run` tells the driver (a watch channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShutdownStage {
    /// Taking calls.
    Running,
    /// New INVITEs get 503 with Retry-After; live calls continue until they end.
    Draining,
    /// Hang up every live call now (drain timeout passed, or a second signal).
    EndingCalls,
}

/// What call tasks and the ACD actor ask of the SIP side.
#[derive(Debug)]
pub(crate) enum SipCommand {
    /// Answer leg A with 200 and this SDP.
    AnswerA { call: CallKey, sdp: Bytes },
    /// Reject an unanswered A.
    Reject { call: CallKey, status: StatusCode },
    /// Ring an agent (leg B) with this SDP offer.
    RouteToUser {
        call: CallKey,
        user: String,
        sdp: Bytes,
        headers: Vec<(String, String)>,
    },
    /// Ring an agent as one more leg of a ring-all offer (see `sip_driver/forking.rs`).
    ForkToUser {
        call: CallKey,
        user: String,
        sdp: Bytes,
        headers: Vec<(String, String)>,
    },
    /// Withdraw a ring-all leg (CANCEL, or BYE if it answered meanwhile).
    CancelFork { call: CallKey, user: String },
    /// Hang up the whole call.
    Hangup { call: CallKey },
    /// Stop ringing leg B (CANCEL), keeping A.
    CancelB { call: CallKey },
    /// Hang up an answered leg B (BYE), keeping A (transfers).
    ReleaseB { call: CallKey },
    /// Place a call to a number through the carrier trunks (see `outbound_call`).
    DialTrunk(TrunkDial),
    /// Call a registered user's contact (callbacks' agent leg). The call's signals go to
    /// `signals`; its key comes back on `reply` (None when it cannot be placed).
    Originate {
        to: OriginateTarget,
        sdp: Bytes,
        signals: crate::call_signals::SignalSender,
        reply: tokio::sync::oneshot::Sender<Option<CallKey>>,
    },
    /// Find the call whose leg A has this dialog (a Replaces header's target) and give
    /// back its key and its task's signal channel.
    FindByADialog {
        call_id: String,
        local_tag: String,
        remote_tag: String,
        reply: tokio::sync::oneshot::Sender<Option<(CallKey, crate::call_signals::SignalSender)>>,
    },
    /// Move `from`'s answered leg B into `to` (which has none) and hang up `from`'s leg A.
    Transplant { from: CallKey, to: CallKey },
    /// NOTIFY the REFER's sender of the transfer's outcome (RFC 3515 sipfrag).
    ReferNotify {
        call: CallKey,
        leg: Leg,
        status: StatusCode,
    },
    /// This answered call we originated is now the caller side (leg A) of its task: an
    /// agent is rung for it on a call of its own (see `sip_driver/callee_calls.rs`).
    CalleeLeads { call: CallKey },
    /// A placed call becomes a call task when its agent transfers it: `callee` (the far
    /// end, a call we originated) leads, and `agent` (the agent's own call, whichever side
    /// placed it) is its agent leg from now on (see `sip_driver/callee_calls.rs`).
    AdoptAgentLeg { callee: CallKey, agent: CallKey },
    /// Keep the caller when the agent hangs up (post-call survey): `CallSignal::AgentLeft`.
    KeepCaller { call: CallKey },
    /// Answer an in-dialog request reported earlier.
    Respond {
        call: CallKey,
        tx: TxKey,
        status: StatusCode,
        sdp: Option<Bytes>,
    },
}

/// Where an originated call goes (numbers go through `SipCommand::DialTrunk`).
#[derive(Debug, Clone)]
pub(crate) enum OriginateTarget {
    /// An agent: their registered contact. `caller` is the number the agent's phone shows
    /// (the transferred caller, the customer of a callback); none shows "switchboard".
    User {
        user: String,
        caller: Option<String>,
    },
}

/// A new inbound call, handed to whoever routes calls (the call-path layer).
pub(crate) struct NewCall {
    pub(crate) call: CallKey,
    pub(crate) invite: Request,
    pub(crate) signals: crate::call_signals::SignalReceiver,
    /// Set when a registered agent placed the call (e.g. a consultation before an
    /// attended transfer): the agent's user name.
    pub(crate) agent: Option<String>,
    /// Where the INVITE came from (the media of a `nat = true` peer may latch onto this IP).
    pub(crate) source: SocketAddr,
}

/// Handles to the driver for other tasks.
#[derive(Clone)]
pub(crate) struct SipHandle {
    pub(crate) commands: mpsc::UnboundedSender<SipCommand>,
    pub(crate) location: LocationTable,
}

pub(crate) struct SipDriver {
    b2bua: B2bua,
    registrar: Registrar,
    location: LocationTable,
    transport: SipTransport,
    events: EventLog,
    trust: TrunkTrust,
    calls: HashMap<CallKey, crate::call_signals::SignalSender>,
    new_calls: Option<mpsc::Sender<NewCall>>,
    presence: Option<mpsc::UnboundedSender<LocationEvent>>,
    commands_rx: mpsc::UnboundedReceiver<SipCommand>,
    commands_tx: mpsc::UnboundedSender<SipCommand>,
    draining: bool,
    /// The registration store's wake-up (see `registration_store`).
    registrations_changed: Option<watch::Sender<u64>>,
    /// Once drained: when to stop waiting for the last transactions.
    settle_until: Option<Instant>,
    /// Seconds in the Retry-After of the 503 a new INVITE gets while draining.
    retry_after: u32,
    keepalive_every: Duration,
    trunks: trunk_io::Trunks,
    forks: forking::Forks,
    callee_calls: callee_calls::CalleeCalls,
    contact_host: Host,
    next_keepalive: Instant,
    probes: HashMap<TxKey, (String, Uri)>,
    /// Also the free-disk guard: `disk_low` refuses new calls (see `disk_watch`).
    metrics: Arc<Metrics>,
    /// New calls are refused with 503 while fewer descriptors than this are free.
    call_fd_headroom: u64,
    rate_limits: SourceLimiter,
    call_gate: CallGate,
    next_prune: Instant,
    /// The location table's generation the inbound queue's priority sources were last
    /// computed at (see `priority_sources`).
    priority_generation: Option<u64>,
    /// Admission refusals already logged (`tx_pressure`).
    tx_pressure: tx_pressure::Logged,
    /// When the message being handled (and its outputs drained) reached the SIP socket.
    arrival: Option<Instant>,
    /// Free descriptors before a new call, counted at most every 100 ms (`fd_budget`).
    fd_budget: fd_budget::FdBudget,
}

fn to_sip_transport(k: TransportKind) -> Transport {
    match k {
        TransportKind::Udp => Transport::Udp,
        TransportKind::Tcp => Transport::Tcp,
        TransportKind::Tls => Transport::Tls,
    }
}

fn to_kind(t: Transport) -> TransportKind {
    match t {
        Transport::Udp => TransportKind::Udp,
        Transport::Tcp => TransportKind::Tcp,
        Transport::Tls => TransportKind::Tls,
    }
}

fn host_of(ip: IpAddr) -> Host {
    match ip {
        IpAddr::V4(a) => Host::V4(a),
        IpAddr::V6(a) => Host::V6(a),
    }
}

impl SipDriver {
    pub(crate) fn new(cfg: &Config, transport: SipTransport, events: EventLog) -> SipDriver {
        let local = transport.local_addrs()[0];
        let mut tx = TxConfig::new(local);
        tx.timers.t1 = Duration::from_millis(cfg.sip.t1_ms);
        tx.timers.t2 = Duration::from_millis(cfg.sip.t2_ms);
        tx.timers.t4 = Duration::from_millis(cfg.sip.t4_ms);
        tx.max_server_per_source = cfg.limits.transactions_per_source;
        tx.max_bytes_per_source = cfg.limits.transaction_bytes_per_source;
        tx.max_bytes = cfg.limits.transaction_bytes;
        tx.max_client_bytes = cfg.limits.client_transaction_bytes;
        tx.source_caps = crate::trunk_caps::source_caps(cfg);
        let tls_local = transport.tls_local_addrs().first().copied();
        tx.tls_via_port = tls_local.map(|a| a.port());
        let contact = NameAddr {
            display: None,
            uri: Uri::Sip(SipUri {
                secure: false,
                user: Some("switchboard".into()),
                password: None,
                host: host_of(local.ip()),
                port: Some(local.port()),
                params: Vec::new(),
                headers: Vec::new(),
            }),
            params: Vec::new(),
        };
        let mut b2bua = B2bua::new(
            B2buaConfig {
                tx,
                contact,
                policy: UasPolicy::with_registrar(),
                relay_failures: false,
                keep_a_when_b_hangs_up: false,
                session_timers: (cfg.sip.session_expires > 0).then_some(
                    switchboard_sip::session_timer::SessionTimerConfig {
                        session_expires: cfg.sip.session_expires,
                        min_se: switchboard_sip::session_timer::MIN_SE_FLOOR,
                    },
                ),
            },
            rand::random(),
        );
        if let Some(tls) = tls_local {
            b2bua.set_tls_contact(crate::sip_tls::tls_contact(host_of(local.ip()), tls.port()));
        }
        let mut rcfg = RegistrarConfig::new(cfg.sip.realm.clone());
        rcfg.min_expires = cfg.sip.min_expires;
        rcfg.max_expires = cfg.sip.max_expires;
        rcfg.default_expires = cfg.sip.default_expires;
        rcfg.algorithms = cfg
            .sip
            .digest_algorithms
            .iter()
            .filter_map(|a| switchboard_registrar::Algorithm::parse(a))
            .collect();
        rcfg.nonce_lifetime = Duration::from_secs(cfg.sip.nonce_lifetime);
        let l = &cfg.limits;
        rcfg.lockout = switchboard_registrar::LockoutConfig {
            max_failures: l.register_max_failures,
            window: Duration::from_secs(l.register_failure_window),
            cooldown: Duration::from_secs(l.register_lockout),
            max_cooldown: Duration::from_secs(l.register_lockout_max),
            trust_ttl: Duration::from_secs(l.register_trust),
            ..switchboard_registrar::LockoutConfig::default()
        };
        let mut users = UserDirectory::new();
        for u in &cfg.users {
            users.insert_password(u.name.clone(), u.password.clone());
        }
        for t in &cfg.sip.trunk_auth {
            users.insert_invite_only_password(t.username.clone(), t.password.clone());
        }
        let location = LocationTable::new();
        let registrar = Registrar::with_location(
            SystemTime::now(),
            rcfg,
            users,
            rand::random(),
            location.clone(),
        );
        // Commands are control: never dropped. Each call sends a handful per SIP event,
        // and admission bounds the calls, so the lane is bounded by the protocol.
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        SipDriver {
            b2bua,
            registrar,
            location,
            transport,
            events,
            trust: TrunkTrust::new(
                &cfg.sip.trusted_trunks,
                &[
                    cfg.sip.trunk_trust.clone(),
                    crate::trunk_config::inbound_trust(&cfg.trunk_specs),
                ]
                .concat(),
                &cfg.sip.trunk_auth,
                &crate::trunk_config::pinned_certs(&cfg.trunk_specs),
            ),
            calls: HashMap::new(),
            new_calls: None,
            presence: None,
            commands_rx,
            commands_tx,
            draining: false,
            registrations_changed: None,
            settle_until: None,
            retry_after: cfg.shutdown.retry_after,
            keepalive_every: Duration::from_secs(cfg.sip.keepalive_interval.max(1)),
            trunks: trunk_io::Trunks::new(cfg, local, tls_local),
            forks: forking::Forks::default(),
            callee_calls: callee_calls::CalleeCalls::default(),
            contact_host: host_of(local.ip()),
            next_keepalive: Instant::now() + Duration::from_secs(cfg.sip.keepalive_interval.max(1)),
            probes: HashMap::new(),
            metrics: Arc::default(),
            call_fd_headroom: cfg.limits.call_fd_headroom,
            rate_limits: SourceLimiter::new(RateConfig {
                requests_per_second: cfg.limits.requests_per_second,
                request_burst: cfg.limits.request_burst,
                rejections_per_second: cfg.limits.rejections_per_second,
                rejections_per_second_all: cfg.limits.rejections_per_second_all,
                capacity: cfg.limits.rate_limited_sources,
            }),
            call_gate: CallGate::new(
                Instant::now(),
                cfg.limits.max_calls,
                cfg.limits.calls_per_second,
            ),
            next_prune: Instant::now() + PRUNE_EVERY,
            priority_generation: None,
            tx_pressure: tx_pressure::Logged::default(),
            arrival: None,
            fd_budget: fd_budget::FdBudget::default(),
        }
    }

    /// Where the hardening counters go (the process-wide metrics).
    pub(crate) fn set_metrics(&mut self, metrics: Arc<Metrics>) {
        self.metrics = metrics;
    }

    pub(crate) fn handle(&self) -> SipHandle {
        SipHandle {
            commands: self.commands_tx.clone(),
            location: self.location.clone(),
        }
    }

    /// Where new inbound calls from trusted trunks go; without it, INVITEs get 480.
    pub(crate) fn set_call_router(&mut self, tx: mpsc::Sender<NewCall>) {
        self.new_calls = Some(tx);
    }

    /// Where login/logout events go (the ACD).
    pub(crate) fn set_presence(&mut self, tx: mpsc::UnboundedSender<LocationEvent>) {
        self.presence = Some(tx);
    }

    /// Told the location table's generation after each change (the registration store).
    pub(crate) fn set_registrations_changed(&mut self, tx: watch::Sender<u64>) {
        self.registrations_changed = Some(tx);
    }

    /// Restores bindings saved before a restart; their users log in to the ACD (call
    /// after [`set_presence`](Self::set_presence)). Returns how many were restored.
    pub(crate) fn restore_registrations(
        &mut self,
        saved: Vec<(String, switchboard_registrar::Binding)>,
    ) -> usize {
        let evs = self.location.import(SystemTime::now(), saved);
        self.presence_events(evs);
        self.location.binding_count()
    }

    pub(crate) async fn run(
        mut self,
        mut inbound: InboundReceiver,
        mut shutdown: watch::Receiver<ShutdownStage>,
    ) {
        let mut ending = false;
        let mut drain_left = (usize::MAX, usize::MAX);
        self.trunk_start(Instant::now());
        self.publish_trunk_sources();
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                msg = inbound.recv() => match msg {
                    Some(m) => {
                        self.arrival = Some(m.received);
                        self.handle_inbound(m);
                        self.publish_tx_stats();
                    }
                    None => break,
                },
                cmd = self.commands_rx.recv() => {
                    if let Some(cmd) = cmd {
                        self.handle_command(cmd);
                    }
                }
                _ = tokio::time::sleep_until(deadline.into()) => {
                    let now = Instant::now();
                    self.b2bua.handle_timeout(now);
                    let wall = SystemTime::now();
                    let evs = self.registrar.handle_timeout(wall);
                    self.presence_events(evs);
                    publish_auth_stats(&self.registrar, &self.metrics, wall);
                    self.publish_tx_stats();
                    self.trunk_timers(now);
                    if now >= self.next_keepalive {
                        self.next_keepalive = now + self.keepalive_every;
                        self.send_keepalives(now);
                    }
                }
                changed = shutdown.changed(), if !ending => {
                    let stage = if changed.is_ok() {
                        *shutdown.borrow_and_update()
                    } else {
                        ShutdownStage::EndingCalls
                    };
                    if stage != ShutdownStage::Running && !self.draining {
                        self.draining = true;
                        self.trunk_unregister(Instant::now());
                    }
                    if stage == ShutdownStage::EndingCalls {
                        ending = true;
                        // Hang up every call and tell its task, so each logs its call.end
                        // (CDR, queue_log) before the process exits.
                        let calls: Vec<(CallKey, crate::call_signals::SignalSender)> =
                            self.calls.drain().collect();
                        for (k, task) in calls {
                            self.callee_call_gone(Instant::now(), k);
                            let _ = self.b2bua.hangup(Instant::now(), k);
                            let _ = task.send(CallSignal::Ended(switchboard_callflow::Hangup::Local(
                                switchboard_events::EndReason::Shutdown,
                            )));
                        }
                    }
                }
            }
            self.drain();
            self.arrival = None;
            self.sync_registered_sources();
            if let Some(tx) = &self.registrations_changed {
                let generation = self.location.generation();
                tx.send_if_modified(|g| std::mem::replace(g, generation) != generation);
            }
            if self.draining {
                let left = (self.calls.len(), self.b2bua.live_len());
                if left != drain_left {
                    drain_left = left;
                    tracing::info!(
                        call_tasks = left.0,
                        sip_calls = left.1,
                        "draining: waiting for the live calls to end"
                    );
                }
                if left == (0, 0) {
                    // Every call has ended; give the last BYEs a few retransmissions'
                    // time to be answered, but do not wait out the 32 s a server
                    // transaction lingers for retransmitted requests.
                    let now = Instant::now();
                    let until = *self.settle_until.get_or_insert(now + SETTLE_AFTER_DRAIN);
                    let unregistering = self.trunk_unregistering();
                    if (self.b2bua.is_empty() && !unregistering) || now >= until {
                        break;
                    }
                }
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        let far = now + Duration::from_secs(3600);
        let a = self.b2bua.poll_timeout().unwrap_or(far);
        let b = self
            .registrar
            .poll_timeout()
            .map(|t| {
                let d = t
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                now + d
            })
            .unwrap_or(far);
        let settle = self.settle_until.unwrap_or(far);
        let t = self.trunks.deadline().unwrap_or(far);
        a.min(b)
            .min(far)
            .min(self.next_keepalive)
            .min(settle)
            .min(t)
    }

    /// OPTIONS to every registered contact; a probe that fails marks it unreachable
    /// (an agent whose last contact is unreachable is logged out of the ACD).
    fn send_keepalives(&mut self, now: Instant) {
        let wall = SystemTime::now();
        for user in self.location.users() {
            for b in self.location.lookup_active(&user, wall) {
                let transport = Transport::from_token(&b.transport).unwrap_or(Transport::Udp);
                if let Ok(tx) =
                    self.b2bua
                        .send_options(now, b.contact.uri.clone(), b.source, transport)
                {
                    self.probes
                        .insert(tx, (user.clone(), b.contact.uri.clone()));
                }
            }
        }
    }

    /// When the message whose outputs are being handled reached the SIP socket (now for
    /// outputs of a timer or a command).
    fn message_arrival(&self) -> Instant {
        self.arrival.unwrap_or_else(Instant::now)
    }

    fn handle_inbound(&mut self, m: Inbound) {
        let now = Instant::now();
        self.metrics
            .sip_inbound_wait
            .observe(now.saturating_duration_since(m.received));
        if now >= self.next_prune {
            self.next_prune = now + PRUNE_EVERY;
            self.rate_limits.prune(now);
            self.metrics
                .guard
                .rate_limited_sources
                .store(self.rate_limits.len() as u64, Ordering::Relaxed);
        }
        if m.kind == TransportKind::Tls {
            self.trust
                .note_tls_peer(m.from, m.client_cert_sha256.as_deref());
        }
        match m.msg {
            Ok(switchboard_sip_message::Message::Request(req))
                if !self.trust.trusts(m.from, to_sip_transport(m.kind)) =>
            {
                match self.rate_limits.check(m.from.ip(), now) {
                    Verdict::Admit => {
                        self.b2bua.handle_message(
                            now,
                            m.from,
                            to_sip_transport(m.kind),
                            switchboard_sip_message::Message::Request(req),
                        );
                    }
                    Verdict::Reject if req.method != Method::Ack => {
                        Metrics::add(&self.metrics.guard.requests_rejected, 1);
                        let mut r = switchboard_sip_message::Response::for_request(
                            &req,
                            StatusCode::SERVICE_UNAVAILABLE,
                        );
                        r.headers
                            .push(switchboard_sip_message::HeaderName::RetryAfter, "5");
                        self.transport.send_nowait(m.kind, m.from, r.to_bytes());
                    }
                    Verdict::Reject | Verdict::Drop => {
                        Metrics::add(&self.metrics.guard.requests_dropped, 1);
                    }
                }
            }
            Ok(msg) => {
                self.b2bua
                    .handle_message(now, m.from, to_sip_transport(m.kind), msg);
            }
            Err(e) => {
                if !self.trust.trusts(m.from, to_sip_transport(m.kind))
                    && self.rate_limits.check(m.from.ip(), now) != Verdict::Admit
                {
                    Metrics::add(&self.metrics.guard.requests_dropped, 1);
                    return;
                }
                tracing::debug!(error = %e, kind = ?m.kind, "malformed SIP message");
                if let Some(reply) = switchboard_sip::reject_malformed(&m.raw) {
                    self.transport.send_nowait(m.kind, m.from, reply);
                }
            }
        }
    }

    fn handle_command(&mut self, cmd: SipCommand) {
        let now = Instant::now();
        let Some(cmd) = self.callee_command(now, cmd) else {
            return;
        };
        let result = match cmd {
            SipCommand::AnswerA { call, sdp } => self.b2bua.answer_a(now, call, sdp),
            SipCommand::Reject { call, status } => self.b2bua.reject(now, call, status),
            SipCommand::Hangup { call } => {
                let r = self.b2bua.hangup(now, call);
                self.trunk_call_gone(call);
                self.forks_parent_gone(now, call);
                if let Some(tx) = self.calls.remove(&call) {
                    let _ = tx.send(CallSignal::Ended(switchboard_callflow::Hangup::Local(
                        switchboard_events::EndReason::LocalHangup,
                    )));
                }
                r
            }
            SipCommand::CancelB { call } => self.b2bua.cancel_b(now, call),
            SipCommand::FindByADialog {
                call_id,
                local_tag,
                remote_tag,
                reply,
            } => {
                let found = self
                    .b2bua
                    .find_call_by_a_dialog(&call_id, &local_tag, &remote_tag)
                    .and_then(|k| self.calls.get(&k).map(|tx| (k, tx.clone())));
                let _ = reply.send(found);
                Ok(())
            }
            SipCommand::Transplant { from, to } => {
                let r = self.b2bua.transplant_b(now, from, to);
                if r.is_ok() {
                    self.calls.remove(&from);
                    self.trunk_call_moved(from, to);
                }
                r
            }
            SipCommand::ReferNotify { call, leg, status } => self
                .b2bua
                .send_refer_notify(now, call, leg, status, true)
                .map(|_| ()),
            SipCommand::ReleaseB { call } => self.b2bua.release_b(now, call),
            SipCommand::Respond {
                call,
                tx,
                status,
                sdp,
            } => {
                let _ = call;
                self.b2bua.respond(now, tx, status, sdp)
            }
            SipCommand::CalleeLeads { call } => {
                self.callee_leads(call);
                Ok(())
            }
            SipCommand::AdoptAgentLeg { callee, agent } => {
                self.adopt_placed_agent_leg(callee, agent);
                Ok(())
            }
            SipCommand::KeepCaller { call } => self.b2bua.keep_a_when_b_hangs_up(call),
            SipCommand::DialTrunk(d) => {
                self.trunk_dial(now, d);
                Ok(())
            }
            SipCommand::Originate {
                to,
                sdp,
                signals,
                reply,
            } => {
                let key = self.originate(now, to, sdp);
                if let Some(k) = key {
                    self.calls.insert(k, signals);
                }
                let _ = reply.send(key);
                Ok(())
            }
            SipCommand::ForkToUser {
                call,
                user,
                sdp,
                headers,
            } => {
                self.fork_to_user(now, call, user, sdp, headers);
                Ok(())
            }
            SipCommand::CancelFork { call, user } => {
                self.cancel_fork(now, call, &user);
                Ok(())
            }
            SipCommand::RouteToUser {
                call,
                user,
                sdp,
                headers,
            } => {
                self.route_to_user(now, call, &user, sdp, headers);
                Ok(())
            }
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "SIP command refused");
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.b2bua.poll_output() {
            match out {
                B2buaOutput::Transmit {
                    to,
                    transport,
                    bytes,
                    ..
                } => {
                    self.transport.send_nowait(to_kind(transport), to, bytes);
                }
                B2buaOutput::Event(ev) => self.handle_event(ev),
            }
        }
    }

    fn signal(&mut self, call: CallKey, s: CallSignal) {
        let Some(lane) = self.calls.get(&call) else {
            return;
        };
        match lane.send(s) {
            Ok(()) => {}
            Err(crate::call_signals::SendRefused::Busy(CallSignal::InDialog { tx, .. })) => {
                // A peer repeating in-dialog requests faster than the call handles them:
                // answer this one ourselves instead of queueing without bound.
                tracing::warn!(
                    limit = crate::call_signals::MAX_PENDING_IN_DIALOG,
                    "in-dialog requests piling up on one call; answering 503"
                );
                Metrics::add(&self.metrics.sip_in_dialog_refused, 1);
                let _ =
                    self.b2bua
                        .respond(Instant::now(), tx, StatusCode::SERVICE_UNAVAILABLE, None);
            }
            Err(e) => {
                tracing::debug!(signal = ?e, "signal for a call whose task has ended");
            }
        }
    }

    fn presence_events(&mut self, evs: Vec<LocationEvent>) {
        for ev in evs {
            match &ev {
                LocationEvent::LoggedIn { user } => {
                    tracing::info!(agent = %user, "agent logged in");
                    self.events
                        .append(NewEvent::system(Event::AgentLogin {}).agent(user));
                }
                LocationEvent::LoggedOut { user, reason } => {
                    tracing::info!(agent = %user, ?reason, "agent logged out");
                    self.events.append(
                        NewEvent::system(Event::AgentLogout {
                            reason: crate::core_events::logout_reason(*reason),
                        })
                        .agent(user),
                    );
                }
            }
            if let Some(p) = &self.presence {
                let _ = p.send(ev);
            }
        }
    }
}
