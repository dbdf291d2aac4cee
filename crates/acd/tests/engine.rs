//! Deterministic scenario tests of the engine, one feature at a time: routing strategies,
//! skills, priorities, agent states, exits, overflow and announcements. Callbacks, redials,
//! ringing edge cases, tenants and errors are in engine_lifecycle.rs.

use std::time::Duration;

use switchboard_acd::*;

mod engine_scenario;
use engine_scenario::*;

#[test]
fn longest_idle_picks_the_agent_idle_longest() {
    let mut acd = setup(Strategy::LongestIdle, 3, |_| {});
    assert_eq!(
        offers(&join(&mut acd, 10, 1)),
        vec![(CallId(1), AgentId(1))]
    );
    assert_eq!(
        offers(&join(&mut acd, 11, 2)),
        vec![(CallId(2), AgentId(2))]
    );
}

#[test]
fn ring_all_rings_everyone_and_first_answer_wins() {
    let mut acd = setup(Strategy::RingAll, 3, |_| {});
    let out = join(&mut acd, 10, 1);
    assert_eq!(offers(&out).len(), 3);
    acd.handle_offer_answered(t(12), CallId(1), AgentId(2))
        .unwrap();
    let out = drain(&mut acd);
    let cancelled: Vec<AgentId> = out
        .iter()
        .filter_map(|o| match o {
            Output::CancelOffer { agent, .. } => Some(*agent),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, vec![AgentId(1), AgentId(3)]);
    assert_eq!(
        acd.handle_offer_answered(t(12), CallId(1), AgentId(3)),
        Err(AcdError::StaleOffer {
            call: CallId(1),
            agent: AgentId(3)
        })
    );
    assert_eq!(acd.agent_state(AgentId(1)), Some(&AgentState::Available));
    assert!(acd.audit().clean());
}

#[test]
fn round_robin_remembers_where_it_stopped() {
    let mut acd = setup(Strategy::RoundRobin, 3, |q| q.wrap_up = Duration::ZERO);
    let mut got = Vec::new();
    for c in 1..=5u64 {
        let o = offers(&join(&mut acd, 10 + c * 10, c));
        let (_, a) = o[0];
        got.push(a.0);
        serve(&mut acd, 10 + c * 10, c, a.0, 1);
    }
    assert_eq!(got, vec![1, 2, 3, 1, 2]);
}

#[test]
fn fewest_calls_balances_answered_counts() {
    let mut acd = setup(Strategy::FewestCalls, 2, |q| q.wrap_up = Duration::ZERO);
    // Agent 1 takes the first call; agent 2 then has fewer calls even though agent 1 is now
    // idle longer.
    let o = offers(&join(&mut acd, 10, 1));
    assert_eq!(o, vec![(CallId(1), AgentId(1))]);
    serve(&mut acd, 10, 1, 1, 5);
    let o = offers(&join(&mut acd, 100, 2));
    assert_eq!(o, vec![(CallId(2), AgentId(2))]);
}

#[test]
fn random_is_seeded_and_spreads() {
    let pick = |seed: u64| {
        let mut acd = Acd::new(AcdConfig {
            seed,
            ..AcdConfig::default()
        });
        acd.add_queue(Q, QueueConfig::new(Strategy::Random))
            .unwrap();
        for i in 1..=8 {
            acd.add_agent(AgentConfig::new(AgentId(i), vec![Q]))
                .unwrap();
            acd.handle_login(t(0), AgentId(i)).unwrap();
        }
        drain(&mut acd);
        acd.handle_join(t(1), Join::new(CallId(1), Q)).unwrap();
        offers(&drain(&mut acd))[0].1
    };
    assert_eq!(pick(7), pick(7));
    let distinct: std::collections::HashSet<AgentId> = (0..20).map(pick).collect();
    assert!(distinct.len() >= 3, "{distinct:?}");
}

fn skilled(strategy: Strategy, tiers: Vec<SkillTier>) -> Acd {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(strategy);
    qc.skill_tiers = tiers;
    acd.add_queue(Q, qc).unwrap();
    // Agent 1: French 4 (idle longest); agent 2: French 9; agent 3: no French.
    for (id, prof) in [(1u32, Some(4u8)), (2, Some(9)), (3, None)] {
        let mut a = AgentConfig::new(AgentId(id), vec![Q]);
        if let Some(p) = prof {
            a.skills.push((SkillId(7), p));
        }
        acd.add_agent(a).unwrap();
        acd.handle_login(t(u64::from(id)), AgentId(id)).unwrap();
    }
    drain(&mut acd);
    acd
}

fn french(call: u64, min: u8) -> Join {
    let mut j = Join::new(CallId(call), Q);
    j.skills.push(SkillReq {
        skill: SkillId(7),
        min,
    });
    j
}

#[test]
fn skills_best_picks_highest_proficiency() {
    let mut acd = skilled(Strategy::SkillsBest, vec![]);
    acd.handle_join(t(10), french(1, 1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(2))]);
}

#[test]
fn skills_longest_idle_picks_longest_idle_qualified() {
    let mut acd = skilled(Strategy::SkillsLongestIdle, vec![]);
    acd.handle_join(t(10), french(1, 1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(1))]);
}

#[test]
fn skill_widening_after_waiting() {
    let mut acd = skilled(Strategy::SkillsBest, vec![SkillTier::relax(t(30), 3)]);
    // Agent 2 (French 9) is busy elsewhere; the call needs French 7, agent 1 has 4.
    acd.handle_agent_busy(t(5), AgentId(2), BusyKind::Direct)
        .unwrap();
    acd.handle_join(t(10), french(1, 7)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
    acd.handle_timeout(t(39));
    assert!(offers(&drain(&mut acd)).is_empty());
    assert_eq!(acd.poll_timeout().map(|d| d <= t(40)), Some(true));
    acd.handle_timeout(t(40));
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(1))]);
}

#[test]
fn priority_first_then_fifo() {
    let mut acd = setup(Strategy::LongestIdle, 1, |q| q.wrap_up = Duration::ZERO);
    acd.handle_agent_busy(t(5), AgentId(1), BusyKind::Outbound)
        .unwrap();
    for (c, p) in [(1u64, 0u8), (2, 0), (3, 5), (4, 5), (5, 0)] {
        let mut j = Join::new(CallId(c), Q);
        j.priority = p;
        acd.handle_join(t(10 + c), j).unwrap();
    }
    drain(&mut acd);
    assert_eq!(acd.position(CallId(3)), Some(1));
    assert_eq!(acd.position(CallId(1)), Some(3));
    let mut served = Vec::new();
    acd.handle_agent_idle(t(100), AgentId(1)).unwrap();
    let mut out = drain(&mut acd);
    for i in 0..5u64 {
        let (c, a) = offers(&out)[0];
        served.push(c.0);
        out = serve(&mut acd, 100 + i * 10, c.0, a.0, 5);
    }
    assert_eq!(served, vec![3, 4, 1, 2, 5]);
    assert!(acd.audit().clean());
}

#[test]
fn busy_in_one_queue_is_busy_in_all() {
    let mut acd = Acd::new(AcdConfig::default());
    acd.add_queue(Q, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.add_queue(Q2, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(1), vec![Q, Q2]))
        .unwrap();
    acd.handle_login(t(0), AgentId(1)).unwrap();
    acd.handle_join(t(1), Join::new(CallId(1), Q)).unwrap();
    acd.handle_offer_answered(t(2), CallId(1), AgentId(1))
        .unwrap();
    drain(&mut acd);
    acd.handle_join(t(3), Join::new(CallId(2), Q2)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
    // A direct call keeps the agent busy too.
    acd.handle_call_ended(t(10), CallId(1)).unwrap();
    acd.handle_agent_busy(t(11), AgentId(1), BusyKind::Direct)
        .unwrap();
    acd.handle_timeout(t(30));
    assert!(offers(&drain(&mut acd)).is_empty());
    acd.handle_agent_idle(t(40), AgentId(1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(2), AgentId(1))]);
}

#[test]
fn unknown_state_agents_are_never_offered() {
    let mut acd = Acd::new(AcdConfig::default());
    acd.add_queue(Q, QueueConfig::new(Strategy::RingAll))
        .unwrap();
    for i in 1..=3 {
        acd.add_agent(AgentConfig::new(AgentId(i), vec![Q]))
            .unwrap();
    }
    // Agent 1 never logged in, agent 2 unreachable, agent 3 paused.
    acd.handle_login(t(0), AgentId(2)).unwrap();
    acd.handle_unreachable(t(1), AgentId(2)).unwrap();
    acd.handle_login(t(0), AgentId(3)).unwrap();
    acd.handle_pause(t(1), AgentId(3), "lunch".into()).unwrap();
    acd.handle_join(t(5), Join::new(CallId(1), Q)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
    acd.handle_reachable(t(6), AgentId(2)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(2))]);
}

#[test]
fn rona_pauses_the_agent_and_reoffers() {
    let mut acd = setup(Strategy::LongestIdle, 2, |q| q.ring_timeout = t(15));
    assert_eq!(
        offers(&join(&mut acd, 10, 1)),
        vec![(CallId(1), AgentId(1))]
    );
    assert_eq!(acd.poll_timeout(), Some(t(25)));
    acd.handle_timeout(t(25));
    let out = drain(&mut acd);
    assert!(out.contains(&Output::CancelOffer {
        call: CallId(1),
        agent: AgentId(1)
    }));
    assert!(out.contains(&Output::Log(Event::Rona {
        agent: AgentId(1),
        call: CallId(1)
    })));
    assert_eq!(offers(&out), vec![(CallId(1), AgentId(2))]);
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Paused {
            reason: "rona".into()
        })
    );
}

#[test]
fn rejection_reoffers_elsewhere_and_not_back() {
    let mut acd = setup(Strategy::LongestIdle, 2, |_| {});
    join(&mut acd, 10, 1);
    acd.handle_offer_failed(t(11), CallId(1), AgentId(1), OfferFailure::Rejected)
        .unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(2))]);
    acd.handle_offer_failed(t(12), CallId(1), AgentId(2), OfferFailure::Rejected)
        .unwrap();
    assert!(offers(&drain(&mut acd)).is_empty(), "both declined");
    assert!(acd.audit().clean());
}

#[test]
fn pause_while_busy_applies_after_the_call() {
    let mut acd = setup(Strategy::LongestIdle, 1, |q| q.wrap_up = t(5));
    join(&mut acd, 10, 1);
    acd.handle_offer_answered(t(11), CallId(1), AgentId(1))
        .unwrap();
    acd.handle_pause(t(12), AgentId(1), "break".into()).unwrap();
    acd.handle_call_ended(t(50), CallId(1)).unwrap();
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::WrapUp { until: t(55) })
    );
    acd.handle_timeout(t(55));
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Paused {
            reason: "break".into()
        })
    );
}

#[test]
fn wrap_up_blocks_offers_until_it_ends() {
    let mut acd = setup(Strategy::LongestIdle, 1, |q| q.wrap_up = t(10));
    join(&mut acd, 10, 1);
    acd.handle_offer_answered(t(11), CallId(1), AgentId(1))
        .unwrap();
    acd.handle_call_ended(t(20), CallId(1)).unwrap();
    assert!(offers(&join(&mut acd, 21, 2)).is_empty());
    acd.handle_timeout(t(29));
    assert!(offers(&drain(&mut acd)).is_empty());
    acd.handle_timeout(t(30));
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(2), AgentId(1))]);
}

#[test]
fn max_wait_sends_to_target() {
    let mut acd = setup(Strategy::LongestIdle, 0, |q| {
        q.max_wait = Some(MaxWait {
            after: t(60),
            target: "voicemail".into(),
        })
    });
    join(&mut acd, 0, 1);
    acd.handle_timeout(t(60));
    assert_eq!(
        exits(&drain(&mut acd)),
        vec![(
            CallId(1),
            ExitReason::MaxWait {
                target: "voicemail".into()
            }
        )]
    );
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.joined, s.timed_out, s.waiting), (1, 1, 0));
    assert!(s.balanced());
}

#[test]
fn exit_key_and_other_keys() {
    let mut acd = setup(Strategy::LongestIdle, 0, |q| q.exit_key = Some('0'));
    join(&mut acd, 0, 1);
    acd.handle_key(t(1), CallId(1), '5').unwrap();
    assert!(exits(&drain(&mut acd)).is_empty());
    acd.handle_key(t(2), CallId(1), '0').unwrap();
    assert_eq!(
        exits(&drain(&mut acd)),
        vec![(CallId(1), ExitReason::ExitKey { key: '0' })]
    );
}

#[test]
fn max_length_refuses_joins() {
    let mut acd = setup(Strategy::LongestIdle, 0, |q| q.max_len = Some(2));
    join(&mut acd, 0, 1);
    join(&mut acd, 1, 2);
    assert_eq!(
        exits(&join(&mut acd, 2, 3)),
        vec![(CallId(3), ExitReason::QueueFull)]
    );
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.joined, s.refused, s.waiting), (2, 1, 2));
}

#[test]
fn join_and_leave_when_empty() {
    let mut acd = setup(Strategy::LongestIdle, 1, |q| {
        q.join_when_empty = false;
        q.leave_when_empty = true;
    });
    acd.handle_agent_busy(t(5), AgentId(1), BusyKind::Direct)
        .unwrap();
    join(&mut acd, 10, 1);
    acd.handle_logout(t(20), AgentId(1)).unwrap();
    assert_eq!(
        exits(&drain(&mut acd)),
        vec![(CallId(1), ExitReason::NoAgents)]
    );
    assert_eq!(
        exits(&join(&mut acd, 30, 2)),
        vec![(CallId(2), ExitReason::NoAgents)]
    );
    assert!(acd.queue_stats(Q).unwrap().balanced());
}

#[test]
fn overflow_after_fixed_wait() {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.overflow = Some(OverflowRule {
        to: vec![Q2],
        after_wait: Some(t(45)),
        predicted_sl_below: None,
    });
    acd.add_queue(Q, qc).unwrap();
    acd.add_queue(Q2, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(9), vec![Q2]))
        .unwrap();
    acd.handle_login(t(0), AgentId(9)).unwrap();
    acd.handle_agent_busy(t(0), AgentId(9), BusyKind::Direct)
        .unwrap();
    acd.handle_join(t(10), Join::new(CallId(1), Q)).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(55));
    let out = drain(&mut acd);
    assert!(out.contains(&Output::Overflow {
        call: CallId(1),
        from: Q,
        to: Q2
    }));
    assert_eq!(acd.call_queue(CallId(1)), Some(Q2));
    acd.handle_agent_idle(t(60), AgentId(9)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(9))]);
    let (a, b) = (acd.queue_stats(Q).unwrap(), acd.queue_stats(Q2).unwrap());
    assert_eq!((a.overflowed, b.joined), (1, 1));
    assert!(a.balanced() && b.balanced());
}

#[test]
fn overflow_when_predicted_service_level_is_too_low() {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.overflow = Some(OverflowRule {
        to: vec![Q2],
        after_wait: None,
        predicted_sl_below: Some(0.8),
    });
    acd.add_queue(Q, qc).unwrap();
    acd.add_queue(Q2, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(1), vec![Q]))
        .unwrap();
    acd.handle_login(t(0), AgentId(1)).unwrap();
    // The only agent has just started a call (prior handle time 180 s): a caller joining now
    // has almost no chance of being answered within 20 s.
    acd.handle_join(t(1), Join::new(CallId(1), Q)).unwrap();
    acd.handle_offer_answered(t(2), CallId(1), AgentId(1))
        .unwrap();
    drain(&mut acd);
    acd.handle_join(t(3), Join::new(CallId(2), Q)).unwrap();
    let out = drain(&mut acd);
    assert!(
        out.contains(&Output::Overflow {
            call: CallId(2),
            from: Q,
            to: Q2
        }),
        "{out:?}"
    );
}

#[test]
fn announcements_at_join_and_periodically() {
    let mut acd = setup(Strategy::LongestIdle, 2, |q| {
        q.announce_every = Some(t(30));
        q.wrap_up = Duration::ZERO;
    });
    join(&mut acd, 10, 1);
    join(&mut acd, 10, 2);
    acd.handle_offer_answered(t(11), CallId(1), AgentId(1))
        .unwrap();
    acd.handle_offer_answered(t(11), CallId(2), AgentId(2))
        .unwrap();
    drain(&mut acd);
    let a = announces(&join(&mut acd, 20, 3));
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].1, 1);
    assert!(a[0].2.is_some());
    let a4 = announces(&join(&mut acd, 21, 4));
    assert_eq!(a4[0].1, 2);
    assert!(
        a4[0].2 >= a[0].2,
        "the second caller waits at least as long"
    );
    acd.handle_timeout(t(50));
    let periodic = announces(&drain(&mut acd));
    assert_eq!(periodic.len(), 1);
    assert_eq!(periodic[0].0, CallId(3));
    // Predictions are logged.
    acd.handle_timeout(t(51));
    let out = drain(&mut acd);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Log(Event::Predicted { call, position: 2, .. }) if *call == CallId(4))));
}

#[test]
fn spoken_rounding() {
    let s = |x: u64| Spoken::from_bound(Some(t(x)));
    assert_eq!(s(0), Spoken::LessThanMinute);
    assert_eq!(s(59), Spoken::LessThanMinute);
    assert_eq!(s(60), Spoken::AboutMinutes(1));
    assert_eq!(s(61), Spoken::AboutMinutes(2));
    assert_eq!(s(200), Spoken::AboutMinutes(4));
    assert_eq!(s(11 * 60 + 1), Spoken::AboutMinutes(15));
    assert_eq!(s(41 * 60), Spoken::AboutMinutes(50));
    assert_eq!(Spoken::from_bound(None), Spoken::Unknown);
    assert_eq!(Spoken::AboutMinutes(4).to_string(), "about 4 minutes");
}

#[test]
fn no_announcement_without_agents() {
    let mut acd = setup(Strategy::LongestIdle, 0, |_| {});
    let a = announces(&join(&mut acd, 0, 1));
    assert_eq!(a, vec![(CallId(1), 1, None, Spoken::Unknown)]);
}
