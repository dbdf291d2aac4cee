//! Statement checks: every statement's arguments, unreachable lines after a statement that
//! always leaves, `return` outside a sub, menu choices and queue options.

use std::collections::HashMap;

use crate::ast::*;
use crate::diag::Diagnostic;
use crate::source::Span;

use super::unit::Unit;

pub(super) fn child_bodies(s: &Stmt) -> Vec<&Vec<Stmt>> {
    match &s.kind {
        StmtKind::If {
            branches,
            otherwise,
        } => branches
            .iter()
            .map(|(_, b)| b)
            .chain(otherwise.iter())
            .collect(),
        StmtKind::Match {
            arms, otherwise, ..
        } => arms
            .iter()
            .map(|(_, b)| b)
            .chain(otherwise.iter())
            .collect(),
        StmtKind::Menu(m) => m
            .choices
            .iter()
            .map(|(_, b)| b)
            .chain(m.invalid.iter())
            .chain(m.on_timeout.iter())
            .chain(m.default.iter())
            .collect(),
        StmtKind::Http(h) => h.fallback.iter().collect(),
        StmtKind::Callback(c) => c.fallback.iter().collect(),
        _ => Vec::new(),
    }
}

/// Does control never continue past this statement?
fn diverges(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Goto(_) | StmtKind::Hangup | StmtKind::Transfer(..) | StmtKind::Return => true,
        StmtKind::If {
            branches,
            otherwise,
        } => {
            otherwise.as_ref().is_some_and(|o| body_diverges(o))
                && branches.iter().all(|(_, b)| body_diverges(b))
        }
        StmtKind::Match {
            arms, otherwise, ..
        } => {
            otherwise.as_ref().is_some_and(|o| body_diverges(o))
                && arms.iter().all(|(_, b)| body_diverges(b))
        }
        StmtKind::Menu(m) => {
            m.default.as_ref().is_some_and(|o| body_diverges(o))
                && m.choices.iter().all(|(_, b)| body_diverges(b))
        }
        _ => false,
    }
}

fn body_diverges(b: &[Stmt]) -> bool {
    b.iter().any(diverges)
}

impl Unit<'_> {
    pub(super) fn check_body(&mut self, stmts: &[Stmt], in_sub: bool) {
        let mut dead = false;
        let mut reported = false;
        for s in stmts {
            if dead && !reported {
                reported = true;
                self.err(
                    Diagnostic::warning("this line can never run", s.span)
                        .label("unreachable")
                        .help(
                            "the line before it always leaves (goto, hangup, transfer or return)",
                        ),
                );
            }
            self.check_stmt(s, in_sub);
            if diverges(s) {
                dead = true;
            }
        }
    }

    pub(super) fn check_stmt(&mut self, s: &Stmt, in_sub: bool) {
        match &s.kind {
            StmtKind::Play(p) => self.check_prompts(p),
            StmtKind::Say {
                kind,
                expr,
                feminine,
                currency,
            } => {
                match kind {
                    SayKind::Number | SayKind::Money | SayKind::Duration => {
                        self.expect(expr, Type::Num, "this needs a number")
                    }
                    SayKind::Time => {
                        self.expect(expr, Type::Str, "`say time` takes text such as \"09:30\"")
                    }
                    SayKind::Digits => {
                        if self.ty(expr) == Some(Type::Bool) {
                            self.err(Diagnostic::error(
                                "`say digits` can't say true/false",
                                expr.span,
                            ));
                        }
                    }
                }
                if *feminine && *kind != SayKind::Number {
                    self.err(Diagnostic::warning(
                        "`feminine` only changes `say number`",
                        s.span,
                    ));
                }
                if currency.is_some() && *kind != SayKind::Money {
                    self.err(Diagnostic::error(
                        "a currency only goes with `say money`",
                        s.span,
                    ));
                }
            }
            StmtKind::Menu(m) => {
                self.check_prompts(&m.prompts);
                if m.retries == Some(0) {
                    self.err(
                        Diagnostic::error("a menu needs at least 1 try", s.span)
                            .help("write `retries 1` or more"),
                    );
                }
                if m.timeout.is_some_and(|t| t <= 0.0 || t > 600.0) {
                    self.err(Diagnostic::error(
                        "the menu timeout must be between 0 and 10 minutes",
                        s.span,
                    ));
                }
                let mut seen: HashMap<char, Span> = HashMap::new();
                for (k, b) in &m.choices {
                    if let Some(c) = self.check_key(k) {
                        if seen.insert(c, k.span).is_some() {
                            self.err(
                                Diagnostic::error(
                                    format!("key `{c}` has two branches in this menu",),
                                    k.span,
                                )
                                .help("only the first would ever run; remove one"),
                            );
                        }
                    }
                    if b.is_empty() {
                        self.err(
                            Diagnostic::error(
                                format!("menu choice `{}` has no branch", k.value),
                                k.span,
                            )
                            .label("nothing happens when the caller presses this key")
                            .help(format!(
                                "say what the key does, e.g. `{} => goto sales`",
                                k.value
                            )),
                        );
                    }
                }
                if m.choices.is_empty() {
                    self.err(
                        Diagnostic::error("this menu has no choices", s.span)
                            .help("add choices such as `1 => goto sales`"),
                    );
                }
                if m.default.is_none() {
                    self.err(
                        Diagnostic::warning("this menu has no `default` branch", s.span)
                            .help("when the caller presses nothing useful after all tries, the call continues after the menu; add `default => goto operator` to make it explicit"),
                    );
                }
                for b in child_bodies(s) {
                    self.check_body(b, in_sub);
                }
            }
            StmtKind::Collect(c) => {
                self.check_prompts(&c.prompts);
                if c.max_digits == 0 || c.max_digits > 64 {
                    self.err(Diagnostic::error("collect between 1 and 64 digits", s.span));
                }
                if let Some(t) = &c.terminator {
                    self.check_key(t);
                }
                if c.timeout.is_some_and(|t| t <= 0.0 || t > 600.0) {
                    self.err(Diagnostic::error(
                        "the timeout must be between 0 and 10 minutes",
                        s.span,
                    ));
                }
                self.check_assign(&c.var, Type::Str);
            }
            StmtKind::Set(v, e) => {
                if let Some(t) = self.ty(e) {
                    self.check_assign(v, t);
                }
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (c, b) in branches {
                    self.expect(c, Type::Bool, "an `if` needs a condition such as `x == 1`");
                    self.check_body(b, in_sub);
                }
                if let Some(b) = otherwise {
                    self.check_body(b, in_sub);
                }
            }
            StmtKind::Match {
                subject,
                arms,
                otherwise,
            } => {
                self.expect(subject, Type::Str, "`match` compares text such as `caller`");
                for (p, b) in arms {
                    self.matcher(p);
                    self.check_body(b, in_sub);
                }
                if let Some(b) = otherwise {
                    self.check_body(b, in_sub);
                }
            }
            StmtKind::Goto(i) => self.check_block_ref(i, false),
            StmtKind::Call(i) => self.check_block_ref(i, true),
            StmtKind::Return => {
                if !in_sub {
                    self.err(
                        Diagnostic::error("`return` outside a sub", s.span)
                            .help("`return` goes back to where a `call` came from; in a block use `goto` or `hangup`"),
                    );
                }
            }
            StmtKind::Hangup => {}
            StmtKind::Http(h) => {
                self.expect(&h.url, Type::Str, "the URL is text");
                for (_, e) in &h.body {
                    self.ty(e);
                }
                if h.timeout.is_some_and(|t| t <= 0.0 || t > 60.0) {
                    self.err(Diagnostic::error(
                        "the HTTP timeout must be between 0 and 60 seconds",
                        s.span,
                    ));
                }
                for r in &h.results {
                    self.check_assign(&r.var, r.ty);
                }
                if h.fallback.is_none() {
                    self.err(
                        Diagnostic::warning("this lookup has no `fallback`", s.span)
                            .help("if the server is down the call goes on with empty values; add `fallback { ... }` to handle it"),
                    );
                }
                if let Some(b) = &h.fallback {
                    self.check_body(b, in_sub);
                }
            }
            StmtKind::Callback(c) => {
                self.expect(
                    &c.number,
                    Type::Str,
                    "the number to call back is text, such as callback_number or caller",
                );
                self.check_queue_name(&c.queue);
                match &c.when {
                    Some(CallbackWhen::At(e)) => {
                        self.expect(e, Type::Str, "a time such as \"09:00\"");
                        if let ExprKind::Str(t) = &e.kind {
                            if !callback_time_ok(t) {
                                self.err(
                                    Diagnostic::error(format!("{t:?} is not a time of day"), e.span)
                                        .help("write \"HH:MM\" (the next such time in the dialplan's timezone) or an RFC 3339 time"),
                                );
                            }
                        }
                    }
                    Some(CallbackWhen::After(d)) if *d < 0.0 || *d > 90.0 * 86_400.0 => {
                        self.err(Diagnostic::error(
                            "a callback delay must be between 0 and 90 days",
                            s.span,
                        ));
                    }
                    _ => {}
                }
                if c.fallback.is_none() {
                    self.err(
                        Diagnostic::warning("this callback has no `fallback`", s.span)
                            .help("the engine may refuse the number (number policy) or the queue may be full; add `fallback { ... }` to tell the caller"),
                    );
                }
                if let Some(b) = &c.fallback {
                    self.check_body(b, in_sub);
                }
            }
            StmtKind::Priority(e) => self.expect(e, Type::Num, "priority is a number"),
            StmtKind::Tenant(e) => self.expect(e, Type::Str, "the tenant is text"),
            StmtKind::Skill(e) => {
                self.expect(e, Type::Str, "a skill is text");
                self.check_skill_name(e);
            }
            StmtKind::ScreenPop(k, e) => {
                self.ty(e);
                self.check_script_name(k, e);
            }
            StmtKind::Language(_) => {}
            StmtKind::Queue(q) => {
                self.check_queue_name(&q.name);
                for o in &q.opts {
                    match o {
                        QueueOpt::Priority(e) => self.expect(e, Type::Num, "priority is a number"),
                        QueueOpt::MaxWait(d, t, sp) => {
                            if *d <= 0.0 {
                                self.err(Diagnostic::error("max_wait must be more than 0", *sp));
                            }
                            if let Some(t) = t {
                                self.check_block_ref(t, false);
                            }
                        }
                        QueueOpt::Exit(k, t) => {
                            self.check_key(k);
                            self.check_block_ref(t, false);
                        }
                        QueueOpt::Announce(d, sp) => {
                            if *d < 10.0 {
                                self.err(Diagnostic::error(
                                    "announcements can't be more often than every 10s",
                                    *sp,
                                ));
                            }
                        }
                        QueueOpt::Callback(k) => {
                            self.check_key(k);
                        }
                        QueueOpt::Whisper(p) => self.check_prompts(std::slice::from_ref(p)),
                    }
                }
            }
            StmtKind::Transfer(k, e) => {
                self.expect(
                    e,
                    Type::Str,
                    "a number or extension in quotes, such as \"1001\"",
                );
                if *k == TransferKind::External && !self.allow_external {
                    self.err(
                        Diagnostic::error("this dialplan may not transfer calls to external numbers", s.span)
                            .help("add `allow external` at the top of the file if this is intended (calls out cost money)"),
                    );
                }
            }
        }
    }
}

/// A literal `at` time a callback understands: `HH:MM` or RFC 3339.
fn callback_time_ok(t: &str) -> bool {
    crate::interp::parse_time_of_day(t).is_some() || chrono::DateTime::parse_from_rfc3339(t).is_ok()
}
