//! The trunk report: calls in progress (from `call.start` to `call.end`) per interval,
//! their peak and time-weighted mean, and the Erlang B view of that traffic: the blocking
//! probability with `[reports] trunks` channels and the channels needed to keep blocking
//! at or below `[reports] target_blocking`.
//!
//! The mean concurrency of an interval is the traffic carried in it, in Erlangs. It is used
//! as the offered load, which holds while little is blocked (a blocked call never shows up
//! in the log, so the offered load cannot be measured).

use std::collections::{BTreeMap, HashSet};

use switchboard_acd::erlang::erlang_b;
use switchboard_events::Event;

use super::{Cell, ReportFold, ReportSpec, Table};
use crate::event_store::StoredEvent;

/// Upper bound of the trunks-needed search.
const MAX_TRUNKS: u32 = 100_000;

#[derive(Clone, Copy, Debug, Default)]
struct TrunkTally {
    started: u64,
    /// Sum of (calls in progress x ms).
    call_ms: i64,
    peak: u64,
}

#[derive(Default)]
pub(crate) struct TrunksFold {
    active: HashSet<String>,
    since: i64,
    tallies: BTreeMap<i64, TrunkTally>,
}

impl TrunksFold {
    /// Credits the current level over `[self.since, until)`.
    fn credit(&mut self, spec: &ReportSpec, until: i64) {
        let level = self.active.len() as u64;
        let end = until.min(spec.to_ms).min(spec.now_ms);
        let mut t = self.since.max(spec.from_ms);
        self.since = until;
        while t < end {
            let Some(b) = spec.bucket(t) else { return };
            let seg_end = spec.bucket_start(b + 1).min(end);
            let tally = self.tallies.entry(b).or_default();
            tally.call_ms += level as i64 * (seg_end - t);
            tally.peak = tally.peak.max(level);
            t = seg_end;
        }
    }
}

/// The fewest channels that keep Erlang B blocking at or below `target` for `load`.
pub(crate) fn trunks_needed(load: f64, target: f64) -> Option<u32> {
    if load <= 0.0 {
        return Some(0);
    }
    // The recurrence of erlang_b, one channel at a time.
    let mut b = 1.0;
    for n in 1..=MAX_TRUNKS {
        b = load * b / (f64::from(n) + load * b);
        if b <= target {
            return Some(n);
        }
    }
    None
}

impl ReportFold for TrunksFold {
    fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        let starts = matches!(ev.event, Some(Event::CallStart(_)));
        let ends = matches!(ev.event, Some(Event::CallEnd(_)));
        if !(starts || ends) || ev.call.is_empty() {
            return;
        }
        self.credit(spec, ev.ts_ms);
        if starts && self.active.insert(ev.call.clone()) {
            if let Some(b) = spec.bucket(ev.ts_ms) {
                let t = self.tallies.entry(b).or_default();
                t.started += 1;
                t.peak = t.peak.max(self.active.len() as u64);
            }
        }
        if ends {
            self.active.remove(&ev.call);
        }
    }

    fn finish(mut self: Box<Self>, spec: &ReportSpec) -> Table {
        self.credit(spec, i64::MAX);
        let last = (spec.to_ms - spec.from_ms - 1) / spec.interval_ms;
        let trunks = spec.reports.trunks;
        let target = spec.reports.target_blocking;
        let rows = (0..=last)
            .map(|b| {
                let t = self.tallies.get(&b).copied().unwrap_or_default();
                let mean = t.call_ms as f64 / spec.interval_ms as f64;
                vec![
                    Cell::Time(spec.bucket_start(b)),
                    Cell::Int(t.started),
                    Cell::Int(t.peak),
                    Cell::Num(Some(mean)),
                    Cell::Int(u64::from(trunks)),
                    Cell::Num(Some(erlang_b(trunks, mean))),
                    Cell::Num(Some(target)),
                    trunks_needed(mean, target)
                        .map(|n| Cell::Int(u64::from(n)))
                        .unwrap_or(Cell::Num(None)),
                ]
            })
            .collect();
        Table {
            columns: vec![
                "interval_start",
                "calls_started",
                "peak_calls",
                "mean_calls",
                "trunks",
                "blocking",
                "target_blocking",
                "trunks_needed",
            ],
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_events::*;
    use super::super::ReportKind;
    use super::*;

    #[test]
    fn concurrency_peak_mean_and_erlang_b() {
        let mut log = Log::default();
        // Two calls overlap for 600 s in the first hour; one runs into the second hour.
        log.start(at(0.0), "1", "+1", "100");
        log.start(at(600.0), "2", "+2", "100");
        log.end(at(1200.0), "1", "caller_hangup", "ivr");
        log.end(at(4200.0), "2", "caller_hangup", "ivr");
        let mut spec = spec(T0, T0 + 3 * 3_600_000, 3_600_000);
        spec.reports.trunks = 2;
        spec.now_ms = spec.to_ms;
        let t = log.report(ReportKind::Trunks, &spec);
        assert_eq!(t.rows.len(), 3);
        assert_eq!(num(t.get(0, "peak_calls")), Some(2.0));
        assert_eq!(num(t.get(0, "calls_started")), Some(2.0));
        // (1200 + 3000) s of calls in 3600 s.
        let a = 4200.0 / 3600.0;
        assert!(close(num(t.get(0, "mean_calls")), a));
        assert!(close(num(t.get(1, "mean_calls")), 600.0 / 3600.0));
        assert_eq!(num(t.get(1, "peak_calls")), Some(1.0));
        assert_eq!(num(t.get(2, "peak_calls")), Some(0.0));
        let b2 = a * a / 2.0 / (1.0 + a + a * a / 2.0);
        assert!(close(num(t.get(0, "blocking")), b2));
        let needed = num(t.get(0, "trunks_needed")).unwrap() as u32;
        assert!(erlang_b(needed, a) <= 0.01 && erlang_b(needed - 1, a) > 0.01);
    }

    #[test]
    fn trunks_needed_edges() {
        assert_eq!(trunks_needed(0.0, 0.01), Some(0));
        // B(1, 1) = 0.5, B(2, 1) = 0.2, B(3, 1) = 1/16, B(5, 1) < 0.01 < B(4, 1).
        assert_eq!(trunks_needed(1.0, 0.5), Some(1));
        assert_eq!(trunks_needed(1.0, 0.2), Some(2));
        assert_eq!(trunks_needed(1.0, 0.01), Some(5));
    }
}
