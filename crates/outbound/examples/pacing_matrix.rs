//! Prints the predictive-pacing matrix of docs/outbound.md: answer rate 20/40/70 % ×
//! agents 10/30/100 × mean handle 60/180 s, each campaign simulated for 48 h (so every
//! sliding 24 h window is checked), predictive against progressive (one dial per free
//! agent), same seed. Exits non-zero if any cell breaks the abandon cap.
//!
//!     cargo run --release -p switchboard-outbound --example pacing_matrix [hours] [seed]
//!
//! The seed (default 0) is mixed into each cell's own seed: other seeds show how much of a
//! cell's figures is luck.

use std::time::Duration;

use switchboard_outbound::pacing::sim::{simulate, CampaignModel, DialPolicy};
use switchboard_outbound::PacingConfig;

fn main() {
    let hours: u64 = std::env::args()
        .nth(1)
        .and_then(|h| h.parse().ok())
        .unwrap_or(48);
    let extra_seed: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cfg = PacingConfig::default();
    println!(
        "| answer rate | agents | mean handle | progressive talk share | predictive talk share | gain | gain ceiling | abandon rate (all) | worst 24 h window | dials per agent-hour | targets |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failures = 0;
    for answer_rate in [0.2, 0.4, 0.7] {
        for agents in [10u32, 30, 100] {
            for handle_s in [60u64, 180] {
                let model = CampaignModel {
                    agents,
                    answer_rate,
                    answer_rate_change: None,
                    mean_handle: Duration::from_secs(handle_s),
                    duration: Duration::from_secs(hours * 3600),
                    seed: extra_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ 0x5EED
                        ^ (u64::from(agents) << 16)
                        ^ handle_s
                        ^ ((answer_rate * 100.0) as u64) << 32,
                };
                let prog = simulate(&model, DialPolicy::Progressive, cfg.window);
                let pred = simulate(&model, DialPolicy::Predictive(cfg), cfg.window);
                let gain = pred.talk_share / prog.talk_share - 1.0;
                // Talk is at most 85 % of an agent's time (15 % of each handle is wrap-up).
                let ceiling = 0.85 / prog.talk_share - 1.0;
                let cap_ok = pred.worst_window_abandon_rate <= cfg.abandon_cap;
                if !cap_ok {
                    failures += 1;
                }
                let status = match (cap_ok, answer_rate > 0.4, gain >= 0.30, ceiling >= 0.30) {
                    (false, ..) => "cap MISSED",
                    (true, true, ..) => "cap ok",
                    (true, false, true, _) => "cap ok, gain ok",
                    (true, false, false, false) => "cap ok, +30 % above the ceiling",
                    (true, false, false, true) => "cap ok, gain MISSED",
                };
                println!(
                    "| {:.0} % | {} | {} s | {:.1} % | {:.1} % | {:+.1} % | {:+.0} % | {:.2} % | {:.2} % | {:.0} | {} |",
                    answer_rate * 100.0,
                    agents,
                    handle_s,
                    prog.talk_share * 100.0,
                    pred.talk_share * 100.0,
                    gain * 100.0,
                    ceiling * 100.0,
                    pred.abandon_rate * 100.0,
                    pred.worst_window_abandon_rate * 100.0,
                    pred.dials as f64 / (f64::from(agents) * hours as f64),
                    status,
                );
            }
        }
    }
    if failures > 0 {
        eprintln!("{failures} cells broke the abandon cap");
        std::process::exit(1);
    }
}
