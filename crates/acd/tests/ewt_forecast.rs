//! The queue-wide forecast gives every position the estimate the per-caller Monte Carlo
//! gives it (same law: compared on a range of queue states at many plays, and at the
//! default settings), and the engine reuses one forecast for the announcements of a queue
//! until something ahead or an agent changes.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchboard_acd::ewt::{AgentLoad, EwtConfig, EwtModel, Forecast};
use switchboard_acd::*;

/// A queue state: the model's memory, the line and the agents.
struct State {
    name: &'static str,
    model: EwtModel,
    ahead: Vec<bool>,
    agents: Vec<AgentLoad>,
    wrap_up: f64,
}

fn model(cfg: EwtConfig, handles: impl Iterator<Item = f64>) -> EwtModel {
    let mut m = EwtModel::new(cfg, 180.0);
    for h in handles {
        m.record_handle(h);
    }
    m
}

/// Queue states of different shapes: short and long handle-time tails, patience, callback
/// entries, ring-outs with a RONA pause and answer delays, agents in every state.
fn states(cfg: EwtConfig) -> Vec<State> {
    let spread = |n: usize| (0..n).map(|i| 60.0 + (i % 240) as f64);
    // Heavy tail: most calls short, one in ten very long.
    let heavy = |n: usize| {
        (0..n).map(|i| {
            if i % 10 == 0 {
                900.0 + i as f64
            } else {
                40.0 + (i % 50) as f64
            }
        })
    };
    let mut out = Vec::new();

    let m = model(cfg, spread(500));
    out.push(State {
        name: "busy agents, nobody abandons",
        model: m,
        ahead: vec![true; 300],
        agents: (0..10)
            .map(|i| AgentLoad::Busy {
                age: 10.0 * i as f64,
            })
            .collect(),
        wrap_up: 10.0,
    });

    let mut m = model(cfg, spread(500));
    for i in 0..200 {
        m.record_departure(30.0 + (i % 90) as f64, i % 3 == 0);
    }
    out.push(State {
        name: "impatient callers, some callback entries, wrap-ups ending",
        model: m,
        ahead: (0..300).map(|i| i % 7 != 3).collect(),
        agents: vec![
            AgentLoad::FreeIn(4.0),
            AgentLoad::FreeIn(25.0),
            AgentLoad::Busy { age: 100.0 },
            AgentLoad::Busy { age: 5.0 },
            AgentLoad::Starting,
        ],
        wrap_up: 15.0,
    });

    let mut m = model(cfg, heavy(1000));
    for i in 0..300 {
        m.record_departure(50.0 + (i % 200) as f64, i % 4 == 0);
    }
    out.push(State {
        name: "heavy-tailed handle times, old calls",
        model: m,
        ahead: vec![true; 300],
        agents: (0..8)
            .map(|i| AgentLoad::Busy {
                age: 150.0 * i as f64,
            })
            .collect(),
        wrap_up: 0.0,
    });

    let mut m = model(cfg, spread(300));
    m.set_ring_policy(15.0, Some(30.0));
    for i in 0..200 {
        m.record_offer(if i % 5 == 0 {
            None
        } else {
            Some(3.0 + (i % 7) as f64)
        });
        m.record_departure(40.0 + (i % 60) as f64, i % 5 == 0);
    }
    out.push(State {
        name: "one offer in five rings out, answers after 3-9 s",
        model: m,
        ahead: vec![true; 300],
        agents: vec![
            AgentLoad::Busy { age: 30.0 },
            AgentLoad::Busy { age: 70.0 },
            AgentLoad::Starting,
        ],
        wrap_up: 5.0,
    });

    let mut m = model(cfg, spread(20));
    m.set_ring_policy(20.0, None);
    for i in 0..50 {
        m.record_offer(if i % 10 == 0 { None } else { Some(2.0) });
    }
    out.push(State {
        name: "short history (prior mixed in), ring-outs without return",
        model: m,
        ahead: vec![true; 60],
        agents: vec![
            AgentLoad::Busy { age: 20.0 },
            AgentLoad::Busy { age: 200.0 },
            AgentLoad::FreeIn(12.0),
            AgentLoad::Starting,
        ],
        wrap_up: 0.0,
    });

    // Callers give up faster than the one agent frees: in most plays the caller being
    // estimated has left before it is reached, so its wait-had-it-stayed decides the law.
    let mut m = model(cfg, (0..100).map(|i| 90.0 + (i % 20) as f64));
    m.set_ring_policy(15.0, Some(30.0));
    for i in 0..100 {
        m.record_offer(if i % 3 == 0 { None } else { Some(10.0) });
        m.record_departure(20.0, i % 2 == 0);
    }
    out.push(State {
        name: "patience far below the wait, slow answers and ring-outs",
        model: m,
        ahead: vec![true; 40],
        agents: vec![AgentLoad::Busy { age: 50.0 }],
        wrap_up: 0.0,
    });
    out
}

/// The per-caller estimate and the forecast's of the caller with `k` ahead.
fn both(s: &mut State, f: &mut Forecast, k: usize, quantile: f64, seed: u64) -> [(f64, f64); 2] {
    let within = 120.0;
    let mut rng = SmallRng::seed_from_u64(seed);
    let per_caller = s
        .model
        .estimate_at(
            &mut rng,
            &s.ahead[..k],
            &s.agents,
            s.wrap_up,
            within,
            quantile,
        )
        .unwrap();
    let from_forecast = f.estimate(k, 0.0, within, quantile).unwrap();
    [
        (per_caller.bound, per_caller.p_answered_within),
        (from_forecast.bound, from_forecast.p_answered_within),
    ]
}

#[test]
fn the_forecast_has_the_per_caller_law_at_every_position() {
    // Many plays each, so sampling noise is small next to any real difference.
    let cfg = EwtConfig {
        samples: 2000,
        exact_ahead: 10_000,
        ..EwtConfig::default()
    };
    for (i, mut s) in states(cfg).into_iter().enumerate() {
        let mut f = Forecast::default();
        let mut rng = SmallRng::seed_from_u64(100 + i as u64);
        assert!(f.make(&s.model, &mut rng, 0.0, &s.ahead, 0, &s.agents, s.wrap_up));
        assert_eq!(f.positions(), s.ahead.len() + 1);
        for k in [0, 3, 30, s.ahead.len() / 2, s.ahead.len()] {
            for q in [0.5, 0.9] {
                let [(a, pa), (b, pb)] = both(&mut s, &mut f, k, q, 7 + k as u64);
                let tol = 0.05 * a.max(b) + 2.0;
                assert!(
                    (a - b).abs() <= tol,
                    "{}: {k} ahead, quantile {q}: per caller {a:.1} s, forecast {b:.1} s",
                    s.name
                );
                assert!(
                    (pa - pb).abs() <= 0.04,
                    "{}: {k} ahead: P(answered within 120 s) per caller {pa:.3}, forecast {pb:.3}",
                    s.name
                );
            }
        }
    }
}

#[test]
fn at_the_default_settings_the_two_agree_within_a_few_percent() {
    // Fewer plays (256, fewer past 200 ahead) as the engine draws them: the two are
    // independent estimates of the same quantile.
    let cfg = EwtConfig::default();
    let handles = (0..2000).map(|i| 30.0 + (i * 37 % 300) as f64);
    let mut m = model(cfg, handles);
    for i in 0..1000 {
        m.record_departure(100.0 + (i % 900) as f64, i % 6 == 0);
    }
    let mut s = State {
        name: "200 agents, 5,000 waiting",
        model: m,
        ahead: vec![true; 5000],
        agents: (0..200)
            .map(|i| AgentLoad::Busy {
                age: (i * 7 % 300) as f64,
            })
            .collect(),
        wrap_up: 5.0,
    };
    let mut f = Forecast::default();
    let mut rng = SmallRng::seed_from_u64(3);
    assert!(f.make(&s.model, &mut rng, 0.0, &s.ahead, 0, &s.agents, s.wrap_up));
    for k in [0, 50, 199, 400, 1000, 2500, 5000] {
        let [(a, _), (b, _)] = both(&mut s, &mut f, k, 0.8, k as u64);
        assert!(
            (a - b).abs() <= 0.06 * a.max(b) + 3.0,
            "{k} ahead: per caller {a:.1} s, forecast {b:.1} s"
        );
    }
}

#[test]
fn a_forecast_read_later_is_that_much_shorter_and_holds_only_while_nothing_moved() {
    let cfg = EwtConfig::default();
    let m = model(cfg, (0..100).map(|_| 100.0));
    let agents = [AgentLoad::FreeIn(30.0), AgentLoad::Busy { age: 40.0 }];
    let mut f = Forecast::default();
    let mut rng = SmallRng::seed_from_u64(1);
    assert!(f.make(&m, &mut rng, 1000.0, &[true, true], 4, &agents, 0.0));
    // Every handle time is 100 s: the wrap-up ends at 30 s, the call in 60 s.
    assert_eq!(f.estimate(0, 1000.0, 0.0, 0.8).unwrap().bound, 30.0);
    assert_eq!(f.estimate(1, 1000.0, 0.0, 0.8).unwrap().bound, 60.0);
    assert_eq!(f.estimate(2, 1000.0, 0.0, 0.8).unwrap().bound, 130.0);
    // Four joiners beyond the line are covered, no more.
    assert!(f.estimate(6, 1000.0, 0.0, 0.8).is_some());
    assert!(f.estimate(7, 1000.0, 0.0, 0.8).is_none());
    // Read 3 s later, with the agents where the forecast left them.
    let later = [AgentLoad::FreeIn(27.0), AgentLoad::Busy { age: 43.0 }];
    assert!(f.holds(1003.0, &later, 5.0));
    assert_eq!(f.estimate(0, 1003.0, 0.0, 0.8).unwrap().bound, 27.0);
    assert_eq!(f.estimate(1, 1003.0, 0.0, 0.8).unwrap().bound, 57.0);
    // Not when an agent moved, nor past the reuse age, nor before it was made.
    assert!(!f.holds(1003.0, &[later[0], AgentLoad::Busy { age: 0.0 }], 5.0));
    assert!(!f.holds(1003.0, &later[..1], 5.0));
    assert!(!f.holds(
        1006.0,
        &[AgentLoad::FreeIn(24.0), AgentLoad::Busy { age: 46.0 }],
        5.0
    ));
    assert!(!f.holds(999.0, &agents, 5.0));
    // No agents: nothing to forecast.
    assert!(!f.make(&m, &mut rng, 1000.0, &[true], 0, &[], 0.0));
    assert!(f.estimate(0, 1000.0, 0.0, 0.8).is_none());
}

const Q: QueueId = QueueId(1);

fn s(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// A queue of `callers` waiting for `agents` busy agents, announcing every 60 s.
fn storm(callers: u64, agents: u32) -> Acd {
    let mut acd = Acd::new(AcdConfig {
        seed: 11,
        ..AcdConfig::default()
    });
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.announce_every = Some(s(60));
    qc.announce_at_join = true;
    qc.wrap_up = Duration::ZERO;
    acd.add_queue(Q, qc).unwrap();
    for a in 1..=agents {
        acd.add_agent(AgentConfig::new(AgentId(a), vec![Q]))
            .unwrap();
        acd.handle_login(s(0), AgentId(a)).unwrap();
        let call = CallId(1_000_000 + u64::from(a));
        acd.handle_join(s(0), Join::new(call, Q)).unwrap();
        acd.handle_offer_answered(s(0), call, AgentId(a)).unwrap();
    }
    for c in 1..=callers {
        acd.handle_join(s(1) + Duration::from_millis(c), Join::new(CallId(c), Q))
            .unwrap();
    }
    acd
}

/// (call, bound) of the announcements in the engine's output.
fn bounds(acd: &mut Acd) -> Vec<(CallId, Option<Duration>)> {
    std::iter::from_fn(|| acd.poll_output())
        .filter_map(|o| match o {
            Output::Announce {
                call, ewt_bound, ..
            } => Some((call, ewt_bound)),
            _ => None,
        })
        .collect()
}

#[test]
fn one_forecast_serves_a_queue_until_something_ahead_changes() {
    let mut acd = storm(500, 5);
    let joined = bounds(&mut acd);
    assert_eq!(joined.len(), 500);
    assert!(joined.iter().all(|(_, b)| b.is_some()));
    // The first join made the forecast; the other 499 were covered by its joiners only
    // while they fitted in: a handful of forecasts for 500 joins, not 500 simulations.
    let at_join = acd.forecasts_made();
    assert!(at_join <= 500 / 64 + 1, "{at_join} forecasts for 500 joins");
    // Bounds grow with the position.
    let b = |i: usize| joined[i].1.unwrap();
    assert!(
        b(0) < b(100) && b(100) < b(499),
        "{:?} {:?} {:?}",
        b(0),
        b(100),
        b(499)
    );
    // The periodic round (all due within the same second) reads one new forecast.
    acd.handle_timeout(s(62));
    let round = bounds(&mut acd);
    assert_eq!(round.len(), 500);
    assert_eq!(acd.forecasts_made(), at_join + 1);
    // A caller ahead hangs up: the next announcement needs a new forecast.
    acd.handle_call_ended(s(63), CallId(1)).unwrap();
    acd.handle_timeout(s(122));
    assert_eq!(bounds(&mut acd).len(), 499);
    assert_eq!(acd.forecasts_made(), at_join + 2);
}

#[test]
fn the_forecast_is_deterministic_given_the_seed() {
    let run = || {
        let mut acd = storm(300, 4);
        let mut all = bounds(&mut acd);
        acd.handle_timeout(s(70));
        all.extend(bounds(&mut acd));
        all
    };
    assert_eq!(run(), run());
}

#[test]
fn a_lone_join_between_two_answers_does_not_pay_for_a_forecast() {
    let mut acd = storm(300, 3);
    bounds(&mut acd);
    let before = acd.forecasts_made();
    // Each turn: an agent's call ends, the agent takes the head of the line, a new caller
    // joins at the back with an announcement. One estimate per change: each is the
    // caller's own, no forecast is made for it.
    let mut on_call: Vec<(AgentId, CallId)> = (1..=3u32)
        .map(|a| (AgentId(a), CallId(1_000_000 + u64::from(a))))
        .collect();
    for turn in 0..20u64 {
        let now = s(10 + turn);
        let (agent, call) = on_call.remove(0);
        acd.handle_call_ended(now, call).unwrap();
        let offered = std::iter::from_fn(|| acd.poll_output())
            .find_map(|o| match o {
                Output::Offer { call, agent: a, .. } if a == agent => Some(call),
                _ => None,
            })
            .expect("the freed agent is offered the head of the line");
        acd.handle_offer_answered(now, offered, agent).unwrap();
        on_call.push((agent, offered));
        acd.handle_join(now, Join::new(CallId(10_000 + turn), Q))
            .unwrap();
        let joined = bounds(&mut acd);
        assert!(
            matches!(joined.as_slice(), [(c, Some(_))] if *c == CallId(10_000 + turn)),
            "{joined:?}"
        );
    }
    assert_eq!(acd.forecasts_made(), before);
}
