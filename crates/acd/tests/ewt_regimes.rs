//! The announced-wait matrix in harder regimes (`sim::regime_matrix`, the table in
//! docs/acd.md): a fast deterministic subset in the default suite, the whole table with
//! per-cell targets behind `--ignored`.

use std::time::Duration;

use switchboard_acd::sim::{self, Regime};
use switchboard_acd::EwtConfig;

fn hours(h: f64) -> Duration {
    Duration::from_secs_f64(h * 3600.0)
}

/// Every regime at 10 agents over 16 simulated hours (past the 13:00 logouts): the engine's
/// books balance, nobody is double-booked, and each regime's join announcements cover about
/// 80% of the answered callers with an error no larger than the position-only bound's.
/// The same seed gives the same scores.
#[test]
fn every_regime_is_calibrated_and_sharper_than_position_only() {
    for regime in Regime::ALL {
        let cfg = sim::regime_config(regime, 10, hours(16.0), 77);
        let r = sim::run(cfg);
        assert_eq!(r.offers_to_engaged_agents, 0, "{regime:?}");
        assert!(r.audit.clean(), "{regime:?}: {:?}", r.audit);
        assert!(r.stats.iter().all(|(_, s)| s.balanced()), "{regime:?}");
        let s = r.ewt_scores(None);
        assert!(s.n >= 300, "{regime:?}: only {} callers scored", s.n);
        assert!(
            (0.73..=0.87).contains(&s.coverage),
            "{regime:?}: coverage {:.3} over {}",
            s.coverage,
            s.n
        );
        assert!(
            s.mae <= s.position_mae,
            "{regime:?}: MAE {:.1} s vs position-only {:.1} s",
            s.mae,
            s.position_mae
        );
        if regime == Regime::AnswerDelayRingOut {
            assert!(r.ronas > 0, "offers rang out");
        }
    }
    let again = |seed| {
        let r = sim::run(sim::regime_config(Regime::Priority, 5, hours(4.0), seed));
        r.ewt_scores(None)
    };
    assert_eq!(again(5), again(5));
}

/// The published table: every cell within 80 ± 5 points and no worse than the
/// position-only bound. Slow in debug builds; run with
/// `cargo test --release -p switchboard-acd --test ewt_regimes -- --ignored`.
#[test]
#[ignore]
fn full_regime_matrix_meets_targets() {
    let cells = sim::regime_matrix(hours(240.0), 2026, EwtConfig::default());
    print!("{}", sim::regime_markdown(&cells));
    for c in &cells {
        let s = &c.scores;
        assert!(
            (0.75..=0.85).contains(&s.coverage),
            "{:?}/{}: coverage {:.3}",
            c.regime,
            c.agents,
            s.coverage
        );
        assert!(
            s.mae <= s.position_mae,
            "{:?}/{}: MAE {:.1} vs {:.1}",
            c.regime,
            c.agents,
            s.mae,
            s.position_mae
        );
    }
}
