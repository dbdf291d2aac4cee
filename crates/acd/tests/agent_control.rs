//! Agent control inputs, by simulation: logging in and out of single queues, ending
//! wrap-up early, and the RONA recovery timer.

use std::time::Duration;

use switchboard_acd::*;

const SALES: QueueId = QueueId(1);
const SUPPORT: QueueId = QueueId(2);

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

/// Two queues; agent 1 serves both, agent 2 only support. Both logged in.
fn setup(cfg: AcdConfig, tweak: impl Fn(&mut QueueConfig)) -> Acd {
    let mut acd = Acd::new(cfg);
    for q in [SALES, SUPPORT] {
        let mut qc = QueueConfig::new(Strategy::LongestIdle);
        tweak(&mut qc);
        acd.add_queue(q, qc).unwrap();
    }
    acd.add_agent(AgentConfig::new(AgentId(1), vec![SALES, SUPPORT]))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(2), vec![SUPPORT]))
        .unwrap();
    acd.handle_login(t(0), AgentId(1)).unwrap();
    acd.handle_login(t(0), AgentId(2)).unwrap();
    drain(&mut acd);
    acd
}

#[test]
fn an_agent_logged_out_of_a_queue_gets_no_offers_from_it_until_it_logs_back_in() {
    let mut acd = setup(AcdConfig::default(), |_| {});
    acd.handle_queue_logout(t(1), AgentId(1), SALES).unwrap();
    let out = drain(&mut acd);
    assert!(out.contains(&Output::Log(Event::QueueMembership {
        agent: AgentId(1),
        queue: SALES,
        active: false
    })));
    assert_eq!(acd.agent_queues(AgentId(1)), Some(vec![SUPPORT]));
    assert!(!acd.serves(AgentId(1), SALES) && acd.serves(AgentId(1), SUPPORT));
    acd.handle_join(t(2), Join::new(CallId(10), SALES)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty(), "the sales call waits");
    // Still served in support.
    acd.handle_join(t(3), Join::new(CallId(11), SUPPORT))
        .unwrap();
    let o = offers(&drain(&mut acd));
    assert_eq!(o.len(), 1);
    acd.handle_offer_failed(t(4), CallId(11), o[0].1, OfferFailure::Rejected)
        .unwrap();
    drain(&mut acd);
    // A device logout and login keeps the queue membership.
    acd.handle_logout(t(5), AgentId(1)).unwrap();
    acd.handle_login(t(6), AgentId(1)).unwrap();
    let o = offers(&drain(&mut acd));
    assert!(!o.contains(&(CallId(10), AgentId(1))), "{o:?}");
    assert_eq!(acd.agent_queues(AgentId(1)), Some(vec![SUPPORT]));
    // Logging back in offers the waiting call at once.
    acd.handle_queue_login(t(7), AgentId(1), SALES).unwrap();
    let out = drain(&mut acd);
    assert!(out.contains(&Output::Log(Event::QueueMembership {
        agent: AgentId(1),
        queue: SALES,
        active: true
    })));
    assert_eq!(offers(&out), vec![(CallId(10), AgentId(1))]);
    assert_eq!(acd.agent_queues(AgentId(1)), Some(vec![SALES, SUPPORT]));
    assert!(acd.audit().clean());
}

#[test]
fn logging_out_of_a_queue_withdraws_its_ringing_offer_and_errors_name_the_cause() {
    let mut acd = setup(AcdConfig::default(), |_| {});
    acd.handle_join(t(1), Join::new(CallId(10), SALES)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(10), AgentId(1))]);
    acd.handle_queue_logout(t(2), AgentId(1), SALES).unwrap();
    let out = drain(&mut acd);
    assert!(out.contains(&Output::CancelOffer {
        call: CallId(10),
        agent: AgentId(1)
    }));
    assert_eq!(acd.agent_state(AgentId(1)), Some(&AgentState::Available));
    assert_eq!(acd.position(CallId(10)), Some(1), "the call waits again");
    // Twice is fine; a queue the agent is not configured for is an error.
    acd.handle_queue_logout(t(3), AgentId(1), SALES).unwrap();
    assert_eq!(
        acd.handle_queue_login(t(3), AgentId(2), SALES),
        Err(AcdError::NotMember {
            agent: AgentId(2),
            queue: SALES
        })
    );
    assert!(acd.handle_queue_logout(t(3), AgentId(9), SALES).is_err());
    assert!(acd.audit().clean());
}

#[test]
fn end_wrap_up_makes_the_agent_available_before_the_timer() {
    let mut acd = setup(AcdConfig::default(), |q| q.wrap_up = t(60));
    assert_eq!(
        acd.handle_wrap_up_done(t(1), AgentId(1)),
        Err(AcdError::NotInWrapUp(AgentId(1)))
    );
    acd.handle_join(t(1), Join::new(CallId(10), SALES)).unwrap();
    drain(&mut acd);
    acd.handle_offer_answered(t(2), CallId(10), AgentId(1))
        .unwrap();
    acd.handle_call_ended(t(30), CallId(10)).unwrap();
    drain(&mut acd);
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::WrapUp { until: t(90) })
    );
    acd.handle_join(t(31), Join::new(CallId(11), SALES))
        .unwrap();
    assert!(offers(&drain(&mut acd)).is_empty(), "in wrap-up");
    acd.handle_wrap_up_done(t(35), AgentId(1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(11), AgentId(1))]);
    // The wrap-up timer lapsing later changes nothing.
    acd.handle_offer_answered(t(36), CallId(11), AgentId(1))
        .unwrap();
    acd.handle_timeout(t(90));
    drain(&mut acd);
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Busy {
            call: Some(CallId(11)),
            kind: BusyKind::Queue
        })
    );
}

#[test]
fn rona_pause_ends_by_itself_after_the_configured_time() {
    let cfg = AcdConfig {
        rona_unpause_after: Some(t(60)),
        ..AcdConfig::default()
    };
    let mut acd = setup(cfg, |q| q.ring_timeout = t(15));
    acd.handle_join(t(10), Join::new(CallId(10), SALES))
        .unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(10), AgentId(1))]);
    acd.handle_timeout(t(25));
    drain(&mut acd);
    let rona = AgentState::Paused {
        reason: "rona".into(),
    };
    assert_eq!(acd.agent_state(AgentId(1)), Some(&rona));
    assert_eq!(acd.poll_timeout(), Some(t(85)));
    acd.handle_timeout(t(84));
    assert_eq!(acd.agent_state(AgentId(1)), Some(&rona), "not yet");
    acd.handle_timeout(t(85));
    let out = drain(&mut acd);
    assert!(out.contains(&Output::Log(Event::RonaUnpaused {
        agent: AgentId(1),
        after: t(60)
    })));
    // Available again, it takes the call still waiting.
    assert_eq!(offers(&out), vec![(CallId(10), AgentId(1))]);
}

#[test]
fn a_pause_by_hand_or_no_policy_keeps_the_agent_paused() {
    let cfg = AcdConfig {
        rona_unpause_after: Some(t(60)),
        ..AcdConfig::default()
    };
    let mut acd = setup(cfg, |q| q.ring_timeout = t(15));
    acd.handle_join(t(10), Join::new(CallId(10), SALES))
        .unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(25));
    drain(&mut acd);
    // A supervisor turns the rona pause into a lunch break: the timer must not end it.
    acd.handle_pause(t(30), AgentId(1), "lunch".into()).unwrap();
    acd.handle_timeout(t(85));
    assert!(drain(&mut acd)
        .iter()
        .all(|o| !matches!(o, Output::Log(Event::RonaUnpaused { .. }))));
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Paused {
            reason: "lunch".into()
        })
    );

    // Without the policy a rona pause stays.
    let mut acd = setup(AcdConfig::default(), |q| q.ring_timeout = t(15));
    acd.handle_join(t(10), Join::new(CallId(10), SALES))
        .unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(25));
    drain(&mut acd);
    acd.handle_timeout(t(10_000));
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Paused {
            reason: "rona".into()
        })
    );
}
