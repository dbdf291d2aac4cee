//! The post-call survey transition on a simulated clock: a queue call is bridged, the
//! agent hangs up first, and the call goes back to the dialplan for the survey while its
//! end stays the agent's answered call.

use std::time::Duration;

use switchboard_callflow::{
    AcdRequest, AnswerDecision, Call, OfferDecision, Output, Phase, QueueJoin,
};
use switchboard_events::{Disposition, EndReason};

/// A call queued in `sales` and bridged to `alice` 10 s after it started.
fn bridged() -> (Call, std::time::Instant) {
    let t0 = switchboard_test_support::epoch();
    let mut call = Call::new(t0);
    call.handle_queue_join(
        t0,
        QueueJoin {
            queue: "sales".into(),
            ..QueueJoin::default()
        },
    );
    let now = t0 + Duration::from_secs(8);
    let d = call.handle_offer("alice".into());
    assert!(matches!(d, OfferDecision::Ring { .. }));
    call.handle_ringing("alice".into());
    let now = now + Duration::from_secs(2);
    assert!(matches!(
        call.handle_agent_answered(now),
        AnswerDecision::Connect { .. }
    ));
    call.handle_agent_connected(now);
    call.handle_bridge_connected(now);
    while call.poll_output().is_some() {}
    (call, now)
}

#[test]
fn the_agent_hangs_up_first_and_the_caller_takes_the_survey() {
    let (mut call, t) = bridged();
    let left = t + Duration::from_secs(45);
    assert_eq!(call.handle_agent_left(left, true), Some("sales".into()));
    assert_eq!(call.phase(), &Phase::Ivr);
    // The agent's part is over: the ACD starts their wrap-up now, not at the call's end.
    assert_eq!(call.poll_output(), Some(Output::Acd(AcdRequest::CallEnded)));
    assert_eq!(call.poll_output(), None);
    let after = call.after_agent().expect("in the survey");
    assert_eq!((after.agent.as_str(), after.talk_s), ("alice", 45.0));
    // The survey runs 20 s, then the caller hangs up.
    let end = call
        .handle_end(left + Duration::from_secs(20), EndReason::CallerHangup)
        .expect("ends once");
    assert_eq!(end.disposition, Disposition::Answered);
    assert_eq!((end.queue.as_str(), end.agent.as_str()), ("sales", "alice"));
    assert_eq!(
        end.talk_s,
        Some(45.0),
        "talk time stops at the agent's hang-up"
    );
    assert_eq!(end.duration_s, 10.0 + 45.0 + 20.0);
    assert_eq!(call.poll_output(), None, "the ACD heard it once");
    assert_eq!(call.handle_end(left, EndReason::CallerHangup), None);
}

#[test]
fn without_a_survey_the_agents_hang_up_ends_the_call() {
    let (mut call, t) = bridged();
    assert_eq!(
        call.handle_agent_left(t + Duration::from_secs(5), false),
        None
    );
    assert_eq!(
        call.poll_output(),
        Some(Output::HangUp(EndReason::AgentHangup))
    );
    let end = call
        .handle_end(t + Duration::from_secs(5), EndReason::AgentHangup)
        .expect("ends");
    assert_eq!(end.disposition, Disposition::Answered);
    assert_eq!(end.talk_s, Some(5.0));
}

#[test]
fn a_directly_rung_user_or_a_call_not_bridged_has_no_survey() {
    let t0 = switchboard_test_support::epoch();
    let mut direct = Call::new(t0);
    direct.handle_bridged(t0, "sales".into(), "bob".into(), true);
    assert_eq!(direct.handle_agent_left(t0, true), None);
    assert_eq!(
        direct.poll_output(),
        Some(Output::HangUp(EndReason::AgentHangup))
    );
    let mut ivr = Call::new(t0);
    assert_eq!(ivr.handle_agent_left(t0, true), None);
    assert_eq!(
        ivr.poll_output(),
        Some(Output::HangUp(EndReason::AgentHangup))
    );
    assert!(ivr.after_agent().is_none());
}
