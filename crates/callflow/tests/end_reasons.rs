//! How a call the engine places ends when it fails to connect. The `end_reason` and
//! `disposition` of every way, for each kind of placed call: a table, so a mislabel (the
//! far end's busy called a refusal, the server stopping called a failed leg) shows as one
//! wrong row. And what the flow says on the way: a dial that lost its channel to the SIP
//! driver (`DialFailure::InternalError`) is told apart from the server stopping
//! (`Shutdown`): its own words in `call.end`'s `detail`, `signalling_lost` as the end
//! reason, and 500 (not 503) for an agent's own call; a dial hung up on our side while it
//! rang (`DialFailure::Ended`) keeps its reason.

use std::time::Duration;

use switchboard_callflow::{Call, Dial, DialFailure, Outbound, Output, Purpose, SipRequest};
use switchboard_events::{Disposition as D, EndReason as R};

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

fn agent_call() -> Outbound {
    Outbound {
        purpose: Purpose::AgentCall {
            agent: "1001".into(),
        },
        legs: vec![Dial::Number("+74951234567".into())],
        ring_timeout: Duration::from_secs(45),
    }
}

fn campaign() -> Outbound {
    Outbound {
        purpose: Purpose::Campaign {
            campaign: "notify".into(),
        },
        legs: vec![Dial::Number("+74951112233".into())],
        ring_timeout: Duration::from_secs(25),
    }
}

/// Places `o`, answers the first `answered` legs, fails the next one with `failure`, and
/// ends the call with the reason the flow hung up with: that reason and the disposition.
fn ending(o: Outbound, answered: usize, failure: DialFailure) -> (R, D) {
    let t0 = switchboard_test_support::epoch();
    let t = t0 + Duration::from_secs(3);
    let mut call = Call::outbound(t0, o);
    for _ in 0..answered {
        call.handle_dial_answered(t);
    }
    call.handle_dial_failed(t, failure.clone());
    let mut hung_up = None;
    while let Some(out) = call.poll_output() {
        if let Output::HangUp(r) = out {
            hung_up = Some(r);
        }
    }
    let reason = hung_up.unwrap_or_else(|| panic!("{failure:?}: the flow hung up"));
    let end = call.handle_end(t, reason).expect("the call ends");
    assert_eq!(end.reason, reason);
    (end.reason, end.disposition)
}

/// What is placed, how many legs answer before one fails, how it fails, what `call.end`
/// must say.
type Row = (&'static str, Outbound, usize, DialFailure, (R, D));

#[test]
fn every_way_a_placed_call_fails_has_its_own_end_reason() {
    use DialFailure as F;
    let busy = || F::Status(486);
    let failed = || F::Status(500);
    let carrier_503 = || F::Status(503);
    let refused = || F::Refused {
        status: 403,
        why: "dial permissions: denied_pattern".into(),
    };
    #[rustfmt::skip]
    let table: Vec<Row> = vec![
        // A callback: whichever leg fails, the callback failed; the server stopping is a
        // shutdown.
        ("callback agent busy", callback(), 0, busy(), (R::CallbackLegFailed, D::CallbackFailed)),
        ("callback customer busy", callback(), 1, busy(), (R::CallbackLegFailed, D::CallbackFailed)),
        ("callback no answer", callback(), 1, F::RingTimeout, (R::CallbackLegFailed, D::CallbackFailed)),
        ("callback failed", callback(), 1, failed(), (R::CallbackLegFailed, D::CallbackFailed)),
        ("callback carrier 503", callback(), 1, carrier_503(), (R::CallbackLegFailed, D::CallbackFailed)),
        ("callback no trunk", callback(), 1, F::NoTrunk, (R::CallbackLegFailed, D::CallbackFailed)),
        ("callback refused number", callback(), 1, refused(), (R::CallbackLegFailed, D::CallbackFailed)),
        ("callback shutdown", callback(), 1, F::Shutdown, (R::Shutdown, D::CallbackFailed)),
        // An agent's own call: the far end not answering is not_answered (the phone hears
        // its status), only the dial policy refuses.
        ("agent call busy", agent_call(), 0, busy(), (R::NotAnswered, D::OutboundFailed)),
        ("agent call no answer", agent_call(), 0, F::RingTimeout, (R::NotAnswered, D::OutboundFailed)),
        ("agent call failed", agent_call(), 0, failed(), (R::NotAnswered, D::OutboundFailed)),
        ("agent call carrier 503", agent_call(), 0, carrier_503(), (R::NotAnswered, D::OutboundFailed)),
        ("agent call no trunk", agent_call(), 0, F::NoTrunk, (R::NotAnswered, D::OutboundFailed)),
        ("agent call unusable answer", agent_call(), 0, F::Unusable, (R::NotAnswered, D::OutboundFailed)),
        ("agent call refused number", agent_call(), 0, refused(), (R::Refused, D::Refused)),
        ("agent call agent gave up", agent_call(), 0, F::Aborted, (R::CallerCancelled, D::OutboundFailed)),
        ("agent call shutdown", agent_call(), 0, F::Shutdown, (R::Shutdown, D::OutboundFailed)),
        // A campaign's call (a row: `campaign.result` says busy, no_answer, ...).
        ("campaign busy", campaign(), 0, busy(), (R::NotAnswered, D::NotAnswered)),
        ("campaign no answer", campaign(), 0, F::RingTimeout, (R::NotAnswered, D::NotAnswered)),
        ("campaign failed", campaign(), 0, failed(), (R::NotAnswered, D::NotAnswered)),
        ("campaign carrier 503", campaign(), 0, carrier_503(), (R::NotAnswered, D::NotAnswered)),
        ("campaign no trunk", campaign(), 0, F::NoTrunk, (R::NotAnswered, D::NotAnswered)),
        ("campaign shutdown", campaign(), 0, F::Shutdown, (R::Shutdown, D::NotAnswered)),
    ];
    let wrong: Vec<String> = table
        .into_iter()
        .filter_map(|(what, o, answered, failure, want)| {
            let got = ending(o, answered, failure);
            (got != want).then(|| format!("{what}: got {got:?}, want {want:?}"))
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "mislabelled endings:\n{}",
        wrong.join("\n")
    );
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
            Output::HangUp(R::SignallingLost),
        ]
    );
    assert_eq!(
        call.dial_failure().map(DialFailure::detail),
        Some("internal_error".into())
    );
    let (out, _) = outputs_after(agent_call(), DialFailure::Shutdown);
    assert_eq!(out.last(), Some(&Output::HangUp(R::Shutdown)));

    let (out, call) = outputs_after(callback(), DialFailure::InternalError);
    assert_eq!(out.last(), Some(&Output::HangUp(R::SignallingLost)));
    assert_eq!(call.dial_failure(), Some(&DialFailure::InternalError));
    let (out, _) = outputs_after(callback(), DialFailure::Shutdown);
    assert_eq!(out.last(), Some(&Output::HangUp(R::Shutdown)));
}

#[test]
fn a_dial_ended_on_our_side_keeps_its_reason() {
    let ended = DialFailure::Ended(R::ApiHangup);
    assert_eq!(ended.detail(), "ended api_hangup");
    assert_eq!(ended.originator_status(), Some(503));
    let (out, call) = outputs_after(agent_call(), ended.clone());
    assert_eq!(
        out,
        [
            Output::Sip(SipRequest::RejectOriginator { status: 503 }),
            Output::HangUp(R::ApiHangup),
        ]
    );
    assert_eq!(call.dial_failure(), Some(&ended));
    let (out, _) = outputs_after(callback(), DialFailure::Ended(R::LocalHangup));
    assert_eq!(out.last(), Some(&Output::HangUp(R::LocalHangup)));
}
