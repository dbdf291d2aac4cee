//! The IVR report: the automation coefficient, the share of calls fully served by the
//! dialplan, per dialplan (the `.ivr` file the call's entry chose, from `ivr.start`) and
//! per menu branch, named as the dialplan names it: the menu's prompt as written and the
//! key taken (or `default`), from `ivr.menu`. A call counts once in every branch it took,
//! once in the row of calls that took no branch (`-`), and once in the dialplan's total
//! (`*`), per interval.
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
//! `automation = automated / calls`. Logs written before `ivr.start` existed name the
//! dialplan by the dialled number (`to <dnis>`) and the branch by the keys pressed (menu
//! `keys`).

use std::collections::{BTreeMap, HashMap};

use switchboard_events::{EndReason, Event};

use super::{ratio, Cell, ReportFold, ReportSpec, Table};
use crate::event_store::StoredEvent;

/// At most this many keys name a branch in an old log, and this many branches are kept
/// per call.
const MAX_BRANCH_KEYS: usize = 8;

/// The row of calls that took no branch.
const NO_BRANCH: &str = "-";

/// The row that totals a dialplan.
const ALL_BRANCHES: &str = "*";

/// The menu column for a branch named by raw keys (a log without `ivr.menu`).
const KEYS_MENU: &str = "keys";

#[derive(Clone, Debug, Default)]
struct IvrCall {
    dnis: String,
    dialplan: Option<String>,
    inbound: bool,
    answer_ms: Option<i64>,
    routed: bool,
    keys: String,
    /// (menu, choice) taken, in order, without repeats.
    branches: Vec<(String, String)>,
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

/// A row's key: interval, dialplan, menu, choice.
type RowKey = (i64, String, String, String);

#[derive(Default)]
pub(crate) struct IvrFold {
    calls: HashMap<String, IvrCall>,
    tallies: BTreeMap<RowKey, IvrTally>,
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
        let dialplan = c
            .dialplan
            .clone()
            .unwrap_or_else(|| format!("to {}", c.dnis));
        let mut rows = c.branches.clone();
        if c.dialplan.is_none() && rows.is_empty() && !c.keys.is_empty() {
            rows.push((KEYS_MENU.to_string(), c.keys.clone()));
        }
        if rows.is_empty() {
            rows.push((NO_BRANCH.to_string(), NO_BRANCH.to_string()));
        }
        rows.push((ALL_BRANCHES.to_string(), ALL_BRANCHES.to_string()));
        for (menu, choice) in rows {
            let t = self
                .tallies
                .entry((b, dialplan.clone(), menu, choice))
                .or_default();
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
                    Event::IvrStart { dialplan, .. } => {
                        c.dialplan.get_or_insert_with(|| dialplan.clone());
                    }
                    Event::IvrMenu { menu, choice, .. } if !c.routed => {
                        let branch = (menu.clone(), choice.clone());
                        if c.branches.len() < MAX_BRANCH_KEYS && !c.branches.contains(&branch) {
                            c.branches.push(branch);
                        }
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
            .map(|((b, dialplan, menu, choice), t)| {
                vec![
                    Cell::Time(spec.bucket_start(*b)),
                    Cell::Text(dialplan.clone()),
                    Cell::Text(menu.clone()),
                    Cell::Text(choice.clone()),
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
                "dialplan",
                "menu",
                "choice",
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

    /// An answered call to 300 that runs dialplan `bank` (or an old log without
    /// `ivr.start`/`ivr.menu` when `dialplan` is None) and takes `branches`.
    fn ivr_call(
        log: &mut Log,
        t: f64,
        call: &str,
        dialplan: Option<&str>,
        branches: &[(&str, &str)],
        end_after: f64,
        reason: &str,
    ) {
        log.start(at(t), call, "+100", "300");
        log.push(at(t), call, "", "", "call.answer", json!({"codec": "PCMU"}));
        if let Some(d) = dialplan {
            log.push(
                at(t),
                call,
                "",
                "",
                "ivr.start",
                json!({"dialplan": d, "block": "main"}),
            );
        }
        for (menu, choice) in branches {
            log.push(
                at(t + 1.0),
                call,
                "",
                "",
                "dtmf",
                json!({"digit": choice.chars().next().unwrap().to_string(), "via": "rfc4733"}),
            );
            if let Some(d) = dialplan {
                log.push(
                    at(t + 1.0),
                    call,
                    "",
                    "",
                    "ivr.menu",
                    json!({"dialplan": d, "menu": menu, "choice": choice}),
                );
            }
        }
        log.end(at(t + end_after), call, reason, "ivr");
    }

    fn row(t: &Table, dialplan: &str, menu: &str, choice: &str) -> usize {
        (0..t.rows.len())
            .find(|&i| {
                t.get(i, "dialplan") == &Cell::Text(dialplan.into())
                    && t.get(i, "menu") == &Cell::Text(menu.into())
                    && t.get(i, "choice") == &Cell::Text(choice.into())
            })
            .unwrap_or_else(|| panic!("no row {dialplan} {menu} {choice}"))
    }

    #[test]
    fn automation_per_dialplan_and_named_menu_branch() {
        let main = "bank-main-menu";
        let bal = "bank-balance-menu";
        let mut log = Log::default();
        // Balance heard, caller hung up after 30 s: served, in main:1 and balance:2.
        ivr_call(
            &mut log,
            0.0,
            "1",
            Some("bank"),
            &[(main, "1"), (bal, "2")],
            30.0,
            "caller_hangup",
        );
        // The dialplan hung up after main:1: served.
        ivr_call(
            &mut log,
            10.0,
            "2",
            Some("bank"),
            &[(main, "1")],
            20.0,
            "ivr_hangup",
        );
        // Gone after 3 s without a choice: early abandon.
        ivr_call(&mut log, 20.0, "3", Some("bank"), &[], 3.0, "caller_hangup");
        // main:default then media timeout: other.
        ivr_call(
            &mut log,
            30.0,
            "4",
            Some("bank"),
            &[(main, "default")],
            40.0,
            "media_timeout",
        );
        // Routed to a queue (dnis 100, no dialplan events): not automated.
        log.answered(40.0, "5", "+200", "1001", 5.0, 10.0, 0.0);
        // An old log (no ivr.start/ivr.menu): named by its number and keys.
        ivr_call(
            &mut log,
            45.0,
            "7",
            None,
            &[("", "3")],
            30.0,
            "caller_hangup",
        );
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
        assert_eq!(
            t.columns[1..4],
            ["dialplan", "menu", "choice"],
            "dialplan and branch columns"
        );
        let all = row(&t, "bank", "*", "*");
        assert_eq!(num(t.get(all, "calls")), Some(4.0));
        assert_eq!(num(t.get(all, "automated")), Some(2.0));
        assert_eq!(num(t.get(all, "early_abandoned")), Some(1.0));
        assert_eq!(num(t.get(all, "other")), Some(1.0));
        assert!(close(num(t.get(all, "automation")), 0.5));
        let one = row(&t, "bank", main, "1");
        assert_eq!(num(t.get(one, "calls")), Some(2.0));
        assert!(close(num(t.get(one, "automation")), 1.0));
        let balance = row(&t, "bank", bal, "2");
        assert_eq!(num(t.get(balance, "calls")), Some(1.0));
        let default = row(&t, "bank", main, "default");
        assert_eq!(num(t.get(default, "other")), Some(1.0));
        let none = row(&t, "bank", "-", "-");
        assert_eq!(num(t.get(none, "early_abandoned")), Some(1.0));
        let routed = row(&t, "to 100", "*", "*");
        assert_eq!(num(t.get(routed, "routed")), Some(1.0));
        assert!(close(num(t.get(routed, "automation")), 0.0));
        let old = row(&t, "to 300", "keys", "3");
        assert_eq!(num(t.get(old, "automated")), Some(1.0));
        // bank: *, main:1, balance:2, main:default, -; to 100: -, *; to 300: keys 3, *.
        assert_eq!(t.rows.len(), 9);
    }
}
