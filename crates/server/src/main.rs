//! The `switchboard` binary: starts the engine (`run`) and hosts the operator tools
//! (`check`, `ivr simulate`, `ivr test`, `staffing`, `export`). It wires the sans-IO
//! cores to sockets, timers, files and tasks; protocol and routing decisions live in the
//! core crates, not here.

// Parts of the config and event log are wired up by the call path as it lands.
#![allow(dead_code)]

mod acd_actor;
mod call;
mod call_path;
mod config;
mod event_log;
mod http_api;
mod http_client;
mod pii;
mod recorder;
mod run;
mod sip_driver;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::main(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("switchboard: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
