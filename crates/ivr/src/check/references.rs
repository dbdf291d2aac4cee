//! Checks that names resolve: blocks and subs, lists, configured queues, prompts in every
//! language the dialplan speaks, phone keys, and entry patterns (regexes compiled here).

use crate::ast::*;
use crate::diag::{did_you_mean, Diagnostic};
use crate::program::*;

use super::unit::Unit;

pub(super) fn valid_key(s: &str) -> Option<char> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c @ ('0'..='9' | '*' | '#')), None) => Some(c),
        _ => None,
    }
}

impl Unit<'_> {
    pub(super) fn matcher(&mut self, p: &Pattern) -> Option<Matcher> {
        match p {
            Pattern::Exact(s) => Some(Matcher::Exact(s.value.clone())),
            Pattern::Prefix(s) => Some(Matcher::Prefix(s.value.clone())),
            Pattern::Regex(s) => match regex::RegexBuilder::new(&s.value)
                .size_limit(1 << 20)
                .build()
            {
                Ok(r) => Some(Matcher::Regex(r)),
                Err(e) => {
                    let first = e
                        .to_string()
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .to_string();
                    self.err(
                        Diagnostic::error("this regular expression is not valid", s.span)
                            .label(first)
                            .help("to match a literal `+`, write \"\\\\+\"; or use `prefix \"+7\"` instead"),
                    );
                    None
                }
            },
            Pattern::InList(l) => {
                if !self.lists.contains_key(&l.name) {
                    let mut d = Diagnostic::error(format!("no list named `{}`", l.name), l.span)
                        .label("not defined in this dialplan or its includes");
                    if let Some(h) = did_you_mean(&l.name, self.lists.keys().map(String::as_str)) {
                        d = d.help(h);
                    }
                    self.err(d);
                }
                Some(Matcher::InList(l.name.clone()))
            }
        }
    }

    pub(super) fn check_block_ref(&mut self, i: &Ident, sub: bool) {
        self.used.insert(i.name.clone());
        let (want, other, word) = if sub {
            (&self.subs, &self.blocks, "sub")
        } else {
            (&self.blocks, &self.subs, "block")
        };
        if want.contains_key(&i.name) {
            return;
        }
        let mut d = Diagnostic::error(format!("no {word} named `{}`", i.name), i.span);
        if other.contains_key(&i.name) {
            d = if sub {
                d.label("this is a block")
                    .help(format!("use `goto {}` to go to a block", i.name))
            } else {
                d.label("this is a sub")
                    .help(format!("use `call {}` to run a sub and come back", i.name))
            };
        } else if let Some(h) = did_you_mean(&i.name, want.keys().map(String::as_str)) {
            d = d.help(h);
        } else {
            d = d.help(format!("define it with `{word} {} {{ ... }}`", i.name));
        }
        self.err(d);
    }

    pub(super) fn check_queue_name(&mut self, q: &Ident) {
        let Some(queues) = &self.ctx.queues else {
            return;
        };
        if queues.contains(&q.name) {
            return;
        }
        let known = queues.iter().map(String::as_str).collect::<Vec<_>>();
        let help = did_you_mean(&q.name, known.iter().copied())
            .unwrap_or_else(|| format!("the configured queues are: {}", known.join(", ")));
        self.err(
            Diagnostic::error(format!("unknown queue `{}`", q.name), q.span)
                .label("not in the configuration")
                .help(help),
        );
    }

    /// A literal skill no agent has: a warning (the server drops the requirement, so the
    /// call goes to any member). Skills computed at run time are not checked.
    pub(super) fn check_skill_name(&mut self, e: &crate::ast::Expr) {
        let (Some(skills), crate::ast::ExprKind::Str(name)) = (&self.ctx.skills, &e.kind) else {
            return;
        };
        if skills.contains(name) {
            return;
        }
        let known = skills.iter().map(String::as_str).collect::<Vec<_>>();
        let help = did_you_mean(name, known.iter().copied()).unwrap_or_else(|| {
            format!(
                "give it to an agent in [[users]] skills (agents' skills: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        });
        self.err(
            Diagnostic::warning(format!("no agent has the skill \"{name}\""), e.span)
                .label("the server ignores this requirement")
                .help(help),
        );
    }

    /// `screenpop "script" = "x"` with a literal name no script file has: a warning (the
    /// agent's offer card says the script is missing). Names computed at run time are not
    /// checked.
    pub(super) fn check_script_name(&mut self, key: &StrLit, e: &crate::ast::Expr) {
        let (Some(scripts), crate::ast::ExprKind::Str(name)) = (&self.ctx.scripts, &e.kind) else {
            return;
        };
        if key.value != "script" || scripts.contains(name) {
            return;
        }
        let known = scripts.iter().map(String::as_str).collect::<Vec<_>>();
        let help = did_you_mean(name, known.iter().copied()).unwrap_or_else(|| {
            format!(
                "add scripts/{name}.md (or scripts/<tenant>/{name}.md) beside the dialplans; \
                 scripts there: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        });
        self.err(
            Diagnostic::warning(format!("no conversation script \"{name}\""), e.span)
                .label("the agent's offer card will say the script is missing")
                .help(help),
        );
    }

    pub(super) fn check_prompts(&mut self, prompts: &[StrLit]) {
        let Some(cat) = &self.ctx.prompts else { return };
        let mut found = Vec::new();
        for p in prompts {
            let missing: Vec<Lang> = self
                .langs
                .iter()
                .copied()
                .filter(|l| !cat.contains(*l, &p.value))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let langs = missing
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(" and ");
            let first = missing.first().copied().unwrap_or(Lang::En);
            let help = did_you_mean(&p.value, cat.names(first)).unwrap_or_else(|| {
                let dir = cat.source.as_deref().unwrap_or("prompts");
                format!("add a line for it in {langs} to {dir}/dialplan-phrases.tsv and regenerate the prompts")
            });
            found.push(
                Diagnostic::error(format!("unknown prompt \"{}\"", p.value), p.span)
                    .label(format!("no prompt with this name in {langs}"))
                    .help(help),
            );
        }
        for d in found {
            self.err(d);
        }
    }

    pub(super) fn check_key(&mut self, k: &StrLit) -> Option<char> {
        let c = valid_key(&k.value);
        if c.is_none() {
            self.err(
                Diagnostic::error(format!("\"{}\" is not a phone key", k.value), k.span)
                    .help("keys are a single 0-9, \"*\" or \"#\""),
            );
        }
        c
    }
}
