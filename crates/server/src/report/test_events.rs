//! Hand-made event sequences for the report folds' tests.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{QueueRules, ReportFold, ReportKind, ReportSpec, ReportsConfig, Table};
use crate::event_store::StoredEvent;

/// 2026-11-23T10:00:00Z.
pub(crate) const T0: i64 = 1_795_428_000_000;

/// Seconds after `T0`, in ms.
pub(crate) fn at(s: f64) -> i64 {
    T0 + (s * 1000.0) as i64
}

/// A spec over `[from, to)` with `sales` at 20 s / short abandon 5 s.
pub(crate) fn spec(from: i64, to: i64, interval: i64) -> ReportSpec {
    let mut queues = BTreeMap::new();
    queues.insert(
        "sales".to_string(),
        QueueRules {
            sl_threshold_s: 20.0,
            short_abandon_s: 5.0,
        },
    );
    ReportSpec {
        from_ms: from,
        to_ms: to,
        interval_ms: interval,
        now_ms: to,
        queues,
        tz: chrono_tz::UTC,
        reports: ReportsConfig::default(),
    }
}

/// A log being written.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) events: Vec<StoredEvent>,
}

impl Log {
    /// Appends one row.
    pub(crate) fn push(
        &mut self,
        ts: i64,
        call: &str,
        queue: &str,
        agent: &str,
        kind: &str,
        data: Value,
    ) {
        let id = self.events.len() as i64 + 1;
        self.events.push(StoredEvent::new(
            id,
            ts,
            call.into(),
            0,
            queue.into(),
            agent.into(),
            kind.into(),
            data,
        ));
    }

    pub(crate) fn start(&mut self, ts: i64, call: &str, caller: &str, dnis: &str) {
        self.push(
            ts,
            call,
            "",
            "",
            "call.start",
            json!({"caller": caller, "dnis": dnis}),
        );
    }

    pub(crate) fn end(&mut self, ts: i64, call: &str, reason: &str, disposition: &str) {
        self.push(
            ts,
            call,
            "",
            "",
            "call.end",
            json!({"end_reason": reason, "disposition": disposition}),
        );
    }

    pub(crate) fn agent_state(&mut self, ts: i64, agent: &str, state: &str, extra: Value) {
        let mut data = json!({ "state": state });
        if let (Some(d), Value::Object(x)) = (data.as_object_mut(), extra) {
            d.extend(x);
        }
        self.push(ts, "", "", agent, "agent.state", data);
    }

    /// A queue call: start at `t`, join `sales`, answered by `agent` after `wait` s, talk
    /// `talk` s, wrap-up `wrap` s; caller `caller`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn answered(
        &mut self,
        t: f64,
        call: &str,
        caller: &str,
        agent: &str,
        wait: f64,
        talk: f64,
        wrap: f64,
    ) {
        self.start(at(t), call, caller, "100");
        self.push(at(t), call, "", "", "call.answer", json!({"codec": "PCMU"}));
        self.push(
            at(t + 1.0),
            call,
            "sales",
            "",
            "queue.join",
            json!({"position": 1, "resumed": false}),
        );
        let a = t + 1.0 + wait;
        self.agent_state(at(a - 0.5), agent, "ringing", json!({"call": call}));
        self.push(
            at(a),
            call,
            "sales",
            agent,
            "call.bridge",
            json!({"wait_s": wait + 1.0}),
        );
        self.push(
            at(a),
            call,
            "sales",
            "",
            "queue.waited",
            json!({"waited_s": wait, "outcome": "answered"}),
        );
        self.agent_state(
            at(a),
            agent,
            "busy",
            json!({"call": call, "busy_kind": "queue"}),
        );
        self.agent_state(at(a + talk), agent, "wrap_up", json!({}));
        self.end(at(a + talk), call, "caller_hangup", "answered");
        self.agent_state(at(a + talk + wrap), agent, "available", json!({}));
    }

    /// A queue call abandoned after `wait` s.
    pub(crate) fn abandoned(&mut self, t: f64, call: &str, caller: &str, wait: f64) {
        self.start(at(t), call, caller, "100");
        self.push(at(t), call, "", "", "call.answer", json!({"codec": "PCMU"}));
        self.push(
            at(t + 1.0),
            call,
            "sales",
            "",
            "queue.join",
            json!({"position": 1, "resumed": false}),
        );
        self.end(at(t + 1.0 + wait), call, "caller_hangup", "abandoned");
        self.push(
            at(t + 1.0 + wait),
            call,
            "sales",
            "",
            "queue.waited",
            json!({"waited_s": wait, "outcome": "abandoned"}),
        );
    }

    /// Runs a report over the log.
    pub(crate) fn report(&self, kind: ReportKind, spec: &ReportSpec) -> Table {
        let mut fold: Box<dyn ReportFold> = super::fold_for(kind);
        for ev in &self.events {
            fold.apply(spec, ev);
        }
        fold.finish(spec)
    }
}

/// The number in a cell (`Int` or `Num`); panics on text.
pub(crate) fn num(c: &super::Cell) -> Option<f64> {
    match c {
        super::Cell::Int(n) => Some(*n as f64),
        super::Cell::Num(v) => *v,
        other => panic!("not a number: {other:?}"),
    }
}

/// Approximately equal.
pub(crate) fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}
