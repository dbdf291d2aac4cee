//! The call flow and the real ACD engine together on one simulated clock (`harness/`):
//! queue → offer → RONA → re-offer → answer → wrap-up timing, abandons, a blind transfer
//! that re-enters the ACD, and determinism of the whole run. Every test also checks that
//! the engine never refused what the flow told it (flow and ACD agree on every offer).

mod harness;

use std::time::Duration;

use harness::{Pickup, World, CANCEL_RTT};
use switchboard_acd::AgentState;
use switchboard_callflow::{AcdRequest, Output, Phase, SipRequest};
use switchboard_events::{Disposition, EndReason, Event};

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// support: 10 s wrap-up, 15 s ring timeout. alice never answers, bob answers after 4 s.
fn centre() -> World {
    let mut w = World::new();
    w.add_queue("support", s(10), s(15));
    w.add_queue("billing", s(5), s(15));
    w.add_agent("alice", &["support"], vec![Pickup::Never]);
    w.run_for(s(1));
    w.add_agent("bob", &["support"], vec![Pickup::After(s(4))]);
    w.add_agent("carol", &["billing"], vec![Pickup::After(s(3))]);
    w.run_for(s(1));
    w
}

fn rona_then_answer(w: &mut World) {
    w.dial(1);
    w.queue(1, "support", None);
    // alice has been idle longest: she rings first.
    assert!(matches!(w.call(1).flow.phase(), Phase::Ringing { agent, .. } if agent == "alice"));
    assert!(matches!(w.agent_state("alice"), AgentState::Ringing { .. }));
    // Her ring timeout: the ACD withdraws the offer (RONA, alice paused) and offers bob at
    // once; the flow holds bob's offer until alice's CANCEL has its 487.
    w.run_for(s(15));
    assert_eq!(
        w.agent_state("alice"),
        AgentState::Paused {
            reason: "rona".into()
        }
    );
    assert!(
        matches!(w.call(1).flow.phase(), Phase::Queued { .. }),
        "bob's offer waits for alice's CANCEL"
    );
    assert!(matches!(w.agent_state("bob"), AgentState::Ringing { .. }));
    w.run_for(CANCEL_RTT);
    assert!(matches!(w.call(1).flow.phase(), Phase::Ringing { agent, .. } if agent == "bob"));
    w.run_for(s(4));
    assert!(
        matches!(w.call(1).flow.phase(), Phase::Bridged { agent, direct: false, .. } if agent == "bob")
    );
    assert!(matches!(
        w.agent_state("bob"),
        AgentState::Busy { call: Some(_), .. }
    ));
}

#[test]
fn rona_reoffer_answer_and_wrap_up_with_the_real_acd() {
    let mut w = centre();
    let joined = w.secs();
    rona_then_answer(&mut w);
    let answered = w.secs();
    assert_eq!(answered - joined, 15.0 + CANCEL_RTT.as_secs_f64() + 4.0);
    w.run_for(s(60));
    w.hang_up(1, EndReason::CallerHangup);
    let end = w.call(1).ending.clone().unwrap();
    assert_eq!(end.disposition, Disposition::Answered);
    assert_eq!(end.talk_s, Some(60.0));
    assert_eq!((end.queue.as_str(), end.agent.as_str()), ("support", "bob"));
    // bob wraps up for the queue's 10 s, then takes calls again.
    let AgentState::WrapUp { until } = w.agent_state("bob") else {
        panic!("bob is not in wrap-up: {:?}", w.agent_state("bob"));
    };
    assert_eq!(until, w.now.duration_since(w.t0) + s(10));
    w.run_for(s(9));
    assert!(matches!(w.agent_state("bob"), AgentState::WrapUp { .. }));
    w.run_for(s(1));
    assert_eq!(w.agent_state("bob"), AgentState::Available);
    let st = w.stats("support");
    assert_eq!((st.joined, st.answered, st.waiting), (1, 1, 0));
    assert!(st.balanced());
    assert!(w.acd.audit().clean(), "{:?}", w.acd.audit());
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
    // The log: two rings (alice, bob) and one bridge with the whole wait.
    let ev = w.events_of(1);
    let rings: Vec<_> = ev
        .iter()
        .filter(|(_, l)| l.event == Event::AgentRing {})
        .map(|(_, l)| l.agent.clone())
        .collect();
    assert_eq!(rings, ["alice", "bob"]);
    let bridge = ev
        .iter()
        .find_map(|(t, l)| match l.event {
            Event::CallBridge { wait_s } => Some((*t, wait_s)),
            _ => None,
        })
        .unwrap();
    assert_eq!(bridge, (answered, answered - joined));
    // No offer failure reached the ACD for alice: her RONA was the ACD's own decision.
    assert!(!w
        .outputs_of(1)
        .iter()
        .any(|o| matches!(o, Output::Acd(AcdRequest::OfferFailed { .. }))));
}

#[test]
fn a_rejecting_agent_is_skipped_and_the_next_one_answers() {
    let mut w = World::new();
    w.add_queue("support", s(10), s(15));
    w.add_agent("alice", &["support"], vec![Pickup::Reject(486, s(2))]);
    w.run_for(s(1));
    w.add_agent("bob", &["support"], vec![Pickup::After(s(3))]);
    w.dial(1);
    w.queue(1, "support", None);
    w.run_for(s(2));
    // The 486 is the flow's offer failure (rejected): the ACD moves on to bob at once.
    assert!(w
        .outputs_of(1)
        .contains(&&Output::Acd(AcdRequest::OfferFailed {
            agent: "alice".into(),
            failure: switchboard_acd::OfferFailure::Rejected
        })));
    assert_eq!(w.agent_state("alice"), AgentState::Available);
    assert!(matches!(w.call(1).flow.phase(), Phase::Ringing { agent, .. } if agent == "bob"));
    w.run_for(s(3));
    assert!(matches!(w.call(1).flow.phase(), Phase::Bridged { .. }));
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn callers_who_hang_up_while_queued_or_ringing_abandon_in_both_cores() {
    let mut w = World::new();
    w.add_queue("support", s(10), s(30));
    w.dial(1);
    w.queue(1, "support", None);
    // Nobody logged in: the caller waits, then gives up.
    w.run_for(s(25));
    w.hang_up(1, EndReason::CallerHangup);
    assert_eq!(
        w.call(1).ending.as_ref().unwrap().disposition,
        Disposition::Abandoned
    );
    // Now alice is there but does not pick up; the second caller hangs up while she rings.
    w.add_agent("alice", &["support"], vec![Pickup::Never]);
    w.dial(2);
    w.queue(2, "support", None);
    assert!(matches!(w.call(2).flow.phase(), Phase::Ringing { .. }));
    w.run_for(s(5));
    w.hang_up(2, EndReason::CallerHangup);
    let end = w.call(2).ending.clone().unwrap();
    assert_eq!(end.disposition, Disposition::Abandoned);
    assert_eq!(end.agent, "", "a ringing agent is not the call's agent");
    // The ACD took the offer back: alice is free (no RONA for a caller who left).
    assert_eq!(w.agent_state("alice"), AgentState::Available);
    let st = w.stats("support");
    assert_eq!((st.joined, st.abandoned, st.waiting), (2, 2, 0));
    assert_eq!(w.acd.live_calls(), 0);
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn max_wait_of_the_dialplan_takes_the_call_out_of_the_acd() {
    let mut w = World::new();
    w.add_queue("support", s(10), s(15));
    w.dial(1);
    w.queue(1, "support", Some(s(30)));
    w.run_for(s(30));
    assert_eq!(w.call(1).flow.phase(), &Phase::Ivr);
    let st = w.stats("support");
    assert_eq!((st.joined, st.timed_out, st.waiting), (1, 1, 0));
    assert!(st.balanced());
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn a_blind_transfer_to_a_queue_re_enters_the_acd() {
    let mut w = centre();
    rona_then_answer(&mut w);
    w.run_for(s(30));
    // bob REFERs the caller to billing: his leg goes, he wraps up; the call joins billing
    // (same ACD call id) and carol answers there.
    w.call_mut(1).handle_agent_released();
    w.settle();
    assert!(w
        .outputs_of(1)
        .contains(&&Output::Sip(SipRequest::ReleaseAgent)));
    assert!(matches!(w.agent_state("bob"), AgentState::WrapUp { .. }));
    w.queue(1, "billing", None);
    assert!(matches!(w.call(1).flow.phase(), Phase::Ringing { agent, .. } if agent == "carol"));
    w.run_for(s(3));
    assert!(matches!(w.call(1).flow.phase(), Phase::Bridged { agent, .. } if agent == "carol"));
    w.run_for(s(20));
    w.hang_up(1, EndReason::AgentHangup);
    let end = w.call(1).ending.clone().unwrap();
    assert_eq!(end.disposition, Disposition::Answered);
    assert_eq!(end.talk_s, Some(20.0));
    assert_eq!(
        (end.queue.as_str(), end.agent.as_str()),
        ("billing", "carol")
    );
    assert!(matches!(w.agent_state("carol"), AgentState::WrapUp { .. }));
    w.run_for(s(5));
    assert_eq!(w.agent_state("carol"), AgentState::Available);
    assert_eq!(w.agent_state("bob"), AgentState::Available);
    for q in ["support", "billing"] {
        let st = w.stats(q);
        assert_eq!((st.joined, st.answered, st.waiting), (1, 1, 0), "{q}");
    }
    assert!(w.acd.audit().clean(), "{:?}", w.acd.audit());
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn the_same_centre_gives_the_same_run() {
    let run = || {
        let mut w = centre();
        rona_then_answer(&mut w);
        w.dial(2);
        w.queue(2, "support", None);
        w.run_for(s(40));
        w.hang_up(1, EndReason::CallerHangup);
        w.run_for(s(30));
        w.hang_up(2, EndReason::CallerHangup);
        w.run_for(s(30));
        w.transcript()
    };
    let (a, b) = (run(), run());
    assert!(a.lines().count() > 20, "{a}");
    assert_eq!(a, b);
}

#[test]
fn ivr_queue_rona_reoffer_answer_transfer_and_wrap_up_in_one_call() {
    use switchboard_callflow::{Destination, IvrInput, Transfer, TransferDecision};
    use switchboard_events::{DtmfVia, TransferOrigin};
    let mut w = centre();
    // The dialplan collects a key (5 s), the caller presses 1, then the call queues.
    w.dial(1);
    let now = w.now;
    w.call_mut(1).handle_ivr_collect(now, s(5));
    w.run_for(s(2));
    let now = w.now;
    w.call_mut(1)
        .handle_digit(now, '1', DtmfVia::Rfc4733, false);
    w.call_mut(1).handle_ivr_play();
    w.settle();
    assert!(w
        .outputs_of(1)
        .contains(&&Output::Ivr(IvrInput::Digit('1'))));
    assert_eq!(
        w.call(1).flow.poll_timeout(),
        None,
        "no collect deadline left"
    );
    w.run_for(s(1));
    // Queue, alice's RONA, bob answers after the re-offer.
    w.queue(1, "support", Some(s(300)));
    w.run_for(s(15) + CANCEL_RTT + s(4));
    assert!(matches!(w.call(1).flow.phase(), Phase::Bridged { agent, .. } if agent == "bob"));
    // bob talks 45 s, then REFERs the caller to billing: bob wraps up, carol answers.
    w.run_for(s(45));
    let t = Transfer {
        origin: TransferOrigin::Refer,
        dest: Ok(Destination::Queue("billing".into())),
        target: "billing".into(),
        by: None,
        fallback: None,
    };
    assert_eq!(
        w.transfer(1, t),
        Ok(TransferDecision::Queue {
            queue: "billing".into()
        })
    );
    let bob_free_at = w.now.duration_since(w.t0) + s(10);
    assert_eq!(
        w.agent_state("bob"),
        AgentState::WrapUp { until: bob_free_at }
    );
    w.run_for(s(3));
    assert!(matches!(w.call(1).flow.phase(), Phase::Bridged { agent, .. } if agent == "carol"));
    w.run_for(s(7));
    assert_eq!(w.agent_state("bob"), AgentState::Available);
    // The dialplan's max_wait no longer counts once bridged.
    assert_eq!(w.call(1).flow.poll_timeout(), None);
    w.run_for(s(30));
    w.hang_up(1, EndReason::CallerHangup);
    let end = w.call(1).ending.clone().unwrap();
    assert_eq!(end.disposition, Disposition::Answered);
    assert_eq!(end.talk_s, Some(37.0), "talk time restarts with carol");
    assert_eq!(
        (end.queue.as_str(), end.agent.as_str()),
        ("billing", "carol")
    );
    assert!(matches!(w.agent_state("carol"), AgentState::WrapUp { .. }));
    w.run_for(s(5));
    assert_eq!(w.agent_state("carol"), AgentState::Available);
    for q in ["support", "billing"] {
        let st = w.stats(q);
        assert_eq!((st.joined, st.answered, st.waiting), (1, 1, 0), "{q}");
        assert!(st.balanced(), "{q}");
    }
    assert!(w.acd.audit().clean(), "{:?}", w.acd.audit());
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}
