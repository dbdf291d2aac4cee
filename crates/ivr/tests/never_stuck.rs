//! Whatever the caller, the CRM and the queues do, every shipped dialplan finishes the call
//! (no panics, no call left waiting for nothing).

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use switchboard_ivr::check::CheckContext;
use switchboard_ivr::interp::{Action, Event, HttpError, Interpreter, QueueOutcome};
use switchboard_ivr::loader::load_dir;
use switchboard_ivr::program::Program;
use switchboard_ivr::testfile::parse_at;

fn program() -> Arc<Program> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans");
    Arc::new(
        load_dir(&dir, &CheckContext::default())
            .unwrap_or_else(|e| panic!("{e}"))
            .0,
    )
}

const NUMBERS: [&str; 9] = [
    "100",
    "88005553535",
    "300",
    "74951110001",
    "74951110002",
    "74951110003",
    "74951110050",
    "+442079460300",
    "555",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_call_ends(
        to in 0usize..NUMBERS.len(),
        vip in any::<bool>(),
        hour in 0u32..24,
        day in 1u32..28,
        choices in proptest::collection::vec(any::<u8>(), 300),
    ) {
        let p = program();
        let mut ivr = Interpreter::new(p);
        let at = parse_at(&format!("2026-12-{day:02}T{hour:02}:17+03:00")).expect("time");
        let from = if vip { "+79991234567" } else { "+441632960777" };
        ivr.handle_event(Event::Started { now: at, to: NUMBERS[to].into(), from: from.into() });
        let mut choice = choices.iter().copied().cycle();
        let mut events = 0;
        let mut pending: Option<Action> = None;
        loop {
            while let Some(a) = ivr.poll_action() {
                if !matches!(
                    a,
                    Action::SetVar { .. } | Action::RuntimeError { .. } | Action::MenuChoice { .. }
                ) {
                    pending = Some(a);
                }
            }
            if ivr.is_finished() {
                break;
            }
            events += 1;
            prop_assert!(events < 400, "call still running after 400 events");
            let c = choice.next().unwrap_or(0);
            let ev = match pending.take() {
                Some(Action::Play { .. } | Action::Say { .. }) => {
                    if c % 7 == 0 { Event::Digit(char::from(b'0' + c % 10)) } else { Event::PromptFinished }
                }
                Some(Action::CollectDigits { .. }) => match c % 14 {
                    12 => Event::Digit('#'),
                    13 => Event::Timeout,
                    d => Event::Digit(char::from(b'0' + d % 10)),
                },
                Some(Action::HttpRequest { id, .. }) => {
                    let result = match c % 4 {
                        0 => Err(HttpError::Timeout),
                        1 => Ok(serde_json::json!({"found": true, "segment": "premium", "id": "C-1",
                              "products": {"loan": true}, "balance": 12.5, "account": {"balance": 3},
                              "next_payment": {"amount": 100, "date": "2026-12-01"},
                              "ticket": "77", "eta_minutes": 30})),
                        2 => Ok(serde_json::json!({})),
                        _ => Err(HttpError::Status(500)),
                    };
                    Event::HttpResult { id, result }
                }
                Some(Action::ScheduleCallback { id, .. }) => {
                    Event::CallbackResult { id, scheduled: c % 2 == 0 }
                }
                Some(Action::Queue(_)) => Event::QueueResult(match c % 5 {
                    0 => QueueOutcome::Answered,
                    1 => QueueOutcome::MaxWait,
                    2 => QueueOutcome::ExitKey,
                    3 => QueueOutcome::CallbackAccepted,
                    _ => QueueOutcome::Failed,
                }),
                // Nothing outstanding: the caller presses a random key (must be harmless).
                _ => Event::Digit(char::from(b'0' + c % 10)),
            };
            // Keep asking for the same thing until it is answered.
            if matches!(ev, Event::Digit(_)) && !ivr.is_collecting() {
                ivr.handle_event(ev);
                ivr.handle_event(Event::PromptFinished);
            } else {
                ivr.handle_event(ev);
            }
            if ivr.is_collecting() && pending.is_none() {
                pending = Some(Action::CollectDigits {
                    prompts: Vec::new(),
                    lang: switchboard_ivr::Lang::En,
                    max_digits: 1,
                    terminator: None,
                    timeout: std::time::Duration::from_secs(1),
                });
            }
        }
    }
}
