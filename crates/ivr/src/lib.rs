//! The IVR dialplan language: lexer, parser, checker and sans-IO interpreter. No telephony, no I/O.
//!
//! Operators write call flows in `.ivr` files (see `docs/dialplan.md`). This crate parses them
//! ([`parser`]), checks them and renders rustc-style diagnostics ([`check`], [`diag`]), lowers
//! them to an immutable [`Program`] ([`DialplanLoader`] loads a directory), runs one call's flow
//! as a state machine that takes [`Event`]s and emits [`Action`]s ([`Interpreter`]), turns
//! numbers, money, durations and times into prompt names ([`say`]), and simulates and tests
//! flows offline ([`simulate()`], [`run_dialplan_tests`]). It never reads a clock, opens a socket
//! or plays audio: wall-clock time, digits and HTTP answers are inputs; prompts, lookups and
//! queueing are outputs for the server to carry out.
#![warn(missing_docs)]

pub mod ast;
pub mod check;
pub mod diag;
pub mod interp;
pub mod lexer;
pub mod loader;
pub mod parser;
pub mod printer;
pub mod program;
pub mod request_url;
pub mod say;
pub mod sim;
pub mod source;
pub mod testfile;

pub use ast::Lang;
pub use check::{check_files, CheckContext, PromptCatalog};
pub use diag::{Diagnostic, Severity};
pub use interp::{Action, CallAttrs, Event, HttpError, Interpreter, QueueOutcome, QueueRequest};
pub use loader::{
    check_paths, load_dir, load_paths, CheckReport, DialplanLoader, DialplanSet, LoadError,
};
pub use program::Program;
pub use sim::{simulate, simulate_program, CallEnd, HttpFixtures, SimCall, SimOptions, Transcript};
pub use testfile::{case_outlines, parse_at, run_dialplan_tests, CaseOutline, TestReport};
