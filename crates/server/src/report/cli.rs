//! `switchboard report queues|agents|ivr|trunks|ewt|campaigns --from .. --to .. [--interval 30m]
//! [--format table|csv|json] [--config FILE] [--event-store URL] [--data-dir DIR]
//! [--tenant NAME]`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::{parse_interval, render, Format, QueueRules, ReportKind, ReportSpec};
use crate::config::Config;
use crate::event_store::StoreLocation;

/// Flags of `switchboard report`.
#[derive(clap::Args, Debug)]
pub(crate) struct ReportArgs {
    /// queues, agents, ivr, trunks, ewt or campaigns.
    pub(crate) kind: String,
    /// Start (inclusive): 2026-11-23, 2026-11-23T10:00:00Z, or unix seconds.
    #[arg(long)]
    pub(crate) from: String,
    /// End (exclusive), same forms.
    #[arg(long)]
    pub(crate) to: String,
    /// Interval length: 15m, 30m, 1h, 1d (the EWT report is always per day).
    #[arg(long, default_value = "30m")]
    pub(crate) interval: String,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    pub(crate) format: String,
    /// The config whose queues (SL threshold, short abandon), [acd] timezone, [reports]
    /// and [data] the report uses (default: the embedded one).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// The event store ("sqlite" or postgres://user@host:port/db); replaces data.event_store.
    #[arg(long = "event-store")]
    pub(crate) event_store: Option<String>,
    /// Data directory holding events.sqlite; replaces data.dir.
    #[arg(long = "data-dir")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Only this `[[tenants]]` client's queues (queues, ewt, campaigns) or agents (agents).
    #[arg(long)]
    pub(crate) tenant: Option<String>,
}

/// A report spec from the config: the queues' rules, the time zone and `[reports]`.
pub(crate) fn spec_from_config(
    cfg: &Config,
    from_ms: i64,
    to_ms: i64,
    interval_ms: i64,
    now_ms: i64,
) -> ReportSpec {
    ReportSpec {
        from_ms,
        to_ms,
        interval_ms,
        now_ms,
        queues: cfg
            .queues
            .iter()
            .map(|q| {
                (
                    q.name.clone(),
                    QueueRules {
                        sl_threshold_s: q.sl_threshold as f64,
                        short_abandon_s: q.short_abandon as f64,
                    },
                )
            })
            .collect(),
        tz: cfg.acd.tz(),
        reports: cfg.reports.clone(),
    }
}

/// A progress bar, drawn on stderr only when stderr is a terminal (never into a pipe or a
/// file that collects the report's errors).
pub(crate) struct Progress<W: Write> {
    out: Option<W>,
    shown: i32,
}

impl<W: Write> Progress<W> {
    pub(crate) fn new(out: Option<W>) -> Progress<W> {
        Progress { out, shown: -1 }
    }

    pub(crate) fn update(&mut self, share: f64) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let pct = (share.clamp(0.0, 1.0) * 100.0).round() as i32;
        if pct == self.shown {
            return;
        }
        self.shown = pct;
        let filled = (pct / 4).clamp(0, 25) as usize;
        let _ = write!(
            out,
            "\r[{}{}] {pct:3}%",
            "#".repeat(filled),
            ".".repeat(25 - filled)
        );
        if pct >= 100 {
            // Clear the bar so the terminal shows only the report.
            let _ = write!(out, "\r{}\r", " ".repeat(40));
        }
        let _ = out.flush();
    }
}

pub(crate) fn main(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let kind = ReportKind::parse(&args.kind)?;
    let format = Format::parse(&args.format)?;
    let cfg = Config::load(args.config.as_deref())?;
    let from = crate::export::parse_time_arg(&args.from).context("--from")?;
    let to = crate::export::parse_time_arg(&args.to).context("--to")?;
    let interval = parse_interval(&args.interval)?;
    let spec = spec_from_config(&cfg, from, to, interval, crate::event_store::now_ms());
    spec.validate()?;
    let scopes = cfg.tenant_scopes();
    let scope = match args.tenant.as_deref() {
        None => None,
        Some(t) => {
            let s = scopes.get(t).with_context(|| {
                format!("--tenant '{t}': no such [[tenants]] name in the config")
            })?;
            super::scope::check(kind)?;
            Some(s.clone())
        }
    };
    let data_dir: &Path = args.data_dir.as_deref().unwrap_or(&cfg.data.dir);
    let at = StoreLocation::parse(args.event_store.as_deref().unwrap_or(&cfg.data.event_store))?;
    let mut store = at.open_existing(data_dir)?;
    let stderr = std::io::stderr();
    let mut bar = Progress::new(stderr.is_terminal().then(|| stderr.lock()));
    let table = super::run(store.as_mut(), kind, &spec, scope.as_deref(), &mut |s| {
        bar.update(s)
    })?;
    print!("{}", render::render(&table, format));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_draws_each_percent_once_and_clears_at_the_end() {
        let mut bar = Progress::new(Some(Vec::new()));
        for s in [0.0, 0.001, 0.5, 0.5, 1.0] {
            bar.update(s);
        }
        let text = String::from_utf8(bar.out.take().unwrap()).unwrap();
        let frames: Vec<&str> = text.split('\r').filter(|f| !f.is_empty()).collect();
        assert_eq!(frames[0], "[.........................]   0%");
        assert_eq!(frames[1], "[############.............]  50%");
        assert_eq!(frames[2], "[#########################] 100%");
        assert_eq!(frames[3].trim(), "");
        assert_eq!(frames.len(), 4);
        // Off (not a terminal): nothing is written anywhere.
        let mut off: Progress<Vec<u8>> = Progress::new(None);
        off.update(0.5);
        assert!(off.out.is_none());
    }
}
