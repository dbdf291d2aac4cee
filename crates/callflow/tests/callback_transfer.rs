//! A callback transferred by its agent (issue 14): the bridged callback (agent, then
//! customer) takes a blind REFER like an agent's own call: `call.transfer` filed under the
//! callback's queue and agent, the agent's leg released without a word to the ACD (the
//! flow bridged the legs itself; the driver's hold on the callback's ACD call ends it when
//! the leg goes, so the agent wraps up once), and the call then ends like an inbound call
//! with the agent it reached, asking nothing more of the ACD. A REFER the flow refuses
//! leaves the callback as it was: its end tells the ACD once. Driven on a simulated clock.

use std::time::{Duration, Instant};

use switchboard_callflow::{
    AcdRequest, Call, Destination, Dial, Outbound, Output, Phase, Purpose, SipRequest, Transfer,
    TransferRefusal,
};
use switchboard_events::{
    Disposition, EndReason, Event, TransferFailure, TransferKind, TransferOrigin,
};

fn drain(call: &mut Call) -> Vec<Output> {
    std::iter::from_fn(|| call.poll_output()).collect()
}

fn acd_requests(out: &[Output]) -> Vec<&AcdRequest> {
    out.iter()
        .filter_map(|o| match o {
            Output::Acd(r) => Some(r),
            _ => None,
        })
        .collect()
}

/// A `sales` callback: agent 1001 answers at t0 + 2 s, the customer at t0 + 6 s.
fn bridged_callback(t0: Instant) -> Call {
    let mut call = Call::outbound(
        t0,
        Outbound {
            purpose: Purpose::Callback {
                queue: "sales".into(),
                agent: "1001".into(),
            },
            legs: vec![
                Dial::Agent("1001".into()),
                Dial::Number("+74951234567".into()),
            ],
            ring_timeout: Duration::from_secs(30),
        },
    );
    drain(&mut call);
    call.handle_dial_answered(t0 + Duration::from_secs(2));
    drain(&mut call);
    call.handle_dial_answered(t0 + Duration::from_secs(6));
    let out = drain(&mut call);
    assert_eq!(
        acd_requests(&out),
        [&AcdRequest::CallbackResult { connected: true }],
        "{out:?}"
    );
    assert!(
        matches!(call.phase(), Phase::Bridged { agent, queue, .. } if agent == "1001" && queue == "sales"),
        "{:?}",
        call.phase()
    );
    call
}

fn refer(dest: Result<Destination, TransferFailure>, target: &str) -> Transfer {
    Transfer {
        origin: TransferOrigin::Refer,
        dest,
        target: target.into(),
        by: None,
        fallback: Some("operator".into()),
    }
}

#[test]
fn a_callback_blind_transferred_to_a_colleague_ends_as_the_colleagues_call() {
    let t0 = switchboard_test_support::epoch();
    let mut call = bridged_callback(t0);
    let at = t0 + Duration::from_secs(30);
    call.handle_transfer(
        at,
        refer(Ok(Destination::User("1004".into())), "1004"),
        false,
    )
    .expect("a bridged callback is transferable");
    let out = drain(&mut call);
    let logged = out
        .iter()
        .find_map(|o| match o {
            Output::Event(l) => match &l.event {
                Event::CallTransfer { kind, to_agent, .. } => {
                    Some((*kind, to_agent.clone(), l.queue.clone(), l.agent.clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_else(|| panic!("call.transfer: {out:?}"));
    assert_eq!(
        logged,
        (
            TransferKind::Blind,
            Some("1004".into()),
            "sales".into(),
            "1001".into()
        )
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::Sip(SipRequest::ReleaseAgent))),
        "{out:?}"
    );
    assert!(
        acd_requests(&out).is_empty(),
        "the driver's hold ends the callback's ACD call, not the flow: {out:?}"
    );
    call.handle_transfer_answered(at + Duration::from_secs(4))
        .expect("1004 answered");
    drain(&mut call);
    let end = call
        .handle_end(at + Duration::from_secs(24), EndReason::CustomerHangup)
        .expect("ended");
    assert_eq!(end.disposition, Disposition::Answered, "{end:?}");
    assert_eq!(end.agent, "1004", "{end:?}");
    assert_eq!(end.queue, "sales", "{end:?}");
    assert_eq!(end.talk_s, Some(20.0), "{end:?}");
    let out = drain(&mut call);
    assert!(
        acd_requests(&out).is_empty(),
        "1004 was rung directly: no ACD call ends with it: {out:?}"
    );
}

#[test]
fn a_callback_whose_refer_is_refused_ends_its_acd_call_once() {
    let t0 = switchboard_test_support::epoch();
    let mut call = bridged_callback(t0);
    let refused = call.handle_transfer(
        t0 + Duration::from_secs(10),
        refer(Err(TransferFailure::UnknownTarget), "nobody"),
        false,
    );
    assert_eq!(refused, Err(TransferRefusal::UnknownTarget));
    assert!(acd_requests(&drain(&mut call)).is_empty());
    let end = call
        .handle_end(t0 + Duration::from_secs(40), EndReason::CustomerHangup)
        .expect("ended");
    assert_eq!(end.disposition, Disposition::Callback, "{end:?}");
    assert_eq!(end.agent, "1001", "{end:?}");
    let out = drain(&mut call);
    assert_eq!(acd_requests(&out), [&AcdRequest::CallEnded], "{out:?}");
}
