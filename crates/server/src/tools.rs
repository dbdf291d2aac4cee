//! The operator tools behind `switchboard check`, `switchboard ivr simulate|test` and
//! `switchboard staffing`: thin wrappers over the IVR and ACD crates that print reports
//! and return the exit status.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use switchboard_acd::{staffing, ServiceLevel, StaffingInput};
use switchboard_ivr::loader::check_paths;
use switchboard_ivr::sim::{simulate, SimCall, SimOptions};
use switchboard_ivr::testfile::parse_at;
use switchboard_ivr::{run_dialplan_tests, CheckContext};

use crate::config::Config;

/// The check context for dialplans at `anchor` (a file or directory): the config's queues
/// and the prompts found by [`find_prompts_dir`] (or `prompts` when given).
fn context(
    config: Option<&Path>,
    prompts: Option<&Path>,
    anchor: &Path,
) -> anyhow::Result<CheckContext> {
    let cfg = Config::load(config)?;
    let dir = match prompts {
        Some(d) if d.is_dir() => d.to_path_buf(),
        Some(d) => bail!("--prompts {}: no such directory", d.display()),
        None => find_prompts_dir(&cfg.ivr.prompts, anchor)?,
    };
    let catalog = crate::call_path::prompt_catalog(&dir).with_source(&dir);
    if switchboard_ivr::Lang::ALL
        .iter()
        .all(|l| catalog.names(*l).next().is_none())
    {
        bail!(
            "no prompts in {} (expected <lang>/<name>.wav, e.g. en/welcome.wav); give \
             --prompts DIR",
            dir.display()
        );
    }
    // Conversation scripts are `scripts/` beside the dialplans checked.
    let dialplans = if anchor.is_dir() {
        anchor
    } else {
        anchor.parent().unwrap_or(Path::new("."))
    };
    Ok(
        CheckContext::new(cfg.queues.iter().map(|q| q.name.clone()), catalog)
            .with_skills(agent_skills(&cfg))
            .with_scripts(crate::conversation_script::script_names(
                &dialplans.join("scripts"),
            )),
    )
}

/// Every skill some `[[users]]` entry has: a dialplan `skill` outside it is a warning.
pub(crate) fn agent_skills(cfg: &Config) -> impl Iterator<Item = String> + '_ {
    cfg.users.iter().flat_map(|u| u.skills.keys().cloned())
}

/// Where the offline tools read prompts: `ivr.prompts` as is when absolute; when relative,
/// the first directory of that name next to the dialplan or in one of its parents (so
/// `switchboard check /srv/sb/dialplans/demo.ivr` finds `/srv/sb/prompts` from anywhere),
/// then in the working directory.
pub(crate) fn find_prompts_dir(prompts: &Path, anchor: &Path) -> anyhow::Result<PathBuf> {
    if prompts.is_absolute() {
        if prompts.is_dir() {
            return Ok(prompts.to_path_buf());
        }
        bail!(
            "ivr.prompts {}: no such directory (give --prompts DIR)",
            prompts.display()
        );
    }
    let start = if anchor.is_dir() {
        anchor.to_path_buf()
    } else {
        anchor.parent().map(Path::to_path_buf).unwrap_or_default()
    };
    let start = std::fs::canonicalize(if start.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &start
    })
    .unwrap_or(start);
    let mut looked = Vec::new();
    for dir in start.ancestors() {
        let cand = dir.join(prompts);
        if cand.is_dir() {
            return Ok(cand);
        }
        looked.push(cand);
    }
    if prompts.is_dir() {
        return Ok(prompts.to_path_buf());
    }
    bail!(
        "no prompts directory `{}` next to {} or in any directory above it, nor in the \
         working directory; give --prompts DIR (the directory holding <lang>/<name>.wav)",
        prompts.display(),
        anchor.display()
    )
}

/// The dialplan files named by `paths`: files as given, directories as their `*.ivr`
/// files (sorted; subdirectories hold included files, as for the engine's loader).
fn dialplan_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut here: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .flatten()
                .map(|e| e.path())
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "ivr"))
                .collect();
            if here.is_empty() {
                bail!("{}: no *.ivr dialplans in this directory", p.display());
            }
            here.sort();
            out.extend(here);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// `switchboard check [PATH...]`: rustc-style diagnostics; 1 on errors, 0 otherwise.
pub(crate) fn check(
    paths: &[PathBuf],
    prompts: Option<&Path>,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let files = dialplan_files(paths)?;
    let Some(first) = files.first() else {
        bail!("give at least one dialplan file or directory");
    };
    let r = check_paths(&files, &context(config, prompts, first)?);
    print!("{}", r.text);
    Ok(if r.has_errors {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Flags of `switchboard ivr simulate`.
#[derive(clap::Args, Debug)]
pub(crate) struct SimulateCallArgs {
    /// The dialplan file.
    file: PathBuf,
    /// Dialled number (DNIS).
    #[arg(long, default_value = "")]
    to: String,
    /// Caller ID.
    #[arg(long, default_value = "")]
    from: String,
    /// Keys per input request, comma-separated groups: "1,#3".
    #[arg(long, default_value = "")]
    digits: String,
    /// Wall-clock time of the call, e.g. 2026-11-23T03:00+03:00 (default: now).
    #[arg(long)]
    at: Option<String>,
    /// JSON file with canned HTTP answers.
    #[arg(long = "http-fixture")]
    http_fixture: Option<PathBuf>,
    /// Config whose queue names the check uses.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Prompts directory (<lang>/<name>.wav); default: ivr.prompts found next to the
    /// dialplan or above it, then in the working directory.
    #[arg(long)]
    prompts: Option<PathBuf>,
}

/// `switchboard ivr simulate FILE --to .. --from .. --digits .. --at ..`.
pub(crate) fn simulate_call(args: SimulateCallArgs) -> anyhow::Result<ExitCode> {
    let SimulateCallArgs {
        file,
        to,
        from,
        digits,
        at,
        http_fixture,
        config,
        prompts,
    } = args;
    let at = match at {
        Some(a) => parse_at(&a)
            .with_context(|| format!("--at {a:?}: expected a time like 2026-11-23T03:00+03:00"))?,
        None => chrono::Utc::now().fixed_offset(),
    };
    let ctx = context(config.as_deref(), prompts.as_deref(), &file)?;
    let mut call = SimCall::new(to, from, at);
    call.digits = digits;
    let opts = SimOptions {
        file,
        call,
        ctx,
        http_fixture,
    };
    match simulate(&opts) {
        Ok(t) => {
            print!("{}{t}", t.warnings);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `switchboard ivr test [PATH]`: runs `*.test.toml` expectations like a test runner.
pub(crate) fn run_tests(
    path: PathBuf,
    config: Option<&std::path::Path>,
    prompts: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let report = run_dialplan_tests(&path, &context(config, prompts, &path)?);
    print!("{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Parses `80/20` (80 % answered within 20 s).
fn parse_target(s: &str) -> anyhow::Result<ServiceLevel> {
    let (share, within) = s
        .split_once('/')
        .context("--target: expected PERCENT/SECONDS, e.g. 80/20")?;
    let share: f64 = share
        .trim()
        .trim_end_matches('%')
        .parse()
        .context("--target percent")?;
    let within: u64 = within
        .trim()
        .trim_end_matches('s')
        .parse()
        .context("--target seconds")?;
    if !(0.0..100.0).contains(&share) || within == 0 {
        bail!("--target: percent must be in 0..100 and seconds above 0");
    }
    Ok(ServiceLevel {
        share: share / 100.0,
        within: Duration::from_secs(within),
    })
}

/// `switchboard staffing --calls-per-hour N --aht S --target P/S [--patience S] [--blocking F]`.
pub(crate) fn staffing_report(
    calls_per_hour: f64,
    aht: u64,
    target: &str,
    patience: Option<u64>,
    blocking: f64,
) -> anyhow::Result<ExitCode> {
    if calls_per_hour <= 0.0 || aht == 0 {
        bail!("--calls-per-hour and --aht must be positive");
    }
    if !(0.0..1.0).contains(&blocking) || blocking == 0.0 {
        bail!("--blocking must be a probability between 0 and 1, e.g. 0.01");
    }
    let plan = staffing(&StaffingInput {
        calls_per_hour,
        aht: Duration::from_secs(aht),
        target: parse_target(target)?,
        patience: patience.map(Duration::from_secs),
        blocking,
    });
    let text = plan.to_string();
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = parse_target("80/20").unwrap();
        assert!((t.share - 0.8).abs() < 1e-9);
        assert_eq!(t.within, Duration::from_secs(20));
        assert!(parse_target("80").is_err());
        assert!(parse_target("180/20").is_err());
    }
}
