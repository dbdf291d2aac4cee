//! The forecast of a group of queues sharing agents gives every caller of every queue the
//! estimate the per-caller shared Monte Carlo (`ewt::estimate_shared`) gives it: same law,
//! compared on shared-agent states (dedicated and shared agents, priority callers, callback
//! entries, impatient callers, ring-outs with and without a RONA return) at many plays and at
//! the default settings.

use rand::rngs::SmallRng;
use rand::SeedableRng;
use switchboard_acd::ewt::{
    estimate_shared, AgentLoad, EwtConfig, EwtModel, GroupCaller, GroupForecast, SharedAgent,
    SharedQueue,
};

/// A group state: the queues' models and wrap-ups, the callers in key order, the agents.
struct Group {
    name: &'static str,
    models: Vec<EwtModel>,
    wrap_up: Vec<f64>,
    callers: Vec<GroupCaller>,
    agents: Vec<SharedAgent>,
}

fn model(cfg: EwtConfig, handles: impl Iterator<Item = f64>) -> EwtModel {
    let mut m = EwtModel::new(cfg, 180.0);
    for h in handles {
        m.record_handle(h);
    }
    m
}

fn patient(mut m: EwtModel, every: usize, wait: f64) -> EwtModel {
    for i in 0..300 {
        m.record_departure(wait + (i % 50) as f64, i % every == 0);
    }
    m
}

/// `n` callers spread over the queues by `queue_of(i)`, keys in join order; callers for
/// whom `priority(i)` get a key of priority class 0 (ahead of everyone of class 1);
/// every `callback_every`-th is a callback entry.
fn line(
    n: usize,
    queue_of: impl Fn(usize) -> usize,
    priority: impl Fn(usize) -> bool,
    callback_every: usize,
) -> Vec<GroupCaller> {
    let mut v: Vec<GroupCaller> = (0..n)
        .map(|i| GroupCaller {
            queue: queue_of(i),
            key: (if priority(i) { 0u64 } else { 1u64 << 56 }) | i as u64,
            may_abandon: callback_every == 0 || i % callback_every != callback_every - 1,
        })
        .collect();
    v.sort_by_key(|c| c.key);
    v
}

fn busy(age: f64, current: usize, serves: u64) -> SharedAgent {
    SharedAgent {
        load: AgentLoad::Busy { age },
        current,
        serves,
    }
}

fn groups(cfg: EwtConfig) -> Vec<Group> {
    let spread = |n: usize| (0..n).map(|i| 60.0 + (i % 240) as f64);
    let short = |n: usize| (0..n).map(|i| 30.0 + (i % 60) as f64);
    let mut out = Vec::new();

    // Two queues, 4 agents only in A, 4 in both, 2 only in B; nobody abandons.
    let mut agents = Vec::new();
    for i in 0..10 {
        let serves = match i {
            0..=3 => 0b01,
            4..=7 => 0b11,
            _ => 0b10,
        };
        agents.push(busy(15.0 * i as f64, usize::from(serves == 0b10), serves));
    }
    out.push(Group {
        name: "dedicated and shared agents, nobody abandons",
        models: vec![model(cfg, spread(500)), model(cfg, short(500))],
        wrap_up: vec![10.0, 5.0],
        callers: line(200, |i| usize::from(i % 3 == 0), |_| false, 0),
        agents,
    });

    // Three queues, every agent in two of them; impatient callers, priority callers and
    // callback entries; agents in every state.
    let mut agents = Vec::new();
    for i in 0..9u64 {
        let serves = [0b011, 0b110, 0b101][(i % 3) as usize];
        let load = match i % 4 {
            0 => AgentLoad::FreeIn(3.0 * i as f64),
            1 => AgentLoad::Starting,
            _ => AgentLoad::Busy {
                age: 20.0 * i as f64,
            },
        };
        agents.push(SharedAgent {
            load,
            current: (i % 3) as usize,
            serves,
        });
    }
    out.push(Group {
        name: "three queues, impatient, priorities, callback entries",
        models: vec![
            patient(model(cfg, spread(500)), 4, 60.0),
            patient(model(cfg, short(500)), 3, 40.0),
            patient(model(cfg, spread(300)), 6, 90.0),
        ],
        wrap_up: vec![5.0, 0.0, 10.0],
        callers: line(150, |i| i % 3, |i| i % 11 == 5, 7),
        agents,
    });

    // Ring-outs with a RONA return and answer delays, impatient callers (ghost offers ring
    // out too).
    let mut a = patient(model(cfg, spread(500)), 3, 50.0);
    let mut b = patient(model(cfg, short(500)), 2, 30.0);
    a.set_ring_policy(15.0, Some(30.0));
    b.set_ring_policy(10.0, Some(20.0));
    for i in 0..200 {
        a.record_offer(if i % 4 == 0 {
            None
        } else {
            Some(2.0 + (i % 5) as f64)
        });
        b.record_offer(if i % 3 == 0 { None } else { Some(4.0) });
    }
    out.push(Group {
        name: "ring-outs with a RONA return, impatient callers",
        models: vec![a, b],
        wrap_up: vec![0.0, 5.0],
        callers: line(80, |i| usize::from(i % 2 == 1), |i| i % 9 == 0, 0),
        agents: vec![
            busy(10.0, 0, 0b01),
            busy(40.0, 1, 0b11),
            busy(80.0, 0, 0b11),
            busy(5.0, 1, 0b10),
        ],
    });

    // Ring-outs without return (paused for good): many plays end with nobody left.
    let mut a = model(cfg, spread(40));
    let mut b = patient(model(cfg, spread(40)), 5, 100.0);
    a.set_ring_policy(20.0, None);
    b.set_ring_policy(20.0, None);
    for i in 0..50 {
        a.record_offer(if i % 10 == 0 { None } else { Some(2.0) });
        b.record_offer(if i % 8 == 0 { None } else { Some(1.0) });
    }
    out.push(Group {
        name: "ring-outs without return",
        models: vec![a, b],
        wrap_up: vec![0.0, 0.0],
        callers: line(40, |i| usize::from(i % 4 == 0), |_| false, 5),
        agents: vec![
            busy(20.0, 0, 0b11),
            busy(200.0, 1, 0b11),
            SharedAgent {
                load: AgentLoad::FreeIn(12.0),
                current: 0,
                serves: 0b01,
            },
            SharedAgent {
                load: AgentLoad::Starting,
                current: 1,
                serves: 0b10,
            },
        ],
    });

    // Callers give up long before the one shared agent frees: the waits-had-they-stayed
    // (ghosts) decide the law.
    let mut a = model(cfg, (0..100).map(|i| 90.0 + (i % 20) as f64));
    let mut b = model(cfg, (0..100).map(|i| 50.0 + (i % 20) as f64));
    a.set_ring_policy(15.0, Some(30.0));
    b.set_ring_policy(15.0, Some(30.0));
    for i in 0..100 {
        a.record_offer(if i % 3 == 0 { None } else { Some(10.0) });
        b.record_offer(Some(5.0));
        a.record_departure(20.0, i % 2 == 0);
        b.record_departure(30.0, i % 2 == 0);
    }
    out.push(Group {
        name: "patience far below the wait, one shared agent",
        models: vec![a, b],
        wrap_up: vec![0.0, 0.0],
        callers: line(30, |i| i % 2, |_| false, 0),
        agents: vec![busy(50.0, 0, 0b11)],
    });
    out
}

fn views<'a>(g: &'a Group, aheads: &'a [Vec<(u64, bool)>]) -> Vec<SharedQueue<'a>> {
    g.models
        .iter()
        .zip(&g.wrap_up)
        .zip(aheads)
        .map(|((model, wrap_up), ahead)| SharedQueue {
            model,
            wrap_up: *wrap_up,
            ahead,
        })
        .collect()
}

fn forecast(g: &Group, cfg: &EwtConfig, seed: u64) -> GroupForecast {
    let empty = vec![Vec::new(); g.models.len()];
    let qs = views(g, &empty);
    let mut f = GroupForecast::default();
    let mut rng = SmallRng::seed_from_u64(seed);
    assert!(f.make(cfg, &mut rng, 0.0, &qs, &g.callers, &g.agents));
    assert_eq!(f.positions(), g.callers.len());
    f
}

/// The per-caller estimate and the forecast's of the caller at `pos` in key order.
fn both(
    g: &Group,
    f: &mut GroupForecast,
    cfg: &EwtConfig,
    pos: usize,
    quantile: f64,
    seed: u64,
) -> [(f64, f64); 2] {
    let within = 120.0;
    let me = g.callers[pos];
    let mut aheads = vec![Vec::new(); g.models.len()];
    for c in &g.callers[..pos] {
        aheads[c.queue].push((c.key, c.may_abandon));
    }
    let qs = views(g, &aheads);
    let mut rng = SmallRng::seed_from_u64(seed);
    let per_caller = estimate_shared(
        &mut rng, cfg, &qs, &g.agents, me.queue, me.key, within, quantile,
    )
    .expect("agents serve the caller's queue");
    let from_forecast = f.estimate(pos, me.queue, 0.0, within, quantile).unwrap();
    [
        (per_caller.bound, per_caller.p_answered_within),
        (from_forecast.bound, from_forecast.p_answered_within),
    ]
}

#[test]
fn the_group_forecast_has_the_per_caller_law_for_every_caller() {
    // Many plays each, so sampling noise is small next to any real difference.
    let cfg = EwtConfig {
        samples: 2000,
        exact_ahead: 10_000,
        ..EwtConfig::default()
    };
    for (i, g) in groups(cfg).into_iter().enumerate() {
        let mut f = forecast(&g, &cfg, 100 + i as u64);
        let n = g.callers.len();
        // The head, a few per queue along the line, and the last caller.
        let mut picks = vec![0, 1, 2, n / 3, n / 2, n - 1];
        for q in 0..g.models.len() {
            picks.extend(
                g.callers
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.queue == q)
                    .map(|(p, _)| p)
                    .step_by(n / 4 + 1)
                    .take(3),
            );
        }
        for pos in picks {
            for q in [0.5, 0.9] {
                let seed = 7 + pos as u64;
                let [(a, pa), (b, pb)] = both(&g, &mut f, &cfg, pos, q, seed);
                let tol = 0.05 * a.max(b) + 2.0;
                // At the edge of an atom (an agent whose wrap-up ends at a known time) the
                // quantile jumps: there the same law means the forecast's bound is the
                // per-caller bound of a level within 0.03.
                let mut near_level = || {
                    let [(lo, _), _] = both(&g, &mut f, &cfg, pos, q - 0.03, seed);
                    let [(hi, _), _] = both(&g, &mut f, &cfg, pos, q + 0.03, seed);
                    b >= lo - 0.02 * lo - 2.0 && b <= hi + 0.02 * hi + 2.0
                };
                assert!(
                    (a - b).abs() <= tol || near_level(),
                    "{}: caller {pos} (queue {}), quantile {q}: per caller {a:.1} s, forecast {b:.1} s",
                    g.name,
                    g.callers[pos].queue
                );
                assert!(
                    (pa - pb).abs() <= 0.04,
                    "{}: caller {pos}: P(answered within 120 s) per caller {pa:.3}, forecast {pb:.3}",
                    g.name
                );
            }
        }
    }
}

#[test]
fn at_the_default_settings_the_two_agree_within_a_few_percent() {
    // Three queues, 200 agents (120 shared), 3,000 waiting: plays as the engine draws them.
    let cfg = EwtConfig::default();
    let handles = |o: usize| (0..2000).map(move |i| 30.0 + ((i * 37 + o) % 300) as f64);
    let models = (0..3)
        .map(|q| patient(model(cfg, handles(q * 11)), 6, 100.0 + 100.0 * q as f64))
        .collect();
    let agents = (0..200)
        .map(|i| {
            let serves = match i % 5 {
                0 => 0b001,
                1 => 0b010,
                2 => 0b011,
                3 => 0b110,
                _ => 0b111,
            };
            busy((i * 7 % 300) as f64, i % 3, serves)
        })
        .collect();
    let g = Group {
        name: "200 agents, 3 queues, 3,000 waiting",
        models,
        wrap_up: vec![5.0, 0.0, 10.0],
        callers: line(3000, |i| [0, 0, 1, 2][i % 4], |i| i % 50 == 7, 0),
        agents,
    };
    let mut f = forecast(&g, &cfg, 3);
    for pos in [0, 50, 199, 400, 1000, 2999] {
        let [(a, _), (b, _)] = both(&g, &mut f, &cfg, pos, 0.8, pos as u64);
        assert!(
            (a - b).abs() <= 0.06 * a.max(b) + 3.0,
            "caller {pos}: per caller {a:.1} s, forecast {b:.1} s"
        );
    }
}

#[test]
fn a_group_forecast_read_later_is_that_much_shorter_and_holds_only_while_nothing_moved() {
    let cfg = EwtConfig::default();
    let a = model(cfg, (0..100).map(|_| 100.0));
    let b = model(cfg, (0..100).map(|_| 50.0));
    let agents = [
        SharedAgent {
            load: AgentLoad::FreeIn(30.0),
            current: 0,
            serves: 0b11,
        },
        busy(40.0, 1, 0b10),
    ];
    let g = Group {
        name: "exact",
        models: vec![a, b],
        wrap_up: vec![0.0, 0.0],
        // A1 (key 1), B2 (key 2), A3 (key 3).
        callers: vec![
            GroupCaller {
                queue: 0,
                key: 1,
                may_abandon: true,
            },
            GroupCaller {
                queue: 1,
                key: 2,
                may_abandon: true,
            },
            GroupCaller {
                queue: 0,
                key: 3,
                may_abandon: true,
            },
        ],
        agents: agents.to_vec(),
    };
    let empty = vec![Vec::new(); 2];
    let qs = views(&g, &empty);
    let mut f = GroupForecast::default();
    let mut rng = SmallRng::seed_from_u64(1);
    assert!(f.make(&cfg, &mut rng, 1000.0, &qs, &g.callers, &agents));
    // The shared agent frees at 30 s and takes A1; the B-only agent's call (50 s handle
    // times, 40 s in) ends at 10 s: it takes B2; A3 waits for the shared agent's next
    // free moment, 30 + 100 s.
    assert_eq!(f.estimate(0, 0, 1000.0, 0.0, 0.8).unwrap().bound, 30.0);
    assert_eq!(f.estimate(1, 1, 1000.0, 0.0, 0.8).unwrap().bound, 10.0);
    assert_eq!(f.estimate(2, 0, 1000.0, 0.0, 0.8).unwrap().bound, 130.0);
    assert!(f.estimate(3, 0, 1000.0, 0.0, 0.8).is_none());
    // Read 3 s later with the agents where the forecast left them.
    let later = [
        SharedAgent {
            load: AgentLoad::FreeIn(27.0),
            ..agents[0]
        },
        busy(43.0, 1, 0b10),
    ];
    assert!(f.holds(1003.0, &later, 5.0));
    assert_eq!(f.estimate(2, 0, 1003.0, 0.0, 0.8).unwrap().bound, 127.0);
    // Not when an agent moved or serves other queues, nor past the reuse age.
    assert!(!f.holds(1003.0, &[later[0], busy(0.0, 1, 0b10)], 5.0));
    assert!(!f.holds(1003.0, &[later[0], busy(43.0, 1, 0b11)], 5.0));
    assert!(!f.holds(1006.0, &later, 5.0));
    assert!(!f.holds(1003.0, &later[..1], 5.0));
}
