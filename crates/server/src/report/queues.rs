//! The queue report: per queue and interval, offered, answered, abandoned, service level,
//! ASA, AHT, maximum wait, the repeat-call proxy of first-contact resolution and the
//! integrated quality indicator.
//!
//! The counting rules are the live statistics' (`switchboard_acd::statistics`): a call is
//! offered in the interval of its `queue.join`; answered, abandoned, exited or overflowed in
//! the interval of its `queue.waited`; handled (talk + wrap-up) in the interval where its
//! agent's wrap-up ends (`agent.state` leaving `wrap_up`). Short abandons are left out of
//! service level and abandon rate; any other abandon counts against service level.

use std::collections::{BTreeMap, HashMap};

use switchboard_events::{AgentStateName, Event, WaitOutcome};

use super::{ratio, Cell, QualityWeights, ReportFold, ReportSpec, Table, LOOKBACK_MS};
use crate::event_store::StoredEvent;

/// Counters of one queue over one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Tally {
    offered: u64,
    answered: u64,
    answered_within: u64,
    abandoned: u64,
    short_abandoned: u64,
    exited: u64,
    overflowed: u64,
    answer_wait_s: f64,
    max_wait_s: f64,
    handled: u64,
    talk_s: f64,
    wrap_up_s: f64,
    /// Joins by a known caller number (the base of the first-contact proxy).
    fcr_base: u64,
    /// Of those, calls from a number that called the same queue within the previous 24 h.
    repeats: u64,
}

impl Tally {
    fn sl_base(&self) -> u64 {
        self.answered + self.abandoned - self.short_abandoned
    }
    fn service_level(&self) -> Option<f64> {
        ratio(self.answered_within as f64, self.sl_base() as f64)
    }
    fn abandon_rate(&self) -> Option<f64> {
        ratio(
            (self.abandoned - self.short_abandoned) as f64,
            self.sl_base() as f64,
        )
    }
    fn asa_s(&self) -> Option<f64> {
        ratio(self.answer_wait_s, self.answered as f64)
    }
    fn aht_s(&self) -> Option<f64> {
        ratio(self.talk_s + self.wrap_up_s, self.handled as f64)
    }
    fn first_contact(&self) -> Option<f64> {
        ratio((self.fcr_base - self.repeats) as f64, self.fcr_base as f64)
    }
}

/// The integrated quality indicator: the weighted mean of service level, `1 - abandon
/// rate` and the first-contact proxy over the components that have a value.
pub(crate) fn quality(
    w: &QualityWeights,
    sl: Option<f64>,
    abandon_rate: Option<f64>,
    first_contact: Option<f64>,
) -> Option<f64> {
    let parts = [
        (w.service_level, sl),
        (w.abandon, abandon_rate.map(|a| 1.0 - a)),
        (w.first_contact, first_contact),
    ];
    let (mut sum, mut weight) = (0.0, 0.0);
    for (wi, v) in parts {
        if let Some(v) = v {
            sum += wi * v;
            weight += wi;
        }
    }
    ratio(sum, weight)
}

/// An agent's queue call between answer and the end of its wrap-up.
#[derive(Clone, Debug)]
struct Handling {
    call: String,
    talk_from: i64,
    wrap_from: Option<i64>,
}

/// Caller numbers that do not identify anyone.
fn anonymous(caller: &str) -> bool {
    caller.is_empty() || caller.eq_ignore_ascii_case("anonymous") || caller == "unknown"
}

#[derive(Default)]
pub(crate) struct QueuesFold {
    tallies: BTreeMap<(i64, String), Tally>,
    /// Caller number of each call in progress.
    callers: HashMap<String, String>,
    /// The queue each call is in (or was answered from), as the live statistics keep it.
    calls: HashMap<String, (String, i64)>,
    /// Last call per (queue, caller): its id and join time.
    last_seen: HashMap<(String, String), (String, i64)>,
    handling: HashMap<String, Handling>,
    seen: u64,
}

impl QueuesFold {
    fn tally(&mut self, spec: &ReportSpec, ts: i64, queue: &str) -> Option<&mut Tally> {
        let b = spec.bucket(ts)?;
        Some(self.tallies.entry((b, queue.to_string())).or_default())
    }

    fn join(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        self.calls
            .insert(ev.call.clone(), (ev.queue.clone(), ev.ts_ms));
        let caller = self.callers.get(&ev.call).cloned().unwrap_or_default();
        let mut counted_repeat = None;
        if !anonymous(&caller) {
            let key = (ev.queue.clone(), caller);
            match self.last_seen.get(&key) {
                Some((call, _)) if *call == ev.call => {}
                prev => {
                    counted_repeat = Some(prev.is_some_and(|(_, t)| ev.ts_ms - t <= LOOKBACK_MS));
                    self.last_seen.insert(key, (ev.call.clone(), ev.ts_ms));
                }
            }
        }
        if let Some(t) = self.tally(spec, ev.ts_ms, &ev.queue) {
            t.offered += 1;
            if let Some(repeat) = counted_repeat {
                t.fcr_base += 1;
                t.repeats += u64::from(repeat);
            }
        }
    }

    fn waited(&mut self, spec: &ReportSpec, ev: &StoredEvent, waited_s: f64, out: WaitOutcome) {
        let keep = matches!(
            out,
            WaitOutcome::Answered | WaitOutcome::Overflowed | WaitOutcome::CallbackRequested
        );
        if !keep {
            self.calls.remove(&ev.call);
        }
        let rules = spec.rules(&ev.queue);
        let Some(t) = self.tally(spec, ev.ts_ms, &ev.queue) else {
            return;
        };
        if out != WaitOutcome::CallbackRequested {
            t.max_wait_s = t.max_wait_s.max(waited_s);
        }
        match out {
            WaitOutcome::Answered => {
                t.answered += 1;
                t.answered_within += u64::from(waited_s <= rules.sl_threshold_s);
                t.answer_wait_s += waited_s;
            }
            WaitOutcome::Abandoned => {
                t.abandoned += 1;
                t.short_abandoned += u64::from(waited_s < rules.short_abandon_s);
            }
            WaitOutcome::Exited => t.exited += 1,
            WaitOutcome::Overflowed => t.overflowed += 1,
            WaitOutcome::CallbackRequested => {}
        }
    }

    fn agent_state(
        &mut self,
        spec: &ReportSpec,
        ev: &StoredEvent,
        state: AgentStateName,
        call: Option<&String>,
    ) {
        let ts = ev.ts_ms;
        let prev = self.handling.get(&ev.agent).cloned();
        let finished = match (state, call, prev) {
            (AgentStateName::Busy, Some(c), Some(h)) if h.call == *c => None,
            (AgentStateName::Busy, Some(c), prev) => {
                self.handling.insert(
                    ev.agent.clone(),
                    Handling {
                        call: c.clone(),
                        talk_from: ts,
                        wrap_from: None,
                    },
                );
                prev
            }
            // A direct call on top of a queue call does not end the queue call.
            (AgentStateName::Busy, None, _) => None,
            (AgentStateName::WrapUp, _, Some(mut h)) => {
                h.wrap_from.get_or_insert(ts);
                self.handling.insert(ev.agent.clone(), h);
                None
            }
            (_, _, prev) => {
                self.handling.remove(&ev.agent);
                prev
            }
        };
        if let Some(h) = finished {
            let talk_end = h.wrap_from.unwrap_or(ts);
            let talk = (talk_end - h.talk_from).max(0) as f64 / 1000.0;
            let wrap = (ts - talk_end).max(0) as f64 / 1000.0;
            if let Some((queue, _)) = self.calls.remove(&h.call) {
                if let Some(t) = self.tally(spec, ts, &queue) {
                    t.handled += 1;
                    t.talk_s += talk;
                    t.wrap_up_s += wrap;
                }
            }
        }
    }

    /// Forgets per-call state older than the look-back (calls whose end never came), so
    /// memory stays bounded by a day's calls.
    fn prune(&mut self, now: i64) {
        let horizon = now - LOOKBACK_MS;
        self.calls.retain(|_, (_, t)| *t >= horizon);
        self.last_seen.retain(|_, (_, t)| *t >= horizon);
    }
}

impl ReportFold for QueuesFold {
    fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        self.seen += 1;
        if self.seen % 50_000 == 0 {
            self.prune(ev.ts_ms);
        }
        match &ev.event {
            Some(Event::CallStart(s)) => {
                self.callers.insert(ev.call.clone(), s.caller.clone());
            }
            Some(Event::CallEnd(_)) => {
                self.callers.remove(&ev.call);
            }
            Some(Event::QueueJoin { .. }) if !ev.queue.is_empty() => self.join(spec, ev),
            Some(Event::QueueWaited {
                waited_s, outcome, ..
            }) if !ev.queue.is_empty() => self.waited(spec, ev, *waited_s, *outcome),
            Some(Event::AgentState { state, call, .. }) if !ev.agent.is_empty() => {
                self.agent_state(spec, ev, *state, call.as_ref())
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>, spec: &ReportSpec) -> Table {
        let w = spec.reports.quality_weights;
        let rows = self
            .tallies
            .iter()
            .map(|((b, queue), t)| {
                let (sl, ab, fcr) = (t.service_level(), t.abandon_rate(), t.first_contact());
                vec![
                    Cell::Time(spec.bucket_start(*b)),
                    Cell::Text(queue.clone()),
                    Cell::Int(t.offered),
                    Cell::Int(t.answered),
                    Cell::Int(t.answered_within),
                    Cell::Int(t.abandoned),
                    Cell::Int(t.short_abandoned),
                    Cell::Int(t.exited),
                    Cell::Int(t.overflowed),
                    Cell::Num(sl),
                    Cell::Num(ab),
                    Cell::Num(t.asa_s()),
                    Cell::Num(t.aht_s()),
                    Cell::Num(Some(t.max_wait_s)),
                    Cell::Int(t.handled),
                    Cell::Num(Some(t.talk_s)),
                    Cell::Num(Some(t.wrap_up_s)),
                    Cell::Int(t.repeats),
                    Cell::Num(fcr),
                    Cell::Num(quality(&w, sl, ab, fcr)),
                ]
            })
            .collect();
        Table {
            columns: vec![
                "interval_start",
                "queue",
                "offered",
                "answered",
                "answered_within",
                "abandoned",
                "short_abandoned",
                "exited",
                "overflowed",
                "service_level",
                "abandon_rate",
                "asa_s",
                "aht_s",
                "max_wait_s",
                "handled",
                "talk_s",
                "wrap_up_s",
                "repeat_calls",
                "first_contact",
                "quality",
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
    fn queue_figures_follow_the_live_rules() {
        let mut log = Log::default();
        // Answered after 10 s (within 20 s), talk 30, wrap 5.
        log.answered(0.0, "1", "+100", "1001", 10.0, 30.0, 5.0);
        // Answered after 25 s (outside), talk 60, wrap 5.
        log.answered(100.0, "2", "+200", "1002", 25.0, 60.0, 5.0);
        // Abandoned after 40 s: against SL.
        log.abandoned(200.0, "3", "+300", 40.0);
        // Abandoned after 2 s: short, left out.
        log.abandoned(300.0, "4", "+400", 2.0);
        let spec = spec(T0, T0 + 3_600_000, 3_600_000);
        let t = log.report(ReportKind::Queues, &spec);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(num(t.get(0, "offered")), Some(4.0));
        assert_eq!(num(t.get(0, "answered")), Some(2.0));
        assert_eq!(num(t.get(0, "abandoned")), Some(2.0));
        assert_eq!(num(t.get(0, "short_abandoned")), Some(1.0));
        // SL = 1 within / (2 answered + 2 abandoned - 1 short) = 1/3.
        assert!(close(num(t.get(0, "service_level")), 1.0 / 3.0));
        assert!(close(num(t.get(0, "abandon_rate")), 1.0 / 3.0));
        assert!(close(num(t.get(0, "asa_s")), 17.5));
        // AHT = (30 + 5 + 60 + 5) / 2.
        assert!(close(num(t.get(0, "aht_s")), 50.0));
        assert!(close(num(t.get(0, "max_wait_s")), 40.0));
        assert_eq!(num(t.get(0, "repeat_calls")), Some(0.0));
        assert!(close(num(t.get(0, "first_contact")), 1.0));
    }

    #[test]
    fn calls_land_in_the_interval_of_their_event_and_handling_spans_intervals() {
        let mut log = Log::default();
        // Joins at 1 s, answered at 1791 s (interval 0), wrap-up ends at 1891 s (interval 1).
        log.answered(0.0, "1", "+100", "1001", 1790.0, 95.0, 5.0);
        let spec = spec(T0, T0 + 3_600_000, 1_800_000);
        let t = log.report(ReportKind::Queues, &spec);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.get(0, "interval_start"), &Cell::Time(T0));
        assert_eq!(num(t.get(0, "answered")), Some(1.0));
        assert_eq!(num(t.get(0, "handled")), Some(0.0));
        assert_eq!(num(t.get(1, "handled")), Some(1.0));
        assert_eq!(num(t.get(1, "offered")), Some(0.0));
        assert!(close(num(t.get(1, "aht_s")), 100.0));
        assert_eq!(t.get(1, "service_level"), &Cell::Num(None));
    }

    #[test]
    fn events_before_the_window_give_state_but_are_not_counted() {
        let mut log = Log::default();
        log.answered(0.0, "1", "+100", "1001", 10.0, 30.0, 5.0);
        log.answered(4000.0, "2", "+100", "1001", 10.0, 30.0, 5.0);
        // The report starts after call 1: call 2 is a repeat of call 1 within 24 h.
        let spec = spec(T0 + 3_600_000, T0 + 7_200_000, 3_600_000);
        let t = log.report(ReportKind::Queues, &spec);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(num(t.get(0, "offered")), Some(1.0));
        assert_eq!(num(t.get(0, "repeat_calls")), Some(1.0));
        assert!(close(num(t.get(0, "first_contact")), 0.0));
        // quality = (0.4 * 1 + 0.3 * (1 - 0) + 0.3 * 0) / 1.0
        assert!(close(num(t.get(0, "quality")), 0.7));
    }

    #[test]
    fn quality_uses_only_components_with_a_value() {
        let w = QualityWeights {
            service_level: 2.0,
            abandon: 1.0,
            first_contact: 1.0,
        };
        assert!(close(
            quality(&w, Some(0.5), Some(0.5), Some(1.0)),
            (1.0 + 0.5 + 1.0) / 4.0
        ));
        assert!(close(quality(&w, None, None, Some(0.25)), 0.25));
        assert_eq!(quality(&w, None, None, None), None);
    }
}
