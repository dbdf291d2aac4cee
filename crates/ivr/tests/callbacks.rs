//! The `callback` statement: parsed, checked, lowered and run (the interpreter asks the
//! driver and waits for its answer; a refusal takes the fallback).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use switchboard_ivr::check::{check_files, CheckContext};
use switchboard_ivr::interp::{Action, CallbackTime, Event, Interpreter};
use switchboard_ivr::program::Program;
use switchboard_ivr::testfile::parse_at;

fn checked(src: &str, ctx: &CheckContext) -> switchboard_ivr::check::Checked {
    let mut files = BTreeMap::new();
    files.insert("t.ivr".to_string(), src.to_string());
    check_files(&files, &["t.ivr".to_string()], ctx)
}

fn program(src: &str) -> Arc<Program> {
    let c = checked(src, &CheckContext::default());
    assert!(!c.has_errors(), "{}", c.render());
    Arc::new(c.program.expect("program"))
}

fn drain(ivr: &mut Interpreter) -> Vec<Action> {
    std::iter::from_fn(|| ivr.poll_action()).collect()
}

const FLOW: &str = r#"timezone "Europe/London"
entry to "1" goto m
block m {
    set n = "+447700900123"
    callback n queue support at "09:00" fallback {
        play "sorry"
        hangup
    }
    play "booked"
    hangup
}"#;

fn start(ivr: &mut Interpreter, at: &str) -> Vec<Action> {
    ivr.handle_event(Event::Started {
        now: parse_at(at).expect("time"),
        to: "1".into(),
        from: "+447700900123".into(),
    });
    drain(ivr)
}

fn the_request(actions: &[Action]) -> (u64, String, String, Option<CallbackTime>) {
    actions
        .iter()
        .find_map(|a| match a {
            Action::ScheduleCallback {
                id,
                number,
                queue,
                at,
            } => Some((*id, number.clone(), queue.clone(), *at)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no callback request in {actions:?}"))
}

#[test]
fn a_time_of_day_is_the_next_one_in_the_dialplans_timezone_and_the_flow_waits_for_the_answer() {
    let mut ivr = Interpreter::new(program(FLOW));
    // 22:30 in London (winter, UTC+0): the next 09:00 is tomorrow's.
    let a = start(&mut ivr, "2026-11-23T22:30+00:00");
    let (id, number, queue, at) = the_request(&a);
    assert_eq!(
        (number.as_str(), queue.as_str()),
        ("+447700900123", "support")
    );
    assert_eq!(
        at,
        Some(CallbackTime::At(
            parse_at("2026-11-24T09:00+00:00").unwrap()
        ))
    );
    // Nothing plays until the engine answers; a stale answer changes nothing.
    assert!(!a.iter().any(|x| matches!(x, Action::Play { .. })), "{a:?}");
    ivr.handle_event(Event::CallbackResult {
        id: id + 100,
        scheduled: true,
    });
    assert!(drain(&mut ivr).is_empty());
    ivr.handle_event(Event::CallbackResult {
        id,
        scheduled: true,
    });
    let a = drain(&mut ivr);
    assert!(
        matches!(&a[..], [Action::Play { prompts, .. }, ..] if prompts == &["booked".to_string()]),
        "{a:?}"
    );
    // In summer (UTC+1), 07:00 local is before 09:00: today's, written with its offset.
    let mut ivr = Interpreter::new(program(FLOW));
    let (_, _, _, at) = the_request(&start(&mut ivr, "2026-07-01T06:00+00:00"));
    assert_eq!(
        at,
        Some(CallbackTime::At(
            parse_at("2026-07-01T09:00+01:00").unwrap()
        ))
    );
}

#[test]
fn a_refused_callback_takes_the_fallback() {
    let mut ivr = Interpreter::new(program(FLOW));
    let (id, ..) = the_request(&start(&mut ivr, "2026-11-23T22:30+00:00"));
    ivr.handle_event(Event::CallbackResult {
        id,
        scheduled: false,
    });
    let a = drain(&mut ivr);
    assert!(
        matches!(&a[..], [Action::Play { prompts, .. }, ..] if prompts == &["sorry".to_string()]),
        "{a:?}"
    );
}

#[test]
fn after_is_a_delay_and_no_time_means_at_once() {
    let p = program(
        r#"entry to "1" goto m
        block m {
            callback caller queue support after 90s fallback { hangup }
            callback caller queue sales fallback { hangup }
            hangup
        }"#,
    );
    let mut ivr = Interpreter::new(p);
    let (id, number, _, at) = the_request(&start(&mut ivr, "2026-11-23T10:00+00:00"));
    assert_eq!(number, "+447700900123");
    assert_eq!(at, Some(CallbackTime::After(Duration::from_secs(90))));
    ivr.handle_event(Event::CallbackResult {
        id,
        scheduled: true,
    });
    let (_, _, queue, at) = the_request(&drain(&mut ivr));
    assert_eq!((queue.as_str(), at), ("sales", None));
}

#[test]
fn the_checker_catches_bad_times_unknown_queues_and_a_missing_fallback() {
    let ctx = CheckContext {
        queues: Some(BTreeSet::from(["support".to_string()])),
        ..CheckContext::default()
    };
    let c = checked(
        r#"entry to "1" goto m
        block m {
            callback caller queue support at "25:00" fallback { hangup }
            callback caller queue nowhere fallback { hangup }
            callback 42 queue support
            hangup
        }"#,
        &ctx,
    );
    let text = c.render();
    assert!(c.has_errors(), "{text}");
    assert!(text.contains("\"25:00\" is not a time of day"), "{text}");
    assert!(text.contains("nowhere"), "{text}");
    assert!(text.contains("the number to call back is text"), "{text}");
    assert!(text.contains("this callback has no `fallback`"), "{text}");
    // The statement as a whole is well formed: `queue` is required.
    let c = checked(
        r#"entry to "1" goto m
        block m { callback caller support }"#,
        &CheckContext::default(),
    );
    assert!(c.render().contains("expected `queue`"), "{}", c.render());
}
