//! What a queue-wide forecast holds between two makes is bounded: a summary of each
//! position's plays (at most 128 points of 16 bits), not the plays (≈ 2.4 MB of `f64` at
//! 10,000 callers before).

use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchboard_acd::ewt::{AgentLoad, EwtConfig, EwtModel, Forecast};

#[test]
fn a_forecast_of_ten_thousand_callers_holds_under_a_megabyte() {
    let cfg = EwtConfig::default();
    let mut m = EwtModel::new(cfg, 180.0);
    for i in 0..2000 {
        m.record_handle(30.0 + (i * 37 % 300) as f64);
    }
    for i in 0..1000 {
        m.record_departure(100.0 + (i % 900) as f64, i % 6 == 0);
    }
    let agents: Vec<AgentLoad> = (0..200)
        .map(|i| AgentLoad::Busy {
            age: (i * 7 % 300) as f64,
        })
        .collect();
    let mut f = Forecast::default();
    let mut rng = SmallRng::seed_from_u64(3);
    assert!(f.make(&m, &mut rng, 0.0, &vec![true; 10_000], 64, &agents, 5.0));
    assert_eq!(f.positions(), 10_065);
    let bytes = f.heap_bytes();
    // ≈ 300,000 plays: 2.4 MB as f64. The summary: 128 points for the head, every play
    // (16-128) beyond, 2 bytes each, 16 bytes of header per position.
    assert!(bytes < 800 * 1024, "{bytes} bytes");
    assert!(
        bytes > 300 * 1024,
        "{bytes} bytes: the summary is not that small"
    );
    // Still answers every position, and the bound grows along the line.
    let a = f.estimate(100, 0.0, 20.0, 0.8).unwrap().bound;
    let b = f.estimate(10_000, 0.0, 20.0, 0.8).unwrap().bound;
    assert!(a < b, "{a} {b}");
    // Making a smaller one afterwards gives the memory back.
    assert!(f.make(&m, &mut rng, 0.0, &[true; 100], 0, &agents, 5.0));
    assert!(f.heap_bytes() < 64 * 1024, "{} bytes", f.heap_bytes());
}
