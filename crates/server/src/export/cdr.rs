//! Call detail records and the recordings index: per-call summaries folded from the log.

use std::collections::HashMap;

use anyhow::Context;

use super::csv::csv_row;
use super::{call_end, hangup_by, in_window, iso, iso_opt, ms_to_secs3, secs3, str_of, MAX_DTMF};
use crate::event_store::EventStore;
use crate::event_store::StoredEvent;
use switchboard_events::{CallEnd, Party};

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
    /// The agent's disposition code and notes (`call.disposition`; the last one wins).
    agent_code: String,
    agent_notes: String,
    /// `inbound`, `outbound` (an agent's own call out), `callback` or `internal`.
    direction: &'static str,
    /// Parties holding the call now (bit 0 caller, bit 1 agent), since when, and the time
    /// on hold so far (by either party; overlapping holds count once).
    holding: u8,
    hold_since_ms: i64,
    hold_ms: i64,
    /// The call's tenant: the first one its events carry (the envelope's `tenant`).
    tenant: String,
}

impl CallSummary {
    fn apply(&mut self, ev: &StoredEvent) {
        if self.tenant.is_empty() && !ev.tenant.is_empty() {
            self.tenant.clone_from(&ev.tenant);
        }
        if ev.kind == "call.disposition" {
            // Usually set in wrap-up, after the call ended.
            self.agent_code = str_of(&ev.data, "code").unwrap_or_default().to_string();
            self.agent_notes = str_of(&ev.data, "notes").unwrap_or_default().to_string();
            return;
        }
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
                self.direction = if str_of(&ev.data, "callback_for").is_some() {
                    "callback"
                } else {
                    "inbound"
                };
                self.caller = str_of(&ev.data, "caller").unwrap_or_default().to_string();
                self.dnis = str_of(&ev.data, "dnis").unwrap_or_default().to_string();
            }
            "call.answer" => {
                self.answer_ms.get_or_insert(ev.ts_ms);
            }
            "call.outbound" => self.direction = "outbound",
            "call.internal" => self.direction = "internal",
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
            "call.hold" | "call.resume" => {
                let bit = match str_of(&ev.data, "party") {
                    Some("caller") => 1,
                    Some("agent") => 2,
                    _ => return,
                };
                let was = self.holding;
                if ev.kind == "call.hold" {
                    self.holding |= bit;
                } else {
                    self.holding &= !bit;
                }
                if was == 0 && self.holding != 0 {
                    self.hold_since_ms = ev.ts_ms;
                } else if was != 0 && self.holding == 0 {
                    self.hold_ms += (ev.ts_ms - self.hold_since_ms).max(0);
                }
            }
            "recording.start" => {
                if let Some(p) = str_of(&ev.data, "path") {
                    self.recording = Some(p.to_string());
                }
            }
            "call.end" => {
                self.end_ms = Some(ev.ts_ms);
                if self.holding != 0 {
                    // On hold to the end.
                    self.hold_ms += (ev.ts_ms - self.hold_since_ms).max(0);
                    self.holding = 0;
                }
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

pub(super) const CDR_HEADER: [&str; 26] = [
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
    "agent_disposition",
    "disposition_notes",
    "caller_loss_pct",
    "caller_jitter_ms",
    "agent_loss_pct",
    "agent_jitter_ms",
    "direction",
    "hold_s",
    "tenant",
];

/// A leg's `(loss_pct, jitter_ms)` CDR cells from `call.end`'s `quality` (two decimals;
/// empty when the call had no such leg or was logged before `quality` existed).
fn quality_cells(end: Option<&CallEnd>, leg: Party) -> [String; 2] {
    match end.and_then(|e| e.quality.iter().find(|q| q.leg == leg)) {
        Some(q) => [
            format!("{:.2}", q.loss_pct()),
            format!("{:.2}", q.jitter_ms),
        ],
        None => [String::new(), String::new()],
    }
}

/// Call detail records as CSV: one row per call whose `call.start` lies in `[from_ms, to_ms)`
/// (unix ms; `None` = unbounded) and which has a `call.end` (possibly after `to_ms`).
///
/// Columns: `call_id, start, answer` (we answered the caller), `bridge` (an agent was
/// connected), `end, caller, dnis, queue, agent, disposition` (`answered`, `abandoned`,
/// `ivr`, `refused`, ...), `wait_s` (first queue join to bridge, to leaving the queue, or to
/// the end; empty if never queued), `talk_s, duration_s, hangup_by` (`caller`, `agent`,
/// `system`), `end_reason, recording, dtmf` (digits in the order received),
/// `agent_disposition, disposition_notes` (the agent's code from `call.disposition`, the
/// last one set; added at the end so older consumers keep their column positions),
/// `caller_loss_pct, caller_jitter_ms, agent_loss_pct, agent_jitter_ms` (receive quality
/// of each media leg from `call.end`'s `quality`: packets lost as a percentage of those
/// expected, RFC 3550 interarrival jitter in ms; empty without that leg), `direction`
/// (`inbound`; `outbound`: an agent's own call to an outside number, `caller` is the
/// agent's From and `dnis` the number; `callback`: a call the engine placed to a
/// customer; `internal`: an agent's call into a queue), `hold_s` (time
/// the call spent on hold by either party, from `call.hold`/`call.resume`; a hold still on
/// at the end counts to the end; part of `talk_s`), `tenant` (the call's client, from the
/// events' envelope `tenant`; empty for an untenanted call or a log from before it).
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
        let [caller_loss, caller_jitter] = quality_cells(end, Party::Caller);
        let [agent_loss, agent_jitter] = quality_cells(end, Party::Agent);
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
            c.agent_code.clone(),
            c.agent_notes.clone(),
            caller_loss,
            caller_jitter,
            agent_loss,
            agent_jitter,
            c.direction.to_string(),
            ms_to_secs3(c.hold_ms),
            c.tenant.clone(),
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
