//! One task per call: it owns the caller's media (RTP session, prompt player, DTMF
//! receivers), the call's IVR interpreter, the queue membership and, once an agent
//! answers, the agent leg and the two-party bridge and the recording. Signals come from
//! the SIP driver (answers, hangups, in-dialog requests), the ACD actor (offers,
//! announcements, exits) and HTTP lookups; every core is fed `now` and drained.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use serde_json::json;
use switchboard_acd::{OfferFailure, Spoken};
use switchboard_ivr::interp::{Action, Event as IvrEvent, QueueOutcome, QueueRequest};
use switchboard_ivr::{Interpreter, Lang, Program};
use switchboard_media::{Bridge, DtmfDetector, Playlist, PromptCache, PromptPlayer};
use switchboard_rtp::{char_for_event, NtpClock, SessionEvent, TelephoneEvent};
use switchboard_sdp::{Direction, LocalCaps, LocalMedia, SessionDescription};
use switchboard_sip::Leg as SipLeg;
use switchboard_sip_message::{Method, StatusCode};
use switchboard_transport::{RtpPortPool, RtpSocketPair};
use tokio::sync::mpsc;

use switchboard_media::{Mixer, SupervisorMode};

use crate::acd_actor::{AcdCommand, QueueSignal};
use crate::call_signals::CallSignal;
use crate::config::Config;
use crate::core_events;
use crate::event_log::{EventLog, NewEvent};
use crate::media_leg::{
    arrival_position, HandOver, LegSettings, MediaLeg, MediaPeer, RxBuf, Timeline,
};
use crate::pii::Pii;
use crate::recorder::Recorder;
use crate::sip_driver::{NewCall, SipCommand, SipHandle};
use switchboard_events::{
    CallEnd, CallStart, Disposition, DtmfVia, EndReason, Event, Party, RtpStats, SupervisionEnd,
    TransferKind,
};

/// Everything a call task needs from the server; shared by all calls.
pub(crate) struct CallContext {
    pub(crate) cfg: Arc<Config>,
    pub(crate) sip: SipHandle,
    pub(crate) acd: mpsc::UnboundedSender<AcdCommand>,
    pub(crate) events: EventLog,
    pub(crate) prompts: Arc<PromptCache>,
    pub(crate) dialplans: Arc<RwLock<Option<Arc<Program>>>>,
    pub(crate) rtp_pool: RtpPortPool,
    pub(crate) next_call: AtomicU64,
    pub(crate) ntp: NtpClock,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// Bridged calls by agent name, for supervisors (listen/whisper/barge).
    pub(crate) supervisable: dashmap::DashMap<String, mpsc::Sender<SuperviseRequest>>,
    /// Which numbers a callback may dial (checked when the caller asks for one).
    pub(crate) number_rules: switchboard_outbound::NumberRules,
}

impl CallContext {
    pub(crate) fn next_call_id(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// What a new media leg needs from the process.
    pub(crate) fn leg_settings(&self) -> LegSettings {
        LegSettings {
            ntp: self.ntp,
            rtp_timeout: Duration::from_secs(self.cfg.media.rtp_timeout),
            metrics: self.metrics.clone(),
        }
    }

    fn user_nat(&self, name: &str) -> bool {
        self.cfg.users.iter().any(|u| u.name == name && u.nat)
    }

    /// Leg A of an inbound call from `source`: placed by the registered agent `agent`
    /// (their `nat`), else by a trunk (`sip.trunks_nat`). Unconfirmed until the ACK.
    pub(crate) fn inbound_peer(&self, agent: Option<&str>, source: IpAddr) -> MediaPeer {
        let nat = match agent {
            Some(name) => self.user_nat(name),
            None => self.cfg.sip.trunks_nat,
        };
        MediaPeer {
            nat_ip: nat.then_some(source),
            confirmed: false,
        }
    }

    /// A leg we placed to user `name`, answered: their binding's source is the signalling
    /// IP a `nat = true` user's media may latch onto.
    pub(crate) fn user_peer(&self, name: &str) -> MediaPeer {
        let nat_ip = if self.user_nat(name) {
            self.sip
                .location
                .lookup_active(name, std::time::SystemTime::now())
                .into_iter()
                .max_by_key(|b| b.expires_at)
                .map(|b| b.source.ip())
        } else {
            None
        };
        MediaPeer {
            nat_ip,
            confirmed: true,
        }
    }

    /// A leg we placed through the outbound trunk, answered.
    pub(crate) fn trunk_peer(&self) -> MediaPeer {
        let nat_ip = self
            .cfg
            .sip
            .outbound_trunk
            .filter(|_| self.cfg.sip.trunks_nat)
            .map(|a| a.ip());
        MediaPeer {
            nat_ip,
            confirmed: true,
        }
    }
}

/// A supervisor asking to join a bridged call (listen, whisper or barge).
pub(crate) struct SuperviseRequest {
    pub(crate) mode: SupervisorMode,
    /// The supervisor's answered leg; the supervised call owns it from now on.
    pub(crate) media: MediaLeg,
    pub(crate) supervisor: String,
    /// Fired when the supervised call stops supervision (it ended): hang the supervisor up.
    pub(crate) done: tokio::sync::oneshot::Sender<()>,
    /// Fired by the supervisor's task when the supervisor hangs up.
    pub(crate) stop: tokio::sync::oneshot::Receiver<()>,
}

/// A live supervision of this call.
struct Supervision {
    media: MediaLeg,
    mixer: Mixer,
    /// Mixer participants: caller, agent, supervisor.
    ids: [switchboard_media::ParticipantId; 3],
    done: Option<tokio::sync::oneshot::Sender<()>>,
    name: String,
}

enum Phase {
    Ivr,
    Queued {
        queue: String,
        announcing: bool,
    },
    Ringing {
        queue: String,
        agent: String,
    },
    Bridged {
        queue: String,
        agent: String,
        answered_at: Instant,
    },
    /// Accepted a callback: saying goodbye, then hanging up; the place stays in the queue.
    CallbackLeaving {
        queue: String,
    },
    /// This call's agent leg went to another call in an attended transfer.
    TransferredOut {
        queue: String,
        agent: String,
    },
    Done,
}

struct CallTask {
    ctx: Arc<CallContext>,
    id: u64,
    sip_call: switchboard_sip::CallKey,
    caller: String,
    dnis: String,
    started: Instant,
    a: MediaLeg,
    b: Option<MediaLeg>,
    b_offer: Option<SessionDescription>,
    b_pending: Option<(RtpSocketPair, LocalCaps)>,
    queue_req: Option<QueueRequest>,
    tl_a: Timeline,
    tl_b: Timeline,
    bridge: Option<Bridge>,
    player: PromptPlayer,
    /// Plays the whisper to the agent before the bridge closes.
    b_player: Option<PromptPlayer>,
    inband: DtmfDetector,
    ivr: Interpreter,
    lang: Lang,
    phase: Phase,
    collect_deadline: Option<Instant>,
    queue_deadline: Option<Instant>,
    /// A CANCEL to a ringing agent is in flight: a new offer waits for its 487.
    cancelling_b: bool,
    pending_offer: Option<String>,
    /// ACD calls taken over by attended transfers; ended with this call.
    extra_acd_calls: Vec<u64>,
    /// Supervisors reach this call through this channel while it is bridged.
    sup_rx: Option<mpsc::Receiver<SuperviseRequest>>,
    supervision: Option<Supervision>,
    sup_stop: Option<tokio::sync::oneshot::Receiver<()>>,
    queue_tx: mpsc::Sender<QueueSignal>,
    queue_rx: mpsc::Receiver<QueueSignal>,
    http_tx: mpsc::Sender<(u64, Result<serde_json::Value, switchboard_ivr::HttpError>)>,
    http_rx: mpsc::Receiver<(u64, Result<serde_json::Value, switchboard_ivr::HttpError>)>,
    recorder: Option<Recorder>,
    rec_origin: Option<Instant>,
    /// When the agent's 200 arrived, and when the first packet crossed the bridge after it.
    b_answered_at: Option<Instant>,
    first_relay_at: Option<Instant>,
    relayed: u64,
    ended: bool,
    local_ip: IpAddr,
    /// What to start once leg A is confirmed (`None` once started).
    awaiting_confirmation: Option<Start>,
}

/// How a call starts once its caller is confirmed.
enum Start {
    /// Run the dialplan.
    Ivr,
    /// An agent's internal call: straight to the queue it dialled.
    Internal(String),
}

fn caller_number(nc: &NewCall) -> String {
    nc.invite
        .headers
        .from()
        .ok()
        .and_then(|f| f.uri.user().map(str::to_string))
        .unwrap_or_default()
}

fn dialled_number(nc: &NewCall) -> String {
    nc.invite.uri.user().map(str::to_string).unwrap_or_default()
}

/// Runs one inbound call from the INVITE to the end.
pub(crate) async fn run_call(ctx: Arc<CallContext>, nc: NewCall) {
    use tracing::Instrument;
    let id = ctx.next_call_id();
    let span = tracing::info_span!("call", call = id);
    run_call_in_span(ctx, nc, id).instrument(span).await
}

async fn run_call_in_span(ctx: Arc<CallContext>, mut nc: NewCall, id: u64) {
    let caller = caller_number(&nc);
    let dnis = dialled_number(&nc);
    tracing::info!(from = %Pii(&caller), to = %dnis, "inbound call");
    ctx.events.append(NewEvent::call(
        &id.to_string(),
        Event::CallStart(CallStart {
            caller: caller.clone(),
            dnis: dnis.clone(),
            sip_call_id: nc.invite.headers.call_id().ok().map(str::to_string),
            ..CallStart::default()
        }),
    ));
    let reject = |status: StatusCode, why: &str| {
        let _ = ctx.sip.commands.send(SipCommand::Reject {
            call: nc.call,
            status,
        });
        let mut end = CallEnd::new(EndReason::Refused, Disposition::Refused);
        end.status = Some(status.0);
        end.detail = Some(why.to_string());
        ctx.events
            .append(NewEvent::call(&id.to_string(), Event::CallEnd(end)));
    };
    // An agent's internal call (a consultation) goes straight to the queue it dials; a
    // supervisor's call to listen-/whisper-/barge-<agent> joins that agent's call.
    let internal = nc.agent.clone();
    let supervise = match (&internal, supervise_target(&dnis)) {
        (Some(who), Some((mode, target))) => {
            if !ctx.cfg.users.iter().any(|u| &u.name == who && u.supervisor) {
                reject(
                    StatusCode::FORBIDDEN,
                    "supervision by a user who is not a supervisor",
                );
                return;
            }
            let Some(tx) = ctx.supervisable.get(&target).map(|r| r.clone()) else {
                reject(
                    StatusCode::NOT_FOUND,
                    "the agent to supervise is not on a call",
                );
                return;
            };
            Some((mode, tx, who.clone()))
        }
        _ => None,
    };
    if supervise.is_none() && internal.is_some() && !ctx.cfg.queues.iter().any(|q| q.name == dnis) {
        reject(
            StatusCode::NOT_FOUND,
            "internal call to something that is not a queue",
        );
        return;
    }
    let program = ctx.dialplans.read().ok().and_then(|g| g.clone());
    let Some(program) = program else {
        reject(StatusCode::TEMPORARILY_UNAVAILABLE, "no dialplan loaded");
        return;
    };
    let Ok(offer) = SessionDescription::parse(&nc.invite.body) else {
        reject(StatusCode::NOT_ACCEPTABLE_HERE, "no usable SDP offer");
        return;
    };
    let Some(pair) = ctx.rtp_pool.allocate().await else {
        reject(StatusCode::SERVICE_UNAVAILABLE, "RTP ports exhausted");
        return;
    };
    let local_ip = ctx.rtp_pool.ip();
    let port = pair.rtp.local_addr().map(|a| a.port()).unwrap_or(0);
    let caps = LocalCaps::default();
    let local = LocalMedia {
        address: local_ip,
        port,
        session_id: id,
        session_version: 1,
        direction: Direction::SendRecv,
    };
    let (answer, neg) = match switchboard_sdp::answer(&offer, &caps, &local) {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(error = %e, "offer refused");
            reject(StatusCode::NOT_ACCEPTABLE_HERE, "no common codec");
            return;
        }
    };
    // Media must have somewhere legitimate to go: no c= line, a bad, multicast or (unless
    // on hold) unspecified address is 488, never a 200 that sends to who knows where.
    if let Err(e) = switchboard_sdp::check_connection(&offer, neg.media_index) {
        tracing::info!(error = %e, "offer refused");
        reject(
            StatusCode::NOT_ACCEPTABLE_HERE,
            "no usable connection address in the SDP offer",
        );
        return;
    }
    let now = Instant::now();
    let peer = ctx.inbound_peer(nc.agent.as_deref(), nc.source.ip());
    let Some(a) = MediaLeg::new(&ctx.leg_settings(), pair, neg, now, peer) else {
        reject(
            StatusCode::NOT_ACCEPTABLE_HERE,
            "codec not supported by the media engine",
        );
        return;
    };
    let _ = ctx.sip.commands.send(SipCommand::AnswerA {
        call: nc.call,
        sdp: Bytes::from(answer.to_string()),
    });
    ctx.events.append(NewEvent::call(
        &id.to_string(),
        Event::CallAnswer {
            codec: a.neg.codec.name.to_string(),
        },
    ));
    if let Some((mode, tx, who)) = supervise {
        supervise_call(&ctx, id, nc, a, mode, tx, who).await;
        return;
    }

    let (queue_tx, queue_rx) = mpsc::channel(64);
    let (http_tx, http_rx) = mpsc::channel(8);
    let mut task = CallTask {
        ivr: Interpreter::new(program),
        player: PromptPlayer::new(switchboard_media::PlayerConfig {
            ptime: Duration::from_millis(u64::from(ctx.cfg.media.ptime)),
            initial_timestamp: 0,
            max_lag: Duration::from_millis(100),
        }),
        inband: DtmfDetector::new(switchboard_media::DtmfConfig::default()),
        b_player: None,
        ctx: ctx.clone(),
        id,
        sip_call: nc.call,
        caller,
        dnis,
        started: now,
        a,
        b: None,
        b_offer: None,
        b_pending: None,
        queue_req: None,
        tl_a: Timeline::default(),
        tl_b: Timeline::default(),
        bridge: None,
        lang: Lang::En,
        phase: Phase::Ivr,
        collect_deadline: None,
        queue_deadline: None,
        cancelling_b: false,
        pending_offer: None,
        extra_acd_calls: Vec::new(),
        sup_rx: None,
        supervision: None,
        sup_stop: None,
        queue_tx,
        queue_rx,
        http_tx,
        http_rx,
        recorder: None,
        rec_origin: None,
        b_answered_at: None,
        first_relay_at: None,
        relayed: 0,
        ended: false,
        local_ip,
        awaiting_confirmation: None,
    };
    crate::metrics::Metrics::add(&ctx.metrics.calls_total, 1);
    ctx.metrics
        .calls_active
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Prompts, music and queueing start once the caller's address is confirmed (the ACK,
    // or RTP from it): until then a spoofed INVITE gets no media (no amplification).
    task.awaiting_confirmation = Some(match internal {
        Some(agent) => Start::Internal(agent),
        None => Start::Ivr,
    });
    task.run(&mut nc.signals).await;
    ctx.metrics
        .calls_active
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
}

impl CallTask {
    fn id_str(&self) -> String {
        self.id.to_string()
    }

    fn log(&self, event: Event) -> NewEvent {
        NewEvent::call(&self.id_str(), event)
    }

    /// Starts the call (IVR, or the queue of an internal call) once leg A is confirmed.
    fn start_when_confirmed(&mut self) {
        if !self.a.session.is_confirmed() {
            return;
        }
        match self.awaiting_confirmation.take() {
            None => {}
            Some(Start::Ivr) => self.start_ivr(),
            Some(Start::Internal(agent)) => {
                self.ctx
                    .events
                    .append(self.log(Event::CallInternal { from_agent: agent }));
                self.join_queue(plain_queue_request(self.dnis.clone()));
            }
        }
    }

    fn start_ivr(&mut self) {
        let now = self.ctx.cfg.ivr.call_start_time(Utc::now());
        self.ivr.handle_event(IvrEvent::Started {
            now,
            to: self.dnis.clone(),
            from: self.caller.clone(),
        });
        self.drain_ivr();
    }

    async fn run(&mut self, signals: &mut crate::call_signals::SignalReceiver) {
        let mut buf_a = RxBuf::new();
        let mut buf_b = RxBuf::new();
        let mut buf_s = RxBuf::new();
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !self.ended {
            let b_sock = self.b.as_ref().map(|b| b.sock.clone());
            let s_sock = self.supervision.as_ref().map(|sv| sv.media.sock.clone());
            tokio::select! {
                r = self.a.sock.recv_buf_from(buf_a.prepare()) => {
                    if let Ok((_, from)) = r {
                        self.on_rtp_a(Instant::now(), from, buf_a.take());
                    }
                }
                r = async { match &b_sock { Some(s) => s.recv_buf_from(buf_b.prepare()).await, None => std::future::pending().await } } => {
                    if let Ok((_, from)) = r {
                        self.on_rtp_b(Instant::now(), from, buf_b.take());
                    }
                }
                r = async { match &s_sock { Some(sk) => sk.recv_buf_from(buf_s.prepare()).await, None => std::future::pending().await } } => {
                    if let Ok((_, from)) = r {
                        self.on_rtp_supervisor(Instant::now(), from, buf_s.take());
                    }
                }
                req = async { match self.sup_rx.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                    if let Some(req) = req { self.start_supervision(req); }
                }
                _ = async { match self.sup_stop.as_mut() { Some(stop) => { let _ = stop.await; } None => std::future::pending().await } } => {
                    self.stop_supervision(SupervisionEnd::SupervisorHangup);
                }
                _ = tick.tick() => self.on_tick(Instant::now()),
                s = signals.recv() => match s {
                    Some(s) => self.on_signal(s).await,
                    None => self.finish(EndReason::SignallingLost),
                },
                q = self.queue_rx.recv() => {
                    if let Some(q) = q { self.on_queue(q).await; }
                }
                h = self.http_rx.recv() => {
                    if let Some((id, result)) = h {
                        self.ivr.handle_event(IvrEvent::HttpResult { id, result });
                        self.drain_ivr();
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------ media

    fn on_rtp_a(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        let Some(pkt) = self.a.receive(now, from, data) else {
            return;
        };
        // RTP from the caller's address confirms it as well as an ACK would.
        self.start_when_confirmed();
        if Some(pkt.header.payload_type) == self.a.neg.telephone_event {
            if let Ok(ev) = TelephoneEvent::parse(&pkt.payload) {
                self.a.dtmf.handle_packet(now, pkt.header.timestamp, ev);
            }
        }
        if let (Some(bridge), Some(b), None) = (
            self.bridge.as_mut(),
            self.b.as_mut(),
            self.supervision.as_ref(),
        ) {
            if let Ok(fwd) = bridge.handle_packet(switchboard_media::Leg::A, &pkt) {
                b.send_relayed(now, &fwd);
                self.first_relay_at.get_or_insert(now);
                self.relayed += 1;
            }
        }
        if pkt.header.payload_type == self.a.neg.codec.payload_type {
            let n = self.a.decode_8k(&pkt.payload);
            if let Some(sv) = self.supervision.as_mut() {
                let _ = sv.mixer.handle_frame(sv.ids[0], &self.a.pcm[..n]);
            }
            if self.a.neg.telephone_event.is_none() {
                self.inband.handle_samples(now, &self.a.pcm[..n]);
            }
            if let (Some(rec), Some(origin)) = (self.recorder.as_mut(), self.rec_origin) {
                let pos = self
                    .tl_a
                    .position(pkt.header.timestamp, arrival_position(origin, now, n));
                rec.frame(switchboard_media::Side::Caller, pos, now, &self.a.pcm[..n]);
            }
        }
        self.collect_digits(now);
    }

    fn on_rtp_b(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        let Some(b) = self.b.as_mut() else { return };
        let Some(pkt) = b.receive(now, from, data) else {
            return;
        };
        if let (Some(bridge), None) = (self.bridge.as_mut(), self.supervision.as_ref()) {
            if let Ok(fwd) = bridge.handle_packet(switchboard_media::Leg::B, &pkt) {
                self.a.send_relayed(now, &fwd);
                self.first_relay_at.get_or_insert(now);
                self.relayed += 1;
            }
        }
        if pkt.header.payload_type == b.neg.codec.payload_type {
            let n = b.decode_8k(&pkt.payload);
            if let Some(sv) = self.supervision.as_mut() {
                let _ = sv.mixer.handle_frame(sv.ids[1], &b.pcm[..n]);
            }
            if let (Some(rec), Some(origin)) = (self.recorder.as_mut(), self.rec_origin) {
                let pos = self
                    .tl_b
                    .position(pkt.header.timestamp, arrival_position(origin, now, n));
                rec.frame(switchboard_media::Side::Agent, pos, now, &b.pcm[..n]);
            }
        }
    }

    fn on_tick(&mut self, now: Instant) {
        if self.supervision.is_some() {
            self.mix_supervised(now);
        }
        // Prompt frames due now (IVR, music on hold, announcements).
        if self.bridge.is_none() {
            while let Some(frame) = self.player.poll_frame(now) {
                self.a.send_pcm(now, frame.samples);
            }
            while let Some(ev) = self.player.poll_event() {
                self.on_player_event(ev);
            }
        }
        self.a.session.handle_timeout(now);
        for ev in self.a.flush_session() {
            if let SessionEvent::Inactive { .. } = ev {
                tracing::info!("caller media timed out");
                self.ctx
                    .events
                    .append(self.log(Event::MediaTimeout { leg: Party::Caller }));
                self.hangup_all(EndReason::MediaTimeout);
                return;
            }
        }
        if let (Some(bp), Some(b)) = (self.b_player.as_mut(), self.b.as_mut()) {
            let mut done = false;
            while let Some(frame) = bp.poll_frame(now) {
                b.send_pcm(now, frame.samples);
            }
            while let Some(ev) = bp.poll_event() {
                done |= matches!(
                    ev,
                    switchboard_media::PlayerEvent::Finished
                        | switchboard_media::PlayerEvent::Stopped
                );
            }
            if done || !bp.is_playing() {
                self.b_player = None;
                self.connect_bridge(now);
            }
        }
        if let Some(b) = self.b.as_mut() {
            b.session.handle_timeout(now);
            let _ = b.flush_session();
        }
        if self.queue_deadline.is_some_and(|d| now >= d)
            && matches!(self.phase, Phase::Queued { .. })
        {
            self.queue_deadline = None;
            if let Phase::Queued { queue, .. } = &self.phase {
                self.ctx.events.append(
                    self.log(Event::QueueExit {
                        reason: switchboard_events::QueueExitReason::MaxWait,
                        target: None,
                        key: None,
                    })
                    .queue(queue),
                );
            }
            self.leave_queue(QueueOutcome::MaxWait);
        }
        self.a.dtmf.handle_timeout(now);
        self.collect_digits(now);
        if let Some(d) = self.collect_deadline {
            if now >= d && !self.player.is_playing() {
                self.collect_deadline = None;
                self.ivr.handle_event(IvrEvent::Timeout);
                self.drain_ivr();
            }
        }
        if let Some(rec) = self.recorder.as_mut() {
            rec.tick(now);
        }
    }

    fn collect_digits(&mut self, _now: Instant) {
        let mut digits = Vec::new();
        while let Some(ev) = self.a.dtmf.poll_event() {
            if let Some(c) = char_for_event(ev.event) {
                digits.push(c);
            }
        }
        let n4733 = digits.len();
        while let Some(ev) = self.inband.poll_event() {
            if let switchboard_media::DtmfEvent::Pressed { digit, .. } = ev {
                digits.push(digit);
            }
        }
        for (i, d) in digits.into_iter().enumerate() {
            self.on_digit(
                d,
                if i < n4733 {
                    DtmfVia::Rfc4733
                } else {
                    DtmfVia::Inband
                },
            );
        }
    }

    fn on_digit(&mut self, d: char, via: DtmfVia) {
        self.ctx.events.append(self.log(Event::Dtmf {
            digit: d.to_string(),
            via,
        }));
        match &self.phase {
            Phase::Ivr => {
                self.player.handle_dtmf(d);
                while let Some(ev) = self.player.poll_event() {
                    let _ = ev;
                }
                self.ivr.handle_event(IvrEvent::Digit(d));
                self.drain_ivr();
            }
            Phase::Queued { .. } | Phase::Ringing { .. } => {
                let exit_key = self.queue_req.as_ref().and_then(|r| r.exit_key);
                let callback_key = self.queue_req.as_ref().and_then(|r| r.callback_key);
                if Some(d) == callback_key
                    && self.ctx.cfg.sip.outbound_trunk.is_some()
                    && !self.caller.is_empty()
                {
                    match self.ctx.number_rules.check(&self.caller) {
                        Ok(_) => self.accept_callback(),
                        Err(r) => self.refuse_callback(r),
                    }
                } else if Some(d) == exit_key && matches!(self.phase, Phase::Queued { .. }) {
                    self.leave_queue(QueueOutcome::ExitKey);
                } else {
                    let _ = self.ctx.acd.send(AcdCommand::Key {
                        call: self.id,
                        key: d,
                    });
                }
            }
            _ => {}
        }
    }

    fn on_player_event(&mut self, ev: switchboard_media::PlayerEvent) {
        use switchboard_media::PlayerEvent as P;
        match ev {
            P::Finished => match &mut self.phase {
                Phase::Ivr if self.collect_deadline.is_none() => {
                    self.ivr.handle_event(IvrEvent::PromptFinished);
                    self.drain_ivr();
                }
                Phase::Queued { announcing, .. } => {
                    *announcing = false;
                    self.play_moh();
                }
                Phase::CallbackLeaving { .. } => self.hangup_all(EndReason::CallbackAccepted),
                _ => {}
            },
            P::Interrupted { .. } | P::Stopped => {}
        }
    }

    fn playlist(&self, names: &[String], lang: Lang) -> Playlist {
        let mut items = Vec::new();
        for n in names {
            let key = format!("{}/{}", lang.code(), n);
            if let Some(p) = self
                .ctx
                .prompts
                .get(&key)
                .or_else(|| self.ctx.prompts.get(n))
            {
                items.push(p);
            } else {
                tracing::warn!(prompt = %key, "missing prompt");
            }
        }
        Playlist::new(items)
    }

    fn play(&mut self, names: &[String], lang: Lang, interruptible: bool) {
        let pl = self.playlist(names, lang).interruptible(interruptible);
        self.player.play(Instant::now(), pl);
    }

    fn play_moh(&mut self) {
        if let Some(p) = self.ctx.prompts.get("moh") {
            self.player
                .play(Instant::now(), Playlist::moh(p).looping(true));
        }
    }

    // ------------------------------------------------------------------ supervision

    /// A supervisor joins this bridged call: from now on the call is mixed (caller, agent,
    /// supervisor) each 20 ms instead of relayed, with the mode's hearing matrix.
    fn start_supervision(&mut self, req: SuperviseRequest) {
        let Phase::Bridged { queue, agent, .. } = &self.phase else {
            let _ = req.done.send(());
            return;
        };
        let (queue, agent) = (queue.clone(), agent.clone());
        let mut mixer = Mixer::new(4, 160);
        let (Ok(caller_id), Ok(agent_id), Ok(sup_id)) = (mixer.add(), mixer.add(), mixer.add())
        else {
            let _ = req.done.send(());
            return;
        };
        if mixer.set_supervisor(sup_id, agent_id, req.mode).is_err() {
            let _ = req.done.send(());
            return;
        }
        self.ctx.events.append(
            self.log(Event::SupervisorJoin {
                supervisor: req.supervisor.clone(),
                mode: core_events::supervision_mode(req.mode),
            })
            .queue(&queue)
            .agent(&agent),
        );
        self.supervision = Some(Supervision {
            media: req.media,
            mixer,
            ids: [caller_id, agent_id, sup_id],
            done: Some(req.done),
            name: req.supervisor,
        });
        self.sup_stop = Some(req.stop);
    }

    fn stop_supervision(&mut self, why: SupervisionEnd) {
        self.sup_stop = None;
        if let Some(mut s) = self.supervision.take() {
            if let Some(d) = s.done.take() {
                let _ = d.send(());
            }
            self.ctx.events.append(self.log(Event::SupervisorLeave {
                supervisor: s.name,
                reason: why,
            }));
        }
    }

    /// One mixing tick while supervised: every participant gets the mix it may hear.
    fn mix_supervised(&mut self, now: Instant) {
        let (Some(s), Some(b)) = (self.supervision.as_mut(), self.b.as_mut()) else {
            return;
        };
        s.mixer.mix();
        let [c, a, sup] = s.ids;
        self.a.send_pcm(now, s.mixer.output(c));
        b.send_pcm(now, s.mixer.output(a));
        s.media.send_pcm(now, s.mixer.output(sup));
    }

    fn on_rtp_supervisor(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        let Some(s) = self.supervision.as_mut() else {
            return;
        };
        let Some(pkt) = s.media.receive(now, from, data) else {
            return;
        };
        if pkt.header.payload_type == s.media.neg.codec.payload_type {
            let n = s.media.decode_8k(&pkt.payload);
            let _ = s.mixer.handle_frame(s.ids[2], &s.media.pcm[..n]);
        }
    }

    // ------------------------------------------------------------------ IVR

    fn drain_ivr(&mut self) {
        while let Some(action) = self.ivr.poll_action() {
            match action {
                Action::Play { prompts, lang } | Action::Say { prompts, lang } => {
                    self.lang = lang;
                    self.collect_deadline = None;
                    self.play(&prompts, lang, false);
                }
                Action::CollectDigits {
                    prompts,
                    lang,
                    timeout,
                    ..
                } => {
                    self.lang = lang;
                    self.play(&prompts, lang, true);
                    self.collect_deadline =
                        Some(Instant::now() + timeout + self.playlist_len(&prompts, lang));
                }
                Action::HttpRequest {
                    id,
                    method,
                    url,
                    body,
                    timeout,
                } => {
                    let tx = self.http_tx.clone();
                    tokio::spawn(async move {
                        let r = crate::http_client::fetch_json(method, &url, body, timeout).await;
                        let _ = tx.send((id, r)).await;
                    });
                }
                Action::SetVar { .. } => {}
                Action::Queue(req) => self.join_queue(req),
                Action::Transfer {
                    kind,
                    target,
                    attrs,
                } => {
                    // An extension that names a queue is served by that queue; transfers to
                    // a specific agent or an outside number are not placed by the live
                    // engine yet, so those calls go to the dialplan's fallback queue
                    // rather than being dropped.
                    let queue = if self.ctx.cfg.queues.iter().any(|q| q.name == target) {
                        target.clone()
                    } else {
                        self.ivr.fallback_queue()
                    };
                    self.ctx.events.append(self.log(Event::IvrTransfer {
                        kind: core_events::ivr_transfer_kind(kind),
                        target: target.clone(),
                        queue: queue.clone(),
                    }));
                    let mut req = plain_queue_request(queue);
                    req.attrs = attrs;
                    req.priority = req.attrs.priority;
                    self.join_queue(req);
                }
                Action::Hangup => {
                    self.ctx.events.append(self.log(Event::IvrHangup {}));
                    self.hangup_all(EndReason::IvrHangup);
                }
                Action::RuntimeError { message, location } => {
                    tracing::warn!(%message, %location, "dialplan runtime error");
                    self.ctx.events.append(self.log(Event::IvrError {
                        message: message.to_string(),
                        location: location.to_string(),
                    }));
                }
            }
        }
    }

    fn playlist_len(&self, names: &[String], lang: Lang) -> Duration {
        names
            .iter()
            .filter_map(|n| self.ctx.prompts.get(&format!("{}/{}", lang.code(), n)))
            .map(|p| p.duration())
            .sum()
    }

    // ------------------------------------------------------------------ queue

    fn join_queue(&mut self, req: QueueRequest) {
        let queue = req.queue.clone();
        if let Some(l) = req.attrs.language {
            self.lang = l;
        }
        let data: Vec<(String, String)> = req
            .attrs
            .screen_pop
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let _ = self.ctx.acd.send(AcdCommand::Join {
            call: self.id,
            queue: queue.clone(),
            // The queue statement's priority (the interpreter falls back to the call's).
            priority: req.priority,
            caller: self.caller.clone(),
            data,
            skills: req.attrs.skills.clone(),
            announce_every: req.announce_every,
            signals: self.queue_tx.clone(),
        });
        // The dialplan's `max_wait` for this call (the queue's own limit is the ACD's).
        self.queue_deadline = req.max_wait.map(|w| Instant::now() + w);
        self.queue_req = Some(req);
        self.phase = Phase::Queued {
            queue,
            announcing: false,
        };
        self.play_moh();
    }

    /// The caller takes the callback offer: the ACD keeps their place as a virtual entry
    /// and will call them back at the number they called from.
    fn accept_callback(&mut self) {
        let queue = match &self.phase {
            Phase::Queued { queue, .. } | Phase::Ringing { queue, .. } => queue.clone(),
            _ => return,
        };
        if let Phase::Ringing { .. } = self.phase {
            let _ = self.ctx.sip.commands.send(SipCommand::CancelB {
                call: self.sip_call,
            });
            self.cancelling_b = true;
            self.b_pending = None;
        }
        let _ = self.ctx.acd.send(AcdCommand::CallbackRequest {
            call: self.id,
            number: self.caller.clone(),
        });
        self.ctx
            .events
            .append(self.log(Event::QueueCallbackRequested {}).queue(&queue));
        self.phase = Phase::CallbackLeaving { queue };
        self.play(&["queue-callback-confirmed".to_string()], self.lang, false);
    }

    /// The caller's number may not be dialled: say so, keep their place, log why.
    fn refuse_callback(&mut self, r: switchboard_outbound::Refusal) {
        tracing::info!(reason = r.as_str(), "callback refused by the dial policy");
        self.ctx.metrics.dial_refused.count(r);
        self.ctx.events.append(crate::dial_policy::refused_event(
            self.id,
            switchboard_events::OriginatePurpose::Callback,
            &self.caller,
            r,
        ));
        if let Phase::Queued { announcing, .. } = &mut self.phase {
            *announcing = true;
            let prompt = ["queue-callback-unavailable".to_string()];
            self.play(&prompt, self.lang, false);
        }
    }

    fn leave_queue(&mut self, outcome: QueueOutcome) {
        if let Phase::Ringing { .. } = self.phase {
            let _ = self.ctx.sip.commands.send(SipCommand::CancelB {
                call: self.sip_call,
            });
            self.cancelling_b = true;
            self.b_pending = None;
        }
        let reason = match outcome {
            QueueOutcome::ExitKey => switchboard_acd::ExitReason::ExitKey {
                key: self
                    .queue_req
                    .as_ref()
                    .and_then(|r| r.exit_key)
                    .unwrap_or('#'),
            },
            _ => switchboard_acd::ExitReason::MaxWait {
                target: String::new(),
            },
        };
        let _ = self.ctx.acd.send(AcdCommand::Exit {
            call: self.id,
            reason,
        });
        self.phase = Phase::Ivr;
        self.player.stop();
        self.ivr.handle_event(IvrEvent::QueueResult(outcome));
        self.drain_ivr();
    }

    async fn on_queue(&mut self, q: QueueSignal) {
        match q {
            QueueSignal::Announce { position, spoken } => {
                if let Phase::Queued { announcing, .. } = &mut self.phase {
                    *announcing = true;
                    let wait = match spoken {
                        Spoken::LessThanMinute => Some(Duration::from_secs(30)),
                        Spoken::AboutMinutes(m) => Some(Duration::from_secs(u64::from(m) * 60)),
                        Spoken::Unknown => None,
                    };
                    let names = switchboard_ivr::say::announce_position_and_wait(
                        self.lang,
                        position as u32,
                        wait,
                    );
                    self.play(&names, self.lang, false);
                }
            }
            QueueSignal::Offer { agent } if self.cancelling_b => self.pending_offer = Some(agent),
            QueueSignal::Offer { agent } => self.offer_to_agent(agent).await,
            QueueSignal::CancelOffer { agent } => {
                if let Phase::Ringing {
                    queue,
                    agent: ringing,
                } = &self.phase
                {
                    if *ringing == agent {
                        let queue = queue.clone();
                        self.sip(SipCommand::CancelB {
                            call: self.sip_call,
                        })
                        .await;
                        self.cancelling_b = true;
                        self.b = None;
                        self.b_offer = None;
                        self.b_pending = None;
                        self.phase = Phase::Queued {
                            queue,
                            announcing: false,
                        };
                        self.play_moh();
                    }
                }
            }
            QueueSignal::Exit { .. }
                if !matches!(self.phase, Phase::Queued { .. } | Phase::Ringing { .. }) => {}
            QueueSignal::Exit { reason } => {
                let outcome = match reason {
                    Some(switchboard_acd::ExitReason::MaxWait { .. }) => QueueOutcome::MaxWait,
                    Some(switchboard_acd::ExitReason::ExitKey { .. }) => QueueOutcome::ExitKey,
                    _ => QueueOutcome::Failed,
                };
                self.phase = Phase::Ivr;
                self.player.stop();
                self.ivr.handle_event(IvrEvent::QueueResult(outcome));
                self.drain_ivr();
            }
        }
    }

    async fn offer_to_agent(&mut self, agent: String) {
        let Phase::Queued { queue, .. } = &self.phase else {
            return;
        };
        let queue = queue.clone();
        let Some(pair) = self.ctx.rtp_pool.allocate().await else {
            let _ = self.ctx.acd.send(AcdCommand::OfferFailed {
                call: self.id,
                agent,
                failure: OfferFailure::Rejected,
            });
            return;
        };
        let port = pair.rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        // Offer the caller's codec first so the bridge can relay without transcoding.
        let mut caps = LocalCaps::default();
        let a_name = self.a.neg.codec.name.to_ascii_uppercase();
        caps.codecs
            .sort_by_key(|c| c.name.to_ascii_uppercase() != a_name);
        let offer = switchboard_sdp::offer(
            &caps,
            &LocalMedia {
                address: self.local_ip,
                port,
                session_id: self.id,
                session_version: 1,
                direction: Direction::SendRecv,
            },
        );
        let mut headers = vec![
            ("X-Switchboard-Queue".to_string(), queue.clone()),
            ("X-Switchboard-Caller".to_string(), self.caller.clone()),
        ];
        if let Some(req) = &self.queue_req {
            if let Some(t) = &req.attrs.tenant {
                headers.push(("X-Switchboard-Tenant".to_string(), t.clone()));
            }
        }
        self.b_pending = Some((pair, caps));
        self.b_offer = Some(offer.clone());
        self.ctx
            .events
            .append(self.log(Event::AgentRing {}).queue(&queue).agent(&agent));
        self.screen_pop(&queue, &agent);
        self.sip(SipCommand::RouteToUser {
            call: self.sip_call,
            user: agent.clone(),
            sdp: Bytes::from(offer.to_string()),
            headers,
        })
        .await;
        self.phase = Phase::Ringing { queue, agent };
    }
}

impl CallTask {
    async fn on_signal(&mut self, s: CallSignal) {
        match s {
            CallSignal::AConfirmed => {
                self.a.session.confirm();
                self.start_when_confirmed();
            }
            CallSignal::BProgress => {}
            CallSignal::BAnswered(_)
                if self.cancelling_b && !matches!(self.phase, Phase::Ringing { .. }) =>
            {
                // The agent answered as our CANCEL crossed it: hang that leg up.
                self.sip(SipCommand::ReleaseB {
                    call: self.sip_call,
                })
                .await;
                self.cancel_done().await;
            }
            CallSignal::BFailed(_)
                if self.cancelling_b && !matches!(self.phase, Phase::Ringing { .. }) =>
            {
                self.cancel_done().await;
            }
            CallSignal::BAnswered(sdp) => self.agent_answered(sdp).await,
            CallSignal::BFailed(status) => {
                if let Phase::Ringing { queue, agent } = &self.phase {
                    let (queue, agent) = (queue.clone(), agent.clone());
                    let failure = match status.0 {
                        486 | 600 | 603 => OfferFailure::Rejected,
                        480 | 404 | 503 => OfferFailure::Unreachable,
                        _ => OfferFailure::NoAnswer,
                    };
                    self.ctx.events.append(
                        self.log(Event::AgentRingFailed { status: status.0 })
                            .queue(&queue)
                            .agent(&agent),
                    );
                    self.b_pending = None;
                    self.b_offer = None;
                    self.phase = Phase::Queued {
                        queue,
                        announcing: false,
                    };
                    self.play_moh();
                    let _ = self.ctx.acd.send(AcdCommand::OfferFailed {
                        call: self.id,
                        agent,
                        failure,
                    });
                }
            }
            CallSignal::InDialog { leg, tx, req }
                if req.method == Method::Refer && leg == SipLeg::B =>
            {
                match refer_replaces(&req) {
                    Some(r) => self.attended_transfer(tx, r).await,
                    None => self.blind_transfer(tx, &req).await,
                }
            }
            CallSignal::HandOver(reply) => self.hand_over(reply),
            CallSignal::InDialog { leg, tx, req } => {
                let mut status = StatusCode::OK;
                let mut body = None;
                if req.method == Method::Info && leg == SipLeg::A {
                    if let Some(d) = info_dtmf_digit(&req.body) {
                        self.on_digit(d, DtmfVia::SipInfo);
                    } else {
                        status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
                    }
                } else if req.method == Method::Invite {
                    // Re-INVITE (hold/resume): keep our media, answer with our SDP. If the
                    // peer's media moved (a new usable c= address or port), accept it from
                    // there and send there (strict media would drop it otherwise).
                    let leg_media = if leg == SipLeg::A {
                        Some(&mut self.a)
                    } else {
                        self.b.as_mut()
                    };
                    if let Some(m) = leg_media {
                        let local = LocalMedia {
                            address: self.local_ip,
                            port: m.local_port(),
                            session_id: self.id,
                            session_version: 2,
                            direction: Direction::SendRecv,
                        };
                        match SessionDescription::parse(&req.body).and_then(|o| {
                            switchboard_sdp::answer(&o, &LocalCaps::default(), &local)
                        }) {
                            Ok((ans, neg)) => {
                                body = Some(Bytes::from(ans.to_string()));
                                if neg.remote.is_some() && neg.remote != m.session.sdp_remote() {
                                    m.session.set_remote(Instant::now(), neg.remote);
                                }
                            }
                            Err(_) => status = StatusCode::NOT_ACCEPTABLE_HERE,
                        }
                    }
                } else if req.method != Method::Notify {
                    status = StatusCode::NOT_IMPLEMENTED;
                }
                self.sip(SipCommand::Respond {
                    call: self.sip_call,
                    tx,
                    status,
                    sdp: body,
                })
                .await;
            }
            CallSignal::Ended(reason) => self.finish(reason),
        }
    }

    /// Blind transfer (RFC 3515 REFER from the agent): the agent leg is released, the
    /// agent's handle time ends (wrap-up), and the caller joins the queue named by the
    /// Refer-To user part. The call keeps its id and its recording.
    async fn blind_transfer(
        &mut self,
        tx: switchboard_sip::TxKey,
        req: &switchboard_sip_message::Request,
    ) {
        let target = req
            .headers
            .refer_to()
            .ok()
            .flatten()
            .and_then(|na| na.uri.user().map(str::to_string));
        let Phase::Bridged {
            queue: from_queue,
            agent: from_agent,
            ..
        } = &self.phase
        else {
            self.respond(tx, StatusCode(403), None).await;
            return;
        };
        let (from_queue, from_agent) = (from_queue.clone(), from_agent.clone());
        let Some(target) = target.filter(|t| self.ctx.cfg.queues.iter().any(|q| &q.name == t))
        else {
            tracing::info!("REFER to something that is not a queue; refused");
            self.respond(tx, StatusCode::NOT_FOUND, None).await;
            return;
        };
        self.respond(tx, StatusCode(202), None).await;
        self.ctx.events.append(
            self.log(Event::CallTransfer {
                kind: TransferKind::Blind,
                to_queue: Some(target.clone()),
                to_agent: None,
            })
            .queue(&from_queue)
            .agent(&from_agent),
        );
        self.sip(SipCommand::ReleaseB {
            call: self.sip_call,
        })
        .await;
        self.bridge = None;
        self.b = None;
        self.b_player = None;
        // The first agent's part ends here (wrap-up); the caller waits again.
        let _ = self.ctx.acd.send(AcdCommand::CallEnded { call: self.id });
        let mut req = self
            .queue_req
            .clone()
            .unwrap_or_else(|| plain_queue_request(target.clone()));
        req.queue = target;
        req.whisper.clear();
        self.join_queue(req);
    }

    /// Sends a command to the SIP driver (it only fails when the server is stopping).
    async fn sip(&self, cmd: SipCommand) {
        let _ = self.ctx.sip.commands.send(cmd);
    }

    async fn respond(&self, tx: switchboard_sip::TxKey, status: StatusCode, sdp: Option<Bytes>) {
        self.sip(SipCommand::Respond {
            call: self.sip_call,
            tx,
            status,
            sdp,
        })
        .await;
    }

    /// Attended transfer (RFC 5589 with RFC 3891 Replaces): the agent on this call
    /// consulted a colleague through us (another call, whose leg A is the agent's
    /// consultation and leg B the colleague) and now REFERs the caller to it. The
    /// colleague's leg and media move into this call; the first agent's two legs are
    /// hung up. The call keeps its id and recording.
    async fn attended_transfer(
        &mut self,
        tx: switchboard_sip::TxKey,
        replaces: switchboard_sip_message::Replaces,
    ) {
        let Phase::Bridged {
            queue: from_queue,
            agent: from_agent,
            ..
        } = &self.phase
        else {
            self.respond(tx, StatusCode(403), None).await;
            return;
        };
        let (from_queue, from_agent) = (from_queue.clone(), from_agent.clone());
        let (reply, found) = tokio::sync::oneshot::channel();
        self.sip(SipCommand::FindByADialog {
            call_id: replaces.call_id.clone(),
            local_tag: replaces.to_tag.clone(),
            remote_tag: replaces.from_tag.clone(),
            reply,
        })
        .await;
        let Some((y_call, y_signals)) = found.await.ok().flatten() else {
            self.respond(tx, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST, None)
                .await;
            return;
        };
        self.respond(tx, StatusCode(202), None).await;
        let (hand_tx, hand_rx) = tokio::sync::oneshot::channel();
        let _ = y_signals.send(CallSignal::HandOver(hand_tx));
        let handed = tokio::time::timeout(Duration::from_secs(2), hand_rx)
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten();
        let Some(h) = handed else {
            self.sip(SipCommand::ReferNotify {
                call: self.sip_call,
                leg: SipLeg::B,
                status: StatusCode::SERVICE_UNAVAILABLE,
            })
            .await;
            return;
        };
        let cmds = &self.ctx.sip.commands;
        let _ = cmds.send(SipCommand::ReferNotify {
            call: self.sip_call,
            leg: SipLeg::B,
            status: StatusCode::OK,
        });
        let _ = cmds.send(SipCommand::ReleaseB {
            call: self.sip_call,
        });
        let _ = cmds.send(SipCommand::Transplant {
            from: y_call,
            to: self.sip_call,
        });
        self.ctx.events.append(
            self.log(Event::CallTransfer {
                kind: TransferKind::Attended,
                to_queue: Some(h.queue.clone()),
                to_agent: Some(h.agent.clone()),
            })
            .queue(&from_queue)
            .agent(&from_agent),
        );
        // The first agent's part ends (wrap-up); the colleague's ACD call carries on and
        // ends with this call.
        let _ = self.ctx.acd.send(AcdCommand::CallEnded { call: self.id });
        self.extra_acd_calls.push(h.acd_call);
        self.b_player = None;
        self.b = Some(h.media);
        self.phase = Phase::Bridged {
            queue: h.queue,
            agent: h.agent,
            answered_at: Instant::now(),
        };
        self.connect_bridge(Instant::now());
    }

    /// Gives this call's agent leg to an attended transfer and stops quietly.
    fn hand_over(&mut self, reply: tokio::sync::oneshot::Sender<Option<HandOver>>) {
        let Phase::Bridged { queue, agent, .. } = &self.phase else {
            let _ = reply.send(None);
            return;
        };
        let Some(media) = self.b.take() else {
            let _ = reply.send(None);
            return;
        };
        let (queue, agent) = (queue.clone(), agent.clone());
        self.bridge = None;
        let _ = reply.send(Some(HandOver {
            media,
            acd_call: self.id,
            queue: queue.clone(),
            agent: agent.clone(),
        }));
        self.phase = Phase::TransferredOut { queue, agent };
        self.finish(EndReason::TransferCompleted);
    }

    /// The cancelled agent leg is gone: an offer that arrived meanwhile goes out now.
    async fn cancel_done(&mut self) {
        self.cancelling_b = false;
        if let Some(agent) = self.pending_offer.take() {
            if matches!(self.phase, Phase::Queued { .. }) {
                self.offer_to_agent(agent).await;
            } else {
                let _ = self.ctx.acd.send(AcdCommand::OfferFailed {
                    call: self.id,
                    agent,
                    failure: OfferFailure::Rejected,
                });
            }
        }
    }

    async fn agent_answered(&mut self, sdp: Bytes) {
        let Phase::Ringing { queue, agent } = &self.phase else {
            return;
        };
        let (queue, agent) = (queue.clone(), agent.clone());
        let now = Instant::now();
        let neg = match (
            SessionDescription::parse(&sdp),
            self.b_offer.as_ref(),
            self.b_pending.as_ref(),
        ) {
            (Ok(ans), Some(offer), Some((_, caps))) => {
                switchboard_sdp::process_answer(offer, &ans, caps).ok()
            }
            _ => None,
        };
        let (Some(neg), Some((pair, _))) = (neg, self.b_pending.take()) else {
            tracing::warn!("agent answered with unusable SDP; ending the call");
            self.hangup_all(EndReason::LocalHangup);
            return;
        };
        let peer = self.ctx.user_peer(&agent);
        let Some(b) = MediaLeg::new(&self.ctx.leg_settings(), pair, neg, now, peer) else {
            self.hangup_all(EndReason::LocalHangup);
            return;
        };
        self.b_answered_at = Some(now);
        self.b = Some(b);
        let _ = self.ctx.acd.send(AcdCommand::OfferAnswered {
            call: self.id,
            agent: agent.clone(),
        });
        self.ctx.events.append(
            self.log(Event::CallBridge {
                wait_s: now.duration_since(self.started).as_secs_f64(),
            })
            .queue(&queue)
            .agent(&agent),
        );
        self.phase = Phase::Bridged {
            queue: queue.clone(),
            agent,
            answered_at: now,
        };
        // Whisper to the agent first ("call for <tenant>, <queue>"); the caller keeps
        // hearing music until the bridge closes.
        let whisper = self.whisper_prompts(&queue);
        if whisper.is_empty() {
            self.connect_bridge(now);
        } else {
            let mut p = PromptPlayer::new(switchboard_media::PlayerConfig {
                ptime: Duration::from_millis(u64::from(self.ctx.cfg.media.ptime)),
                initial_timestamp: 0,
                max_lag: Duration::from_millis(100),
            });
            p.play(now, self.playlist(&whisper, self.lang));
            self.b_player = Some(p);
        }
    }

    /// The prompts whispered to the agent: the dialplan's `whisper`, else "call for"
    /// plus the tenant's or the queue's name prompt when one exists.
    fn whisper_prompts(&self, queue: &str) -> Vec<String> {
        if let Some(w) = self
            .queue_req
            .as_ref()
            .map(|r| r.whisper.clone())
            .filter(|w| !w.is_empty())
        {
            return w;
        }
        let lang = self.lang.code();
        let exists = |n: &str| self.ctx.prompts.get(&format!("{lang}/{n}")).is_some();
        let mut out = Vec::new();
        let tenant = self.queue_req.as_ref().and_then(|r| r.attrs.tenant.clone());
        let name = tenant
            .map(|t| format!("tenant-{t}"))
            .filter(|n| exists(n))
            .or_else(|| Some(format!("queue-name-{queue}")).filter(|n| exists(n)));
        if let Some(n) = name {
            if exists("whisper-call-for") {
                out.push("whisper-call-for".to_string());
            }
            out.push(n);
        }
        out
    }

    /// Closes the bridge between caller and agent and starts the recording.
    fn connect_bridge(&mut self, now: Instant) {
        let Phase::Bridged { queue, agent, .. } = &self.phase else {
            return;
        };
        let (queue, agent) = (queue.clone(), agent.clone());
        let Some(b) = self.b.as_ref() else { return };
        self.bridge = Some(Bridge::new(self.a.bridge_config(), b.bridge_config()));
        self.player.stop();
        // A new agent leg starts its own RTP timeline; the caller's continues.
        self.tl_b = Timeline::default();
        // After a transfer the call keeps the recording it already has.
        if self.recorder.is_none() {
            if let Some(r) = Recorder::for_queue_call(&self.ctx.cfg, self.id, &queue) {
                self.ctx.events.append(
                    self.log(Event::RecordingStart {
                        path: r.path.display().to_string(),
                    })
                    .queue(&queue)
                    .agent(&agent),
                );
                self.recorder = Some(r);
                self.rec_origin = Some(now);
            }
        }
        if let Phase::Bridged { answered_at, .. } = &mut self.phase {
            // Talk time runs from the moment the parties hear each other.
            *answered_at = now;
        }
        self.ctx.events.append(
            self.log(Event::CallConnected {})
                .queue(&queue)
                .agent(&agent),
        );
        // Supervisors can now find this call by its agent.
        let (tx, rx) = mpsc::channel(4);
        self.ctx.supervisable.insert(agent.clone(), tx);
        self.sup_rx = Some(rx);
    }

    /// POSTs the screen-pop webhook in the background, with retries; never blocks the call.
    fn screen_pop(&self, queue: &str, agent: &str) {
        let sp = &self.ctx.cfg.screen_pop;
        if sp.url.is_empty() {
            return;
        }
        let attrs = self
            .queue_req
            .as_ref()
            .map(|r| r.attrs.clone())
            .unwrap_or_default();
        let body = json!({
            "call": self.id_str(),
            "queue": queue,
            "agent": agent,
            "caller": self.caller,
            "dnis": self.dnis,
            "tenant": attrs.tenant,
            "priority": attrs.priority,
            "skills": attrs.skills,
            "data": attrs.screen_pop,
        });
        let (url, timeout, retries) = (
            sp.url.clone(),
            Duration::from_millis(sp.timeout_ms),
            sp.retries,
        );
        let events = self.ctx.events.clone();
        let (call, queue, agent) = (self.id_str(), queue.to_string(), agent.to_string());
        tokio::spawn(async move {
            let mut last = String::new();
            for attempt in 0..=retries {
                match crate::http_client::post_json(&url, body.clone(), timeout).await {
                    Ok(status) => {
                        events.append(
                            NewEvent::call(
                                &call,
                                Event::ScreenpopSent {
                                    status,
                                    attempt: attempt + 1,
                                },
                            )
                            .queue(&queue)
                            .agent(&agent),
                        );
                        return;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, attempt, "screen-pop webhook failed");
                        last = format!(
                            "{last}{}attempt {}: {e}",
                            if last.is_empty() { "" } else { "; " },
                            attempt + 1
                        );
                    }
                }
                tokio::time::sleep(Duration::from_millis(250 << attempt.min(4))).await;
            }
            events.append(
                NewEvent::call(&call, Event::ScreenpopFailed { error: last })
                    .queue(&queue)
                    .agent(&agent),
            );
        });
    }

    fn hangup_all(&mut self, reason: EndReason) {
        let _ = self.ctx.sip.commands.send(SipCommand::Hangup {
            call: self.sip_call,
        });
        self.finish(reason);
    }

    fn finish(&mut self, reason: EndReason) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.stop_supervision(SupervisionEnd::CallEnded);
        if let (Phase::Bridged { agent, .. } | Phase::TransferredOut { agent, .. }, Some(_)) =
            (&self.phase, self.sup_rx.take())
        {
            self.ctx.supervisable.remove(agent);
        }
        let now = Instant::now();
        self.a.session.close(now);
        let _ = self.a.flush_session();
        if let Some(b) = self.b.as_mut() {
            b.session.close(now);
            let _ = b.flush_session();
        }
        let mut data = CallEnd::new(reason, Disposition::Ivr);
        data.duration_s = Some(now.duration_since(self.started).as_secs_f64());
        let mut ev_queue = String::new();
        let mut ev_agent = String::new();
        match &self.phase {
            Phase::Queued { queue, .. } | Phase::Ringing { queue, .. } => {
                let _ = self.ctx.acd.send(AcdCommand::CallEnded { call: self.id });
                data.disposition = Disposition::Abandoned;
                ev_queue = queue.clone();
            }
            Phase::Bridged {
                queue,
                agent,
                answered_at,
            } => {
                let _ = self.ctx.acd.send(AcdCommand::CallEnded { call: self.id });
                data.disposition = Disposition::Answered;
                data.talk_s = Some(now.duration_since(*answered_at).as_secs_f64());
                ev_queue = queue.clone();
                ev_agent = agent.clone();
            }
            Phase::TransferredOut { queue, agent } => {
                data.disposition = Disposition::Transferred;
                ev_queue = queue.clone();
                ev_agent = agent.clone();
            }
            Phase::CallbackLeaving { queue } => {
                data.disposition = Disposition::Callback;
                ev_queue = queue.clone();
            }
            Phase::Ivr | Phase::Done => {
                data.disposition = Disposition::Ivr;
            }
        }
        if let (Some(a), Some(r)) = (self.b_answered_at, self.first_relay_at) {
            // Agent's 200 to the first audio across the bridge (includes the whisper).
            data.answer_to_audio_ms = Some(r.saturating_duration_since(a).as_secs_f64() * 1000.0);
        }
        for c in self.extra_acd_calls.drain(..) {
            let _ = self.ctx.acd.send(AcdCommand::CallEnded { call: c });
        }
        if let Some(rec) = self.recorder.take() {
            data.recording = Some(rec.path.display().to_string());
            data.recording_dropped_frames = Some(rec.dropped());
        }
        let stats = self.a.session.stats();
        {
            use crate::metrics::Metrics as M;
            let m = &self.ctx.metrics;
            match data.disposition {
                Disposition::Answered => M::add(&m.calls_answered, 1),
                Disposition::Abandoned => M::add(&m.calls_abandoned, 1),
                Disposition::Callback => M::add(&m.calls_callback, 1),
                _ => {}
            }
            if let Some(r) = stats.receiver {
                M::add(&m.rtp_received, r.received);
                M::add(&m.rtp_lost, r.lost.max(0) as u64);
            }
            M::add(&m.rtp_relayed, self.relayed);
            if data.recording.is_some() {
                M::add(&m.recordings, 1);
            }
        }
        data.caller_rtp = Some(RtpStats {
            received: stats.receiver.map(|r| r.received),
            lost: stats.receiver.map(|r| r.lost),
            foreign_dropped: stats.foreign_dropped,
        });
        self.ctx.events.append(
            self.log(Event::CallEnd(data))
                .queue(&ev_queue)
                .agent(&ev_agent),
        );
        self.phase = Phase::Done;
        tracing::info!(%reason, "call ended");
    }
}

/// A queue request with no dialplan options (internal calls, transfers without one).
fn plain_queue_request(queue: String) -> QueueRequest {
    QueueRequest {
        queue,
        priority: 0,
        max_wait: None,
        exit_key: None,
        announce_every: None,
        callback_key: None,
        whisper: Vec::new(),
        attrs: Default::default(),
    }
}

/// `listen-1001`, `whisper-1001`, `barge-1001`: a supervisor's dialled number.
fn supervise_target(dnis: &str) -> Option<(SupervisorMode, String)> {
    let (mode, agent) = dnis.split_once('-')?;
    let mode = match mode {
        "listen" => SupervisorMode::Listen,
        "whisper" => SupervisorMode::Whisper,
        "barge" => SupervisorMode::Barge,
        _ => return None,
    };
    (!agent.is_empty()).then(|| (mode, agent.to_string()))
}

/// A supervisor's call: its answered leg goes to the supervised call, which mixes it in;
/// this task only relays hang-ups between the two.
async fn supervise_call(
    ctx: &CallContext,
    id: u64,
    mut nc: NewCall,
    media: MediaLeg,
    mode: SupervisorMode,
    target: mpsc::Sender<SuperviseRequest>,
    supervisor: String,
) {
    // The supervisor's leg joins the mix only once its dialog is confirmed (the ACK, no
    // amplification); a call that ends first just ends.
    let mut media = media;
    loop {
        match nc.signals.recv().await {
            Some(CallSignal::AConfirmed) => {
                media.session.confirm();
                break;
            }
            None | Some(CallSignal::Ended(_)) => return,
            Some(_) => {}
        }
    }
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let req = SuperviseRequest {
        mode,
        media,
        supervisor: supervisor.clone(),
        done: done_tx,
        stop: stop_rx,
    };
    let started = Instant::now();
    let reason = if target.send(req).await.is_err() {
        let _ = ctx.sip.commands.send(SipCommand::Hangup { call: nc.call });
        EndReason::SupervisedCallEnded
    } else {
        loop {
            tokio::select! {
                _ = &mut done_rx => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: nc.call });
                    break EndReason::SupervisedCallEnded;
                }
                sig = nc.signals.recv() => match sig {
                    None | Some(CallSignal::Ended(_)) => {
                        let _ = stop_tx.send(());
                        break EndReason::SupervisorHangup;
                    }
                    Some(CallSignal::InDialog { tx, .. }) => {
                        let _ = ctx
                            .sip
                            .commands
                            .send(SipCommand::Respond { call: nc.call, tx, status: StatusCode::OK, sdp: None });
                    }
                    Some(_) => {}
                },
            }
        }
    };
    let mut end = CallEnd::new(reason, Disposition::Supervision);
    end.mode = Some(core_events::supervision_mode(mode));
    end.duration_s = Some(started.elapsed().as_secs_f64());
    ctx.events
        .append(NewEvent::call(&id.to_string(), Event::CallEnd(end)).agent(&supervisor));
}

/// The Replaces of a REFER's Refer-To URI (`?Replaces=...`), if any: an attended transfer.
fn refer_replaces(
    req: &switchboard_sip_message::Request,
) -> Option<switchboard_sip_message::Replaces> {
    let refer_to = req.headers.refer_to().ok().flatten()?;
    let switchboard_sip_message::Uri::Sip(uri) = &refer_to.uri else {
        return None;
    };
    let (_, value) = uri
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("replaces"))?;
    switchboard_sip_message::Replaces::parse(value).ok()
}

/// The digit of an `application/dtmf-relay` (or `application/dtmf`) INFO body.
fn info_dtmf_digit(body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap_or(("", line));
        if k.trim().eq_ignore_ascii_case("signal") || k.is_empty() {
            let c = v.trim().chars().next()?;
            if c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D') {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_bodies_give_digits() {
        assert_eq!(info_dtmf_digit(b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(info_dtmf_digit(b"signal= #\r\n"), Some('#'));
        assert_eq!(info_dtmf_digit(b"7"), Some('7'));
        assert_eq!(info_dtmf_digit(b"Duration=160\r\n"), None);
    }

    #[test]
    fn timeline_follows_timestamps_after_the_first_packet() {
        let mut t = Timeline::default();
        assert_eq!(t.position(1000, 800), 800);
        assert_eq!(t.position(1160, 990), 960);
        assert_eq!(t.position(1000u32.wrapping_sub(160), 1200), 1200);
    }
}
