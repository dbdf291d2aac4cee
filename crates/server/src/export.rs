//! Reports derived from the event log (`<data-dir>/events.sqlite`) and only from it: call
//! detail records (CSV), an Asterisk-compatible `queue_log`, a recordings index (CSV), and a
//! consistency check of the per-call event sequences.
//!
//! Every function here reads and never writes, and is a pure function of the rows it reads:
//! no clock, no files besides the connection it is given. Unknown event kinds are skipped
//! and missing or mistyped JSON fields become empty cells, so older exporters keep working
//! as new kinds appear in the log.
//!
//! CSV follows RFC 4180: a header row, CRLF line ends, fields quoted when they hold a comma,
//! a double quote, CR or LF, with inner quotes doubled. Times are ISO 8601 in UTC with
//! milliseconds (`2026-11-23T10:00:00.000Z`); durations are seconds with three decimals.
//!
//! # queue_log mapping
//!
//! Lines are `epoch|callid|queuename|agent|EVENT|data1|data2|...` as Asterisk's `app_queue`
//! writes them: `epoch` is unix seconds, `callid` is our call id (decimal) or `NONE`,
//! `agent` is `SIP/<agent name>` (see [`AGENT_CHANNEL_PREFIX`]) or `NONE`. Times in data
//! fields are whole seconds, except `RINGNOANSWER`, which Asterisk writes in milliseconds.
//!
//! | event log                                  | queue_log                                                     |
//! |--------------------------------------------|---------------------------------------------------------------|
//! | `queue.join`                               | `ENTERQUEUE\|url\|callerid\|position` (url is always empty)    |
//! | `agent.ring_failed`, or `queue.rona` alone | `RINGNOANSWER\|ringtime_ms` (once per ring)                    |
//! | `call.bridge`                              | `CONNECT\|holdtime\|bridged_uniqueid\|ringtime`                |
//! | `call.end` after a bridge, caller hung up  | `COMPLETECALLER\|holdtime\|calltime\|origposition`             |
//! | `call.end` after a bridge, otherwise       | `COMPLETEAGENT\|holdtime\|calltime\|origposition`              |
//! | `call.transfer` (blind, to a queue)        | `BLINDTRANSFER\|to_queue\|queue\|holdtime\|calltime\|origposition` |
//! | `call.end` while queued or ringing         | `ABANDON\|position\|origposition\|waittime`                    |
//! | `queue.exit` `max_wait`, `queue.overflow`  | `EXITWITHTIMEOUT\|position\|origposition\|waittime`            |
//! | `queue.exit` `ExitKey`                     | `EXITWITHKEY\|key\|position\|origposition\|waittime`           |
//! | `queue.exit` `NoAgents` after joining      | `EXITEMPTY\|position\|origposition\|waittime`                  |
//! | `queue.exit` `NoAgents` / `QueueFull` at join | `JOINEMPTY\|` / `FULL\|`                                    |
//! | `agent.login` / `agent.logout`             | `AGENTLOGIN\|channel` / `AGENTLOGOFF\|channel\|logintime`      |
//! | `agent.state` entering / leaving `paused`  | `PAUSE\|reason` / `UNPAUSE\|` (queue `NONE`)                   |
//!
//! A blind transfer ends the first agent's part with `BLINDTRANSFER` (extension = target
//! queue, context = `queue`); the caller's new wait starts with `ENTERQUEUE` in that queue.
//! `CONNECT` is written when the agent answers (`call.bridge`), calltime runs from the end
//! of the agent whisper (`call.connected`) when there is one.
//!
//! An overflow is written the way Asterisk shows it when a queue timeout sends the caller on
//! to another queue: `EXITWITHTIMEOUT` in the old queue, then `ENTERQUEUE` in the new one.
//! `bridged_uniqueid` is `<call>-<agent>`: we have no Asterisk channel id for the agent leg.
//! `|`, CR and LF inside a value are replaced by `_` so a line always has its fields.

use std::collections::{BTreeMap, HashMap};

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use crate::event_log::StoredEvent;
use crate::event_store::EventStore;
use switchboard_events::{AgentStateName, CallEnd, EndReason, Event, QueueExitReason};

/// Prefix of the queue_log `agent` field: Asterisk writes the queue member's interface
/// there (`SIP/8007`, `PJSIP/516`), and report tools group agents by it.
pub(crate) const AGENT_CHANNEL_PREFIX: &str = "SIP/";

/// The `context` of a `BLINDTRANSFER` line: our transfers always go to a queue.
const TRANSFER_CONTEXT: &str = "queue";

/// Kinds that may follow `call.end` (bookkeeping written by other tasks after the call is
/// gone: the ACD's `queue.waited`, a screen-pop webhook's last retry).
const AFTER_END_PREFIXES: [&str; 2] = ["queue.", "screenpop."];

/// At most this many DTMF characters are kept per call in a CDR.
const MAX_DTMF: usize = 128;

/// At most this many problems are reported per call by [`check_call_sequences`].
const MAX_PROBLEMS_PER_CALL: usize = 8;

// ---------------------------------------------------------------------------------------
// Field access and formatting
// ---------------------------------------------------------------------------------------

fn str_of<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

fn i64_of(data: &Value, key: &str) -> Option<i64> {
    match data.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// ISO 8601 UTC with milliseconds; empty if out of chrono's range.
fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn iso_opt(ms: Option<i64>) -> String {
    ms.map(iso).unwrap_or_default()
}

fn secs3(v: f64) -> String {
    format!("{v:.3}")
}

fn ms_to_secs3(ms: i64) -> String {
    secs3(ms as f64 / 1000.0)
}

/// Whole seconds between two unix-ms instants (never negative), as Asterisk counts them.
fn whole_secs(from_ms: i64, to_ms: i64) -> i64 {
    to_ms.saturating_sub(from_ms).max(0) / 1000
}

/// One CSV field per RFC 4180.
fn csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\r', '\n']) {
        out.push('"');
        for c in s.chars() {
            if c == '"' {
                out.push('"');
            }
            out.push(c);
        }
        out.push('"');
    } else {
        out.push_str(s);
    }
}

/// One CSV record, CRLF-terminated.
fn csv_row<S: AsRef<str>>(out: &mut String, fields: &[S]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, f.as_ref());
    }
    out.push_str("\r\n");
}

fn in_window(ts: i64, from_ms: Option<i64>, to_ms: Option<i64>) -> bool {
    from_ms.is_none_or(|f| ts >= f) && to_ms.is_none_or(|t| ts < t)
}

/// Who ended the call, from the typed `call.end` reason.
fn hangup_by(reason: Option<EndReason>) -> &'static str {
    match reason {
        None => "",
        Some(EndReason::CallerHangup | EndReason::CallerCancelled | EndReason::CustomerHangup) => {
            "caller"
        }
        Some(EndReason::AgentHangup) => "agent",
        Some(_) => "system",
    }
}

/// The typed `call.end` of a row, if it is one that fits the schema.
fn call_end(ev: &StoredEvent) -> Option<&CallEnd> {
    match &ev.event {
        Some(Event::CallEnd(e)) => Some(e),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Per-call summary (CDR and recordings index)
// ---------------------------------------------------------------------------------------

/// What the log says about one call, folded from its events in log order.
#[derive(Debug, Default)]
struct CallSummary {
    id: String,
    start_ms: Option<i64>,
    answer_ms: Option<i64>,
    bridge_ms: Option<i64>,
    end_ms: Option<i64>,
    caller: String,
    dnis: String,
    /// Last queue the call was seen in.
    queue: String,
    /// Agent the call was bridged to.
    agent: String,
    first_join_ms: Option<i64>,
    in_queue: bool,
    left_queue_ms: Option<i64>,
    /// When the queue wait ended (bridge, leaving the queue, or the end).
    wait_end_ms: Option<i64>,
    end: Option<CallEnd>,
    end_queue: String,
    end_agent: String,
    recording: Option<String>,
    dtmf: String,
}

impl CallSummary {
    fn apply(&mut self, ev: &StoredEvent) {
        if self.end_ms.is_some() {
            // Trailing bookkeeping (queue.waited, ...) does not change the record.
            return;
        }
        if !ev.queue.is_empty() && (ev.kind.starts_with("queue.") || ev.kind == "call.bridge") {
            self.queue.clone_from(&ev.queue);
        }
        match ev.kind.as_str() {
            "call.start" if self.start_ms.is_none() => {
                self.start_ms = Some(ev.ts_ms);
                self.caller = str_of(&ev.data, "caller").unwrap_or_default().to_string();
                self.dnis = str_of(&ev.data, "dnis").unwrap_or_default().to_string();
            }
            "call.answer" => {
                self.answer_ms.get_or_insert(ev.ts_ms);
            }
            "dtmf" => {
                if let Some(d) = str_of(&ev.data, "digit") {
                    for c in d.chars() {
                        if self.dtmf.len() < MAX_DTMF {
                            self.dtmf.push(c);
                        }
                    }
                }
            }
            "queue.join" => {
                self.first_join_ms.get_or_insert(ev.ts_ms);
                self.in_queue = true;
            }
            "queue.exit" | "queue.overflow" if self.in_queue => {
                self.in_queue = false;
                self.left_queue_ms = Some(ev.ts_ms);
            }
            "call.bridge" => {
                if self.bridge_ms.is_none() {
                    self.bridge_ms = Some(ev.ts_ms);
                    self.agent.clone_from(&ev.agent);
                }
                self.in_queue = false;
            }
            "recording.start" => {
                if let Some(p) = str_of(&ev.data, "path") {
                    self.recording = Some(p.to_string());
                }
            }
            "call.end" => {
                self.end_ms = Some(ev.ts_ms);
                // A row that does not fit the schema still ends the call (`end` stays None).
                let end = call_end(ev).cloned();
                if let Some(p) = end.as_ref().and_then(|e| e.recording.as_ref()) {
                    self.recording = Some(p.clone());
                }
                self.wait_end_ms = self.first_join_ms.map(|_| {
                    match (self.bridge_ms, self.in_queue, self.left_queue_ms) {
                        (Some(b), _, _) => b,
                        (None, false, Some(left)) => left,
                        _ => ev.ts_ms,
                    }
                });
                self.end = end;
                self.end_queue.clone_from(&ev.queue);
                self.end_agent.clone_from(&ev.agent);
            }
            _ => {}
        }
    }

    fn final_queue(&self) -> &str {
        if self.end_queue.is_empty() {
            &self.queue
        } else {
            &self.end_queue
        }
    }

    fn final_agent(&self) -> &str {
        if self.end_agent.is_empty() {
            &self.agent
        } else {
            &self.end_agent
        }
    }

    fn disposition(&self) -> String {
        match (&self.end, self.end_ms) {
            (Some(end), _) => end.disposition.as_str().to_string(),
            (None, Some(_)) => "unknown".to_string(),
            (None, None) => String::new(),
        }
    }

    fn talk_s(&self) -> String {
        self.end
            .as_ref()
            .and_then(|e| e.talk_s)
            .filter(|t| t.is_finite())
            .map(secs3)
            .unwrap_or_default()
    }
}

/// Folds events into per-call summaries, in order of each call's first event.
fn summarize(events: &[StoredEvent]) -> Vec<CallSummary> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut calls: Vec<CallSummary> = Vec::new();
    for ev in events.iter().filter(|e| !e.call.is_empty()) {
        let i = *index.entry(ev.call.as_str()).or_insert_with(|| {
            calls.push(CallSummary {
                id: ev.call.clone(),
                ..CallSummary::default()
            });
            calls.len() - 1
        });
        if let Some(c) = calls.get_mut(i) {
            c.apply(ev);
        }
    }
    calls
}

const CDR_HEADER: [&str; 17] = [
    "call_id",
    "start",
    "answer",
    "bridge",
    "end",
    "caller",
    "dnis",
    "queue",
    "agent",
    "disposition",
    "wait_s",
    "talk_s",
    "duration_s",
    "hangup_by",
    "end_reason",
    "recording",
    "dtmf",
];

/// Call detail records as CSV: one row per call whose `call.start` lies in `[from_ms, to_ms)`
/// (unix ms; `None` = unbounded) and which has a `call.end` (possibly after `to_ms`).
///
/// Columns: `call_id, start, answer` (we answered the caller), `bridge` (an agent was
/// connected), `end, caller, dnis, queue, agent, disposition` (`answered`, `abandoned`,
/// `ivr`, `refused`, ...), `wait_s` (first queue join to bridge, to leaving the queue, or to
/// the end; empty if never queued), `talk_s, duration_s, hangup_by` (`caller`, `agent`,
/// `system`), `end_reason, recording, dtmf` (digits in the order received).
pub(crate) fn export_cdr(
    store: &mut dyn EventStore,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> anyhow::Result<String> {
    // A call's events all follow its call.start, so nothing before `from` is needed; its
    // call.end may come after `to`.
    let events = store
        .read_range(from_ms, None)
        .context("reading the event log")?;
    let mut out = String::new();
    csv_row(&mut out, &CDR_HEADER);
    for c in summarize(&events) {
        let (Some(start), Some(end_ms)) = (c.start_ms, c.end_ms) else {
            continue;
        };
        let end = c.end.as_ref();
        if !in_window(start, from_ms, to_ms) {
            continue;
        }
        let reason = end.map(|e| e.end_reason);
        let duration = end
            .and_then(|e| e.duration_s)
            .filter(|d| d.is_finite())
            .map(secs3)
            .unwrap_or_else(|| ms_to_secs3(end_ms.saturating_sub(start)));
        let wait = match (c.first_join_ms, c.wait_end_ms) {
            (Some(j), Some(w)) => ms_to_secs3(w.saturating_sub(j).max(0)),
            _ => String::new(),
        };
        let row = [
            c.id.clone(),
            iso(start),
            iso_opt(c.answer_ms),
            iso_opt(c.bridge_ms),
            iso(end_ms),
            c.caller.clone(),
            c.dnis.clone(),
            c.final_queue().to_string(),
            c.final_agent().to_string(),
            c.disposition(),
            wait,
            c.talk_s(),
            duration,
            hangup_by(reason).to_string(),
            reason.map(|r| r.as_str().to_string()).unwrap_or_default(),
            c.recording.clone().unwrap_or_default(),
            c.dtmf.clone(),
        ];
        csv_row(&mut out, &row);
    }
    Ok(out)
}

/// Recordings as CSV (`call_id, start, queue, agent, caller, path, talk_s`): one row per
/// call with a recording whose `call.start` lies in `[from_ms, to_ms)`. Calls still in
/// progress are listed with an empty `talk_s`.
pub(crate) fn recordings_index(
    store: &mut dyn EventStore,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> anyhow::Result<String> {
    let events = store
        .read_range(from_ms, None)
        .context("reading the event log")?;
    let mut out = String::new();
    csv_row(
        &mut out,
        &[
            "call_id", "start", "queue", "agent", "caller", "path", "talk_s",
        ],
    );
    for c in summarize(&events) {
        let (Some(start), Some(path)) = (c.start_ms, c.recording.as_deref()) else {
            continue;
        };
        if !in_window(start, from_ms, to_ms) {
            continue;
        }
        let (start, talk) = (iso(start), c.talk_s());
        let row = [
            c.id.as_str(),
            &start,
            c.final_queue(),
            c.final_agent(),
            &c.caller,
            path,
            &talk,
        ];
        csv_row(&mut out, &row);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Asterisk queue_log
// ---------------------------------------------------------------------------------------

/// A queue_log value: `|`, CR and LF would break the line's fields.
fn ql_value(s: &str) -> String {
    s.replace(['|', '\r', '\n'], "_")
}

fn ql_agent(agent: &str) -> String {
    if agent.is_empty() {
        "NONE".to_string()
    } else {
        format!("{AGENT_CHANNEL_PREFIX}{}", ql_value(agent))
    }
}

fn ql_name(s: &str) -> String {
    if s.is_empty() {
        "NONE".to_string()
    } else {
        ql_value(s)
    }
}

/// Queue state of one call while replaying the log.
#[derive(Debug, Default)]
struct QueuedCall {
    caller: String,
    queue: String,
    join_ms: i64,
    orig_position: i64,
    position: i64,
    in_queue: bool,
    /// The outstanding ring: agent, when it started, whether its failure was logged.
    ring: Option<(String, i64, bool)>,
    bridged: Option<Bridged>,
    ended: bool,
}

/// The agent a call is bridged to, for the queue_log line that ends that part of the call.
#[derive(Debug)]
struct Bridged {
    agent: String,
    hold_s: i64,
    /// Talk starts at the bridge, or when the whisper ends (`call.connected`).
    talk_from_ms: i64,
}

impl QueuedCall {
    fn wait_s(&self, now_ms: i64) -> i64 {
        whole_secs(self.join_ms, now_ms)
    }
}

/// Writes queue_log lines for the events it is fed, in order.
struct QueueLogWriter {
    from_ms: Option<i64>,
    out: String,
    calls: HashMap<String, QueuedCall>,
    login_ms: HashMap<String, i64>,
    /// Agents currently paused, with the reason.
    paused: HashMap<String, String>,
}

impl QueueLogWriter {
    fn line(
        &mut self,
        ts_ms: i64,
        callid: &str,
        queue: &str,
        agent: &str,
        event: &str,
        data: &[String],
    ) {
        if self.from_ms.is_some_and(|f| ts_ms < f) {
            return;
        }
        let mut l = format!(
            "{}|{}|{}|{}|{}",
            ts_ms.div_euclid(1000),
            ql_name(callid),
            ql_name(queue),
            agent,
            event
        );
        if data.is_empty() {
            l.push('|');
        }
        for d in data {
            l.push('|');
            l.push_str(&ql_value(d));
        }
        l.push('\n');
        self.out.push_str(&l);
    }

    fn feed(&mut self, ev: &StoredEvent) {
        if ev.call.is_empty() {
            self.agent_event(ev);
        } else {
            self.call_event(ev);
        }
    }

    fn agent_event(&mut self, ev: &StoredEvent) {
        if ev.agent.is_empty() {
            return;
        }
        let chan = ql_agent(&ev.agent);
        match ev.kind.as_str() {
            "agent.login" => {
                self.login_ms.insert(ev.agent.clone(), ev.ts_ms);
                self.line(
                    ev.ts_ms,
                    "",
                    "",
                    &chan,
                    "AGENTLOGIN",
                    std::slice::from_ref(&chan),
                );
            }
            "agent.logout" => {
                let logged = self
                    .login_ms
                    .remove(&ev.agent)
                    .map(|t| whole_secs(t, ev.ts_ms))
                    .unwrap_or(0);
                self.paused.remove(&ev.agent);
                self.line(
                    ev.ts_ms,
                    "",
                    "",
                    &chan,
                    "AGENTLOGOFF",
                    &[chan.clone(), logged.to_string()],
                );
            }
            "agent.state" => {
                let Some(Event::AgentState {
                    state,
                    pause_reason,
                    ..
                }) = &ev.event
                else {
                    return;
                };
                if *state == AgentStateName::Paused {
                    let reason = pause_reason.clone().unwrap_or_default();
                    let was = self.paused.insert(ev.agent.clone(), reason.clone());
                    if was.as_deref() != Some(reason.as_str()) {
                        self.line(ev.ts_ms, "", "", &chan, "PAUSE", &[reason]);
                    }
                } else if self.paused.remove(&ev.agent).is_some()
                    && *state != AgentStateName::LoggedOut
                {
                    self.line(ev.ts_ms, "", "", &chan, "UNPAUSE", &[String::new()]);
                }
            }
            _ => {}
        }
    }

    fn call_event(&mut self, ev: &StoredEvent) {
        let id = ev.call.clone();
        let mut lines: Vec<(String, String, &'static str, Vec<String>)> = Vec::new();
        {
            let c = self.calls.entry(id.clone()).or_default();
            if c.ended {
                return;
            }
            let queue_of = |c: &QueuedCall| {
                if ev.queue.is_empty() {
                    c.queue.clone()
                } else {
                    ev.queue.clone()
                }
            };
            let position = |c: &QueuedCall| {
                vec![
                    c.position.to_string(),
                    c.orig_position.to_string(),
                    c.wait_s(ev.ts_ms).to_string(),
                ]
            };
            match ev.kind.as_str() {
                "call.start" => {
                    c.caller = str_of(&ev.data, "caller").unwrap_or_default().to_string();
                }
                "queue.join" => {
                    c.queue.clone_from(&ev.queue);
                    c.join_ms = ev.ts_ms;
                    c.position = i64_of(&ev.data, "position").unwrap_or(0);
                    c.orig_position = c.position;
                    c.in_queue = true;
                    let data = vec![String::new(), c.caller.clone(), c.position.to_string()];
                    lines.push((queue_of(c), "NONE".into(), "ENTERQUEUE", data));
                }
                "queue.announce" | "queue.prediction" => {
                    if let Some(p) = i64_of(&ev.data, "position") {
                        c.position = p;
                    }
                }
                "agent.ring" => {
                    c.ring = Some((ev.agent.clone(), ev.ts_ms, false));
                }
                "agent.ring_failed" | "queue.rona" => {
                    let matches =
                        |r: &(String, i64, bool)| !r.2 && (ev.agent.is_empty() || r.0 == ev.agent);
                    let q = queue_of(c);
                    if let Some(r) = c.ring.as_mut().filter(|r| matches(r)) {
                        r.2 = true;
                        let agent = if ev.agent.is_empty() {
                            r.0.clone()
                        } else {
                            ev.agent.clone()
                        };
                        let ring_ms = ev.ts_ms.saturating_sub(r.1).max(0);
                        lines.push((
                            q,
                            ql_agent(&agent),
                            "RINGNOANSWER",
                            vec![ring_ms.to_string()],
                        ));
                    }
                }
                "call.bridge" => {
                    let hold = if c.in_queue { c.wait_s(ev.ts_ms) } else { 0 };
                    let ring = c
                        .ring
                        .as_ref()
                        .map(|r| whole_secs(r.1, ev.ts_ms))
                        .unwrap_or(0);
                    let agent = if ev.agent.is_empty() {
                        c.ring.as_ref().map(|r| r.0.clone()).unwrap_or_default()
                    } else {
                        ev.agent.clone()
                    };
                    c.queue = queue_of(c);
                    c.in_queue = false;
                    c.ring = None;
                    c.bridged = Some(Bridged {
                        agent: agent.clone(),
                        hold_s: hold,
                        talk_from_ms: ev.ts_ms,
                    });
                    let data = vec![hold.to_string(), format!("{id}-{agent}"), ring.to_string()];
                    lines.push((c.queue.clone(), ql_agent(&agent), "CONNECT", data));
                }
                "call.connected" => {
                    if let Some(b) = c.bridged.as_mut() {
                        b.talk_from_ms = ev.ts_ms;
                    }
                }
                "call.transfer" => {
                    // Asterisk: BLINDTRANSFER(extension|context|holdtime|calltime|origposition).
                    if let Some(b) = c.bridged.take() {
                        let to = str_of(&ev.data, "to_queue").unwrap_or_default().to_string();
                        let agent = if ev.agent.is_empty() {
                            b.agent
                        } else {
                            ev.agent.clone()
                        };
                        let data = vec![
                            to,
                            TRANSFER_CONTEXT.to_string(),
                            b.hold_s.to_string(),
                            whole_secs(b.talk_from_ms, ev.ts_ms).to_string(),
                            c.orig_position.to_string(),
                        ];
                        lines.push((queue_of(c), ql_agent(&agent), "BLINDTRANSFER", data));
                    }
                }
                "queue.exit" => {
                    let Some(Event::QueueExit { reason, key, .. }) = &ev.event else {
                        return;
                    };
                    let q = queue_of(c);
                    let was_in = c.in_queue;
                    c.in_queue = false;
                    match reason {
                        QueueExitReason::MaxWait if was_in => {
                            lines.push((q, "NONE".into(), "EXITWITHTIMEOUT", position(c)));
                        }
                        QueueExitReason::ExitKey if was_in => {
                            let mut data = vec![key.clone().unwrap_or_default()];
                            data.extend(position(c));
                            lines.push((q, "NONE".into(), "EXITWITHKEY", data));
                        }
                        QueueExitReason::NoAgents if was_in => {
                            lines.push((q, "NONE".into(), "EXITEMPTY", position(c)));
                        }
                        QueueExitReason::NoAgents => {
                            lines.push((q, "NONE".into(), "JOINEMPTY", Vec::new()));
                        }
                        QueueExitReason::QueueFull if !was_in => {
                            lines.push((q, "NONE".into(), "FULL", Vec::new()));
                        }
                        _ => {}
                    }
                }
                "queue.overflow" if c.in_queue => {
                    c.in_queue = false;
                    lines.push((queue_of(c), "NONE".into(), "EXITWITHTIMEOUT", position(c)));
                }
                "call.end" => {
                    c.ended = true;
                    if let Some(b) = c.bridged.take() {
                        let end = call_end(ev);
                        let talk = end
                            .and_then(|e| e.talk_s)
                            .filter(|t| t.is_finite())
                            .map(|t| t as i64)
                            .unwrap_or_else(|| whole_secs(b.talk_from_ms, ev.ts_ms));
                        let event = if hangup_by(end.map(|e| e.end_reason)) == "caller" {
                            "COMPLETECALLER"
                        } else {
                            "COMPLETEAGENT"
                        };
                        let agent = if ev.agent.is_empty() {
                            b.agent
                        } else {
                            ev.agent.clone()
                        };
                        let data = vec![
                            b.hold_s.to_string(),
                            talk.to_string(),
                            c.orig_position.to_string(),
                        ];
                        lines.push((queue_of(c), ql_agent(&agent), event, data));
                    } else if c.in_queue {
                        c.in_queue = false;
                        lines.push((queue_of(c), "NONE".into(), "ABANDON", position(c)));
                    }
                    // Keep only the marker: later bookkeeping for this call is ignored.
                    c.caller.clear();
                    c.ring = None;
                }
                _ => {}
            }
        }
        for (queue, agent, event, data) in lines {
            self.line(ev.ts_ms, &id, &queue, &agent, event, &data);
        }
    }
}

/// The log as Asterisk `queue_log` lines (see the module docs for the mapping), for events
/// in `[from_ms, to_ms)` (unix ms; `None` = unbounded). State such as join times and logins
/// is rebuilt from the whole log before `to_ms`, so hold times are right at the window's edge.
pub(crate) fn export_queue_log(
    store: &mut dyn EventStore,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> anyhow::Result<String> {
    let events = store
        .read_range(None, to_ms)
        .context("reading the event log")?;
    let mut w = QueueLogWriter {
        from_ms,
        out: String::new(),
        calls: HashMap::new(),
        login_ms: HashMap::new(),
        paused: HashMap::new(),
    };
    for ev in &events {
        w.feed(ev);
    }
    Ok(w.out)
}

// ---------------------------------------------------------------------------------------
// Consistency check
// ---------------------------------------------------------------------------------------

/// Fails every started call without a `call.end`, and checks every finished call in the
/// whole log: its events carry
/// `call_seq` 1..n in log order with no gap or duplicate, the first is `call.start`, nothing
/// but `queue.*` and `screenpop.*` bookkeeping follows the single `call.end`, and
/// timestamps never go back.
/// Also checks that events outside a call have `call_seq` 0. Returns one line per problem
/// (at most a few per call); empty means healthy.
pub(crate) fn check_call_sequences(store: &mut dyn EventStore) -> Vec<String> {
    let events = match store.read_range(None, None) {
        Ok(e) => e,
        Err(e) => return vec![format!("cannot read the event log: {e:#}")],
    };
    let mut problems = Vec::new();
    let mut by_call: BTreeMap<&str, Vec<&StoredEvent>> = BTreeMap::new();
    for ev in &events {
        if ev.call.is_empty() {
            if ev.call_seq != 0 {
                problems.push(format!(
                    "event {} ({}) has no call but call_seq {}",
                    ev.id, ev.kind, ev.call_seq
                ));
            }
        } else {
            by_call.entry(ev.call.as_str()).or_default().push(ev);
        }
    }
    for (call, evs) in &by_call {
        if evs.iter().any(|e| e.kind == "call.end") {
            let mut p = check_one_call(evs);
            p.truncate(MAX_PROBLEMS_PER_CALL);
            problems.extend(p.into_iter().map(|m| format!("call {call}: {m}")));
        } else if evs.iter().any(|e| e.kind == "call.start") {
            problems.push(format!(
                "call {call}: no call.end (still in progress, or the server stopped and has \
                 not been restarted to close it)"
            ));
        }
    }
    problems
}

/// Problems in one call's events (given in log order).
fn check_one_call(evs: &[&StoredEvent]) -> Vec<String> {
    let mut p = Vec::new();
    let mut seen: HashMap<i64, i64> = HashMap::new();
    for (i, e) in evs.iter().enumerate() {
        let expected = i as i64 + 1;
        if let Some(first) = seen.insert(e.call_seq, e.id) {
            p.push(format!(
                "duplicate call_seq {} (events {first} and {})",
                e.call_seq, e.id
            ));
        } else if e.call_seq != expected {
            p.push(format!(
                "event {} ({}) has call_seq {}, expected {expected}",
                e.id, e.kind, e.call_seq
            ));
        }
    }
    let mut ordered: Vec<&StoredEvent> = evs.to_vec();
    ordered.sort_by_key(|e| (e.call_seq, e.id));
    match ordered.first() {
        Some(first) if first.kind != "call.start" => {
            p.push(format!(
                "first event is {} (id {}), not call.start",
                first.kind, first.id
            ));
        }
        _ => {}
    }
    let ends = ordered.iter().filter(|e| e.kind == "call.end").count();
    if ends > 1 {
        p.push(format!("{ends} call.end events"));
    }
    if let Some(end_at) = ordered.iter().position(|e| e.kind == "call.end") {
        for e in ordered.iter().skip(end_at + 1) {
            let bookkeeping = AFTER_END_PREFIXES.iter().any(|p| e.kind.starts_with(p));
            if !bookkeeping && e.kind != "call.end" {
                p.push(format!("{} (id {}) after call.end", e.kind, e.id));
            }
        }
    }
    for w in ordered.windows(2) {
        if let [a, b] = w {
            if b.ts_ms < a.ts_ms {
                p.push(format!(
                    "time goes back from {} (seq {}) to {} (seq {})",
                    iso(a.ts_ms),
                    a.call_seq,
                    iso(b.ts_ms),
                    b.call_seq
                ));
            }
        }
    }
    p
}

// ---------------------------------------------------------------------------------------
// --from / --to
// ---------------------------------------------------------------------------------------

/// Parses a `--from`/`--to` argument to unix milliseconds: RFC 3339
/// (`2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.5+03:00`), a date (`2026-11-23`, midnight
/// UTC) or whole unix seconds (`1795428000`). A time without an offset is refused rather
/// than guessed.
pub(crate) fn parse_time_arg(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s
            .parse()
            .with_context(|| format!("unix seconds out of range: {s}"))?;
        return secs
            .checked_mul(1000)
            .with_context(|| format!("unix seconds out of range: {s}"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    bail!(
        "cannot read time {s:?}: use RFC 3339 with an offset (2026-11-23T10:00:00Z), \
         a date (2026-11-23, midnight UTC) or unix seconds"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    /// A throwaway event log in a temp file, written row by row with explicit times.
    /// A scratch event store for one test: SQLite, or, when `SWITCHBOARD_TEST_POSTGRES`
    /// names a database (scripts/test runs this suite a second time that way), a schema
    /// of its own in PostgreSQL. The same tests thus check both backends.
    struct TestLog {
        path: PathBuf,
        store: Box<dyn EventStore>,
        seqs: HashMap<String, i64>,
        pg_cleanup: Option<(String, String)>,
    }

    impl TestLog {
        fn new(name: &str) -> TestLog {
            let dir = std::env::temp_dir().join(format!("sb-export-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            if let Ok(url) = std::env::var("SWITCHBOARD_TEST_POSTGRES") {
                let schema = format!(
                    "sb_export_{}_{}",
                    std::process::id(),
                    name.replace('-', "_")
                );
                let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                admin
                    .batch_execute(&format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
                    ))
                    .unwrap();
                let sep = if url.contains('?') { '&' } else { '?' };
                let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
                let store = crate::event_store::PostgresStore::connect(&scoped).unwrap();
                return TestLog {
                    path: dir,
                    store: Box::new(store),
                    seqs: HashMap::new(),
                    pg_cleanup: Some((url, schema)),
                };
            }
            let store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
            TestLog {
                path: dir,
                store: Box::new(store),
                seqs: HashMap::new(),
                pg_cleanup: None,
            }
        }

        /// Appends with the next call_seq for the call (0 for non-call events).
        fn ev(&mut self, ts: i64, call: &str, queue: &str, agent: &str, kind: &str, data: Value) {
            let seq = if call.is_empty() {
                0
            } else {
                let s = self.seqs.entry(call.to_string()).or_insert(0);
                *s += 1;
                *s
            };
            self.raw(ts, call, seq, queue, agent, kind, &data.to_string());
        }

        /// Appends one row as given (any `data` text, even invalid JSON).
        #[allow(clippy::too_many_arguments)]
        fn raw(
            &mut self,
            ts: i64,
            call: &str,
            seq: i64,
            queue: &str,
            agent: &str,
            kind: &str,
            data: &str,
        ) {
            self.store
                .append_batch(&[crate::event_store::Row {
                    ts_ms: ts,
                    call: call.into(),
                    call_seq: seq,
                    queue: queue.into(),
                    agent: agent.into(),
                    kind: kind.into(),
                    data: data.into(),
                    schema: switchboard_events::SCHEMA_VERSION,
                }])
                .unwrap();
        }
    }

    impl Drop for TestLog {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
            if let Some((url, schema)) = self.pg_cleanup.take() {
                if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                    let _ = c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
                }
            }
        }
    }

    /// 2026-11-23T10:00:00Z in unix ms.
    const T0: i64 = 1_795_428_000_000;

    /// Answered call 1: IVR digit, queue, one failed ring, bridged to bob, recorded,
    /// caller hangs up.
    fn answered_call(log: &mut TestLog, call: &str, t: i64) {
        log.ev(
            t,
            call,
            "",
            "",
            "call.start",
            json!({"caller": "+15550001", "dnis": "100", "sip_call_id": "x@y"}),
        );
        log.ev(
            t + 100,
            call,
            "",
            "",
            "call.answer",
            json!({"codec": "PCMU"}),
        );
        log.ev(
            t + 2_000,
            call,
            "",
            "",
            "dtmf",
            json!({"digit": "1", "via": "rfc4733"}),
        );
        log.ev(
            t + 3_000,
            call,
            "sales",
            "",
            "queue.join",
            json!({"position": 2, "resumed": false}),
        );
        log.ev(
            t + 3_100,
            call,
            "sales",
            "",
            "queue.announce",
            json!({"position": 2, "ewt_bound_s": 60, "spoken": "about 1 minute"}),
        );
        log.ev(t + 10_000, call, "sales", "alice", "queue.offer", json!({}));
        log.ev(t + 10_050, call, "sales", "alice", "agent.ring", json!({}));
        log.ev(
            t + 25_050,
            call,
            "sales",
            "alice",
            "agent.ring_failed",
            json!({"status": 408}),
        );
        log.ev(t + 25_060, call, "", "alice", "queue.rona", json!({}));
        log.ev(
            t + 30_000,
            call,
            "sales",
            "",
            "queue.prediction",
            json!({"position": 1, "bound_s": 10.0, "waited_s": 27.0}),
        );
        log.ev(t + 31_000, call, "sales", "bob", "queue.offer", json!({}));
        log.ev(t + 31_000, call, "sales", "bob", "agent.ring", json!({}));
        log.ev(
            t + 34_000,
            call,
            "sales",
            "bob",
            "recording.start",
            json!({"path": "/data/rec/2026-11-23/1.wav"}),
        );
        log.ev(
            t + 34_000,
            call,
            "sales",
            "bob",
            "call.bridge",
            json!({"wait_s": 34.0}),
        );
        log.ev(
            t + 94_000,
            call,
            "sales",
            "bob",
            "call.end",
            json!({"end_reason": "caller_hangup", "duration_s": 94.0, "disposition": "answered", "talk_s": 60.0,
                   "recording": "/data/rec/2026-11-23/1.wav"}),
        );
        log.ev(
            t + 94_001,
            call,
            "sales",
            "",
            "queue.waited",
            json!({"waited_s": 31.0, "outcome": "Answered"}),
        );
    }

    fn csv_rows(s: &str) -> Vec<Vec<String>> {
        // Enough of a reader for the tests: no embedded newlines in these fixtures.
        s.split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    }

    fn col(rows: &[Vec<String>], row: usize, name: &str) -> String {
        let i = rows[0].iter().position(|h| h == name).unwrap();
        rows[row][i].clone()
    }

    #[test]
    fn csv_fields_are_quoted_per_rfc_4180() {
        let mut out = String::new();
        csv_row(
            &mut out,
            &["plain", "a,b", "say \"hi\"", "two\nlines", "", "cr\r"],
        );
        assert_eq!(
            out,
            "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,\"cr\r\"\r\n"
        );
    }

    #[test]
    fn times_are_iso_8601_utc_with_millis() {
        assert_eq!(iso(T0), "2026-11-23T10:00:00.000Z");
        assert_eq!(iso(T0 + 1_234), "2026-11-23T10:00:01.234Z");
        assert_eq!(iso(i64::MAX), "");
    }

    #[test]
    fn time_arguments_parse_in_every_accepted_form() {
        assert_eq!(parse_time_arg("2026-11-23T10:00:00Z").unwrap(), T0);
        assert_eq!(parse_time_arg("2026-11-23T13:00:00+03:00").unwrap(), T0);
        assert_eq!(
            parse_time_arg("2026-11-23T10:00:00.250Z").unwrap(),
            T0 + 250
        );
        assert_eq!(parse_time_arg("2026-11-23").unwrap(), T0 - 10 * 3_600_000);
        assert_eq!(parse_time_arg("1795428000").unwrap(), T0);
        assert_eq!(parse_time_arg(" 0 ").unwrap(), 0);
        for bad in [
            "",
            "yesterday",
            "2026-11-23T10:00:00",
            "2026-13-01",
            "99999999999999999999",
            "9223372036854775807",
            "12a",
        ] {
            assert!(parse_time_arg(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cdr_of_an_answered_call_has_every_column() {
        let mut log = TestLog::new("cdr-answered");
        answered_call(&mut log, "1", T0);
        let csv = export_cdr(log.store.as_mut(), None, None).unwrap();
        let rows = csv_rows(&csv);
        assert_eq!(
            rows[0],
            CDR_HEADER.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(col(&rows, 1, "call_id"), "1");
        assert_eq!(col(&rows, 1, "start"), "2026-11-23T10:00:00.000Z");
        assert_eq!(col(&rows, 1, "answer"), "2026-11-23T10:00:00.100Z");
        assert_eq!(col(&rows, 1, "bridge"), "2026-11-23T10:00:34.000Z");
        assert_eq!(col(&rows, 1, "end"), "2026-11-23T10:01:34.000Z");
        assert_eq!(col(&rows, 1, "caller"), "+15550001");
        assert_eq!(col(&rows, 1, "dnis"), "100");
        assert_eq!(col(&rows, 1, "queue"), "sales");
        assert_eq!(col(&rows, 1, "agent"), "bob");
        assert_eq!(col(&rows, 1, "disposition"), "answered");
        assert_eq!(col(&rows, 1, "wait_s"), "31.000");
        assert_eq!(col(&rows, 1, "talk_s"), "60.000");
        assert_eq!(col(&rows, 1, "duration_s"), "94.000");
        assert_eq!(col(&rows, 1, "hangup_by"), "caller");
        assert_eq!(col(&rows, 1, "end_reason"), "caller_hangup");
        assert_eq!(col(&rows, 1, "recording"), "/data/rec/2026-11-23/1.wav");
        assert_eq!(col(&rows, 1, "dtmf"), "1");
    }

    #[test]
    fn cdr_of_abandoned_ivr_and_rejected_calls() {
        let mut log = TestLog::new("cdr-other");
        // Abandoned while queued: wait runs to the end.
        log.ev(
            T0,
            "2",
            "",
            "",
            "call.start",
            json!({"caller": "200", "dnis": "100"}),
        );
        log.ev(
            T0 + 1_000,
            "2",
            "support",
            "",
            "queue.join",
            json!({"position": 1}),
        );
        log.ev(
            T0 + 20_500,
            "2",
            "support",
            "",
            "call.end",
            json!({"end_reason": "caller_hangup", "duration_s": 20.5, "disposition": "abandoned"}),
        );
        // IVR only, two digits, we hung up.
        log.ev(
            T0 + 100,
            "3",
            "",
            "",
            "call.start",
            json!({"caller": "300", "dnis": "101"}),
        );
        log.ev(
            T0 + 200,
            "3",
            "",
            "",
            "dtmf",
            json!({"digit": "4", "via": "inband"}),
        );
        log.ev(
            T0 + 300,
            "3",
            "",
            "",
            "dtmf",
            json!({"digit": "#", "via": "sip-info"}),
        );
        log.ev(T0 + 5_000, "3", "", "", "ivr.hangup", json!({}));
        log.ev(
            T0 + 5_000,
            "3",
            "",
            "",
            "call.end",
            json!({"end_reason": "local_hangup", "duration_s": 4.9, "disposition": "ivr"}),
        );
        // Refused before answer: no disposition, a status.
        log.ev(
            T0 + 200,
            "4",
            "",
            "",
            "call.start",
            json!({"caller": "400", "dnis": "102"}),
        );
        log.ev(
            T0 + 210,
            "4",
            "",
            "",
            "call.end",
            json!({"end_reason": "refused", "disposition": "refused", "detail": "no dialplan loaded", "status": 480}),
        );
        // Agent hangs up an answered call.
        log.ev(
            T0 + 300,
            "5",
            "",
            "",
            "call.start",
            json!({"caller": "500", "dnis": "100"}),
        );
        log.ev(
            T0 + 400,
            "5",
            "sales",
            "",
            "queue.join",
            json!({"position": 1}),
        );
        log.ev(T0 + 900, "5", "sales", "carol", "call.bridge", json!({}));
        log.ev(
            T0 + 10_900,
            "5",
            "sales",
            "carol",
            "call.end",
            json!({"end_reason": "agent_hangup", "disposition": "answered", "talk_s": 10.0}),
        );
        let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
        assert_eq!(rows.len(), 5);
        let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(ids, ["2", "3", "4", "5"]);

        assert_eq!(col(&rows, 1, "disposition"), "abandoned");
        assert_eq!(col(&rows, 1, "wait_s"), "19.500");
        assert_eq!(col(&rows, 1, "talk_s"), "");
        assert_eq!(col(&rows, 1, "hangup_by"), "caller");
        assert_eq!(col(&rows, 1, "queue"), "support");
        assert_eq!(col(&rows, 1, "bridge"), "");

        assert_eq!(col(&rows, 2, "disposition"), "ivr");
        assert_eq!(col(&rows, 2, "dtmf"), "4#");
        assert_eq!(col(&rows, 2, "wait_s"), "");
        assert_eq!(col(&rows, 2, "hangup_by"), "system");
        assert_eq!(col(&rows, 2, "duration_s"), "4.900");

        assert_eq!(col(&rows, 3, "disposition"), "refused");
        assert_eq!(col(&rows, 3, "duration_s"), "0.010");
        assert_eq!(col(&rows, 3, "answer"), "");

        assert_eq!(col(&rows, 4, "hangup_by"), "agent");
        assert_eq!(col(&rows, 4, "agent"), "carol");
        assert_eq!(col(&rows, 4, "wait_s"), "0.500");
    }

    #[test]
    fn cdr_wait_stops_when_the_caller_leaves_the_queue() {
        let mut log = TestLog::new("cdr-exit");
        log.ev(T0, "6", "", "", "call.start", json!({}));
        log.ev(
            T0 + 1_000,
            "6",
            "sales",
            "",
            "queue.join",
            json!({"position": 1}),
        );
        log.ev(
            T0 + 61_000,
            "6",
            "sales",
            "",
            "queue.exit",
            json!({"reason": "max_wait", "target": "voicemail"}),
        );
        log.ev(
            T0 + 90_000,
            "6",
            "",
            "",
            "call.end",
            json!({"end_reason": "caller_hangup", "disposition": "ivr"}),
        );
        let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
        assert_eq!(col(&rows, 1, "wait_s"), "60.000");
        assert_eq!(col(&rows, 1, "queue"), "sales");
        assert_eq!(
            col(&rows, 1, "duration_s"),
            "90.000",
            "falls back to end - start"
        );
    }

    #[test]
    fn cdr_window_selects_by_call_start_and_needs_call_end() {
        let mut log = TestLog::new("cdr-window");
        answered_call(&mut log, "10", T0 - 60_000); // starts before the window
        answered_call(&mut log, "11", T0 + 1_000); // inside, ends after `to`
        log.ev(T0 + 2_000, "12", "", "", "call.start", json!({})); // never ends
        answered_call(&mut log, "13", T0 + 3_600_000); // at `to`: excluded
        let to = T0 + 3_600_000;
        let rows = csv_rows(&export_cdr(log.store.as_mut(), Some(T0), Some(to)).unwrap());
        let ids: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(ids, ["11"]);
        let all = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn exports_survive_unknown_kinds_and_odd_data() {
        let mut log = TestLog::new("robust");
        log.ev(
            T0,
            "7",
            "",
            "",
            "call.start",
            json!({"caller": 12, "dnis": null}),
        );
        log.ev(T0 + 1, "7", "q", "", "queue.join", json!("not an object"));
        log.ev(
            T0 + 2,
            "7",
            "q",
            "",
            "queue.teleport",
            json!({"to": "mars"}),
        );
        log.ev(T0 + 3, "7", "q", "a", "call.bridge", json!([1, 2]));
        log.ev(T0 + 4, "", "", "a", "agent.state", json!({"state": 7}));
        log.ev(T0 + 5, "", "", "", "agent.login", json!({}));
        log.raw(T0 + 6, "7", 5, "q", "a", "call.end", "{not json");
        log.ev(T0 + 7, "", "", "", "system.stop", Value::Null);
        let cdr = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
        assert_eq!(cdr.len(), 2);
        assert_eq!(col(&cdr, 1, "disposition"), "unknown");
        assert_eq!(col(&cdr, 1, "caller"), "");
        assert_eq!(col(&cdr, 1, "agent"), "a");
        assert_eq!(col(&cdr, 1, "hangup_by"), "");
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        assert!(ql.contains("|7|q|NONE|ENTERQUEUE|||0\n"), "{ql}");
        assert!(ql.contains("|CONNECT|0|7-a|0\n"), "{ql}");
        assert!(ql.contains("|COMPLETEAGENT|0|0|0\n"), "{ql}");
        assert!(recordings_index(log.store.as_mut(), None, None).is_ok());
        assert!(check_call_sequences(log.store.as_mut()).is_empty());
    }

    #[test]
    fn queue_log_of_an_answered_call() {
        let mut log = TestLog::new("ql-answered");
        answered_call(&mut log, "1", T0);
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        let e = T0 / 1000;
        let expected = [
            format!("{}|1|sales|NONE|ENTERQUEUE||+15550001|2", e + 3),
            format!("{}|1|sales|SIP/alice|RINGNOANSWER|15000", e + 25),
            format!("{}|1|sales|SIP/bob|CONNECT|31|1-bob|3", e + 34),
            format!("{}|1|sales|SIP/bob|COMPLETECALLER|31|60|2", e + 94),
        ];
        assert_eq!(ql.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn queue_log_completeagent_and_rona_without_ring_failed() {
        let mut log = TestLog::new("ql-agent");
        log.ev(T0, "8", "", "", "call.start", json!({"caller": "800"}));
        log.ev(
            T0 + 1_000,
            "8",
            "sales",
            "",
            "queue.join",
            json!({"position": 1}),
        );
        log.ev(T0 + 1_000, "8", "sales", "dave", "agent.ring", json!({}));
        log.ev(T0 + 16_000, "8", "", "dave", "queue.rona", json!({}));
        log.ev(
            T0 + 16_500,
            "8",
            "sales",
            "dave",
            "agent.ring_failed",
            json!({"status": 487}),
        );
        log.ev(T0 + 17_000, "8", "sales", "erin", "agent.ring", json!({}));
        log.ev(T0 + 19_000, "8", "sales", "erin", "call.bridge", json!({}));
        log.ev(
            T0 + 49_900,
            "8",
            "sales",
            "erin",
            "call.end",
            json!({"end_reason": "agent_hangup", "disposition": "answered", "talk_s": 30.9}),
        );
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        let lines: Vec<&str> = ql.lines().collect();
        assert_eq!(lines.len(), 4, "{ql}");
        assert!(
            lines[1].ends_with("|8|sales|SIP/dave|RINGNOANSWER|15000"),
            "{ql}"
        );
        assert!(
            lines[2].ends_with("|8|sales|SIP/erin|CONNECT|18|8-erin|2"),
            "{ql}"
        );
        assert!(
            lines[3].ends_with("|8|sales|SIP/erin|COMPLETEAGENT|18|30|1"),
            "{ql}"
        );
    }

    #[test]
    fn queue_log_abandon_and_exits() {
        let mut log = TestLog::new("ql-exits");
        let e = T0 / 1000;
        // Abandon at position 1 after joining at 3.
        log.ev(T0, "20", "", "", "call.start", json!({"caller": "20"}));
        log.ev(T0, "20", "q", "", "queue.join", json!({"position": 3}));
        log.ev(
            T0 + 5_000,
            "20",
            "q",
            "",
            "queue.announce",
            json!({"position": 1}),
        );
        log.ev(
            T0 + 42_000,
            "20",
            "q",
            "",
            "call.end",
            json!({"end_reason": "caller_hangup", "disposition": "abandoned"}),
        );
        log.ev(
            T0 + 42_001,
            "20",
            "q",
            "",
            "queue.waited",
            json!({"outcome": "Abandoned"}),
        );
        // Max wait, then the IVR: no ABANDON afterwards.
        log.ev(T0, "21", "", "", "call.start", json!({"caller": "21"}));
        log.ev(T0, "21", "q", "", "queue.join", json!({"position": 1}));
        log.ev(
            T0 + 300_000,
            "21",
            "q",
            "",
            "queue.exit",
            json!({"reason": "max_wait", "target": "vm"}),
        );
        log.ev(
            T0 + 310_000,
            "21",
            "",
            "",
            "call.end",
            json!({"end_reason": "caller_hangup", "disposition": "ivr"}),
        );
        // Exit key.
        log.ev(T0, "22", "", "", "call.start", json!({"caller": "22"}));
        log.ev(T0, "22", "q", "", "queue.join", json!({"position": 2}));
        log.ev(
            T0 + 7_000,
            "22",
            "q",
            "",
            "queue.exit",
            json!({"reason": "exit_key", "key": "0"}),
        );
        log.ev(
            T0 + 8_000,
            "22",
            "",
            "",
            "call.end",
            json!({"end_reason": "local_hangup", "disposition": "ivr"}),
        );
        // Refused joins.
        log.ev(T0, "23", "", "", "call.start", json!({}));
        log.ev(
            T0 + 1_000,
            "23",
            "q",
            "",
            "queue.exit",
            json!({"reason": "queue_full"}),
        );
        log.ev(
            T0 + 1_000,
            "23",
            "",
            "",
            "call.end",
            json!({"end_reason": "refused", "disposition": "refused"}),
        );
        log.ev(T0, "24", "", "", "call.start", json!({}));
        log.ev(
            T0 + 1_000,
            "24",
            "q",
            "",
            "queue.exit",
            json!({"reason": "no_agents"}),
        );
        log.ev(
            T0 + 1_000,
            "24",
            "",
            "",
            "call.end",
            json!({"end_reason": "refused", "disposition": "refused"}),
        );
        // Everyone logged out while waiting.
        log.ev(T0, "25", "", "", "call.start", json!({}));
        log.ev(T0, "25", "q", "", "queue.join", json!({"position": 1}));
        log.ev(
            T0 + 9_000,
            "25",
            "q",
            "",
            "queue.exit",
            json!({"reason": "no_agents"}),
        );
        log.ev(
            T0 + 9_000,
            "25",
            "",
            "",
            "call.end",
            json!({"end_reason": "refused", "disposition": "refused"}),
        );
        // Overflow to another queue, then abandoned there.
        log.ev(T0, "26", "", "", "call.start", json!({"caller": "26"}));
        log.ev(T0, "26", "q", "", "queue.join", json!({"position": 4}));
        log.ev(
            T0 + 60_000,
            "26",
            "q",
            "",
            "queue.waited",
            json!({"outcome": "Overflowed(QueueId(2))"}),
        );
        log.ev(
            T0 + 60_000,
            "26",
            "q",
            "",
            "queue.overflow",
            json!({"to": "q2"}),
        );
        log.ev(
            T0 + 60_000,
            "26",
            "q2",
            "",
            "queue.join",
            json!({"position": 1}),
        );
        log.ev(
            T0 + 70_000,
            "26",
            "q2",
            "",
            "call.end",
            json!({"end_reason": "caller_hangup", "disposition": "abandoned"}),
        );
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        let has = |l: String| assert!(ql.lines().any(|x| x == l), "missing {l}\n{ql}");
        has(format!("{}|20|q|NONE|ABANDON|1|3|42", e + 42));
        has(format!("{}|21|q|NONE|EXITWITHTIMEOUT|1|1|300", e + 300));
        has(format!("{}|22|q|NONE|EXITWITHKEY|0|2|2|7", e + 7));
        has(format!("{}|23|q|NONE|FULL|", e + 1));
        has(format!("{}|24|q|NONE|JOINEMPTY|", e + 1));
        has(format!("{}|25|q|NONE|EXITEMPTY|1|1|9", e + 9));
        has(format!("{}|26|q|NONE|EXITWITHTIMEOUT|4|4|60", e + 60));
        has(format!("{}|26|q2|NONE|ENTERQUEUE||26|1", e + 60));
        has(format!("{}|26|q2|NONE|ABANDON|1|1|10", e + 70));
        assert_eq!(ql.matches("ABANDON").count(), 2, "{ql}");
        assert_eq!(ql.lines().count(), 14, "{ql}");
    }

    /// Call 30: whisper, then bob transfers the caller to `billing`, where carol answers
    /// and hangs up. A screen-pop result arrives after the end.
    fn transferred_call(log: &mut TestLog) {
        let c = "30";
        log.ev(T0, c, "", "", "call.start", json!({"caller": "3030"}));
        log.ev(
            T0 + 1_000,
            c,
            "sales",
            "",
            "queue.join",
            json!({"position": 1}),
        );
        log.ev(T0 + 1_000, c, "sales", "bob", "agent.ring", json!({}));
        log.ev(T0 + 5_000, c, "sales", "bob", "call.bridge", json!({}));
        log.ev(T0 + 8_000, c, "sales", "bob", "call.connected", json!({}));
        log.ev(
            T0 + 68_000,
            c,
            "sales",
            "bob",
            "call.transfer",
            json!({"kind": "blind", "to_queue": "billing"}),
        );
        log.ev(
            T0 + 68_100,
            c,
            "billing",
            "",
            "queue.join",
            json!({"position": 2}),
        );
        log.ev(T0 + 80_100, c, "billing", "carol", "agent.ring", json!({}));
        log.ev(T0 + 82_100, c, "billing", "carol", "call.bridge", json!({}));
        log.ev(
            T0 + 82_100,
            c,
            "billing",
            "carol",
            "call.connected",
            json!({}),
        );
        log.ev(
            T0 + 122_100,
            c,
            "billing",
            "carol",
            "call.end",
            json!({"end_reason": "agent_hangup", "disposition": "answered", "talk_s": 40.0}),
        );
        log.ev(
            T0 + 123_000,
            c,
            "billing",
            "carol",
            "screenpop.failed",
            json!({"error": "timeout"}),
        );
    }

    #[test]
    fn queue_log_blind_transfer_and_whisper() {
        let mut log = TestLog::new("ql-transfer");
        transferred_call(&mut log);
        let e = T0 / 1000;
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        let expected = [
            format!("{}|30|sales|NONE|ENTERQUEUE||3030|1", e + 1),
            format!("{}|30|sales|SIP/bob|CONNECT|4|30-bob|4", e + 5),
            format!(
                "{}|30|sales|SIP/bob|BLINDTRANSFER|billing|queue|4|60|1",
                e + 68
            ),
            format!("{}|30|billing|NONE|ENTERQUEUE||3030|2", e + 68),
            format!("{}|30|billing|SIP/carol|CONNECT|14|30-carol|2", e + 82),
            format!("{}|30|billing|SIP/carol|COMPLETEAGENT|14|40|2", e + 122),
        ];
        assert_eq!(ql.lines().collect::<Vec<_>>(), expected);
        let rows = csv_rows(&export_cdr(log.store.as_mut(), None, None).unwrap());
        assert_eq!(col(&rows, 1, "queue"), "billing");
        assert_eq!(col(&rows, 1, "agent"), "carol");
        assert_eq!(
            col(&rows, 1, "wait_s"),
            "4.000",
            "first join to first answer"
        );
        assert_eq!(col(&rows, 1, "hangup_by"), "agent");
        assert!(
            check_call_sequences(log.store.as_mut()).is_empty(),
            "screenpop after end is bookkeeping"
        );
    }

    #[test]
    fn queue_log_agent_sessions_and_pauses() {
        let mut log = TestLog::new("ql-agents");
        let e = T0 / 1000;
        log.ev(T0, "", "", "alice", "agent.login", json!({}));
        log.ev(
            T0 + 1,
            "",
            "",
            "alice",
            "agent.state",
            json!({"state": "available"}),
        );
        log.ev(
            T0 + 60_000,
            "",
            "",
            "alice",
            "agent.state",
            json!({"state": "paused", "pause_reason": "rona"}),
        );
        log.ev(
            T0 + 60_001,
            "",
            "",
            "alice",
            "agent.state",
            json!({"state": "paused", "pause_reason": "rona"}),
        );
        log.ev(
            T0 + 90_000,
            "",
            "",
            "alice",
            "agent.state",
            json!({"state": "available"}),
        );
        log.ev(
            T0 + 95_000,
            "",
            "",
            "alice",
            "agent.state",
            json!({"state": "paused", "pause_reason": "lunch \"break\""}),
        );
        log.ev(
            T0 + 100_000,
            "",
            "",
            "alice",
            "agent.state",
            json!({"state": "logged_out"}),
        );
        log.ev(
            T0 + 120_000,
            "",
            "",
            "alice",
            "agent.logout",
            json!({"reason": "expired"}),
        );
        log.ev(T0 + 130_000, "", "", "bob", "agent.logout", json!({}));
        log.ev(T0 + 130_000, "", "", "", "system.start", json!({}));
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        let expected = [
            format!("{e}|NONE|NONE|SIP/alice|AGENTLOGIN|SIP/alice"),
            format!("{}|NONE|NONE|SIP/alice|PAUSE|rona", e + 60),
            format!("{}|NONE|NONE|SIP/alice|UNPAUSE|", e + 90),
            format!("{}|NONE|NONE|SIP/alice|PAUSE|lunch \"break\"", e + 95),
            format!("{}|NONE|NONE|SIP/alice|AGENTLOGOFF|SIP/alice|120", e + 120),
            format!("{}|NONE|NONE|SIP/bob|AGENTLOGOFF|SIP/bob|0", e + 130),
        ];
        assert_eq!(ql.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn queue_log_window_keeps_state_from_before_it() {
        let mut log = TestLog::new("ql-window");
        answered_call(&mut log, "1", T0);
        let from = T0 + 30_000; // after the join and the RONA, before the bridge
        let ql = export_queue_log(log.store.as_mut(), Some(from), Some(T0 + 60_000)).unwrap();
        let e = T0 / 1000;
        assert_eq!(
            ql,
            format!("{}|1|sales|SIP/bob|CONNECT|31|1-bob|3\n", e + 34)
        );
    }

    #[test]
    fn queue_log_values_cannot_break_lines() {
        let mut log = TestLog::new("ql-sanitize");
        log.ev(T0, "9", "", "", "call.start", json!({"caller": "a|b\nc"}));
        log.ev(T0, "9", "q|x", "", "queue.join", json!({"position": 1}));
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        assert_eq!(
            ql,
            format!("{}|9|q_x|NONE|ENTERQUEUE||a_b_c|1\n", T0 / 1000)
        );
    }

    #[test]
    fn recordings_index_lists_recorded_calls() {
        let mut log = TestLog::new("recordings");
        answered_call(&mut log, "1", T0);
        log.ev(T0 + 5, "2", "", "", "call.start", json!({"caller": "x,y"}));
        log.ev(T0 + 6, "2", "sales", "", "queue.join", json!({}));
        log.ev(
            T0 + 7,
            "2",
            "sales",
            "bob",
            "recording.start",
            json!({"path": "/r/2.wav"}),
        );
        log.ev(T0 + 8, "2", "sales", "bob", "call.bridge", json!({}));
        log.ev(T0 + 9, "3", "", "", "call.start", json!({}));
        log.ev(
            T0 + 10,
            "3",
            "",
            "",
            "call.end",
            json!({"disposition": "ivr"}),
        );
        let csv = recordings_index(log.store.as_mut(), None, None).unwrap();
        assert_eq!(
            csv,
            "call_id,start,queue,agent,caller,path,talk_s\r\n\
             1,2026-11-23T10:00:00.000Z,sales,bob,+15550001,/data/rec/2026-11-23/1.wav,60.000\r\n\
             2,2026-11-23T10:00:00.005Z,sales,bob,\"x,y\",/r/2.wav,\r\n"
        );
        let later = recordings_index(log.store.as_mut(), Some(T0 + 1), None).unwrap();
        assert_eq!(later.lines().count(), 2);
        assert!(later.contains("/r/2.wav"));
    }

    #[test]
    fn check_passes_a_healthy_log() {
        let mut log = TestLog::new("check-ok");
        log.ev(T0 - 1, "", "", "", "system.start", json!({}));
        log.ev(T0 - 1, "", "", "bob", "agent.login", json!({}));
        answered_call(&mut log, "1", T0);
        answered_call(&mut log, "2", T0 + 500);
        assert_eq!(
            check_call_sequences(log.store.as_mut()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn check_finds_gaps_duplicates_and_disorder() {
        let mut log = TestLog::new("check-bad");
        // Gap: 1, 3.
        log.raw(T0, "1", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "1", 3, "", "", "call.end", "{}");
        // Duplicate 2.
        log.raw(T0, "2", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "2", 2, "", "", "dtmf", "{}");
        log.raw(T0 + 2, "2", 2, "", "", "call.end", "{}");
        // Does not start with call.start.
        log.raw(T0, "3", 1, "", "", "call.answer", "{}");
        log.raw(T0 + 1, "3", 2, "", "", "call.end", "{}");
        // A call-level event after call.end; queue.* bookkeeping is fine.
        log.raw(T0, "4", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "4", 2, "", "", "call.end", "{}");
        log.raw(T0 + 2, "4", 3, "q", "", "queue.waited", "{}");
        log.raw(T0 + 3, "4", 4, "", "", "dtmf", "{}");
        // Time goes back.
        log.raw(T0 + 10, "5", 1, "", "", "call.start", "{}");
        log.raw(T0 + 5, "5", 2, "", "", "call.end", "{}");
        // Two call.end.
        log.raw(T0, "6", 1, "", "", "call.start", "{}");
        log.raw(T0 + 1, "6", 2, "", "", "call.end", "{}");
        log.raw(T0 + 2, "6", 3, "", "", "call.end", "{}");
        // Agent event with a sequence number.
        log.raw(T0, "", 4, "", "bob", "agent.login", "{}");
        // A call without an end is a problem of its own (in progress, or a crash the
        // server has not closed yet).
        log.raw(T0, "7", 1, "", "", "call.start", "{}");
        let p = check_call_sequences(log.store.as_mut());
        let about = |call: &str, what: &str| {
            assert!(
                p.iter()
                    .any(|m| m.starts_with(&format!("call {call}: ")) && m.contains(what)),
                "no problem for call {call} mentioning {what:?}: {p:#?}"
            )
        };
        about("1", "call_seq 3, expected 2");
        about("2", "duplicate call_seq 2");
        about("3", "not call.start");
        about("4", "dtmf (id");
        about("5", "time goes back");
        about("6", "2 call.end events");
        assert!(
            p.iter().any(|m| m.contains("has no call but call_seq 4")),
            "{p:#?}"
        );
        assert!(!p.iter().any(|m| m.contains("queue.waited")), "{p:#?}");
        about("7", "no call.end");
        assert_eq!(p.len(), 8, "{p:#?}");
    }

    #[test]
    fn check_reports_out_of_order_sequences() {
        let mut log = TestLog::new("check-order");
        log.raw(T0, "1", 2, "", "", "dtmf", "{}");
        log.raw(T0, "1", 1, "", "", "call.start", "{}");
        log.raw(T0, "1", 3, "", "", "call.end", "{}");
        let p = check_call_sequences(log.store.as_mut());
        assert!(
            p.iter().any(|m| m.contains("has call_seq 2, expected 1")),
            "{p:#?}"
        );
        assert!(
            !p.iter().any(|m| m.contains("not call.start")),
            "sorted by seq: {p:#?}"
        );
    }

    #[test]
    fn many_interleaved_calls_export_and_check_cleanly() {
        let mut log = TestLog::new("many");
        // Deterministic interleaving: 50 calls, each starting 700 ms after the previous.
        let n = 50;
        let mut script: Vec<(i64, String, usize)> = Vec::new();
        for i in 0..n {
            let t = T0 + i as i64 * 700;
            for step in 0..5 {
                script.push((t + step as i64 * 1_300, format!("{}", 1000 + i), step));
            }
        }
        script.sort();
        for (t, call, step) in &script {
            let (kind, queue, agent, data) = match step {
                0 => ("call.start", "", "", json!({"caller": call})),
                1 => ("queue.join", "q", "", json!({"position": 1})),
                2 => ("agent.ring", "q", "a", json!({})),
                3 => ("call.bridge", "q", "a", json!({})),
                _ => (
                    "call.end",
                    "q",
                    "a",
                    json!({"end_reason": "caller_hangup", "disposition": "answered", "talk_s": 1.3}),
                ),
            };
            log.ev(*t, call, queue, agent, kind, data);
        }
        assert!(check_call_sequences(log.store.as_mut()).is_empty());
        let cdr = export_cdr(log.store.as_mut(), None, None).unwrap();
        assert_eq!(cdr.lines().count(), n + 1);
        let ql = export_queue_log(log.store.as_mut(), None, None).unwrap();
        assert_eq!(ql.matches("|ENTERQUEUE|").count(), n);
        assert_eq!(ql.matches("|CONNECT|2|").count(), n);
        assert_eq!(ql.matches("|COMPLETECALLER|2|1|1\n").count(), n);
    }
}
