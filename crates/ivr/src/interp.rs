//! The interpreter: one call's way through a dialplan, as a state machine that does no I/O.
//!
//! # Driving it
//!
//! ```text
//! let mut ivr = Interpreter::new(program.clone());          // Arc<Program>: this call's version
//! ivr.handle_event(Event::Started { now, to, from });
//! loop {
//!     while let Some(action) = ivr.poll_action() { carry it out }
//!     if ivr.is_finished() { break }
//!     wait for the next thing the current action asked for, then ivr.handle_event(..)
//! }
//! ```
//!
//! Which event each action waits for:
//!
//! | Action           | The driver answers with                                           |
//! |------------------|-------------------------------------------------------------------|
//! | `Play`, `Say`    | `PromptFinished` when the audio is done (digits meanwhile: `Digit`) |
//! | `CollectDigits`  | `Digit` per key (the prompt stops at the first); `Timeout` when `timeout` passes after the prompt or the last key |
//! | `HttpRequest`    | `HttpResult` with the same `id`                                    |
//! | `Queue`          | `QueueResult` when the call leaves the queue                       |
//! | `SetVar`, `RuntimeError` | nothing (information for logs and screen-pops)             |
//! | `Transfer`, `Hangup` | nothing: the flow is finished                                  |
//!
//! A `CollectDigits` ends when the interpreter emits its next action. The caller hanging up
//! is `CallerHangup`. Every event is handled within a bounded number of steps; a flow that
//! loops without waiting for the caller, recurses too deep or fails at runtime emits
//! `RuntimeError` and goes to the dialplan's fallback queue (`operator` unless
//! `fallback queue NAME` says otherwise), never leaving a call stuck.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

use crate::ast::{BinOp, Currency, Expr, ExprKind, HttpMethod, Lang, SayKind, TransferKind, Type};
use crate::program::{Dialplan, Op, Program, Value};
use crate::say::{self, Gender};

/// Most instructions run for one event before the flow counts as looping.
pub const MAX_STEPS_PER_EVENT: u32 = 10_000;
/// Deepest `call` nesting.
pub const MAX_CALL_DEPTH: usize = 32;
/// Most keys remembered when the caller types ahead.
pub const MAX_TYPEAHEAD: usize = 32;

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
    /// The caller hung up.
    CallerHangup,
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

#[derive(Debug, Clone, PartialEq)]
enum Wait {
    NotStarted,
    Prompt,
    Menu { pc: usize, attempt: u32 },
    Collect { pc: usize, digits: String },
    Http { id: u64 },
    Queue { pc: Option<usize> },
    Done,
}

/// One call's run through a dialplan. See the module docs for how to drive it.
///
/// What the call waits for (the private `Wait` state):
///
/// ```text
///  NotStarted --Started--> running ----------------------------------> Done
///                           |  ^      (hangup, transfer, end of block,
///   Play/Say -> Prompt -----+  |       no entry, answered, callback)
///   menu/collect -> Menu/Collect --Digit/Timeout--+
///   http -> Http --HttpResult(id)-----------------+
///   queue -> Queue --QueueResult------------------+
/// ```
///
/// "running" executes at most [`MAX_STEPS_PER_EVENT`] instructions before it must wait;
/// a runtime error leads to the fallback queue, whose failure leads to `Done`.
#[derive(Debug)]
pub struct Interpreter {
    program: Arc<Program>,
    dp: usize,
    pc: usize,
    wait: Wait,
    stack: Vec<usize>,
    vars: BTreeMap<String, Value>,
    attrs: CallAttrs,
    language: Lang,
    now: Option<DateTime<FixedOffset>>,
    caller: String,
    dialled: String,
    out: VecDeque<Action>,
    typeahead: VecDeque<char>,
    menu_retry: Option<(usize, u32)>,
    prompt_prefix: Vec<String>,
    in_fallback: bool,
    next_http_id: u64,
    collect_seq: u64,
    block: Option<String>,
}

impl Interpreter {
    /// The queue this call's dialplan sends calls to when the flow cannot go on (its
    /// `fallback queue`, else the default).
    pub fn fallback_queue(&self) -> String {
        self.dialplan()
            .map(|d| d.fallback_queue.clone())
            .unwrap_or_else(|| crate::program::DEFAULT_FALLBACK_QUEUE.to_string())
    }

    /// A new call on this program version. Nothing happens until [`Event::Started`].
    pub fn new(program: Arc<Program>) -> Interpreter {
        Interpreter {
            program,
            dp: 0,
            pc: 0,
            wait: Wait::NotStarted,
            stack: Vec::new(),
            vars: BTreeMap::new(),
            attrs: CallAttrs::default(),
            language: Lang::En,
            now: None,
            caller: String::new(),
            dialled: String::new(),
            out: VecDeque::new(),
            typeahead: VecDeque::new(),
            menu_retry: None,
            prompt_prefix: Vec::new(),
            in_fallback: false,
            next_http_id: 1,
            collect_seq: 0,
            block: None,
        }
    }

    /// The program version this call runs (kept for the whole call, even after a reload).
    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }
    /// Has the flow ended (hangup, transfer, answered or callback)? Then no more actions come.
    pub fn is_finished(&self) -> bool {
        self.wait == Wait::Done
    }
    /// Is the interpreter waiting for keys (after a `CollectDigits`)?
    pub fn is_collecting(&self) -> bool {
        matches!(self.wait, Wait::Menu { .. } | Wait::Collect { .. })
    }
    /// Counts `CollectDigits` actions emitted so far (tells one collection from the next).
    pub fn collect_seq(&self) -> u64 {
        self.collect_seq
    }
    /// The user variables set so far.
    pub fn vars(&self) -> &BTreeMap<String, Value> {
        &self.vars
    }
    /// The call's attributes so far.
    pub fn attrs(&self) -> &CallAttrs {
        &self.attrs
    }
    /// The current language.
    pub fn language(&self) -> Lang {
        self.language
    }
    /// Name of the dialplan chosen by the entry, once started.
    pub fn dialplan_name(&self) -> Option<&str> {
        if self.wait == Wait::NotStarted {
            return None;
        }
        self.program.dialplans.get(self.dp).map(|d| d.name.as_str())
    }
    /// The block the call entered through.
    pub fn entry_block(&self) -> Option<&str> {
        self.block.as_deref()
    }

    /// Take the next action to carry out. Call until `None` after every `handle_event`.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    /// Feed one event; then drain [`Interpreter::poll_action`]. Events the flow isn't waiting
    /// for are ignored (keys are remembered as type-ahead for the next menu or collect).
    pub fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::Started { now, to, from } => self.start(now, to, from, None),
            Event::CallerHangup => self.wait = Wait::Done,
            Event::Digit(d) => self.digit(d),
            Event::Timeout => match std::mem::replace(&mut self.wait, Wait::Prompt) {
                Wait::Menu { pc, attempt } => {
                    let handler = self.menu_at(pc).and_then(|m| m.on_timeout);
                    self.menu_fail(pc, attempt, handler, "no-input");
                }
                Wait::Collect { pc, digits } => self.finish_collect(pc, digits),
                other => self.wait = other,
            },
            Event::PromptFinished => {
                if self.wait == Wait::Prompt {
                    self.run();
                }
            }
            Event::HttpResult { id, result } => {
                if self.wait == (Wait::Http { id }) {
                    self.http_result(result);
                }
            }
            Event::QueueResult(outcome) => {
                if let Wait::Queue { pc } = self.wait {
                    self.queue_result(pc, outcome);
                }
            }
        }
    }

    /// Start in a named dialplan only (the simulator's `--dialplan`); otherwise like `Started`.
    pub fn start_in(
        &mut self,
        now: DateTime<FixedOffset>,
        to: String,
        from: String,
        dialplan: &str,
    ) {
        self.start(now, to, from, Some(dialplan));
    }

    fn start(&mut self, now: DateTime<FixedOffset>, to: String, from: String, only: Option<&str>) {
        if self.wait != Wait::NotStarted {
            return;
        }
        self.now = Some(now);
        let route = match only {
            Some(name) => self
                .program
                .dialplans
                .iter()
                .position(|d| d.name == name)
                .and_then(|di| {
                    let dp = self.program.dialplans.get(di)?;
                    let ei = dp.entries.iter().position(|e| {
                        e.to.as_ref().is_none_or(|m| m.matches(&to, dp))
                            && e.from.as_ref().is_none_or(|m| m.matches(&from, dp))
                    })?;
                    Some(crate::program::Route {
                        dialplan: di,
                        entry: ei,
                    })
                }),
            None => self.program.route(&to, &from),
        };
        self.caller = from;
        self.dialled = to;
        let Some(route) = route else {
            self.out.push_back(Action::RuntimeError {
                message: "no entry matches the dialled number and caller ID".to_string(),
                location: String::new(),
            });
            self.out.push_back(Action::Hangup);
            self.wait = Wait::Done;
            return;
        };
        let prog = self.program.clone();
        let Some(dp) = prog.dialplans.get(route.dialplan) else {
            return;
        };
        let Some(entry) = dp.entries.get(route.entry) else {
            return;
        };
        self.dp = route.dialplan;
        self.language = dp.language;
        self.attrs.language = Some(dp.language);
        self.attrs.tenant = entry.tenant.clone();
        self.block = Some(entry.block.clone());
        self.pc = entry.pc;
        self.wait = Wait::Prompt;
        self.run();
    }

    fn digit(&mut self, d: char) {
        if !matches!(d, '0'..='9' | '*' | '#') {
            return;
        }
        match std::mem::replace(&mut self.wait, Wait::Prompt) {
            Wait::Menu { pc, attempt } => self.menu_digit(pc, attempt, d),
            Wait::Collect { pc, mut digits } => {
                let (done, _) = self.collect_push(pc, &mut digits, d);
                if done {
                    self.finish_collect(pc, digits);
                } else {
                    self.wait = Wait::Collect { pc, digits };
                }
            }
            other => {
                self.wait = other;
                if matches!(self.wait, Wait::Prompt | Wait::Http { .. })
                    && self.typeahead.len() < MAX_TYPEAHEAD
                {
                    self.typeahead.push_back(d);
                }
            }
        }
    }

    fn dialplan(&self) -> Option<&Dialplan> {
        self.program.dialplans.get(self.dp)
    }

    fn menu_at(&self, pc: usize) -> Option<crate::program::MenuOp> {
        match self.dialplan()?.ops.get(pc)? {
            Op::Menu(m) => Some((**m).clone()),
            _ => None,
        }
    }

    fn location(&self) -> String {
        self.dialplan()
            .and_then(|d| d.spans.get(self.pc))
            .map(|s| self.program.sources.location(*s))
            .unwrap_or_default()
    }

    fn menu_digit(&mut self, pc: usize, attempt: u32, d: char) {
        let Some(m) = self.menu_at(pc) else { return };
        match m.choices.iter().find(|(k, _)| *k == d) {
            Some((_, target)) => {
                self.menu_retry = None;
                self.pc = *target;
                self.run();
            }
            None => self.menu_fail(pc, attempt, m.invalid, "invalid-choice"),
        }
    }

    fn menu_fail(&mut self, pc: usize, attempt: u32, handler: Option<usize>, default_prompt: &str) {
        let n = attempt + 1;
        match handler {
            Some(h) => {
                self.menu_retry = Some((pc, n));
                self.pc = h;
            }
            None => {
                self.prompt_prefix = vec![default_prompt.to_string()];
                self.menu_again(pc, n);
            }
        }
        self.run();
    }

    fn menu_again(&mut self, pc: usize, n: u32) {
        let Some(m) = self.menu_at(pc) else { return };
        if n >= m.tries {
            self.menu_retry = None;
            self.prompt_prefix.clear();
            self.pc = m.default;
        } else {
            self.menu_retry = Some((pc, n));
            self.pc = pc;
        }
    }

    /// Add a key to a collection; returns (finished, used).
    fn collect_push(&self, pc: usize, digits: &mut String, d: char) -> (bool, bool) {
        let Some(Op::Collect {
            max, terminator, ..
        }) = self.dialplan().and_then(|dp| dp.ops.get(pc))
        else {
            return (true, false);
        };
        if Some(d) == *terminator {
            return (true, true);
        }
        digits.push(d);
        (digits.chars().count() as u32 >= *max, true)
    }

    fn finish_collect(&mut self, pc: usize, digits: String) {
        if let Some(Op::Collect { var, .. }) = self.dialplan().and_then(|dp| dp.ops.get(pc)) {
            let var = var.clone();
            self.set_var(var, Value::Str(digits));
        }
        self.pc = pc + 1;
        self.run();
    }

    fn set_var(&mut self, name: String, value: Value) {
        self.out.push_back(Action::SetVar {
            name: name.clone(),
            value: value.clone(),
        });
        self.vars.insert(name, value);
    }

    fn http_result(&mut self, result: Result<serde_json::Value, HttpError>) {
        let Some(Op::Http(h)) = self.dialplan().and_then(|dp| dp.ops.get(self.pc)).cloned() else {
            return;
        };
        let values: Option<Vec<(String, Value)>> = result.ok().and_then(|json| {
            h.results
                .iter()
                .map(|(var, ty, path)| json_get(&json, path, *ty).map(|v| (var.clone(), v)))
                .collect()
        });
        match values {
            Some(vals) => {
                for (k, v) in vals {
                    self.set_var(k, v);
                }
                self.pc += 1;
            }
            None => self.pc = h.fallback.unwrap_or(self.pc + 1),
        }
        self.run();
    }

    fn queue_result(&mut self, pc: Option<usize>, outcome: QueueOutcome) {
        let Some(pc) = pc else {
            // The fallback queue itself: nothing more to try.
            if !matches!(
                outcome,
                QueueOutcome::Answered | QueueOutcome::CallbackAccepted
            ) {
                self.out.push_back(Action::Hangup);
            }
            self.wait = Wait::Done;
            return;
        };
        let Some(Op::Queue(q)) = self.dialplan().and_then(|dp| dp.ops.get(pc)).cloned() else {
            return;
        };
        self.pc = match outcome {
            QueueOutcome::Answered | QueueOutcome::CallbackAccepted => {
                self.wait = Wait::Done;
                return;
            }
            QueueOutcome::MaxWait => q.on_max_wait.unwrap_or(pc + 1),
            QueueOutcome::ExitKey => q.exit.map(|(_, t)| t).unwrap_or(pc + 1),
            QueueOutcome::Failed => pc + 1,
        };
        self.wait = Wait::Prompt;
        self.run();
    }

    fn fail(&mut self, message: String) {
        let location = self.location();
        self.out
            .push_back(Action::RuntimeError { message, location });
        if self.in_fallback {
            self.out.push_back(Action::Hangup);
            self.wait = Wait::Done;
            return;
        }
        self.in_fallback = true;
        let queue = self
            .dialplan()
            .map(|d| d.fallback_queue.clone())
            .unwrap_or_else(|| crate::program::DEFAULT_FALLBACK_QUEUE.to_string());
        self.attrs.language = Some(self.language);
        self.out.push_back(Action::Queue(QueueRequest {
            queue,
            priority: self.attrs.priority,
            max_wait: None,
            exit_key: None,
            announce_every: None,
            callback_key: None,
            whisper: Vec::new(),
            attrs: self.attrs.clone(),
        }));
        self.wait = Wait::Queue { pc: None };
    }

    /// Run instructions until the flow waits for something or ends.
    fn run(&mut self) {
        let prog = self.program.clone();
        let Some(dp) = prog.dialplans.get(self.dp) else {
            self.wait = Wait::Done;
            return;
        };
        let mut steps = 0u32;
        loop {
            steps += 1;
            if steps > MAX_STEPS_PER_EVENT {
                self.fail(format!(
                    "the flow ran {MAX_STEPS_PER_EVENT} steps without waiting for the caller (a goto loop?)"
                ));
                return;
            }
            let Some(op) = dp.ops.get(self.pc) else {
                self.fail("the flow jumped outside the program".into());
                return;
            };
            match self.step(dp, op) {
                Ok(true) => continue,
                Ok(false) => return,
                Err(msg) => {
                    self.fail(msg);
                    return;
                }
            }
        }
    }

    /// Execute one instruction. `Ok(true)`: keep going; `Ok(false)`: waiting or done.
    fn step(&mut self, dp: &Dialplan, op: &Op) -> Result<bool, String> {
        let pc = self.pc;
        match op {
            Op::Play(p) => {
                self.pc += 1;
                self.out.push_back(Action::Play {
                    prompts: p.clone(),
                    lang: self.language,
                });
                self.wait = Wait::Prompt;
                Ok(false)
            }
            Op::Say(kind, e, feminine, currency) => {
                let v = self.eval(dp, e)?;
                let prompts = self.say(*kind, &v, *feminine, *currency)?;
                self.pc += 1;
                if prompts.is_empty() {
                    return Ok(true);
                }
                self.out.push_back(Action::Say {
                    prompts,
                    lang: self.language,
                });
                self.wait = Wait::Prompt;
                Ok(false)
            }
            Op::Menu(m) => {
                let attempt = match self.menu_retry.take() {
                    Some((p, n)) if p == pc => n,
                    _ => 0,
                };
                if let Some(d) = self.typeahead.pop_front() {
                    self.prompt_prefix.clear();
                    self.wait = Wait::Prompt;
                    self.menu_digit_inline(dp, pc, attempt, d);
                    return Ok(true);
                }
                let mut prompts = std::mem::take(&mut self.prompt_prefix);
                prompts.extend(m.prompts.iter().cloned());
                self.collect_seq += 1;
                self.out.push_back(Action::CollectDigits {
                    prompts,
                    lang: self.language,
                    max_digits: 1,
                    terminator: None,
                    timeout: secs(m.timeout),
                });
                self.wait = Wait::Menu { pc, attempt };
                Ok(false)
            }
            Op::MenuRetry(mpc) => {
                let n = match self.menu_retry.take() {
                    Some((p, n)) if p == *mpc => n,
                    _ => u32::MAX,
                };
                self.menu_again(*mpc, n);
                Ok(true)
            }
            Op::Collect {
                prompts,
                max,
                terminator,
                timeout,
                ..
            } => {
                let mut digits = String::new();
                let mut typed = false;
                while let Some(d) = self.typeahead.pop_front() {
                    typed = true;
                    let (done, _) = self.collect_push(pc, &mut digits, d);
                    if done {
                        self.finish_collect_inline(pc, digits);
                        return Ok(true);
                    }
                }
                self.collect_seq += 1;
                self.out.push_back(Action::CollectDigits {
                    prompts: if typed { Vec::new() } else { prompts.clone() },
                    lang: self.language,
                    max_digits: max.saturating_sub(digits.chars().count() as u32),
                    terminator: *terminator,
                    timeout: secs(*timeout),
                });
                self.wait = Wait::Collect { pc, digits };
                Ok(false)
            }
            Op::Set(name, e) => {
                let v = self.eval(dp, e)?;
                self.set_var(name.clone(), v);
                self.pc += 1;
                Ok(true)
            }
            Op::JumpUnless(c, target) => {
                self.pc = if self.eval(dp, c)? == Value::Bool(true) {
                    pc + 1
                } else {
                    *target
                };
                Ok(true)
            }
            Op::Jump(t) => {
                self.pc = *t;
                Ok(true)
            }
            Op::Match(subject, arms, other) => {
                let s = match self.eval(dp, subject)? {
                    Value::Str(s) => s,
                    v => v.to_string(),
                };
                self.pc = arms
                    .iter()
                    .find(|(m, _)| m.matches(&s, dp))
                    .map(|(_, t)| *t)
                    .unwrap_or(*other);
                Ok(true)
            }
            Op::Call(target, name) => {
                if self.stack.len() >= MAX_CALL_DEPTH {
                    return Err(format!("`call {name}` nested more than {MAX_CALL_DEPTH} deep (a sub calling itself?)"));
                }
                self.stack.push(pc + 1);
                self.pc = *target;
                Ok(true)
            }
            Op::Return => match self.stack.pop() {
                Some(r) => {
                    self.pc = r;
                    Ok(true)
                }
                None => Err("`return` without a `call`".into()),
            },
            Op::Http(h) => {
                let url = self.request_url(dp, &h.url)?;
                let body = if h.body.is_empty() && h.method == HttpMethod::Get {
                    None
                } else {
                    let mut m = serde_json::Map::new();
                    for (k, e) in &h.body {
                        m.insert(k.clone(), to_json(&self.eval(dp, e)?));
                    }
                    Some(serde_json::Value::Object(m))
                };
                let id = self.next_http_id;
                self.next_http_id += 1;
                self.out.push_back(Action::HttpRequest {
                    id,
                    method: h.method,
                    url,
                    body,
                    timeout: secs(h.timeout),
                });
                self.wait = Wait::Http { id };
                Ok(false)
            }
            Op::Priority(e) => {
                self.attrs.priority = clamp_i32(self.num(dp, e)?);
                self.pc += 1;
                Ok(true)
            }
            Op::Tenant(e) => {
                self.attrs.tenant = Some(self.text(dp, e)?);
                self.pc += 1;
                Ok(true)
            }
            Op::Skill(e) => {
                let s = self.text(dp, e)?;
                if !self.attrs.skills.contains(&s) && self.attrs.skills.len() < 64 {
                    self.attrs.skills.push(s);
                }
                self.pc += 1;
                Ok(true)
            }
            Op::ScreenPop(k, e) => {
                let v = match self.eval(dp, e)? {
                    Value::Str(s) => s,
                    v => v.to_string(),
                };
                if self.attrs.screen_pop.len() < 64 || self.attrs.screen_pop.contains_key(k) {
                    self.attrs.screen_pop.insert(k.clone(), v);
                }
                self.pc += 1;
                Ok(true)
            }
            Op::Language(l) => {
                self.language = *l;
                self.attrs.language = Some(*l);
                self.pc += 1;
                Ok(true)
            }
            Op::Queue(q) => {
                let priority = match &q.priority {
                    Some(e) => clamp_i32(self.num(dp, e)?),
                    None => self.attrs.priority,
                };
                self.out.push_back(Action::Queue(QueueRequest {
                    queue: q.name.clone(),
                    priority,
                    max_wait: q.max_wait.map(secs),
                    exit_key: q.exit.map(|(k, _)| k),
                    announce_every: q.announce.map(secs),
                    callback_key: q.callback,
                    whisper: q.whisper.clone(),
                    attrs: self.attrs.clone(),
                }));
                self.wait = Wait::Queue { pc: Some(pc) };
                Ok(false)
            }
            Op::Transfer(kind, e) => {
                let target = self.text(dp, e)?;
                if *kind == TransferKind::External && !dp.allow_external {
                    return Err("this dialplan may not transfer to external numbers".into());
                }
                self.out.push_back(Action::Transfer {
                    kind: *kind,
                    target,
                    attrs: self.attrs.clone(),
                });
                self.wait = Wait::Done;
                Ok(false)
            }
            Op::Hangup | Op::EndOfBlock(_) => {
                self.out.push_back(Action::Hangup);
                self.wait = Wait::Done;
                Ok(false)
            }
        }
    }

    fn menu_digit_inline(&mut self, dp: &Dialplan, pc: usize, attempt: u32, d: char) {
        let Some(Op::Menu(m)) = dp.ops.get(pc) else {
            return;
        };
        match m.choices.iter().find(|(k, _)| *k == d) {
            Some((_, t)) => self.pc = *t,
            None => match m.invalid {
                Some(h) => {
                    self.menu_retry = Some((pc, attempt + 1));
                    self.pc = h;
                }
                None => {
                    self.prompt_prefix = vec!["invalid-choice".to_string()];
                    self.menu_again(pc, attempt + 1);
                }
            },
        }
    }

    fn finish_collect_inline(&mut self, pc: usize, digits: String) {
        if let Some(Op::Collect { var, .. }) = self.dialplan().and_then(|dp| dp.ops.get(pc)) {
            let var = var.clone();
            self.set_var(var, Value::Str(digits));
        }
        self.pc = pc + 1;
    }

    fn say(
        &self,
        kind: SayKind,
        v: &Value,
        feminine: bool,
        currency: Option<Currency>,
    ) -> Result<Vec<String>, String> {
        let lang = self.language;
        let num = |v: &Value| match v {
            Value::Num(n) if n.is_finite() => Ok(*n),
            Value::Str(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or("can't say this text as a number".to_string()),
            other => Err(format!("can't say a {} as a number", other.ty().word())),
        };
        Ok(match kind {
            SayKind::Number => {
                let g = if feminine {
                    Gender::Feminine
                } else {
                    Gender::Masculine
                };
                say::say_number(num(v)?.trunc().clamp(-9e15, 9e15) as i64, lang, g)
            }
            SayKind::Digits => match v {
                Value::Str(s) => say::say_digits(s),
                Value::Num(n) => say::say_digits(&format!("{}", n.trunc().abs())),
                Value::Bool(_) => return Err("can't say true/false as digits".into()),
            },
            SayKind::Money => {
                let c = currency.unwrap_or(match lang {
                    Lang::Ru => Currency::Rub,
                    Lang::En => Currency::Usd,
                });
                say::say_money(num(v)?, c, lang)
            }
            SayKind::Duration => {
                say::say_duration(Duration::from_secs(num(v)?.clamp(0.0, 1e9) as u64), lang)
            }
            SayKind::Time => {
                let s = match v {
                    Value::Str(s) => s.clone(),
                    other => other.to_string(),
                };
                let (h, m) = s
                    .split_once(':')
                    .ok_or("the text is not a time like 09:30".to_string())?;
                let h: u32 = h
                    .trim()
                    .parse()
                    .map_err(|_| "the text is not a time like 09:30".to_string())?;
                let m: u32 = m
                    .trim()
                    .parse()
                    .map_err(|_| "the text is not a time like 09:30".to_string())?;
                if h > 23 || m > 59 {
                    return Err("the text is not a time of day".to_string());
                }
                say::say_time(h, m, lang)
            }
        })
    }

    fn num(&self, dp: &Dialplan, e: &Expr) -> Result<f64, String> {
        match self.eval(dp, e)? {
            Value::Num(n) => Ok(n),
            v => Err(format!("expected a number, got a {}", v.ty().word())),
        }
    }

    fn text(&self, dp: &Dialplan, e: &Expr) -> Result<String, String> {
        match self.eval(dp, e)? {
            Value::Str(s) => Ok(s),
            v => Ok(v.to_string()),
        }
    }

    /// The URL of an `http` request: the dialplan's literals as written, every value
    /// joined into them percent-encoded (see [`crate::request_url`]).
    fn request_url(&self, dp: &Dialplan, e: &Expr) -> Result<String, String> {
        let mut parts = Vec::new();
        let mut joins_text = |x: &Expr| matches!(self.eval(dp, x), Ok(Value::Str(_)));
        crate::request_url::url_parts(e, &mut joins_text, &mut parts);
        let mut url = String::new();
        for p in parts {
            match p {
                crate::request_url::UrlPart::Literal(s) => url.push_str(s),
                crate::request_url::UrlPart::Value(x) => {
                    crate::request_url::push_component(&mut url, &self.text(dp, x)?)
                }
            }
        }
        Ok(url)
    }

    fn local_now(&self, dp: &Dialplan) -> Option<chrono::DateTime<chrono_tz::Tz>> {
        self.now.map(|n| n.with_timezone(&dp.timezone))
    }

    fn eval(&self, dp: &Dialplan, e: &Expr) -> Result<Value, String> {
        self.eval_depth(dp, e, 0)
    }

    fn eval_depth(&self, dp: &Dialplan, e: &Expr, depth: u32) -> Result<Value, String> {
        if depth > 200 {
            return Err("expression too deep".into());
        }
        let ev = |x: &Expr| self.eval_depth(dp, x, depth + 1);
        Ok(match &e.kind {
            ExprKind::Str(s) => Value::Str(s.clone()),
            ExprKind::Num(n) | ExprKind::Dur(n) => Value::Num(*n),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Var(v) => self.var(dp, v),
            ExprKind::Not(x) => match ev(x)? {
                Value::Bool(b) => Value::Bool(!b),
                v => return Err(format!("`not` needs true/false, got a {}", v.ty().word())),
            },
            ExprKind::Neg(x) => match ev(x)? {
                Value::Num(n) => Value::Num(-n),
                v => return Err(format!("`-` needs a number, got a {}", v.ty().word())),
            },
            ExprKind::Bin(op, l, r) => {
                // Short-circuit and/or.
                if matches!(op, BinOp::And | BinOp::Or) {
                    let lv = ev(l)?;
                    return match (op, lv) {
                        (BinOp::And, Value::Bool(false)) => Ok(Value::Bool(false)),
                        (BinOp::Or, Value::Bool(true)) => Ok(Value::Bool(true)),
                        (_, Value::Bool(_)) => match ev(r)? {
                            Value::Bool(b) => Ok(Value::Bool(b)),
                            v => Err(format!(
                                "`{}` needs true/false, got a {}",
                                op.text(),
                                v.ty().word()
                            )),
                        },
                        (_, v) => Err(format!(
                            "`{}` needs true/false, got a {}",
                            op.text(),
                            v.ty().word()
                        )),
                    };
                }
                binop(*op, ev(l)?, ev(r)?)?
            }
            ExprKind::Call(f, args) => {
                let name = |i: usize| match args.get(i).map(|a| &a.kind) {
                    Some(ExprKind::Var(n)) => Ok(n.as_str()),
                    _ => Err(format!("`{}` needs a name", f.name)),
                };
                match f.name.as_str() {
                    "open" => Value::Bool(self.open(dp, name(0)?)),
                    "holiday" => {
                        let today = self.local_now(dp).map(|t| t.date_naive());
                        let cal = dp.holidays.get(name(0)?);
                        Value::Bool(today.is_some_and(|d| cal.is_some_and(|h| h.contains(&d))))
                    }
                    _ => {
                        let vals = args.iter().map(ev).collect::<Result<Vec<_>, _>>()?;
                        call_fn(&f.name, &vals)?
                    }
                }
            }
        })
    }

    fn open(&self, dp: &Dialplan, hours: &str) -> bool {
        let (Some(t), Some(h)) = (self.local_now(dp), dp.hours.get(hours)) else {
            return false;
        };
        let date = t.date_naive();
        if h.closed_on
            .iter()
            .any(|c| dp.holidays.get(c).is_some_and(|set| set.contains(&date)))
        {
            return false;
        }
        let day = t.weekday().num_days_from_monday() as u8;
        let minute = t.hour() * 60 + t.minute();
        h.ranges.iter().any(|(from, to, open, close)| {
            (*from..=*to).contains(&day) && (*open..*close).contains(&minute)
        })
    }

    fn var(&self, dp: &Dialplan, v: &str) -> Value {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let t = self.local_now(dp);
        match v {
            "caller" => Value::Str(self.caller.clone()),
            "dialled" => Value::Str(self.dialled.clone()),
            "tenant" => Value::Str(self.attrs.tenant.clone().unwrap_or_default()),
            "language" => Value::Str(self.language.code().to_string()),
            "priority" => Value::Num(self.attrs.priority.into()),
            "hour" => Value::Num(t.map(|t| t.hour()).unwrap_or(0).into()),
            "minute" => Value::Num(t.map(|t| t.minute()).unwrap_or(0).into()),
            "weekday" => Value::Str(
                t.and_then(|t| DAYS.get(t.weekday().num_days_from_monday() as usize))
                    .copied()
                    .unwrap_or("mon")
                    .into(),
            ),
            "date" => Value::Str(
                t.map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            ),
            "time" => Value::Str(t.map(|t| t.format("%H:%M").to_string()).unwrap_or_default()),
            _ => match self.vars.get(v) {
                Some(x) => x.clone(),
                None => Value::default_of(dp.var_types.get(v).copied().unwrap_or(Type::Str)),
            },
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 86_400.0))
}

fn clamp_i32(n: f64) -> i32 {
    n.round().clamp(-1_000_000.0, 1_000_000.0) as i32
}

fn binop(op: BinOp, l: Value, r: Value) -> Result<Value, String> {
    use Value::*;
    Ok(match (op, l, r) {
        (BinOp::Add, Str(a), b) => Str(format!("{a}{}", plain(&b))),
        (BinOp::Add, a, Str(b)) => Str(format!("{}{b}", plain(&a))),
        (op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem), Num(a), Num(b)) => {
            let v = match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div if b == 0.0 => return Err("division by zero".into()),
                BinOp::Div => a / b,
                BinOp::Rem if b == 0.0 => return Err("division by zero".into()),
                _ => a % b,
            };
            if !v.is_finite() {
                return Err("the number got too large".into());
            }
            Num(v)
        }
        (BinOp::Eq, a, b) => Bool(a == b),
        (BinOp::Ne, a, b) => Bool(a != b),
        (op @ (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge), a, b) => {
            let ord = match (&a, &b) {
                (Num(x), Num(y)) => x.partial_cmp(y),
                (Str(x), Str(y)) => Some(x.cmp(y)),
                _ => None,
            };
            let Some(ord) = ord else {
                return Err(format!(
                    "can't compare a {} with a {}",
                    a.ty().word(),
                    b.ty().word()
                ));
            };
            Bool(match op {
                BinOp::Lt => ord.is_lt(),
                BinOp::Le => ord.is_le(),
                BinOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        (op, a, b) => {
            return Err(format!(
                "`{}` can't combine a {} and a {}",
                op.text(),
                a.ty().word(),
                b.ty().word()
            ))
        }
    })
}

/// A value as text without quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

fn call_fn(name: &str, args: &[Value]) -> Result<Value, String> {
    use Value::*;
    Ok(match (name, args) {
        ("len", [Str(s)]) => Num(s.chars().count() as f64),
        ("number", [Str(s)]) => Num(s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .unwrap_or(0.0)),
        ("round", [Num(n)]) => Num(n.round()),
        ("string", [v]) => Str(plain(v)),
        ("starts_with", [Str(a), Str(b)]) => Bool(a.starts_with(b.as_str())),
        ("contains", [Str(a), Str(b)]) => Bool(a.contains(b.as_str())),
        _ => return Err(format!("`{name}` can't take these arguments")),
    })
}

fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Num(n) => serde_json::Number::from_f64(*n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Bool(b) => serde_json::Value::Bool(*b),
    }
}

/// Look a dotted path (`account.balance`, `items.0.name`) up in JSON and convert it.
pub fn json_get(json: &serde_json::Value, path: &str, ty: Type) -> Option<Value> {
    let mut cur = json;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(part)?,
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match (ty, cur) {
        (Type::Str, serde_json::Value::String(s)) => Some(Value::Str(s.clone())),
        (Type::Str, serde_json::Value::Number(n)) => Some(Value::Str(n.to_string())),
        (Type::Num, serde_json::Value::Number(n)) => n.as_f64().map(Value::Num),
        (Type::Num, serde_json::Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Value::Num),
        (Type::Bool, serde_json::Value::Bool(b)) => Some(Value::Bool(*b)),
        _ => None,
    }
}
