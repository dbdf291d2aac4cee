//! Pretty-printer: turns an AST back into canonical source text that parses to the same tree.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fmt::{self, Write};

use crate::ast::*;

/// Print a whole file in canonical layout.
pub fn print_file(file: &File) -> String {
    let mut out = String::new();
    for item in &file.items {
        // Writing into a String can't fail.
        let _ = print_item(&mut out, item);
    }
    out
}

fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn dur(d: f64) -> String {
    format!("{d}s")
}

fn pattern(p: &Pattern) -> String {
    match p {
        Pattern::Exact(s) => q(&s.value),
        Pattern::Prefix(s) => format!("prefix {}", q(&s.value)),
        Pattern::Regex(s) => format!("regex {}", q(&s.value)),
        Pattern::InList(i) => format!("in {}", i.name),
    }
}

fn prompts(p: &[StrLit]) -> String {
    p.iter().map(|s| q(&s.value)).collect::<Vec<_>>().join(", ")
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn hm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn print_item(o: &mut String, item: &Item) -> fmt::Result {
    match item {
        Item::Timezone(s) => writeln!(o, "timezone {}", q(&s.value)),
        Item::Language(l, _) => writeln!(o, "language {l}"),
        Item::AllowExternal(_) => writeln!(o, "allow external"),
        Item::Fallback(i) => writeln!(o, "fallback queue {}", i.name),
        Item::Include(s) => writeln!(o, "include {}", q(&s.value)),
        Item::Entry(e) => {
            o.push_str("entry");
            if let Some(p) = &e.to {
                write!(o, " to {}", pattern(p))?;
            }
            if let Some(p) = &e.from {
                write!(o, " from {}", pattern(p))?;
            }
            if let Some(t) = &e.tenant {
                write!(o, " tenant {}", q(&t.value))?;
            }
            if e.to.is_none() && e.from.is_none() {
                o.push_str(" default");
            }
            writeln!(o, " goto {}", e.target.name)
        }
        Item::List(l) => {
            let items = l
                .items
                .iter()
                .map(|s| q(&s.value))
                .collect::<Vec<_>>()
                .join(", ");
            writeln!(o, "list {} = [{}]", l.name.name, items)
        }
        Item::Holidays(h) => {
            writeln!(o, "holidays {} {{", h.name.name)?;
            for (d, note, _) in &h.days {
                write!(o, "    {}", d.format("%Y-%m-%d"))?;
                if let Some(n) = note {
                    write!(o, " {}", q(&n.value))?;
                }
                o.push('\n');
            }
            writeln!(o, "}}")
        }
        Item::Hours(h) => {
            writeln!(o, "hours {} {{", h.name.name)?;
            for r in &h.ranges {
                let d = |i: u8| DAYS.get(i as usize).copied().unwrap_or("mon");
                write!(o, "    {}", d(r.from_day))?;
                if r.to_day != r.from_day {
                    write!(o, "-{}", d(r.to_day))?;
                }
                writeln!(o, " {}-{}", hm(r.open), hm(r.close))?;
            }
            for c in &h.closed_on {
                writeln!(o, "    closed on {}", c.name)?;
            }
            writeln!(o, "}}")
        }
        Item::Block(b) | Item::Sub(b) => {
            let word = if matches!(item, Item::Block(_)) {
                "block"
            } else {
                "sub"
            };
            write!(o, "\n{} {} ", word, b.name.name)?;
            body(o, &b.body, 0)?;
            o.push('\n');
            Ok(())
        }
    }
}

fn indent(o: &mut String, n: usize) {
    for _ in 0..n {
        o.push_str("    ");
    }
}

fn body(o: &mut String, stmts: &[Stmt], level: usize) -> fmt::Result {
    o.push_str("{\n");
    for s in stmts {
        indent(o, level + 1);
        stmt(o, s, level + 1)?;
        o.push('\n');
    }
    indent(o, level);
    o.push('}');
    Ok(())
}

fn stmt(o: &mut String, s: &Stmt, level: usize) -> fmt::Result {
    match &s.kind {
        StmtKind::Play(p) => write!(o, "play {}", prompts(p)),
        StmtKind::Say {
            kind,
            expr: e,
            feminine,
            currency,
        } => {
            write!(o, "say {} {}", kind.word(), expr(e))?;
            if *feminine {
                o.push_str(" feminine");
            }
            match currency {
                Some(Currency::Rub) => o.push_str(" in rub"),
                Some(Currency::Usd) => o.push_str(" in usd"),
                None => {}
            }
            Ok(())
        }
        StmtKind::Menu(m) => {
            write!(o, "menu {}", prompts(&m.prompts))?;
            if let Some(t) = m.timeout {
                write!(o, " timeout {}", dur(t))?;
            }
            if let Some(r) = m.retries {
                write!(o, " retries {r}")?;
            }
            o.push_str(" {\n");
            for (k, b) in &m.choices {
                indent(o, level + 1);
                write!(o, "{} => ", q(&k.value))?;
                body(o, b, level + 1)?;
                o.push('\n');
            }
            for (w, b) in [
                ("invalid", &m.invalid),
                ("timeout", &m.on_timeout),
                ("default", &m.default),
            ] {
                if let Some(b) = b {
                    indent(o, level + 1);
                    write!(o, "{w} => ")?;
                    body(o, b, level + 1)?;
                    o.push('\n');
                }
            }
            indent(o, level);
            o.push('}');
            Ok(())
        }
        StmtKind::Collect(c) => {
            write!(o, "collect {} digits {}", c.var.name, c.max_digits)?;
            if !c.prompts.is_empty() {
                write!(o, " prompt {}", prompts(&c.prompts))?;
            }
            if let Some(t) = &c.terminator {
                write!(o, " terminator {}", q(&t.value))?;
            }
            if let Some(t) = c.timeout {
                write!(o, " timeout {}", dur(t))?;
            }
            Ok(())
        }
        StmtKind::Set(v, e) => write!(o, "set {} = {}", v.name, expr(e)),
        StmtKind::If {
            branches,
            otherwise,
        } => {
            for (i, (c, b)) in branches.iter().enumerate() {
                if i > 0 {
                    o.push_str(" else ");
                }
                write!(o, "if {} ", expr(c))?;
                body(o, b, level)?;
            }
            if let Some(b) = otherwise {
                o.push_str(" else ");
                body(o, b, level)?;
            }
            Ok(())
        }
        StmtKind::Match {
            subject,
            arms,
            otherwise,
        } => {
            writeln!(o, "match {} {{", expr(subject))?;
            for (p, b) in arms {
                indent(o, level + 1);
                write!(o, "{} => ", pattern(p))?;
                body(o, b, level + 1)?;
                o.push('\n');
            }
            if let Some(b) = otherwise {
                indent(o, level + 1);
                o.push_str("else => ");
                body(o, b, level + 1)?;
                o.push('\n');
            }
            indent(o, level);
            o.push('}');
            Ok(())
        }
        StmtKind::Goto(i) => write!(o, "goto {}", i.name),
        StmtKind::Call(i) => write!(o, "call {}", i.name),
        StmtKind::Return => write!(o, "return"),
        StmtKind::Hangup => write!(o, "hangup"),
        StmtKind::Http(h) => {
            let m = match h.method {
                HttpMethod::Get => "get",
                HttpMethod::Post => "post",
            };
            write!(o, "http {} {}", m, expr(&h.url))?;
            if !h.body.is_empty() {
                let fields = h
                    .body
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.name, expr(v)))
                    .collect::<Vec<_>>();
                write!(o, " body {{ {} }}", fields.join(", "))?;
            }
            if let Some(t) = h.timeout {
                write!(o, " timeout {}", dur(t))?;
            }
            if !h.results.is_empty() {
                o.push_str(" {\n");
                for r in &h.results {
                    indent(o, level + 1);
                    let ty = match r.ty {
                        Type::Str => "string",
                        Type::Num => "number",
                        Type::Bool => "bool",
                    };
                    writeln!(o, "{} = {} {}", r.var.name, ty, q(&r.path.value))?;
                }
                indent(o, level);
                o.push('}');
            }
            if let Some(b) = &h.fallback {
                o.push_str(" fallback ");
                body(o, b, level)?;
            }
            Ok(())
        }
        StmtKind::Callback(c) => {
            write!(o, "callback {} queue {}", expr(&c.number), c.queue.name)?;
            match &c.when {
                Some(CallbackWhen::At(e)) => write!(o, " at {}", expr(e))?,
                Some(CallbackWhen::After(d)) => write!(o, " after {}", dur(*d))?,
                None => {}
            }
            if let Some(b) = &c.fallback {
                o.push_str(" fallback ");
                body(o, b, level)?;
            }
            Ok(())
        }
        StmtKind::Priority(e) => write!(o, "priority {}", expr(e)),
        StmtKind::Tenant(e) => write!(o, "tenant {}", expr(e)),
        StmtKind::Skill(e) => write!(o, "skill {}", expr(e)),
        StmtKind::ScreenPop(k, e) => write!(o, "screenpop {} = {}", q(&k.value), expr(e)),
        StmtKind::Language(l) => write!(o, "language {l}"),
        StmtKind::Queue(qu) => {
            write!(o, "queue {}", qu.name.name)?;
            if !qu.opts.is_empty() {
                o.push_str(" {\n");
                for opt in &qu.opts {
                    indent(o, level + 1);
                    match opt {
                        QueueOpt::Priority(e) => write!(o, "priority {}", expr(e))?,
                        QueueOpt::MaxWait(d, t, _) => {
                            write!(o, "max_wait {}", dur(*d))?;
                            if let Some(t) = t {
                                write!(o, " goto {}", t.name)?;
                            }
                        }
                        QueueOpt::Exit(k, t) => write!(o, "exit {} goto {}", q(&k.value), t.name)?,
                        QueueOpt::Announce(d, _) => write!(o, "announce {}", dur(*d))?,
                        QueueOpt::Callback(k) => write!(o, "callback {}", q(&k.value))?,
                        QueueOpt::Whisper(p) => write!(o, "whisper {}", q(&p.value))?,
                    }
                    o.push('\n');
                }
                indent(o, level);
                o.push('}');
            }
            Ok(())
        }
        StmtKind::Transfer(k, e) => write!(o, "transfer {} {}", k.word(), expr(e)),
    }
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Bin(op, _, _) => op.precedence(),
        ExprKind::Not(_) => 3,
        _ => 10,
    }
}

/// Print an expression with the parentheses its structure needs.
pub fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => q(s),
        ExprKind::Num(n) => {
            if *n < 0.0 {
                format!("(-{})", -n)
            } else {
                format!("{n}")
            }
        }
        ExprKind::Dur(d) => dur(*d),
        ExprKind::Bool(b) => format!("{b}"),
        ExprKind::Var(v) => v.clone(),
        ExprKind::Call(f, args) => {
            format!(
                "{}({})",
                f.name,
                args.iter().map(expr).collect::<Vec<_>>().join(", ")
            )
        }
        ExprKind::Not(x) => {
            let inner = expr(x);
            if prec(x) < 3 {
                format!("not ({inner})")
            } else {
                format!("not {inner}")
            }
        }
        ExprKind::Neg(x) => {
            let inner = expr(x);
            if prec(x) < 10 {
                format!("-({inner})")
            } else {
                format!("-{inner}")
            }
        }
        ExprKind::Bin(op, l, r) => {
            let p = op.precedence();
            let ls = if prec(l) < p || (p == 3 && prec(l) == 3) {
                format!("({})", expr(l))
            } else {
                expr(l)
            };
            let rs = if prec(r) <= p {
                format!("({})", expr(r))
            } else {
                expr(r)
            };
            format!("{} {} {}", ls, op.text(), rs)
        }
    }
}
