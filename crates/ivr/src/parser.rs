//! Recursive-descent parser from tokens ([`crate::lexer`], cut with nom) to the [`crate::ast`].
//!
//! Total: every input gives a [`File`] or a [`ParseError`]; nesting depth and sizes are
//! bounded so hostile input can't exhaust the stack.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::ast::*;
use crate::lexer::{lex, Tok};
use crate::source::{FileId, Span};

/// Deepest nesting of blocks and expressions accepted.
pub const MAX_DEPTH: u32 = 64;

/// A syntax error, written for operators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub span: Span,
    /// A suggestion, if we have one.
    pub help: Option<String>,
}

/// Parse one file's text.
pub fn parse_file(file: FileId, src: &str) -> Result<File, ParseError> {
    let toks = lex(file, src).map_err(|e| ParseError {
        message: e.message,
        span: e.span,
        help: None,
    })?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    p.file()
}

struct Parser {
    toks: Vec<(Tok, Span)>,
    pos: usize,
    depth: u32,
}

type PResult<T> = Result<T, ParseError>;

const STMT_WORDS: &str = "play, say, menu, collect, set, if, match, goto, call, return, http, \
priority, tenant, skill, screenpop, language, queue, transfer, hangup";

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("the string \"{s}\""),
        Tok::Num(n) => format!("the number {n}"),
        Tok::Dur(_) => "a duration".into(),
        Tok::Date(..) => "a date".into(),
        Tok::Time(_) => "a time".into(),
        Tok::Punct(p) => format!("`{p}`"),
        Tok::Eof => "the end of the file".into(),
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).map(|t| &t.0).unwrap_or(&Tok::Eof)
    }
    fn peek_at(&self, n: usize) -> &Tok {
        self.toks
            .get(self.pos + n)
            .map(|t| &t.0)
            .unwrap_or(&Tok::Eof)
    }
    fn span(&self) -> Span {
        self.toks
            .get(self.pos)
            .or_else(|| self.toks.last())
            .map(|t| t.1)
            .unwrap_or_default()
    }
    fn prev_span(&self) -> Span {
        self.toks
            .get(self.pos.saturating_sub(1))
            .map(|t| t.1)
            .unwrap_or_default()
    }
    fn bump(&mut self) -> (Tok, Span) {
        let t = self
            .toks
            .get(self.pos)
            .cloned()
            .unwrap_or((Tok::Eof, self.span()));
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn err<T>(&self, message: impl Into<String>, help: Option<String>) -> PResult<T> {
        Err(ParseError {
            message: message.into(),
            span: self.span(),
            help,
        })
    }
    fn expected<T>(&self, what: &str) -> PResult<T> {
        self.err(
            format!("expected {what}, found {}", describe(self.peek())),
            None,
        )
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s == w)
    }
    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_punct(&mut self, p: &str) -> bool {
        if self.is_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_word(&mut self, w: &str) -> PResult<Span> {
        if self.eat_word(w) {
            Ok(self.prev_span())
        } else {
            self.expected(&format!("`{w}`"))
        }
    }
    fn expect_punct(&mut self, p: &str) -> PResult<Span> {
        if self.eat_punct(p) {
            Ok(self.prev_span())
        } else {
            self.expected(&format!("`{p}`"))
        }
    }
    fn ident(&mut self, what: &str) -> PResult<Ident> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let (_, span) = self.bump();
                Ok(Ident { name, span })
            }
            _ => self.expected(what),
        }
    }
    fn string(&mut self, what: &str) -> PResult<StrLit> {
        match self.peek().clone() {
            Tok::Str(value) => {
                let (_, span) = self.bump();
                Ok(StrLit { value, span })
            }
            _ => self.expected(what),
        }
    }
    fn duration(&mut self, what: &str) -> PResult<f64> {
        match *self.peek() {
            Tok::Dur(d) => {
                self.bump();
                Ok(d)
            }
            Tok::Num(_) => self.err(
                format!("expected {what} with a unit"),
                Some("write a unit after the number: `5s`, `2m`, `1h` or `500ms`".into()),
            ),
            _ => self.expected(what),
        }
    }
    fn count(&mut self, what: &str) -> PResult<u32> {
        match *self.peek() {
            Tok::Num(n) if n.fract() == 0.0 && (0.0..=1_000_000.0).contains(&n) => {
                self.bump();
                Ok(n as u32)
            }
            _ => self.expected(what),
        }
    }
    fn lang(&mut self) -> PResult<Lang> {
        match self.peek() {
            Tok::Ident(s) => match Lang::from_code(s) {
                Some(l) => {
                    self.bump();
                    Ok(l)
                }
                None => self.err(
                    format!("unknown language `{s}`"),
                    Some("the languages are `en` and `ru`".into()),
                ),
            },
            _ => self.expected("a language (`en` or `ru`)"),
        }
    }
    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!("nested more than {MAX_DEPTH} levels deep"), None);
        }
        Ok(())
    }

    // ---- items ----

    fn file(&mut self) -> PResult<File> {
        let mut items = Vec::new();
        loop {
            while self.eat_punct(";") {}
            if *self.peek() == Tok::Eof {
                return Ok(File { items });
            }
            items.push(self.item()?);
        }
    }

    fn item(&mut self) -> PResult<Item> {
        let start = self.span();
        let Tok::Ident(word) = self.peek().clone() else {
            return self.expected("a top-level item (`entry`, `block`, `sub`, `include`, ...)");
        };
        self.bump();
        match word.as_str() {
            "timezone" => Ok(Item::Timezone(
                self.string("a time zone name such as \"Europe/Moscow\"")?,
            )),
            "language" => Ok(Item::Language(self.lang()?, start.to(self.prev_span()))),
            "allow" => {
                self.expect_word("external")?;
                Ok(Item::AllowExternal(start.to(self.prev_span())))
            }
            "fallback" => {
                self.expect_word("queue")?;
                Ok(Item::Fallback(self.ident("a queue name")?))
            }
            "include" => Ok(Item::Include(self.string("a file name in quotes")?)),
            "entry" => self.entry(start),
            "list" => {
                let name = self.ident("a list name")?;
                self.expect_punct("=")?;
                self.expect_punct("[")?;
                let mut items = Vec::new();
                while !self.eat_punct("]") {
                    items.push(self.string("a string or `]`")?);
                    if !self.eat_punct(",") {
                        self.expect_punct("]")?;
                        break;
                    }
                }
                Ok(Item::List(ListDef { name, items }))
            }
            "holidays" => self.holidays(),
            "hours" => self.hours(),
            "block" | "sub" => {
                let name = self.ident(&format!("a name for the {word}"))?;
                let (body, end) = self.body()?;
                let def = BlockDef { name, body, end };
                Ok(if word == "block" {
                    Item::Block(def)
                } else {
                    Item::Sub(def)
                })
            }
            _ => {
                self.pos -= 1;
                let help = if STMT_WORDS.split(", ").any(|w| w == word) {
                    Some(format!(
                        "`{word}` is a statement: put it inside a `block NAME {{ ... }}`"
                    ))
                } else {
                    Some("a file contains `timezone`, `language`, `include`, `entry`, `list`, `holidays`, `hours`, `block` and `sub`".into())
                };
                self.err(
                    format!("`{word}` can't be used at the top level of a file"),
                    help,
                )
            }
        }
    }

    fn entry(&mut self, start: Span) -> PResult<Item> {
        let mut to = None;
        let mut from = None;
        let mut tenant = None;
        loop {
            if self.eat_word("to") {
                to = Some(self.pattern()?);
            } else if self.eat_word("from") {
                from = Some(self.pattern()?);
            } else if self.eat_word("tenant") {
                tenant = Some(self.string("a tenant name in quotes")?);
            } else if self.eat_word("default") {
            } else {
                break;
            }
        }
        if !self.is_word("goto") {
            return self.err(
                format!(
                    "expected `to`, `from`, `tenant` or `goto`, found {}",
                    describe(self.peek())
                ),
                Some("an entry looks like: entry to \"100\" goto main".into()),
            );
        }
        self.bump();
        let target = self.ident("the name of the block the call starts in")?;
        Ok(Item::Entry(Entry {
            to,
            from,
            tenant,
            span: start.to(target.span),
            target,
        }))
    }

    fn pattern(&mut self) -> PResult<Pattern> {
        if self.eat_word("prefix") {
            Ok(Pattern::Prefix(self.string("a prefix in quotes")?))
        } else if self.eat_word("regex") {
            Ok(Pattern::Regex(
                self.string("a regular expression in quotes")?,
            ))
        } else if self.eat_word("in") {
            Ok(Pattern::InList(self.ident("a list name")?))
        } else if let Tok::Str(_) = self.peek() {
            Ok(Pattern::Exact(self.string("a string")?))
        } else {
            self.expected("a pattern: \"text\", `prefix \"+7\"`, `regex \"^8\"` or `in LIST`")
        }
    }

    fn holidays(&mut self) -> PResult<Item> {
        let name = self.ident("a name for the holiday calendar")?;
        self.expect_punct("{")?;
        let mut days = Vec::new();
        while !self.eat_punct("}") {
            let span = self.span();
            let Tok::Date(y, m, d) = *self.peek() else {
                return self.expected("a date such as 2026-01-01 or `}`");
            };
            let Some(date) = chrono::NaiveDate::from_ymd_opt(y.into(), m.into(), d.into()) else {
                return self.err(format!("{y:04}-{m:02}-{d:02} is not a real date"), None);
            };
            self.bump();
            let note = if let Tok::Str(_) = self.peek() {
                Some(self.string("a note")?)
            } else {
                None
            };
            days.push((date, note, span));
            if days.len() > 10_000 {
                return self.err("too many holidays in one calendar", None);
            }
        }
        Ok(Item::Holidays(HolidaysDef { name, days }))
    }

    fn day(&mut self) -> PResult<u8> {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        if let Tok::Ident(s) = self.peek() {
            if let Some(i) = DAYS.iter().position(|d| d == s) {
                self.bump();
                return Ok(i as u8);
            }
        }
        self.err(
            format!(
                "expected a day of the week, found {}",
                describe(self.peek())
            ),
            Some("days are written mon, tue, wed, thu, fri, sat, sun".into()),
        )
    }

    fn time(&mut self) -> PResult<u32> {
        match *self.peek() {
            Tok::Time(t) if t <= 24 * 60 => {
                self.bump();
                Ok(t)
            }
            Tok::Time(_) => self.err("this time is past 24:00", None),
            _ => self.expected("a time such as 09:00"),
        }
    }

    fn hours(&mut self) -> PResult<Item> {
        let name = self.ident("a name for the opening hours")?;
        self.expect_punct("{")?;
        let mut ranges = Vec::new();
        let mut closed_on = Vec::new();
        while !self.eat_punct("}") {
            if self.eat_word("closed") {
                self.expect_word("on")?;
                closed_on.push(self.ident("the name of a `holidays` calendar")?);
                continue;
            }
            let start = self.span();
            let from_day = self.day()?;
            let to_day = if self.eat_punct("-") {
                self.day()?
            } else {
                from_day
            };
            let open = self.time()?;
            self.expect_punct("-")?;
            let close = self.time()?;
            ranges.push(HoursRange {
                from_day,
                to_day,
                open,
                close,
                span: start.to(self.prev_span()),
            });
            if ranges.len() > 1000 {
                return self.err("too many lines in one `hours`", None);
            }
        }
        Ok(Item::Hours(HoursDef {
            name,
            ranges,
            closed_on,
        }))
    }

    // ---- statements ----

    fn body(&mut self) -> PResult<(Vec<Stmt>, Span)> {
        self.enter()?;
        let open = self.span();
        if !self.eat_punct("{") {
            return self.expected("`{`");
        }
        let mut stmts = Vec::new();
        loop {
            while self.eat_punct(";") {}
            if self.eat_punct("}") {
                break;
            }
            if *self.peek() == Tok::Eof {
                return Err(ParseError {
                    message: "this `{` is never closed".into(),
                    span: open,
                    help: Some("add a `}` at the end of the block".into()),
                });
            }
            stmts.push(self.stmt()?);
        }
        self.depth -= 1;
        Ok((stmts, self.prev_span()))
    }

    /// A `{ body }` or a single statement (used after `=>`).
    fn branch(&mut self) -> PResult<Vec<Stmt>> {
        if matches!(self.peek(), Tok::Punct("}") | Tok::Eof) {
            return self.err(
                "nothing after `=>`",
                Some("say what happens, e.g. `2 => goto support`, or `2 => { ... }` for several lines".into()),
            );
        }
        if self.is_punct("{") {
            Ok(self.body()?.0)
        } else {
            self.enter()?;
            let s = self.stmt()?;
            self.depth -= 1;
            Ok(vec![s])
        }
    }

    fn stmt(&mut self) -> PResult<Stmt> {
        let start = self.span();
        let Tok::Ident(word) = self.peek().clone() else {
            return self.err(
                format!("expected a statement, found {}", describe(self.peek())),
                Some(format!("statements start with one of: {STMT_WORDS}")),
            );
        };
        self.bump();
        let kind = match word.as_str() {
            "play" => StmtKind::Play(self.prompt_list()?),
            "say" => self.say()?,
            "menu" => StmtKind::Menu(self.menu()?),
            "collect" => StmtKind::Collect(self.collect()?),
            "set" => {
                let var = self.ident("a variable name")?;
                if !self.eat_punct("=") {
                    return self.expected("`=`");
                }
                StmtKind::Set(var, self.expr()?)
            }
            "if" => self.if_stmt()?,
            "match" => self.match_stmt()?,
            "goto" => StmtKind::Goto(self.ident("the name of a block")?),
            "call" => StmtKind::Call(self.ident("the name of a sub")?),
            "return" => StmtKind::Return,
            "hangup" => StmtKind::Hangup,
            "http" => StmtKind::Http(self.http()?),
            "priority" => StmtKind::Priority(self.expr()?),
            "tenant" => StmtKind::Tenant(self.expr()?),
            "skill" => StmtKind::Skill(self.expr()?),
            "screenpop" => {
                let key = self.string("a screen-pop field name in quotes")?;
                self.expect_punct("=")?;
                StmtKind::ScreenPop(key, self.expr()?)
            }
            "language" => StmtKind::Language(self.lang()?),
            "queue" => StmtKind::Queue(self.queue()?),
            "transfer" => {
                let kind = if self.eat_word("extension") {
                    TransferKind::Extension
                } else if self.eat_word("agent") {
                    TransferKind::Agent
                } else if self.eat_word("external") {
                    TransferKind::External
                } else {
                    return self.err(
                        format!(
                            "expected `extension`, `agent` or `external`, found {}",
                            describe(self.peek())
                        ),
                        Some("for example: transfer extension \"1001\"".into()),
                    );
                };
                StmtKind::Transfer(kind, self.expr()?)
            }
            _ => {
                self.pos -= 1;
                let help = if self.peek_at(1) == &Tok::Punct("=") {
                    format!("to change a variable write `set {word} = ...`")
                } else {
                    format!("statements start with one of: {STMT_WORDS}")
                };
                return self.err(format!("unknown statement `{word}`"), Some(help));
            }
        };
        Ok(Stmt {
            kind,
            span: start.to(self.prev_span()),
        })
    }

    fn prompt_list(&mut self) -> PResult<Vec<StrLit>> {
        let mut v = vec![self.string("a prompt name in quotes, such as \"welcome\"")?];
        while self.eat_punct(",") {
            v.push(self.string("a prompt name in quotes")?);
            if v.len() > 256 {
                return self.err("too many prompts in one list", None);
            }
        }
        Ok(v)
    }

    fn say(&mut self) -> PResult<StmtKind> {
        let kind = match self.peek() {
            Tok::Ident(s) => match s.as_str() {
                "number" => SayKind::Number,
                "digits" => SayKind::Digits,
                "money" => SayKind::Money,
                "duration" => SayKind::Duration,
                "time" => SayKind::Time,
                _ => return self.say_kind_err(),
            },
            _ => return self.say_kind_err(),
        };
        self.bump();
        let expr = self.expr()?;
        let mut feminine = false;
        let mut currency = None;
        loop {
            if self.eat_word("feminine") {
                feminine = true;
            } else if self.eat_word("in") {
                currency = Some(if self.eat_word("rub") {
                    Currency::Rub
                } else if self.eat_word("usd") {
                    Currency::Usd
                } else {
                    return self.expected("a currency: `rub` or `usd`");
                });
            } else {
                break;
            }
        }
        Ok(StmtKind::Say {
            kind,
            expr,
            feminine,
            currency,
        })
    }

    fn say_kind_err<T>(&self) -> PResult<T> {
        self.err(
            format!("expected what to say, found {}", describe(self.peek())),
            Some(
                "write `say number`, `say digits`, `say money`, `say duration` or `say time`"
                    .into(),
            ),
        )
    }

    fn menu(&mut self) -> PResult<Menu> {
        let prompts = self.prompt_list()?;
        let mut m = Menu {
            prompts,
            timeout: None,
            retries: None,
            choices: Vec::new(),
            invalid: None,
            on_timeout: None,
            default: None,
        };
        loop {
            if self.eat_word("timeout") {
                m.timeout = Some(self.duration("a timeout such as 5s")?);
            } else if self.eat_word("retries") {
                m.retries = Some(self.count("the number of tries, such as 3")?);
            } else {
                break;
            }
        }
        if !self.is_punct("{") {
            return self.err(
                format!("expected `timeout`, `retries` or `{{`, found {}", describe(self.peek())),
                Some("a menu looks like: menu \"main-menu\" timeout 5s retries 3 { 1 => goto sales }".into()),
            );
        }
        self.enter()?;
        let open = self.span();
        self.bump();
        loop {
            while self.eat_punct(";") {}
            if self.eat_punct("}") {
                break;
            }
            let key_span = self.span();
            let key = match self.peek().clone() {
                Tok::Num(n) if n.fract() == 0.0 && (0.0..=9.0).contains(&n) => {
                    Some(format!("{}", n as u32))
                }
                Tok::Str(s) => Some(s),
                Tok::Punct("*") => Some("*".into()),
                Tok::Ident(w) if w == "invalid" || w == "timeout" || w == "default" => {
                    self.bump();
                    self.expect_punct("=>")?;
                    let b = self.branch()?;
                    match w.as_str() {
                        "invalid" => m.invalid = Some(b),
                        "timeout" => m.on_timeout = Some(b),
                        _ => m.default = Some(b),
                    }
                    continue;
                }
                Tok::Eof => {
                    return Err(ParseError {
                        message: "this menu's `{` is never closed".into(),
                        span: open,
                        help: Some("add a `}` after the last choice".into()),
                    })
                }
                _ => None,
            };
            let Some(key) = key else {
                return self.err(
                    format!("expected a key (0-9, \"*\", \"#\"), `invalid`, `timeout`, `default` or `}}`, found {}", describe(self.peek())),
                    None,
                );
            };
            self.bump();
            self.expect_punct("=>")?;
            let b = self.branch()?;
            m.choices.push((
                StrLit {
                    value: key,
                    span: key_span,
                },
                b,
            ));
        }
        self.depth -= 1;
        Ok(m)
    }

    fn collect(&mut self) -> PResult<Collect> {
        let var = self.ident("the variable that receives the digits")?;
        self.expect_word("digits")?;
        let max_digits = self.count("the maximum number of digits")?;
        let mut c = Collect {
            var,
            max_digits,
            prompts: Vec::new(),
            terminator: None,
            timeout: None,
        };
        loop {
            if self.eat_word("prompt") {
                c.prompts = self.prompt_list()?;
            } else if self.eat_word("terminator") {
                c.terminator = Some(self.string("a key in quotes, such as \"#\"")?);
            } else if self.eat_word("timeout") {
                c.timeout = Some(self.duration("a timeout such as 5s")?);
            } else {
                break;
            }
        }
        Ok(c)
    }

    fn if_stmt(&mut self) -> PResult<StmtKind> {
        let mut branches = vec![(self.expr()?, self.body()?.0)];
        let mut otherwise = None;
        while self.eat_word("else") {
            if self.eat_word("if") {
                branches.push((self.expr()?, self.body()?.0));
            } else {
                otherwise = Some(self.body()?.0);
                break;
            }
        }
        Ok(StmtKind::If {
            branches,
            otherwise,
        })
    }

    fn match_stmt(&mut self) -> PResult<StmtKind> {
        let subject = self.expr()?;
        self.enter()?;
        self.expect_punct("{")?;
        let mut arms = Vec::new();
        let mut otherwise = None;
        loop {
            while self.eat_punct(";") {}
            if self.eat_punct("}") {
                break;
            }
            if self.eat_word("else") {
                self.expect_punct("=>")?;
                otherwise = Some(self.branch()?);
                continue;
            }
            let pat = self.pattern()?;
            self.expect_punct("=>")?;
            arms.push((pat, self.branch()?));
        }
        self.depth -= 1;
        Ok(StmtKind::Match {
            subject,
            arms,
            otherwise,
        })
    }

    fn http(&mut self) -> PResult<Http> {
        let method = if self.eat_word("get") {
            HttpMethod::Get
        } else if self.eat_word("post") {
            HttpMethod::Post
        } else {
            return self.expected("`get` or `post`");
        };
        let url = self.expr()?;
        let mut h = Http {
            method,
            url,
            body: Vec::new(),
            timeout: None,
            results: Vec::new(),
            fallback: None,
        };
        loop {
            if self.eat_word("body") {
                self.expect_punct("{")?;
                while !self.eat_punct("}") {
                    let k = self.ident("a field name")?;
                    self.expect_punct(":")?;
                    h.body.push((k, self.expr()?));
                    self.eat_punct(",");
                }
            } else if self.eat_word("timeout") {
                h.timeout = Some(self.duration("a timeout such as 3s")?);
            } else {
                break;
            }
        }
        if self.eat_punct("{") {
            while !self.eat_punct("}") {
                let var = self.ident("a variable name or `}`")?;
                self.expect_punct("=")?;
                let ty = if self.eat_word("string") {
                    Type::Str
                } else if self.eat_word("number") {
                    Type::Num
                } else if self.eat_word("bool") {
                    Type::Bool
                } else {
                    return self.err(
                        format!(
                            "expected `string`, `number` or `bool`, found {}",
                            describe(self.peek())
                        ),
                        Some("for example: balance = number \"account.balance\"".into()),
                    );
                };
                let path = self
                    .string("the field's path in the JSON answer, such as \"account.balance\"")?;
                h.results.push(HttpResultField { var, ty, path });
            }
        }
        if self.eat_word("fallback") {
            h.fallback = Some(self.body()?.0);
        }
        Ok(h)
    }

    fn queue(&mut self) -> PResult<Queue> {
        let name = self.ident("a queue name")?;
        let mut opts = Vec::new();
        if self.eat_punct("{") {
            loop {
                while self.eat_punct(";") {}
                if self.eat_punct("}") {
                    break;
                }
                let start = self.span();
                let Tok::Ident(w) = self.peek().clone() else {
                    return self.expected("a queue option or `}`");
                };
                self.bump();
                let opt = match w.as_str() {
                    "priority" => QueueOpt::Priority(self.expr()?),
                    "max_wait" => {
                        let d = self.duration("the longest wait, such as 5m")?;
                        let target = if self.eat_word("goto") {
                            Some(self.ident("a block name")?)
                        } else {
                            None
                        };
                        QueueOpt::MaxWait(d, target, start.to(self.prev_span()))
                    }
                    "exit" => {
                        let key = self.string("a key in quotes, such as \"0\"")?;
                        self.expect_word("goto")?;
                        QueueOpt::Exit(key, self.ident("a block name")?)
                    }
                    "announce" => {
                        let d = self.duration("how often to announce, such as 60s")?;
                        QueueOpt::Announce(d, start.to(self.prev_span()))
                    }
                    "callback" => {
                        QueueOpt::Callback(self.string("a key in quotes, such as \"5\"")?)
                    }
                    "whisper" => QueueOpt::Whisper(self.string("a prompt name in quotes")?),
                    _ => {
                        self.pos -= 1;
                        return self.err(
                            format!("unknown queue option `{w}`"),
                            Some("queue options are priority, max_wait, exit, announce, callback, whisper".into()),
                        );
                    }
                };
                opts.push(opt);
            }
        }
        Ok(Queue { name, opts })
    }

    // ---- expressions ----

    fn expr(&mut self) -> PResult<Expr> {
        self.enter()?;
        let e = self.binary(1)?;
        self.depth -= 1;
        Ok(e)
    }

    fn peek_binop(&self) -> Option<BinOp> {
        Some(match self.peek() {
            Tok::Punct("+") => BinOp::Add,
            Tok::Punct("-") => BinOp::Sub,
            Tok::Punct("*") => BinOp::Mul,
            Tok::Punct("/") => BinOp::Div,
            Tok::Punct("%") => BinOp::Rem,
            Tok::Punct("==") => BinOp::Eq,
            Tok::Punct("!=") => BinOp::Ne,
            Tok::Punct("<") => BinOp::Lt,
            Tok::Punct("<=") => BinOp::Le,
            Tok::Punct(">") => BinOp::Gt,
            Tok::Punct(">=") => BinOp::Ge,
            Tok::Ident(s) if s == "and" => BinOp::And,
            Tok::Ident(s) if s == "or" => BinOp::Or,
            _ => return None,
        })
    }

    fn binary(&mut self, min_prec: u8) -> PResult<Expr> {
        let mut lhs = self.unary()?;
        let mut guard = 0u32;
        while let Some(op) = self.peek_binop() {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            guard += 1;
            if guard > 10_000 {
                return self.err("expression too long", None);
            }
            self.bump();
            self.enter()?;
            let rhs = self.binary(prec + 1)?;
            self.depth -= 1;
            let span = lhs.span.to(rhs.span);
            lhs = Expr {
                kind: ExprKind::Bin(op, Box::new(lhs), Box::new(rhs)),
                span,
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> PResult<Expr> {
        let start = self.span();
        if self.eat_word("not") {
            self.enter()?;
            // `not` covers a comparison: `not a == b` is `not (a == b)`.
            let e = self.binary(3)?;
            self.depth -= 1;
            return Ok(Expr {
                span: start.to(e.span),
                kind: ExprKind::Not(Box::new(e)),
            });
        }
        if self.eat_punct("-") {
            self.enter()?;
            let e = self.unary()?;
            self.depth -= 1;
            return Ok(Expr {
                span: start.to(e.span),
                kind: ExprKind::Neg(Box::new(e)),
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> PResult<Expr> {
        let (tok, span) = (self.peek().clone(), self.span());
        let kind = match tok {
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Num(n) => ExprKind::Num(n),
            Tok::Dur(d) => ExprKind::Dur(d),
            Tok::Punct("(") => {
                self.bump();
                let e = self.expr()?;
                self.expect_punct(")")?;
                return Ok(e);
            }
            Tok::Ident(w) if w == "true" => ExprKind::Bool(true),
            Tok::Ident(w) if w == "false" => ExprKind::Bool(false),
            Tok::Ident(w) if !matches!(w.as_str(), "and" | "or" | "not") => {
                self.bump();
                if self.eat_punct("(") {
                    let mut args = Vec::new();
                    while !self.eat_punct(")") {
                        args.push(self.expr()?);
                        if !self.eat_punct(",") {
                            self.expect_punct(")")?;
                            break;
                        }
                        if args.len() > 16 {
                            return self.err("too many arguments", None);
                        }
                    }
                    let name = Ident { name: w, span };
                    return Ok(Expr {
                        kind: ExprKind::Call(name, args),
                        span: span.to(self.prev_span()),
                    });
                }
                return Ok(Expr {
                    kind: ExprKind::Var(w),
                    span,
                });
            }
            _ => return self.expected("a value (a number, \"text\", true/false or a variable)"),
        };
        self.bump();
        Ok(Expr { kind, span })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<File, ParseError> {
        parse_file(FileId(0), s)
    }

    #[test]
    fn parses_a_small_flow() {
        let f = p(r#"
            timezone "Europe/Moscow"
            entry to "100" goto main
            block main {
                play "welcome"
                menu "main-menu" timeout 5s retries 3 {
                    1 => goto sales
                    2 => { queue support { priority 5 max_wait 5m goto main } }
                    default => hangup
                }
            }
            block sales { queue sales }
        "#)
        .unwrap();
        assert_eq!(f.items.len(), 4);
        let Item::Block(b) = &f.items[2] else {
            panic!()
        };
        assert_eq!(b.body.len(), 2);
        let StmtKind::Menu(m) = &b.body[1].kind else {
            panic!()
        };
        assert_eq!(m.choices.len(), 2);
        assert_eq!(m.retries, Some(3));
        assert!(m.default.is_some());
    }

    #[test]
    fn precedence_is_conventional() {
        let f = p("block b { set x = 1 + 2 * 3 == 7 and not y }").unwrap();
        let Item::Block(b) = &f.items[0] else {
            panic!()
        };
        let StmtKind::Set(_, e) = &b.body[0].kind else {
            panic!()
        };
        let ExprKind::Bin(BinOp::And, l, r) = &e.kind else {
            panic!("{e:?}")
        };
        assert!(matches!(l.kind, ExprKind::Bin(BinOp::Eq, _, _)));
        assert!(matches!(r.kind, ExprKind::Not(_)));
    }

    #[test]
    fn assignment_without_set_gets_help() {
        let e = p("block b {\n x = 1\n}").unwrap_err();
        assert!(e.message.contains("unknown statement `x`"), "{e:?}");
        assert!(e.help.unwrap().contains("set x ="));
    }

    #[test]
    fn unclosed_block_points_at_the_brace() {
        let e = p("block b {\n play \"x\"\n").unwrap_err();
        assert!(e.message.contains("never closed"));
        assert_eq!(e.span.start, 8);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!(
            "block b {{ set x = {}1{} }}",
            "(".repeat(5000),
            ")".repeat(5000)
        );
        assert!(p(&src).unwrap_err().message.contains("nested"));
        let src = format!("block b {} {}", "{ if x ".repeat(3000), "}".repeat(3000));
        assert!(p(&src).is_err());
    }
}
