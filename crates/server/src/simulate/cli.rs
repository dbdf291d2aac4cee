//! `switchboard simulate --config candidate.toml --from .. --to .. [--event-store URL]
//! [--scale 1.2] [--agents sales=+3]` and `switchboard staffing --from-events --from ..
//! --to ..`: thin shells that read the store, run [`super::replay`] or
//! [`super::staffing`], and print a table like `switchboard report`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::replay::{parse_extra_agents, replay, ReplayOptions};
use super::{comparison, tally, trace};
use crate::config::Config;
use crate::event_store::StoreLocation;
use crate::report::cli::{spec_from_config, Progress};
use crate::report::{parse_interval, render, Format, ReportSpec};

/// Where the recorded traffic is and which part of it.
#[derive(clap::Args, Debug)]
pub(crate) struct RangeArgs {
    /// Start (inclusive): 2026-12-01, 2026-12-01T10:00:00Z, or unix seconds.
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// End (exclusive), same forms.
    #[arg(long)]
    pub(crate) to: Option<String>,
    /// Interval length: 15m, 30m, 1h, 1d.
    #[arg(long, default_value = "30m")]
    pub(crate) interval: String,
    /// table, csv or json.
    #[arg(long, default_value = "table")]
    pub(crate) format: String,
    /// The event store ("sqlite" or postgres://user@host:port/db); replaces data.event_store.
    #[arg(long = "event-store")]
    pub(crate) event_store: Option<String>,
    /// Data directory holding events.sqlite; replaces data.dir.
    #[arg(long = "data-dir")]
    pub(crate) data_dir: Option<PathBuf>,
}

/// Flags of `switchboard simulate`.
#[derive(clap::Args, Debug)]
pub(crate) struct SimulateArgs {
    /// The candidate configuration: its queues, members and [acd] drive the replay (and
    /// its [data] names the store unless --event-store/--data-dir say otherwise).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) range: RangeArgs,
    /// Multiply the recorded arrivals (1.2: 20% more callers).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) scale: f64,
    /// Add agents to a queue for the whole range: QUEUE=+N (repeatable).
    #[arg(long = "agents")]
    pub(crate) agents: Vec<String>,
    /// Seed of the replay's random draws.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// The config, the report spec and the trace of a range.
fn load(
    config: Option<&Path>,
    range: &RangeArgs,
    bar: &mut dyn FnMut(f64),
) -> anyhow::Result<(Config, ReportSpec, trace::Trace)> {
    let cfg = Config::load(config)?;
    let from = range.from.as_deref().context("--from is required")?;
    let to = range.to.as_deref().context("--to is required")?;
    let from = crate::export::parse_time_arg(from).context("--from")?;
    let to = crate::export::parse_time_arg(to).context("--to")?;
    let interval = parse_interval(&range.interval)?;
    let spec = spec_from_config(&cfg, from, to, interval, crate::event_store::now_ms());
    spec.validate()?;
    let data_dir: &Path = range.data_dir.as_deref().unwrap_or(&cfg.data.dir);
    let at = StoreLocation::parse(
        range
            .event_store
            .as_deref()
            .unwrap_or(&cfg.data.event_store),
    )?;
    let mut store = at.open_existing(data_dir)?;
    let trace = trace::read(store.as_mut(), &spec, bar)?;
    Ok((cfg, spec, trace))
}

pub(crate) fn simulate_main(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(&args.range.format)?;
    let extra_agents = args
        .agents
        .iter()
        .map(|a| parse_extra_agents(a))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stderr = std::io::stderr();
    let mut bar = Progress::new(stderr.is_terminal().then(|| stderr.lock()));
    // Reading is the first half of the bar, the replay the second.
    let (cfg, spec, trace) = load(args.config.as_deref(), &args.range, &mut |s| {
        bar.update(s * 0.5)
    })?;
    let opts = ReplayOptions {
        scale: args.scale,
        extra_agents,
        seed: args.seed,
    };
    let replayed = replay(&cfg, &trace, &spec, &opts, &mut |s| {
        bar.update(0.5 + s * 0.5)
    })?;
    bar.update(1.0);
    drop(bar);
    if replayed.unknown_queue > 0 {
        eprintln!(
            "switchboard: warning: {} recorded callers joined queues the candidate \
             configuration does not have; they are left out of the replay",
            replayed.unknown_queue
        );
    }
    let actual = tally(
        &spec,
        &trace.waits,
        &trace.busy,
        &trace.present,
        &replayed.members,
    );
    let sim = tally(
        &spec,
        &replayed.waits,
        &replayed.busy,
        &replayed.present,
        &replayed.members,
    );
    print!(
        "{}",
        render::render(&comparison(&spec, &actual, &sim), format)
    );
    Ok(ExitCode::SUCCESS)
}

/// `switchboard staffing --from-events`.
pub(crate) fn staffing_main(config: Option<&Path>, range: &RangeArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(&range.format)?;
    let stderr = std::io::stderr();
    let mut bar = Progress::new(stderr.is_terminal().then(|| stderr.lock()));
    let (cfg, spec, trace) = load(config, range, &mut |s| bar.update(s))?;
    bar.update(1.0);
    drop(bar);
    let table = super::staffing::plan(&cfg, &spec, &trace);
    print!("{}", render::render(&table, format));
    Ok(ExitCode::SUCCESS)
}
