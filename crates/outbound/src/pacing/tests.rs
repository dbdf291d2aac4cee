use std::time::Duration;

use super::*;

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

#[test]
fn starts_progressive_one_dial_per_uncovered_free_agent() {
    let mut p = PredictivePacer::new(PacingConfig::default());
    assert_eq!(p.dials_to_place(s(0), 5, 0), 5);
    assert_eq!(p.dials_to_place(s(0), 5, 3), 2);
    assert_eq!(p.dials_to_place(s(0), 5, 9), 0);
    assert_eq!(p.dials_to_place(s(0), 0, 0), 0);
    assert!(!p.snapshot().predictive);
}

/// Feeds `n` calls: a fraction `rate` answered and connected, handled for `handle`.
fn warm_up(p: &mut PredictivePacer, n: u64, rate_pct: u64, handle: Duration) -> Duration {
    let mut t = s(0);
    for i in 0..n {
        p.on_dial(t);
        t += s(10);
        if i % 100 < rate_pct {
            p.on_answer(t);
            p.on_agent_connected(t);
            t += handle;
            p.on_handle_end(t, handle);
        } else {
            p.on_no_answer(t);
        }
    }
    t
}

#[test]
fn dials_ahead_of_free_agents_once_it_has_estimates() {
    let mut p = PredictivePacer::new(PacingConfig::default());
    let t = warm_up(&mut p, 500, 20, s(60));
    let snap = p.snapshot();
    assert!((snap.answer_rate.unwrap() - 0.2).abs() < 0.05, "{snap:?}");
    let handle = snap.mean_handle.unwrap().as_secs_f64();
    assert!((handle - 60.0).abs() < 5.0, "{snap:?}");
    let n = p.dials_to_place(t, 10, 0);
    assert!(p.snapshot().predictive);
    assert!(
        n > 10,
        "20 % answer rate: more dials than free agents, got {n}"
    );
    assert!(n <= 80, "bounded by max_dials_per_agent, got {n}");
}

#[test]
fn abandons_make_it_more_careful_and_a_spent_budget_stops_over_dialling() {
    let mut p = PredictivePacer::new(PacingConfig::default());
    let t = warm_up(&mut p, 500, 40, s(60));
    let before = p.dials_to_place(t, 10, 0);
    let answered = p.snapshot().window_answered;
    assert_eq!(answered, 200);
    // Four abandons: still within 3 % of 200 (budget 6 − 4 = 2), but safer.
    for _ in 0..4 {
        p.on_answer(t);
        p.on_abandon(t);
    }
    let after = p.dials_to_place(t, 10, 0);
    assert!(after < before, "{after} < {before}");
    // Two more: 6 abandoned of 206 answered leaves less than two abandons of budget.
    for _ in 0..2 {
        p.on_answer(t);
        p.on_abandon(t);
    }
    assert_eq!(p.dials_to_place(t, 10, 0), 10);
    assert!(!p.snapshot().predictive);
    // A day later the window has forgotten them.
    let later = t + s(24 * 3600 + 120);
    p.on_answer(later);
    p.on_agent_connected(later);
    assert_eq!(p.snapshot().window_abandoned, 0);
}

#[test]
fn total_on_odd_inputs() {
    let mut p = PredictivePacer::new(PacingConfig {
        window: Duration::ZERO,
        estimate_memory: 0,
        ..PacingConfig::default()
    });
    // Outcomes without dials, time going back, handle ends without calls, huge values.
    p.on_answer(s(100));
    p.on_no_answer(s(5));
    p.on_handle_end(s(1), Duration::MAX);
    p.on_abandon(Duration::MAX);
    p.on_agent_connected(Duration::ZERO);
    let _ = p.dials_to_place(Duration::MAX, u32::MAX, 0);
    let _ = p.dials_to_place(s(0), u32::MAX, u32::MAX);
    let _ = p.snapshot();
}
