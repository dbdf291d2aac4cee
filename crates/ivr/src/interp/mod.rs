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
//! | `ScheduleCallback` | `CallbackResult` with the same `id` (taken or refused)            |
//! | `SetVar`, `RuntimeError` | nothing (information for logs and screen-pops)             |
//! | `Transfer`, `Hangup` | nothing: the flow is finished                                  |
//!
//! A `CollectDigits` ends when the interpreter emits its next action. The caller hanging up
//! is `CallerHangup`. Every event is handled within a bounded number of steps; a flow that
//! loops without waiting for the caller, recurses too deep or fails at runtime emits
//! `RuntimeError` and goes to the dialplan's fallback queue (`operator` unless
//! `fallback queue NAME` says otherwise), never leaving a call stuck.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

mod eval;
mod events;
mod execute;
mod json;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};

use crate::ast::Lang;
use crate::program::{Dialplan, Op, Program, Value};

pub use events::{Action, CallAttrs, CallbackTime, Event, HttpError, QueueOutcome, QueueRequest};
pub use json::json_get;

/// Most instructions run for one event before the flow counts as looping.
pub const MAX_STEPS_PER_EVENT: u32 = 10_000;
/// Deepest `call` nesting.
pub const MAX_CALL_DEPTH: usize = 32;
/// Most keys remembered when the caller types ahead.
pub const MAX_TYPEAHEAD: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Wait {
    NotStarted,
    Prompt,
    Menu { pc: usize, attempt: u32 },
    Collect { pc: usize, digits: String },
    Http { id: u64 },
    Callback { id: u64 },
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
///   callback -> Callback --CallbackResult(id)-----+
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
    /// Data the call brings (a campaign row's fields), read with `field("name")`.
    fields: BTreeMap<String, String>,
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
            fields: BTreeMap::new(),
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
            Event::CallbackResult { id, scheduled } => {
                if self.wait == (Wait::Callback { id }) {
                    self.callback_result(scheduled);
                }
            }
            Event::QueueResult(outcome) => {
                if let Wait::Queue { pc } = self.wait {
                    self.queue_result(pc, outcome);
                }
            }
        }
    }

    /// Gives the call data read with `field("name")` (a campaign row's number, name and
    /// custom fields); a field not given reads as `""`. Call before starting.
    pub fn set_fields(&mut self, fields: BTreeMap<String, String>) {
        self.fields = fields;
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

    /// Says which branch of menu `m` the caller took ([`Action::MenuChoice`]).
    pub(super) fn menu_chosen(&mut self, m: &crate::program::MenuOp, choice: String) {
        self.out.push_back(Action::MenuChoice {
            menu: m.prompts.join(", "),
            choice,
        });
    }

    fn menu_digit(&mut self, pc: usize, attempt: u32, d: char) {
        let Some(m) = self.menu_at(pc) else { return };
        match m.choices.iter().find(|(k, _)| *k == d) {
            Some((_, target)) => {
                self.menu_retry = None;
                self.pc = *target;
                self.menu_chosen(&m, d.to_string());
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
            self.menu_chosen(&m, "default".to_string());
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

    fn callback_result(&mut self, scheduled: bool) {
        let Some(Op::Callback(c)) = self.dialplan().and_then(|dp| dp.ops.get(self.pc)).cloned()
        else {
            return;
        };
        self.pc = if scheduled {
            self.pc + 1
        } else {
            c.fallback.unwrap_or(self.pc + 1)
        };
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
}

/// `HH:MM` (24-hour) as a time of day.
pub fn parse_time_of_day(s: &str) -> Option<chrono::NaiveTime> {
    let (h, m) = s.split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    chrono::NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}
