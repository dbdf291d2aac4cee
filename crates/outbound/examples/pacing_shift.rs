//! The pacer when the answer rate changes under it: each campaign runs 48 h with one
//! answer rate, switching to another after 6 h (people come home; a list of better
//! numbers starts), both up and down, for 10, 30 and 100 agents.
//!
//!     cargo run --release -p switchboard-outbound --example pacing_shift

use std::time::Duration;

use switchboard_outbound::pacing::sim::{simulate, CampaignModel, DialPolicy};
use switchboard_outbound::PacingConfig;

fn main() {
    let cfg = PacingConfig::default();
    println!("| answer rate | agents | mean handle | abandon rate (all) | worst 24 h window | talk share |");
    println!("|---|---|---|---|---|---|");
    let mut broke = 0;
    for (from, to) in [(0.2, 0.5), (0.5, 0.2), (0.2, 0.7), (0.7, 0.2)] {
        for agents in [10u32, 30, 100] {
            for handle_s in [60u64, 180] {
                let model = CampaignModel {
                    agents,
                    answer_rate: from,
                    answer_rate_change: Some((Duration::from_secs(6 * 3600), to)),
                    mean_handle: Duration::from_secs(handle_s),
                    duration: Duration::from_secs(48 * 3600),
                    seed: 0xC4A7 ^ u64::from(agents) ^ (handle_s << 8),
                };
                let r = simulate(&model, DialPolicy::Predictive(cfg), cfg.window);
                if r.worst_window_abandon_rate > cfg.abandon_cap {
                    broke += 1;
                }
                println!(
                    "| {:.0} % → {:.0} % after 6 h | {agents} | {handle_s} s | {:.2} % | {:.2} % | {:.1} % |",
                    from * 100.0,
                    to * 100.0,
                    r.abandon_rate * 100.0,
                    r.worst_window_abandon_rate * 100.0,
                    r.talk_share * 100.0,
                );
            }
        }
    }
    if broke > 0 {
        eprintln!("{broke} campaigns broke the abandon cap");
        std::process::exit(1);
    }
}
