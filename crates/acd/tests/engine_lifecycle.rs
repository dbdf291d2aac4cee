//! Deterministic scenario tests of the engine (continued from engine.rs): callbacks that
//! keep their place, redials, logout and abandon while ringing, tenants, typed errors, and
//! the cases the property test found.

use std::time::Duration;

use switchboard_acd::*;

mod engine_scenario;
use engine_scenario::*;

#[test]
fn callback_keeps_place_and_never_jumps_ahead() {
    let mut acd = setup(Strategy::LongestIdle, 1, |q| q.wrap_up = Duration::ZERO);
    acd.handle_agent_busy(t(0), AgentId(1), BusyKind::Direct)
        .unwrap();
    join(&mut acd, 1, 1);
    join(&mut acd, 2, 2);
    join(&mut acd, 3, 3);
    acd.handle_callback_request(t(10), CallId(2), "+15550001".into())
        .unwrap();
    // The caller's original leg ends: not an abandonment.
    acd.handle_call_ended(t(11), CallId(2)).unwrap();
    assert_eq!(acd.position(CallId(2)), Some(2));
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.waiting, s.callbacks_pending, s.abandoned), (2, 1, 0));
    acd.handle_agent_idle(t(20), AgentId(1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(1))]);
    acd.handle_offer_answered(t(21), CallId(1), AgentId(1))
        .unwrap();
    acd.handle_call_ended(t(30), CallId(1)).unwrap();
    let out = drain(&mut acd);
    let cb: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Callback {
                call,
                agent,
                number,
                order,
                attempt,
                ..
            } => Some((*call, *agent, number.clone(), *order, *attempt)),
            _ => None,
        })
        .collect();
    assert_eq!(
        cb,
        vec![(
            CallId(2),
            AgentId(1),
            PhoneNumber::from("+15550001"),
            CallbackOrder::AgentFirst,
            1
        )]
    );
    assert!(
        offers(&out).is_empty(),
        "caller 3 waits behind the callback"
    );
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Reserved { call: CallId(2) })
    );
    acd.handle_callback_result(t(35), CallId(2), CallbackResult::Connected)
        .unwrap();
    acd.handle_call_ended(t(90), CallId(2)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(3), AgentId(1))]);
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.answered, s.callbacks_pending), (2, 0));
    assert!(s.balanced());
}

#[test]
fn callback_retries_then_gives_up() {
    let mut acd = setup(Strategy::LongestIdle, 1, |q| {
        q.wrap_up = Duration::ZERO;
        q.callback.max_attempts = 2;
        q.callback.retry_after = t(100);
        q.callback.order = CallbackOrder::CallerFirst;
    });
    acd.handle_agent_busy(t(0), AgentId(1), BusyKind::Direct)
        .unwrap();
    join(&mut acd, 1, 1);
    acd.handle_callback_request(t(2), CallId(1), "+15550002".into())
        .unwrap();
    acd.handle_agent_idle(t(10), AgentId(1)).unwrap();
    let out = drain(&mut acd);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Callback {
            attempt: 1,
            order: CallbackOrder::CallerFirst,
            ..
        }
    )));
    acd.handle_callback_result(t(20), CallId(1), CallbackResult::Failed)
        .unwrap();
    assert!(!drain(&mut acd)
        .iter()
        .any(|o| matches!(o, Output::Callback { .. })));
    assert_eq!(acd.agent_state(AgentId(1)), Some(&AgentState::Available));
    acd.handle_timeout(t(120));
    let out = drain(&mut acd);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Callback { attempt: 2, .. })));
    acd.handle_callback_result(t(130), CallId(1), CallbackResult::Failed)
        .unwrap();
    assert_eq!(
        exits(&drain(&mut acd)),
        vec![(CallId(1), ExitReason::CallbackFailed)]
    );
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!(s.callback_failed, 1);
    assert!(s.balanced());
}

fn with_number(call: u64, number: &str) -> Join {
    let mut j = Join::new(CallId(call), Q);
    j.caller = Some(number.into());
    j
}

#[test]
fn abandoned_caller_who_redials_gets_old_place() {
    let mut acd = setup(Strategy::LongestIdle, 0, |_| {});
    acd.handle_join(t(0), with_number(1, "+15550100")).unwrap();
    acd.handle_join(t(1), with_number(2, "+15550101")).unwrap();
    acd.handle_join(t(2), with_number(3, "+15550102")).unwrap();
    acd.handle_call_ended(t(10), CallId(1)).unwrap();
    acd.handle_join(t(40), with_number(4, "+15550100")).unwrap();
    assert_eq!(acd.position(CallId(4)), Some(1));
    let out = drain(&mut acd);
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::Log(Event::Joined { resumed: true, .. }))));
    // Too late: back of the queue.
    acd.handle_call_ended(t(50), CallId(2)).unwrap();
    acd.handle_join(t(111), with_number(5, "+15550101"))
        .unwrap();
    assert_eq!(acd.position(CallId(5)), Some(3));
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.joined, s.abandoned, s.waiting), (5, 2, 3));
    assert!(s.balanced());
}

#[test]
fn logout_while_ringing_reoffers() {
    let mut acd = setup(Strategy::LongestIdle, 2, |_| {});
    join(&mut acd, 10, 1);
    acd.handle_logout(t(11), AgentId(1)).unwrap();
    let out = drain(&mut acd);
    assert!(out.contains(&Output::CancelOffer {
        call: CallId(1),
        agent: AgentId(1)
    }));
    assert_eq!(offers(&out), vec![(CallId(1), AgentId(2))]);
}

#[test]
fn abandon_while_ringing_cancels_and_frees_agent() {
    let mut acd = setup(Strategy::LongestIdle, 1, |_| {});
    join(&mut acd, 10, 1);
    join(&mut acd, 11, 2);
    acd.handle_call_ended(t(12), CallId(1)).unwrap();
    let out = drain(&mut acd);
    assert!(out.contains(&Output::CancelOffer {
        call: CallId(1),
        agent: AgentId(1)
    }));
    assert_eq!(offers(&out), vec![(CallId(2), AgentId(1))]);
    assert!(acd.audit().clean());
}

#[test]
fn tenants_do_not_mix() {
    let mut acd = Acd::new(AcdConfig::default());
    acd.add_queue(Q, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    let mut a = AgentConfig::new(AgentId(1), vec![Q]);
    a.tenants = vec![TenantId(1), TenantId(3)];
    acd.add_agent(a).unwrap();
    acd.handle_login(t(0), AgentId(1)).unwrap();
    let mut j = Join::new(CallId(1), Q);
    j.tenant = Some(TenantId(2));
    acd.handle_join(t(1), j).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
    // An agent may serve several tenants: a call of the second one is offered.
    let mut j = Join::new(CallId(2), Q);
    j.tenant = Some(TenantId(3));
    acd.handle_join(t(2), j).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(2), AgentId(1))]);
}

#[test]
fn errors_are_typed() {
    let mut acd = setup(Strategy::LongestIdle, 1, |_| {});
    assert_eq!(
        acd.handle_join(t(0), Join::new(CallId(1), QueueId(99))),
        Err(AcdError::UnknownQueue(QueueId(99)))
    );
    join(&mut acd, 0, 1);
    assert_eq!(
        acd.handle_join(t(0), Join::new(CallId(1), Q)),
        Err(AcdError::DuplicateCall(CallId(1)))
    );
    assert_eq!(
        acd.handle_login(t(0), AgentId(42)),
        Err(AcdError::UnknownAgent(AgentId(42)))
    );
    assert_eq!(
        acd.handle_call_ended(t(0), CallId(77)),
        Err(AcdError::UnknownCall(CallId(77)))
    );
    assert_eq!(
        acd.handle_callback_result(t(0), CallId(1), CallbackResult::Connected),
        Err(AcdError::NoCallback(CallId(1)))
    );
}

/// Found by the property test (proptest seed in tests/properties.proptest-regressions): an
/// agent reserved for a callback who logs out must have the attempt cancelled, or the server
/// keeps dialling for an agent the engine may reserve again.
#[test]
fn logout_while_reserved_cancels_the_callback_attempt() {
    let mut acd = setup(Strategy::LongestIdle, 1, |_| {});
    acd.handle_agent_busy(t(0), AgentId(1), BusyKind::Direct)
        .unwrap();
    join(&mut acd, 1, 1);
    acd.handle_callback_request(t(2), CallId(1), "+15550003".into())
        .unwrap();
    acd.handle_agent_idle(t(3), AgentId(1)).unwrap();
    assert!(drain(&mut acd)
        .iter()
        .any(|o| matches!(o, Output::Callback { .. })));
    acd.handle_logout(t(4), AgentId(1)).unwrap();
    let out = drain(&mut acd);
    assert!(out.contains(&Output::CancelOffer {
        call: CallId(1),
        agent: AgentId(1)
    }));
    // The entry keeps its place and the attempt is not counted.
    assert_eq!(acd.position(CallId(1)), Some(1));
    acd.handle_login(t(5), AgentId(1)).unwrap();
    assert!(drain(&mut acd)
        .iter()
        .any(|o| matches!(o, Output::Callback { attempt: 1, .. })));
    assert!(acd.audit().clean());
}

#[test]
fn agent_on_a_direct_call_logging_in_stays_busy() {
    let mut acd = setup(Strategy::LongestIdle, 1, |_| {});
    acd.handle_logout(t(1), AgentId(1)).unwrap();
    acd.handle_agent_busy(t(2), AgentId(1), BusyKind::Outbound)
        .unwrap();
    acd.handle_login(t(3), AgentId(1)).unwrap();
    assert!(offers(&join(&mut acd, 4, 1)).is_empty());
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Busy {
            call: None,
            kind: BusyKind::Outbound
        })
    );
    acd.handle_agent_idle(t(60), AgentId(1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(1))]);
}

/// Found by the property test (seed in tests/properties.proptest-regressions): with ring-all,
/// two calls whose skill requirements widen at the same instant must go in priority order.
#[test]
fn ring_all_widening_at_the_same_instant_keeps_priority_order() {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(Strategy::RingAll);
    qc.skill_tiers = vec![SkillTier::relax(t(40), 4)];
    acd.add_queue(Q, qc).unwrap();
    let mut a = AgentConfig::new(AgentId(1), vec![Q]);
    a.skills.push((SkillId(1), 2));
    acd.add_agent(a).unwrap();
    acd.handle_login(t(0), AgentId(1)).unwrap();
    let mut low = Join::new(CallId(1), Q);
    low.skills.push(SkillReq {
        skill: SkillId(1),
        min: 5,
    });
    let mut high = Join::new(CallId(2), Q);
    high.priority = 1;
    high.skills.push(SkillReq {
        skill: SkillId(1),
        min: 3,
    });
    acd.handle_join(t(0), low).unwrap();
    acd.handle_join(t(0), high).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
    acd.handle_timeout(t(40));
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(2), AgentId(1))]);
    assert!(acd.audit().clean());
}

#[test]
fn an_exit_decided_by_the_dialplan_counts_as_that_exit_not_an_abandon() {
    use std::time::Duration;
    use switchboard_acd::*;
    let mut acd = Acd::new(AcdConfig::default());
    acd.add_queue(QueueId(0), QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.handle_join(Duration::ZERO, Join::new(CallId(1), QueueId(0)))
        .unwrap();
    acd.handle_join(Duration::ZERO, Join::new(CallId(2), QueueId(0)))
        .unwrap();
    while acd.poll_output().is_some() {}
    acd.handle_exit(
        Duration::from_secs(5),
        CallId(1),
        ExitReason::ExitKey { key: '0' },
    )
    .unwrap();
    acd.handle_exit(
        Duration::from_secs(6),
        CallId(2),
        ExitReason::MaxWait {
            target: "operator".into(),
        },
    )
    .unwrap();
    let mut outs = Vec::new();
    while let Some(o) = acd.poll_output() {
        outs.push(o);
    }
    assert!(
        outs.iter().all(|o| !matches!(o, Output::Exit { .. })),
        "no Exit echoed back: {outs:?}"
    );
    let st = acd.queue_stats(QueueId(0)).unwrap();
    assert_eq!((st.exited, st.timed_out, st.abandoned), (1, 1, 0));
    assert!(st.balanced() && acd.audit().clean());
    assert!(acd
        .handle_exit(Duration::from_secs(7), CallId(1), ExitReason::QueueFull)
        .is_err());
}

#[test]
fn a_callers_own_announcement_period_overrides_the_queues() {
    use std::time::Duration;
    use switchboard_acd::*;
    let mut acd = Acd::new(AcdConfig::default());
    let mut q = QueueConfig::new(Strategy::LongestIdle);
    q.announce_every = Some(Duration::from_secs(60));
    acd.add_queue(QueueId(0), q).unwrap();
    let mut j = Join::new(CallId(1), QueueId(0));
    j.announce_every = Some(Duration::from_secs(10));
    acd.handle_join(Duration::ZERO, j).unwrap();
    acd.handle_join(Duration::ZERO, Join::new(CallId(2), QueueId(0)))
        .unwrap();
    let mut announced = Vec::new();
    let mut now = Duration::ZERO;
    while now <= Duration::from_secs(35) {
        while let Some(o) = acd.poll_output() {
            if let Output::Announce { call, .. } = o {
                announced.push((call.0, now.as_secs()));
            }
        }
        now += Duration::from_secs(1);
        acd.handle_timeout(now);
    }
    let times = |c: u64| {
        announced
            .iter()
            .filter(|(x, _)| *x == c)
            .map(|(_, t)| *t)
            .collect::<Vec<_>>()
    };
    assert_eq!(times(1), vec![0, 10, 20, 30], "{announced:?}");
    assert_eq!(times(2), vec![0], "{announced:?}");
}
