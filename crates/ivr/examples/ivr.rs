//! A stand-in for the `switchboard` CLI until the server wires it:
//!
//! ```text
//! cargo run -p switchboard-ivr --example ivr -- check dialplans/demo.ivr
//! cargo run -p switchboard-ivr --example ivr -- simulate dialplans/demo.ivr --to 100 \
//!     --from +79991234567 --digits "1,#3" --at 2026-11-23T03:00+03:00 [--http-fixture f.json]
//! cargo run -p switchboard-ivr --example ivr -- test dialplans/
//! ```
//!
//! Queues known to the check: sales, support, operator, vip, bank, outsource.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use switchboard_ivr::check::{CheckContext, PromptCatalog};
use switchboard_ivr::loader::check_paths;
use switchboard_ivr::run_dialplan_tests;
use switchboard_ivr::sim::{simulate, SimCall, SimOptions};
use switchboard_ivr::testfile::parse_at;

fn ctx() -> CheckContext {
    let prompts = PromptCatalog::from_prompts_dir(Path::new("prompts"));
    CheckContext::new(
        ["sales", "support", "operator", "vip", "bank", "outsource"],
        prompts,
    )
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("check") => {
            let paths: Vec<PathBuf> = args.iter().skip(1).map(PathBuf::from).collect();
            let r = check_paths(&paths, &ctx());
            print!("{}", r.text);
            if r.has_errors {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Some("simulate") => {
            let Some(file) = args.get(1) else {
                return usage();
            };
            let at = opt("--at").unwrap_or_else(|| "2026-11-23T12:00+00:00".into());
            let Some(at) = parse_at(&at) else {
                eprintln!("--at: expected a time like 2026-11-23T03:00+03:00");
                return ExitCode::FAILURE;
            };
            let mut call = SimCall::new(
                opt("--to").unwrap_or_default(),
                opt("--from").unwrap_or_default(),
                at,
            );
            call.digits = opt("--digits").unwrap_or_default();
            let opts = SimOptions {
                file: PathBuf::from(file),
                call,
                ctx: ctx(),
                http_fixture: opt("--http-fixture").map(PathBuf::from),
            };
            match simulate(&opts) {
                Ok(t) => {
                    print!("{}{t}", t.warnings);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Some("test") => {
            let path = args
                .get(1)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("dialplans"));
            let r = run_dialplan_tests(&path, &ctx());
            print!("{r}");
            if r.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        _ => usage(),
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: ivr check FILE... | ivr simulate FILE --to N --from N [--digits D] [--at T] [--http-fixture F] | ivr test [DIR]");
    ExitCode::FAILURE
}
