//! `switchboard staffing --from-events`: a day's staffing plan from observed traffic.
//!
//! Per queue and time-of-day slot (`--interval` long, counted from `--from`'s time of day):
//! offered calls per hour averaged over the days of the range, the queue's observed handle
//! time (talk + wrap-up, over the whole range), and its patience when callers were seen to
//! give up (censored maximum-likelihood mean). Each slot is sized for the queue's
//! `sl_target` within `sl_threshold` with Erlang A when the patience is known, Erlang C
//! otherwise (`switchboard_acd::erlang::staffing`).

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::DateTime;
use switchboard_acd::{staffing, ServiceLevel, StaffingInput};

use super::trace::Trace;
use crate::config::Config;
use crate::report::{Cell, ReportSpec, Table};

const DAY_MS: i64 = 86_400_000;

/// The plan table.
pub(crate) fn plan(cfg: &Config, spec: &ReportSpec, trace: &Trace) -> Table {
    let range = spec.to_ms - spec.from_ms;
    let fold_days = range > DAY_MS;
    let days = if fold_days {
        ((range + DAY_MS - 1) / DAY_MS).max(1)
    } else {
        1
    };
    let mut offered: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for w in &trace.waits {
        if spec.bucket(w.joined_ms).is_none() {
            continue;
        }
        let mut off = w.joined_ms - spec.from_ms;
        if fold_days {
            off %= DAY_MS;
        }
        *offered
            .entry((w.queue.clone(), off / spec.interval_ms))
            .or_default() += 1;
    }
    let hours = spec.interval_ms as f64 / 3_600_000.0;
    let mut rows = Vec::new();
    for ((queue, slot), n) in offered {
        let qc = cfg.queues.iter().find(|q| q.name == queue);
        let traffic = trace.queues.get(&queue);
        let observed_aht = traffic.and_then(|t| {
            let n = t.talks.len();
            (n > 0).then(|| (t.talks.iter().sum::<f64>() + t.wraps.iter().sum::<f64>()) / n as f64)
        });
        let aht = observed_aht
            .or_else(|| qc.map(|q| (q.expected_handle_time + q.wrap_up) as f64))
            .unwrap_or(180.0)
            .max(1.0);
        let patience = traffic.and_then(|t| t.mean_patience_s());
        let target = ServiceLevel {
            share: qc.map(|q| q.sl_target).unwrap_or(0.8),
            within: Duration::from_secs(qc.map(|q| q.sl_threshold).unwrap_or(20)),
        };
        let calls_per_hour = n as f64 / days as f64 / hours;
        let p = staffing(&StaffingInput {
            calls_per_hour,
            aht: Duration::from_secs_f64(aht),
            target,
            patience: patience.map(Duration::from_secs_f64),
            blocking: cfg.reports.target_blocking,
        });
        let start = spec.from_ms + slot * spec.interval_ms;
        let local = DateTime::from_timestamp_millis(start)
            .map(|t| t.with_timezone(&spec.tz).format("%H:%M").to_string())
            .unwrap_or_default();
        rows.push(vec![
            Cell::Text(queue),
            Cell::Text(local),
            Cell::Int(days as u64),
            Cell::Int(n),
            Cell::Num(Some(calls_per_hour)),
            Cell::Num(Some(aht)),
            Cell::Num(patience),
            Cell::Text(if patience.is_some() { "A" } else { "C" }.into()),
            Cell::Num(Some(p.load)),
            Cell::Int(u64::from(p.agents)),
            Cell::Num(Some(p.service_level)),
            Cell::Num(Some(p.asa.as_secs_f64())),
            Cell::Num(Some(p.abandonment)),
            Cell::Num(Some(p.occupancy)),
        ]);
    }
    Table {
        columns: vec![
            "queue",
            "slot_start",
            "days",
            "offered",
            "calls_per_hour",
            "aht_s",
            "patience_s",
            "erlang",
            "load",
            "agents",
            "service_level",
            "asa_s",
            "abandon_rate",
            "occupancy",
        ],
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::test_events::{num, spec, Log, T0};
    use crate::simulate::trace::TraceFold;

    #[test]
    fn busy_slots_get_agents_and_days_are_averaged() {
        let mut log = Log::default();
        // Two days, 10:00-10:30: 60 calls each day of 170 s talk + 10 s wrap-up; one caller
        // a day gives up after 30 s.
        for day in 0..2 {
            for i in 0..60 {
                let t = day as f64 * 86_400.0 + i as f64 * 25.0;
                log.answered(t, &format!("{day}-{i}"), "+1", "1001", 5.0, 170.0, 10.0);
            }
            log.abandoned(
                day as f64 * 86_400.0 + 1700.0,
                &format!("{day}-x"),
                "+2",
                30.0,
            );
        }
        let spec = spec(T0, T0 + 2 * DAY_MS, 1_800_000);
        let mut fold = TraceFold::default();
        for ev in &log.events {
            fold.apply(&spec, ev);
        }
        let trace = fold.finish(&spec);
        let cfg = Config::load(None).unwrap();
        let t = plan(&cfg, &spec, &trace);
        assert_eq!(t.rows.len(), 1, "one busy slot: {t:?}");
        assert_eq!(t.get(0, "slot_start"), &Cell::Text("10:00".into()));
        assert_eq!(num(t.get(0, "days")), Some(2.0));
        // 61 calls in half an hour = 122 per hour.
        assert_eq!(num(t.get(0, "calls_per_hour")), Some(122.0));
        assert_eq!(num(t.get(0, "aht_s")), Some(180.0));
        assert_eq!(t.get(0, "erlang"), &Cell::Text("A".into()));
        let agents = num(t.get(0, "agents")).unwrap();
        // 6.1 Erlangs: at least 7 agents; Erlang C for 80/20 needs 9.
        assert!((7.0..=10.0).contains(&agents), "{agents}");
    }
}
