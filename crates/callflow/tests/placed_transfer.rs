//! An agent's own call transferred by its agent (issue 14 item 2; decision 0042's
//! amendment): the bridged placed call takes a blind REFER like a queue call does
//! (`call.transfer`, the target rung, the agent released without a word to the ACD: an
//! agent on their own call is busy by engagement, not by an ACD call), and from then on it
//! ends like an inbound call: answered, with the agent it reached. Driven on a simulated
//! clock.

use std::time::{Duration, Instant};

use switchboard_callflow::{
    Call, Destination, Dial, Outbound, Output, Phase, Purpose, SipRequest, Transfer,
    TransferDecision,
};
use switchboard_events::{Disposition, EndReason, Event, TransferKind, TransferOrigin};

fn drain(call: &mut Call) -> Vec<Output> {
    std::iter::from_fn(|| call.poll_output()).collect()
}

/// Agent 1001's call to a number, answered at t0 + 3 s and bridged.
fn bridged_agent_call(t0: Instant) -> Call {
    let mut call = Call::outbound(
        t0,
        Outbound {
            purpose: Purpose::AgentCall {
                agent: "1001".into(),
            },
            legs: vec![Dial::Number("+74951234567".into())],
            ring_timeout: Duration::from_secs(45),
        },
    );
    drain(&mut call);
    call.handle_dial_answered(t0 + Duration::from_secs(3));
    drain(&mut call);
    assert!(
        matches!(call.phase(), Phase::Bridged { agent, .. } if agent == "1001"),
        "{:?}",
        call.phase()
    );
    call
}

fn refer(dest: Destination, target: &str) -> Transfer {
    Transfer {
        origin: TransferOrigin::Refer,
        dest: Ok(dest),
        target: target.into(),
        by: None,
        fallback: Some("support".into()),
    }
}

#[test]
fn an_agents_own_call_blind_transferred_to_a_colleague_ends_as_the_colleagues_call() {
    let t0 = switchboard_test_support::epoch();
    let mut call = bridged_agent_call(t0);
    let at = t0 + Duration::from_secs(20);
    let decision = call
        .handle_transfer(at, refer(Destination::User("1002".into()), "1002"), false)
        .expect("a bridged placed call is transferable");
    assert_eq!(
        decision,
        TransferDecision::Dial {
            to: switchboard_events::TransferTo::User,
            target: "1002".into()
        }
    );
    let out = drain(&mut call);
    let transfer = out.iter().find_map(|o| match o {
        Output::Event(l) => match &l.event {
            Event::CallTransfer { kind, to_agent, .. } => Some((*kind, to_agent.clone(), l)),
            _ => None,
        },
        _ => None,
    });
    let (kind, to_agent, logged) = transfer.unwrap_or_else(|| panic!("call.transfer: {out:?}"));
    assert_eq!(kind, TransferKind::Blind);
    assert_eq!(to_agent.as_deref(), Some("1002"));
    assert_eq!(logged.agent, "1001", "filed under the transferring agent");
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Sip(SipRequest::ReleaseAgent))),
        "the transferring agent's leg is released: {out:?}"
    );
    assert!(
        !out.iter().any(|o| matches!(o, Output::Acd(_))),
        "no ACD call to end (the agent was busy by engagement): {out:?}"
    );

    // The colleague answers 5 s later; the far end hangs up 30 s after that.
    call.handle_transfer_answered(at + Duration::from_secs(5))
        .expect("the colleague answered");
    drain(&mut call);
    assert!(
        matches!(call.phase(), Phase::Bridged { agent, .. } if agent == "1002"),
        "{:?}",
        call.phase()
    );
    let end = call
        .handle_end(at + Duration::from_secs(35), EndReason::CustomerHangup)
        .expect("ended");
    assert_eq!(end.disposition, Disposition::Answered, "{end:?}");
    assert_eq!(end.agent, "1002", "{end:?}");
    assert_eq!(end.duration_s, 55.0, "from the agent's dial: {end:?}");
}

#[test]
fn an_agents_own_call_blind_transferred_to_a_queue_waits_there() {
    let t0 = switchboard_test_support::epoch();
    let mut call = bridged_agent_call(t0);
    let decision = call
        .handle_transfer(
            t0 + Duration::from_secs(10),
            refer(Destination::Queue("sales".into()), "sales"),
            false,
        )
        .expect("transferable");
    assert_eq!(
        decision,
        TransferDecision::Queue {
            queue: "sales".into()
        }
    );
    // Hung up before an agent took it: the call is the queue's, not a failed outbound call.
    let end = call
        .handle_end(t0 + Duration::from_secs(12), EndReason::CustomerHangup)
        .expect("ended");
    assert_ne!(end.disposition, Disposition::OutboundFailed, "{end:?}");
    assert_ne!(end.disposition, Disposition::Outbound, "{end:?}");
}

#[test]
fn an_agents_own_call_handed_to_a_consulted_colleague_ends_as_the_colleagues_call() {
    let t0 = switchboard_test_support::epoch();
    let mut call = bridged_agent_call(t0);
    // The agent consulted 1002 on a call of their own and REFERs with Replaces.
    call.handle_attended_transfer(true)
        .expect("a bridged placed call takes an attended transfer");
    let at = t0 + Duration::from_secs(40);
    call.handle_took_over(
        at,
        switchboard_callflow::HandedLeg {
            queue: String::new(),
            agent: "1002".into(),
            direct: true,
        },
    );
    let out = drain(&mut call);
    let attended = out.iter().any(|o| {
        matches!(o, Output::Event(l) if matches!(&l.event,
            Event::CallTransfer { kind: TransferKind::Attended, to_agent: Some(a), .. } if a == "1002"))
    });
    assert!(attended, "call.transfer attended to 1002: {out:?}");
    assert!(!out.iter().any(|o| matches!(o, Output::Acd(_))), "{out:?}");
    let end = call
        .handle_end(at + Duration::from_secs(20), EndReason::CustomerHangup)
        .expect("ended");
    assert_eq!(end.disposition, Disposition::Answered, "{end:?}");
    assert_eq!(end.agent, "1002", "{end:?}");
    assert_eq!(
        end.talk_s,
        Some(20.0),
        "talk with 1002 from the handover: {end:?}"
    );
}
