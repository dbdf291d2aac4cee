//! The interpreter driven event by event, as the server drives it; runtime limits; hot reload.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_ivr::check::{check_files, CheckContext};
use switchboard_ivr::interp::{Action, Event, HttpError, Interpreter, QueueOutcome};
use switchboard_ivr::program::{Program, Value};
use switchboard_ivr::testfile::parse_at;
use switchboard_ivr::{DialplanLoader, Lang, LoadError};

fn program(src: &str) -> Arc<Program> {
    let mut files = BTreeMap::new();
    files.insert("t.ivr".to_string(), src.to_string());
    let c = check_files(&files, &["t.ivr".to_string()], &CheckContext::default());
    assert!(!c.has_errors(), "{}", c.render());
    Arc::new(c.program.expect("program"))
}

fn started(to: &str) -> Event {
    Event::Started {
        now: parse_at("2026-11-23T10:00+03:00").expect("time"),
        to: to.into(),
        from: "+79991234567".into(),
    }
}

fn drain(ivr: &mut Interpreter) -> Vec<Action> {
    std::iter::from_fn(|| ivr.poll_action()).collect()
}

#[test]
fn play_waits_for_prompt_finished_then_menu_collects() {
    let p = program(
        r#"entry to "1" goto m
        block m {
            play "hello"
            menu "menu" timeout 4s { 1 => transfer extension "1001" default => hangup }
        }"#,
    );
    let mut ivr = Interpreter::new(p);
    ivr.handle_event(started("1"));
    assert_eq!(
        drain(&mut ivr),
        vec![Action::Play {
            prompts: vec!["hello".into()],
            lang: Lang::En
        }]
    );
    ivr.handle_event(Event::Digit('7')); // typed during the prompt: remembered
    ivr.handle_event(Event::PromptFinished);
    // The type-ahead '7' is invalid: the menu is offered again with "invalid-choice" first.
    let a = drain(&mut ivr);
    assert_eq!(
        a,
        vec![Action::CollectDigits {
            prompts: vec!["invalid-choice".into(), "menu".into()],
            lang: Lang::En,
            max_digits: 1,
            terminator: None,
            timeout: Duration::from_secs(4),
        }]
    );
    ivr.handle_event(Event::Digit('1'));
    let a = drain(&mut ivr);
    assert!(
        matches!(&a[..], [Action::MenuChoice { menu, choice }, Action::Transfer { target, .. }]
            if menu == "menu" && choice == "1" && target == "1001"),
        "{a:?}"
    );
    assert!(ivr.is_finished());
    // Late events are ignored.
    ivr.handle_event(Event::Timeout);
    assert!(drain(&mut ivr).is_empty());
}

#[test]
fn collect_stops_at_terminator_or_timeout() {
    let p = program(
        r##"entry to "1" goto m
        block m {
            collect acct digits 6 prompt "enter" terminator "#" timeout 3s
            say digits acct
            collect pin digits 4 timeout 3s
            hangup
        }"##,
    );
    let mut ivr = Interpreter::new(p);
    ivr.handle_event(started("1"));
    assert!(matches!(
        &drain(&mut ivr)[..],
        [Action::CollectDigits {
            max_digits: 6,
            terminator: Some('#'),
            ..
        }]
    ));
    for d in ['4', '2', '#'] {
        ivr.handle_event(Event::Digit(d));
    }
    let a = drain(&mut ivr);
    assert_eq!(
        a[0],
        Action::SetVar {
            name: "acct".into(),
            value: Value::Str("42".into())
        }
    );
    assert_eq!(
        a[1],
        Action::Say {
            prompts: vec!["digit-4".into(), "digit-2".into()],
            lang: Lang::En
        }
    );
    ivr.handle_event(Event::PromptFinished);
    drain(&mut ivr);
    ivr.handle_event(Event::Digit('9'));
    ivr.handle_event(Event::Timeout);
    let a = drain(&mut ivr);
    assert_eq!(
        a[0],
        Action::SetVar {
            name: "pin".into(),
            value: Value::Str("9".into())
        }
    );
    assert_eq!(a[1], Action::Hangup);
}

#[test]
fn a_goto_loop_is_stopped_and_the_call_goes_to_the_fallback_queue() {
    let p = program(
        r#"entry to "1" goto a
        block a { set n = 1  goto b }
        block b { goto a }"#,
    );
    let mut ivr = Interpreter::new(p);
    ivr.handle_event(started("1"));
    let a = drain(&mut ivr);
    let err = a.iter().find_map(|x| match x {
        Action::RuntimeError { message, location } => Some((message.clone(), location.clone())),
        _ => None,
    });
    let (msg, loc) = err.expect("runtime error");
    assert!(msg.contains("without waiting"), "{msg}");
    assert!(loc.starts_with("t.ivr:"), "{loc}");
    assert!(
        matches!(a.last(), Some(Action::Queue(q)) if q.queue == "operator"),
        "{a:?}"
    );
    // If even the fallback queue fails, the call is hung up: never stuck.
    ivr.handle_event(Event::QueueResult(QueueOutcome::Failed));
    assert_eq!(drain(&mut ivr), vec![Action::Hangup]);
    assert!(ivr.is_finished());
}

#[test]
fn runaway_recursion_and_division_by_zero_are_runtime_errors() {
    let p = program(
        r#"fallback queue support
        entry to "1" goto a
        entry to "2" goto d
        block a { call s }
        sub s { call s }
        block d { set z = 0  set x = 1 / z  hangup }"#,
    );
    for to in ["1", "2"] {
        let mut ivr = Interpreter::new(p.clone());
        ivr.handle_event(started(to));
        let a = drain(&mut ivr);
        assert!(
            matches!(&a[..], [.., Action::RuntimeError { .. }, Action::Queue(q)] if q.queue == "support"),
            "{a:?}"
        );
    }
}

#[test]
fn http_results_fill_variables_and_failures_take_the_fallback() {
    let src = r#"entry to "1" goto m
        block m {
            http post "https://crm/x" body { who: caller } timeout 2s {
                balance = number "a.balance"
                vip = bool "a.vip"
            } fallback { queue support }
            if vip { priority 9 }
            say money balance in rub
            hangup
        }"#;
    let p = program(src);
    let mut ivr = Interpreter::new(p.clone());
    ivr.handle_event(started("1"));
    let a = drain(&mut ivr);
    let Action::HttpRequest {
        id, body, timeout, ..
    } = &a[0]
    else {
        panic!("{a:?}")
    };
    assert_eq!(*timeout, Duration::from_secs(2));
    assert_eq!(
        body.as_ref()
            .and_then(|b| b.get("who"))
            .and_then(|v| v.as_str()),
        Some("+79991234567")
    );
    ivr.handle_event(Event::HttpResult {
        id: id + 100,
        result: Err(HttpError::Timeout),
    }); // stale id: ignored
    assert!(drain(&mut ivr).is_empty());
    let json = serde_json::json!({"a": {"balance": 1.5, "vip": true}});
    ivr.handle_event(Event::HttpResult {
        id: *id,
        result: Ok(json),
    });
    let a = drain(&mut ivr);
    assert!(a.contains(&Action::Say {
        prompts: vec![
            "num-1".into(),
            "ruble-1".into(),
            "and".into(),
            "num-50".into(),
            "kopeck-5".into()
        ],
        lang: Lang::En
    }));
    assert_eq!(ivr.attrs().priority, 9);

    // A field missing from the answer counts as a failure.
    let mut ivr = Interpreter::new(p);
    ivr.handle_event(started("1"));
    let Action::HttpRequest { id, .. } = drain(&mut ivr)[0].clone() else {
        panic!()
    };
    ivr.handle_event(Event::HttpResult {
        id,
        result: Ok(serde_json::json!({"a": {"balance": 3}})),
    });
    assert!(matches!(&drain(&mut ivr)[..], [Action::Queue(q)] if q.queue == "support"));
}

#[test]
fn unknown_number_hangs_up_with_an_error() {
    let p = program("entry to \"1\" goto m\nblock m { hangup }");
    let mut ivr = Interpreter::new(p);
    ivr.handle_event(started("999"));
    let a = drain(&mut ivr);
    assert!(matches!(
        &a[..],
        [Action::RuntimeError { .. }, Action::Hangup]
    ));
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("switchboard-ivr-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn hot_reload_keeps_calls_on_their_version_and_rejects_broken_files() {
    let dir = temp_dir("reload");
    let file = dir.join("main.ivr");
    std::fs::write(
        &file,
        "entry to \"1\" goto m\nblock m { play \"v1\" hangup }",
    )
    .expect("write");
    let mut loader = DialplanLoader::new(&dir, CheckContext::default());
    let v1 = loader.reload().expect("v1 loads");
    assert_eq!(v1.version, 1);

    let mut old_call = Interpreter::new(v1.program.clone());
    old_call.handle_event(started("1"));
    assert_eq!(
        drain(&mut old_call),
        vec![Action::Play {
            prompts: vec!["v1".into()],
            lang: Lang::En
        }]
    );

    std::fs::write(
        &file,
        "entry to \"1\" goto m\nblock m { play \"v2\" hangup }",
    )
    .expect("write");
    let v2 = loader.reload().expect("v2 loads");
    assert_eq!(v2.version, 2);

    // A broken file is rejected with diagnostics; v2 stays current.
    std::fs::write(
        &file,
        "entry to \"1\" goto m\nblock m { play \"v3\" goto nowhere }",
    )
    .expect("write");
    match loader.reload() {
        Err(LoadError::Invalid { rendered, .. }) => {
            assert!(rendered.contains("no block named `nowhere`"), "{rendered}");
            assert!(rendered.contains("main.ivr:2:"), "{rendered}");
        }
        other => panic!("expected rejection, got {other:?}"),
    }
    let current = loader.current().expect("current");
    assert_eq!(current.version, 2);

    let mut new_call = Interpreter::new(current.program.clone());
    new_call.handle_event(started("1"));
    assert_eq!(
        drain(&mut new_call),
        vec![Action::Play {
            prompts: vec!["v2".into()],
            lang: Lang::En
        }]
    );

    // The call that started on v1 carries on with v1.
    old_call.handle_event(Event::PromptFinished);
    assert_eq!(drain(&mut old_call), vec![Action::Hangup]);
    assert!(Arc::ptr_eq(old_call.program(), &v1.program));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn caller_input_in_an_http_url_is_percent_encoded() {
    let src = r##"entry to "1" goto m
        block m {
            collect acct digits 6 terminator "#" timeout 3s
            http get "https://crm/x?phone=" + caller + "&acct=" + acct + "&n=" + (2 + 3) timeout 2s {
                balance = number "a.balance"
            } fallback { hangup }
            hangup
        }"##;
    let mut ivr = Interpreter::new(program(src));
    ivr.handle_event(Event::Started {
        now: parse_at("2026-11-23T10:00+03:00").expect("time"),
        to: "1".into(),
        from: "+7999&phone=1".into(),
    });
    drain(&mut ivr);
    for d in ['1', '2'] {
        ivr.handle_event(Event::Digit(d));
    }
    ivr.handle_event(Event::Digit('#'));
    let a = drain(&mut ivr);
    let url = a.iter().find_map(|x| match x {
        Action::HttpRequest { url, .. } => Some(url.clone()),
        _ => None,
    });
    assert_eq!(
        url.as_deref(),
        Some("https://crm/x?phone=%2B7999%26phone%3D1&acct=12&n=5"),
        "{a:?}"
    );
}

#[test]
fn field_reads_the_calls_data_and_absent_fields_are_empty() {
    let p = program(
        r#"entry to "1" goto m
        block m {
            say digits field("order")
            if field("missing") == "" { transfer extension field("name") }
        }"#,
    );
    let mut ivr = Interpreter::new(p);
    ivr.set_fields(BTreeMap::from([
        ("order".to_string(), "123".to_string()),
        ("name".to_string(), "ann".to_string()),
    ]));
    ivr.handle_event(started("1"));
    let a = drain(&mut ivr);
    assert!(
        matches!(&a[..], [Action::Say { prompts, .. }] if prompts.len() == 3),
        "{a:?}"
    );
    ivr.handle_event(Event::PromptFinished);
    let a = drain(&mut ivr);
    assert!(
        matches!(&a[..], [Action::Transfer { target, .. }] if target == "ann"),
        "{a:?}"
    );
}
