//! In-dialog requests decided by the call flow (INFO keys, re-INVITE hold and resume,
//! NOTIFY, the rest), with the real ACD behind the call (`harness/`).

mod harness;

use std::time::Duration;

use harness::{Pickup, World};
use switchboard_callflow::{AcdRequest, DigitRoute, InDialog, InDialogAnswer, Output, ReOffer};
use switchboard_events::{Event, Party};

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

fn ask(w: &mut World, id: u64, party: Party, req: InDialog) -> InDialogAnswer {
    let now = w.now;
    let a = w.call_mut(id).handle_in_dialog(now, party, req, false);
    w.settle();
    a
}

fn status(w: &mut World, id: u64, party: Party, req: InDialog) -> u16 {
    ask(w, id, party, req).status
}

#[test]
fn info_keys_from_the_caller_are_keys_and_the_rest_is_refused() {
    let mut w = World::new();
    w.add_queue("support", s(10), s(15));
    w.dial(1);
    w.queue(1, "support", None);
    // A key while queued goes to the ACD (no exit or callback key among them).
    let a = ask(
        &mut w,
        1,
        Party::Caller,
        InDialog::Info { digit: Some('5') },
    );
    assert_eq!(
        a,
        InDialogAnswer {
            status: 200,
            route: Some(DigitRoute::Handled)
        }
    );
    assert!(w
        .outputs_of(1)
        .contains(&&Output::Acd(AcdRequest::Key('5'))));
    assert!(w.events_of(1).iter().any(|(_, l)| l.event
        == Event::Dtmf {
            digit: "5".into(),
            via: switchboard_events::DtmfVia::SipInfo
        }));
    // The exit key by INFO leaves the queue like any key.
    assert_eq!(
        status(
            &mut w,
            1,
            Party::Caller,
            InDialog::Info { digit: Some('#') }
        ),
        200
    );
    assert_eq!(w.call(1).flow.phase(), &switchboard_callflow::Phase::Ivr);
    assert_eq!(w.stats("support").exited, 1);
    // An INFO without a key we can read; an INFO from the agent's phone; other methods.
    let before = w.outputs_of(1).len();
    assert_eq!(
        status(&mut w, 1, Party::Caller, InDialog::Info { digit: None }),
        415
    );
    assert_eq!(
        status(&mut w, 1, Party::Agent, InDialog::Info { digit: Some('1') }),
        501
    );
    assert_eq!(status(&mut w, 1, Party::Agent, InDialog::Notify), 200);
    assert_eq!(status(&mut w, 1, Party::Caller, InDialog::Other), 501);
    assert_eq!(
        w.outputs_of(1).len(),
        before,
        "refused requests decide nothing"
    );
    assert!(w.acd_errors.is_empty(), "{:?}", w.acd_errors);
}

#[test]
fn re_invites_hold_and_resume_with_the_hold_time() {
    let mut w = World::new();
    w.add_queue("support", s(10), s(15));
    w.add_agent("bob", &["support"], vec![Pickup::After(s(2))]);
    w.dial(1);
    w.queue(1, "support", None);
    w.run_for(s(12));
    let hold = InDialog::ReInvite(ReOffer::Answerable { held: true });
    let resume = InDialog::ReInvite(ReOffer::Answerable { held: false });
    // The agent holds for 25 s (a repeated hold offer changes nothing), then resumes.
    assert_eq!(status(&mut w, 1, Party::Agent, hold), 200);
    w.run_for(s(20));
    assert_eq!(status(&mut w, 1, Party::Agent, hold), 200);
    w.run_for(s(5));
    assert_eq!(status(&mut w, 1, Party::Agent, resume), 200);
    // The caller's phone: an offer we cannot answer is 488 (its hold still counts), an
    // unreadable one is 488 and changes nothing, and a plain one is 200.
    assert_eq!(
        status(
            &mut w,
            1,
            Party::Caller,
            InDialog::ReInvite(ReOffer::Unanswerable { held: true })
        ),
        488
    );
    w.run_for(s(3));
    assert_eq!(
        status(
            &mut w,
            1,
            Party::Caller,
            InDialog::ReInvite(ReOffer::Unparsable)
        ),
        488
    );
    assert_eq!(status(&mut w, 1, Party::Caller, resume), 200);
    let holds: Vec<_> = w
        .events_of(1)
        .into_iter()
        .filter(|(_, l)| matches!(l.event, Event::CallHold { .. } | Event::CallResume { .. }))
        .map(|(_, l)| (l.event, l.queue, l.agent))
        .collect();
    let under = |e: Event| (e, "support".to_string(), "bob".to_string());
    assert_eq!(
        holds,
        vec![
            under(Event::CallHold {
                party: Party::Agent
            }),
            under(Event::CallResume {
                party: Party::Agent,
                held_s: 25.0
            }),
            under(Event::CallHold {
                party: Party::Caller
            }),
            under(Event::CallResume {
                party: Party::Caller,
                held_s: 3.0
            }),
        ]
    );
    // No agent leg (in the dialplan): the re-INVITE is answered without media.
    w.dial(2);
    assert_eq!(
        status(
            &mut w,
            2,
            Party::Agent,
            InDialog::ReInvite(ReOffer::NoMedia)
        ),
        200
    );
    assert!(w.events_of(2).is_empty());
}
