//! Checking one dialplan from start to end: gathering its definitions from the main file and
//! its includes, running the passes in order, and lowering it to a [`Dialplan`] when no
//! error was found.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono_tz::Tz;

use super::context::CheckContext;
use super::lower::lower_blocks;
use super::statements::child_bodies;
use super::unit::Unit;
use crate::ast::*;
use crate::diag::{did_you_mean, Diagnostic};
use crate::program::*;
use crate::source::{SourceMap, Span};

pub(super) fn build_unit(
    name: &str,
    items: &[(Item, bool)],
    ctx: &CheckContext,
    sources: &SourceMap,
    out: &mut Vec<Diagnostic>,
) -> Option<Dialplan> {
    let mut u = Unit {
        ctx,
        sources,
        diags: Vec::new(),
        blocks: BTreeMap::new(),
        subs: BTreeMap::new(),
        lists: HashMap::new(),
        holidays: HashMap::new(),
        hours: HashMap::new(),
        vars: HashMap::new(),
        langs: BTreeSet::new(),
        allow_external: false,
        used: HashSet::new(),
    };
    let mut timezone: Option<(Tz, Span)> = None;
    let mut language: Option<Lang> = None;
    let mut fallback: Option<&Ident> = None;
    let mut entries: Vec<&Entry> = Vec::new();
    let mut hours_defs: Vec<&HoursDef> = Vec::new();

    for (item, is_main) in items {
        match item {
            Item::Timezone(s) => match s.value.parse::<Tz>() {
                Ok(tz) => {
                    if let Some((_, prev)) = timezone {
                        if *is_main {
                            u.diags.push(
                                Diagnostic::error("the time zone is set twice", s.span).help(
                                    format!(
                                        "it was already set at {}; keep one `timezone` line",
                                        sources.location(prev)
                                    ),
                                ),
                            );
                        }
                    } else {
                        timezone = Some((tz, s.span));
                    }
                }
                Err(_) => u.diags.push(
                    Diagnostic::error(format!("unknown time zone \"{}\"", s.value), s.span)
                        .label("not an IANA time zone name")
                        .help("use a name such as \"Europe/Moscow\", \"Europe/London\" or \"UTC\""),
                ),
            },
            Item::Language(l, _) => {
                if language.is_none() || *is_main {
                    language = Some(*l);
                }
            }
            Item::AllowExternal(_) => u.allow_external = true,
            Item::Fallback(i) => fallback = Some(i),
            Item::Include(_) => {}
            Item::Entry(e) => entries.push(e),
            Item::List(l) => {
                if u.lists
                    .insert(
                        l.name.name.clone(),
                        l.items.iter().map(|s| s.value.clone()).collect(),
                    )
                    .is_some()
                {
                    u.diags.push(Diagnostic::error(
                        format!("the list `{}` is defined twice", l.name.name),
                        l.name.span,
                    ));
                }
            }
            Item::Holidays(h) => {
                let days = h.days.iter().map(|d| d.0).collect();
                if u.holidays.insert(h.name.name.clone(), days).is_some() {
                    u.diags.push(Diagnostic::error(
                        format!("the holidays `{}` are defined twice", h.name.name),
                        h.name.span,
                    ));
                }
            }
            Item::Hours(h) => hours_defs.push(h),
            Item::Block(b) | Item::Sub(b) => {
                let n = &b.name.name;
                if u.blocks.contains_key(n) || u.subs.contains_key(n) {
                    u.diags.push(
                        Diagnostic::error(format!("`{n}` is defined twice"), b.name.span)
                            .label("second definition")
                            .help("give each block and sub its own name"),
                    );
                    continue;
                }
                if !is_main {
                    u.used.insert(n.clone()); // shared library code: unused is fine
                }
                if matches!(item, Item::Block(_)) {
                    u.blocks.insert(n.clone(), b);
                } else {
                    u.subs.insert(n.clone(), b);
                }
            }
        }
    }
    for h in hours_defs {
        for r in &h.ranges {
            if r.close <= r.open || r.to_day < r.from_day {
                u.diags.push(
                    Diagnostic::error("this range is empty", r.span)
                        .help("write the earlier day and time first, e.g. `mon-fri 09:00-18:00`"),
                );
            }
        }
        for c in &h.closed_on {
            if !u.holidays.contains_key(&c.name) {
                let help = did_you_mean(&c.name, u.holidays.keys().map(String::as_str));
                let mut d =
                    Diagnostic::error(format!("no holidays calendar named `{}`", c.name), c.span);
                if let Some(h) = help {
                    d = d.help(h);
                }
                u.diags.push(d);
            }
        }
        let hrs = Hours {
            ranges: h
                .ranges
                .iter()
                .map(|r| (r.from_day, r.to_day, r.open, r.close))
                .collect(),
            closed_on: h.closed_on.iter().map(|c| c.name.clone()).collect(),
        };
        if u.hours.insert(h.name.name.clone(), hrs).is_some() {
            u.diags.push(Diagnostic::error(
                format!("the hours `{}` are defined twice", h.name.name),
                h.name.span,
            ));
        }
    }
    let language = language.unwrap_or(Lang::En);
    u.langs.insert(language);
    for b in u.blocks.values().chain(u.subs.values()) {
        collect_langs(&b.body, &mut u.langs);
    }
    if let Some(f) = fallback {
        u.check_queue_name(f);
    }

    // Entries.
    let mut entry_rules = Vec::new();
    for e in &entries {
        let to = e.to.as_ref().and_then(|p| u.matcher(p));
        let from = e.from.as_ref().and_then(|p| u.matcher(p));
        u.check_block_ref(&e.target, false);
        entry_rules.push(EntryRule {
            to,
            from,
            tenant: e.tenant.as_ref().map(|t| t.value.clone()),
            block: e.target.name.clone(),
            pc: 0,
        });
    }
    if entries.is_empty() && !u.blocks.is_empty() {
        if let Some(b) = u.blocks.values().next() {
            u.diags.push(
                Diagnostic::warning("this dialplan has no `entry`, so no call will ever start here", b.name.span)
                    .help("add a line such as `entry to \"100\" goto main`, or move shared blocks into an included file"),
            );
        }
    }

    // Variable types (flow-insensitive, a few passes so `set a = b` after `set b = 1` settles).
    let bodies: Vec<&BlockDef> = u.blocks.values().chain(u.subs.values()).copied().collect();
    for _ in 0..4 {
        for b in &bodies {
            u.infer(&b.body);
        }
    }
    for b in &bodies {
        let in_sub = u.subs.contains_key(&b.name.name);
        u.check_body(&b.body, in_sub);
    }
    for (n, b) in u.blocks.iter().chain(u.subs.iter()) {
        if !u.used.contains(n) {
            let what = if u.subs.contains_key(n) {
                "sub"
            } else {
                "block"
            };
            u.diags.push(
                Diagnostic::warning(format!("the {what} `{n}` is never used"), b.name.span)
                    .help("nothing goes there: no entry, `goto`, `call` or queue option names it"),
            );
        }
    }

    let ok = !u.diags.iter().any(Diagnostic::is_error);
    let mut diags = std::mem::take(&mut u.diags);
    diags.sort_by_key(|d| d.span.map(|s| (s.file, s.start)));
    out.extend(diags);
    if !ok {
        return None;
    }
    let (tz, _) = timezone.unwrap_or((Tz::UTC, Span::default()));
    let mut dp = Dialplan {
        name: name.to_string(),
        timezone: tz,
        language,
        allow_external: u.allow_external,
        fallback_queue: fallback
            .map(|f| f.name.clone())
            .unwrap_or_else(|| DEFAULT_FALLBACK_QUEUE.to_string()),
        entries: entry_rules,
        ops: Vec::new(),
        spans: Vec::new(),
        labels: BTreeMap::new(),
        lists: u.lists,
        holidays: u.holidays,
        hours: u.hours,
        var_types: u.vars.iter().map(|(k, (t, _))| (k.clone(), *t)).collect(),
    };
    let (ops, spans, labels) = lower_blocks(&u.blocks, &u.subs);
    for e in &mut dp.entries {
        e.pc = labels.get(&e.block).copied().unwrap_or(0);
    }
    dp.ops = ops;
    dp.spans = spans;
    dp.labels = labels;
    Some(dp)
}

fn collect_langs(stmts: &[Stmt], out: &mut BTreeSet<Lang>) {
    for s in stmts {
        if let StmtKind::Language(l) = &s.kind {
            out.insert(*l);
        }
        for b in child_bodies(s) {
            collect_langs(b, out);
        }
    }
}
