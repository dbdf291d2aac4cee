//! The checked, lowered form of a dialplan set: immutable, shared by every call as `Arc<Program>`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use chrono::NaiveDate;
use chrono_tz::Tz;

use crate::ast::{Currency, Expr, HttpMethod, Lang, SayKind, TransferKind, Type};
use crate::source::{SourceMap, Span};

/// A runtime value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Text.
    Str(String),
    /// Number.
    Num(f64),
    /// Boolean.
    Bool(bool),
}

impl Value {
    /// The type of this value.
    pub fn ty(&self) -> Type {
        match self {
            Value::Str(_) => Type::Str,
            Value::Num(_) => Type::Num,
            Value::Bool(_) => Type::Bool,
        }
    }
    /// The zero value of a type: `""`, `0`, `false`.
    pub fn default_of(t: Type) -> Value {
        match t {
            Type::Str => Value::Str(String::new()),
            Type::Num => Value::Num(0.0),
            Type::Bool => Value::Bool(false),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Num(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// A compiled string pattern.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Equal.
    Exact(String),
    /// Starts with.
    Prefix(String),
    /// Regular expression.
    Regex(regex::Regex),
    /// Member of a `list`.
    InList(String),
}

impl Matcher {
    /// Does `s` match? Lists are looked up in `dp`.
    pub fn matches(&self, s: &str, dp: &Dialplan) -> bool {
        match self {
            Matcher::Exact(x) => s == x,
            Matcher::Prefix(p) => s.starts_with(p.as_str()),
            Matcher::Regex(r) => r.is_match(s),
            Matcher::InList(l) => dp.lists.get(l).is_some_and(|v| v.iter().any(|x| x == s)),
        }
    }
}

/// A compiled `entry` rule.
#[derive(Debug, Clone)]
pub struct EntryRule {
    /// Pattern on the dialled number.
    pub to: Option<Matcher>,
    /// Pattern on the caller ID.
    pub from: Option<Matcher>,
    /// Tenant set when this entry matches.
    pub tenant: Option<String>,
    /// Name of the start block.
    pub block: String,
    /// First instruction.
    pub pc: usize,
}

/// Opening hours.
#[derive(Debug, Clone, Default)]
pub struct Hours {
    /// (first day, last day, open minute, close minute); days 0 = Monday.
    pub ranges: Vec<(u8, u8, u32, u32)>,
    /// Holiday calendars on which it is closed.
    pub closed_on: Vec<String>,
}

/// A `menu`, lowered.
#[derive(Debug, Clone)]
pub struct MenuOp {
    /// Prompts.
    pub prompts: Vec<String>,
    /// Seconds to wait for a key.
    pub timeout: f64,
    /// Total offers before `default`.
    pub tries: u32,
    /// Key → first instruction of its branch.
    pub choices: Vec<(char, usize)>,
    /// `invalid` handler.
    pub invalid: Option<usize>,
    /// `timeout` handler.
    pub on_timeout: Option<usize>,
    /// `default` branch, or the instruction after the menu.
    pub default: usize,
}

/// A `callback` statement, lowered.
#[derive(Debug, Clone)]
pub struct CallbackOp {
    /// The number (text).
    pub number: Expr,
    /// The queue.
    pub queue: String,
    /// Not before when.
    pub when: Option<crate::ast::CallbackWhen>,
    /// First instruction of the fallback, or `None` to continue.
    pub fallback: Option<usize>,
}

/// An `http` lookup, lowered.
#[derive(Debug, Clone)]
pub struct HttpOp {
    /// GET/POST.
    pub method: HttpMethod,
    /// URL.
    pub url: Expr,
    /// JSON body fields.
    pub body: Vec<(String, Expr)>,
    /// Seconds.
    pub timeout: f64,
    /// (variable, type, JSON path).
    pub results: Vec<(String, Type, String)>,
    /// First instruction of the fallback, or `None` to continue.
    pub fallback: Option<usize>,
}

/// A `queue`, lowered.
#[derive(Debug, Clone)]
pub struct QueueOp {
    /// Queue name.
    pub name: String,
    /// Priority for this wait.
    pub priority: Option<Expr>,
    /// Longest wait, seconds.
    pub max_wait: Option<f64>,
    /// Where to go when `max_wait` passes (else the next statement).
    pub on_max_wait: Option<usize>,
    /// Exit key and where it leads.
    pub exit: Option<(char, usize)>,
    /// Announcement period, seconds.
    pub announce: Option<f64>,
    /// Callback-offer key.
    pub callback: Option<char>,
    /// Prompts whispered to the agent.
    pub whisper: Vec<String>,
}

/// One instruction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Play prompts.
    Play(Vec<String>),
    /// Say a value.
    Say(SayKind, Expr, bool, Option<Currency>),
    /// Offer a menu.
    Menu(Box<MenuOp>),
    /// After an `invalid`/`timeout` handler of the menu at this pc: offer it again or go on.
    MenuRetry(usize),
    /// Collect digits into a variable.
    Collect {
        /// Variable.
        var: String,
        /// Max digits.
        max: u32,
        /// Prompts.
        prompts: Vec<String>,
        /// Terminator key.
        terminator: Option<char>,
        /// Seconds per key.
        timeout: f64,
    },
    /// Assign.
    Set(String, Expr),
    /// Jump if the condition is false.
    JumpUnless(Expr, usize),
    /// Jump.
    Jump(usize),
    /// Match a string against patterns.
    Match(Expr, Vec<(Matcher, usize)>, usize),
    /// Call a sub.
    Call(usize, String),
    /// Return from a sub.
    Return,
    /// HTTP lookup.
    Http(Box<HttpOp>),
    /// Set the priority.
    Priority(Expr),
    /// Set the tenant.
    Tenant(Expr),
    /// Require a skill.
    Skill(Expr),
    /// Add screen-pop data.
    ScreenPop(String, Expr),
    /// Switch language.
    Language(Lang),
    /// Queue the call.
    Queue(Box<QueueOp>),
    /// Transfer.
    Transfer(TransferKind, Expr),
    /// Ask the engine for a callback.
    Callback(Box<CallbackOp>),
    /// Hang up.
    Hangup,
    /// The end of a block was reached: hang up.
    EndOfBlock(String),
}

/// One top-level dialplan file with its includes, checked and lowered.
#[derive(Debug, Clone)]
pub struct Dialplan {
    /// Name (the file name without `.ivr`).
    pub name: String,
    /// Time zone for time-of-day routing.
    pub timezone: Tz,
    /// Language a call starts in.
    pub language: Lang,
    /// May transfer to external numbers.
    pub allow_external: bool,
    /// Queue used after a runtime error.
    pub fallback_queue: String,
    /// Entries in order.
    pub entries: Vec<EntryRule>,
    /// Instructions.
    pub ops: Vec<Op>,
    /// Source span of each instruction.
    pub spans: Vec<Span>,
    /// Block and sub names → first instruction.
    pub labels: BTreeMap<String, usize>,
    /// Lists.
    pub lists: HashMap<String, Vec<String>>,
    /// Holiday calendars.
    pub holidays: HashMap<String, BTreeSet<NaiveDate>>,
    /// Opening hours.
    pub hours: HashMap<String, Hours>,
    /// Types of user variables.
    pub var_types: HashMap<String, Type>,
}

/// Default queue for calls whose flow failed at runtime.
pub const DEFAULT_FALLBACK_QUEUE: &str = "operator";

/// An immutable set of checked dialplans plus their sources (for runtime error locations).
#[derive(Debug, Clone, Default)]
pub struct Program {
    /// Dialplans in file-name order; entries are tried in this order.
    pub dialplans: Vec<Dialplan>,
    /// Source files, for locations in runtime errors.
    pub sources: SourceMap,
}

/// The result of routing a new call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Index into [`Program::dialplans`].
    pub dialplan: usize,
    /// Index into that dialplan's entries.
    pub entry: usize,
}

impl Program {
    /// Find the first entry (in file-name order, then source order) matching the dialled
    /// number and caller ID.
    pub fn route(&self, to: &str, from: &str) -> Option<Route> {
        for (di, dp) in self.dialplans.iter().enumerate() {
            for (ei, e) in dp.entries.iter().enumerate() {
                let to_ok = e.to.as_ref().is_none_or(|m| m.matches(to, dp));
                let from_ok = e.from.as_ref().is_none_or(|m| m.matches(from, dp));
                if to_ok && from_ok {
                    return Some(Route {
                        dialplan: di,
                        entry: ei,
                    });
                }
            }
        }
        None
    }

    /// A dialplan by name.
    pub fn dialplan(&self, name: &str) -> Option<&Dialplan> {
        self.dialplans.iter().find(|d| d.name == name)
    }
}
