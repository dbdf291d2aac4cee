//! What the engine tells the server (outputs and log events) and the shared vocabulary of
//! agent states.

use std::fmt;
use std::time::Duration;

use crate::config::CallbackOrder;
use crate::ids::{AgentId, CallId, PhoneNumber, QueueId};

/// The single, engine-wide state of an agent. Queues refer to agents by id; there is no
/// per-queue copy, so an agent busy anywhere is busy everywhere.
///
/// ```text
///   LoggedOut --login--> Available --offer--> Ringing --answer--> Busy --end--> WrapUp --timer--> Available
///                          |  ^                  | reject: Available           (0 s wrap: Available)
///                          |  |                  | no answer: Paused("rona")
///                          |  +--unpause-- Paused(reason)
///                          +--callback--> Reserved --connected--> Busy
///   any --unreachable--> Unreachable --reachable--> Available
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// Not working; never offered. Agents start here.
    LoggedOut,
    /// Logged in and idle: the only state that receives offers.
    Available,
    /// Held for a callback while the server dials.
    Reserved {
        /// The callback entry.
        call: CallId,
    },
    /// Being offered a call.
    Ringing {
        /// The offered call.
        call: CallId,
    },
    /// On a call of any kind.
    Busy {
        /// The queue call, if the call came from a queue or a callback.
        call: Option<CallId>,
        /// What kind of call.
        kind: BusyKind,
    },
    /// Finishing notes after a queue call.
    WrapUp {
        /// When wrap-up ends.
        until: Duration,
    },
    /// Logged in but not taking calls.
    Paused {
        /// Why (`rona` after a ring-no-answer).
        reason: String,
    },
    /// The agent's device is unreachable; never offered until reachable again.
    Unreachable,
}

/// What kind of call an agent is busy on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusyKind {
    /// A call offered by a queue.
    Queue,
    /// A callback placed for a queue.
    Callback,
    /// A call outside the queues: dialled directly to the agent, or placed by the agent
    /// (an internal call, a consultation, a supervision call).
    Direct,
    /// A transferred call.
    Transfer,
    /// An outbound call the agent placed.
    Outbound,
}

/// A wait as people say it, always at or above the bound it rounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spoken {
    /// "less than a minute"
    LessThanMinute,
    /// "about N minutes"
    AboutMinutes(u32),
    /// No estimate: nobody is serving the queue.
    Unknown,
}

impl Spoken {
    /// Round a bound up the way people speak: whole minutes up to 10, then 5-minute steps
    /// up to 30, then 10-minute steps.
    pub fn from_bound(bound: Option<Duration>) -> Spoken {
        let Some(b) = bound else {
            return Spoken::Unknown;
        };
        let s = b.as_secs_f64();
        if s < 60.0 {
            return Spoken::LessThanMinute;
        }
        let m = (s / 60.0).ceil() as u32;
        let step = match m {
            0..=10 => 1,
            11..=30 => 5,
            _ => 10,
        };
        Spoken::AboutMinutes(m.div_ceil(step) * step)
    }
}

impl fmt::Display for Spoken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spoken::LessThanMinute => f.write_str("less than a minute"),
            Spoken::AboutMinutes(1) => f.write_str("about 1 minute"),
            Spoken::AboutMinutes(n) => write!(f, "about {n} minutes"),
            Spoken::Unknown => f.write_str("unknown"),
        }
    }
}

/// Why a call left (or never entered) a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// Waited the maximum; route the caller to `target`.
    MaxWait {
        /// Dialplan target.
        target: String,
    },
    /// The caller pressed the queue's exit key.
    ExitKey {
        /// The key pressed.
        key: char,
    },
    /// Join refused: the queue is at its maximum length.
    QueueFull,
    /// Join refused, or caller sent out: no member is logged in.
    NoAgents,
    /// Every callback attempt failed; the entry is gone.
    CallbackFailed,
}

/// How an offer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferFailure {
    /// The agent declined (the call is not offered to them again).
    Rejected,
    /// The agent did not answer; treated as RONA (agent paused with reason `rona`).
    NoAnswer,
    /// The agent's device could not be reached; agent becomes unreachable.
    Unreachable,
}

/// Result of a callback attempt, reported by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackResult {
    /// Caller and agent are connected.
    Connected,
    /// The attempt failed (no answer, busy, agent leg failed).
    Failed,
}

/// An instruction or notice for the server. Drain with [`crate::Acd::poll_output`].
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Ring `agent` with `call`.
    Offer {
        /// The call.
        call: CallId,
        /// The agent to ring.
        agent: AgentId,
        /// The queue it comes from.
        queue: QueueId,
    },
    /// Stop ringing `agent` for `call` (someone else answered, RONA, the caller left, ...),
    /// or abort the callback attempt for `call` that had reserved `agent`.
    CancelOffer {
        /// The call.
        call: CallId,
        /// The agent.
        agent: AgentId,
    },
    /// Tell the caller their position and estimated wait.
    Announce {
        /// The call.
        call: CallId,
        /// The queue.
        queue: QueueId,
        /// 1 = next to be served.
        position: usize,
        /// Conservative (about 80th percentile) wait bound; `None` when nobody serves the queue.
        ewt_bound: Option<Duration>,
        /// The bound rounded for speech.
        spoken: Spoken,
        /// When the announcement was due: the deadline of its periodic timer, or the
        /// join time for the one made on joining (the driver measures lateness from it).
        due: Duration,
    },
    /// The call leaves the engine; the server routes it on (or refuses the join).
    Exit {
        /// The call.
        call: CallId,
        /// The queue it left.
        queue: QueueId,
        /// Why.
        reason: ExitReason,
    },
    /// The call moved to the reserve queue `to`; it keeps its priority and order key.
    Overflow {
        /// The call.
        call: CallId,
        /// Old queue.
        from: QueueId,
        /// New queue.
        to: QueueId,
    },
    /// Place a callback: `agent` is reserved; dial per `order`, then report with
    /// [`crate::Acd::handle_callback_result`].
    Callback {
        /// The virtual entry.
        call: CallId,
        /// The queue.
        queue: QueueId,
        /// Number to dial.
        number: PhoneNumber,
        /// Reserved agent.
        agent: AgentId,
        /// Which leg first.
        order: CallbackOrder,
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// Something for the log.
    Log(Event),
}

/// How a waiting episode ended, for the prediction log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered by an agent (or callback connected).
    Answered,
    /// The caller hung up.
    Abandoned,
    /// Left by max wait, exit key, no agents or callback failure.
    Exited(ExitReason),
    /// Moved to another queue.
    Overflowed(QueueId),
    /// Caller asked for a callback (the wait continues virtually).
    CallbackRequested,
}

/// Log events. Phone numbers never appear here.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A caller joined a queue at a position.
    Joined {
        /// The call.
        call: CallId,
        /// The queue.
        queue: QueueId,
        /// Position at join.
        position: usize,
        /// True when the old place was restored (abandoned-resume).
        resumed: bool,
    },
    /// A wait prediction was announced.
    Predicted {
        /// The call.
        call: CallId,
        /// The queue.
        queue: QueueId,
        /// Position announced.
        position: usize,
        /// Bound announced.
        bound: Option<Duration>,
        /// How long the caller had already waited.
        waited: Duration,
    },
    /// A waiting episode ended: compare with the predictions logged for the same call.
    Waited {
        /// The call.
        call: CallId,
        /// The queue.
        queue: QueueId,
        /// Actual wait.
        waited: Duration,
        /// How it ended.
        outcome: Outcome,
    },
    /// An agent's state changed.
    AgentState {
        /// The agent.
        agent: AgentId,
        /// New state.
        state: AgentState,
    },
    /// Ring-no-answer: the agent was paused and the call re-offered.
    Rona {
        /// The agent.
        agent: AgentId,
        /// The call.
        call: CallId,
    },
    /// The RONA recovery policy ([`AcdConfig::rona_unpause_after`](crate::AcdConfig)) ended
    /// an agent's `rona` pause; an `AgentState` event follows.
    RonaUnpaused {
        /// The agent.
        agent: AgentId,
        /// How long the agent stayed paused.
        after: Duration,
    },
    /// The agent stopped (or resumed) taking calls from one of its configured queues.
    QueueMembership {
        /// The agent.
        agent: AgentId,
        /// The queue.
        queue: QueueId,
        /// `true`: logged into the queue; `false`: logged out of it.
        active: bool,
    },
}
