//! Recorded traffic, read from the event store: the arrivals a replay offers again, the
//! waits as they really ended, and what the replay samples from (talk times, ring times,
//! ring-outs, patience) per queue.
//!
//! A [`TraceFold`] takes events in store order (the look-back before `from` first, so the
//! agents' state at `from` is known) and [`TraceFold::finish`] gives the [`Trace`]. Pure:
//! no clock, no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use switchboard_events::{AgentStateName, Event, QueueExitReason, WaitOutcome};

use super::{BusySpan, PresentSpan, WaitEnd, WaitRecord};
use crate::event_store::{EventStore, StoredEvent};
use crate::report::{ReportSpec, LOOKBACK_MS, PAGE_ROWS};

/// One recorded caller as the replay offers it again: the first join of a call inside
/// the range (overflows and returns to a queue are the engine's business in the replay).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Arrival {
    pub(crate) call: String,
    pub(crate) queue: String,
    pub(crate) joined_ms: i64,
    /// How the first wait ended, if it did in the range.
    pub(crate) end: Option<WaitEnd>,
    /// Seconds from the agent's ring to its answer, when answered.
    pub(crate) ring_s: Option<f64>,
    /// Seconds from the answer to the end of talk (wrap-up not included), when answered.
    pub(crate) talk_s: Option<f64>,
}

impl Arrival {
    /// The caller's own decision to leave: after how long they hung up, pressed the exit
    /// key or took a callback. `None` when the wait ended any other way (the caller would
    /// have waited longer: the patience is censored at the wait).
    pub(crate) fn left_after_s(&self, exit_reason: Option<QueueExitReason>) -> Option<f64> {
        let end = self.end?;
        match (end.outcome, exit_reason) {
            (WaitOutcome::Abandoned, _) | (WaitOutcome::CallbackRequested, _) => Some(end.waited_s),
            (WaitOutcome::Exited, Some(QueueExitReason::ExitKey)) => Some(end.waited_s),
            _ => None,
        }
    }
}

/// What a queue's recorded calls say, for sampling.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct QueueTraffic {
    /// Talk times of answered calls, seconds.
    pub(crate) talks: Vec<f64>,
    /// Ring times of answered offers, seconds.
    pub(crate) rings: Vec<f64>,
    /// Wrap-up times, seconds (answer to the agent's next state, minus talk).
    pub(crate) wraps: Vec<f64>,
    pub(crate) offers: u64,
    pub(crate) ronas: u64,
    /// Waits that ended (any way), their total, and how many ended by the caller leaving.
    pub(crate) departures: u64,
    pub(crate) wait_sum_s: f64,
    pub(crate) abandons: u64,
}

impl QueueTraffic {
    /// Mean patience by the censored maximum-likelihood estimate for exponential patience
    /// (total waiting time over abandonments), `None` when nobody gave up.
    pub(crate) fn mean_patience_s(&self) -> Option<f64> {
        (self.abandons > 0).then(|| (self.wait_sum_s / self.abandons as f64).max(1.0))
    }

    /// Share of offers that rang out.
    pub(crate) fn ring_out_share(&self) -> f64 {
        if self.offers == 0 {
            0.0
        } else {
            (self.ronas as f64 / self.offers as f64).clamp(0.0, 1.0)
        }
    }
}

/// Everything the replay and the staffing plan take from the store.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Trace {
    pub(crate) arrivals: Vec<Arrival>,
    /// Exit reason of each arrival's first wait (parallel to `arrivals`).
    pub(crate) exit_reasons: Vec<Option<QueueExitReason>>,
    /// Every recorded wait, as it ended (what actually happened).
    pub(crate) waits: Vec<WaitRecord>,
    pub(crate) busy: Vec<BusySpan>,
    pub(crate) present: Vec<PresentSpan>,
    pub(crate) queues: BTreeMap<String, QueueTraffic>,
}

#[derive(Clone, Debug)]
struct Handling {
    call: String,
    from_ms: i64,
    wrap_from: Option<i64>,
}

/// Builds a [`Trace`] from events in store order.
#[derive(Default)]
pub(crate) struct TraceFold {
    trace: Trace,
    /// The open wait of each call (index into `waits`) and the queue it is in.
    open: HashMap<String, usize>,
    call_queue: HashMap<String, String>,
    /// Calls already seen joining a queue (a later join is not a new arrival).
    joined: HashSet<String>,
    arrival_of: HashMap<String, usize>,
    ringing: HashMap<String, (String, i64)>,
    handling: HashMap<String, Handling>,
    present_since: HashMap<String, i64>,
}

/// Whether an agent in `state` can be offered calls (or is on one): logged in and not paused
/// by hand. A `rona` pause counts as present: the engine decides ring-outs in the replay.
fn present(state: AgentStateName, pause_reason: Option<&str>) -> bool {
    match state {
        AgentStateName::LoggedOut | AgentStateName::Unreachable => false,
        AgentStateName::Paused => pause_reason == Some("rona"),
        _ => true,
    }
}

impl TraceFold {
    pub(crate) fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        match &ev.event {
            Some(Event::QueueJoin { resumed, .. }) if !ev.queue.is_empty() => {
                self.trace.waits.push(WaitRecord {
                    queue: ev.queue.clone(),
                    joined_ms: ev.ts_ms,
                    end: None,
                    predictions: Vec::new(),
                });
                self.open
                    .insert(ev.call.clone(), self.trace.waits.len() - 1);
                self.call_queue.insert(ev.call.clone(), ev.queue.clone());
                let first = self.joined.insert(ev.call.clone());
                if first && !resumed && spec.bucket(ev.ts_ms).is_some() {
                    self.arrival_of
                        .insert(ev.call.clone(), self.trace.arrivals.len());
                    self.trace.arrivals.push(Arrival {
                        call: ev.call.clone(),
                        queue: ev.queue.clone(),
                        joined_ms: ev.ts_ms,
                        end: None,
                        ring_s: None,
                        talk_s: None,
                    });
                    self.trace.exit_reasons.push(None);
                }
            }
            Some(Event::QueuePrediction {
                bound_s: Some(b),
                waited_s,
                ..
            }) => {
                if let Some(w) = self.open_wait(&ev.call, &ev.queue) {
                    if w.predictions.len() < 64 {
                        w.predictions.push((*waited_s, *b));
                    }
                }
            }
            Some(Event::QueueWaited {
                waited_s,
                outcome,
                exit_reason,
                ..
            }) if !ev.queue.is_empty() => {
                let end = WaitEnd {
                    at_ms: ev.ts_ms,
                    waited_s: *waited_s,
                    outcome: *outcome,
                };
                if let Some(w) = self.open_wait(&ev.call, &ev.queue) {
                    w.end = Some(end);
                    self.open.remove(&ev.call);
                }
                if let Some(i) = self.arrival_of.get(&ev.call).copied() {
                    if self.trace.arrivals[i].end.is_none()
                        && self.trace.arrivals[i].queue == ev.queue
                    {
                        self.trace.arrivals[i].end = Some(end);
                        self.trace.exit_reasons[i] = *exit_reason;
                    }
                }
                if spec.bucket(ev.ts_ms).is_some() {
                    let q = self.queue(&ev.queue);
                    q.departures += 1;
                    q.wait_sum_s += waited_s.max(0.0);
                    let left = matches!(outcome, WaitOutcome::Abandoned)
                        || *exit_reason == Some(QueueExitReason::ExitKey);
                    q.abandons += u64::from(left);
                }
            }
            Some(Event::QueueOffer {}) if spec.bucket(ev.ts_ms).is_some() => {
                self.queue(&ev.queue).offers += 1;
            }
            Some(Event::QueueRona {}) if spec.bucket(ev.ts_ms).is_some() => {
                self.queue(&ev.queue).ronas += 1;
            }
            Some(Event::AgentState {
                state,
                pause_reason,
                call,
                ..
            }) if !ev.agent.is_empty() => {
                self.agent_state(spec, ev, *state, pause_reason.as_deref(), call.as_ref());
            }
            _ => {}
        }
    }

    fn queue(&mut self, name: &str) -> &mut QueueTraffic {
        self.trace.queues.entry(name.to_string()).or_default()
    }

    fn open_wait(&mut self, call: &str, queue: &str) -> Option<&mut WaitRecord> {
        let i = *self.open.get(call)?;
        self.trace.waits.get_mut(i).filter(|w| w.queue == queue)
    }

    fn agent_state(
        &mut self,
        spec: &ReportSpec,
        ev: &StoredEvent,
        state: AgentStateName,
        pause_reason: Option<&str>,
        call: Option<&String>,
    ) {
        let (agent, ts) = (ev.agent.clone(), ev.ts_ms);
        // Logged in or not.
        let now_present = present(state, pause_reason);
        match (self.present_since.get(&agent).copied(), now_present) {
            (None, true) => {
                self.present_since.insert(agent.clone(), ts);
            }
            (Some(since), false) => {
                self.present_since.remove(&agent);
                self.trace.present.push(PresentSpan {
                    agent: agent.clone(),
                    from_ms: since,
                    to_ms: ts,
                });
            }
            _ => {}
        }
        // Ringing, answering, talking, wrapping up.
        match (state, call) {
            (AgentStateName::Ringing, Some(c)) => {
                self.ringing.insert(agent, (c.clone(), ts));
            }
            (AgentStateName::Busy, Some(c)) => {
                if self.handling.get(&agent).is_some_and(|h| h.call == *c) {
                    return;
                }
                self.finish_handling(spec, &agent, ts);
                let ring = match self.ringing.remove(&agent) {
                    Some((rc, at)) if rc == *c => Some((ts - at).max(0) as f64 / 1000.0),
                    _ => None,
                };
                if let Some(r) = ring {
                    if spec.bucket(ts).is_some() {
                        if let Some(q) = self.call_queue.get(c).cloned() {
                            self.queue(&q).rings.push(r);
                        }
                    }
                    if let Some(i) = self.arrival_of.get(c) {
                        self.trace.arrivals[*i].ring_s.get_or_insert(r);
                    }
                }
                self.handling.insert(
                    agent,
                    Handling {
                        call: c.clone(),
                        from_ms: ts,
                        wrap_from: None,
                    },
                );
            }
            // A direct call on top of a queue call does not end the queue call.
            (AgentStateName::Busy, None) => {}
            (AgentStateName::WrapUp, _) => {
                if let Some(h) = self.handling.get_mut(&agent) {
                    h.wrap_from.get_or_insert(ts);
                }
            }
            _ => {
                self.ringing.remove(&agent);
                self.finish_handling(spec, &agent, ts);
            }
        }
    }

    fn finish_handling(&mut self, spec: &ReportSpec, agent: &str, ts: i64) {
        let Some(h) = self.handling.remove(agent) else {
            return;
        };
        let talk_end = h.wrap_from.unwrap_or(ts);
        let talk = (talk_end - h.from_ms).max(0) as f64 / 1000.0;
        let wrap = (ts - talk_end).max(0) as f64 / 1000.0;
        let in_range = spec.bucket(h.from_ms).is_some();
        if let Some(q) = self.call_queue.get(&h.call).cloned().filter(|_| in_range) {
            let t = self.queue(&q);
            t.talks.push(talk);
            t.wraps.push(wrap);
        }
        if let Some(i) = self.arrival_of.get(&h.call) {
            self.trace.arrivals[*i].talk_s.get_or_insert(talk);
        }
        self.trace.busy.push(BusySpan {
            agent: agent.to_string(),
            from_ms: h.from_ms,
            to_ms: ts,
        });
    }

    /// The trace; spans still open are closed at the end of the range.
    pub(crate) fn finish(mut self, spec: &ReportSpec) -> Trace {
        let agents: Vec<String> = self.handling.keys().cloned().collect();
        for a in agents {
            self.finish_handling(spec, &a, spec.to_ms);
        }
        for (agent, since) in std::mem::take(&mut self.present_since) {
            self.trace.present.push(PresentSpan {
                agent,
                from_ms: since,
                to_ms: spec.to_ms,
            });
        }
        self.trace
            .present
            .sort_by(|a, b| (a.from_ms, &a.agent).cmp(&(b.from_ms, &b.agent)));
        self.trace
    }
}

/// Reads `[from - LOOKBACK, to)` of the store into a trace, in pages; `progress` is told
/// the share read (0.0..=1.0).
pub(crate) fn read(
    store: &mut dyn EventStore,
    spec: &ReportSpec,
    progress: &mut dyn FnMut(f64),
) -> anyhow::Result<Trace> {
    spec.validate()?;
    let start = spec.from_ms.saturating_sub(LOOKBACK_MS);
    let mut fold = TraceFold::default();
    let mut after = 0i64;
    loop {
        let page = store
            .read_page(start, spec.to_ms, after, PAGE_ROWS)
            .context("reading the event store")?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let last_ts = last.ts_ms;
        for ev in &page {
            fold.apply(spec, ev);
        }
        let span = (spec.to_ms - start).max(1) as f64;
        progress(((last_ts - start) as f64 / span).clamp(0.0, 1.0));
        if page.len() < PAGE_ROWS as usize {
            break;
        }
    }
    Ok(fold.finish(spec))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::test_events::{at, spec, Log, T0};

    pub(crate) fn trace_of(log: &Log, spec: &ReportSpec) -> Trace {
        let mut fold = TraceFold::default();
        for ev in &log.events {
            fold.apply(spec, ev);
        }
        fold.finish(spec)
    }

    #[test]
    fn a_trace_keeps_arrivals_talk_ring_patience_and_presence() {
        let mut log = Log::default();
        log.agent_state(at(-50.0), "1001", "available", json!({}));
        // Joins at 1 s, rings 0.5 s, answered at 11 s, talk 30 s, wrap 5 s.
        log.answered(0.0, "1", "+100", "1001", 10.0, 30.0, 5.0);
        log.abandoned(100.0, "2", "+200", 40.0);
        log.agent_state(
            at(200.0),
            "1001",
            "paused",
            json!({"pause_reason": "lunch"}),
        );
        let spec = spec(T0, T0 + 3_600_000, 1_800_000);
        let t = trace_of(&log, &spec);
        assert_eq!(t.arrivals.len(), 2);
        let a = &t.arrivals[0];
        assert_eq!((a.queue.as_str(), a.joined_ms), ("sales", at(1.0)));
        assert_eq!(a.ring_s, Some(0.5));
        assert_eq!(a.talk_s, Some(30.0));
        assert_eq!(a.end.map(|e| e.outcome), Some(WaitOutcome::Answered));
        assert_eq!(a.left_after_s(t.exit_reasons[0]), None);
        let b = &t.arrivals[1];
        assert_eq!(b.left_after_s(t.exit_reasons[1]), Some(40.0));
        let q = &t.queues["sales"];
        assert_eq!((q.talks.clone(), q.rings.clone()), (vec![30.0], vec![0.5]));
        assert_eq!(q.wraps, vec![5.0]);
        // Waited 10 + 40 s, one abandon.
        assert_eq!(q.mean_patience_s(), Some(50.0));
        // Logged in from -50 s until the lunch pause.
        assert_eq!(
            t.present,
            vec![PresentSpan {
                agent: "1001".into(),
                from_ms: at(-50.0),
                to_ms: at(200.0)
            }]
        );
        assert_eq!(t.busy.len(), 1);
        assert_eq!(t.busy[0].to_ms - t.busy[0].from_ms, 35_000);
        assert_eq!(t.waits.len(), 2);
    }

    /// Reads the same log back through a store in pages smaller than the log.
    fn read_back(store: &mut dyn EventStore) {
        use crate::event_store::Row;
        let mut log = Log::default();
        log.agent_state(at(-50.0), "1001", "available", json!({}));
        let calls = PAGE_ROWS as usize / 8 + 10;
        for i in 0..calls {
            if i % 4 == 0 {
                log.abandoned(i as f64 * 2.0, &format!("c{i}"), "+1", 30.0);
            } else {
                log.answered(
                    i as f64 * 2.0,
                    &format!("c{i}"),
                    "+1",
                    "1001",
                    1.0,
                    1.0,
                    0.0,
                );
            }
        }
        let rows: Vec<Row> = log
            .events
            .iter()
            .map(|e| Row {
                ts_ms: e.ts_ms,
                call: e.call.clone(),
                call_seq: 0,
                queue: e.queue.clone(),
                agent: e.agent.clone(),
                tenant: e.tenant.clone(),
                kind: e.kind.clone(),
                data: e.data.to_string(),
                schema: 1,
            })
            .collect();
        assert!(rows.len() > PAGE_ROWS as usize);
        store.append_batch(&rows).unwrap();
        let spec = spec(T0, T0 + 86_400_000, 3_600_000);
        let mut seen = Vec::new();
        let t = read(store, &spec, &mut |s| seen.push(s)).unwrap();
        assert_eq!(t, trace_of(&log_with_ids(&log), &spec));
        assert_eq!(t.arrivals.len(), calls);
        assert!(seen.len() >= 2 && seen.windows(2).all(|w| w[0] <= w[1]));
    }

    /// The log as the store numbers it (ids from 1 in append order).
    fn log_with_ids(log: &Log) -> Log {
        let mut out = Log::default();
        for e in &log.events {
            out.push(
                e.ts_ms,
                &e.call,
                &e.queue,
                &e.agent,
                &e.kind,
                e.data.clone(),
            );
        }
        out
    }

    #[test]
    fn a_trace_reads_a_sqlite_store_in_pages() {
        let dir = std::env::temp_dir().join(format!("sb-sim-trace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        read_back(&mut store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The same on PostgreSQL, in a schema of its own, when `SWITCHBOARD_TEST_POSTGRES`
    /// names a database (scripts/test sets it).
    #[test]
    fn a_trace_reads_a_postgres_store_in_pages() {
        let Some(schema) = crate::event_store::TestSchema::create("sb_sim_trace") else {
            return;
        };
        let mut store = schema.store();
        read_back(&mut store);
    }

    #[test]
    fn calls_before_the_range_are_not_arrivals() {
        let mut log = Log::default();
        log.answered(-600.0, "0", "+100", "1001", 10.0, 30.0, 5.0);
        log.answered(10.0, "1", "+100", "1001", 10.0, 30.0, 5.0);
        let spec = spec(T0, T0 + 3_600_000, 1_800_000);
        let t = trace_of(&log, &spec);
        assert_eq!(t.arrivals.len(), 1);
        assert_eq!(t.arrivals[0].call, "1");
        // Only what happened in the range feeds the samples.
        assert_eq!(t.queues["sales"].talks.len(), 1);
        assert_eq!(t.queues["sales"].rings.len(), 1);
    }
}
