//! The offline simulator: runs one call through a dialplan with scripted keys, a fixed clock
//! and canned HTTP answers, and prints what the caller hears and where the call ends.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};

use crate::ast::{HttpMethod, TransferKind};
use crate::check::CheckContext;
use crate::interp::{
    Action, CallAttrs, CallbackTime, Event, HttpError, Interpreter, QueueOutcome, QueueRequest,
};
use crate::loader::{load_paths, LoadError};
use crate::program::{Program, Value};

/// Canned HTTP answers: URL (or URL prefix ending in `*`) → JSON body or error.
///
/// As JSON: `{ "https://crm/balance?phone=%2B7999*": {"balance": 1234.5},
///             "https://crm/down": {"$error": "timeout"} }`. `$error` is `timeout`,
/// `network` or an HTTP status such as `500`. A URL with no fixture fails with a network error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpFixtures {
    entries: Vec<(String, Result<serde_json::Value, HttpError>)>,
}

impl HttpFixtures {
    /// No fixtures: every request fails.
    pub fn new() -> HttpFixtures {
        HttpFixtures::default()
    }
    /// Read fixtures from a JSON object (see the type docs).
    pub fn from_json(v: &serde_json::Value) -> HttpFixtures {
        let mut f = HttpFixtures::new();
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                let res = match v.get("$error") {
                    Some(e) => {
                        let e = e
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| e.to_string());
                        Err(match e.as_str() {
                            "timeout" => HttpError::Timeout,
                            s => match s.parse::<u16>() {
                                Ok(code) => HttpError::Status(code),
                                Err(_) => HttpError::Network(s.to_string()),
                            },
                        })
                    }
                    None => Ok(v.clone()),
                };
                f.entries.push((k.clone(), res));
            }
        }
        f
    }
    /// Add one fixture.
    pub fn insert(&mut self, url: impl Into<String>, answer: Result<serde_json::Value, HttpError>) {
        self.entries.push((url.into(), answer));
    }
    /// The answer for a URL: an exact match first, then the longest matching `prefix*`.
    pub fn lookup(&self, url: &str) -> Result<serde_json::Value, HttpError> {
        if let Some((_, r)) = self.entries.iter().find(|(k, _)| k == url) {
            return r.clone();
        }
        self.entries
            .iter()
            .filter_map(|(k, r)| {
                k.strip_suffix('*')
                    .filter(|p| url.starts_with(p))
                    .map(|p| (p.len(), r))
            })
            .max_by_key(|(n, _)| *n)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| Err(HttpError::Network("no fixture for this URL".into())))
    }
}

/// One simulated call.
#[derive(Debug, Clone)]
pub struct SimCall {
    /// Dialled number.
    pub to: String,
    /// Caller ID.
    pub from: String,
    /// Keys: groups separated by `,`, each typed when the flow next asks for input;
    /// an empty group is silence (the menu times out).
    pub digits: String,
    /// Wall-clock time of the call.
    pub at: DateTime<FixedOffset>,
    /// HTTP answers.
    pub http: HttpFixtures,
    /// How each successive queue ends (after the list runs out: answered).
    pub queue_results: Vec<QueueOutcome>,
    /// Only route into this dialplan (by name), if set.
    pub dialplan: Option<String>,
    /// The engine refuses every callback the flow asks for (the number policy).
    pub refuse_callbacks: bool,
}

impl SimCall {
    /// A call to `to` from `from` at `at`, with no keys or fixtures.
    pub fn new(
        to: impl Into<String>,
        from: impl Into<String>,
        at: DateTime<FixedOffset>,
    ) -> SimCall {
        SimCall {
            to: to.into(),
            from: from.into(),
            digits: String::new(),
            at,
            http: HttpFixtures::new(),
            queue_results: Vec::new(),
            dialplan: None,
            refuse_callbacks: false,
        }
    }
}

/// Options for [`simulate`]: a dialplan file plus the call.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The dialplan file (its includes are looked up next to it).
    pub file: PathBuf,
    /// The call.
    pub call: SimCall,
    /// Queues and prompts to check against.
    pub ctx: CheckContext,
    /// JSON fixture file, merged into `call.http`.
    pub http_fixture: Option<PathBuf>,
}

/// Where a simulated call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEnd {
    /// Answered by an agent from this queue.
    Queued(QueueRequest),
    /// Accepted a callback in this queue.
    Callback(QueueRequest),
    /// Transferred.
    Transferred {
        /// Kind.
        kind: TransferKind,
        /// Target.
        target: String,
    },
    /// Hung up by the flow.
    HungUp,
    /// Something stopped the simulation.
    Unfinished(String),
}

impl fmt::Display for CallEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallEnd::Queued(q) => write!(f, "queue {}", q.queue),
            CallEnd::Callback(q) => write!(f, "callback {}", q.queue),
            CallEnd::Transferred { kind, target } => {
                write!(f, "transfer {} {}", kind.word(), target)
            }
            CallEnd::HungUp => write!(f, "hangup"),
            CallEnd::Unfinished(why) => write!(f, "unfinished ({why})"),
        }
    }
}

/// What happened in a simulated call. `Display` prints it for operators.
#[derive(Debug, Clone)]
pub struct Transcript {
    /// Human-readable lines.
    pub lines: Vec<String>,
    /// Every prompt name the caller heard, in order.
    pub heard: Vec<String>,
    /// Final values of variables.
    pub vars: BTreeMap<String, Value>,
    /// Final call attributes.
    pub attrs: CallAttrs,
    /// Where the call ended.
    pub end: CallEnd,
    /// Runtime errors.
    pub errors: Vec<String>,
    /// Callbacks the flow asked for: `NUMBER in QUEUE`, then ` at TIME` or ` after Ns`.
    pub callbacks: Vec<String>,
    /// Rendered warnings from loading, if any.
    pub warnings: String,
}

impl fmt::Display for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        writeln!(f, "call ends: {}", self.end)?;
        let a = &self.attrs;
        let mut attrs = vec![format!("priority {}", a.priority)];
        if let Some(t) = &a.tenant {
            attrs.push(format!("tenant {t}"));
        }
        if !a.skills.is_empty() {
            attrs.push(format!("skills {}", a.skills.join(", ")));
        }
        if let Some(l) = a.language {
            attrs.push(format!("language {l}"));
        }
        writeln!(f, "call attributes: {}", attrs.join(" · "))?;
        if !a.screen_pop.is_empty() {
            let sp: Vec<String> = a
                .screen_pop
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(f, "screen-pop: {}", sp.join(", "))?;
        }
        if !self.vars.is_empty() {
            let vs: Vec<String> = self
                .vars
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            writeln!(f, "variables: {}", vs.join(", "))?;
        }
        Ok(())
    }
}

/// Load a dialplan file, check it and simulate one call.
pub fn simulate(opts: &SimOptions) -> Result<Transcript, LoadError> {
    let (program, warnings) = load_paths(std::slice::from_ref(&opts.file), &opts.ctx)?;
    let mut call = opts.call.clone();
    if let Some(p) = &opts.http_fixture {
        let text = std::fs::read_to_string(p).map_err(|source| LoadError::Io {
            path: p.clone(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| LoadError::Invalid {
                errors: 1,
                rendered: format!(
                    "error: the HTTP fixture {} is not valid JSON: {e}\n",
                    p.display()
                ),
            })?;
        let mut merged = HttpFixtures::from_json(&json);
        merged.entries.extend(call.http.entries);
        call.http = merged;
    }
    let mut t = simulate_program(Arc::new(program), &call);
    t.warnings = warnings;
    Ok(t)
}

enum Pending {
    Event(Event),
    Input(u64),
}

/// Most events one simulated call may take.
pub const MAX_SIM_EVENTS: usize = 10_000;

/// Simulate one call on an already-loaded program.
pub fn simulate_program(program: Arc<Program>, call: &SimCall) -> Transcript {
    let mut s = Sim {
        t: Transcript {
            lines: Vec::new(),
            heard: Vec::new(),
            vars: BTreeMap::new(),
            attrs: CallAttrs::default(),
            end: CallEnd::Unfinished("the call never started".into()),
            errors: Vec::new(),
            callbacks: Vec::new(),
            warnings: String::new(),
        },
        pending: VecDeque::new(),
        queue_results: call.queue_results.iter().copied().collect(),
        call,
        last_queue: None,
    };
    let mut ivr = Interpreter::new(program);
    s.t.lines.push(format!(
        "call to {} from {} at {}",
        call.to,
        call.from,
        call.at.format("%Y-%m-%d %H:%M %:z (%a)")
    ));
    let start = Event::Started {
        now: call.at,
        to: call.to.clone(),
        from: call.from.clone(),
    };
    match &call.dialplan {
        Some(d) => ivr.start_in(call.at, call.to.clone(), call.from.clone(), d),
        None => ivr.handle_event(start),
    }
    if let (Some(dp), Some(b)) = (ivr.dialplan_name(), ivr.entry_block()) {
        s.t.lines.push(format!("  entry    {dp}.ivr, block `{b}`"));
    }
    let mut groups: VecDeque<String> = if call.digits.is_empty() {
        VecDeque::new()
    } else {
        call.digits.split(',').map(str::to_string).collect()
    };
    let mut events = 0usize;
    loop {
        s.drain(&mut ivr);
        if ivr.is_finished() {
            break;
        }
        events += 1;
        if events > MAX_SIM_EVENTS {
            s.t.end = CallEnd::Unfinished("the simulation took too many steps".into());
            break;
        }
        let Some(p) = s.pending.pop_front() else {
            s.t.end = CallEnd::Unfinished(
                "the flow is waiting for something the simulator can't give".into(),
            );
            break;
        };
        match p {
            Pending::Event(ev) => ivr.handle_event(ev),
            Pending::Input(seq) => {
                if !(ivr.is_collecting() && ivr.collect_seq() == seq) {
                    continue;
                }
                match groups.pop_front() {
                    Some(g) if !g.is_empty() => {
                        s.t.lines.push(format!("  caller   presses {g}"));
                        for c in g.chars() {
                            ivr.handle_event(Event::Digit(c));
                            s.drain(&mut ivr);
                        }
                        if ivr.is_collecting() && ivr.collect_seq() == seq {
                            s.t.lines.push("  caller   (waits: timeout)".to_string());
                            ivr.handle_event(Event::Timeout);
                        }
                    }
                    _ => {
                        s.t.lines
                            .push("  caller   (presses nothing: timeout)".to_string());
                        ivr.handle_event(Event::Timeout);
                    }
                }
            }
        }
    }
    s.t.vars = ivr.vars().clone();
    s.t.attrs = ivr.attrs().clone();
    s.t
}

struct Sim<'a> {
    t: Transcript,
    pending: VecDeque<Pending>,
    queue_results: VecDeque<QueueOutcome>,
    call: &'a SimCall,
    last_queue: Option<QueueRequest>,
}

impl Sim<'_> {
    fn drain(&mut self, ivr: &mut Interpreter) {
        while let Some(a) = ivr.poll_action() {
            self.action(ivr, a);
        }
    }

    fn action(&mut self, ivr: &Interpreter, a: Action) {
        let t = &mut self.t;
        match a {
            Action::Play { prompts, lang } => {
                t.lines
                    .push(format!("  play     {} [{lang}]", prompts.join(", ")));
                t.heard.extend(prompts);
                self.pending
                    .push_back(Pending::Event(Event::PromptFinished));
            }
            Action::Say { prompts, lang } => {
                t.lines
                    .push(format!("  say      {} [{lang}]", prompts.join(" ")));
                t.heard.extend(prompts);
                self.pending
                    .push_back(Pending::Event(Event::PromptFinished));
            }
            Action::CollectDigits {
                prompts,
                lang,
                max_digits,
                terminator,
                timeout,
            } => {
                let mut l = String::from("  input    ");
                if !prompts.is_empty() {
                    l.push_str(&format!("play {} [{lang}], then ", prompts.join(", ")));
                }
                l.push_str(&format!("wait for up to {max_digits} key(s)"));
                if let Some(k) = terminator {
                    l.push_str(&format!(" ending with {k}"));
                }
                l.push_str(&format!(", {}s each", timeout.as_secs_f64()));
                t.lines.push(l);
                t.heard.extend(prompts);
                self.pending.push_back(Pending::Input(ivr.collect_seq()));
            }
            Action::HttpRequest {
                id,
                method,
                url,
                body,
                ..
            } => {
                let m = match method {
                    HttpMethod::Get => "GET",
                    HttpMethod::Post => "POST",
                };
                let answer = self.call.http.lookup(&url);
                let shown = match &answer {
                    Ok(v) => format!("→ {v}"),
                    Err(e) => format!("→ failed: {e}"),
                };
                let body = body.map(|b| format!(" {b}")).unwrap_or_default();
                t.lines.push(format!("  http     {m} {url}{body} {shown}"));
                self.pending
                    .push_back(Pending::Event(Event::HttpResult { id, result: answer }));
            }
            Action::ScheduleCallback {
                id,
                number,
                queue,
                at,
            } => {
                let mut what = format!("{number} in {queue}");
                match at {
                    Some(CallbackTime::At(t)) => what.push_str(&format!(" at {}", t.to_rfc3339())),
                    Some(CallbackTime::After(d)) => {
                        what.push_str(&format!(" after {}s", d.as_secs()))
                    }
                    None => {}
                }
                let scheduled = !self.call.refuse_callbacks;
                let shown = if scheduled { "scheduled" } else { "refused" };
                t.lines.push(format!("  callback {what} → {shown}"));
                if scheduled {
                    t.callbacks.push(what);
                }
                self.pending
                    .push_back(Pending::Event(Event::CallbackResult { id, scheduled }));
            }
            Action::SetVar { name, value } => t.lines.push(format!("  set      {name} = {value}")),
            // The transcript shows the keys already; the choice is for the live report.
            Action::MenuChoice { .. } => {}
            Action::Queue(q) => {
                let mut opts = vec![format!("priority {}", q.priority)];
                if let Some(w) = q.max_wait {
                    opts.push(format!("max wait {}s", w.as_secs()));
                }
                if let Some(k) = q.exit_key {
                    opts.push(format!("exit key {k}"));
                }
                if let Some(a) = q.announce_every {
                    opts.push(format!("announce every {}s", a.as_secs()));
                }
                if let Some(k) = q.callback_key {
                    opts.push(format!("callback key {k}"));
                }
                if !q.whisper.is_empty() {
                    opts.push(format!("whisper {}", q.whisper.join(", ")));
                }
                let outcome = self
                    .queue_results
                    .pop_front()
                    .unwrap_or(QueueOutcome::Answered);
                t.lines.push(format!(
                    "  queue    {} ({}) → {:?}",
                    q.queue,
                    opts.join(", "),
                    outcome
                ));
                t.end = match outcome {
                    QueueOutcome::Answered => CallEnd::Queued(q.clone()),
                    QueueOutcome::CallbackAccepted => CallEnd::Callback(q.clone()),
                    _ => CallEnd::HungUp,
                };
                self.last_queue = Some(q);
                self.pending
                    .push_back(Pending::Event(Event::QueueResult(outcome)));
            }
            Action::Transfer { kind, target, .. } => {
                t.lines.push(format!("  transfer {} {target}", kind.word()));
                t.end = CallEnd::Transferred { kind, target };
            }
            Action::Hangup => {
                t.lines.push("  hangup".to_string());
                t.end = CallEnd::HungUp;
            }
            Action::RuntimeError { message, location } => {
                t.lines.push(format!("  ERROR    {message} at {location}"));
                t.errors.push(format!("{location}: {message}"));
            }
        }
    }
}
