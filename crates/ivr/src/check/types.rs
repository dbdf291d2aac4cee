//! Types of variables and expressions: built-in variables, flow-insensitive inference of
//! what each `set`/`collect`/`http` variable holds, operator and function checks, and
//! assignments that would change a variable's type.

use crate::ast::*;
use crate::diag::{did_you_mean, Diagnostic};
use crate::source::Span;

use super::statements::child_bodies;
use super::unit::Unit;

const BUILTINS: [(&str, Type); 10] = [
    ("caller", Type::Str),
    ("dialled", Type::Str),
    ("tenant", Type::Str),
    ("language", Type::Str),
    ("hour", Type::Num),
    ("minute", Type::Num),
    ("weekday", Type::Str),
    ("date", Type::Str),
    ("time", Type::Str),
    ("priority", Type::Num),
];

/// Built-in read-only variables and their types.
pub fn builtin_type(name: &str) -> Option<Type> {
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

const FUNCTIONS: &str = "open(HOURS), holiday(HOLIDAYS), len(text), starts_with(text, prefix), contains(text, part), number(text), string(value), round(number), field(name)";

impl Unit<'_> {
    pub(super) fn infer(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            match &s.kind {
                StmtKind::Set(v, e) => {
                    if let Some(t) = self.ty_quiet(e) {
                        self.vars.entry(v.name.clone()).or_insert((t, v.span));
                    }
                }
                StmtKind::Collect(c) => {
                    self.vars
                        .entry(c.var.name.clone())
                        .or_insert((Type::Str, c.var.span));
                }
                StmtKind::Http(h) => {
                    for r in &h.results {
                        self.vars
                            .entry(r.var.name.clone())
                            .or_insert((r.ty, r.var.span));
                    }
                }
                _ => {}
            }
            for b in child_bodies(s) {
                self.infer(b);
            }
        }
    }

    pub(super) fn ty_quiet(&mut self, e: &Expr) -> Option<Type> {
        let n = self.diags.len();
        let t = self.ty(e);
        self.diags.truncate(n);
        t
    }

    /// The type of an expression, reporting errors; `None` if it has none.
    pub(super) fn ty(&mut self, e: &Expr) -> Option<Type> {
        match &e.kind {
            ExprKind::Str(_) => Some(Type::Str),
            ExprKind::Num(_) | ExprKind::Dur(_) => Some(Type::Num),
            ExprKind::Bool(_) => Some(Type::Bool),
            ExprKind::Var(v) => {
                if let Some(t) = builtin_type(v) {
                    return Some(t);
                }
                if let Some((t, _)) = self.vars.get(v) {
                    return Some(*t);
                }
                let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
                names.extend(BUILTINS.iter().map(|(n, _)| *n));
                let help = did_you_mean(v, names).unwrap_or_else(|| {
                    format!("give it a value first with `set {v} = ...` (or `collect {v} ...`)")
                });
                self.err(
                    Diagnostic::error(format!("unknown variable `{v}`"), e.span)
                        .label("never set anywhere in this dialplan")
                        .help(help),
                );
                None
            }
            ExprKind::Not(x) => {
                self.expect(x, Type::Bool, "`not` needs a true/false value");
                Some(Type::Bool)
            }
            ExprKind::Neg(x) => {
                self.expect(x, Type::Num, "`-` needs a number");
                Some(Type::Num)
            }
            ExprKind::Bin(op, l, r) => {
                let lt = self.ty(l);
                let rt = self.ty(r);
                let (Some(lt), Some(rt)) = (lt, rt) else {
                    return None;
                };
                match op {
                    BinOp::Add if lt == Type::Str || rt == Type::Str => {
                        // Text joins with anything: "Balance " + 5 is fine.
                        if lt == Type::Bool || rt == Type::Bool {
                            self.mismatch(e, op, lt, rt);
                            return None;
                        }
                        Some(Type::Str)
                    }
                    BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                        if lt != Type::Num || rt != Type::Num {
                            self.mismatch(e, op, lt, rt);
                            return None;
                        }
                        Some(Type::Num)
                    }
                    BinOp::Eq | BinOp::Ne => {
                        if lt != rt {
                            self.mismatch(e, op, lt, rt);
                        }
                        Some(Type::Bool)
                    }
                    BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                        if lt != rt || lt == Type::Bool {
                            self.mismatch(e, op, lt, rt);
                        }
                        Some(Type::Bool)
                    }
                    BinOp::And | BinOp::Or => {
                        if lt != Type::Bool || rt != Type::Bool {
                            self.mismatch(e, op, lt, rt);
                        }
                        Some(Type::Bool)
                    }
                }
            }
            ExprKind::Call(f, args) => self.call_ty(f, args, e.span),
        }
    }

    pub(super) fn mismatch(&mut self, e: &Expr, op: &BinOp, lt: Type, rt: Type) {
        let help = match op {
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge if lt == Type::Str || rt == Type::Str => {
                "convert one side: `number(text)` turns digits into a number, `string(n)` the other way"
            }
            BinOp::And | BinOp::Or => "`and`/`or` join conditions such as `hour < 9 or hour >= 18`",
            _ => "both sides need the same kind of value",
        };
        self.err(
            Diagnostic::error(
                format!(
                    "`{}` can't combine a {} with a {}",
                    op.text(),
                    lt.word(),
                    rt.word()
                ),
                e.span,
            )
            .help(help),
        );
    }

    pub(super) fn expect(&mut self, e: &Expr, want: Type, why: &str) {
        if let Some(t) = self.ty(e) {
            if t != want {
                self.err(
                    Diagnostic::error(
                        format!("expected a {}, but this is a {}", want.word(), t.word()),
                        e.span,
                    )
                    .label(why.to_string()),
                );
            }
        }
    }

    pub(super) fn call_ty(&mut self, f: &Ident, args: &[Expr], span: Span) -> Option<Type> {
        let arity = |u: &mut Self, n: usize| {
            if args.len() != n {
                u.err(Diagnostic::error(
                    format!(
                        "`{}` takes {n} argument{}, not {}",
                        f.name,
                        if n == 1 { "" } else { "s" },
                        args.len()
                    ),
                    span,
                ));
                false
            } else {
                true
            }
        };
        match f.name.as_str() {
            "open" | "holiday" => {
                if !arity(self, 1) {
                    return Some(Type::Bool);
                }
                let table: Vec<String> = if f.name == "open" {
                    self.hours.keys().cloned().collect()
                } else {
                    self.holidays.keys().cloned().collect()
                };
                let word = if f.name == "open" {
                    "hours"
                } else {
                    "holidays"
                };
                match args.first().map(|a| &a.kind) {
                    Some(ExprKind::Var(n)) if table.contains(n) => {}
                    Some(ExprKind::Var(n)) => {
                        let mut d = Diagnostic::error(
                            format!("no {word} named `{n}`"),
                            args.first().map_or(span, |a| a.span),
                        );
                        d = match did_you_mean(n, table.iter().map(String::as_str)) {
                            Some(h) => d.help(h),
                            None => d.help(format!("define it with `{word} {n} {{ ... }}`")),
                        };
                        self.err(d);
                    }
                    _ => self.err(Diagnostic::error(
                        format!("`{}` takes the name of a `{word}` definition", f.name),
                        span,
                    )),
                }
                Some(Type::Bool)
            }
            "len" | "number" => {
                if arity(self, 1) {
                    if let Some(a) = args.first() {
                        self.expect(a, Type::Str, "this function takes text");
                    }
                }
                Some(Type::Num)
            }
            "field" => {
                if arity(self, 1) {
                    if let Some(a) = args.first() {
                        self.expect(a, Type::Str, "`field` takes the field's name as text");
                    }
                }
                Some(Type::Str)
            }
            "round" => {
                if arity(self, 1) {
                    if let Some(a) = args.first() {
                        self.expect(a, Type::Num, "`round` takes a number");
                    }
                }
                Some(Type::Num)
            }
            "string" => {
                if arity(self, 1) {
                    if let Some(a) = args.first() {
                        self.ty(a);
                    }
                }
                Some(Type::Str)
            }
            "starts_with" | "contains" => {
                if arity(self, 2) {
                    for a in args {
                        self.expect(a, Type::Str, "this function takes text");
                    }
                }
                Some(Type::Bool)
            }
            _ => {
                self.err(
                    Diagnostic::error(format!("unknown function `{}`", f.name), f.span)
                        .help(format!("the functions are {FUNCTIONS}")),
                );
                None
            }
        }
    }

    pub(super) fn check_assign(&mut self, v: &Ident, t: Type) {
        if builtin_type(&v.name).is_some() {
            let help = match v.name.as_str() {
                "tenant" => "use the `tenant \"...\"` statement".to_string(),
                "priority" => "use the `priority N` statement".to_string(),
                "language" => "use the `language en` / `language ru` statement".to_string(),
                _ => "pick another name for your variable".to_string(),
            };
            self.err(
                Diagnostic::error(
                    format!("`{}` is provided by the call and can't be set", v.name),
                    v.span,
                )
                .help(help),
            );
            return;
        }
        if let Some((have, first)) = self.vars.get(&v.name).copied() {
            if have != t {
                self.err(
                    Diagnostic::error(
                        format!("`{}` holds a {}, but here it would get a {}", v.name, have.word(), t.word()),
                        v.span,
                    )
                    .help(format!(
                        "a variable keeps one kind of value; it first gets a {} at {}: use another name here",
                        have.word(),
                        self.sources.location(first)
                    )),
                );
            }
        }
    }
}
