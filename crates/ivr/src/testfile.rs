//! Dialplan tests: `*.test.toml` files next to the dialplans, where operators write calls and
//! what should happen; [`run_dialplan_tests`] runs them like a test runner.
//!
//! ```toml
//! dialplan = "demo"                 # optional: defaults to the file name before .test.toml
//!
//! [[test]]
//! name = "balance is read back"
//! to = "100"
//! from = "+79991234567"
//! at = "2026-11-23T10:00+03:00"
//! digits = "3"                      # key groups separated by commas
//! queue = ["max_wait"]              # optional: how successive queues end (default answered)
//! [test.http]
//! "https://crm.example/balance*" = { balance = 1234.5 }
//! [test.expect]
//! hears = ["good-morning", "main-menu"]   # in this order, other prompts may come between
//! not_hears = ["vip-greeting"]
//! ends = "queue sales"              # or "hangup", "transfer extension 1001", "callback sales"
//! priority = 10
//! tenant = "acme"
//! vars = { balance = 1234.5 }
//! # also: language, skills, screen_pop = { k = "v" }, whisper = [..], errors = N,
//! # callbacks = ["+447700900123 in support at 2026-11-24T09:00:00+00:00"]
//! # (and refuse_callbacks = true beside `digits`: the engine refuses them)
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use crate::check::CheckContext;
use crate::interp::QueueOutcome;
use crate::loader::load_dir;
use crate::program::{Program, Value};
use crate::sim::{simulate_program, CallEnd, HttpFixtures, SimCall, Transcript};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    dialplan: Option<String>,
    #[serde(default, rename = "test")]
    tests: Vec<TestCase>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    to: String,
    #[serde(default)]
    from: String,
    at: Option<toml::Value>,
    #[serde(default)]
    digits: String,
    #[serde(default)]
    queue: Vec<String>,
    #[serde(default)]
    http: BTreeMap<String, toml::Value>,
    /// The engine refuses the callbacks the flow asks for.
    #[serde(default)]
    refuse_callbacks: bool,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    hears: Vec<String>,
    #[serde(default)]
    not_hears: Vec<String>,
    ends: Option<String>,
    priority: Option<i64>,
    tenant: Option<String>,
    language: Option<String>,
    #[serde(default)]
    skills: Vec<String>,
    #[serde(default)]
    vars: BTreeMap<String, toml::Value>,
    #[serde(default)]
    screen_pop: BTreeMap<String, String>,
    errors: Option<usize>,
    whisper: Option<Vec<String>>,
    /// The callbacks scheduled, as the transcript writes them (`NUMBER in QUEUE at TIME`).
    callbacks: Option<Vec<String>>,
}

/// One case of a test file as written, for tools that replay the cases against a live
/// server (the e2e test that checks the simulator and the engine agree).
#[derive(Debug, Clone, PartialEq)]
pub struct CaseOutline {
    /// The case's name.
    pub name: String,
    /// The dialled number.
    pub to: String,
    /// The caller's number.
    pub from: String,
    /// The `at` time as written (see [`parse_at`]); None: the runner's default.
    pub at: Option<String>,
    /// Key groups, separated by commas.
    pub digits: String,
    /// How successive queues end (`max_wait`, `answered`, ...).
    pub queue: Vec<String>,
    /// The expected end (`queue sales`, `transfer external +7...`, `hangup`, ...).
    pub ends: Option<String>,
}

/// The dialplan a test file's text tests (None: named after the file) and its cases; the
/// same parsing `switchboard ivr test` does.
pub fn case_outlines(text: &str) -> Result<(Option<String>, Vec<CaseOutline>), String> {
    let tf: TestFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let cases = tf
        .tests
        .into_iter()
        .map(|c| CaseOutline {
            at: match c.at {
                Some(toml::Value::String(s)) => Some(s),
                Some(v) => Some(v.to_string()),
                None => None,
            },
            name: c.name,
            to: c.to,
            from: c.from,
            digits: c.digits,
            queue: c.queue,
            ends: c.expect.ends,
        })
        .collect();
    Ok((tf.dialplan, cases))
}

/// Parse a time such as `2026-11-23T03:00+03:00` or `2026-11-23T03:00:00+03:00`.
pub fn parse_at(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M%:z").ok())
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%d %H:%M%:z").ok())
}

fn parse_outcome(s: &str) -> Option<QueueOutcome> {
    Some(match s {
        "answered" => QueueOutcome::Answered,
        "max_wait" => QueueOutcome::MaxWait,
        "exit" | "exit_key" => QueueOutcome::ExitKey,
        "callback" => QueueOutcome::CallbackAccepted,
        "failed" => QueueOutcome::Failed,
        _ => return None,
    })
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or_default(),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

fn toml_to_value(v: &toml::Value) -> Option<Value> {
    Some(match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Num(*i as f64),
        toml::Value::Float(f) => Value::Num(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        _ => return None,
    })
}

/// One test's outcome.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The test file.
    pub file: String,
    /// The test's name.
    pub name: String,
    /// What did not match (empty: passed).
    pub failures: Vec<String>,
    /// The simulated call, for failure output.
    pub transcript: String,
}

impl TestResult {
    /// Did it pass?
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The outcome of a test run. `Display` prints it like a test runner.
#[derive(Debug, Clone, Default)]
pub struct TestReport {
    /// Results in order.
    pub results: Vec<TestResult>,
    /// Problems that stopped tests from running (dialplans with errors, unreadable files).
    pub errors: Vec<String>,
}

impl TestReport {
    /// True when every test passed and nothing stopped the run.
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.results.iter().all(TestResult::passed)
    }
    /// Number of passing tests.
    pub fn passed_count(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "running {} dialplan test{}",
            self.results.len(),
            if self.results.len() == 1 { "" } else { "s" }
        )?;
        for r in &self.results {
            writeln!(
                f,
                "test {} :: {} ... {}",
                r.file,
                r.name,
                if r.passed() { "ok" } else { "FAILED" }
            )?;
        }
        for e in &self.errors {
            writeln!(f, "\n{e}")?;
        }
        let failed: Vec<&TestResult> = self.results.iter().filter(|r| !r.passed()).collect();
        if !failed.is_empty() {
            writeln!(f, "\nfailures:")?;
            for r in &failed {
                writeln!(f, "\n---- {} :: {} ----", r.file, r.name)?;
                for x in &r.failures {
                    writeln!(f, "  {x}")?;
                }
                writeln!(f, "  the call went like this:")?;
                for l in r.transcript.lines() {
                    writeln!(f, "    {l}")?;
                }
            }
        }
        let ok = self.passed();
        writeln!(
            f,
            "\ntest result: {}. {} passed; {} failed{}",
            if ok { "ok" } else { "FAILED" },
            self.passed_count(),
            failed.len(),
            if self.errors.is_empty() {
                String::new()
            } else {
                format!("; {} file error(s)", self.errors.len())
            }
        )
    }
}

/// Run dialplan tests. `path` is a directory (every `*.test.toml` in it, against every
/// dialplan in it), a `.test.toml` file, or a `.ivr` file (its sibling `.test.toml`).
pub fn run_dialplan_tests(path: &Path, ctx: &CheckContext) -> TestReport {
    let mut report = TestReport::default();
    let (dir, only): (PathBuf, Option<PathBuf>) = if path.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let test = match name.strip_suffix(".ivr") {
            Some(stem) => dir.join(format!("{stem}.test.toml")),
            None => path.to_path_buf(),
        };
        (dir, Some(test))
    };
    let program = match load_dir(&dir, ctx) {
        Ok((p, _)) => Arc::new(p),
        Err(e) => {
            report.errors.push(format!(
                "the dialplans in {} can't be loaded:\n{e}",
                dir.display()
            ));
            return report;
        }
    };
    let files: Vec<PathBuf> = match only {
        Some(f) => vec![f],
        None => {
            let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            v.retain(|p| p.to_string_lossy().ends_with(".test.toml"));
            v.sort();
            v
        }
    };
    for f in files {
        run_file(&program, &f, &mut report);
    }
    report
}

/// Run the tests of one test file's text against a loaded program.
pub fn run_test_text(program: &Arc<Program>, file_name: &str, text: &str, report: &mut TestReport) {
    let tf: TestFile = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            report
                .errors
                .push(format!("error: {file_name} is not a valid test file: {e}"));
            return;
        }
    };
    let default_dp = Path::new(file_name)
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .trim_end_matches(".test.toml")
                .to_string()
        })
        .unwrap_or_default();
    let dp = tf.dialplan.clone().unwrap_or(default_dp);
    if program.dialplan(&dp).is_none() {
        report.errors.push(format!(
            "error: {file_name} tests the dialplan `{dp}`, which does not exist"
        ));
        return;
    }
    for case in &tf.tests {
        report.results.push(run_case(program, file_name, &dp, case));
    }
}

fn run_file(program: &Arc<Program>, path: &Path, report: &mut TestReport) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    match std::fs::read_to_string(path) {
        Ok(text) => run_test_text(program, &name, &text, report),
        Err(e) => report
            .errors
            .push(format!("error: can't read {}: {e}", path.display())),
    }
}

fn run_case(program: &Arc<Program>, file: &str, dp: &str, case: &TestCase) -> TestResult {
    let mut failures = Vec::new();
    let at_text = match &case.at {
        Some(toml::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "2026-01-05T12:00:00+00:00".to_string(),
    };
    let at = parse_at(&at_text).unwrap_or_else(|| {
        failures.push(format!(
            "`at = \"{at_text}\"` is not a time like 2026-11-23T10:00+03:00"
        ));
        DateTime::<FixedOffset>::default()
    });
    let mut call = SimCall::new(case.to.clone(), case.from.clone(), at);
    call.digits = case.digits.clone();
    call.dialplan = Some(dp.to_string());
    let http_json = serde_json::Value::Object(
        case.http
            .iter()
            .map(|(k, v)| (k.clone(), toml_to_json(v)))
            .collect(),
    );
    call.http = HttpFixtures::from_json(&http_json);
    call.refuse_callbacks = case.refuse_callbacks;
    for q in &case.queue {
        match parse_outcome(q) {
            Some(o) => call.queue_results.push(o),
            None => failures.push(format!(
                "unknown queue outcome \"{q}\" (answered, max_wait, exit, callback, failed)"
            )),
        }
    }
    let t = simulate_program(program.clone(), &call);
    check_expect(&t, &case.expect, &mut failures);
    TestResult {
        file: file.to_string(),
        name: case.name.clone(),
        failures,
        transcript: t.to_string(),
    }
}

fn check_expect(t: &Transcript, e: &Expect, failures: &mut Vec<String>) {
    let mut pos = 0usize;
    for want in &e.hears {
        match t
            .heard
            .get(pos..)
            .and_then(|rest| rest.iter().position(|h| h == want))
        {
            Some(i) => pos += i + 1,
            None => {
                failures.push(format!(
                    "expected to hear \"{want}\" (in this order), but the caller heard: {}",
                    t.heard.join(", ")
                ));
                break;
            }
        }
    }
    for not in &e.not_hears {
        if t.heard.contains(not) {
            failures.push(format!("expected NOT to hear \"{not}\""));
        }
    }
    if let Some(ends) = &e.ends {
        let got = t.end.to_string();
        if got != *ends {
            failures.push(format!(
                "expected the call to end with `{ends}`, but it ended with `{got}`"
            ));
        }
    }
    if let CallEnd::Unfinished(why) = &t.end {
        if e.ends.is_none() {
            failures.push(format!("the call did not finish: {why}"));
        }
    }
    if let Some(p) = e.priority {
        // The priority the call waited with if it was queued, else the call's own.
        let got = match &t.end {
            CallEnd::Queued(q) | CallEnd::Callback(q) => q.priority,
            _ => t.attrs.priority,
        };
        if i64::from(got) != p {
            failures.push(format!("expected priority {p}, got {got}"));
        }
    }
    if let Some(tn) = &e.tenant {
        if t.attrs.tenant.as_deref() != Some(tn.as_str()) {
            failures.push(format!(
                "expected tenant \"{tn}\", got {:?}",
                t.attrs.tenant
            ));
        }
    }
    if let Some(l) = &e.language {
        if t.attrs.language.map(|x| x.code()) != Some(l.as_str()) {
            failures.push(format!("expected language {l}, got {:?}", t.attrs.language));
        }
    }
    for s in &e.skills {
        if !t.attrs.skills.contains(s) {
            failures.push(format!("expected skill \"{s}\", got {:?}", t.attrs.skills));
        }
    }
    for (k, v) in &e.vars {
        let want = toml_to_value(v);
        let got = t.vars.get(k);
        if want.as_ref() != got {
            let shown = got.map(|g| g.to_string()).unwrap_or_else(|| "unset".into());
            failures.push(format!("expected {k} = {v}, got {shown}"));
        }
    }
    for (k, v) in &e.screen_pop {
        if t.attrs.screen_pop.get(k) != Some(v) {
            failures.push(format!(
                "expected screen-pop {k} = \"{v}\", got {:?}",
                t.attrs.screen_pop.get(k)
            ));
        }
    }
    if let Some(w) = &e.whisper {
        let got = match &t.end {
            CallEnd::Queued(q) | CallEnd::Callback(q) => q.whisper.clone(),
            _ => Vec::new(),
        };
        if *w != got {
            failures.push(format!(
                "expected the agent to hear {w:?} before the call, got {got:?}"
            ));
        }
    }
    if let Some(c) = &e.callbacks {
        if *c != t.callbacks {
            failures.push(format!("expected callbacks {c:?}, got {:?}", t.callbacks));
        }
    }
    let want_errors = e.errors.unwrap_or(0);
    if t.errors.len() != want_errors {
        failures.push(format!(
            "expected {want_errors} runtime error(s), got {}: {}",
            t.errors.len(),
            t.errors.join("; ")
        ));
    }
}
