//! Prints the announced-wait matrix in harder regimes for docs/acd.md.
//!
//! `cargo run --release -p switchboard-acd --example ewt_regimes -- [days] [seed] [nofeedback|feedback] [REGIME...]`
//! (regimes by their names' first word, e.g. `30%` or `two`; default all).
use std::time::Duration;

use switchboard_acd::sim::Regime;

fn main() {
    let mut args = std::env::args().skip(1);
    let days: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2026);
    // This is a driver program, not the core: it may read the wall clock to report its runtime.
    let started = switchboard_test_support::Stopwatch::start();
    let mut ewt = switchboard_acd::EwtConfig::default();
    if args.next().as_deref() == Some("nofeedback") {
        ewt.calibration_gain = 0.0;
    }
    let wanted: Vec<String> = args.collect();
    let regimes: Vec<Regime> = Regime::ALL
        .into_iter()
        .filter(|r| wanted.is_empty() || wanted.iter().any(|w| r.name().starts_with(w.as_str())))
        .collect();
    let cells = switchboard_acd::sim::regime_matrix_of(
        &regimes,
        Duration::from_secs_f64(days * 86_400.0),
        seed,
        ewt,
    );
    print!("{}", switchboard_acd::sim::regime_markdown(&cells));
    println!(
        "\n{days} days/cell, seed {seed}, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
