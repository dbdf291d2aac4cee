//! The EWT accuracy report: per queue and day (in `[acd] timezone`), how well the
//! estimated-wait announcements held. The rule is the live statistics': every
//! `queue.prediction` with a bound, made to a call later answered from that queue, is
//! scored when the answer comes (`queue.waited` with outcome `answered`): the remaining
//! wait is `waited_s(answer) - waited_s(prediction)`; `coverage` is the share of remaining
//! waits at most the bound, `mae_s` the mean |remaining wait - bound|. A call scores in the
//! day of its answer.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate};
use switchboard_events::{Event, WaitOutcome};

use super::{ratio, Cell, ReportFold, ReportSpec, Table};
use crate::event_store::StoredEvent;

/// Most predictions remembered per call, as in the live statistics.
const MAX_PREDICTIONS_PER_CALL: usize = 64;

#[derive(Clone, Copy, Debug, Default)]
struct EwtTally {
    announced: u64,
    no_estimate: u64,
    resolved: u64,
    covered: u64,
    abs_error_s: f64,
}

#[derive(Default)]
pub(crate) struct EwtFold {
    predictions: HashMap<String, Vec<(f64, f64)>>,
    tallies: BTreeMap<(NaiveDate, String), EwtTally>,
}

fn day(spec: &ReportSpec, ts: i64) -> Option<NaiveDate> {
    spec.bucket(ts)?;
    DateTime::from_timestamp_millis(ts).map(|t| t.with_timezone(&spec.tz).date_naive())
}

impl EwtFold {
    fn tally(&mut self, spec: &ReportSpec, ts: i64, queue: &str) -> Option<&mut EwtTally> {
        let d = day(spec, ts)?;
        Some(self.tallies.entry((d, queue.to_string())).or_default())
    }
}

impl ReportFold for EwtFold {
    fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        if ev.queue.is_empty() {
            return;
        }
        match &ev.event {
            Some(Event::QueuePrediction {
                bound_s, waited_s, ..
            }) => {
                if let Some(b) = bound_s {
                    let v = self.predictions.entry(ev.call.clone()).or_default();
                    if v.len() < MAX_PREDICTIONS_PER_CALL {
                        v.push((*waited_s, *b));
                    }
                }
                if let Some(t) = self.tally(spec, ev.ts_ms, &ev.queue) {
                    match bound_s {
                        Some(_) => t.announced += 1,
                        None => t.no_estimate += 1,
                    }
                }
            }
            Some(Event::QueueWaited {
                waited_s, outcome, ..
            }) => {
                let preds = self.predictions.remove(&ev.call).unwrap_or_default();
                if *outcome != WaitOutcome::Answered {
                    return;
                }
                if let Some(t) = self.tally(spec, ev.ts_ms, &ev.queue) {
                    for (at, bound) in preds {
                        let remaining = (waited_s - at).max(0.0);
                        t.resolved += 1;
                        t.covered += u64::from(remaining <= bound);
                        t.abs_error_s += (remaining - bound).abs();
                    }
                }
            }
            Some(Event::CallEnd(_)) => {
                // queue.waited may follow call.end; predictions stay until it comes.
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>, _spec: &ReportSpec) -> Table {
        let rows = self
            .tallies
            .iter()
            .map(|((d, queue), t)| {
                vec![
                    Cell::Text(d.format("%Y-%m-%d").to_string()),
                    Cell::Text(queue.clone()),
                    Cell::Int(t.announced),
                    Cell::Int(t.no_estimate),
                    Cell::Int(t.resolved),
                    Cell::Int(t.covered),
                    Cell::Num(ratio(t.covered as f64, t.resolved as f64)),
                    Cell::Num(ratio(t.abs_error_s, t.resolved as f64)),
                ]
            })
            .collect();
        Table {
            columns: vec![
                "day",
                "queue",
                "announced",
                "no_estimate",
                "resolved",
                "covered",
                "coverage",
                "mae_s",
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
    use serde_json::json;

    fn predict(log: &mut Log, t: f64, call: &str, waited: f64, bound: Option<f64>) {
        log.push(
            at(t),
            call,
            "sales",
            "",
            "queue.prediction",
            json!({"position": 1, "bound_s": bound, "waited_s": waited}),
        );
    }

    #[test]
    fn coverage_and_mae_of_answered_calls_per_day() {
        let mut log = Log::default();
        // Call 1 waits 30 s; predictions at 0 s (bound 40: covered, error 10) and at 10 s
        // (bound 10: remaining 20, not covered, error 10).
        log.start(at(0.0), "1", "+1", "100");
        predict(&mut log, 1.0, "1", 0.0, Some(40.0));
        predict(&mut log, 11.0, "1", 10.0, Some(10.0));
        predict(&mut log, 12.0, "1", 11.0, None);
        log.push(
            at(31.0),
            "1",
            "sales",
            "",
            "queue.waited",
            json!({"waited_s": 30.0, "outcome": "answered"}),
        );
        // Call 2 abandons: its prediction is not scored.
        predict(&mut log, 50.0, "2", 0.0, Some(5.0));
        log.push(
            at(60.0),
            "2",
            "sales",
            "",
            "queue.waited",
            json!({"waited_s": 10.0, "outcome": "abandoned"}),
        );
        // The next day (UTC).
        predict(&mut log, 86_400.0, "3", 0.0, Some(5.0));
        log.push(
            at(86_404.0),
            "3",
            "sales",
            "",
            "queue.waited",
            json!({"waited_s": 4.0, "outcome": "answered"}),
        );
        let spec = spec(T0, T0 + 2 * 86_400_000, 3_600_000);
        let t = log.report(ReportKind::Ewt, &spec);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.get(0, "day"), &Cell::Text("2026-11-23".into()));
        assert_eq!(num(t.get(0, "announced")), Some(3.0));
        assert_eq!(num(t.get(0, "no_estimate")), Some(1.0));
        assert_eq!(num(t.get(0, "resolved")), Some(2.0));
        assert!(close(num(t.get(0, "coverage")), 0.5));
        assert!(close(num(t.get(0, "mae_s")), 10.0));
        assert!(close(num(t.get(1, "coverage")), 1.0));
        assert!(close(num(t.get(1, "mae_s")), 1.0));
    }
}
