//! A dial that lost its channel to the SIP driver (`DialFailure::InternalError`) is told
//! apart from the server stopping (`Shutdown`): its own words in `call.end`'s `detail`,
//! `signalling_lost` as the end reason, and 500 (not 503) for an agent's own call.
//! A dial hung up on our side while it rang (`DialFailure::Ended`) keeps its reason.

use std::time::Duration;

use switchboard_callflow::{Call, Dial, DialFailure, Outbound, Output, Purpose, SipRequest};
use switchboard_events::EndReason;

fn agent_call() -> Outbound {
    Outbound {
        purpose: Purpose::AgentCall {
            agent: "1001".into(),
        },
        legs: vec![Dial::Number("+74951234567".into())],
        ring_timeout: Duration::from_secs(45),
    }
}

fn callback() -> Outbound {
    Outbound {
        purpose: Purpose::Callback {
            queue: "sales".into(),
            agent: "1001".into(),
        },
        legs: vec![
            Dial::Agent("1001".into()),
            Dial::Number("+74951112233".into()),
        ],
        ring_timeout: Duration::from_secs(30),
    }
}

/// What the flow does when its first dial fails with `failure`.
fn outputs_after(call: Outbound, failure: DialFailure) -> (Vec<Output>, Call) {
    let t0 = switchboard_test_support::epoch();
    let mut call = Call::outbound(t0, call);
    assert!(matches!(call.poll_output(), Some(Output::Dial(_))));
    call.handle_dial_failed(t0 + Duration::from_secs(1), failure);
    let mut out = Vec::new();
    while let Some(o) = call.poll_output() {
        out.push(o);
    }
    (out, call)
}

#[test]
fn a_lost_channel_is_not_a_shutdown() {
    assert_eq!(DialFailure::InternalError.detail(), "internal_error");
    assert_eq!(DialFailure::Shutdown.detail(), "shutdown");
    assert_eq!(DialFailure::InternalError.originator_status(), Some(500));
    assert_eq!(DialFailure::Shutdown.originator_status(), Some(503));

    let (out, call) = outputs_after(agent_call(), DialFailure::InternalError);
    assert_eq!(
        out,
        [
            Output::Sip(SipRequest::RejectOriginator { status: 500 }),
            Output::HangUp(EndReason::SignallingLost),
        ]
    );
    assert_eq!(
        call.dial_failure().map(DialFailure::detail),
        Some("internal_error".into())
    );
    let (out, _) = outputs_after(agent_call(), DialFailure::Shutdown);
    assert_eq!(out.last(), Some(&Output::HangUp(EndReason::Shutdown)));

    let (out, call) = outputs_after(callback(), DialFailure::InternalError);
    assert_eq!(out.last(), Some(&Output::HangUp(EndReason::SignallingLost)));
    assert_eq!(call.dial_failure(), Some(&DialFailure::InternalError));
    let (out, _) = outputs_after(callback(), DialFailure::Shutdown);
    assert_eq!(out.last(), Some(&Output::HangUp(EndReason::Shutdown)));
}

#[test]
fn a_dial_ended_on_our_side_keeps_its_reason() {
    let ended = DialFailure::Ended(EndReason::ApiHangup);
    assert_eq!(ended.detail(), "ended api_hangup");
    assert_eq!(ended.originator_status(), Some(503));
    let (out, call) = outputs_after(agent_call(), ended.clone());
    assert_eq!(
        out,
        [
            Output::Sip(SipRequest::RejectOriginator { status: 503 }),
            Output::HangUp(EndReason::ApiHangup),
        ]
    );
    assert_eq!(call.dial_failure(), Some(&ended));
    let (out, _) = outputs_after(callback(), DialFailure::Ended(EndReason::LocalHangup));
    assert_eq!(out.last(), Some(&Output::HangUp(EndReason::LocalHangup)));
}
