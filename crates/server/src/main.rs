//! The `switchboard` binary: starts the engine (`run`) and hosts the operator tools
//! (`check`, `ivr simulate`, `ivr test`, `staffing`, `export`). It wires the sans-IO
//! cores to sockets, timers, files and tasks; protocol and routing decisions live in the
//! core crates, not here.

mod acd_actor;
mod admission;
mod agent_desk;
mod agent_dial;
mod agent_outbound;
#[cfg(test)]
mod alloc_count;
#[cfg(test)]
mod api_doc_tests;
mod bridge_crossing;
mod call;
mod call_path;
mod call_signals;
mod callback;
mod caller_history;
mod campaign;
mod config;
#[cfg(test)]
mod config_reference;
mod conversation_script;
mod core_events;
mod delay_histogram;
mod descriptors;
mod dial_policy;
mod disk_watch;
#[cfg(test)]
mod doc_paths_tests;
mod event_log;
mod event_store;
mod event_stream;
mod export;
mod http_agents;
mod http_api;
mod http_auth;
mod http_callbacks;
mod http_calls;
mod http_campaigns;
mod http_client;
mod http_control;
mod http_error;
mod http_events;
mod http_openapi;
mod http_serve;
mod http_state;
mod invite_auth;
mod live_calls;
mod media_leg;
mod metrics;
mod outbound_call;
mod pii;
mod placed_call;
mod placed_listing;
mod placed_supervision;
mod private_files;
mod queue_config;
mod queue_membership;
mod recorder;
mod registration_store;
mod report;
mod restart_state;
mod run;
mod runtime_lag;
mod simulate;
mod sip_driver;
mod sip_thread;
mod sip_tls;
mod srtp_leg;
mod tenants;
mod tools;
mod trunk_caps;
mod trunk_config;
mod trunk_offer;
mod trunk_status;
mod trunk_trust;
mod web_callbacks;
mod web_pages;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "switchboard",
    version,
    about = "Contact-center telephony engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the engine (embedded demo config unless --config is given).
    Run(RunArgs),
    /// Check dialplan files: file:line:col diagnostics; exit 1 on errors.
    Check {
        /// Dialplan files (*.ivr) or directories of them.
        #[arg(default_value = "dialplans")]
        files: Vec<PathBuf>,
        /// Prompts directory (<lang>/<name>.wav); default: ivr.prompts found next to the
        /// dialplans or above them, then in the working directory.
        #[arg(long)]
        prompts: Option<PathBuf>,
        /// Config whose queue names the check uses (default: the embedded one).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Dialplan simulator and test runner.
    Ivr {
        #[command(subcommand)]
        command: IvrCommand,
    },
    /// Reports derived from the event log: CDR, queue_log, recordings index, check.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Historical reports from the event store: queues, agents, ivr, trunks, ewt, campaigns.
    Report(report::cli::ReportArgs),
    /// API tokens: `token new` prints a fresh random token and its [[http.tokens]] entry.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// What-if replay of recorded traffic through a candidate configuration.
    Simulate(simulate::cli::SimulateArgs),
    /// Staffing with Erlang C/A (agents) and Erlang B (trunks); with --from-events, a plan
    /// per time-of-day slot from the traffic in the event store.
    Staffing {
        /// Offered calls per hour.
        #[arg(long = "calls-per-hour", required_unless_present = "from_events")]
        calls_per_hour: Option<f64>,
        /// Average handle time, seconds.
        #[arg(long, required_unless_present = "from_events")]
        aht: Option<u64>,
        /// Plan from the traffic observed in the event store (--from, --to, --interval).
        #[arg(long = "from-events")]
        from_events: bool,
        /// The config whose queues (SL target and threshold) and store the plan uses.
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        range: simulate::cli::RangeArgs,
        /// Service-level target PERCENT/SECONDS, e.g. 80/20.
        #[arg(long, default_value = "80/20")]
        target: String,
        /// Mean caller patience, seconds (Erlang A).
        #[arg(long)]
        patience: Option<u64>,
        /// Trunk blocking probability for Erlang B.
        #[arg(long, default_value_t = 0.01)]
        blocking: f64,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Print a new random token (show it once, to its owner) and the config entry that
    /// stores only its SHA-256.
    New {
        /// admin, supervisor or agent.
        #[arg(long)]
        role: String,
        /// For --role agent: the agent (user name) the token acts for.
        #[arg(long)]
        agent: Option<String>,
        /// A label for logs (default: the role, and the agent).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum ExportCommand {
    /// Call detail records as CSV.
    Cdr(ExportArgs),
    /// Asterisk-format queue_log lines (for existing report tools).
    QueueLog(ExportArgs),
    /// The recordings index as CSV.
    Recordings(ExportArgs),
    /// Check that every finished call has a complete, gap-free event sequence.
    Check(ExportArgs),
}

/// Where the event log is and which time window to export.
#[derive(clap::Args, Debug)]
struct ExportArgs {
    /// Data directory holding events.sqlite.
    #[arg(long = "data-dir", default_value = "./data")]
    data_dir: PathBuf,
    /// The event store: "sqlite" (<data-dir>/events.sqlite) or postgres://user@host:port/db.
    #[arg(long = "event-store", default_value = "sqlite")]
    event_store: String,
    /// Start of the window (inclusive): 2026-11-23, 2026-11-23T10:00:00Z, or unix seconds.
    #[arg(long)]
    from: Option<String>,
    /// End of the window (exclusive).
    #[arg(long)]
    to: Option<String>,
}

#[derive(Subcommand, Debug)]
enum IvrCommand {
    /// Run one call through a dialplan offline and print what the caller hears.
    Simulate(tools::SimulateCallArgs),
    /// Run the *.test.toml expectations next to the dialplans.
    Test {
        /// A directory, a .test.toml or a .ivr file.
        #[arg(default_value = "dialplans")]
        path: PathBuf,
        /// Config whose queue names the check uses.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Prompts directory (<lang>/<name>.wav); default: ivr.prompts found next to the
        /// dialplans or above them, then in the working directory.
        #[arg(long)]
        prompts: Option<PathBuf>,
    },
}

/// Flags of `switchboard run`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct RunArgs {
    /// TOML config merged over the embedded default.
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// SIP listen address (UDP and TCP), replaces sip.listen; repeatable.
    #[arg(long = "sip-listen")]
    pub(crate) sip_listen: Vec<SocketAddr>,
    /// HTTP listen address, replaces http.listen.
    #[arg(long = "http-listen")]
    pub(crate) http_listen: Option<SocketAddr>,
    /// Data directory, replaces data.dir.
    #[arg(long = "data-dir")]
    pub(crate) data_dir: Option<PathBuf>,
    /// TEST/DEMO ONLY: pin the time every call's IVR sees, e.g. 2026-01-05T12:00:00+03:00
    /// (replaces ivr.test_clock). Never use it in production.
    #[arg(long = "ivr-test-clock", value_name = "TIME")]
    pub(crate) ivr_test_clock: Option<String>,
    /// Event store ("sqlite" or postgres://user@host:port/db), replaces data.event_store.
    #[arg(long = "event-store")]
    pub(crate) event_store: Option<String>,
}

fn export_main(command: ExportCommand) -> anyhow::Result<ExitCode> {
    let args = match &command {
        ExportCommand::Cdr(a)
        | ExportCommand::QueueLog(a)
        | ExportCommand::Recordings(a)
        | ExportCommand::Check(a) => a,
    };
    let mut store =
        event_store::StoreLocation::parse(&args.event_store)?.open_existing(&args.data_dir)?;
    let store = store.as_mut();
    let from = args
        .from
        .as_deref()
        .map(export::parse_time_arg)
        .transpose()?;
    let to = args.to.as_deref().map(export::parse_time_arg).transpose()?;
    let text = match command {
        ExportCommand::Cdr(_) => export::export_cdr(store, from, to)?,
        ExportCommand::QueueLog(_) => export::export_queue_log(store, from, to)?,
        ExportCommand::Recordings(_) => export::recordings_index(store, from, to)?,
        ExportCommand::Check(_) => {
            let problems = export::check_call_sequences(store);
            if problems.is_empty() {
                println!("ok: every finished call has a complete, gap-free event sequence");
                return Ok(ExitCode::SUCCESS);
            }
            for p in &problems {
                println!("{p}");
            }
            return Ok(ExitCode::from(1));
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::main(args),
        Command::Check {
            files,
            prompts,
            config,
        } => tools::check(&files, prompts.as_deref(), config.as_deref()),
        Command::Ivr {
            command: IvrCommand::Simulate(args),
        } => tools::simulate_call(args),
        Command::Ivr {
            command:
                IvrCommand::Test {
                    path,
                    config,
                    prompts,
                },
        } => tools::run_tests(path, config.as_deref(), prompts.as_deref()),
        Command::Export { command } => export_main(command),
        Command::Report(args) => report::cli::main(args),
        Command::Token {
            command: TokenCommand::New { role, agent, name },
        } => new_token(&role, agent.as_deref(), name.as_deref()),
        Command::Simulate(args) => simulate::cli::simulate_main(args),
        Command::Staffing {
            from_events: true,
            config,
            range,
            ..
        } => simulate::cli::staffing_main(config.as_deref(), &range),
        Command::Staffing {
            calls_per_hour,
            aht,
            target,
            patience,
            blocking,
            ..
        } => tools::staffing_report(
            calls_per_hour.unwrap_or_default(),
            aht.unwrap_or_default(),
            &target,
            patience,
            blocking,
        ),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `switchboard token new`: 256 random bits as hex, and the entry that stores their hash.
fn new_token(role: &str, agent: Option<&str>, name: Option<&str>) -> anyhow::Result<ExitCode> {
    match (role, agent) {
        ("agent", None) => anyhow::bail!("--role agent needs --agent <user>"),
        ("admin" | "supervisor", Some(_)) => anyhow::bail!("only --role agent takes --agent"),
        ("admin" | "supervisor" | "agent", _) => {}
        _ => anyhow::bail!("--role {role:?}: one of admin, supervisor, agent"),
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    let label = name.map(str::to_string).unwrap_or_else(|| match agent {
        Some(a) => format!("{role}-{a}"),
        None => role.to_string(),
    });
    println!("token (give it to its owner; it is not stored): {token}\n");
    println!(
        "[[http.tokens]]\nname = {label:?}\nsha256 = \"{}\"\nrole = \"{role}\"",
        http_auth::token_sha256(&token)
    );
    if let Some(a) = agent {
        println!("agent = {a:?}");
    }
    Ok(ExitCode::SUCCESS)
}
