//! In-dialog requests on calls the engine places (callbacks, agents' own calls, campaign
//! calls), on a simulated clock: the same answers as an inbound call's (INFO keys from the
//! customer, 501 for the agent's, re-INVITE hold/resume with `call.hold`/`call.resume` and
//! the hold's length, NOTIFY and OPTIONS 200, the rest 501).

use std::time::{Duration, Instant};

use switchboard_callflow::{
    Call, Dial, DigitRoute, InDialog, InDialogAnswer, Logged, Outbound, Output, Phase, Purpose,
    ReOffer,
};
use switchboard_events::{DtmfVia, Event, Party};

/// The simulated clock's zero, one for the whole test binary.
fn epoch() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(switchboard_test_support::epoch)
}

/// A placed call for `purpose`, every leg answered at once: bridged (or, for a campaign
/// call, back in the dialplan's hands). Its outputs so far are drained.
fn answered(purpose: Purpose, legs: Vec<Dial>) -> Call {
    let t0 = epoch();
    let n = legs.len();
    let mut call = Call::outbound(
        t0,
        Outbound {
            purpose,
            legs,
            ring_timeout: Duration::from_secs(30),
        },
    );
    for _ in 0..n {
        call.handle_dial_answered(t0 + Duration::from_secs(2));
    }
    while call.poll_output().is_some() {}
    call
}

fn callback() -> Call {
    answered(
        Purpose::Callback {
            queue: "support".into(),
            agent: "1001".into(),
        },
        vec![
            Dial::Agent("1001".into()),
            Dial::Number("+74951234567".into()),
        ],
    )
}

fn agent_call() -> Call {
    answered(
        Purpose::AgentCall {
            agent: "1001".into(),
        },
        vec![Dial::Number("+74951234567".into())],
    )
}

fn drained(call: &mut Call) -> Vec<Output> {
    std::iter::from_fn(|| call.poll_output()).collect()
}

fn events(outs: &[Output]) -> Vec<Logged> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Event(l) => Some((**l).clone()),
            _ => None,
        })
        .collect()
}

fn status(call: &mut Call, secs: u64, party: Party, req: InDialog) -> u16 {
    call.handle_in_dialog(epoch() + Duration::from_secs(secs), party, req, false)
        .status
}

#[test]
fn a_callback_and_an_agents_call_answer_in_dialog_requests_like_an_inbound_call() {
    for mut call in [callback(), agent_call()] {
        assert!(matches!(call.phase(), Phase::Bridged { direct: true, .. }));
        // The customer's key is logged (there is no dialplan or queue to route it to).
        let a = call.handle_in_dialog(
            epoch() + Duration::from_secs(5),
            Party::Caller,
            InDialog::Info { digit: Some('7') },
            false,
        );
        assert_eq!(
            a,
            InDialogAnswer {
                status: 200,
                route: Some(DigitRoute::Handled)
            }
        );
        let ev = events(&drained(&mut call));
        assert_eq!(
            ev.iter().map(|l| &l.event).collect::<Vec<_>>(),
            vec![&Event::Dtmf {
                digit: "7".into(),
                via: DtmfVia::SipInfo
            }]
        );
        // An unreadable INFO, the agent's INFO, NOTIFY, an OPTIONS keepalive, the rest.
        assert_eq!(
            status(&mut call, 6, Party::Caller, InDialog::Info { digit: None }),
            415
        );
        assert_eq!(
            status(
                &mut call,
                6,
                Party::Agent,
                InDialog::Info { digit: Some('1') }
            ),
            501
        );
        assert_eq!(status(&mut call, 6, Party::Agent, InDialog::Notify), 200);
        assert_eq!(status(&mut call, 6, Party::Caller, InDialog::Options), 200);
        assert_eq!(status(&mut call, 6, Party::Agent, InDialog::Options), 200);
        assert_eq!(status(&mut call, 6, Party::Caller, InDialog::Other), 501);
        assert!(drained(&mut call).is_empty(), "refusals change nothing");
        // A re-INVITE we cannot read or answer is 488; no media for the party: 200.
        let unanswerable = InDialog::ReInvite(ReOffer::Unparsable);
        assert_eq!(status(&mut call, 6, Party::Caller, unanswerable), 488);
        let no_media = InDialog::ReInvite(ReOffer::NoMedia);
        assert_eq!(status(&mut call, 6, Party::Agent, no_media), 200);
        assert!(drained(&mut call).is_empty());
    }
}

#[test]
fn hold_and_resume_on_a_placed_call_are_logged_with_the_hold_time() {
    for (mut call, queue) in [(callback(), "support"), (agent_call(), "")] {
        let hold = InDialog::ReInvite(ReOffer::Answerable { held: true });
        let resume = InDialog::ReInvite(ReOffer::Answerable { held: false });
        // The agent holds at 10 s (a second hold re-INVITE changes nothing), resumes at 25 s.
        assert_eq!(status(&mut call, 10, Party::Agent, hold), 200);
        assert_eq!(status(&mut call, 12, Party::Agent, hold), 200);
        assert_eq!(status(&mut call, 25, Party::Agent, resume), 200);
        // The customer holds and resumes too; a resume without a hold is not logged.
        assert_eq!(status(&mut call, 30, Party::Caller, resume), 200);
        assert_eq!(status(&mut call, 31, Party::Caller, hold), 200);
        assert_eq!(status(&mut call, 34, Party::Caller, resume), 200);
        let ev = events(&drained(&mut call));
        let got: Vec<&Event> = ev.iter().map(|l| &l.event).collect();
        assert_eq!(
            got,
            vec![
                &Event::CallHold {
                    party: Party::Agent
                },
                &Event::CallResume {
                    party: Party::Agent,
                    held_s: 15.0
                },
                &Event::CallHold {
                    party: Party::Caller
                },
                &Event::CallResume {
                    party: Party::Caller,
                    held_s: 3.0
                },
            ]
        );
        // Filed under the call's queue and agent, as a bridged inbound call's are.
        for l in &ev {
            assert_eq!((l.queue.as_str(), l.agent.as_str()), (queue, "1001"));
        }
        // A hold offer we cannot answer is 488, but the hold is still noted.
        let bad_hold = InDialog::ReInvite(ReOffer::Unanswerable { held: true });
        assert_eq!(status(&mut call, 40, Party::Agent, bad_hold), 488);
        assert_eq!(
            events(&drained(&mut call))
                .iter()
                .map(|l| &l.event)
                .collect::<Vec<_>>(),
            vec![&Event::CallHold {
                party: Party::Agent
            }]
        );
    }
}

#[test]
fn an_answered_campaign_call_answers_the_callees_keys_like_a_caller() {
    let mut call = answered(
        Purpose::Campaign {
            campaign: "spring".into(),
        },
        vec![Dial::Number("+74951234567".into())],
    );
    assert_eq!(call.phase(), &Phase::Ivr);
    let a = call.handle_in_dialog(
        epoch() + Duration::from_secs(3),
        Party::Caller,
        InDialog::Info { digit: Some('1') },
        false,
    );
    assert_eq!(a.status, 200);
    // In the dialplan, the key goes to the IVR.
    let outs = drained(&mut call);
    assert!(outs.contains(&Output::Ivr(switchboard_callflow::IvrInput::Digit('1'))));
    assert_eq!(status(&mut call, 4, Party::Caller, InDialog::Options), 200);
}
