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

#[macro_use]
mod fields;
pub use fields::*;

mod campaign;
pub use campaign::*;

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
    /// An agent's own call to an outside number, admitted by their dial permissions and
    /// being placed through the trunks.
    #[serde(rename = "call.outbound")]
    CallOutbound {
        /// The calling agent.
        from_agent: String,
        /// The number dialled (normalised).
        number: String,
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
    /// `calls_per_second` (the next trunk by priority was tried), or a call the trunk sent
    /// us was refused with 503 for the same limits (then the event has no call id).
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
        /// The outside number the caller is sent to (blind transfer to a number).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_number: Option<String>,
    },
    /// The engine rings a person or a number for this call, which leaves the queues: a
    /// dialplan `transfer agent|extension|external`, an agent's REFER or an API transfer.
    #[serde(rename = "transfer.dial")]
    TransferDial {
        /// Who asked for it.
        origin: TransferOrigin,
        /// A user's phone or an outside number.
        to: TransferTo,
        /// The user's name or the number (canonical, admitted by the dial policy).
        target: String,
    },
    /// The transfer's target answered; caller and target are bridged.
    #[serde(rename = "transfer.answer")]
    TransferAnswer {
        /// A user's phone or an outside number.
        to: TransferTo,
        /// The user's name or the number.
        target: String,
    },
    /// The transfer's target was not reached; the caller goes to `fallback_queue`.
    #[serde(rename = "transfer.fail")]
    TransferFail {
        /// Why.
        reason: TransferFailure,
        /// What was asked for (a name, a number as given).
        target: String,
        /// The queue the caller joins instead (none: the call ends).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fallback_queue: Option<String>,
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
    /// A party put the call on hold (a re-INVITE offering `sendonly`/`inactive` audio or a
    /// `0.0.0.0` address). The envelope's `agent` is the call's agent, if bridged.
    #[serde(rename = "call.hold")]
    CallHold {
        /// Who put it on hold.
        party: Party,
    },
    /// That party took the call off hold (a re-INVITE with active audio again).
    #[serde(rename = "call.resume")]
    CallResume {
        /// Who had put it on hold.
        party: Party,
        /// How long it was held by that party, in seconds.
        held_s: f64,
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
        /// The queue that serves it; empty when the engine rings the target itself (a
        /// user's phone or an outside number: see `transfer.*`).
        queue: String,
    },
    /// The dialplan hung up.
    #[serde(rename = "ivr.hangup")]
    IvrHangup {},
    /// The call entered a dialplan (chosen by its `entry` rules).
    #[serde(rename = "ivr.start")]
    IvrStart {
        /// The dialplan's name: its file name without `.ivr`.
        dialplan: String,
        /// The block the entry sends calls to.
        block: String,
    },
    /// The caller took a menu branch.
    #[serde(rename = "ivr.menu")]
    IvrMenu {
        /// The dialplan's name.
        dialplan: String,
        /// The menu as the dialplan names it: its prompts, joined by `, `.
        menu: String,
        /// The key pressed, or `default` after the menu's last try.
        choice: String,
    },
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
    /// An outbound campaign was defined over the HTTP API; `definition` is what was posted
    /// (rows included), so the campaign comes back after a restart.
    #[serde(rename = "campaign.defined")]
    CampaignDefined {
        /// The campaign's name.
        campaign: String,
        /// The posted definition.
        definition: Value,
        /// The API token's name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A campaign's run state changed (start, pause, stop, or every row done).
    #[serde(rename = "campaign.state")]
    CampaignStateChanged {
        /// The campaign's name.
        campaign: String,
        /// The new state.
        state: CampaignState,
        /// The API token's name, when asked for over the API.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A campaign placed a call to a row (the envelope's `call` is the call's id).
    #[serde(rename = "campaign.dial")]
    CampaignDial {
        /// The campaign's name.
        campaign: String,
        /// The row, from 0 in list order.
        row: u32,
        /// Attempt number for the row, from 1.
        attempt: u32,
    },
    /// How a campaign attempt ended and what happens to the row.
    #[serde(rename = "campaign.result")]
    CampaignResult {
        /// The campaign's name.
        campaign: String,
        /// The row.
        row: u32,
        /// Attempt number, from 1.
        attempt: u32,
        /// How it ended.
        outcome: CampaignOutcome,
        /// The final SIP status of an unanswered call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        /// The row now.
        row_status: CampaignRowStatus,
        /// When the row is tried again (RFC 3339), for `pending`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_at: Option<String>,
    },
    /// A survey question's answer (digits the callee pressed).
    #[serde(rename = "survey.answer")]
    SurveyAnswer {
        /// The campaign's name.
        campaign: String,
        /// The row.
        row: u32,
        /// The question: the dialplan variable that collected it.
        question: String,
        /// The digits.
        answer: String,
    },
    /// Answering-machine detection decided on an answered predictive campaign call.
    #[serde(rename = "campaign.amd")]
    CampaignAmd {
        /// The campaign's name.
        campaign: String,
        /// `human`, `machine` or `no_speech`.
        verdict: String,
        /// Seconds of the callee's audio the decision took.
        after_s: f64,
    },
}

impl Event {
    /// The stored kind (`call.start`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SystemStart { .. } => "system.start",
            Event::SystemDraining { .. } => "system.draining",
            Event::SystemStop { .. } => "system.stop",
            Event::CallStart(_) => "call.start",
            Event::CallInternal { .. } => "call.internal",
            Event::CallOutbound { .. } => "call.outbound",
            Event::CallAnswer { .. } => "call.answer",
            Event::CallBridge { .. } => "call.bridge",
            Event::CallConnected {} => "call.connected",
            Event::CallRefused { .. } => "call.refused",
            Event::TrunkRefused { .. } => "trunk.refused",
            Event::TrunkFailover { .. } => "trunk.failover",
            Event::CallTransfer { .. } => "call.transfer",
            Event::TransferDial { .. } => "transfer.dial",
            Event::TransferAnswer { .. } => "transfer.answer",
            Event::TransferFail { .. } => "transfer.fail",
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
            Event::CallHold { .. } => "call.hold",
            Event::CallResume { .. } => "call.resume",
            Event::AgentRing {} => "agent.ring",
            Event::AgentRingFailed { .. } => "agent.ring_failed",
            Event::Dtmf { .. } => "dtmf",
            Event::MediaTimeout { .. } => "media.timeout",
            Event::SupervisorJoin { .. } => "supervisor.join",
            Event::SupervisorLeave { .. } => "supervisor.leave",
            Event::IvrTransfer { .. } => "ivr.transfer",
            Event::IvrHangup {} => "ivr.hangup",
            Event::IvrStart { .. } => "ivr.start",
            Event::IvrMenu { .. } => "ivr.menu",
            Event::IvrError { .. } => "ivr.error",
            Event::RecordingStart { .. } => "recording.start",
            Event::RecordingRepaired { .. } => "recording.repaired",
            Event::ScreenpopSent { .. } => "screenpop.sent",
            Event::ScreenpopFailed { .. } => "screenpop.failed",
            Event::DialplanReloaded { .. } => "dialplan.reloaded",
            Event::DialplanRejected { .. } => "dialplan.rejected",
            Event::CampaignDefined { .. } => "campaign.defined",
            Event::CampaignStateChanged { .. } => "campaign.state",
            Event::CampaignDial { .. } => "campaign.dial",
            Event::CampaignResult { .. } => "campaign.result",
            Event::SurveyAnswer { .. } => "survey.answer",
            Event::CampaignAmd { .. } => "campaign.amd",
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
mod schema_doc_tests;
#[cfg(test)]
mod tests;
