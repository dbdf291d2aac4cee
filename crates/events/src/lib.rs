//! The event-log schema of switchboard: one typed value, [`Event`], for every event the
//! server logs (calls, queues, agents, the IVR, recordings, the dialplan, the process).
//!
//! This crate is pure data and serde: it does no I/O, reads no clock and knows nothing of
//! storage. The server turns its cores' outputs into [`Event`]s and appends them to an
//! event store; the exporters (CDR, queue_log, recordings index, check) read them back as
//! [`Event`]s. Names on the wire are snake_case words chosen for people reading a CDR or a
//! JSON log (`"end_reason": "caller_hangup"`), never Rust `Debug` text, so renaming a Rust
//! variant cannot silently change an export.
//!
//! An event is stored as a `kind` (`call.start`, `queue.join`, ...) and a JSON object
//! `data`, with the [`SCHEMA_VERSION`] it was written under. `docs/events.md` documents
//! every kind field by field. Adding an optional field or a new kind keeps the version;
//! renaming or removing a field, or changing a value's meaning, bumps it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

mod quality;
pub use quality::LegQuality;

/// The version of this schema; stored with each event.
pub const SCHEMA_VERSION: u32 = 1;

/// One logged event. Serialized as `{"kind": "...", "data": {...}}`; stores keep the two
/// parts in separate columns (see [`Event::kind`], [`Event::data`], [`Event::from_parts`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum Event {
    /// The server started.
    #[serde(rename = "system.start")]
    SystemStart {
        /// Server version.
        version: String,
    },
    /// The first shutdown signal: new calls are refused, live calls drain.
    #[serde(rename = "system.draining")]
    SystemDraining {
        /// Calls in progress when draining began.
        live_calls: u64,
        /// How long live calls may continue, seconds.
        drain_timeout_s: u64,
    },
    /// The server stopped cleanly.
    #[serde(rename = "system.stop")]
    SystemStop {
        /// Every live call ended by itself (false: the drain timeout or a second signal
        /// hung up the rest).
        #[serde(default)]
        drained: bool,
    },
    /// A call started (inbound INVITE or a callback being placed).
    #[serde(rename = "call.start")]
    CallStart(CallStart),
    /// An agent's own call into a queue (a consultation).
    #[serde(rename = "call.internal")]
    CallInternal {
        /// The calling agent.
        from_agent: String,
    },
    /// The server answered the caller.
    #[serde(rename = "call.answer")]
    CallAnswer {
        /// The negotiated codec's name (`PCMU`, `G722`, ...).
        codec: String,
    },
    /// An agent answered; the call is bridged (audio may still wait for a whisper).
    #[serde(rename = "call.bridge")]
    CallBridge {
        /// Seconds from call start to the agent's answer.
        wait_s: f64,
    },
    /// Caller and agent hear each other.
    #[serde(rename = "call.connected")]
    CallConnected {},
    /// A call the server would have originated for this call (a callback) was refused by
    /// the dial policy.
    #[serde(rename = "call.refused")]
    CallRefused {
        /// Why.
        reason: DialRefusal,
        /// What the call was for.
        purpose: OriginatePurpose,
        /// The number that was not dialled.
        number: String,
    },
    /// A carrier trunk did not take a call we originated because of its `max_calls` or
    /// `calls_per_second`; the next trunk by priority was tried.
    #[serde(rename = "trunk.refused")]
    TrunkRefused {
        /// The trunk's name.
        trunk: String,
        /// Which limit.
        reason: TrunkLimit,
    },
    /// A call we originated failed on a trunk with 408 or 5xx and goes to the next trunk.
    #[serde(rename = "trunk.failover")]
    TrunkFailover {
        /// The trunk that failed.
        trunk: String,
        /// Its final status.
        status: u16,
    },
    /// An agent transferred the call.
    #[serde(rename = "call.transfer")]
    CallTransfer {
        /// Blind (to a queue) or attended (to a colleague).
        kind: TransferKind,
        /// The target queue.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_queue: Option<String>,
        /// The colleague who took the call (attended).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_agent: Option<String>,
        /// The API token's name when the transfer was asked for over the HTTP API.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The call ended. Exactly one per call; the last event of its call but for
    /// bookkeeping of other tasks (`queue.*`, `screenpop.*`).
    #[serde(rename = "call.end")]
    CallEnd(CallEnd),
    /// A callback was asked for over the HTTP API (`POST /api/v1/callbacks`); the event's
    /// call is the callback's id, its queue the queue whose line it waits in.
    #[serde(rename = "callback.scheduled")]
    CallbackScheduled {
        /// The number to call (normalised by the dial policy).
        number: String,
        /// Not to be placed before this time (RFC 3339), if scheduled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at: Option<String>,
        /// The customer's name, for the agent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Free data for the agent's screen pop.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<Value>,
        /// The API token's name.
        by: String,
    },
    /// A callback asked for over the API is no longer pending.
    #[serde(rename = "callback.done")]
    CallbackDone {
        /// How it ended.
        outcome: CallbackOutcome,
        /// Who cancelled it (the API token's name), for `cancelled`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The caller joined a queue.
    #[serde(rename = "queue.join")]
    QueueJoin {
        /// 1 = next to be served.
        position: u64,
        /// A caller coming back to the queue (after a transfer or a failed offer).
        resumed: bool,
    },
    /// An estimated-wait prediction was made.
    #[serde(rename = "queue.prediction")]
    QueuePrediction {
        /// Position when predicted.
        position: u64,
        /// Conservative wait bound in seconds; absent when nobody serves the queue.
        #[serde(default)]
        bound_s: Option<f64>,
        /// Seconds waited so far.
        waited_s: f64,
    },
    /// The caller's wait in a queue is over (written by the ACD, may follow `call.end`).
    #[serde(rename = "queue.waited")]
    QueueWaited {
        /// Seconds waited.
        waited_s: f64,
        /// How the wait ended.
        outcome: WaitOutcome,
        /// When `outcome` is `exited`: why.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_reason: Option<QueueExitReason>,
        /// When `outcome` is `overflowed`: the queue the call moved to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        overflow_to: Option<String>,
    },
    /// The call left (or could not join) a queue and goes back to the dialplan.
    #[serde(rename = "queue.exit")]
    QueueExit {
        /// Why.
        reason: QueueExitReason,
        /// `max_wait` from the queue: the dialplan target named by the queue.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
        /// `exit_key`: the key pressed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
    /// The call is offered to the event's agent.
    #[serde(rename = "queue.offer")]
    QueueOffer {},
    /// Position and estimated wait told to the caller.
    #[serde(rename = "queue.announce")]
    QueueAnnounce {
        /// 1 = next to be served.
        position: u64,
        /// Wait bound in whole seconds; absent when nobody serves the queue.
        #[serde(default)]
        ewt_bound_s: Option<u64>,
        /// What the caller heard ("about 2 minutes").
        spoken: String,
    },
    /// The call moved to a reserve queue.
    #[serde(rename = "queue.overflow")]
    QueueOverflow {
        /// The queue it moved to.
        to: String,
    },
    /// The event's agent did not answer in time (ring-no-answer).
    #[serde(rename = "queue.rona")]
    QueueRona {},
    /// The caller asked to be called back and leaves the queue.
    #[serde(rename = "queue.callback_requested")]
    QueueCallbackRequested {},
    /// An agent's ACD state changed.
    #[serde(rename = "agent.state")]
    AgentState {
        /// The new state.
        state: AgentStateName,
        /// `paused`: why (`rona` after a ring-no-answer).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pause_reason: Option<String>,
        /// `busy`: what kind of call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        busy_kind: Option<BusyKind>,
        /// `ringing`, `reserved`, `busy`: the ACD call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<String>,
    },
    /// An agent's first registration appeared.
    #[serde(rename = "agent.login")]
    AgentLogin {},
    /// An agent's last registration went away.
    #[serde(rename = "agent.logout")]
    AgentLogout {
        /// Why.
        reason: LogoutReason,
    },
    /// The event's agent logged into the event's queue over the API (it is offered that
    /// queue's calls again).
    #[serde(rename = "agent.queue_login")]
    AgentQueueLogin {},
    /// The event's agent logged out of the event's queue over the API (no offers from it).
    #[serde(rename = "agent.queue_logout")]
    AgentQueueLogout {},
    /// The RONA recovery policy ended the event's agent's `rona` pause.
    #[serde(rename = "agent.rona_unpaused")]
    AgentRonaUnpaused {
        /// How long the agent stayed paused, seconds (`[acd] rona_unpause_after`).
        after_s: u64,
    },
    /// The agent set a disposition code on the event's call (its last or current call).
    #[serde(rename = "call.disposition")]
    CallDisposition {
        /// One of the queue's `dispositions`.
        code: String,
        /// Free text, at most 500 characters.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        notes: String,
        /// The API token's name that set it.
        by: String,
    },
    /// The event's agent is being rung.
    #[serde(rename = "agent.ring")]
    AgentRing {},
    /// Ringing the agent failed with a SIP status.
    #[serde(rename = "agent.ring_failed")]
    AgentRingFailed {
        /// The final SIP status.
        status: u16,
    },
    /// The caller pressed a key.
    #[serde(rename = "dtmf")]
    Dtmf {
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: String,
        /// How the key arrived.
        via: DtmfVia,
    },
    /// A leg's media stopped arriving; the call is hung up.
    #[serde(rename = "media.timeout")]
    MediaTimeout {
        /// Which leg.
        leg: Party,
    },
    /// A supervisor joined the event's agent's call.
    #[serde(rename = "supervisor.join")]
    SupervisorJoin {
        /// The supervisor's user name.
        supervisor: String,
        /// How they take part.
        mode: SupervisionMode,
    },
    /// The supervisor left.
    #[serde(rename = "supervisor.leave")]
    SupervisorLeave {
        /// The supervisor's user name.
        supervisor: String,
        /// Why.
        reason: SupervisionEnd,
    },
    /// The dialplan transferred the call (served by a queue).
    #[serde(rename = "ivr.transfer")]
    IvrTransfer {
        /// What the dialplan named.
        kind: IvrTransferKind,
        /// The dialplan's target.
        target: String,
        /// The queue that serves it.
        queue: String,
    },
    /// The dialplan hung up.
    #[serde(rename = "ivr.hangup")]
    IvrHangup {},
    /// A dialplan runtime error (the call goes on).
    #[serde(rename = "ivr.error")]
    IvrError {
        /// What went wrong.
        message: String,
        /// `file:line:col`.
        location: String,
    },
    /// A recording started.
    #[serde(rename = "recording.start")]
    RecordingStart {
        /// The WAV file.
        path: String,
    },
    /// A recording's header was repaired after an unclean stop.
    #[serde(rename = "recording.repaired")]
    RecordingRepaired {
        /// The WAV file.
        path: String,
        /// Audio bytes the header claimed.
        claimed: u64,
        /// Audio bytes it claims now.
        data_len: u64,
    },
    /// The screen-pop webhook accepted the call.
    #[serde(rename = "screenpop.sent")]
    ScreenpopSent {
        /// HTTP status.
        status: u16,
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// Every screen-pop attempt failed.
    #[serde(rename = "screenpop.failed")]
    ScreenpopFailed {
        /// The last error.
        error: String,
    },
    /// New dialplans were loaded.
    #[serde(rename = "dialplan.reloaded")]
    DialplanReloaded {
        /// Version number, from 1.
        version: u64,
        /// Rendered warnings (empty if none).
        warnings: String,
    },
    /// A dialplan reload was refused; the previous version stays.
    #[serde(rename = "dialplan.rejected")]
    DialplanRejected {
        /// Rendered diagnostics (`file:line:col: ...`).
        diagnostics: String,
    },
}

/// `call.start` fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallStart {
    /// Caller number (From user part).
    pub caller: String,
    /// Dialled number (empty for callbacks).
    pub dnis: String,
    /// SIP Call-ID of the inbound INVITE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip_call_id: Option<String>,
    /// For a callback: the call that asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_for: Option<String>,
    /// For a callback: attempt number, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// `call.end` fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallEnd {
    /// Why the call ended.
    pub end_reason: EndReason,
    /// Where the call was when it ended.
    pub disposition: Disposition,
    /// The SIP status of a refused call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Words for people: why a call was refused or a callback failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Seconds from start to end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Seconds caller and agent talked (answered calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_s: Option<f64>,
    /// Milliseconds from the agent's answer to the first audio across the bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_to_audio_ms: Option<f64>,
    /// The recording's WAV file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<String>,
    /// Frames the recorder could not write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_dropped_frames: Option<u64>,
    /// RTP from the caller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_rtp: Option<RtpStats>,
    /// A supervisor's call: how they took part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SupervisionMode>,
    /// The API token's name when the call was hung up over the HTTP API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Receive quality of each media leg the call had (caller first); empty in events
    /// written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quality: Vec<LegQuality>,
}

impl CallEnd {
    /// A `call.end` with only a reason and a disposition.
    pub fn new(end_reason: EndReason, disposition: Disposition) -> CallEnd {
        CallEnd {
            end_reason,
            disposition,
            status: None,
            detail: None,
            duration_s: None,
            talk_s: None,
            answer_to_audio_ms: None,
            recording: None,
            recording_dropped_frames: None,
            caller_rtp: None,
            mode: None,
            by: None,
            quality: Vec::new(),
        }
    }
}

/// RTP counters of one leg.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RtpStats {
    /// Packets accepted.
    #[serde(default)]
    pub received: Option<u64>,
    /// Packets lost (RFC 3550 A.3; negative with duplicates).
    #[serde(default)]
    pub lost: Option<i64>,
    /// Packets from a source other than the latched one.
    #[serde(default)]
    pub foreign_dropped: u64,
}

/// Defines a field enum with snake_case wire names and `as_str`.
macro_rules! words {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)*
        }
        impl $name {
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(
    /// Why a call ended.
    EndReason {
        /// The caller hung up (BYE).
        CallerHangup = "caller_hangup",
        /// The caller cancelled before the server answered.
        CallerCancelled = "caller_cancelled",
        /// The agent (leg B) hung up.
        AgentHangup = "agent_hangup",
        /// The callback's customer hung up.
        CustomerHangup = "customer_hangup",
        /// A supervisor's own call ended because they hung up.
        SupervisorHangup = "supervisor_hangup",
        /// A supervisor's call ended because the supervised call ended.
        SupervisedCallEnded = "supervised_call_ended",
        /// The server refused the call with a SIP error (`status`, `detail`).
        Refused = "refused",
        /// The agent leg's failure was relayed to the caller.
        AgentRejected = "agent_rejected",
        /// A SIP transaction with the caller timed out.
        CallerTimeout = "caller_timeout",
        /// A SIP transaction with the agent timed out.
        AgentTimeout = "agent_timeout",
        /// The transport to the caller failed.
        CallerTransportError = "caller_transport_error",
        /// The transport to the agent failed.
        AgentTransportError = "agent_transport_error",
        /// The dialplan hung up.
        IvrHangup = "ivr_hangup",
        /// The caller's media stopped.
        MediaTimeout = "media_timeout",
        /// The caller took a callback and the server hung up after confirming it.
        CallbackAccepted = "callback_accepted",
        /// The server hung up for another reason.
        LocalHangup = "local_hangup",
        /// A supervisor or admin hung the call up over the HTTP API (`by` says who).
        ApiHangup = "api_hangup",
        /// An attended transfer handed the agent leg to the colleague's call.
        TransferCompleted = "transfer_completed",
        /// A callback leg did not answer.
        CallbackLegFailed = "callback_leg_failed",
        /// The server shut down.
        Shutdown = "shutdown",
        /// The call's SIP side vanished (internal error).
        SignallingLost = "signalling_lost",
        /// The server stopped without ending the call (crash, kill -9); written at the next
        /// start.
        Crash = "crash",
    }
);

words!(
    /// Where a call was when it ended.
    Disposition {
        /// Talking to an agent.
        Answered = "answered",
        /// Queued or ringing an agent: the caller abandoned.
        Abandoned = "abandoned",
        /// Transferred away by an attended transfer (this call's part ended).
        Transferred = "transferred",
        /// The caller took a callback, or this is the callback call itself.
        Callback = "callback",
        /// A callback call whose legs did not connect.
        CallbackFailed = "callback_failed",
        /// In the dialplan (never queued, or back from a queue).
        Ivr = "ivr",
        /// A supervisor's call.
        Supervision = "supervision",
        /// Refused before it was answered.
        Refused = "refused",
        /// Unknown: the server stopped during the call (`end_reason` `crash`).
        Interrupted = "interrupted",
    }
);

words!(
    /// Why a call left (or could not join) a queue.
    QueueExitReason {
        /// The maximum wait passed.
        MaxWait = "max_wait",
        /// The caller pressed the queue's exit key.
        ExitKey = "exit_key",
        /// The queue is full.
        QueueFull = "queue_full",
        /// No member is logged in.
        NoAgents = "no_agents",
        /// Every callback attempt failed.
        CallbackFailed = "callback_failed",
    }
);

words!(
    /// How a wait in a queue ended.
    WaitOutcome {
        /// An agent answered.
        Answered = "answered",
        /// The caller hung up.
        Abandoned = "abandoned",
        /// The call left the queue (`exit_reason`).
        Exited = "exited",
        /// The call moved to a reserve queue (`overflow_to`).
        Overflowed = "overflowed",
        /// The caller took a callback.
        CallbackRequested = "callback_requested",
    }
);

words!(
    /// An agent's ACD state.
    AgentStateName {
        /// Not working.
        LoggedOut = "logged_out",
        /// Idle, receives offers.
        Available = "available",
        /// Held for a callback.
        Reserved = "reserved",
        /// Being offered a call.
        Ringing = "ringing",
        /// On a call.
        Busy = "busy",
        /// After-call work.
        WrapUp = "wrap_up",
        /// Logged in, not taking calls (`pause_reason`).
        Paused = "paused",
        /// The device is unreachable.
        Unreachable = "unreachable",
    }
);

words!(
    /// What kind of call an agent is busy on.
    BusyKind {
        /// Offered by a queue.
        Queue = "queue",
        /// A callback.
        Callback = "callback",
        /// Dialled directly.
        Direct = "direct",
        /// Transferred to them.
        Transfer = "transfer",
        /// Placed by the agent.
        Outbound = "outbound",
    }
);

words!(
    /// Why an agent's registration went away.
    LogoutReason {
        /// The phone unregistered.
        Unregistered = "unregistered",
        /// The binding expired.
        Expired = "expired",
        /// Keepalives failed.
        Unreachable = "unreachable",
    }
);

words!(
    /// How a DTMF key arrived.
    DtmfVia {
        /// RTP telephone-event.
        Rfc4733 = "rfc4733",
        /// Tones in the audio.
        Inband = "inband",
        /// SIP INFO.
        SipInfo = "sip_info",
    }
);

words!(
    /// A party of a call.
    Party {
        /// The caller (leg A).
        Caller = "caller",
        /// The agent (leg B).
        Agent = "agent",
    }
);

words!(
    /// How a supervisor takes part in a call.
    SupervisionMode {
        /// Hears everyone; nobody hears them.
        Listen = "listen",
        /// Hears everyone; only the agent hears them.
        Whisper = "whisper",
        /// Everyone hears everyone.
        Barge = "barge",
    }
);

words!(
    /// Why a supervisor left.
    SupervisionEnd {
        /// The supervisor hung up.
        SupervisorHangup = "supervisor_hangup",
        /// The supervised call ended.
        CallEnded = "call_ended",
    }
);

words!(
    /// Why the dial policy refused a number.
    DialRefusal {
        /// Not a dialable number.
        InvalidNumber = "invalid_number",
        /// Matches a `deny` pattern.
        DeniedPattern = "denied_pattern",
        /// Matches no `allow` pattern.
        NotAllowed = "not_allowed",
        /// International numbers are not allowed.
        International = "international",
        /// A premium-rate prefix.
        PremiumRate = "premium_rate",
        /// The number's daily cap is reached.
        NumberDailyCap = "number_daily_cap",
        /// The hourly cap of originated calls is reached.
        HourlyCap = "hourly_cap",
    }
);

words!(
    /// A trunk's limit.
    TrunkLimit {
        /// `max_calls` calls were up.
        MaxCalls = "max_calls",
        /// `calls_per_second` was spent.
        CallsPerSecond = "calls_per_second",
    }
);

words!(
    /// Why the server originates a call.
    OriginatePurpose {
        /// A callback to a caller who asked for one.
        Callback = "callback",
        /// A callback asked for over the HTTP API.
        WebCallback = "web_callback",
    }
);

words!(
    /// How a callback asked for over the API ended.
    CallbackOutcome {
        /// Agent and customer were connected.
        Connected = "connected",
        /// Every attempt failed (or the dial policy refused it when its turn came).
        Failed = "failed",
        /// Cancelled over the API before it was placed.
        Cancelled = "cancelled",
    }
);

words!(
    /// An agent's transfer.
    TransferKind {
        /// To a queue, without talking first.
        Blind = "blind",
        /// After a consultation with a colleague.
        Attended = "attended",
    }
);

words!(
    /// What a dialplan `transfer` named.
    IvrTransferKind {
        /// An internal extension.
        Extension = "extension",
        /// A specific agent.
        Agent = "agent",
        /// An outside number.
        External = "external",
    }
);

impl Event {
    /// The stored kind (`call.start`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SystemStart { .. } => "system.start",
            Event::SystemDraining { .. } => "system.draining",
            Event::SystemStop { .. } => "system.stop",
            Event::CallStart(_) => "call.start",
            Event::CallInternal { .. } => "call.internal",
            Event::CallAnswer { .. } => "call.answer",
            Event::CallBridge { .. } => "call.bridge",
            Event::CallConnected {} => "call.connected",
            Event::CallRefused { .. } => "call.refused",
            Event::TrunkRefused { .. } => "trunk.refused",
            Event::TrunkFailover { .. } => "trunk.failover",
            Event::CallTransfer { .. } => "call.transfer",
            Event::CallEnd(_) => "call.end",
            Event::CallbackScheduled { .. } => "callback.scheduled",
            Event::CallbackDone { .. } => "callback.done",
            Event::QueueJoin { .. } => "queue.join",
            Event::QueuePrediction { .. } => "queue.prediction",
            Event::QueueWaited { .. } => "queue.waited",
            Event::QueueExit { .. } => "queue.exit",
            Event::QueueOffer {} => "queue.offer",
            Event::QueueAnnounce { .. } => "queue.announce",
            Event::QueueOverflow { .. } => "queue.overflow",
            Event::QueueRona {} => "queue.rona",
            Event::QueueCallbackRequested {} => "queue.callback_requested",
            Event::AgentState { .. } => "agent.state",
            Event::AgentLogin {} => "agent.login",
            Event::AgentLogout { .. } => "agent.logout",
            Event::AgentQueueLogin {} => "agent.queue_login",
            Event::AgentQueueLogout {} => "agent.queue_logout",
            Event::AgentRonaUnpaused { .. } => "agent.rona_unpaused",
            Event::CallDisposition { .. } => "call.disposition",
            Event::AgentRing {} => "agent.ring",
            Event::AgentRingFailed { .. } => "agent.ring_failed",
            Event::Dtmf { .. } => "dtmf",
            Event::MediaTimeout { .. } => "media.timeout",
            Event::SupervisorJoin { .. } => "supervisor.join",
            Event::SupervisorLeave { .. } => "supervisor.leave",
            Event::IvrTransfer { .. } => "ivr.transfer",
            Event::IvrHangup {} => "ivr.hangup",
            Event::IvrError { .. } => "ivr.error",
            Event::RecordingStart { .. } => "recording.start",
            Event::RecordingRepaired { .. } => "recording.repaired",
            Event::ScreenpopSent { .. } => "screenpop.sent",
            Event::ScreenpopFailed { .. } => "screenpop.failed",
            Event::DialplanReloaded { .. } => "dialplan.reloaded",
            Event::DialplanRejected { .. } => "dialplan.rejected",
        }
    }

    /// The stored `data` object (the fields without the kind).
    pub fn data(&self) -> Value {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => m
                .remove("data")
                .unwrap_or(Value::Object(Default::default())),
            _ => Value::Object(Default::default()),
        }
    }

    /// Rebuilds an event from its stored parts; an unknown kind or a field that does not
    /// fit the schema is an error (readers skip such rows and count them).
    pub fn from_parts(kind: &str, data: &Value) -> Result<Event, serde_json::Error> {
        let mut m = serde_json::Map::new();
        m.insert("kind".into(), Value::String(kind.to_string()));
        m.insert("data".into(), data.clone());
        serde_json::from_value(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn samples() -> Vec<Event> {
        let mut end = CallEnd::new(EndReason::CallerHangup, Disposition::Answered);
        end.talk_s = Some(3.5);
        end.caller_rtp = Some(RtpStats {
            received: Some(10),
            lost: Some(-1),
            foreign_dropped: 0,
        });
        end.quality = vec![LegQuality {
            leg: Party::Caller,
            packets: 1500,
            bytes: 258_000,
            lost: 3,
            jitter_ms: 1.25,
            peer_reported_lost: Some(0),
            peer_reported_fraction_lost: Some(0.0),
            peer_reported_jitter_ms: Some(0.5),
            rtt_ms: None,
        }];
        vec![
            Event::SystemStart {
                version: "0.1.0".into(),
            },
            Event::SystemStop { drained: true },
            Event::CallStart(CallStart {
                caller: "1001".into(),
                dnis: "100".into(),
                sip_call_id: Some("x@y".into()),
                ..CallStart::default()
            }),
            Event::CallEnd(end),
            Event::QueueOffer {},
            Event::QueueWaited {
                waited_s: 1.5,
                outcome: WaitOutcome::Exited,
                exit_reason: Some(QueueExitReason::MaxWait),
                overflow_to: None,
            },
            Event::AgentState {
                state: AgentStateName::Paused,
                pause_reason: Some("rona".into()),
                busy_kind: None,
                call: None,
            },
            Event::SupervisorJoin {
                supervisor: "boss".into(),
                mode: SupervisionMode::Whisper,
            },
            Event::CallbackScheduled {
                number: "+74951234567".into(),
                at: Some("2026-12-07T15:00:00+03:00".into()),
                name: None,
                data: Some(json!({"order": 42})),
                by: "web".into(),
            },
            Event::CallbackDone {
                outcome: CallbackOutcome::Cancelled,
                by: Some("web".into()),
            },
            Event::AgentQueueLogout {},
            Event::AgentRonaUnpaused { after_s: 60 },
            Event::CallDisposition {
                code: "sale".into(),
                notes: "two seats".into(),
                by: "demo-agent-1001".into(),
            },
        ]
    }

    #[test]
    fn every_event_round_trips_through_its_stored_parts() {
        for ev in samples() {
            let back = Event::from_parts(ev.kind(), &ev.data()).unwrap();
            assert_eq!(back, ev);
            let whole = serde_json::to_value(&ev).unwrap();
            assert_eq!(whole["kind"], ev.kind());
        }
    }

    #[test]
    fn wire_names_are_snake_case_words() {
        let end = CallEnd::new(EndReason::CallerHangup, Disposition::Answered);
        assert_eq!(
            Event::CallEnd(end).data(),
            json!({"end_reason": "caller_hangup", "disposition": "answered"})
        );
        for r in EndReason::ALL {
            let s = serde_json::to_value(r).unwrap();
            assert_eq!(s, r.as_str());
            assert!(r
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        for s in AgentStateName::ALL {
            assert!(s
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        assert_eq!(Event::QueueOffer {}.data(), json!({}));
    }

    #[test]
    fn unknown_kinds_and_bad_fields_are_errors_not_panics() {
        assert!(Event::from_parts("call.teleport", &json!({})).is_err());
        assert!(Event::from_parts("call.end", &json!({"end_reason": "Bye(A)"})).is_err());
        assert!(Event::from_parts("queue.offer", &json!(null)).is_err());
    }
}
