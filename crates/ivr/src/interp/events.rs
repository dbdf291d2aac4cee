//! What goes into the interpreter and what comes out: the [`Event`]s a driver feeds it, the
//! [`Action`]s it asks the driver to carry out, and the data they carry (call attributes,
//! queue requests and outcomes, HTTP errors).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use crate::ast::{HttpMethod, Lang, TransferKind};
use crate::program::Value;

/// Attributes the flow gives the call, passed on to the queue or transfer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallAttrs {
    /// Tenant (client) the call belongs to.
    pub tenant: Option<String>,
    /// Priority (higher is served first); 0 by default.
    pub priority: i32,
    /// Skills the agent must have.
    pub skills: Vec<String>,
    /// Data shown to the agent when the call arrives.
    pub screen_pop: BTreeMap<String, String>,
    /// The caller's language.
    pub language: Option<Lang>,
}

/// Why an HTTP lookup failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HttpError {
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// A non-2xx status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// Connection problems.
    #[error("network error: {0}")]
    Network(String),
    /// The body wasn't JSON.
    #[error("the answer is not JSON")]
    BadJson,
}

/// How a call left a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOutcome {
    /// An agent answered: the flow is finished.
    Answered,
    /// `max_wait` passed.
    MaxWait,
    /// The caller pressed the exit key.
    ExitKey,
    /// The caller accepted a callback: the flow is finished.
    CallbackAccepted,
    /// The queue could not take the call (unknown, closed, full).
    Failed,
}

/// Inputs to the interpreter.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The call arrived. `now` is the wall-clock time used for time-of-day routing.
    Started {
        /// Wall-clock time of the call's start.
        now: DateTime<FixedOffset>,
        /// Dialled number (DNIS).
        to: String,
        /// Caller ID.
        from: String,
    },
    /// The caller pressed a key (0-9, `*`, `#`).
    Digit(char),
    /// The digit-collection timeout passed.
    Timeout,
    /// The last `Play`/`Say` finished.
    PromptFinished,
    /// Answer to an `HttpRequest`.
    HttpResult {
        /// The request's id.
        id: u64,
        /// JSON body or error.
        result: Result<serde_json::Value, HttpError>,
    },
    /// The call left the queue.
    QueueResult(QueueOutcome),
    /// Answer to a `ScheduleCallback`: whether the engine took it.
    CallbackResult {
        /// The request's id.
        id: u64,
        /// Taken (false: refused by the number policy, unknown queue, too many pending).
        scheduled: bool,
    },
    /// The caller hung up.
    CallerHangup,
}

/// When a scheduled callback may be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackTime {
    /// At this time (an `at` time, resolved in the dialplan's timezone).
    At(DateTime<FixedOffset>),
    /// This long after the request (the driver's clock).
    After(Duration),
}

/// A request to put the call in a queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueRequest {
    /// Queue name.
    pub queue: String,
    /// Priority (the call's, or the queue statement's).
    pub priority: i32,
    /// Longest wait before `QueueOutcome::MaxWait`.
    pub max_wait: Option<Duration>,
    /// Key that leaves the queue (`QueueOutcome::ExitKey`).
    pub exit_key: Option<char>,
    /// Announce position and expected wait this often.
    pub announce_every: Option<Duration>,
    /// Key that accepts a callback offer.
    pub callback_key: Option<char>,
    /// Prompts whispered to the agent before connecting.
    pub whisper: Vec<String>,
    /// Tenant, skills, screen-pop, language.
    pub attrs: CallAttrs,
}

/// Outputs of the interpreter.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play prompt files `prompts/<lang>/<name>.wav` in order; answer `PromptFinished`.
    Play {
        /// Prompt names.
        prompts: Vec<String>,
        /// Language directory.
        lang: Lang,
    },
    /// Speak a value: already expanded to say-vocabulary prompt names; answer `PromptFinished`.
    Say {
        /// Prompt names.
        prompts: Vec<String>,
        /// Language directory.
        lang: Lang,
    },
    /// Play `prompts` (stop at the first key) and collect keys; answer `Digit`s and `Timeout`.
    CollectDigits {
        /// Prompt names (may be empty).
        prompts: Vec<String>,
        /// Language directory.
        lang: Lang,
        /// Most keys wanted.
        max_digits: u32,
        /// Key that ends input.
        terminator: Option<char>,
        /// Time to wait after the prompt and after each key.
        timeout: Duration,
    },
    /// Make an HTTP request; answer `HttpResult` with this `id`.
    HttpRequest {
        /// Correlates the answer.
        id: u64,
        /// GET/POST.
        method: HttpMethod,
        /// URL.
        url: String,
        /// JSON body for POST.
        body: Option<serde_json::Value>,
        /// Give up after this long (answer `HttpError::Timeout`).
        timeout: Duration,
    },
    /// A variable changed (for logs and the simulator).
    SetVar {
        /// Name.
        name: String,
        /// New value.
        value: Value,
    },
    /// Queue the call; answer `QueueResult`.
    Queue(QueueRequest),
    /// Transfer the call; the flow is finished.
    Transfer {
        /// Extension, agent or external number.
        kind: TransferKind,
        /// Where.
        target: String,
        /// Tenant, skills, screen-pop.
        attrs: CallAttrs,
    },
    /// The caller took a menu branch (nothing to do but log it, for the IVR report):
    /// `menu` names the menu as the dialplan wrote it (its prompts, joined by `, `),
    /// `choice` is the key pressed, or `default` after the last try.
    MenuChoice {
        /// The menu's prompts as written, e.g. `demo-main-menu`.
        menu: String,
        /// `0`-`9`, `*`, `#` or `default`.
        choice: String,
    },
    /// Schedule a callback to `number` from `queue`'s line; answer `CallbackResult`
    /// with this `id`. The call itself goes on.
    ScheduleCallback {
        /// Correlates the answer.
        id: u64,
        /// The number to call (as the dialplan has it; the engine normalises it).
        number: String,
        /// The queue whose agents make the call.
        queue: String,
        /// Not before when; `None`: at once.
        at: Option<CallbackTime>,
    },
    /// Hang up; the flow is finished.
    Hangup,
    /// The flow failed at runtime; the next actions are the fallback.
    RuntimeError {
        /// What went wrong.
        message: String,
        /// `file:line:col` of the statement.
        location: String,
    },
}
