//! What-if replay of recorded traffic (`switchboard simulate`) and staffing plans from
//! observed traffic (`switchboard staffing --from-events`).
//!
//! `simulate` reads a range of the event store ([`trace`]: arrivals per queue, the talk time
//! and ring time of every answered call, the wait of every caller who gave up, ring-outs per
//! offer, and when each agent was logged in), replays it through the real ACD engine
//! (`switchboard_acd::Acd`, on a simulated clock) configured from a *candidate*
//! configuration ([`replay`]), and prints per queue and interval the service level, ASA,
//! abandon rate, occupancy and EWT accuracy of the replay next to what the store says
//! actually happened. Both sides are counted by the same rules ([`Tally`]), which are the
//! queue report's (`report/queues.rs`). docs/decisions/0027-replay-model.md says what is
//! replayed, what is simulated and the known biases.
//!
//! `staffing --from-events` ([`staffing`]) turns the same trace into offered calls per
//! hour, handle time and patience per time-of-day slot and sizes each slot with Erlang C
//! (Erlang A when callers were seen to abandon).
//!
//! This module writes nothing to the store and never touches a live engine; the CLI shells
//! are in [`cli`].

pub(crate) mod cli;
pub(crate) mod replay;
pub(crate) mod staffing;
pub(crate) mod trace;

use std::collections::BTreeMap;

use switchboard_events::WaitOutcome;

use crate::report::{ratio, Cell, QueueRules, ReportSpec, Table};

/// One wait of one caller in one queue (a replayed or a recorded one).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct WaitRecord {
    pub(crate) queue: String,
    /// Join time, unix ms.
    pub(crate) joined_ms: i64,
    /// How and when it ended; `None` while still waiting at the end of the range.
    pub(crate) end: Option<WaitEnd>,
    /// Predictions made to this caller in this queue: (seconds waited so far, bound s).
    pub(crate) predictions: Vec<(f64, f64)>,
}

/// The end of a wait.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WaitEnd {
    pub(crate) at_ms: i64,
    pub(crate) waited_s: f64,
    pub(crate) outcome: WaitOutcome,
}

/// An agent occupied by a queue call (talk and wrap-up), unix ms.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BusySpan {
    pub(crate) agent: String,
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
}

/// An agent logged in (and not paused by hand), unix ms.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PresentSpan {
    pub(crate) agent: String,
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
}

/// What happened in one queue over one interval, by the queue report's rules: offered in
/// the interval of the join, answered and abandoned in the interval of the end of the
/// wait, short abandons left out of service level and abandon rate; predictions scored when
/// the call is answered (remaining wait against the bound); occupancy = time the queue's
/// members spent on queue calls over the time they were logged in.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Tally {
    pub(crate) offered: u64,
    pub(crate) answered: u64,
    pub(crate) answered_within: u64,
    pub(crate) abandoned: u64,
    pub(crate) short_abandoned: u64,
    pub(crate) answer_wait_s: f64,
    pub(crate) busy_s: f64,
    pub(crate) present_s: f64,
    pub(crate) predictions: u64,
    pub(crate) covered: u64,
    pub(crate) abs_error_s: f64,
}

impl Tally {
    fn sl_base(&self) -> u64 {
        self.answered + self.abandoned - self.short_abandoned
    }
    pub(crate) fn service_level(&self) -> Option<f64> {
        ratio(self.answered_within as f64, self.sl_base() as f64)
    }
    pub(crate) fn abandon_rate(&self) -> Option<f64> {
        ratio(
            (self.abandoned - self.short_abandoned) as f64,
            self.sl_base() as f64,
        )
    }
    pub(crate) fn asa_s(&self) -> Option<f64> {
        ratio(self.answer_wait_s, self.answered as f64)
    }
    pub(crate) fn occupancy(&self) -> Option<f64> {
        ratio(self.busy_s, self.present_s).map(|o| o.min(1.0))
    }
    pub(crate) fn ewt_coverage(&self) -> Option<f64> {
        ratio(self.covered as f64, self.predictions as f64)
    }
    pub(crate) fn ewt_mae_s(&self) -> Option<f64> {
        ratio(self.abs_error_s, self.predictions as f64)
    }
}

/// Time of `[a, b)` inside interval `i` of the spec, seconds.
fn overlap_s(spec: &ReportSpec, i: i64, a: i64, b: i64) -> f64 {
    let lo = spec.bucket_start(i).max(a);
    let hi = (spec.bucket_start(i) + spec.interval_ms)
        .min(spec.to_ms)
        .min(b);
    (hi - lo).max(0) as f64 / 1000.0
}

/// Spreads `[a, b)` over the intervals it covers.
fn spread(spec: &ReportSpec, a: i64, b: i64, mut add: impl FnMut(i64, f64)) {
    let (a, b) = (a.max(spec.from_ms), b.min(spec.to_ms));
    if b <= a {
        return;
    }
    let first = (a - spec.from_ms) / spec.interval_ms;
    let last = (b - 1 - spec.from_ms) / spec.interval_ms;
    for i in first..=last {
        let s = overlap_s(spec, i, a, b);
        if s > 0.0 {
            add(i, s);
        }
    }
}

/// The tallies per (interval, queue) of some waits, busy spans and logged-in spans.
/// `members` lists the agents serving each queue (occupancy).
pub(crate) fn tally(
    spec: &ReportSpec,
    waits: &[WaitRecord],
    busy: &[BusySpan],
    present: &[PresentSpan],
    members: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<(i64, String), Tally> {
    let mut out: BTreeMap<(i64, String), Tally> = BTreeMap::new();
    for w in waits {
        let rules: QueueRules = spec.rules(&w.queue);
        if let Some(b) = spec.bucket(w.joined_ms) {
            out.entry((b, w.queue.clone())).or_default().offered += 1;
        }
        let Some(end) = w.end else { continue };
        let Some(b) = spec.bucket(end.at_ms) else {
            continue;
        };
        let t = out.entry((b, w.queue.clone())).or_default();
        match end.outcome {
            WaitOutcome::Answered => {
                t.answered += 1;
                t.answered_within += u64::from(end.waited_s <= rules.sl_threshold_s);
                t.answer_wait_s += end.waited_s;
                for (at, bound) in &w.predictions {
                    let remaining = (end.waited_s - at).max(0.0);
                    t.predictions += 1;
                    t.covered += u64::from(remaining <= *bound);
                    t.abs_error_s += (remaining - bound).abs();
                }
            }
            WaitOutcome::Abandoned => {
                t.abandoned += 1;
                t.short_abandoned += u64::from(end.waited_s < rules.short_abandon_s);
            }
            _ => {}
        }
    }
    for (queue, agents) in members {
        for s in busy.iter().filter(|s| agents.contains(&s.agent)) {
            spread(spec, s.from_ms, s.to_ms, |i, secs| {
                out.entry((i, queue.clone())).or_default().busy_s += secs;
            });
        }
        for s in present.iter().filter(|s| agents.contains(&s.agent)) {
            spread(spec, s.from_ms, s.to_ms, |i, secs| {
                out.entry((i, queue.clone())).or_default().present_s += secs;
            });
        }
    }
    // Intervals where nobody called and nothing was answered are left out.
    out.retain(|_, t| t.offered + t.answered + t.abandoned > 0 || t.busy_s > 0.0);
    out
}

/// The comparison table: per interval and queue, each figure as recorded and as replayed.
pub(crate) fn comparison(
    spec: &ReportSpec,
    actual: &BTreeMap<(i64, String), Tally>,
    replayed: &BTreeMap<(i64, String), Tally>,
) -> Table {
    let mut keys: Vec<&(i64, String)> = actual.keys().chain(replayed.keys()).collect();
    keys.sort();
    keys.dedup();
    let none = Tally::default();
    let rows = keys
        .into_iter()
        .map(|k| {
            let a = actual.get(k).unwrap_or(&none);
            let r = replayed.get(k).unwrap_or(&none);
            vec![
                Cell::Time(spec.bucket_start(k.0)),
                Cell::Text(k.1.clone()),
                Cell::Int(a.offered),
                Cell::Int(r.offered),
                Cell::Int(a.answered),
                Cell::Int(r.answered),
                Cell::Int(a.abandoned),
                Cell::Int(r.abandoned),
                Cell::Num(a.service_level()),
                Cell::Num(r.service_level()),
                Cell::Num(a.asa_s()),
                Cell::Num(r.asa_s()),
                Cell::Num(a.abandon_rate()),
                Cell::Num(r.abandon_rate()),
                Cell::Num(a.occupancy()),
                Cell::Num(r.occupancy()),
                Cell::Num(a.ewt_coverage()),
                Cell::Num(r.ewt_coverage()),
                Cell::Num(a.ewt_mae_s()),
                Cell::Num(r.ewt_mae_s()),
            ]
        })
        .collect();
    Table {
        columns: vec![
            "interval_start",
            "queue",
            "offered",
            "offered_sim",
            "answered",
            "answered_sim",
            "abandoned",
            "abandoned_sim",
            "service_level",
            "service_level_sim",
            "asa_s",
            "asa_s_sim",
            "abandon_rate",
            "abandon_rate_sim",
            "occupancy",
            "occupancy_sim",
            "ewt_coverage",
            "ewt_coverage_sim",
            "ewt_mae_s",
            "ewt_mae_s_sim",
        ],
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_events::{at, spec, T0};

    fn wait(joined: f64, waited: f64, outcome: WaitOutcome) -> WaitRecord {
        WaitRecord {
            queue: "sales".into(),
            joined_ms: at(joined),
            end: Some(WaitEnd {
                at_ms: at(joined + waited),
                waited_s: waited,
                outcome,
            }),
            predictions: Vec::new(),
        }
    }

    #[test]
    fn tallies_follow_the_queue_report_rules() {
        // sales: 20 s threshold, abandons under 5 s are short.
        let spec = spec(T0, T0 + 3_600_000, 1_800_000);
        let mut answered_late = wait(10.0, 30.0, WaitOutcome::Answered);
        answered_late.predictions = vec![(0.0, 25.0), (20.0, 20.0)];
        let waits = vec![
            wait(0.0, 10.0, WaitOutcome::Answered),
            answered_late,
            wait(20.0, 40.0, WaitOutcome::Abandoned),
            wait(30.0, 2.0, WaitOutcome::Abandoned),
            // Joins in the first interval, answered in the second.
            wait(1790.0, 15.0, WaitOutcome::Answered),
        ];
        let busy = vec![BusySpan {
            agent: "1001".into(),
            from_ms: at(1700.0),
            to_ms: at(1900.0),
        }];
        let present = vec![PresentSpan {
            agent: "1001".into(),
            from_ms: at(-100.0),
            to_ms: at(5000.0),
        }];
        let members = BTreeMap::from([("sales".to_string(), vec!["1001".to_string()])]);
        let t = tally(&spec, &waits, &busy, &present, &members);
        let first = t[&(0, "sales".to_string())];
        assert_eq!(first.offered, 5);
        assert_eq!((first.answered, first.answered_within), (2, 1));
        assert_eq!((first.abandoned, first.short_abandoned), (2, 1));
        assert_eq!(first.service_level(), Some(1.0 / 3.0));
        assert_eq!(first.abandon_rate(), Some(1.0 / 3.0));
        assert_eq!(first.asa_s(), Some(20.0));
        // Remaining waits 30 (bound 25, missed by 5) and 10 (bound 20, covered, off by 10).
        assert_eq!(first.ewt_coverage(), Some(0.5));
        assert_eq!(first.ewt_mae_s(), Some(7.5));
        assert_eq!(first.occupancy(), Some(100.0 / 1800.0));
        let second = t[&(1, "sales".to_string())];
        assert_eq!((second.offered, second.answered), (0, 1));
        assert_eq!(second.occupancy(), Some(100.0 / 1800.0));
    }
}
