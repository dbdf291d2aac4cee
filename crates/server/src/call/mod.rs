//! One task per call: it owns the caller's media (RTP session, prompt player, DTMF
//! receivers), the call's IVR interpreter, the queue membership and, once an agent
//! answers, the agent leg and the two-party bridge and the recording. Signals come from
//! the SIP driver (answers, hangups, in-dialog requests), the ACD actor (offers,
//! announcements, exits) and HTTP lookups; every core is fed `now` and drained.

mod answer_path;
mod api_supervision;
mod bridging;
mod campaign_amd;
mod campaign_leg;
mod control;
mod dialplan_callback;
mod direct;
mod ending;
mod flow_io;
#[cfg(test)]
mod footprint;
mod forking;
mod hold;
mod ivr_flow;
mod media_in;
mod placed_transfer;
mod post_call_survey;
mod queueing;
mod relay;
mod setup;
mod signals;
mod supervision;
mod tenant;
pub(crate) use tenant::tenant_prompt_key;
mod transfer;
mod transfer_target;
mod wake_gate;
mod wakeup;

pub(crate) use api_supervision::run_api_supervision;
pub(crate) use campaign_leg::{
    run_campaign_call, CampaignCall, CampaignStart, PacerNote, PacerNoteKind, Predictive,
};
pub(crate) use ivr_flow::info_dtmf_digit;
pub(crate) use placed_transfer::{transfer_placed_call, ReferredPlacedCall};
use queueing::plain_queue_request;
pub(crate) use setup::run_call;
use supervision::{supervise_call, supervise_target};
pub(crate) use transfer::refer_replaces;
use transfer_target::{Asked, Destination, Unresolved};

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use serde_json::json;
use switchboard_acd::Spoken;
use switchboard_callflow::Phase;
use switchboard_ivr::interp::{Action, Event as IvrEvent, QueueRequest};
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
use crate::media_leg::{HandOver, LegSettings, MediaLeg, MediaPeer, Timeline};
use crate::pii::Pii;
use crate::recorder::Recorder;
use crate::sip_driver::{NewCall, SipCommand, SipHandle};
use switchboard_events::{
    CallEnd, CallStart, Disposition, DtmfVia, EndReason, Event, Party, RtpStats, SupervisionEnd,
};

/// What woke the call task's loop: a datagram on one of its media sockets, or one of the
/// other sources (`wake_gate.rs`).
enum Woke {
    Datagram(media_in::Port, std::io::Result<SocketAddr>),
    Signal(Option<CallSignal>),
    Timer,
    SuperviseRequest(Option<SuperviseRequest>),
    SupervisorGone,
    Queue(Option<QueueSignal>),
    /// Boxed: a transfer's answer is large and rare.
    Reached(Option<Box<direct::Reached>>),
    Control(Option<crate::live_calls::CallControl>),
    Http(Option<(u64, Result<serde_json::Value, switchboard_ivr::HttpError>)>),
}

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
    /// Agents' dial permissions and hourly caps (locked only for a check).
    pub(crate) agent_dial: std::sync::Mutex<crate::agent_dial::AgentDialGate>,
    /// Live inbound calls by id, for the HTTP API.
    pub(crate) live: crate::live_calls::LiveCalls,
    /// The client of dialplan `http` lookups and screen pops (TLS settings built at start).
    pub(crate) http: crate::http_client::HttpClient,
    /// The dial policy's caps, asked before every call we originate.
    pub(crate) dial_gate: crate::dial_policy::GateHandle,
}

impl CallContext {
    /// The `[[queues]]` entry named `queue`.
    pub(crate) fn queue_config(&self, queue: &str) -> Option<&crate::queue_config::QueueConfig> {
        self.cfg.queues.iter().find(|q| q.name == queue)
    }

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

    /// The `srtp` setting of user `name` (off for unknown names).
    pub(crate) fn user_srtp(&self, name: &str) -> crate::srtp_leg::SrtpPolicy {
        crate::srtp_leg::user_policy(&self.cfg, name)
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

    /// A leg we placed through trunk number `trunk` of `trunk_specs`, answered.
    pub(crate) fn trunk_peer(&self, trunk: usize) -> MediaPeer {
        let nat_ip = self
            .cfg
            .trunk_specs
            .get(trunk)
            .filter(|_| self.cfg.sip.trunks_nat)
            .map(|t| t.address.ip());
        MediaPeer {
            nat_ip,
            confirmed: true,
        }
    }
}

/// A supervisor asking to join a bridged call (listen, whisper or barge).
pub(crate) struct SuperviseRequest {
    pub(crate) mode: SupervisorMode,
    /// The supervisor's answered leg; the supervised call owns it from now on. Boxed:
    /// every bridged call's request channel allocates a block of 32 slots up front, and
    /// an inline leg (~6.5 KB) made that block ~210 KB per call (decision 0036).
    pub(crate) media: Box<MediaLeg>,
    pub(crate) supervisor: String,
    /// Fired when the supervised call stops supervision (it ended): hang the supervisor up.
    pub(crate) done: tokio::sync::oneshot::Sender<()>,
    /// Fired by the supervisor's task when the supervisor hangs up.
    pub(crate) stop: tokio::sync::oneshot::Receiver<()>,
}

/// A live supervision of this call.
struct Supervision {
    media: Box<MediaLeg>,
    mixer: Mixer,
    /// Mixer participants: caller, agent, supervisor.
    ids: [switchboard_media::ParticipantId; 3],
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

struct CallTask {
    ctx: Arc<CallContext>,
    id: u64,
    sip_call: switchboard_sip::CallKey,
    caller: String,
    dnis: String,
    a: MediaLeg,
    b: Option<MediaLeg>,
    b_offer: Option<SessionDescription>,
    b_pending: Option<(RtpSocketPair, LocalCaps)>,
    queue_req: Option<QueueRequest>,
    /// When a supervisor last moved the waiting call to another queue: its time in that
    /// queue counts from here (`queue_wait_s`); cleared when it joins a queue afresh.
    moved_at: Option<Instant>,
    tl_a: Timeline,
    tl_b: Timeline,
    bridge: Option<Bridge>,
    player: PromptPlayer,
    /// Plays the whisper to the agent before the bridge closes.
    b_player: Option<PromptPlayer>,
    inband: DtmfDetector,
    ivr: Interpreter,
    lang: Lang,
    /// The call's phases, timers and queue/offer/end decisions (crate `callflow`).
    flow: switchboard_callflow::Call,
    /// What a transfer rings while the flow is `Transferring` (`direct.rs`).
    dialing: Option<Box<direct::Dialing>>,
    /// The media of ring-all legs still ringing (see `forking.rs`).
    forks: Vec<forking::ForkLeg>,
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
    /// When the agent's 200 reached the SIP socket (`answer_path`).
    b_answer_arrived_at: Option<Instant>,
    relayed: u64,
    local_ip: IpAddr,
    /// What to start once leg A is confirmed (`None` once started).
    awaiting_confirmation: Option<Start>,
    /// The HTTP API's requests (describe, hang up, transfer).
    control_rx: mpsc::Receiver<crate::live_calls::CallControl>,
    /// Wall-clock start, for the API.
    started_wall: chrono::DateTime<Utc>,
    /// Who hung the call up over the API (its `call.end` says so).
    api_hangup_by: Option<String>,
    /// Bridged to a user or number the engine rang itself, not to a queue's agent.
    direct: Option<direct::DirectCall>,
    /// The answer of a transfer's target being rung.
    reach_rx: Option<tokio::sync::oneshot::Receiver<direct::Reached>>,
    /// Digits taken so far (either way): a packet that brought one is not a plain relay
    /// (`wake_gate.rs`).
    digits_taken: u32,
    /// The campaign row this call was placed for (`campaign_leg.rs`).
    campaign: Option<campaign_leg::CampaignTag>,
    /// A call we placed (campaign): leg A is the callee, the agent's leg a call of its own.
    callee_leads: bool,
}

/// How a call starts once its caller is confirmed.
enum Start {
    /// Run the dialplan.
    Ivr,
    /// An agent's internal call: straight to the queue or colleague it dialled.
    Internal(String),
}

impl CallTask {
    fn id_str(&self) -> String {
        self.id.to_string()
    }

    /// An event of this call, with the call's tenant when it is known.
    fn log(&self, event: Event) -> NewEvent {
        NewEvent::call(&self.id_str(), event).tenant(self.event_tenant())
    }

    /// Starts the call (IVR, or the queue of an internal call) once leg A is confirmed.
    fn start_when_confirmed(&mut self) {
        if !self.a.session.is_confirmed() {
            return;
        }
        match self.awaiting_confirmation.take() {
            None => {}
            Some(Start::Ivr) => self.start_ivr(),
            Some(Start::Internal(agent)) => self.start_internal(agent),
        }
    }

    fn start_ivr(&mut self) {
        let now = self.ctx.cfg.ivr.call_start_time(Utc::now());
        self.ivr.handle_event(IvrEvent::Started {
            now,
            to: self.dnis.clone(),
            from: self.caller.clone(),
        });
        self.log_ivr_start();
        self.drain_ivr();
    }

    async fn run(&mut self, signals: &mut crate::call_signals::SignalReceiver) {
        let mut bufs = media_in::RxBufs::new();
        let mut turn = media_in::Turn::default();
        let mut gate = wake_gate::Gate::default();
        // Timers as data: the task wakes at `next_wake` (every 20 ms while it plays audio,
        // at its earliest timer while it only relays); see `wakeup.rs`.
        let mut last_tick = Instant::now();
        let mut wake = self.next_wake(last_tick);
        let timer = tokio::time::sleep_until(wake.into());
        tokio::pin!(timer);
        // The handlers of signals, queue messages, answers and API requests are boxed
        // when they run (a few times per call): inline, their futures (transfers, the
        // agent's answer) made every call's task future three times its state (decision
        // 0043). Packets and timers are handled synchronously, without an allocation.
        while self.flow.phase() != &Phase::Ended {
            let next = self.next_wake(last_tick);
            if next != wake {
                wake = next;
                timer.as_mut().reset(wake.into());
                // Re-armed: polled (and so registered) again before the task sleeps.
                gate.open();
            }
            let woke = {
                // Borrowed, not cloned: no reference-count traffic per packet.
                let socks: media_in::Sockets = [
                    Some(&*self.a.sock),
                    self.b.as_ref().map(|b| &*b.sock),
                    self.supervision.as_ref().map(|sv| &*sv.media.sock),
                    Some(&*self.a.rtcp),
                    self.b.as_ref().map(|b| &*b.rtcp),
                ];
                let (sup_rx, sup_stop, reach_rx) =
                    (&mut self.sup_rx, &mut self.sup_stop, &mut self.reach_rx);
                let (queue_rx, control_rx, http_rx) =
                    (&mut self.queue_rx, &mut self.control_rx, &mut self.http_rx);
                let timer = timer.as_mut();
                let signals = &mut *signals;
                // Everything but the media: polled only when one of them woke the task
                // (`wake_gate.rs`).
                let others = async move {
                    tokio::select! {
                        biased;
                        s = signals.recv() => Woke::Signal(s),
                        _ = timer => Woke::Timer,
                        req = async { match sup_rx.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => Woke::SuperviseRequest(req),
                        _ = async { match sup_stop.as_mut() { Some(stop) => { let _ = stop.await; } None => std::future::pending().await } } => Woke::SupervisorGone,
                        q = queue_rx.recv() => Woke::Queue(q),
                        r = async { match reach_rx.as_mut() { Some(rx) => rx.await.ok(), None => std::future::pending().await } } => Woke::Reached(r.map(Box::new)),
                        c = control_rx.recv() => Woke::Control(c),
                        h = http_rx.recv() => Woke::Http(h),
                    }
                };
                tokio::pin!(others);
                // Media first (decision 0047): a packet is handled without looking at the
                // rest; `media_in` stands back after a long run so they are never starved.
                std::future::poll_fn(|cx| {
                    if let Poll::Ready((port, r)) =
                        media_in::poll_datagram(cx, &socks, &mut bufs, &mut turn)
                    {
                        return Poll::Ready(Woke::Datagram(port, r));
                    }
                    gate.poll(cx, |gcx| others.as_mut().poll(gcx))
                })
                .await
            };
            if let Woke::Datagram(port, r) = woke {
                if let Ok(from) = r {
                    if !self.on_datagram(port, from, &mut bufs) {
                        gate.open();
                        turn.rescan();
                    }
                }
                continue;
            }
            // Any other handler may replace a receiver, a socket or re-arm a source.
            gate.open();
            turn.rescan();
            match woke {
                Woke::Datagram(..) => {}
                Woke::Signal(Some(s)) => Box::pin(self.on_signal(s)).await,
                Woke::Signal(None) => self.finish(EndReason::SignallingLost),
                Woke::Timer => {
                    last_tick = Instant::now();
                    self.on_tick(last_tick);
                }
                Woke::SuperviseRequest(req) => {
                    if let Some(req) = req {
                        self.start_supervision(req);
                    }
                }
                Woke::SupervisorGone => self.stop_supervision(SupervisionEnd::SupervisorHangup),
                Woke::Queue(q) => {
                    if let Some(q) = q {
                        Box::pin(self.on_queue(q)).await;
                    }
                }
                Woke::Reached(r) => {
                    if let Some(r) = r {
                        Box::pin(self.on_reached(*r)).await;
                    } else {
                        self.reach_rx = None;
                    }
                }
                Woke::Control(c) => {
                    if let Some(c) = c {
                        Box::pin(self.on_control(c)).await;
                    }
                }
                Woke::Http(h) => {
                    if let Some((id, result)) = h {
                        self.ivr.handle_event(IvrEvent::HttpResult { id, result });
                        self.drain_ivr();
                    }
                }
            }
        }
    }

    /// A datagram received on `port` from `from` (in its buffer in `bufs`).
    ///
    /// True when it was the plain relay of a bridged call, which replaces no receiver and
    /// re-arms no source of the task's other wake-ups (`wake_gate.rs`): bridged before and
    /// after, no digit taken, not the supervisor's audio.
    fn on_datagram(
        &mut self,
        port: media_in::Port,
        from: SocketAddr,
        bufs: &mut media_in::RxBufs,
    ) -> bool {
        use media_in::Port;
        let (bridged, digits) = (self.bridge.is_some(), self.digits_taken);
        let buf = bufs.get(port);
        match port {
            Port::RtpA => {
                if let Some(d) = self.a.open_rtp(buf) {
                    self.on_rtp_a(Instant::now(), from, d);
                }
            }
            Port::RtpB => {
                if let Some(d) = self.b.as_mut().and_then(|b| b.open_rtp(buf)) {
                    self.on_rtp_b(Instant::now(), from, d);
                }
            }
            Port::RtpSupervisor => {
                if let Some(d) = self
                    .supervision
                    .as_mut()
                    .and_then(|s| s.media.open_rtp(buf))
                {
                    self.on_rtp_supervisor(Instant::now(), from, d);
                }
            }
            Port::RtcpA => self.a.receive_rtcp(Instant::now(), from, buf),
            Port::RtcpB => {
                if let Some(b) = self.b.as_mut() {
                    b.receive_rtcp(Instant::now(), from, buf);
                }
            }
        }
        bridged
            && self.bridge.is_some()
            && self.digits_taken == digits
            && port != Port::RtpSupervisor
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
        self.a.dtmf.handle_timeout(now);
        self.collect_digits(now);
        self.on_flow_timeout(now);
    }

    fn on_digit(&mut self, d: char, via: DtmfVia) {
        self.digits_taken = self.digits_taken.wrapping_add(1);
        let route = self
            .flow
            .handle_digit(Instant::now(), d, via, self.callback_possible());
        self.on_digit_route(route);
    }

    /// Trunks exist and the caller's number is known: a callback could be placed.
    fn callback_possible(&self) -> bool {
        !self.ctx.cfg.trunk_specs.is_empty() && !self.caller.is_empty()
    }

    /// Carries out what the flow made of a key (the callback key's number is checked).
    fn on_digit_route(&mut self, route: switchboard_callflow::DigitRoute) {
        if route == switchboard_callflow::DigitRoute::Callback {
            let allowed = self.ctx.number_rules.check(&self.caller);
            if let Err(r) = allowed {
                self.refuse_callback(r);
            }
            self.flow.handle_callback(allowed.is_ok());
        }
        self.drive_flow();
    }

    fn on_player_event(&mut self, ev: switchboard_media::PlayerEvent) {
        if let switchboard_media::PlayerEvent::Finished = ev {
            self.flow.handle_prompt_finished(Instant::now());
            self.drive_flow();
        }
    }

    fn playlist(&self, names: &[String], lang: Lang) -> Playlist {
        let mut items = Vec::new();
        for n in names {
            let key = format!("{}/{}", lang.code(), n);
            if let Some(p) = self.prompt(&key).or_else(|| self.prompt(n)) {
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

    /// Loops the queue's music-on-hold class (`[[queues]] moh`, default `moh`).
    fn play_moh(&mut self) {
        let class = match self.flow.phase() {
            Phase::Queued { queue, .. } => self.ctx.queue_config(queue).map(|q| q.moh.as_str()),
            _ => None,
        }
        .unwrap_or("moh");
        let lang_key = format!("{}/{class}", self.lang.code());
        let found = self
            .prompt(&lang_key)
            .or_else(|| self.prompt(class))
            .or_else(|| self.prompt("moh"));
        if let Some(p) = found {
            self.player
                .play(Instant::now(), Playlist::moh(p).looping(true));
        }
    }

    // ------------------------------------------------------------------ supervision

    // ------------------------------------------------------------------ IVR

    // ------------------------------------------------------------------ queue
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future an async fn of two arguments returns, without calling it.
    fn future_size<A, B, F: std::future::Future>(_: impl Fn(A, B) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    #[test]
    fn the_call_task_and_its_future_stay_small() {
        let task = std::mem::size_of::<CallTask>();
        let leg = std::mem::size_of::<MediaLeg>();
        let call = future_size(run_call);
        println!("CallTask {task} B, MediaLeg {leg} B, run_call future {call} B");
        // Measured about 5,850, 1,304 and 12,320 bytes (decision 0043: with the rare handlers
        // inline the future was 7.4 KB larger). Every call's task allocation is the future.
        assert!(task <= 8_000, "CallTask {task} B");
        assert!(leg <= 2_000, "MediaLeg {leg} B");
        assert!(call <= 15_000, "run_call future {call} B");
    }

    #[test]
    fn timeline_follows_timestamps_after_the_first_packet() {
        let mut t = Timeline::default();
        assert_eq!(t.position(1000, 800), 800);
        assert_eq!(t.position(1160, 990), 960);
        assert_eq!(t.position(1000u32.wrapping_sub(160), 1200), 1200);
    }
}
