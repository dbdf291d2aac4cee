//! Callbacks asked for outside a call (the web "call me back"): they take a place in the
//! line, wait for their scheduled time, and can be cancelled while waiting.

use std::time::Duration;

use switchboard_acd::*;

const Q: QueueId = QueueId(1);

fn t(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn drain(acd: &mut Acd) -> Vec<Output> {
    std::iter::from_fn(|| acd.poll_output()).collect()
}

fn callbacks(outs: &[Output]) -> Vec<(CallId, AgentId)> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Callback { call, agent, .. } => Some((*call, *agent)),
            _ => None,
        })
        .collect()
}

fn one_queue(agents: u32) -> Acd {
    let mut acd = Acd::new(AcdConfig::default());
    acd.add_queue(Q, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    for i in 1..=agents {
        acd.add_agent(AgentConfig::new(AgentId(i), vec![Q]))
            .unwrap();
        acd.handle_login(t(u64::from(i)), AgentId(i)).unwrap();
    }
    drain(&mut acd);
    acd
}

#[test]
fn a_callback_due_now_goes_to_a_free_agent_at_once() {
    let mut acd = one_queue(1);
    acd.handle_callback_schedule(t(10), CallId(7), Q, "+74951234567".into(), t(0))
        .unwrap();
    assert_eq!(callbacks(&drain(&mut acd)), vec![(CallId(7), AgentId(1))]);
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.joined, s.callbacks_pending), (1, 1));
    acd.handle_callback_result(t(20), CallId(7), CallbackResult::Connected)
        .unwrap();
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.answered, s.callbacks_pending), (1, 0));
    assert!(s.balanced());
    assert!(acd.audit().clean());
}

#[test]
fn a_scheduled_callback_waits_for_its_time_even_with_a_free_agent() {
    let mut acd = one_queue(1);
    acd.handle_callback_schedule(t(10), CallId(7), Q, "+74951234567".into(), t(100))
        .unwrap();
    assert!(callbacks(&drain(&mut acd)).is_empty());
    assert_eq!(acd.poll_timeout(), Some(t(100)));
    acd.handle_timeout(t(99));
    assert!(
        callbacks(&drain(&mut acd)).is_empty(),
        "not before its time"
    );
    acd.handle_timeout(t(100));
    assert_eq!(callbacks(&drain(&mut acd)), vec![(CallId(7), AgentId(1))]);
}

#[test]
fn a_callback_takes_its_turn_behind_waiting_callers() {
    let mut acd = one_queue(1);
    acd.handle_agent_busy(t(5), AgentId(1), BusyKind::Direct)
        .unwrap();
    acd.handle_join(t(6), Join::new(CallId(1), Q)).unwrap();
    acd.handle_callback_schedule(t(7), CallId(2), Q, "+74951234567".into(), t(0))
        .unwrap();
    assert_eq!(acd.position(CallId(2)), Some(2));
    acd.handle_agent_idle(t(8), AgentId(1)).unwrap();
    let out = drain(&mut acd);
    assert!(
        callbacks(&out).is_empty(),
        "the caller ahead is offered first"
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Offer {
            call: CallId(1),
            ..
        }
    )));
}

#[test]
fn a_waiting_callback_can_be_cancelled_but_not_one_being_placed() {
    let mut acd = one_queue(1);
    acd.handle_callback_schedule(t(1), CallId(7), Q, "+74951234567".into(), t(50))
        .unwrap();
    acd.handle_callback_cancel(t(2), CallId(7)).unwrap();
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.callbacks_pending, s.callbacks_cancelled), (0, 1));
    assert!(s.balanced());
    acd.handle_timeout(t(50));
    assert!(
        callbacks(&drain(&mut acd)).is_empty(),
        "a cancelled callback is never placed"
    );
    assert_eq!(
        acd.handle_callback_cancel(t(3), CallId(7)),
        Err(AcdError::UnknownCall(CallId(7)))
    );

    acd.handle_callback_schedule(t(60), CallId(8), Q, "+74951234567".into(), t(0))
        .unwrap();
    assert_eq!(callbacks(&drain(&mut acd)).len(), 1);
    assert_eq!(
        acd.handle_callback_cancel(t(61), CallId(8)),
        Err(AcdError::CallbackInProgress(CallId(8)))
    );
    assert!(acd.audit().clean());
}

#[test]
fn unknown_queues_and_duplicate_ids_are_refused() {
    let mut acd = one_queue(1);
    assert_eq!(
        acd.handle_callback_schedule(t(1), CallId(1), QueueId(9), "+7".into(), t(0)),
        Err(AcdError::UnknownQueue(QueueId(9)))
    );
    acd.handle_join(t(1), Join::new(CallId(1), Q)).unwrap();
    assert_eq!(
        acd.handle_callback_schedule(t(2), CallId(1), Q, "+7".into(), t(0)),
        Err(AcdError::DuplicateCall(CallId(1)))
    );
}

#[test]
fn restored_callbacks_keep_their_order_their_time_and_their_wait() {
    // After a restart (engine time 1000), three callbacks first scheduled at 100, 200 and
    // 300 come back in that order; 200 was scheduled for 1500. A caller joining after the
    // restore queues behind them.
    let mut acd = one_queue(1);
    acd.handle_agent_busy(t(999), AgentId(1), BusyKind::Direct)
        .unwrap();
    drain(&mut acd);
    for (id, first, not_before) in [(1, 100, 0), (2, 200, 1500), (3, 300, 0)] {
        acd.handle_callback_restore(
            t(1000),
            CallId(id),
            Q,
            "+74951234567".into(),
            t(not_before),
            t(first),
        )
        .unwrap();
    }
    let joins: Vec<bool> = drain(&mut acd)
        .iter()
        .filter_map(|o| match o {
            Output::Log(Event::Joined { resumed, .. }) => Some(*resumed),
            _ => None,
        })
        .collect();
    assert_eq!(joins, vec![true; 3], "a restored entry joins as resumed");
    acd.handle_join(t(1001), Join::new(CallId(9), Q)).unwrap();
    assert_eq!(
        (1..=3).map(|c| acd.position(CallId(c))).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(3)]
    );
    assert_eq!(acd.position(CallId(9)), Some(4));
    // The agent frees up: 1 first; 2 is not due yet, so 3 goes before it; the caller after.
    acd.handle_agent_idle(t(1010), AgentId(1)).unwrap();
    let mut out = drain(&mut acd);
    let mut served = Vec::new();
    let mut now = 1010;
    while let Some((call, _)) = callbacks(&out).first().copied() {
        served.push(call);
        now += 10;
        acd.handle_callback_result(t(now), call, CallbackResult::Connected)
            .unwrap();
        let waited = drain(&mut acd)
            .iter()
            .find_map(|o| match o {
                Output::Log(Event::Waited {
                    call: c, waited, ..
                }) if *c == call => Some(*waited),
                _ => None,
            })
            .unwrap();
        let first = [100, 200, 300][call.0 as usize - 1];
        assert_eq!(
            waited,
            t(now - first),
            "the wait counts from the first scheduling"
        );
        acd.handle_call_ended(t(now + 1), call).unwrap();
        let _ = acd.handle_wrap_up_done(t(now + 2), AgentId(1));
        out = drain(&mut acd);
    }
    assert!(
        out.iter().any(|o| matches!(
            o,
            Output::Offer {
                call: CallId(9),
                ..
            }
        )),
        "the caller who joined after the restore is offered after them: {out:?}"
    );
    assert_eq!(served, vec![CallId(1), CallId(3)]);
    assert_eq!(
        acd.position(CallId(2)),
        Some(1),
        "2 still waits for its time"
    );
}

#[test]
fn an_agent_takes_a_scheduled_callback_now() {
    let mut acd = one_queue(2);
    acd.add_queue(QueueId(2), QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(9), vec![QueueId(2)]))
        .unwrap();
    acd.handle_login(t(1), AgentId(9)).unwrap();
    acd.handle_callback_schedule(t(10), CallId(7), Q, "+74951234567".into(), t(3600))
        .unwrap();
    assert!(
        callbacks(&drain(&mut acd)).is_empty(),
        "not before its time"
    );
    // Not a member of its queue; not available; unknown entry.
    assert_eq!(
        acd.start_callback_now(t(20), CallId(7), AgentId(9)),
        Err(AcdError::NotMember {
            agent: AgentId(9),
            queue: Q
        })
    );
    acd.handle_pause(t(20), AgentId(1), "break".into()).unwrap();
    drain(&mut acd);
    assert_eq!(
        acd.start_callback_now(t(21), CallId(7), AgentId(1)),
        Err(AcdError::NotAvailable(AgentId(1)))
    );
    assert_eq!(
        acd.start_callback_now(t(21), CallId(8), AgentId(2)),
        Err(AcdError::UnknownCall(CallId(8)))
    );
    // Agent 2 takes it now: reserved, the server is asked to place it.
    acd.start_callback_now(t(22), CallId(7), AgentId(2))
        .unwrap();
    assert_eq!(callbacks(&drain(&mut acd)), vec![(CallId(7), AgentId(2))]);
    assert_eq!(
        acd.agent_state(AgentId(2)),
        Some(&AgentState::Reserved { call: CallId(7) })
    );
    assert_eq!(
        acd.start_callback_now(t(23), CallId(7), AgentId(2)),
        Err(AcdError::CallbackInProgress(CallId(7)))
    );
    // Its original time passing changes nothing.
    acd.handle_timeout(t(3700));
    assert!(callbacks(&drain(&mut acd)).is_empty());
    acd.handle_callback_result(t(3800), CallId(7), CallbackResult::Connected)
        .unwrap();
    let s = acd.queue_stats(Q).unwrap();
    assert_eq!((s.answered, s.callbacks_pending), (1, 0));
    assert!(s.balanced());
    assert!(acd.audit().clean(), "{:?}", acd.audit());
}
