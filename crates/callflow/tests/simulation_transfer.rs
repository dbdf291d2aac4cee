//! Transfer decisions of the call flow, driven with the real ACD on a simulated clock
//! (`harness/`): blind transfers (REFER, API, dialplan) to a queue, a user or a number;
//! the transfer ring's outcome (answered, not reached → fallback queue, caller gone →
//! cancelled); typed refusals; the attended handover as a pair of inputs on two calls.

mod harness;

use std::time::Duration;

use harness::{Pickup, World};
use switchboard_acd::AgentState;
use switchboard_callflow::{
    AcdRequest, Destination, HandedLeg, MediaCommand, Output, Phase, SipRequest, Transfer,
    TransferDecision, TransferRefusal,
};
use switchboard_events::{
    Disposition, EndReason, Event, TransferFailure, TransferKind, TransferOrigin, TransferTo,
};

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn refer(dest: Result<Destination, TransferFailure>, target: &str) -> Transfer {
    Transfer {
        origin: TransferOrigin::Refer,
        dest,
        target: target.into(),
        by: None,
        fallback: Some("general".into()),
    }
}

fn user(u: &str) -> Result<Destination, TransferFailure> {
    Ok(Destination::User(u.into()))
}

/// Call 1 bridged to bob in support (bob answers after 2 s), carol serves billing.
fn bridged() -> World {
    let mut w = World::new();
    w.add_queue("support", s(10), s(15));
    w.add_queue("billing", s(5), s(15));
    w.add_agent("bob", &["support"], vec![Pickup::After(s(2))]);
    w.add_agent("carol", &["billing"], vec![Pickup::After(s(3))]);
    w.dial(1);
    w.queue(1, "support", None);
    w.run_for(s(2));
    assert!(matches!(w.call(1).flow.phase(), Phase::Bridged { agent, .. } if agent == "bob"));
    w.run_for(s(30));
    w
}

fn events(w: &World, id: u64) -> Vec<switchboard_callflow::Logged> {
    w.events_of(id).into_iter().map(|(_, l)| l).collect()
}

#[test]
fn a_refer_to_a_queue_releases_the_agent_and_re_enters_the_acd() {
    let mut w = bridged();
    let d = w.transfer(
        1,
        refer(Ok(Destination::Queue("billing".into())), "billing"),
    );
    assert_eq!(
        d,
        Ok(TransferDecision::Queue {
            queue: "billing".into()
        })
    );
    let ev = events(&w, 1);
    let transfer = ev
        .iter()
        .find(|l| matches!(l.event, Event::CallTransfer { .. }))
        .unwrap();
    assert_eq!(
        transfer.event,
        Event::CallTransfer {
            kind: TransferKind::Blind,
            to_queue: Some("billing".into()),
            to_agent: None,
            by: None,
            to_number: None
        }
    );
    assert_eq!(
        (transfer.queue.as_str(), transfer.agent.as_str()),
        ("support", "bob")
    );
    assert!(matches!(w.agent_state("bob"), AgentState::WrapUp { .. }));
    assert!(matches!(w.call(1).flow.phase(), Phase::Ringing { agent, .. } if agent == "carol"));
    w.run_for(s(3));
    w.run_for(s(10));
    w.hang_up(1, EndReason::CallerHangup);
    let end = w.call(1).ending.clone().unwrap();
    assert_eq!(
        (end.disposition, end.talk_s),
        (Disposition::Answered, Some(10.0))
    );
    assert_eq!(end.agent, "carol");
    assert_eq!(w.stats("billing").answered, 1);
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn a_transfer_to_a_user_rings_them_and_bridges_without_an_acd_call() {
    let mut w = bridged();
    let d = w.transfer(1, refer(user("dave"), "dave"));
    assert_eq!(
        d,
        Ok(TransferDecision::Dial {
            to: TransferTo::User,
            target: "dave".into()
        })
    );
    let out = w.outputs_of(1);
    assert!(out.contains(&&Output::Sip(SipRequest::ReleaseAgent)));
    assert!(out.contains(&&Output::Acd(AcdRequest::CallEnded)));
    assert!(out.contains(&&Output::Media(MediaCommand::PlayMoh)));
    assert_eq!(
        w.call(1).flow.phase(),
        &Phase::Transferring {
            queue: "support".into()
        }
    );
    assert_eq!(
        w.call(1).flow.transfer_ringing(),
        Some((TransferTo::User, "dave"))
    );
    w.run_for(s(6));
    let a = w.transfer_answered(1).unwrap();
    assert_eq!((a.queue.as_str(), a.agent.as_str()), ("support", "dave"));
    assert!(matches!(
        w.call(1).flow.phase(),
        Phase::Bridged { direct: true, .. }
    ));
    let ev = events(&w, 1);
    let names: Vec<&str> = ev.iter().map(|l| l.event.kind()).collect();
    let at = names.iter().position(|k| *k == "call.transfer").unwrap();
    assert_eq!(
        &names[at..],
        [
            "call.transfer",
            "transfer.dial",
            "transfer.answer",
            "call.bridge"
        ]
    );
    assert_eq!(ev.last().unwrap().agent, "dave");
    w.run_for(s(20));
    w.hang_up(1, EndReason::AgentHangup);
    let end = w.call(1).ending.clone().unwrap();
    assert_eq!(
        (end.disposition, end.talk_s),
        (Disposition::Answered, Some(20.0))
    );
    // Only bob's part was an ACD call: ending it once more would be refused by the engine.
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
    // A second answer (the target's 200 retransmitted) is nothing to bridge.
    assert_eq!(w.transfer_answered(1), None);
}

#[test]
fn a_target_not_reached_sends_the_caller_back_to_the_calls_queue() {
    let mut w = bridged();
    w.transfer(
        1,
        refer(Ok(Destination::Number("+15550100".into())), "+15550100"),
    )
    .unwrap();
    w.run_for(s(10));
    // The number does not answer: the caller waits in support again.
    let d = w.transfer_failed(1, TransferFailure::NoAnswer);
    assert_eq!(
        d,
        TransferDecision::Queue {
            queue: "support".into()
        }
    );
    let fail = events(&w, 1)
        .into_iter()
        .find(|l| matches!(l.event, Event::TransferFail { .. }))
        .unwrap();
    assert_eq!(
        fail.event,
        Event::TransferFail {
            reason: TransferFailure::NoAnswer,
            target: "+15550100".into(),
            fallback_queue: Some("support".into())
        }
    );
    assert_eq!(w.call(1).flow.phase().queue(), Some("support"));
    // bob's wrap-up (10 s) is over: he is offered the caller again.
    w.run_for(s(1));
    assert!(matches!(w.call(1).flow.phase(), Phase::Ringing { agent, .. } if agent == "bob"));
    assert_eq!(w.stats("support").joined, 2);
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn a_caller_who_hangs_up_while_the_target_rings_cancels_it() {
    let mut w = bridged();
    w.transfer(1, refer(user("dave"), "dave")).unwrap();
    w.run_for(s(4));
    w.hang_up(1, EndReason::CallerHangup);
    let out = w.outputs_of(1);
    let cancel = out
        .iter()
        .position(|o| **o == Output::Sip(SipRequest::CancelTransfer))
        .expect("the ringing target is cancelled");
    let fail = out
        .iter()
        .position(|o| matches!(o, Output::Event(l) if matches!(l.event, Event::TransferFail { reason: TransferFailure::CallerHangup, .. })))
        .expect("transfer.fail caller_hangup");
    assert!(cancel < fail);
    let end = w.call(1).ending.clone().unwrap();
    assert_eq!(end.disposition, Disposition::Abandoned);
    assert_eq!(end.queue, "support");
    // The report that the target answered after all finds nothing to bridge.
    assert_eq!(w.transfer_answered(1), None);
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let mut w = bridged();
    let before = w.outputs_of(1).len();
    // Over the API: to the agent the call is already with; to a user that does not exist.
    let now = w.now;
    let call = w.call_mut(1);
    assert_eq!(
        call.handle_api_transfer(now, user("bob"), "bob".into(), "sup".into()),
        Err(TransferRefusal::AlreadyWith("bob".into()))
    );
    assert_eq!(
        call.handle_api_transfer(
            now,
            Err(TransferFailure::UnknownTarget),
            "zed".into(),
            "sup".into()
        ),
        Err(TransferRefusal::UnknownTarget)
    );
    // A REFER to a number the dial policy refuses, or to nothing.
    assert_eq!(
        w.transfer(1, refer(Err(TransferFailure::Refused), "+1900")),
        Err(TransferRefusal::NumberRefused)
    );
    assert_eq!(
        w.transfer(1, refer(Err(TransferFailure::UnknownTarget), "zed")),
        Err(TransferRefusal::UnknownTarget)
    );
    assert_eq!(w.outputs_of(1).len(), before, "a refusal decides nothing");
    assert!(matches!(w.call(1).flow.phase(), Phase::Bridged { agent, .. } if agent == "bob"));

    // A caller waiting in a queue: the API may move it to another queue, nothing else;
    // a REFER has no agent leg to come from.
    w.dial(2);
    w.queue(2, "billing", None);
    w.dial(3);
    w.queue(3, "billing", None);
    assert!(matches!(w.call(3).flow.phase(), Phase::Queued { .. }));
    let call = w.call_mut(3);
    assert_eq!(
        call.handle_api_transfer(now, user("dave"), "dave".into(), "sup".into()),
        Err(TransferRefusal::NotTransferable)
    );
    assert_eq!(
        call.handle_api_transfer(
            now,
            Ok(Destination::Queue("support".into())),
            "support".into(),
            "sup".into()
        ),
        Ok(TransferDecision::MoveWaiting {
            from: "billing".into(),
            queue: "support".into()
        })
    );
    assert_eq!(
        w.transfer(
            3,
            refer(Ok(Destination::Queue("support".into())), "support")
        ),
        Err(TransferRefusal::NotTransferable)
    );
    // The ACD agreed to the move: logged with who asked, the call is in its new queue.
    w.call_mut(3)
        .handle_waiting_moved("support".into(), "sup".into());
    w.settle();
    let moved = events(&w, 3)
        .into_iter()
        .find(|l| matches!(l.event, Event::CallTransfer { .. }))
        .unwrap();
    assert_eq!(moved.queue, "billing");
    assert!(matches!(moved.event, Event::CallTransfer { by: Some(ref b), .. } if b == "sup"));
    assert!(matches!(w.call(3).flow.phase(), Phase::Queued { queue, .. } if queue == "support"));
    // A call in the dialplan: not over the API.
    w.dial(4);
    assert_eq!(
        w.call_mut(4).handle_api_transfer(
            now,
            Ok(Destination::Queue("support".into())),
            "support".into(),
            "sup".into()
        ),
        Err(TransferRefusal::NotTransferable)
    );
}

#[test]
fn dialplan_transfers_fall_back_and_a_consultation_not_reached_ends() {
    let mut w = World::new();
    w.add_queue("general", s(5), s(15));
    w.dial(1);
    // `transfer external "+1900..."` refused by the dial policy: the fallback queue.
    let t = Transfer {
        origin: TransferOrigin::Dialplan,
        dest: Err(TransferFailure::Refused),
        target: "+19005550100".into(),
        by: None,
        fallback: Some("general".into()),
    };
    assert_eq!(
        w.transfer(1, t),
        Ok(TransferDecision::Queue {
            queue: "general".into()
        })
    );
    assert!(matches!(w.call(1).flow.phase(), Phase::Queued { queue, .. } if queue == "general"));
    assert!(events(&w, 1).iter().any(|l| l.event
        == Event::TransferFail {
            reason: TransferFailure::Refused,
            target: "+19005550100".into(),
            fallback_queue: Some("general".into())
        }));
    // An agent's consultation call to a colleague who is busy: the agent's call ends.
    w.dial(2);
    let t = Transfer {
        origin: TransferOrigin::Consultation,
        dest: user("carol"),
        target: "carol".into(),
        by: None,
        fallback: None,
    };
    assert!(matches!(
        w.transfer(2, t),
        Ok(TransferDecision::Dial { .. })
    ));
    assert_eq!(
        w.transfer_failed(2, TransferFailure::Busy),
        TransferDecision::Nothing
    );
    let end = w.call(2).ending.clone().unwrap();
    assert_eq!(end.reason, EndReason::AgentRejected);
    assert_eq!(end.disposition, Disposition::Ivr);
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn an_attended_transfer_is_a_pair_of_inputs_on_the_two_calls() {
    let mut w = bridged();
    // bob's consultation: his own call 2 rings carol (a user), who answers.
    w.dial(2);
    let t = Transfer {
        origin: TransferOrigin::Consultation,
        dest: user("carol"),
        target: "carol".into(),
        by: None,
        fallback: None,
    };
    w.transfer(2, t).unwrap();
    w.run_for(s(3));
    w.transfer_answered(2).unwrap();
    w.run_for(s(10));
    // bob REFERs the caller (call 1) to call 2 with Replaces.
    assert_eq!(
        w.call(1).flow.handle_attended_transfer(false),
        Err(TransferRefusal::CannotMoveLeg)
    );
    assert_eq!(w.call(1).flow.handle_attended_transfer(true), Ok(()));
    assert_eq!(
        w.call(2).flow.handle_attended_transfer(true),
        Ok(()),
        "call 2 is bridged too"
    );
    // Call 2 hands carol's leg over and ends as transferred.
    let (queue, agent) = w.call_mut(2).handle_handed_over().unwrap();
    assert_eq!((queue.as_str(), agent.as_str()), ("", "carol"));
    w.hang_up(2, EndReason::TransferCompleted);
    assert_eq!(
        w.call(2).ending.as_ref().unwrap().disposition,
        Disposition::Transferred
    );
    // Call 1 takes it: bob's part ends (wrap-up), the caller talks with carol.
    let now = w.now;
    w.call_mut(1).handle_took_over(
        now,
        HandedLeg {
            queue,
            agent,
            direct: true,
        },
    );
    w.settle();
    assert!(matches!(w.agent_state("bob"), AgentState::WrapUp { .. }));
    let t = events(&w, 1)
        .into_iter()
        .find(|l| matches!(l.event, Event::CallTransfer { .. }))
        .unwrap();
    assert_eq!((t.queue.as_str(), t.agent.as_str()), ("support", "bob"));
    assert!(
        matches!(t.event, Event::CallTransfer { kind: TransferKind::Attended, to_agent: Some(ref a), .. } if a == "carol")
    );
    assert!(matches!(
        w.call(1).flow.phase(),
        Phase::Bridged { queue, agent, direct: true, .. } if queue == "support" && agent == "carol"
    ));
    w.run_for(s(15));
    w.hang_up(1, EndReason::CallerHangup);
    let end = w.call(1).ending.clone().unwrap();
    assert_eq!(end.talk_s, Some(15.0));
    assert_eq!(end.agent, "carol");
    // carol was rung by the engine: no ACD call to end for her.
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
    assert_eq!(w.stats("support").answered, 1);
}
