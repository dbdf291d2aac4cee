//! The value types inside event payloads: the `call.start` and `call.end` records, RTP
//! counters and the closed vocabularies (end reasons, dispositions, ...) with their
//! snake_case wire names.

use serde::{Deserialize, Serialize};

use crate::LegQuality;

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
    /// For a callback or a campaign call: attempt number, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// For a call placed by an outbound campaign: the campaign's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
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
        /// The caller's RFC 4028 session timer ran out: it stopped refreshing the session.
        SessionExpired = "session_expired",
        /// The server hung up for another reason.
        LocalHangup = "local_hangup",
        /// A supervisor or admin hung the call up over the HTTP API (`by` says who).
        ApiHangup = "api_hangup",
        /// An attended transfer handed the agent leg to the colleague's call.
        TransferCompleted = "transfer_completed",
        /// A callback leg did not answer.
        CallbackLegFailed = "callback_leg_failed",
        /// A call we placed (a campaign's, an agent's own call) was not answered: busy, no
        /// answer, failed, no trunk; see `status`, `detail`.
        NotAnswered = "not_answered",
        /// A call we placed (a predictive campaign's) was answered by a person when no agent
        /// was free: we hung up, after the campaign's abandon message if it has one.
        AbandonedNoAgent = "abandoned_no_agent",
        /// A call we placed (a predictive campaign's) was answered by an answering machine
        /// and hung up (the campaign's `machine` is `retry` or `hangup`).
        AnsweringMachine = "answering_machine",
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
        /// An agent's own call to an outside number, answered by the far end.
        Outbound = "outbound",
        /// An agent's own call to an outside number that the far end did not answer.
        OutboundFailed = "outbound_failed",
        /// Refused before it was answered.
        Refused = "refused",
        /// Unknown: the server stopped during the call (`end_reason` `crash`).
        Interrupted = "interrupted",
        /// A call we placed that was not answered (busy, no answer, no trunk, failed).
        NotAnswered = "not_answered",
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
        /// The agent placing the call reached their own hourly cap.
        UserHourlyCap = "user_hourly_cap",
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
        /// A callback a dialplan scheduled (`callback` statement).
        DialplanCallback = "dialplan_callback",
        /// An agent's own call to an outside number.
        AgentOutbound = "agent_outbound",
        /// A transfer to an outside number (dialplan, REFER or API).
        Transfer = "transfer",
        /// A row of an outbound campaign.
        Campaign = "campaign",
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

words!(
    /// Who asked for a transfer.
    TransferOrigin {
        /// The dialplan's `transfer` statement.
        Dialplan = "dialplan",
        /// The agent's REFER.
        Refer = "refer",
        /// `POST /api/v1/calls/{id}/transfer`.
        Api = "api",
        /// An agent's own call to a colleague (a consultation before an attended transfer).
        Consultation = "consultation",
    }
);

words!(
    /// What a transfer rings.
    TransferTo {
        /// A configured user's registered phone (an agent or an extension).
        User = "user",
        /// An outside number, through the carrier trunks.
        Number = "number",
    }
);

words!(
    /// Why a transfer did not reach its target.
    TransferFailure {
        /// The target names no queue, user or number.
        UnknownTarget = "unknown_target",
        /// The user is on a call (ringing, reserved or busy in the ACD).
        Busy = "busy",
        /// The user's phone is not registered.
        NotRegistered = "not_registered",
        /// The target did not answer, declined, or the dial failed.
        NoAnswer = "no_answer",
        /// The dial policy refused the number (a `call.refused` event says why).
        Refused = "refused",
        /// No trunk could take the call.
        NoTrunk = "no_trunk",
        /// The caller hung up while the target rang; its ringing was cancelled.
        CallerHangup = "caller_hangup",
        /// The call ended otherwise (API hangup, shutdown) while the target rang; its
        /// ringing was cancelled.
        CallEnded = "call_ended",
    }
);
