//! Historical reports computed from the event store (`switchboard report ...` and
//! `GET /api/v1/reports/{kind}`): queues per interval, agents, IVR automation, trunk
//! occupancy against Erlang B, EWT announcement accuracy per day, and outbound campaigns
//! (outcomes, abandon rate, survey answers). docs/reports.md
//! defines every figure.
//!
//! Each report is a fold: events in store order go in ([`ReportFold::apply`]), a
//! [`Table`] comes out ([`ReportFold::finish`]). The folds are pure (no clock, no I/O:
//! "now" is part of the [`ReportSpec`]) and are unit-tested with hand-made event
//! sequences. [`run`] feeds a fold from the store in pages of [`PAGE_ROWS`] rows, so a
//! long report holds one page plus the per-call state of calls in progress, never the
//! whole range. The queue figures follow the live statistics' rules
//! (`switchboard_acd::statistics`) exactly, so a report over a day and the API's `today`
//! figures agree.
//!
//! This module does not store anything, schedule reports or know HTTP; `http.rs` and
//! the CLI in `cli.rs` are thin shells around [`run`].

mod agents;
mod campaigns;
pub(crate) mod cli;
#[cfg(test)]
mod doc_tests;
mod ewt;
pub(crate) mod http;
mod ivr;
mod queues;
pub(crate) mod render;
pub(crate) mod scope;
#[cfg(test)]
pub(crate) mod test_events;
mod trunks;

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use serde::Deserialize;

use crate::event_store::{EventStore, StoredEvent};

pub(crate) use render::Format;

/// Rows read from the store per query.
pub(crate) const PAGE_ROWS: u32 = 5_000;

/// History read before `from`: calls in progress at `from` (their join, their agent) and
/// the previous day's calls for the repeat-call proxy.
pub(crate) const LOOKBACK_MS: i64 = 24 * 3_600_000;

/// Longest report range (a year), so a typo cannot start a scan of decades.
pub(crate) const MAX_RANGE_MS: i64 = 366 * 24 * 3_600_000;

/// At most this many intervals in one report.
pub(crate) const MAX_INTERVALS: i64 = 20_000;

/// Which report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportKind {
    Queues,
    Agents,
    Ivr,
    Trunks,
    Ewt,
    Campaigns,
}

impl ReportKind {
    pub(crate) fn parse(s: &str) -> anyhow::Result<ReportKind> {
        Ok(match s {
            "queues" => ReportKind::Queues,
            "agents" => ReportKind::Agents,
            "ivr" => ReportKind::Ivr,
            "trunks" => ReportKind::Trunks,
            "ewt" => ReportKind::Ewt,
            "campaigns" => ReportKind::Campaigns,
            _ => bail!("unknown report {s:?}: one of queues, agents, ivr, trunks, ewt, campaigns"),
        })
    }
}

/// `[reports]` in the config.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ReportsConfig {
    /// Trunk channels the trunk report compares the measured traffic with.
    pub(crate) trunks: u32,
    /// Blocking probability the trunk report sizes the trunk group for.
    pub(crate) target_blocking: f64,
    /// A caller who hangs up in the IVR after at least this many seconds counts as served
    /// by it; sooner, as an early abandon.
    pub(crate) ivr_min_s: f64,
    /// Weights of the integrated quality indicator.
    pub(crate) quality_weights: QualityWeights,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            trunks: 30,
            target_blocking: 0.01,
            ivr_min_s: 10.0,
            quality_weights: QualityWeights::default(),
        }
    }
}

impl ReportsConfig {
    /// Refuses values no report can use.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if !(self.target_blocking > 0.0 && self.target_blocking < 1.0) {
            bail!("reports.target_blocking must be a share in (0, 1)");
        }
        if !(self.ivr_min_s >= 0.0 && self.ivr_min_s <= 3_600.0) {
            bail!("reports.ivr_min_s must be seconds in [0, 3600]");
        }
        let w = &self.quality_weights;
        let ws = [w.service_level, w.abandon, w.first_contact];
        if ws.iter().any(|x| !x.is_finite() || *x < 0.0) || ws.iter().sum::<f64>() <= 0.0 {
            bail!("reports.quality_weights: weights are non-negative and not all zero");
        }
        if self.trunks > 100_000 {
            bail!("reports.trunks: at most 100000");
        }
        Ok(())
    }
}

/// `[reports] quality_weights = { service_level = 0.4, abandon = 0.3, first_contact = 0.3 }`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct QualityWeights {
    pub(crate) service_level: f64,
    pub(crate) abandon: f64,
    pub(crate) first_contact: f64,
}

impl Default for QualityWeights {
    fn default() -> Self {
        QualityWeights {
            service_level: 0.4,
            abandon: 0.3,
            first_contact: 0.3,
        }
    }
}

/// A queue's service-level rules (from `[[queues]]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct QueueRules {
    /// Answered within this many seconds is in service level.
    pub(crate) sl_threshold_s: f64,
    /// Abandons after a shorter wait are left out of SL and abandon rate.
    pub(crate) short_abandon_s: f64,
}

impl Default for QueueRules {
    fn default() -> Self {
        QueueRules {
            sl_threshold_s: 20.0,
            short_abandon_s: 0.0,
        }
    }
}

/// Everything a report needs besides the events.
#[derive(Clone, Debug)]
pub(crate) struct ReportSpec {
    /// Start of the first interval (unix ms, inclusive).
    pub(crate) from_ms: i64,
    /// End of the report (unix ms, exclusive).
    pub(crate) to_ms: i64,
    /// Interval length, ms.
    pub(crate) interval_ms: i64,
    /// Now (unix ms): agent states still open are credited up to `min(to, now)`.
    pub(crate) now_ms: i64,
    /// Rules per queue name; a queue not listed gets [`QueueRules::default`].
    pub(crate) queues: BTreeMap<String, QueueRules>,
    /// The time zone whose days the EWT report uses.
    pub(crate) tz: chrono_tz::Tz,
    pub(crate) reports: ReportsConfig,
}

impl ReportSpec {
    /// The interval `ts` falls in, if inside the report.
    pub(crate) fn bucket(&self, ts: i64) -> Option<i64> {
        (ts >= self.from_ms && ts < self.to_ms).then(|| (ts - self.from_ms) / self.interval_ms)
    }

    /// Start of interval `b` (unix ms).
    pub(crate) fn bucket_start(&self, b: i64) -> i64 {
        self.from_ms + b * self.interval_ms
    }

    pub(crate) fn rules(&self, queue: &str) -> QueueRules {
        self.queues.get(queue).copied().unwrap_or_default()
    }

    /// Refuses a range no report can cover.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if self.to_ms <= self.from_ms {
            bail!("--to must be after --from");
        }
        if self.to_ms - self.from_ms > MAX_RANGE_MS {
            bail!("the report range is longer than a year; split it");
        }
        if self.interval_ms < 60_000 {
            bail!("--interval must be at least 1m");
        }
        if (self.to_ms - self.from_ms) / self.interval_ms > MAX_INTERVALS {
            bail!("more than {MAX_INTERVALS} intervals; use a longer --interval");
        }
        self.reports.validate()
    }
}

/// Parses `--interval`: `15m`, `30m`, `1h`, `1d`, or minutes as a bare number.
pub(crate) fn parse_interval(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "m"),
    };
    let n: i64 = num
        .parse()
        .with_context(|| format!("--interval {s:?}: expected e.g. 15m, 30m, 1h, 1d"))?;
    let unit_ms = match unit {
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => bail!("--interval {s:?}: the unit is m, h or d"),
    };
    if n <= 0 || n > 366 {
        bail!("--interval {s:?}: out of range");
    }
    Ok(n * unit_ms)
}

/// One cell of a report.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cell {
    Text(String),
    Int(u64),
    /// A figure with a value only when something is behind it (no answered call: no ASA).
    Num(Option<f64>),
    /// Unix ms, shown as ISO 8601 UTC.
    Time(i64),
}

/// A report: named columns and rows.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    pub(crate) columns: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<Cell>>,
}

impl Table {
    /// The cell of `column` in row `row` (tests, the e2e comparison).
    #[cfg(test)]
    pub(crate) fn get(&self, row: usize, column: &str) -> &Cell {
        let i = self
            .columns
            .iter()
            .position(|c| *c == column)
            .unwrap_or_else(|| panic!("no column {column}"));
        &self.rows[row][i]
    }
}

/// A report being computed.
pub(crate) trait ReportFold {
    /// One event, in store order (events before `from` come first: the look-back).
    fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent);
    /// The table, after the last event.
    fn finish(self: Box<Self>, spec: &ReportSpec) -> Table;
}

/// A fresh fold for `kind`.
pub(crate) fn fold_for(kind: ReportKind) -> Box<dyn ReportFold> {
    match kind {
        ReportKind::Queues => Box::new(queues::QueuesFold::default()),
        ReportKind::Agents => Box::new(agents::AgentsFold::default()),
        ReportKind::Ivr => Box::new(ivr::IvrFold::default()),
        ReportKind::Trunks => Box::new(trunks::TrunksFold::default()),
        ReportKind::Ewt => Box::new(ewt::EwtFold::default()),
        ReportKind::Campaigns => Box::new(campaigns::CampaignsFold::default()),
    }
}

/// Computes a report from the store, reading `[from - LOOKBACK, to)` in pages. `progress`
/// is told the share of the range read so far (0.0..=1.0) after each page. With a tenant
/// `scope` the fold sees only that tenant's events ([`scope::TenantEvents`]) and the table
/// keeps the rows the tenant may see ([`scope::scoped`]).
pub(crate) fn run(
    store: &mut dyn EventStore,
    kind: ReportKind,
    spec: &ReportSpec,
    scope: Option<&crate::tenants::TenantScope>,
    progress: &mut dyn FnMut(f64),
) -> anyhow::Result<Table> {
    spec.validate()?;
    let mut only = match scope {
        Some(s) => {
            scope::check(kind)?;
            Some(scope::TenantEvents::new(s))
        }
        None => None,
    };
    let start = spec.from_ms.saturating_sub(LOOKBACK_MS);
    let mut fold = fold_for(kind);
    let mut after = 0i64;
    loop {
        let page = store
            .read_page(start, spec.to_ms, after, PAGE_ROWS)
            .context("reading the event store")?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let last_ts = last.ts_ms;
        for ev in &page {
            if only.as_mut().is_none_or(|o| o.admits(ev)) {
                fold.apply(spec, ev);
            }
        }
        let span = (spec.to_ms - start).max(1) as f64;
        progress(((last_ts - start) as f64 / span).clamp(0.0, 1.0));
        if page.len() < PAGE_ROWS as usize {
            break;
        }
    }
    progress(1.0);
    let table = fold.finish(spec);
    Ok(match scope {
        Some(s) => scope::scoped(kind, table, s)?,
        None => table,
    })
}

/// `a / b` when `b > 0`.
pub(crate) fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("30m").unwrap(), 1_800_000);
        assert_eq!(parse_interval("15").unwrap(), 900_000);
        assert_eq!(parse_interval("1h").unwrap(), 3_600_000);
        assert_eq!(parse_interval("1d").unwrap(), 86_400_000);
        for bad in ["", "0m", "m", "5s", "-5m", "99999999999999999999m", "400d"] {
            assert!(parse_interval(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_report_reads_the_store_in_pages() {
        let dir = std::env::temp_dir().join(format!("sb-report-pages-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        paged_report(&mut store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The same on PostgreSQL, in a schema of its own, when `SWITCHBOARD_TEST_POSTGRES`
    /// names a database (scripts/test sets it).
    #[test]
    fn a_report_reads_a_postgres_store_in_pages() {
        let Some(schema) = crate::event_store::TestSchema::create("sb_report") else {
            return;
        };
        let mut store = schema.store();
        paged_report(&mut store);
    }

    /// Report speed over a large SQLite log:
    /// `cargo test -p switchboard -- --ignored --nocapture report_rate`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn report_rate() {
        use crate::event_store::Row;
        let dir = std::env::temp_dir().join(format!("sb-report-rate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        // 100,000 calls over 10 days, 10 events each: answered calls every 8.64 s.
        let calls = 100_000usize;
        let mut rows = Vec::new();
        for i in 0..calls {
            let mut log = test_events::Log::default();
            let t = i as f64 * 8.64;
            log.answered(
                t,
                &format!("c{i}"),
                &format!("+{}", i % 5000),
                "1001",
                5.0,
                3.0,
                0.0,
            );
            rows.extend(log.events.iter().map(|e| Row {
                ts_ms: e.ts_ms,
                call: e.call.clone(),
                call_seq: 0,
                queue: e.queue.clone(),
                agent: e.agent.clone(),
                tenant: e.tenant.clone(),
                kind: e.kind.clone(),
                data: e.data.to_string(),
                schema: 1,
            }));
            if rows.len() >= 10_000 {
                store.append_batch(&rows).unwrap();
                rows.clear();
            }
        }
        store.append_batch(&rows).unwrap();
        let day = 86_400_000;
        for (what, from, to) in [
            (
                "last day",
                test_events::T0 + 9 * day,
                test_events::T0 + 10 * day,
            ),
            ("ten days", test_events::T0, test_events::T0 + 10 * day),
        ] {
            let spec = test_events::spec(from, to, 1_800_000);
            let t = std::time::Instant::now();
            let table = run(&mut store, ReportKind::Queues, &spec, None, &mut |_| {}).unwrap();
            let offered: f64 = (0..table.rows.len())
                .filter_map(|r| test_events::num(table.get(r, "offered")))
                .sum();
            println!(
                "queues report, {what}: {offered} calls offered, {} rows, {:.2} s",
                table.rows.len(),
                t.elapsed().as_secs_f64()
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn paged_report(store: &mut dyn EventStore) {
        use crate::event_store::Row;
        // More calls than one page holds events.
        let mut log = test_events::Log::default();
        let calls = PAGE_ROWS as usize / 4 + 10;
        for i in 0..calls {
            log.abandoned(i as f64, &format!("c{i}"), "+1", 30.0);
        }
        assert!(log.events.len() > PAGE_ROWS as usize);
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
        store.append_batch(&rows).unwrap();
        let spec = test_events::spec(test_events::T0, test_events::T0 + 86_400_000, 86_400_000);
        let mut seen = Vec::new();
        let t = run(store, ReportKind::Queues, &spec, None, &mut |s| {
            seen.push(s)
        })
        .unwrap();
        assert_eq!(test_events::num(t.get(0, "offered")), Some(calls as f64));
        assert_eq!(test_events::num(t.get(0, "abandoned")), Some(calls as f64));
        assert!(seen.len() >= 3, "{seen:?}");
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(seen.last(), Some(&1.0));
    }

    #[test]
    fn the_reports_section_parses_and_is_checked() {
        let dir = std::env::temp_dir().join(format!("sb-report-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "[reports]\ntrunks = 12\nquality_weights = { service_level = 1.0, abandon = 0.0, first_contact = 0.0 }\n",
        )
        .unwrap();
        let cfg = crate::config::Config::load(Some(&path)).unwrap();
        assert_eq!(cfg.reports.trunks, 12);
        assert_eq!(cfg.reports.quality_weights.abandon, 0.0);
        assert_eq!(cfg.reports.target_blocking, 0.01);
        std::fs::write(&path, "[reports]\ntarget_blocking = 2.0\n").unwrap();
        assert!(crate::config::Config::load(Some(&path)).is_err());
        std::fs::write(&path, "[reports]\ntrunk = 2\n").unwrap();
        assert!(crate::config::Config::load(Some(&path)).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kinds_parse_and_bad_specs_are_refused() {
        assert_eq!(ReportKind::parse("ewt").unwrap(), ReportKind::Ewt);
        assert!(ReportKind::parse("calls").is_err());
        let mut spec = test_events::spec(0, 3_600_000, 1_800_000);
        assert!(spec.validate().is_ok());
        spec.to_ms = 0;
        assert!(spec.validate().is_err());
        let mut spec = test_events::spec(0, 3_600_000, 1_800_000);
        spec.reports.quality_weights.first_contact = -1.0;
        assert!(spec.validate().is_err());
    }
}
