//! The syntax tree of a dialplan file, with source spans on every node.

use crate::source::Span;

/// A name written in the source (block, variable, queue, list...).
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    /// The name.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A string literal with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct StrLit {
    /// The value, escapes resolved.
    pub value: String,
    /// Where it was written.
    pub span: Span,
}

/// Languages the engine can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    /// English.
    En,
    /// Russian.
    Ru,
}

impl Lang {
    /// Parse `en` / `ru`.
    pub fn from_code(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }
    /// `en` / `ru`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
    /// Every language.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Ru];
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A parsed file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    /// Top-level items in source order.
    pub items: Vec<Item>,
}

/// A top-level item.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// `timezone "Europe/Moscow"`
    Timezone(StrLit),
    /// `language ru` — the language a call starts in.
    Language(Lang, Span),
    /// `allow external` — this dialplan may transfer to external numbers.
    AllowExternal(Span),
    /// `fallback queue operator` — where a call goes after a runtime error.
    Fallback(Ident),
    /// `include "file.ivr"`
    Include(StrLit),
    /// `entry to "100" from prefix "+7" tenant "acme" goto main`
    Entry(Entry),
    /// `list vip = ["+7999...", ...]`
    List(ListDef),
    /// `holidays ru { 2026-01-01 "New Year" ... }`
    Holidays(HolidaysDef),
    /// `hours office { mon-fri 09:00-18:00 ... }`
    Hours(HoursDef),
    /// `block main { ... }`
    Block(BlockDef),
    /// `sub greet { ... }`
    Sub(BlockDef),
}

/// A routing rule choosing the first block of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Pattern on the dialled number (DNIS), if any.
    pub to: Option<Pattern>,
    /// Pattern on the caller ID, if any.
    pub from: Option<Pattern>,
    /// Tenant the call belongs to when this entry matches.
    pub tenant: Option<StrLit>,
    /// The block to start in.
    pub target: Ident,
    /// The whole item.
    pub span: Span,
}

/// A pattern on a string (dialled number, caller ID, any string in `match`).
#[derive(Debug, Clone, PartialEq)]
pub enum Pattern {
    /// Equal to this string.
    Exact(StrLit),
    /// Starts with this string.
    Prefix(StrLit),
    /// Matches this regular expression.
    Regex(StrLit),
    /// Is one of the strings of a `list`.
    InList(Ident),
}

/// `list NAME = [..]`
#[derive(Debug, Clone, PartialEq)]
pub struct ListDef {
    /// Name.
    pub name: Ident,
    /// Members.
    pub items: Vec<StrLit>,
}

/// `holidays NAME { DATE ["note"] ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct HolidaysDef {
    /// Name.
    pub name: Ident,
    /// Dates with optional notes.
    pub days: Vec<(chrono::NaiveDate, Option<StrLit>, Span)>,
}

/// `hours NAME { mon-fri 09:00-18:00 ... closed on HOLIDAYS }`
#[derive(Debug, Clone, PartialEq)]
pub struct HoursDef {
    /// Name.
    pub name: Ident,
    /// Opening ranges.
    pub ranges: Vec<HoursRange>,
    /// Holiday calendars on which these hours are closed.
    pub closed_on: Vec<Ident>,
}

/// One line of `hours`: days (0 = Monday .. 6 = Sunday) and a time range in minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct HoursRange {
    /// First day (0 = Monday).
    pub from_day: u8,
    /// Last day, inclusive.
    pub to_day: u8,
    /// Opening, minutes since midnight.
    pub open: u32,
    /// Closing, minutes since midnight (exclusive).
    pub close: u32,
    /// Where.
    pub span: Span,
}

/// `block NAME { .. }` or `sub NAME { .. }`
#[derive(Debug, Clone, PartialEq)]
pub struct BlockDef {
    /// Name.
    pub name: Ident,
    /// Statements.
    pub body: Vec<Stmt>,
    /// The closing brace (where the flow runs off the end).
    pub end: Span,
}

/// A statement with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    /// What it does.
    pub kind: StmtKind,
    /// Where.
    pub span: Span,
}

/// Kinds of `say`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayKind {
    /// A cardinal number.
    Number,
    /// Digit by digit.
    Digits,
    /// An amount of money.
    Money,
    /// A duration given in seconds.
    Duration,
    /// A clock time given as `"HH:MM"`.
    Time,
}

impl SayKind {
    /// Keyword.
    pub fn word(self) -> &'static str {
        match self {
            SayKind::Number => "number",
            SayKind::Digits => "digits",
            SayKind::Money => "money",
            SayKind::Duration => "duration",
            SayKind::Time => "time",
        }
    }
}

/// Currencies `say money` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Currency {
    /// Russian rubles and kopecks.
    Rub,
    /// US dollars and cents.
    Usd,
}

/// Where a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    /// An internal extension.
    Extension,
    /// A specific agent.
    Agent,
    /// A number outside the PBX (only with `allow external`).
    External,
}

impl TransferKind {
    /// Keyword.
    pub fn word(self) -> &'static str {
        match self {
            TransferKind::Extension => "extension",
            TransferKind::Agent => "agent",
            TransferKind::External => "external",
        }
    }
}

/// HTTP methods for lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST with a JSON body
    Post,
}

/// Types of variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// Text.
    Str,
    /// A number.
    Num,
    /// true/false.
    Bool,
}

impl Type {
    /// Keyword.
    pub fn word(self) -> &'static str {
        match self {
            Type::Str => "string",
            Type::Num => "number",
            Type::Bool => "true/false value",
        }
    }
}

/// Statement kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `play "a", "b"`
    Play(Vec<StrLit>),
    /// `say number x [feminine]`, `say money x [in rub]`...
    Say {
        /// What kind.
        kind: SayKind,
        /// Value.
        expr: Expr,
        /// Feminine forms (ru).
        feminine: bool,
        /// Currency for money.
        currency: Option<Currency>,
    },
    /// `menu "prompt" timeout 5s retries 3 { 1 => ... }`
    Menu(Menu),
    /// `collect var digits 8 prompt "p" terminator "#" timeout 10s`
    Collect(Collect),
    /// `set x = expr`
    Set(Ident, Expr),
    /// `if c { } else if c { } else { }`
    If {
        /// Conditions and bodies.
        branches: Vec<(Expr, Vec<Stmt>)>,
        /// The `else` body.
        otherwise: Option<Vec<Stmt>>,
    },
    /// `match x { prefix "+7" => ..., else => ... }`
    Match {
        /// What is matched.
        subject: Expr,
        /// Arms in order.
        arms: Vec<(Pattern, Vec<Stmt>)>,
        /// The `else` arm.
        otherwise: Option<Vec<Stmt>>,
    },
    /// `goto block`
    Goto(Ident),
    /// `call sub`
    Call(Ident),
    /// `return`
    Return,
    /// `http get url ...`
    Http(Http),
    /// `priority expr`
    Priority(Expr),
    /// `tenant expr`
    Tenant(Expr),
    /// `skill expr`
    Skill(Expr),
    /// `screenpop "key" = expr`
    ScreenPop(StrLit, Expr),
    /// `language ru`
    Language(Lang),
    /// `queue name { options }`
    Queue(Queue),
    /// `transfer extension|agent|external expr`
    Transfer(TransferKind, Expr),
    /// `hangup`
    Hangup,
    /// `callback number queue q [at "09:00" | after 2h] [fallback { ... }]`
    Callback(CallbackStmt),
}

/// `callback callback_number queue support at "09:00" fallback { ... }`: ask the engine
/// to call `number` back from `queue`'s line, not before the given time.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackStmt {
    /// The number to call (text).
    pub number: Expr,
    /// The queue whose agents make the call.
    pub queue: Ident,
    /// Not before when; `None`: as soon as an agent is free.
    pub when: Option<CallbackWhen>,
    /// Run when the engine refuses it (number policy, no such queue, too many pending).
    pub fallback: Option<Vec<Stmt>>,
}

/// When a dialplan callback may be placed.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackWhen {
    /// `at "09:00"` (the next such time in the dialplan's timezone) or an RFC 3339 time.
    At(Expr),
    /// `after 2h`: this long after the statement runs (seconds).
    After(f64),
}

/// A menu.
#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    /// Prompts played (with barge-in) before waiting for a key.
    pub prompts: Vec<StrLit>,
    /// Time to wait for a key after the prompt, seconds.
    pub timeout: Option<f64>,
    /// How many times the menu is offered in total before `default`.
    pub retries: Option<u32>,
    /// `KEY => branch`
    pub choices: Vec<(StrLit, Vec<Stmt>)>,
    /// Run on a key that has no branch, before offering again.
    pub invalid: Option<Vec<Stmt>>,
    /// Run when no key was pressed in time, before offering again.
    pub on_timeout: Option<Vec<Stmt>>,
    /// Run when the caller used up all tries.
    pub default: Option<Vec<Stmt>>,
}

/// `collect` options.
#[derive(Debug, Clone, PartialEq)]
pub struct Collect {
    /// Variable that receives the digits (a string).
    pub var: Ident,
    /// Maximum number of digits.
    pub max_digits: u32,
    /// Prompts played first.
    pub prompts: Vec<StrLit>,
    /// Key that ends input early.
    pub terminator: Option<StrLit>,
    /// Seconds to wait for each key.
    pub timeout: Option<f64>,
}

/// `http` lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Http {
    /// GET or POST.
    pub method: HttpMethod,
    /// URL expression.
    pub url: Expr,
    /// JSON body fields (POST).
    pub body: Vec<(Ident, Expr)>,
    /// Timeout in seconds.
    pub timeout: Option<f64>,
    /// `var = type "json.path"` results.
    pub results: Vec<HttpResultField>,
    /// Run when the request fails, times out or lacks a field.
    pub fallback: Option<Vec<Stmt>>,
}

/// `balance = number "account.balance"`
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResultField {
    /// Variable.
    pub var: Ident,
    /// Expected type.
    pub ty: Type,
    /// Dotted path in the JSON response.
    pub path: StrLit,
}

/// `queue NAME { ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct Queue {
    /// Queue name.
    pub name: Ident,
    /// Options.
    pub opts: Vec<QueueOpt>,
}

/// Options of a `queue` statement.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueOpt {
    /// `priority expr`
    Priority(Expr),
    /// `max_wait 5m [goto block]`
    MaxWait(f64, Option<Ident>, Span),
    /// `exit "0" goto block`
    Exit(StrLit, Ident),
    /// `announce 60s`
    Announce(f64, Span),
    /// `callback "5"`
    Callback(StrLit),
    /// `whisper "prompt"`
    Whisper(StrLit),
}

/// An expression with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    /// `+` (numbers add, strings join)
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `and`
    And,
    /// `or`
    Or,
}

impl BinOp {
    /// Source text.
    pub fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
    /// Binding strength (higher binds tighter).
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Rem => 5,
        }
    }
}

/// Expression kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `"text"`
    Str(String),
    /// `42`, `12.5`
    Num(f64),
    /// `5s` (a number of seconds)
    Dur(f64),
    /// `true` / `false`
    Bool(bool),
    /// A variable.
    Var(String),
    /// `f(a, b)`
    Call(Ident, Vec<Expr>),
    /// `not x`
    Not(Box<Expr>),
    /// `-x`
    Neg(Box<Expr>),
    /// `a op b`
    Bin(BinOp, Box<Expr>, Box<Expr>),
}
