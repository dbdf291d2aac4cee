//! The IVR report: the automation coefficient, the share of calls fully served by the
//! dialplan, per dialplan entry (the dialled number that chose it) and per menu branch (the
//! keys the caller pressed before leaving the IVR), per interval.
//!
//! A call counts in the interval of its `call.end` if we answered it (`call.answer`) and it
//! is an inbound call (not a callback, not an agent's internal call). It is:
//! - `routed` if it reached a queue, an agent or a transfer (`queue.join`, `ivr.transfer`,
//!   `call.bridge`, `call.transfer`);
//! - otherwise `automated` if the dialplan hung up (`ivr_hangup`) or the caller hung up at
//!   least `[reports] ivr_min_s` after the answer;
//! - otherwise `early_abandoned` if the caller hung up sooner;
//! - otherwise `other` (media timeout, errors, shutdown).
//!
//! `automation = automated / calls`.

use std::collections::{BTreeMap, HashMap};

use switchboard_events::{EndReason, Event};

use super::{ratio, Cell, ReportFold, ReportSpec, Table};
use crate::event_store::StoredEvent;

/// At most this many keys name a branch.
const MAX_BRANCH_KEYS: usize = 8;

/// The branch of a call that pressed no key.
const NO_KEYS: &str = "-";

/// The row that totals a dialplan entry's branches.
const ALL_BRANCHES: &str = "*";

#[derive(Clone, Debug, Default)]
struct IvrCall {
    dnis: String,
    inbound: bool,
    answer_ms: Option<i64>,
    routed: bool,
    keys: String,
}

#[derive(Clone, Copy, Debug, Default)]
struct IvrTally {
    calls: u64,
    automated: u64,
    routed: u64,
    early_abandoned: u64,
    other: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Automated,
    Routed,
    EarlyAbandoned,
    Other,
}

#[derive(Default)]
pub(crate) struct IvrFold {
    calls: HashMap<String, IvrCall>,
    tallies: BTreeMap<(i64, String, String), IvrTally>,
}

impl IvrFold {
    fn end(&mut self, spec: &ReportSpec, ev: &StoredEvent, reason: EndReason) {
        let Some(c) = self.calls.remove(&ev.call) else {
            return;
        };
        let Some(answer) = c.answer_ms.filter(|_| c.inbound) else {
            return;
        };
        let Some(b) = spec.bucket(ev.ts_ms) else {
            return;
        };
        let in_ivr_s = (ev.ts_ms - answer).max(0) as f64 / 1000.0;
        let fate = if c.routed {
            Fate::Routed
        } else {
            match reason {
                EndReason::IvrHangup => Fate::Automated,
                EndReason::CallerHangup if in_ivr_s >= spec.reports.ivr_min_s => Fate::Automated,
                EndReason::CallerHangup => Fate::EarlyAbandoned,
                _ => Fate::Other,
            }
        };
        let branch = if c.keys.is_empty() {
            NO_KEYS.to_string()
        } else {
            c.keys.clone()
        };
        for br in [branch, ALL_BRANCHES.to_string()] {
            let t = self.tallies.entry((b, c.dnis.clone(), br)).or_default();
            t.calls += 1;
            match fate {
                Fate::Automated => t.automated += 1,
                Fate::Routed => t.routed += 1,
                Fate::EarlyAbandoned => t.early_abandoned += 1,
                Fate::Other => t.other += 1,
            }
        }
    }
}

impl ReportFold for IvrFold {
    fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        if ev.call.is_empty() {
            return;
        }
        match &ev.event {
            Some(Event::CallStart(s)) => {
                self.calls.insert(
                    ev.call.clone(),
                    IvrCall {
                        dnis: s.dnis.clone(),
                        inbound: !s.dnis.is_empty() && s.callback_for.is_none(),
                        ..IvrCall::default()
                    },
                );
            }
            Some(Event::CallEnd(e)) => self.end(spec, ev, e.end_reason),
            Some(ev_kind) => {
                let Some(c) = self.calls.get_mut(&ev.call) else {
                    return;
                };
                match ev_kind {
                    Event::CallInternal { .. } => c.inbound = false,
                    Event::CallAnswer { .. } => {
                        c.answer_ms.get_or_insert(ev.ts_ms);
                    }
                    Event::QueueJoin { .. }
                    | Event::IvrTransfer { .. }
                    | Event::CallBridge { .. }
                    | Event::CallTransfer { .. } => c.routed = true,
                    Event::Dtmf { digit, .. } if !c.routed => {
                        for ch in digit.chars() {
                            if c.keys.len() < MAX_BRANCH_KEYS {
                                c.keys.push(ch);
                            }
                        }
                    }
                    _ => {}
                }
            }
            None => {}
        }
    }

    fn finish(self: Box<Self>, spec: &ReportSpec) -> Table {
        let rows = self
            .tallies
            .iter()
            .map(|((b, dnis, branch), t)| {
                vec![
                    Cell::Time(spec.bucket_start(*b)),
                    Cell::Text(dnis.clone()),
                    Cell::Text(branch.clone()),
                    Cell::Int(t.calls),
                    Cell::Int(t.automated),
                    Cell::Int(t.routed),
                    Cell::Int(t.early_abandoned),
                    Cell::Int(t.other),
                    Cell::Num(ratio(t.automated as f64, t.calls as f64)),
                ]
            })
            .collect();
        Table {
            columns: vec![
                "interval_start",
                "dialplan_entry",
                "branch",
                "calls",
                "automated",
                "routed",
                "early_abandoned",
                "other",
                "automation",
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

    fn ivr_call(log: &mut Log, t: f64, call: &str, keys: &str, end_after: f64, reason: &str) {
        log.start(at(t), call, "+100", "300");
        log.push(at(t), call, "", "", "call.answer", json!({"codec": "PCMU"}));
        for k in keys.chars() {
            log.push(
                at(t + 1.0),
                call,
                "",
                "",
                "dtmf",
                json!({"digit": k.to_string(), "via": "rfc4733"}),
            );
        }
        log.end(at(t + end_after), call, reason, "ivr");
    }

    #[test]
    fn automation_per_entry_and_branch() {
        let mut log = Log::default();
        ivr_call(&mut log, 0.0, "1", "3", 30.0, "caller_hangup"); // served (balance)
        ivr_call(&mut log, 10.0, "2", "3", 20.0, "ivr_hangup"); // served
        ivr_call(&mut log, 20.0, "3", "", 3.0, "caller_hangup"); // early abandon
        ivr_call(&mut log, 30.0, "4", "1", 40.0, "media_timeout"); // other
        log.answered(40.0, "5", "+200", "1001", 5.0, 10.0, 0.0); // routed (dnis 100)
                                                                 // A callback (no DNIS) is not an IVR call.
        log.start(at(50.0), "6", "+300", "");
        log.push(
            at(50.0),
            "6",
            "",
            "",
            "call.answer",
            json!({"codec": "PCMU"}),
        );
        log.end(at(60.0), "6", "customer_hangup", "callback");
        let spec = spec(T0, T0 + 3_600_000, 3_600_000);
        let t = log.report(ReportKind::Ivr, &spec);
        let row = |entry: &str, branch: &str| {
            (0..t.rows.len())
                .find(|&i| {
                    t.get(i, "dialplan_entry") == &Cell::Text(entry.into())
                        && t.get(i, "branch") == &Cell::Text(branch.into())
                })
                .unwrap_or_else(|| panic!("no row {entry} {branch}"))
        };
        let all = row("300", "*");
        assert_eq!(num(t.get(all, "calls")), Some(4.0));
        assert_eq!(num(t.get(all, "automated")), Some(2.0));
        assert_eq!(num(t.get(all, "early_abandoned")), Some(1.0));
        assert_eq!(num(t.get(all, "other")), Some(1.0));
        assert!(close(num(t.get(all, "automation")), 0.5));
        let three = row("300", "3");
        assert!(close(num(t.get(three, "automation")), 1.0));
        let none = row("300", "-");
        assert_eq!(num(t.get(none, "early_abandoned")), Some(1.0));
        let routed = row("100", "*");
        assert_eq!(num(t.get(routed, "routed")), Some(1.0));
        assert!(close(num(t.get(routed, "automation")), 0.0));
        assert_eq!(t.rows.len(), 6);
    }
}
