//! Prints the announced-wait matrix for docs/acd.md.
//!
//! `cargo run --release -p switchboard-acd --example ewt_matrix -- [days] [seed] [nofeedback]`
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let days: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20.0);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2026);
    // This is a driver program, not the core: it may read the wall clock to report its runtime.
    let started = switchboard_test_support::Stopwatch::start();
    let mut ewt = switchboard_acd::EwtConfig::default();
    if args.next().as_deref() == Some("nofeedback") {
        ewt.calibration_gain = 0.0;
    }
    let cells =
        switchboard_acd::sim::ewt_matrix_with(Duration::from_secs_f64(days * 86_400.0), seed, ewt);
    print!("{}", switchboard_acd::sim::matrix_markdown(&cells));
    let cov: Vec<f64> = cells.iter().map(|c| c.scores.coverage).collect();
    let ratio: Vec<f64> = cells
        .iter()
        .map(|c| c.scores.mae / c.scores.position_mae)
        .collect();
    let ast: Vec<f64> = cells.iter().map(|c| c.scores.asterisk_coverage).collect();
    let f = |v: &[f64]| {
        (
            v.iter().cloned().fold(f64::INFINITY, f64::min),
            v.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        )
    };
    println!(
        "\ncoverage {:.1}%..{:.1}%, MAE ours/position-only {:.2}..{:.2}, Asterisk coverage {:.1}%..{:.1}%; {days} days/cell, seed {seed}, {:.1} s",
        f(&cov).0 * 100.0,
        f(&cov).1 * 100.0,
        f(&ratio).0,
        f(&ratio).1,
        f(&ast).0 * 100.0,
        f(&ast).1 * 100.0,
        started.elapsed().as_secs_f64()
    );
}
