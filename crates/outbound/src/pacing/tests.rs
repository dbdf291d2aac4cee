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

/// The cap holds and predictive beats progressive in a few cells of the matrix (the full
/// matrix, 48 h per cell: `cargo run --release -p switchboard-outbound --example
/// pacing_matrix`).
#[test]
fn simulated_campaigns_stay_under_the_cap() {
    use super::sim::{simulate, CampaignModel, DialPolicy};
    let cfg = PacingConfig::default();
    for (agents, answer_rate, handle_s, seed) in
        [(10, 0.2, 60, 1), (30, 0.4, 60, 2), (100, 0.7, 180, 3)]
    {
        let model = CampaignModel {
            agents,
            answer_rate,
            answer_rate_change: None,
            mean_handle: s(handle_s),
            duration: s(26 * 3600),
            seed,
        };
        let prog = simulate(&model, DialPolicy::Progressive, cfg.window);
        let pred = simulate(&model, DialPolicy::Predictive(cfg), cfg.window);
        assert_eq!(prog.abandoned, 0, "progressive never abandons");
        assert!(pred.abandoned > 0, "predictive takes some risk: {pred:?}");
        assert!(
            pred.worst_window_abandon_rate <= cfg.abandon_cap,
            "{model:?}: {pred:?}"
        );
        let gain = if answer_rate <= 0.4 { 1.3 } else { 1.0 };
        assert!(
            pred.talk_share >= gain * prog.talk_share,
            "{model:?}: {pred:?} vs {prog:?}"
        );
    }
}

#[test]
fn the_simulator_is_deterministic() {
    use super::sim::{simulate, CampaignModel, DialPolicy};
    let model = CampaignModel {
        agents: 10,
        answer_rate: 0.3,
        answer_rate_change: None,
        mean_handle: s(90),
        duration: s(3600),
        seed: 42,
    };
    let policy = DialPolicy::Predictive(PacingConfig::default());
    let a = simulate(&model, policy, s(24 * 3600));
    assert_eq!(a, simulate(&model, policy, s(24 * 3600)));
    assert!(a.dials > 0 && a.answered > 0);
}

proptest::proptest! {
    /// Any sequence of inputs at any times: no panic, and the decision respects the
    /// progressive floor and `max_in_flight`.
    #[test]
    fn any_inputs_keep_the_decision_in_bounds(
        steps in proptest::collection::vec((0u8..7, 0u64..100_000, 0u32..300, 0u32..3000), 1..300),
    ) {
        let cfg = PacingConfig { min_samples: 3, ..PacingConfig::default() };
        let mut p = PredictivePacer::new(cfg);
        let mut t = Duration::ZERO;
        for (what, dt_ms, free, in_flight) in steps {
            t += Duration::from_millis(dt_ms);
            match what {
                0 => p.on_dial(t),
                1 => p.on_answer(t),
                2 => p.on_no_answer(t),
                3 => p.on_abandon(t),
                4 => p.on_agent_connected(t),
                5 => p.on_handle_end(t, Duration::from_millis(dt_ms * 3)),
                _ => {
                    let n = p.dials_to_place(t, free, in_flight);
                    let room = cfg.max_in_flight.saturating_sub(in_flight);
                    proptest::prop_assert!(n <= room);
                    proptest::prop_assert!(n >= free.saturating_sub(in_flight).min(room));
                }
            }
        }
        let snap = p.snapshot();
        proptest::prop_assert!(snap.window_abandon_rate >= 0.0);
    }
}

/// The answer rate jumps from 20 % to 70 % (and back in the other test cell) under the
/// pacer: the window guard and the feedback keep the cap while the estimate catches up.
#[test]
fn a_sudden_change_of_answer_rate_keeps_the_cap() {
    use super::sim::{simulate, CampaignModel, DialPolicy};
    let cfg = PacingConfig::default();
    for (from, to) in [(0.2, 0.7), (0.7, 0.2)] {
        let model = CampaignModel {
            agents: 30,
            answer_rate: from,
            answer_rate_change: Some((s(2 * 3600), to)),
            mean_handle: s(60),
            duration: s(26 * 3600),
            seed: 9,
        };
        let r = simulate(&model, DialPolicy::Predictive(cfg), cfg.window);
        assert!(r.abandoned > 0, "{r:?}");
        assert!(
            r.worst_window_abandon_rate <= cfg.abandon_cap,
            "{model:?}: {r:?}"
        );
    }
}
