//! Menu choices are reported as the dialplan names them: `Action::MenuChoice` carries the
//! menu's prompt as written and the key taken (or `default` after the last try), for the
//! IVR report's per-branch automation coefficient.

use std::collections::BTreeMap;
use std::sync::Arc;

use switchboard_ivr::check::{check_files, CheckContext};
use switchboard_ivr::interp::{Action, Event, Interpreter};
use switchboard_ivr::program::Program;
use switchboard_ivr::testfile::parse_at;

fn program(src: &str) -> Arc<Program> {
    let mut files = BTreeMap::new();
    files.insert("bank.ivr".to_string(), src.to_string());
    let c = check_files(&files, &["bank.ivr".to_string()], &CheckContext::default());
    assert!(!c.has_errors(), "{}", c.render());
    Arc::new(c.program.expect("program"))
}

fn choices(ivr: &mut Interpreter) -> Vec<(String, String)> {
    std::iter::from_fn(|| ivr.poll_action())
        .filter_map(|a| match a {
            Action::MenuChoice { menu, choice } => Some((menu, choice)),
            _ => None,
        })
        .collect()
}

const SRC: &str = r#"entry to "300" goto main
block main {
    menu "bank-main-menu" timeout 3s retries 2 {
        1 => goto balance
        default => hangup
    }
}
block balance {
    menu "bank-balance-menu" { 2 => hangup default => hangup }
}"#;

fn start() -> Interpreter {
    let mut ivr = Interpreter::new(program(SRC));
    ivr.handle_event(Event::Started {
        now: parse_at("2026-11-23T10:00+03:00").expect("time"),
        to: "300".into(),
        from: "+79991234567".into(),
    });
    ivr
}

#[test]
fn each_branch_taken_is_named_by_its_menu_prompt() {
    let mut ivr = start();
    assert_eq!(ivr.dialplan_name(), Some("bank"));
    assert!(choices(&mut ivr).is_empty(), "nothing chosen yet");
    // A wrong key is not a branch; 1 is.
    ivr.handle_event(Event::Digit('9'));
    assert!(choices(&mut ivr).is_empty());
    ivr.handle_event(Event::Digit('1'));
    assert_eq!(
        choices(&mut ivr),
        vec![("bank-main-menu".to_string(), "1".to_string())]
    );
    ivr.handle_event(Event::Digit('2'));
    assert_eq!(
        choices(&mut ivr),
        vec![("bank-balance-menu".to_string(), "2".to_string())]
    );
    assert!(ivr.is_finished());
}

#[test]
fn a_key_typed_ahead_and_the_default_branch_are_reported_too() {
    let mut ivr = start();
    choices(&mut ivr);
    // Two timeouts: the main menu's default branch runs.
    ivr.handle_event(Event::Timeout);
    ivr.handle_event(Event::PromptFinished);
    assert!(choices(&mut ivr).is_empty(), "one try left");
    ivr.handle_event(Event::Timeout);
    ivr.handle_event(Event::PromptFinished);
    assert_eq!(
        choices(&mut ivr),
        vec![("bank-main-menu".to_string(), "default".to_string())]
    );

    // A key typed while the first menu's prompt plays answers it at once.
    let mut ivr = start();
    ivr.handle_event(Event::Digit('1'));
    ivr.handle_event(Event::Digit('2'));
    let got = choices(&mut ivr);
    assert_eq!(
        got,
        vec![
            ("bank-main-menu".to_string(), "1".to_string()),
            ("bank-balance-menu".to_string(), "2".to_string())
        ]
    );
}
