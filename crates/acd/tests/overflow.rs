//! Overflow to several reserve queues (tried in order: the first with a free qualified agent)
//! and back: a call that overflowed is offered to whichever agent frees first, of the
//! original queue or of the reserve, in its place by join order.

use std::time::Duration;

use switchboard_acd::*;

const SALES: QueueId = QueueId(1);
const RESERVE: QueueId = QueueId(2);
const SPARE: QueueId = QueueId(3);

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

fn overflows(outs: &[Output]) -> Vec<(CallId, QueueId, QueueId)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Overflow { call, from, to } => Some((*call, *from, *to)),
            _ => None,
        })
        .collect()
}

/// `sales` (agent 1) overflows after 45 s to `reserve` (agent 2), then `spare` (agent 3).
/// Every agent is logged in and busy on a direct call.
fn centre() -> Acd {
    let mut acd = Acd::new(AcdConfig::default());
    let mut sales = QueueConfig::new(Strategy::LongestIdle);
    sales.overflow = Some(OverflowRule {
        to: vec![RESERVE, SPARE],
        after_wait: Some(t(45)),
        predicted_sl_below: None,
    });
    sales.wrap_up = Duration::ZERO;
    acd.add_queue(SALES, sales).unwrap();
    for q in [RESERVE, SPARE] {
        let mut qc = QueueConfig::new(Strategy::LongestIdle);
        qc.wrap_up = Duration::ZERO;
        acd.add_queue(q, qc).unwrap();
    }
    for (a, q) in [(1, SALES), (2, RESERVE), (3, SPARE)] {
        acd.add_agent(AgentConfig::new(AgentId(a), vec![q]))
            .unwrap();
        acd.handle_login(t(0), AgentId(a)).unwrap();
        acd.handle_agent_busy(t(0), AgentId(a), BusyKind::Direct)
            .unwrap();
    }
    drain(&mut acd);
    acd
}

#[test]
fn the_caller_goes_to_the_first_reserve_with_a_free_qualified_agent() {
    let mut acd = centre();
    acd.handle_agent_idle(t(1), AgentId(3)).unwrap();
    acd.handle_join(t(10), Join::new(CallId(1), SALES)).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(55));
    let out = drain(&mut acd);
    // `reserve` comes first but its agent is busy; `spare`'s is free.
    assert_eq!(overflows(&out), vec![(CallId(1), SALES, SPARE)]);
    assert_eq!(offers(&out), vec![(CallId(1), AgentId(3))]);
}

#[test]
fn with_no_reserve_agent_free_the_caller_goes_to_the_first_reserve() {
    let mut acd = centre();
    acd.handle_join(t(10), Join::new(CallId(1), SALES)).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(55));
    let out = drain(&mut acd);
    assert_eq!(overflows(&out), vec![(CallId(1), SALES, RESERVE)]);
    assert!(offers(&out).is_empty());
    assert_eq!(acd.call_queue(CallId(1)), Some(RESERVE));
}

#[test]
fn an_overflowed_caller_goes_back_to_the_original_agent_if_it_frees_first() {
    let mut acd = centre();
    acd.handle_join(t(10), Join::new(CallId(1), SALES)).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(55));
    drain(&mut acd);
    assert_eq!(acd.call_queue(CallId(1)), Some(RESERVE));
    // Sales' own agent frees first: it is offered the caller who left sales.
    acd.handle_agent_idle(t(60), AgentId(1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(1))]);
    acd.handle_offer_answered(t(62), CallId(1), AgentId(1))
        .unwrap();
    drain(&mut acd);
    // Counted once: overflowed out of sales, answered in the reserve queue.
    let (s, r) = (
        acd.queue_stats(SALES).unwrap(),
        acd.queue_stats(RESERVE).unwrap(),
    );
    assert_eq!((s.overflowed, r.joined, r.answered), (1, 1, 1));
    assert!(s.balanced() && r.balanced());
    // The answered call is no longer anyone's: the reserve agent freeing gets nothing.
    acd.handle_agent_idle(t(63), AgentId(2)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
}

#[test]
fn an_overflowed_caller_is_taken_by_the_reserve_agent_if_it_frees_first() {
    let mut acd = centre();
    acd.handle_join(t(10), Join::new(CallId(1), SALES)).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(55));
    drain(&mut acd);
    acd.handle_agent_idle(t(60), AgentId(2)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(2))]);
    acd.handle_offer_answered(t(61), CallId(1), AgentId(2))
        .unwrap();
    drain(&mut acd);
    acd.handle_agent_idle(t(62), AgentId(1)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
}

#[test]
fn the_original_agent_takes_its_own_queue_callers_and_overflowed_ones_in_join_order() {
    let mut acd = centre();
    acd.handle_join(t(10), Join::new(CallId(1), SALES)).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(55));
    drain(&mut acd);
    // A later sales caller (no overflow yet) waits in sales itself.
    acd.handle_join(t(56), Join::new(CallId(2), SALES)).unwrap();
    drain(&mut acd);
    // The earlier caller (now in reserve) goes first, then sales' own.
    acd.handle_agent_idle(t(60), AgentId(1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(1))]);
    acd.handle_offer_answered(t(61), CallId(1), AgentId(1))
        .unwrap();
    acd.handle_call_ended(t(70), CallId(1)).unwrap();
    let out = drain(&mut acd);
    assert_eq!(offers(&out), vec![(CallId(2), AgentId(1))], "{out:?}");
}

#[test]
fn a_caller_who_hangs_up_in_the_reserve_is_no_longer_offered_to_the_original_agents() {
    let mut acd = centre();
    acd.handle_join(t(10), Join::new(CallId(1), SALES)).unwrap();
    drain(&mut acd);
    acd.handle_timeout(t(55));
    drain(&mut acd);
    acd.handle_call_ended(t(57), CallId(1)).unwrap();
    drain(&mut acd);
    acd.handle_agent_idle(t(60), AgentId(1)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
}

/// Found by the property test: a reserve queue with `leave_when_empty` emptied while an
/// agent of the original queue was ringing for (or reserved to call back) a caller who had
/// overflowed into it. The caller must not be put out, and the agent must stay with it
/// rather than being freed for another call while the server still dials it.
#[test]
fn an_emptied_reserve_does_not_put_out_a_caller_the_original_queue_is_handling() {
    let mut acd = Acd::new(AcdConfig::default());
    let mut sales = QueueConfig::new(Strategy::RingAll);
    sales.overflow = Some(OverflowRule {
        to: vec![RESERVE],
        after_wait: Some(t(45)),
        predicted_sl_below: None,
    });
    acd.add_queue(SALES, sales).unwrap();
    let mut reserve = QueueConfig::new(Strategy::LongestIdle);
    reserve.leave_when_empty = true;
    acd.add_queue(RESERVE, reserve).unwrap();
    for (a, q) in [(1, SALES), (2, RESERVE)] {
        acd.add_agent(AgentConfig::new(AgentId(a), vec![q]))
            .unwrap();
        acd.handle_login(t(0), AgentId(a)).unwrap();
        acd.handle_agent_busy(t(0), AgentId(a), BusyKind::Direct)
            .unwrap();
    }
    acd.handle_join(t(1), Join::new(CallId(1), SALES)).unwrap();
    acd.handle_join(t(2), Join::new(CallId(2), SALES)).unwrap();
    acd.handle_timeout(t(46));
    let out = drain(&mut acd);
    assert!(overflows(&out).contains(&(CallId(1), SALES, RESERVE)));
    // Sales' agent frees first and rings for the overflowed caller, who asks for a callback:
    // the agent is reserved to make it.
    acd.handle_agent_idle(t(50), AgentId(1)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(1))]);
    acd.handle_callback_request(t(51), CallId(1), "+15559999".into())
        .unwrap();
    let out = drain(&mut acd);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Callback {
            call: CallId(1),
            agent: AgentId(1),
            ..
        }
    )));
    // The reserve's only agent logs out: the reserve is empty, but its caller is being
    // called back by sales' agent.
    acd.handle_logout(t(52), AgentId(2)).unwrap();
    let out = drain(&mut acd);
    assert!(
        !out.iter().any(|o| matches!(
            o,
            Output::Exit {
                call: CallId(1),
                ..
            }
        )),
        "{out:?}"
    );
    assert!(offers(&out).is_empty(), "{out:?}");
    assert_eq!(
        acd.agent_state(AgentId(1)),
        Some(&AgentState::Reserved { call: CallId(1) })
    );
}

#[test]
fn a_supervisor_moves_a_waiting_caller_for_good() {
    let mut acd = centre();
    acd.handle_join(t(10), Join::new(CallId(1), SALES)).unwrap();
    drain(&mut acd);
    // Moved to spare, whose agent is busy: the caller waits there.
    acd.move_waiting(t(20), CallId(1), SPARE).unwrap();
    let out = drain(&mut acd);
    assert_eq!(overflows(&out), vec![(CallId(1), SALES, SPARE)]);
    assert!(offers(&out).is_empty());
    assert_eq!(acd.call_queue(CallId(1)), Some(SPARE));
    assert_eq!(acd.queue_stats(SALES).unwrap().overflowed, 1);
    // Unlike an overflow, sales's agent freeing does not take the caller back.
    acd.handle_agent_idle(t(30), AgentId(1)).unwrap();
    assert!(offers(&drain(&mut acd)).is_empty());
    // Spare's agent does.
    acd.handle_agent_idle(t(31), AgentId(3)).unwrap();
    assert_eq!(offers(&drain(&mut acd)), vec![(CallId(1), AgentId(3))]);
    // A ringing call, the same queue, an unknown queue or call: refused, nothing moves.
    assert_eq!(
        acd.move_waiting(t(32), CallId(1), SALES),
        Err(AcdError::NotWaiting(CallId(1)))
    );
    assert_eq!(
        acd.move_waiting(t(32), CallId(9), SALES),
        Err(AcdError::UnknownCall(CallId(9)))
    );
    assert_eq!(
        acd.move_waiting(t(32), CallId(1), QueueId(99)),
        Err(AcdError::UnknownQueue(QueueId(99)))
    );
    acd.handle_join(t(40), Join::new(CallId(2), RESERVE))
        .unwrap();
    drain(&mut acd);
    assert_eq!(
        acd.move_waiting(t(41), CallId(2), RESERVE),
        Err(AcdError::NotWaiting(CallId(2)))
    );
    assert!(acd.audit().clean(), "{:?}", acd.audit());
}
