//! The engine reuses one forecast for every announcement of a group of queues sharing
//! agents until something in the group changes (decision 0049), and its announcements
//! agree with the per-caller shared estimate it replaces.

use std::time::Duration;

use switchboard_acd::ewt::EwtConfig;
use switchboard_acd::*;

const A: QueueId = QueueId(1);
const B: QueueId = QueueId(2);

fn s(v: u64) -> Duration {
    Duration::from_secs(v)
}

/// Queues A and B announcing every 60 s; `agents` busy agents, every third only in A, the
/// others in both; `in_a` callers join A, then `in_b` join B.
fn storm(in_a: u64, in_b: u64, agents: u32, ewt: EwtConfig) -> Acd {
    let mut acd = Acd::new(AcdConfig {
        seed: 11,
        ewt,
        ..AcdConfig::default()
    });
    for q in [A, B] {
        let mut qc = QueueConfig::new(Strategy::LongestIdle);
        qc.announce_every = Some(s(60));
        qc.announce_at_join = true;
        qc.wrap_up = Duration::ZERO;
        acd.add_queue(q, qc).unwrap();
    }
    for a in 1..=agents {
        let queues = if a % 3 == 0 { vec![A] } else { vec![A, B] };
        acd.add_agent(AgentConfig::new(AgentId(a), queues)).unwrap();
        acd.handle_login(s(0), AgentId(a)).unwrap();
        let call = CallId(1_000_000 + u64::from(a));
        let q = if a % 3 == 0 || a % 2 == 0 { A } else { B };
        acd.handle_join(s(0), Join::new(call, q)).unwrap();
        acd.handle_offer_answered(s(0), call, AgentId(a)).unwrap();
    }
    for c in 1..=in_a + in_b {
        let q = if c <= in_a { A } else { B };
        acd.handle_join(s(1) + Duration::from_millis(c), Join::new(CallId(c), q))
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
fn one_forecast_serves_the_group_until_something_in_it_changes() {
    let mut acd = storm(480, 20, 6, EwtConfig::default());
    let joined = bounds(&mut acd);
    assert_eq!(joined.len(), 500);
    assert!(joined.iter().all(|(_, b)| b.is_some()));
    // Joiners of the queue that made the forecast read it (64 of them); the first joiner
    // it does not cover gets its own estimate and the next makes a new one: a few
    // forecasts for 480 joins, not 480 estimates. (B's 20 joiners, within the second after
    // the last forecast, get their own.)
    let at_join = acd.forecasts_made();
    assert!(at_join <= 12, "{at_join} forecasts for 500 joins");
    // The periodic round of both queues (all due within the same second) reads one.
    acd.handle_timeout(s(62));
    let round = bounds(&mut acd);
    assert_eq!(round.len(), 500);
    assert_eq!(acd.forecasts_made(), at_join + 1);
    // Bounds grow along each queue's line.
    let bound = |c: u64| {
        round
            .iter()
            .find(|(x, _)| *x == CallId(c))
            .unwrap()
            .1
            .unwrap()
    };
    assert!(bound(1) < bound(200) && bound(200) < bound(480));
    // A caller of B hangs up: a new forecast is made for the round (it was ahead of
    // nobody in A, but the group changed).
    acd.handle_call_ended(s(63), CallId(490)).unwrap();
    acd.handle_timeout(s(122));
    assert_eq!(bounds(&mut acd).len(), 499);
    assert_eq!(acd.forecasts_made(), at_join + 2);
    // A priority caller joins B at the end of B but ahead of everyone in A: the group
    // forecast no longer holds for A's callers either.
    let mut vip = Join::new(CallId(9_999), B);
    vip.priority = 0;
    acd.handle_join(s(123), vip).unwrap();
    bounds(&mut acd);
    let before = acd.forecasts_made();
    acd.handle_timeout(s(182));
    assert_eq!(
        bounds(&mut acd).len(),
        499,
        "the priority caller's turn is at 183 s"
    );
    assert_eq!(acd.forecasts_made(), before + 1);
    // Memory: the group's forecast is a summary, not the plays.
    assert!(
        acd.forecast_bytes() < 256 * 1024,
        "{}",
        acd.forecast_bytes()
    );
}

#[test]
fn the_group_forecast_announces_what_the_per_caller_estimate_did() {
    // reuse_for 0: a forecast only serves the instant it was made in, and the joins and
    // announcements are a millisecond apart, so every estimate is the caller's own.
    let own = EwtConfig {
        reuse_for: 0.0,
        ..EwtConfig::default()
    };
    let mut per_caller = storm(100, 20, 8, own);
    let mut shared = storm(100, 20, 8, EwtConfig::default());
    for acd in [&mut per_caller, &mut shared] {
        bounds(acd);
    }
    let made = (per_caller.forecasts_made(), shared.forecasts_made());
    // Each caller's periodic announcement at its own due time (a millisecond apart).
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for c in 1..=120 {
        let due = s(61) + Duration::from_millis(c);
        per_caller.handle_timeout(due);
        shared.handle_timeout(due);
        a.extend(bounds(&mut per_caller));
        b.extend(bounds(&mut shared));
    }
    assert_eq!(a.len(), 120);
    assert_eq!(
        a.iter().map(|x| x.0).collect::<Vec<_>>(),
        b.iter().map(|x| x.0).collect::<Vec<_>>()
    );
    assert_eq!(
        per_caller.forecasts_made(),
        made.0,
        "every estimate its own"
    );
    assert_eq!(
        shared.forecasts_made(),
        made.1 + 1,
        "one forecast for the round"
    );
    // Independent Monte Carlo estimates of the same quantile: on average within 3 %, and
    // the announcements of the second engine came from one forecast.
    let (mut diff, mut total) = (0.0, 0.0);
    for ((_, x), (_, y)) in a.iter().zip(&b) {
        let (x, y) = (x.unwrap().as_secs_f64(), y.unwrap().as_secs_f64());
        diff += (x - y).abs();
        total += x;
    }
    assert!(
        diff / total < 0.03,
        "mean relative difference {:.3}",
        diff / total
    );
}

#[test]
fn the_group_forecast_is_deterministic_given_the_seed() {
    let run = || {
        let mut acd = storm(200, 10, 5, EwtConfig::default());
        let mut all = bounds(&mut acd);
        acd.handle_timeout(s(70));
        all.extend(bounds(&mut acd));
        all
    };
    assert_eq!(run(), run());
}
