//! The checker: finds mistakes before a caller hears them, and lowers checked files to a
//! [`Program`].
//!
//! It reports unknown prompts, undefined blocks, subs and variables, unreachable code, menu
//! choices without a branch, unknown queues, type errors, include cycles, bad regexes and time
//! zones, and external transfers the dialplan isn't allowed to make.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use chrono_tz::Tz;

use crate::ast::*;
use crate::diag::{did_you_mean, Diagnostic};
use crate::parser::parse_file;
use crate::program::*;
use crate::say;
use crate::source::{FileId, SourceMap, Span};

/// The prompts that exist, per language.
#[derive(Debug, Clone, Default)]
pub struct PromptCatalog {
    names: HashMap<Lang, BTreeSet<String>>,
    /// The prompts directory the names came from, named in "unknown prompt" help.
    source: Option<String>,
}

impl PromptCatalog {
    /// An empty catalog.
    pub fn new() -> PromptCatalog {
        PromptCatalog::default()
    }
    /// A catalog holding the say-vocabulary and queue phrases of the prompt contract.
    pub fn with_vocabulary() -> PromptCatalog {
        let mut c = PromptCatalog::new();
        for lang in Lang::ALL {
            for n in say::vocabulary() {
                c.insert(lang, n);
            }
        }
        c
    }
    /// Records the prompts directory these names were read from, so an unknown prompt's
    /// help names the phrase list to extend there.
    pub fn with_source(mut self, dir: &Path) -> PromptCatalog {
        self.source = Some(dir.display().to_string());
        self
    }
    /// Add one prompt.
    pub fn insert(&mut self, lang: Lang, name: impl Into<String>) {
        self.names.entry(lang).or_default().insert(name.into());
    }
    /// Does the prompt exist in this language?
    pub fn contains(&self, lang: Lang, name: &str) -> bool {
        self.names.get(&lang).is_some_and(|s| s.contains(name))
    }
    /// All names in a language.
    pub fn names(&self, lang: Lang) -> impl Iterator<Item = &str> {
        self.names
            .get(&lang)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }
    /// Add every `lang<TAB>name<TAB>text` line of a phrase list (other lines are ignored).
    pub fn add_tsv(&mut self, text: &str) {
        for line in text.lines() {
            let mut parts = line.split('\t');
            if let (Some(l), Some(n)) = (parts.next(), parts.next()) {
                if let Some(lang) = Lang::from_code(l.trim()) {
                    let n = n.trim();
                    if !n.is_empty() {
                        self.insert(lang, n);
                    }
                }
            }
        }
    }
    /// Only the prompts that exist as audio files `<dir>/<lang>/<name>.wav`.
    pub fn from_wav_files(dir: &Path) -> PromptCatalog {
        let mut c = PromptCatalog::new();
        c.add_wav_files(dir);
        c
    }

    fn add_wav_files(&mut self, dir: &Path) {
        for lang in Lang::ALL {
            if let Ok(rd) = std::fs::read_dir(dir.join(lang.code())) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "wav") {
                        if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                            self.insert(lang, stem);
                        }
                    }
                }
            }
        }
    }

    /// The vocabulary plus everything found in a prompts directory: `phrases.tsv`,
    /// `dialplan-phrases.tsv` and `<lang>/*.wav`. Missing files are skipped.
    pub fn from_prompts_dir(dir: &Path) -> PromptCatalog {
        let mut c = PromptCatalog::with_vocabulary();
        for f in ["phrases.tsv", "dialplan-phrases.tsv"] {
            if let Ok(t) = std::fs::read_to_string(dir.join(f)) {
                c.add_tsv(&t);
            }
        }
        c.add_wav_files(dir);
        c
    }
}

/// What the checker knows about the world outside the dialplan.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// Configured queue names; `None` skips the queue check.
    pub queues: Option<BTreeSet<String>>,
    /// Known prompts; `None` skips the prompt check.
    pub prompts: Option<PromptCatalog>,
}

impl CheckContext {
    /// A context knowing these queues and prompts.
    pub fn new(
        queues: impl IntoIterator<Item = impl Into<String>>,
        prompts: PromptCatalog,
    ) -> CheckContext {
        CheckContext {
            queues: Some(queues.into_iter().map(Into::into).collect()),
            prompts: Some(prompts),
        }
    }
}

/// Output of [`check_files`].
#[derive(Debug, Clone)]
pub struct Checked {
    /// All files read, for rendering.
    pub sources: SourceMap,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The program, if there were no errors.
    pub program: Option<Program>,
}

impl Checked {
    /// Did any error occur?
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
    /// Render all diagnostics.
    pub fn render(&self) -> String {
        crate::diag::render_all(&self.diagnostics, &self.sources)
    }
}

/// Check a set of in-memory files. `files` maps file names (paths with `/`) to text and
/// must contain everything that may be included; `mains` are the top-level dialplans, each
/// becoming one [`Dialplan`] (in the order given).
pub fn check_files(
    files: &BTreeMap<String, String>,
    mains: &[String],
    ctx: &CheckContext,
) -> Checked {
    let mut st = State {
        files,
        sources: SourceMap::new(),
        parsed: HashMap::new(),
        diags: Vec::new(),
    };
    let mut dialplans = Vec::new();
    for main in mains {
        let before = st.diags.iter().filter(|d| d.is_error()).count();
        let mut items = Vec::new();
        let mut stack = Vec::new();
        st.gather(main, None, &mut stack, &mut items);
        let name = Path::new(main)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(main)
            .to_string();
        let unit = build_unit(&name, &items, ctx, &st.sources, &mut st.diags);
        let after = st.diags.iter().filter(|d| d.is_error()).count();
        if after == before {
            if let Some(u) = unit {
                dialplans.push(u);
            }
        }
    }
    // A mistake in a file included by several dialplans is reported once.
    let mut seen = HashSet::new();
    st.diags
        .retain(|d| seen.insert((d.message.clone(), d.span.map(|s| (s.file, s.start, s.end)))));
    let has_errors = st.diags.iter().any(Diagnostic::is_error);
    let sources = st.sources;
    let program = if has_errors {
        None
    } else {
        Some(Program {
            dialplans,
            sources: sources.clone(),
        })
    };
    Checked {
        sources,
        diagnostics: st.diags,
        program,
    }
}

struct State<'a> {
    files: &'a BTreeMap<String, String>,
    sources: SourceMap,
    parsed: HashMap<String, Option<(FileId, File)>>,
    diags: Vec<Diagnostic>,
}

fn join_include(from: &str, inc: &str) -> String {
    let base = match from.rfind('/') {
        Some(i) => from.get(..i + 1).unwrap_or(""),
        None => "",
    };
    normalize_path(&format!("{base}{inc}"))
}

/// Resolve `.` and `..` in a `/`-separated path (leading `..` of a relative path are kept).
pub(crate) fn normalize_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !path.starts_with('/') {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let lead = if path.starts_with('/') { "/" } else { "" };
    format!("{lead}{}", parts.join("/"))
}

impl State<'_> {
    fn parse(&mut self, name: &str) -> Option<(FileId, File)> {
        if let Some(p) = self.parsed.get(name) {
            return p.clone();
        }
        let text = self.files.get(name)?;
        let id = self.sources.add(name, text.clone());
        let res = match parse_file(id, text) {
            Ok(f) => Some((id, f)),
            Err(e) => {
                let mut d = Diagnostic::error(e.message, e.span);
                if let Some(h) = e.help {
                    d = d.help(h);
                }
                self.diags.push(d);
                None
            }
        };
        self.parsed.insert(name.to_string(), res.clone());
        res
    }

    fn gather(
        &mut self,
        name: &str,
        from: Option<Span>,
        stack: &mut Vec<String>,
        out: &mut Vec<(Item, bool)>,
    ) {
        if stack.len() > 32 {
            return;
        }
        if !self.files.contains_key(name) {
            let msg = format!("can't find the file `{name}`");
            match from {
                Some(s) => self.diags.push(
                    Diagnostic::error(msg, s)
                        .label("included here")
                        .help("include paths are relative to the including file"),
                ),
                None => self.diags.push(Diagnostic::global(msg)),
            }
            return;
        }
        let Some((_, file)) = self.parse(name) else {
            return;
        };
        stack.push(name.to_string());
        let is_main = stack.len() == 1;
        for item in file.items {
            if let Item::Include(inc) = &item {
                let target = join_include(name, &inc.value);
                if let Some(pos) = stack.iter().position(|s| *s == target) {
                    let mut cycle: Vec<&str> = stack
                        .get(pos..)
                        .unwrap_or(&[])
                        .iter()
                        .map(String::as_str)
                        .collect();
                    cycle.push(&target);
                    self.diags.push(
                        Diagnostic::error("include cycle", inc.span)
                            .label(format!("`{target}` is already being included"))
                            .help(format!(
                                "the files include each other: {}; remove one of the includes",
                                cycle.join(" → ")
                            )),
                    );
                    continue;
                }
                self.gather(&target, Some(inc.span), stack, out);
            } else {
                out.push((item, is_main));
            }
        }
        stack.pop();
    }
}

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

fn valid_key(s: &str) -> Option<char> {
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c @ ('0'..='9' | '*' | '#')), None) => Some(c),
        _ => None,
    }
}

struct Unit<'c> {
    ctx: &'c CheckContext,
    sources: &'c SourceMap,
    diags: Vec<Diagnostic>,
    blocks: BTreeMap<String, &'c BlockDef>,
    subs: BTreeMap<String, &'c BlockDef>,
    lists: HashMap<String, Vec<String>>,
    holidays: HashMap<String, BTreeSet<chrono::NaiveDate>>,
    hours: HashMap<String, Hours>,
    vars: HashMap<String, (Type, Span)>,
    langs: BTreeSet<Lang>,
    allow_external: bool,
    used: HashSet<String>,
}

fn build_unit(
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
    let mut c = Lower {
        ops: Vec::new(),
        spans: Vec::new(),
        fixups: Vec::new(),
    };
    let mut labels = BTreeMap::new();
    for b in u.blocks.values() {
        labels.insert(b.name.name.clone(), c.ops.len());
        c.body(&b.body);
        c.emit(Op::EndOfBlock(b.name.name.clone()), b.end);
    }
    for b in u.subs.values() {
        labels.insert(b.name.name.clone(), c.ops.len());
        c.body(&b.body);
        c.emit(Op::Return, b.end);
    }
    for (at, label, slot) in std::mem::take(&mut c.fixups) {
        let target = labels.get(&label).copied().unwrap_or(0);
        c.patch(at, slot, target);
    }
    for e in &mut dp.entries {
        e.pc = labels.get(&e.block).copied().unwrap_or(0);
    }
    dp.ops = c.ops;
    dp.spans = c.spans;
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

fn child_bodies(s: &Stmt) -> Vec<&Vec<Stmt>> {
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

const FUNCTIONS: &str = "open(HOURS), holiday(HOLIDAYS), len(text), starts_with(text, prefix), contains(text, part), number(text), string(value), round(number)";

impl Unit<'_> {
    fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn matcher(&mut self, p: &Pattern) -> Option<Matcher> {
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

    fn check_block_ref(&mut self, i: &Ident, sub: bool) {
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

    fn check_queue_name(&mut self, q: &Ident) {
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

    fn check_prompts(&mut self, prompts: &[StrLit]) {
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

    fn check_key(&mut self, k: &StrLit) -> Option<char> {
        let c = valid_key(&k.value);
        if c.is_none() {
            self.err(
                Diagnostic::error(format!("\"{}\" is not a phone key", k.value), k.span)
                    .help("keys are a single 0-9, \"*\" or \"#\""),
            );
        }
        c
    }

    fn infer(&mut self, stmts: &[Stmt]) {
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

    fn ty_quiet(&mut self, e: &Expr) -> Option<Type> {
        let n = self.diags.len();
        let t = self.ty(e);
        self.diags.truncate(n);
        t
    }

    /// The type of an expression, reporting errors; `None` if it has none.
    fn ty(&mut self, e: &Expr) -> Option<Type> {
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

    fn mismatch(&mut self, e: &Expr, op: &BinOp, lt: Type, rt: Type) {
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

    fn expect(&mut self, e: &Expr, want: Type, why: &str) {
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

    fn call_ty(&mut self, f: &Ident, args: &[Expr], span: Span) -> Option<Type> {
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

    fn check_body(&mut self, stmts: &[Stmt], in_sub: bool) {
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

    fn check_stmt(&mut self, s: &Stmt, in_sub: bool) {
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
            StmtKind::Priority(e) => self.expect(e, Type::Num, "priority is a number"),
            StmtKind::Tenant(e) => self.expect(e, Type::Str, "the tenant is text"),
            StmtKind::Skill(e) => self.expect(e, Type::Str, "a skill is text"),
            StmtKind::ScreenPop(_, e) => {
                self.ty(e);
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

    fn check_assign(&mut self, v: &Ident, t: Type) {
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

struct Lower {
    ops: Vec<Op>,
    spans: Vec<Span>,
    /// (op index, label, which slot) to patch once all labels are known.
    fixups: Vec<(usize, String, u8)>,
}

fn key_char(k: &StrLit) -> char {
    valid_key(&k.value).unwrap_or('?')
}

fn prompt_names(p: &[StrLit]) -> Vec<String> {
    p.iter().map(|s| s.value.clone()).collect()
}

impl Lower {
    fn emit(&mut self, op: Op, span: Span) -> usize {
        self.ops.push(op);
        self.spans.push(span);
        self.ops.len() - 1
    }
    fn here(&self) -> usize {
        self.ops.len()
    }
    fn set_jump(&mut self, at: usize, target: usize) {
        if let Some(Op::Jump(t) | Op::JumpUnless(_, t)) = self.ops.get_mut(at) {
            *t = target;
        }
    }
    fn patch(&mut self, at: usize, slot: u8, target: usize) {
        let Some(op) = self.ops.get_mut(at) else {
            return;
        };
        match op {
            Op::Jump(t) | Op::Call(t, _) => *t = target,
            Op::Queue(q) => match slot {
                0 => q.on_max_wait = Some(target),
                _ => {
                    if let Some((_, t)) = &mut q.exit {
                        *t = target;
                    }
                }
            },
            _ => {}
        }
    }

    fn body(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let sp = s.span;
        match &s.kind {
            StmtKind::Play(p) => {
                self.emit(Op::Play(prompt_names(p)), sp);
            }
            StmtKind::Say {
                kind,
                expr,
                feminine,
                currency,
            } => {
                self.emit(Op::Say(*kind, expr.clone(), *feminine, *currency), sp);
            }
            StmtKind::Menu(m) => {
                let at = self.emit(Op::Hangup, sp);
                let mut jumps_to_end = Vec::new();
                let mut choices = Vec::new();
                for (k, b) in &m.choices {
                    choices.push((key_char(k), self.here()));
                    self.body(b);
                    jumps_to_end.push(self.emit(Op::Jump(0), sp));
                }
                let handler = |me: &mut Lower, b: &Option<Vec<Stmt>>| {
                    b.as_ref().map(|b| {
                        let start = me.here();
                        me.body(b);
                        me.emit(Op::MenuRetry(at), sp);
                        start
                    })
                };
                let invalid = handler(self, &m.invalid);
                let on_timeout = handler(self, &m.on_timeout);
                let default = m.default.as_ref().map(|b| {
                    let start = self.here();
                    self.body(b);
                    jumps_to_end.push(self.emit(Op::Jump(0), sp));
                    start
                });
                let end = self.here();
                for j in jumps_to_end {
                    self.set_jump(j, end);
                }
                if let Some(op) = self.ops.get_mut(at) {
                    *op = Op::Menu(Box::new(MenuOp {
                        prompts: prompt_names(&m.prompts),
                        timeout: m.timeout.unwrap_or(5.0),
                        tries: m.retries.unwrap_or(3),
                        choices,
                        invalid,
                        on_timeout,
                        default: default.unwrap_or(end),
                    }));
                }
            }
            StmtKind::Collect(c) => {
                self.emit(
                    Op::Collect {
                        var: c.var.name.clone(),
                        max: c.max_digits,
                        prompts: prompt_names(&c.prompts),
                        terminator: c.terminator.as_ref().map(key_char),
                        timeout: c.timeout.unwrap_or(5.0),
                    },
                    sp,
                );
            }
            StmtKind::Set(v, e) => {
                self.emit(Op::Set(v.name.clone(), e.clone()), sp);
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                let mut to_end = Vec::new();
                for (c, b) in branches {
                    let test = self.emit(Op::JumpUnless(c.clone(), 0), c.span);
                    self.body(b);
                    to_end.push(self.emit(Op::Jump(0), sp));
                    let next = self.here();
                    self.set_jump(test, next);
                }
                if let Some(b) = otherwise {
                    self.body(b);
                }
                let end = self.here();
                for j in to_end {
                    self.set_jump(j, end);
                }
            }
            StmtKind::Match {
                subject,
                arms,
                otherwise,
            } => {
                let at = self.emit(Op::Hangup, sp);
                let mut compiled = Vec::new();
                let mut to_end = Vec::new();
                for (p, b) in arms {
                    let m = match p {
                        Pattern::Exact(s) => Matcher::Exact(s.value.clone()),
                        Pattern::Prefix(s) => Matcher::Prefix(s.value.clone()),
                        Pattern::Regex(s) => match regex::Regex::new(&s.value) {
                            Ok(r) => Matcher::Regex(r),
                            Err(_) => Matcher::Exact(String::new()),
                        },
                        Pattern::InList(l) => Matcher::InList(l.name.clone()),
                    };
                    compiled.push((m, self.here()));
                    self.body(b);
                    to_end.push(self.emit(Op::Jump(0), sp));
                }
                let other = self.here();
                if let Some(b) = otherwise {
                    self.body(b);
                }
                let end = self.here();
                for j in to_end {
                    self.set_jump(j, end);
                }
                if let Some(op) = self.ops.get_mut(at) {
                    *op = Op::Match(subject.clone(), compiled, other);
                }
            }
            StmtKind::Goto(i) => {
                let at = self.emit(Op::Jump(0), sp);
                self.fixups.push((at, i.name.clone(), 0));
            }
            StmtKind::Call(i) => {
                let at = self.emit(Op::Call(0, i.name.clone()), sp);
                self.fixups.push((at, i.name.clone(), 0));
            }
            StmtKind::Return => {
                self.emit(Op::Return, sp);
            }
            StmtKind::Hangup => {
                self.emit(Op::Hangup, sp);
            }
            StmtKind::Http(h) => {
                let at = self.emit(Op::Hangup, sp);
                let skip = self.emit(Op::Jump(0), sp);
                let fallback = h.fallback.as_ref().map(|b| {
                    let start = self.here();
                    self.body(b);
                    start
                });
                let end = self.here();
                self.set_jump(skip, end);
                if let Some(op) = self.ops.get_mut(at) {
                    *op = Op::Http(Box::new(HttpOp {
                        method: h.method,
                        url: h.url.clone(),
                        body: h
                            .body
                            .iter()
                            .map(|(k, v)| (k.name.clone(), v.clone()))
                            .collect(),
                        timeout: h.timeout.unwrap_or(3.0),
                        results: h
                            .results
                            .iter()
                            .map(|r| (r.var.name.clone(), r.ty, r.path.value.clone()))
                            .collect(),
                        fallback,
                    }));
                }
            }
            StmtKind::Priority(e) => {
                self.emit(Op::Priority(e.clone()), sp);
            }
            StmtKind::Tenant(e) => {
                self.emit(Op::Tenant(e.clone()), sp);
            }
            StmtKind::Skill(e) => {
                self.emit(Op::Skill(e.clone()), sp);
            }
            StmtKind::ScreenPop(k, e) => {
                self.emit(Op::ScreenPop(k.value.clone(), e.clone()), sp);
            }
            StmtKind::Language(l) => {
                self.emit(Op::Language(*l), sp);
            }
            StmtKind::Queue(q) => {
                let mut op = QueueOp {
                    name: q.name.name.clone(),
                    priority: None,
                    max_wait: None,
                    on_max_wait: None,
                    exit: None,
                    announce: None,
                    callback: None,
                    whisper: Vec::new(),
                };
                let mut fix = Vec::new();
                for o in &q.opts {
                    match o {
                        QueueOpt::Priority(e) => op.priority = Some(e.clone()),
                        QueueOpt::MaxWait(d, t, _) => {
                            op.max_wait = Some(*d);
                            if let Some(t) = t {
                                fix.push((t.name.clone(), 0u8));
                            }
                        }
                        QueueOpt::Exit(k, t) => {
                            op.exit = Some((key_char(k), 0));
                            fix.push((t.name.clone(), 1u8));
                        }
                        QueueOpt::Announce(d, _) => op.announce = Some(*d),
                        QueueOpt::Callback(k) => op.callback = Some(key_char(k)),
                        QueueOpt::Whisper(p) => op.whisper.push(p.value.clone()),
                    }
                }
                let at = self.emit(Op::Queue(Box::new(op)), sp);
                for (label, slot) in fix {
                    self.fixups.push((at, label, slot));
                }
            }
            StmtKind::Transfer(k, e) => {
                self.emit(Op::Transfer(*k, e.clone()), sp);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn check(src: &str) -> Checked {
        let mut files = BTreeMap::new();
        files.insert("t.ivr".to_string(), src.to_string());
        let mut prompts = PromptCatalog::with_vocabulary();
        for l in Lang::ALL {
            prompts.insert(l, "welcome");
            prompts.insert(l, "main-menu");
        }
        check_files(
            &files,
            &["t.ivr".to_string()],
            &CheckContext::new(["sales", "support", "operator"], prompts),
        )
    }

    fn messages(c: &Checked) -> Vec<String> {
        c.diagnostics.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn clean_dialplan_lowers() {
        let c = check(
            r#"entry to "100" goto main
            block main { play "welcome" menu "main-menu" { 1 => queue sales default => hangup } }"#,
        );
        assert!(c.diagnostics.is_empty(), "{}", c.render());
        let p = c.program.unwrap();
        assert_eq!(p.dialplans.len(), 1);
        assert!(p.route("100", "x").is_some());
        assert!(p.route("101", "x").is_none());
    }

    #[test]
    fn finds_the_classic_mistakes() {
        let c = check(
            r#"entry to "100" goto mian
            block main {
                play "welcom"
                menu "main-menu" { 1 => {} 2 => goto nowhere }
                set n = 1
                set n = "x"
                if n { hangup }
                queue slaes
                say number who
                goto main
                hangup
            }"#,
        );
        let m = messages(&c);
        let has = |s: &str| m.iter().any(|x| x.contains(s));
        assert!(has("no block named `mian`"), "{m:?}");
        assert!(has("unknown prompt \"welcom\""));
        assert!(has("menu choice `1` has no branch"));
        assert!(has("no block named `nowhere`"));
        assert!(has("`n` holds a number"));
        assert!(has("unknown queue `slaes`"));
        assert!(has("unknown variable `who`"));
        assert!(has("this line can never run"));
        assert!(c.program.is_none());
        let text = c.render();
        assert!(text.contains("help: did you mean `welcome`?"), "{text}");
        assert!(text.contains("help: did you mean `sales`?"), "{text}");
        assert!(text.contains("--> t.ivr:3:22"), "{text}");
    }

    #[test]
    fn include_cycles_are_reported() {
        let mut files = BTreeMap::new();
        files.insert(
            "a.ivr".to_string(),
            "include \"lib/b.ivr\"\nentry to \"1\" goto m\nblock m { hangup }".to_string(),
        );
        files.insert("lib/b.ivr".to_string(), "include \"../a.ivr\"".to_string());
        let c = check_files(&files, &["a.ivr".to_string()], &CheckContext::default());
        assert!(c.has_errors());
        assert!(
            c.render().contains("a.ivr → lib/b.ivr → a.ivr"),
            "{}",
            c.render()
        );
    }

    #[test]
    fn external_transfer_needs_permission() {
        let c = check("entry to \"1\" goto m\nblock m { transfer external \"+74950000000\" }");
        assert!(messages(&c).iter().any(|m| m.contains("external")));
        let c = check(
            "allow external\nentry to \"1\" goto m\nblock m { transfer external \"+74950000000\" }",
        );
        assert!(!c.has_errors(), "{}", c.render());
    }

    #[test]
    fn type_regex_timezone_and_key_errors() {
        let c = check(
            r#"timezone "Mars/Olympus"
            entry to regex "+7(" goto m
            block m {
                set name = "Ann"
                say number name
                if open(office) { hangup }
                menu "main-menu" { 1 => hangup 1 => hangup "12" => hangup default => hangup }
                transfer extension 1001
            }"#,
        );
        let m = messages(&c);
        let has = |s: &str| m.iter().any(|x| x.contains(s));
        assert!(has("unknown time zone"), "{m:?}");
        assert!(has("regular expression is not valid"), "{m:?}");
        assert!(has("expected a number, but this is a string"), "{m:?}");
        assert!(has("no hours named `office`"), "{m:?}");
        assert!(has("key `1` has two branches"), "{m:?}");
        assert!(has("\"12\" is not a phone key"), "{m:?}");
        assert!(has("expected a string, but this is a number"), "{m:?}");
    }

    #[test]
    fn missing_include_and_return_outside_sub() {
        let c = check("include \"nope.ivr\"\nentry to \"1\" goto m\nblock m { return }");
        let m = messages(&c);
        assert!(
            m.iter()
                .any(|x| x.contains("can't find the file `nope.ivr`")),
            "{m:?}"
        );
        assert!(
            m.iter().any(|x| x.contains("`return` outside a sub")),
            "{m:?}"
        );
    }

    #[test]
    fn goto_a_sub_suggests_call() {
        let c = check("entry to \"1\" goto m\nblock m { goto s }\nsub s { return }");
        let text = c.render();
        assert!(text.contains("use `call s`"), "{text}");
    }

    #[test]
    fn warnings_do_not_block_loading() {
        let c = check("entry to \"1\" goto m\nblock m { menu \"main-menu\" { 1 => hangup } }\nblock unused { hangup }");
        assert!(!c.has_errors());
        assert_eq!(c.diagnostics.len(), 2, "{}", c.render());
        assert!(c.program.is_some());
    }
}
