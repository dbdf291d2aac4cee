//! Overflow to several reserve queues and back, against the real binary with pjsua2 agents
//! (auto-answer) and callers: `sales` (1001) overflows to `["reserve", "spare"]` when the
//! predicted service level is below 70 %. A caller goes to the first reserve with a free
//! agent; with none free to the first, where sales' own agent, freeing first, takes them.
//!
//! The dialplan `tests/dialplans-acd-config/acd_config.ivr`: 300 goes into `sales`, 302 into
//! `reserve`. The tests run one at a time.

use std::sync::Mutex;

use switchboard_e2e::peers::{python_with_pjsua2, registered_agent, Softphone, SoftphoneOpts};
use switchboard_e2e::{LoggedEvent, Server};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// `sales` (1001) overflows to `reserve` (1002) then `spare` (`spare_members`).
fn config(spare_members: &str) -> String {
    let mut text = String::from(
        "[ivr]\ndialplans = \"tests/dialplans-acd-config\"\n\n[media]\nrtp_timeout = 120\n",
    );
    for (name, body) in [
        ("operator", String::new()),
        ("small", String::new()),
        ("fallback", String::new()),
        (
            "sales",
            "members = [\"1001\"]\nwrap_up = 0\n\
             overflow = { to = [\"reserve\", \"spare\"], predicted_sl_below = 0.70 }"
                .to_string(),
        ),
        ("reserve", "members = [\"1002\"]\nwrap_up = 0".to_string()),
        ("spare", format!("members = [{spare_members}]")),
    ] {
        text.push_str(&format!(
            "\n[[queues]]\nname = \"{name}\"\nrecord = false\n{body}\n"
        ));
    }
    text
}

fn dump(server: &Server) -> String {
    server
        .events()
        .iter()
        .map(|e| {
            format!(
                "{:>4} {:<16} call={} queue={} agent={} {}\n",
                e.id, e.kind, e.call, e.queue, e.agent, e.data
            )
        })
        .collect()
}

fn agent(py: &str, server: &Server, user: &str) -> Softphone {
    let phone = registered_agent(py, server.sip, user, 60);
    server
        .wait_event(15, |e| {
            e.kind == "agent.state" && e.agent == user && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("{user} never became available:\n{}", dump(server)));
    phone
}

fn caller(py: &str, server: &Server, dial: &str, number: &str) -> Softphone {
    let mut phone = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:{dial}@{}", server.sip)),
            caller: number,
            seconds: 60,
            ..Default::default()
        },
    );
    assert!(
        phone.wait_event("confirmed", 15).is_some(),
        "the IVR answers the caller; log:\n{}",
        server.log_text()
    );
    phone
}

/// Waits for a bridge of a call not in `seen`; returns it.
fn next_bridge(server: &Server, after: i64) -> LoggedEvent {
    server
        .wait_event(15, |e| e.id > after && e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("no bridge:\n{}", dump(server)))
}

/// Sales' 1001 and reserve's 1002 each take a caller; returns the two callers and the id of
/// the last event.
fn both_busy(py: &str, server: &Server) -> (Softphone, Softphone, i64) {
    let first = caller(py, server, "300", "+79995550401");
    let b1 = next_bridge(server, 0);
    assert_eq!((b1.queue.as_str(), b1.agent.as_str()), ("sales", "1001"));
    let second = caller(py, server, "302", "+79995550402");
    let b2 = next_bridge(server, b1.id);
    assert_eq!((b2.queue.as_str(), b2.agent.as_str()), ("reserve", "1002"));
    (first, second, b2.id)
}

#[test]
fn the_overflowing_caller_goes_to_the_first_reserve_with_a_free_agent() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("overflow-reserves-free", &config("\"1003\""));
    let phones: Vec<Softphone> = ["1001", "1002", "1003"]
        .iter()
        .map(|u| agent(&py, &server, u))
        .collect();
    let (mut first, mut second, last) = both_busy(&py, &server);

    let mut third = caller(&py, &server, "300", "+79995550403");
    let overflow = server
        .wait_event(15, |e| e.id > last && e.kind == "queue.overflow")
        .unwrap_or_else(|| panic!("no overflow:\n{}", dump(&server)));
    // `reserve` is named first, but its agent is busy: `spare`'s 1003 is free.
    assert_eq!(
        (overflow.queue.as_str(), overflow.data["to"].as_str()),
        ("sales", Some("spare")),
        "{}",
        dump(&server)
    );
    let b3 = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.call == overflow.call)
        .unwrap_or_else(|| panic!("the third caller is not bridged:\n{}", dump(&server)));
    assert_eq!(b3.agent, "1003");

    for p in [&mut first, &mut second, &mut third] {
        p.command("hangup");
        assert!(p.wait_event("disconnected", 10).is_some());
    }
    for p in phones.into_iter().chain([first, second, third]) {
        p.quit();
    }
}

#[test]
fn an_overflowed_caller_is_taken_by_the_original_queues_agent_when_it_frees_first() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("overflow-reserves-back", &config(""));
    let phones: Vec<Softphone> = ["1001", "1002"]
        .iter()
        .map(|u| agent(&py, &server, u))
        .collect();
    let (mut first, mut second, last) = both_busy(&py, &server);

    // Nobody is free anywhere: the caller goes to the first reserve and waits there.
    let mut third = caller(&py, &server, "300", "+79995550403");
    let overflow = server
        .wait_event(15, |e| e.id > last && e.kind == "queue.overflow")
        .unwrap_or_else(|| panic!("no overflow:\n{}", dump(&server)));
    assert_eq!(overflow.data["to"], "reserve", "{}", dump(&server));
    server
        .wait_event(15, |e| {
            e.kind == "queue.join" && e.call == overflow.call && e.queue == "reserve"
        })
        .unwrap_or_else(|| panic!("not in reserve:\n{}", dump(&server)));

    // Sales' own agent frees first and takes the caller who had left sales.
    first.command("hangup");
    assert!(first.wait_event("disconnected", 10).is_some());
    let b3 = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.call == overflow.call)
        .unwrap_or_else(|| panic!("the overflowed caller is not bridged:\n{}", dump(&server)));
    assert_eq!(b3.agent, "1001", "{}", dump(&server));
    let answered: Vec<LoggedEvent> = server
        .events()
        .into_iter()
        .filter(|e| e.kind == "queue.waited" && e.call == overflow.call)
        .collect();
    let outcomes: Vec<(&str, &str)> = answered
        .iter()
        .map(|e| {
            (
                e.queue.as_str(),
                e.data["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![("sales", "overflowed"), ("reserve", "answered")],
        "{}",
        dump(&server)
    );

    for p in [&mut second, &mut third] {
        p.command("hangup");
        assert!(p.wait_event("disconnected", 10).is_some());
    }
    for p in phones.into_iter().chain([first, second, third]) {
        p.quit();
    }
}
