//! The queue features the server's configuration reaches, one at a time: queue-level skill
//! tiers with absolute minimums, overflow on a predicted service level below a configured
//! share (scenario and simulation), and the busy-everywhere agent state.

use std::time::Duration;

use switchboard_acd::sim::{self, SimConfig, SimOutcome, SimQueue};
use switchboard_acd::*;

const Q: QueueId = QueueId(1);
const Q2: QueueId = QueueId(2);
const ENGLISH: SkillId = SkillId(3);

fn t(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn drain(acd: &mut Acd) -> Vec<Output> {
    std::iter::from_fn(|| acd.poll_output()).collect()
}

fn offers(outs: &[Output]) -> Vec<(CallId, AgentId)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Offer { call, agent, .. } => Some((*call, *agent)),
            _ => None,
        })
        .collect()
}

fn english(min: u8) -> Vec<SkillReq> {
    vec![SkillReq {
        skill: ENGLISH,
        min,
    }]
}

/// `skill_tiers = [{after = 0, skills = {english = 3}}, {after = 60, skills = {english = 1}}]`:
/// a plain caller (no skills of their own) is offered only to english >= 3 at first, and to
/// english >= 1 once they have waited a minute; an agent without english never.
#[test]
fn queue_skill_tiers_require_absolute_minimums_that_widen_with_the_wait() {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(Strategy::SkillsBest);
    qc.skill_tiers = vec![
        SkillTier {
            after: t(0),
            relax: 0,
            skills: english(3),
        },
        SkillTier {
            after: t(60),
            relax: 0,
            skills: english(1),
        },
    ];
    acd.add_queue(Q, qc).unwrap();
    // Agent 1: english 1; agent 2: no english; agent 3: english 5 (busy elsewhere).
    for (id, prof) in [(1u32, Some(1u8)), (2, None), (3, Some(5))] {
        let mut a = AgentConfig::new(AgentId(id), vec![Q]);
        if let Some(p) = prof {
            a.skills.push((ENGLISH, p));
        }
        acd.add_agent(a).unwrap();
        acd.handle_login(t(0), AgentId(id)).unwrap();
    }
    acd.handle_agent_busy(t(1), AgentId(3), BusyKind::Direct)
        .unwrap();
    drain(&mut acd);
    acd.handle_join(t(10), Join::new(CallId(1), Q)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty(), "english 3 needed");
    acd.handle_timeout(t(69));
    assert!(offers(&drain(&mut acd)).is_empty());
    assert_eq!(acd.poll_timeout().map(|d| d <= t(70)), Some(true));
    acd.handle_timeout(t(70));
    assert_eq!(
        offers(&drain(&mut acd)),
        vec![(CallId(1), AgentId(1))],
        "after 60 s english 1 is enough, and agent 2 (no english) is never offered"
    );
    // A new caller at the first tier goes to the english-5 agent once free, not agent 2.
    acd.handle_join(t(71), Join::new(CallId(2), Q)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
    acd.handle_agent_idle(t(72), AgentId(3)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(2), AgentId(3))]);
}

fn sales_with_reserve(below: Option<f64>) -> Acd {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.overflow = Some(OverflowRule {
        to: vec![Q2],
        after_wait: None,
        predicted_sl_below: below,
    });
    acd.add_queue(Q, qc).unwrap();
    acd.add_queue(Q2, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(1), vec![Q]))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(9), vec![Q2]))
        .unwrap();
    acd.handle_login(t(0), AgentId(1)).unwrap();
    acd.handle_login(t(0), AgentId(9)).unwrap();
    // Sales' only agent has just taken a call (prior handle time 180 s).
    acd.handle_join(t(1), Join::new(CallId(1), Q)).unwrap();
    acd.handle_offer_answered(t(2), CallId(1), AgentId(1))
        .unwrap();
    drain(&mut acd);
    acd
}

/// The configured share decides: with `predicted_sl_below = 0.7` the next caller (almost no
/// chance of an answer within 20 s) goes to the reserve queue and is offered its agent; with
/// no threshold the caller waits in sales.
#[test]
fn predicted_service_level_below_the_configured_share_overflows_to_the_reserve() {
    let mut acd = sales_with_reserve(Some(0.7));
    acd.handle_join(t(3), Join::new(CallId(2), Q)).unwrap();
    let out = drain(&mut acd);
    assert!(out.contains(&Output::Overflow {
        call: CallId(2),
        from: Q,
        to: Q2
    }));
    assert_eq!(offers(&out), vec![(CallId(2), AgentId(9))]);

    let mut acd = sales_with_reserve(None);
    acd.handle_join(t(3), Join::new(CallId(2), Q)).unwrap();
    let out = drain(&mut acd);
    assert!(offers(&out).is_empty(), "{out:?}");
    assert_eq!(acd.call_queue(CallId(2)), Some(Q));
}

/// A threshold of 0 never overflows, even a hopeless caller (the share is a real knob).
#[test]
fn a_zero_threshold_never_overflows() {
    let mut acd = sales_with_reserve(Some(0.0));
    acd.handle_join(t(3), Join::new(CallId(2), Q)).unwrap();
    drain(&mut acd);
    assert_eq!(acd.call_queue(CallId(2)), Some(Q));
}

/// Simulation: sales (3 agents) offered 1.1 Erlang per agent, a reserve queue (3 agents)
/// lightly loaded. Overflowing on a predicted service level below 0.7 raises the share of
/// sales callers answered within 20 s well above what sales alone gives them; every caller
/// moved went to the reserve; the books balance and nobody is double-booked.
#[test]
fn overflow_on_predicted_service_level_lifts_the_sales_service_level_in_simulation() {
    let run = |below: Option<f64>| {
        let mut qc = QueueConfig::new(Strategy::LongestIdle);
        qc.overflow = Some(OverflowRule {
            to: vec![Q2],
            after_wait: None,
            predicted_sl_below: below,
        });
        // 3 agents x 3,600 s / 190 s = ~57 calls/h at full load; offer 63.
        let mut sales = SimQueue::new(Q, qc, 63.0);
        sales.patience_mean = Some(t(600));
        let reserve = SimQueue::new(Q2, QueueConfig::new(Strategy::LongestIdle), 15.0);
        let mut cfg = SimConfig::new(17, Duration::from_secs(12 * 3600))
            .with_agents(1, 3, &[Q])
            .with_agents(10, 3, &[Q2]);
        cfg.warmup = Duration::from_secs(1800);
        cfg.queues = vec![sales, reserve];
        let r = sim::run(cfg);
        assert_eq!(r.offers_to_engaged_agents, 0);
        assert!(r.audit.clean(), "{:?}", r.audit);
        assert!(r.stats.iter().all(|(_, s)| s.balanced()));
        let sales_calls: Vec<_> = r.calls.iter().filter(|c| c.queue == Q).collect();
        let within = sales_calls
            .iter()
            .filter(|c| c.outcome == SimOutcome::Answered && c.waited.is_some_and(|w| w <= t(20)))
            .count();
        let sl = within as f64 / sales_calls.len().max(1) as f64;
        let overflowed = r
            .stats
            .iter()
            .find(|(q, _)| *q == Q)
            .map(|(_, s)| s.overflowed)
            .unwrap_or(0);
        (sl, overflowed)
    };
    let (sl_alone, none) = run(None);
    let (sl_overflow, moved) = run(Some(0.7));
    println!("sales SL alone {sl_alone:.3}, with overflow {sl_overflow:.3} ({moved} moved)");
    assert_eq!(none, 0);
    assert!(moved > 20, "callers moved to the reserve: {moved}");
    assert!(
        sl_overflow > sl_alone + 0.15,
        "sales SL with overflow {sl_overflow:.3} vs alone {sl_alone:.3}"
    );
}
