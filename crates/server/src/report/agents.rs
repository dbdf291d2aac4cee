//! The agent report: per agent and interval, calls taken, time talking (and of it, on
//! hold), in wrap-up, idle (available, ringing or reserved) and paused (by reason),
//! occupancy, ring-no-answers, disposition codes, and the agent's own outbound calls
//! (answered ones, counted when they end, with their talk time; their busy time is also in
//! `talk_s`, but not in `calls`).
//!
//! Time comes from `agent.state` rows: each state lasts from its row to the agent's next
//! one and is credited to the intervals it overlaps (split at their boundaries), up to
//! `min(to, now)`. Occupancy is the live statistics' `busy / (busy + idle)`, busy being talk
//! plus wrap-up; paused and logged-out time is in neither.
//!
//! Hold comes from `call.hold`/`call.resume` rows naming the agent (either party holding
//! the agent's bridged call; overlapping holds count once), until the resume or the
//! call's end. It is part of talk time (the agent is busy on the call), shown apart.

use std::collections::{BTreeMap, HashMap};

use switchboard_events::{AgentStateName, BusyKind, Disposition, Event, Party};

use super::{ratio, Cell, ReportFold, ReportSpec, Table};
use crate::event_store::StoredEvent;

/// What an agent's time counts as.
#[derive(Clone, Debug, PartialEq)]
enum Class {
    Talk,
    /// On hold (within talk; credited apart, from the hold events).
    Hold,
    Wrap,
    Idle,
    Paused(String),
    Off,
}

fn class_of(state: AgentStateName, reason: Option<&String>) -> Class {
    match state {
        AgentStateName::Busy => Class::Talk,
        AgentStateName::WrapUp => Class::Wrap,
        AgentStateName::Available | AgentStateName::Ringing | AgentStateName::Reserved => {
            Class::Idle
        }
        AgentStateName::Paused => Class::Paused(reason.cloned().unwrap_or_default()),
        AgentStateName::LoggedOut | AgentStateName::Unreachable => Class::Off,
    }
}

#[derive(Clone, Debug, Default)]
struct AgentTally {
    calls: u64,
    talk_ms: i64,
    hold_ms: i64,
    wrap_ms: i64,
    idle_ms: i64,
    paused_ms: BTreeMap<String, i64>,
    ronas: u64,
    dispositions: BTreeMap<String, u64>,
    outbound_calls: u64,
    outbound_talk_ms: i64,
}

#[derive(Default)]
pub(crate) struct AgentsFold {
    tallies: BTreeMap<(i64, String), AgentTally>,
    /// Each agent's current class and since when.
    current: HashMap<String, (Class, i64)>,
    /// The last disposition code per call: interval, agent, code.
    dispositions: HashMap<String, (i64, String, String)>,
    /// Calls on hold now: agent, parties holding (bit 0 caller, bit 1 agent), since when.
    holds: HashMap<String, (String, u8, i64)>,
}

impl AgentsFold {
    fn tally(&mut self, spec: &ReportSpec, ts: i64, agent: &str) -> Option<&mut AgentTally> {
        let b = spec.bucket(ts)?;
        Some(self.tallies.entry((b, agent.to_string())).or_default())
    }

    /// A party holds or resumes the agent's call.
    fn hold(&mut self, spec: &ReportSpec, ev: &StoredEvent, party: Party, on: bool) {
        let bit = match party {
            Party::Caller => 1,
            Party::Agent => 2,
        };
        let (agent, was, mut since) = self
            .holds
            .remove(&ev.call)
            .unwrap_or_else(|| (ev.agent.clone(), 0, ev.ts_ms));
        let holding = if on { was | bit } else { was & !bit };
        if was == 0 && holding != 0 {
            since = ev.ts_ms;
        }
        if holding != 0 {
            self.holds.insert(ev.call.clone(), (agent, holding, since));
        } else if was != 0 {
            self.credit(spec, &agent, &Class::Hold, since, ev.ts_ms);
        }
    }

    /// Credits `class` over `[from, until)`, clipped to the report and split by interval.
    fn credit(&mut self, spec: &ReportSpec, agent: &str, class: &Class, from: i64, until: i64) {
        if *class == Class::Off {
            return;
        }
        let end = until.min(spec.to_ms).min(spec.now_ms);
        let mut t = from.max(spec.from_ms);
        while t < end {
            let Some(b) = spec.bucket(t) else { return };
            let seg_end = spec.bucket_start(b + 1).min(end);
            let d = seg_end - t;
            let tally = self.tallies.entry((b, agent.to_string())).or_default();
            match class {
                Class::Talk => tally.talk_ms += d,
                Class::Hold => tally.hold_ms += d,
                Class::Wrap => tally.wrap_ms += d,
                Class::Idle => tally.idle_ms += d,
                Class::Paused(r) => *tally.paused_ms.entry(r.clone()).or_default() += d,
                Class::Off => {}
            }
            t = seg_end;
        }
    }
}

fn secs(ms: i64) -> Cell {
    Cell::Num(Some(ms as f64 / 1000.0))
}

fn pairs<V: std::fmt::Display>(m: &BTreeMap<String, V>) -> String {
    m.iter()
        .map(|(k, v)| format!("{}={v}", if k.is_empty() { "-" } else { k }))
        .collect::<Vec<_>>()
        .join(" ")
}

impl ReportFold for AgentsFold {
    fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        if let Some(Event::CallEnd(_)) = &ev.event {
            // A hold still on at the end counts to the end.
            if let Some((agent, _, since)) = self.holds.remove(&ev.call) {
                self.credit(spec, &agent, &Class::Hold, since, ev.ts_ms);
            }
        }
        if ev.agent.is_empty() {
            return;
        }
        match &ev.event {
            Some(Event::AgentState {
                state,
                pause_reason,
                busy_kind,
                ..
            }) => {
                let class = class_of(*state, pause_reason.as_ref());
                let prev = self
                    .current
                    .insert(ev.agent.clone(), (class.clone(), ev.ts_ms));
                if let Some((c, since)) = &prev {
                    self.credit(spec, &ev.agent, c, *since, ev.ts_ms);
                }
                let was_talking = matches!(prev, Some((Class::Talk, _)));
                let own_call = *busy_kind == Some(BusyKind::Outbound);
                if class == Class::Talk && !was_talking && !own_call {
                    if let Some(t) = self.tally(spec, ev.ts_ms, &ev.agent) {
                        t.calls += 1;
                    }
                }
            }
            Some(Event::CallEnd(end)) if end.disposition == Disposition::Outbound => {
                let talk_ms = end
                    .talk_s
                    .filter(|t| t.is_finite() && *t >= 0.0)
                    .map_or(0, |t| (t * 1000.0).round() as i64);
                if let Some(t) = self.tally(spec, ev.ts_ms, &ev.agent) {
                    t.outbound_calls += 1;
                    t.outbound_talk_ms += talk_ms;
                }
            }
            Some(Event::CallHold { party }) => self.hold(spec, ev, *party, true),
            Some(Event::CallResume { party, .. }) => self.hold(spec, ev, *party, false),
            Some(Event::QueueRona {}) => {
                if let Some(t) = self.tally(spec, ev.ts_ms, &ev.agent) {
                    t.ronas += 1;
                }
            }
            Some(Event::CallDisposition { code, .. }) => {
                // The last code set on a call counts, in the interval it was set.
                if let Some(b) = spec.bucket(ev.ts_ms) {
                    self.dispositions
                        .insert(ev.call.clone(), (b, ev.agent.clone(), code.clone()));
                }
            }
            _ => {}
        }
    }

    fn finish(mut self: Box<Self>, spec: &ReportSpec) -> Table {
        let open: Vec<(String, Class, i64)> = self
            .current
            .drain()
            .map(|(a, (c, since))| (a, c, since))
            .collect();
        for (agent, class, since) in open {
            self.credit(spec, &agent, &class, since, i64::MAX);
        }
        let held: Vec<(String, i64)> = self.holds.drain().map(|(_, (a, _, s))| (a, s)).collect();
        for (agent, since) in held {
            self.credit(spec, &agent, &Class::Hold, since, i64::MAX);
        }
        let codes: Vec<(i64, String, String)> = self.dispositions.drain().map(|(_, v)| v).collect();
        for (b, agent, code) in codes {
            let t = self.tallies.entry((b, agent)).or_default();
            *t.dispositions.entry(code).or_default() += 1;
        }
        let rows = self
            .tallies
            .iter()
            .map(|((b, agent), t)| {
                let busy = (t.talk_ms + t.wrap_ms) as f64;
                vec![
                    Cell::Time(spec.bucket_start(*b)),
                    Cell::Text(agent.clone()),
                    Cell::Int(t.calls),
                    secs(t.talk_ms),
                    secs(t.hold_ms),
                    secs(t.wrap_ms),
                    secs(t.idle_ms),
                    secs(t.paused_ms.values().sum()),
                    Cell::Text(pairs(
                        &t.paused_ms
                            .iter()
                            .map(|(k, v)| (k.clone(), format!("{:.3}", *v as f64 / 1000.0)))
                            .collect(),
                    )),
                    Cell::Num(ratio(busy, busy + t.idle_ms as f64)),
                    Cell::Int(t.ronas),
                    Cell::Text(pairs(&t.dispositions)),
                    Cell::Int(t.outbound_calls),
                    secs(t.outbound_talk_ms),
                ]
            })
            .collect();
        Table {
            columns: vec![
                "interval_start",
                "agent",
                "calls",
                "talk_s",
                "hold_s",
                "wrap_up_s",
                "idle_s",
                "paused_s",
                "paused_by_reason",
                "occupancy",
                "ronas",
                "dispositions",
                "outbound_calls",
                "outbound_talk_s",
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

    #[test]
    fn agent_time_is_split_by_state_and_interval() {
        let mut log = Log::default();
        log.agent_state(at(0.0), "1001", "available", json!({}));
        // Answered at 11 s, talk 30, wrap 5: busy 11..41, wrap 41..46.
        log.answered(0.0, "1", "+100", "1001", 10.0, 30.0, 5.0);
        log.agent_state(
            at(100.0),
            "1001",
            "paused",
            json!({"pause_reason": "lunch"}),
        );
        log.agent_state(at(1900.0), "1001", "available", json!({}));
        log.push(at(1950.0), "9", "sales", "1001", "queue.rona", json!({}));
        for (t, code) in [(1955.0, "no_sale"), (1960.0, "sale")] {
            log.push(
                at(t),
                "1",
                "sales",
                "1001",
                "call.disposition",
                json!({"code": code, "by": "agent-1001"}),
            );
        }
        let mut spec = spec(T0, T0 + 3_600_000, 1_800_000);
        spec.now_ms = at(2000.0);
        let t = log.report(ReportKind::Agents, &spec);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(num(t.get(0, "calls")), Some(1.0));
        assert!(close(num(t.get(0, "talk_s")), 30.0));
        assert!(close(num(t.get(0, "wrap_up_s")), 5.0));
        // idle: 0..10.5 available, 10.5..11 ringing, 46..100 available.
        assert!(close(num(t.get(0, "idle_s")), 11.0 + 54.0));
        assert!(close(num(t.get(0, "paused_s")), 1700.0));
        assert!(close(num(t.get(1, "paused_s")), 100.0));
        assert_eq!(
            t.get(1, "paused_by_reason"),
            &Cell::Text("lunch=100.000".into())
        );
        // Interval 1: available 1900..2000 (now), nothing after.
        assert!(close(num(t.get(1, "idle_s")), 100.0));
        assert!(close(num(t.get(0, "occupancy")), 35.0 / 100.0));
        assert_eq!(num(t.get(1, "ronas")), Some(1.0));
        assert_eq!(t.get(1, "dispositions"), &Cell::Text("sale=1".into()));
    }

    #[test]
    fn own_outbound_calls_are_counted_apart_from_queue_calls() {
        let mut log = Log::default();
        log.agent_state(at(0.0), "1001", "available", json!({}));
        log.agent_state(at(10.0), "1001", "busy", json!({"busy_kind": "outbound"}));
        log.push(
            at(40.0),
            "7",
            "",
            "1001",
            "call.end",
            json!({"end_reason": "agent_hangup", "disposition": "outbound", "talk_s": 25.0}),
        );
        log.agent_state(at(40.0), "1001", "available", json!({}));
        // A refused attempt ends as `refused`: not an outbound call.
        log.push(
            at(50.0),
            "8",
            "",
            "1001",
            "call.end",
            json!({"end_reason": "refused", "disposition": "refused"}),
        );
        let mut spec = spec(T0, T0 + 3_600_000, 3_600_000);
        spec.now_ms = at(100.0);
        let t = log.report(ReportKind::Agents, &spec);
        assert_eq!(t.rows.len(), 1);
        assert_eq!(num(t.get(0, "calls")), Some(0.0));
        assert_eq!(num(t.get(0, "outbound_calls")), Some(1.0));
        assert!(close(num(t.get(0, "outbound_talk_s")), 25.0));
        // The agent's busy time on it is talk time all the same.
        assert!(close(num(t.get(0, "talk_s")), 30.0));
    }

    #[test]
    fn hold_is_part_of_talk_and_counts_once_until_resume_or_end() {
        let mut log = Log::default();
        log.agent_state(at(0.0), "1001", "available", json!({}));
        // Bridged 11..41.
        log.answered(0.0, "1", "+100", "1001", 10.0, 30.0, 5.0);
        let hold = |log: &mut Log, t: f64, kind: &str, party: &str| {
            log.push(
                at(t),
                "1",
                "sales",
                "1001",
                kind,
                json!({"party": party, "held_s": 1.0}),
            );
        };
        // Agent 15..20, caller 18..25 (overlap counts once: 15..25), agent again 35 to
        // the end (41).
        hold(&mut log, 15.0, "call.hold", "agent");
        hold(&mut log, 18.0, "call.hold", "caller");
        hold(&mut log, 20.0, "call.resume", "agent");
        hold(&mut log, 25.0, "call.resume", "caller");
        hold(&mut log, 35.0, "call.hold", "agent");
        log.events.sort_by_key(|e| e.ts_ms);
        let mut spec = spec(T0, T0 + 3_600_000, 3_600_000);
        spec.now_ms = at(100.0);
        let t = log.report(ReportKind::Agents, &spec);
        assert_eq!(t.rows.len(), 1);
        assert!(close(num(t.get(0, "talk_s")), 30.0), "talk includes hold");
        assert!(
            close(num(t.get(0, "hold_s")), 16.0),
            "{:?}",
            t.get(0, "hold_s")
        );
    }
}
