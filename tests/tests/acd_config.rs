//! Queue features set in `[[queues]]`, against the real binary with real peers: overflow to a
//! reserve queue on a predicted service level, an agent on an internal call is busy for every
//! queue (and offered the waiting caller right after hanging up), so is a supervisor while
//! listening to a call, and `max_len` sends the caller past it on to the dialplan's fallback.
//!
//! The dialplan `tests/dialplans-acd-config/acd_config.ivr`: 300 goes into `sales`, 301 into
//! `small` and, when `small` refuses the caller, into `fallback`; 302 into `reserve`. The tests run one at a
//! time.

use std::sync::Mutex;

use switchboard_e2e::peers::{python_with_pjsua2, registered_agent, Softphone, SoftphoneOpts};
use switchboard_e2e::{require_peer, sipp, sipp_trace, LoggedEvent, Server};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The configuration: our dialplan, a long RTP timeout (SIPp callers send no audio), and
/// every queue the dialplan names (`sales`, `reserve`, `small`, `fallback`, `operator`),
/// each with the body `bodies` gives it (or none). The list replaces the default queues.
fn config(bodies: &[(&str, &str)]) -> String {
    let mut text = String::from(
        "[ivr]\ndialplans = \"tests/dialplans-acd-config\"\n\n[media]\nrtp_timeout = 120\n",
    );
    for name in ["operator", "sales", "reserve", "small", "fallback"] {
        let body = bodies
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| *b)
            .unwrap_or("");
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

fn wait_state(server: &Server, agent: &str, state: &str, after: i64) -> LoggedEvent {
    server
        .wait_event(15, |e| {
            e.id > after && e.kind == "agent.state" && e.agent == agent && e.data["state"] == state
        })
        .unwrap_or_else(|| {
            panic!(
                "agent {agent} never became {state}; events:\n{}\nlog:\n{}",
                dump(server),
                server.log_text()
            )
        })
}

fn agent(py: &str, server: &Server, user: &str) -> Softphone {
    let phone = registered_agent(py, server.sip, user, 60);
    wait_state(server, user, "available", 0);
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

/// Waits for the `n`-th (1-based) event named `name` from a phone.
fn wait_nth(phone: &mut Softphone, name: &str, n: usize, secs: u64) -> bool {
    switchboard_e2e::wait_for(secs, || {
        let _ = phone.wait_event("-", 0);
        (phone.seen.iter().filter(|v| v["event"] == name).count() >= n).then_some(())
    })
    .is_some()
}

/// (a) `sales` overflows to `reserve` when the predicted service level is below 70%: with
/// sales' only agent on a call, the next caller's chance of an answer within 20 s is nil,
/// so that caller moves to `reserve` and is offered to the reserve agent, never to sales'.
#[test]
fn sales_overflows_to_the_reserve_when_the_predicted_service_level_is_below_70_percent() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(
        "acd-config-overflow",
        &config(&[
            (
                "sales",
                r#"members = ["1001"]
overflow = { to = ["reserve"], predicted_sl_below = 0.70 }"#,
            ),
            ("reserve", r#"members = ["1002"]"#),
        ]),
    );
    let mut sales_agent = agent(&py, &server, "1001");
    let mut reserve_agent = agent(&py, &server, "1002");

    let mut first = caller(&py, &server, "300", "+79995550201");
    let bridge1 = server
        .wait_event(15, |e| e.kind == "call.bridge")
        .unwrap_or_else(|| panic!("the first caller reaches 1001:\n{}", dump(&server)));
    assert_eq!(
        (bridge1.queue.as_str(), bridge1.agent.as_str()),
        ("sales", "1001")
    );
    assert!(sales_agent.wait_event("confirmed", 10).is_some());

    let mut second = caller(&py, &server, "300", "+79995550202");
    let overflow = server
        .wait_event(15, |e| e.kind == "queue.overflow")
        .unwrap_or_else(|| panic!("no overflow:\n{}", dump(&server)));
    assert_eq!(overflow.queue, "sales");
    assert_eq!(overflow.data["to"], "reserve");
    assert_ne!(overflow.call, bridge1.call);
    let call2 = overflow.call.clone();
    let bridge2 = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.call == call2)
        .unwrap_or_else(|| panic!("the second caller is not bridged:\n{}", dump(&server)));
    assert_eq!(bridge2.agent, "1002");
    assert!(reserve_agent.wait_event("confirmed", 10).is_some());
    let evs = server.events();
    let offers: Vec<&str> = evs
        .iter()
        .filter(|e| e.kind == "queue.offer" && e.call == call2)
        .map(|e| e.agent.as_str())
        .collect();
    assert_eq!(offers, vec!["1002"], "{}", dump(&server));
    let waited = evs
        .iter()
        .find(|e| e.kind == "queue.waited" && e.call == call2 && e.queue == "sales")
        .unwrap_or_else(|| panic!("no queue.waited in sales:\n{}", dump(&server)));
    assert_eq!(waited.data["outcome"], "overflowed");
    assert_eq!(waited.data["overflow_to"], "reserve");
    let joined_reserve = evs
        .iter()
        .find(|e| e.kind == "queue.join" && e.call == call2 && e.queue == "reserve");
    assert!(
        joined_reserve.is_some(),
        "joined reserve:\n{}",
        dump(&server)
    );

    first.command("hangup");
    second.command("hangup");
    assert!(first.wait_event("disconnected", 10).is_some());
    assert!(second.wait_event("disconnected", 10).is_some());
    for p in [first, second, sales_agent, reserve_agent] {
        p.quit();
    }
}

/// (b) An agent on an internal call is busy for every queue: 1001 calls the `reserve` queue
/// (1002 answers); a SIPp caller then waits in `sales`, whose only member is 1001, and is
/// not offered to 1001 while the internal call lasts (two announcements pass); the moment
/// 1001 hangs up it is offered the caller.
#[test]
fn an_agent_on_an_internal_call_is_not_offered_queue_calls_until_it_hangs_up() {
    let _serial = serial();
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(
        "acd-config-busy",
        &config(&[
            ("sales", "members = [\"1001\"]\nannounce_period = 1"),
            ("reserve", r#"members = ["1002"]"#),
        ]),
    );
    let mut a1001 = agent(&py, &server, "1001");
    let mut a1002 = agent(&py, &server, "1002");
    let before = server.events().last().map(|e| e.id).unwrap_or(0);

    // 1001's internal call to the reserve queue, answered by 1002.
    a1001.command(&format!("dial sip:reserve@{}", server.sip));
    let busy = wait_state(&server, "1001", "busy", before);
    assert_eq!(busy.data["busy_kind"], "direct", "{busy:?}");
    let internal = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.agent == "1002")
        .unwrap_or_else(|| panic!("1002 never answered 1001:\n{}", dump(&server)));
    assert!(a1002.wait_event("confirmed", 10).is_some());

    // A SIPp caller waits in sales.
    let target = server.sip;
    let sipp_run =
        std::thread::spawn(move || sipp("acd_caller.xml", target, &["-s", "300", "-m", "1"], 60));
    let join = server
        .wait_event(15, |e| e.kind == "queue.join" && e.queue == "sales")
        .unwrap_or_else(|| panic!("the SIPp caller never joined sales:\n{}", dump(&server)));
    let call = join.call.clone();
    // Two periodic announcements (1 s apart) pass while 1001 is on the internal call.
    let announced = switchboard_e2e::wait_for(15, || {
        let n = server
            .events()
            .iter()
            .filter(|e| e.kind == "queue.announce" && e.call == call)
            .count();
        (n >= 3).then_some(())
    });
    assert!(announced.is_some(), "announcements:\n{}", dump(&server));
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.kind == "queue.offer" && e.call == call),
        "1001 is on an internal call and must not be offered:\n{}",
        dump(&server)
    );

    // 1001 hangs up the internal call: it is offered the caller right away.
    a1001.command("hangup");
    let ended = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == internal.call)
        .unwrap_or_else(|| panic!("the internal call never ended:\n{}", dump(&server)));
    let offer = server
        .wait_event(15, |e| e.kind == "queue.offer" && e.call == call)
        .unwrap_or_else(|| panic!("1001 is not offered after hanging up:\n{}", dump(&server)));
    assert_eq!(offer.agent, "1001");
    assert!(offer.id > ended.id, "offered after the internal call ended");
    assert!(
        wait_nth(&mut a1001, "confirmed", 2, 15),
        "1001 answers the queue call: {:?}",
        a1001.seen
    );
    let bridge = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.call == call)
        .unwrap_or_else(|| panic!("not bridged:\n{}", dump(&server)));
    assert_eq!(bridge.agent, "1001");
    a1001.command("hangup");
    let out = sipp_run.join().expect("sipp thread");
    assert!(out.status.success(), "sipp:\n{}", sipp_trace(&out));
    a1001.quit();
    a1002.quit();
}

/// (c) `max_len = 1`: the first caller waits in `small` (its member is not logged in); the
/// second is refused (`queue.exit` reason `queue_full`) and the dialplan takes it on to its
/// fallback, the queue `fallback`, where agent 1002 answers.
#[test]
fn the_caller_past_max_len_goes_on_to_the_dialplans_fallback() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(
        "acd-config-maxlen",
        &config(&[
            ("small", "members = [\"1003\"]\nmax_len = 1"),
            ("fallback", r#"members = ["1002"]"#),
        ]),
    );
    let mut fallback_agent = agent(&py, &server, "1002");
    let mut first = caller(&py, &server, "301", "+79995550301");
    let join1 = server
        .wait_event(15, |e| e.kind == "queue.join" && e.queue == "small")
        .unwrap_or_else(|| panic!("the first caller waits in small:\n{}", dump(&server)));
    let mut second = caller(&py, &server, "301", "+79995550302");
    let exit = server
        .wait_event(15, |e| e.kind == "queue.exit" && e.call != join1.call)
        .unwrap_or_else(|| panic!("the second caller is not refused:\n{}", dump(&server)));
    assert_eq!(exit.queue, "small");
    assert_eq!(exit.data["reason"], "queue_full", "{exit:?}");
    let bridge = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.call == exit.call)
        .unwrap_or_else(|| panic!("the fallback never answered:\n{}", dump(&server)));
    assert_eq!(
        (bridge.queue.as_str(), bridge.agent.as_str()),
        ("fallback", "1002")
    );
    assert!(fallback_agent.wait_event("confirmed", 10).is_some());
    // The first caller is still waiting in small, untouched.
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.call == join1.call
                && matches!(e.kind.as_str(), "queue.exit" | "queue.waited")),
        "{}",
        dump(&server)
    );
    first.command("hangup");
    second.command("hangup");
    assert!(first.wait_event("disconnected", 10).is_some());
    assert!(second.wait_event("disconnected", 10).is_some());
    for p in [first, second, fallback_agent] {
        p.quit();
    }
}

/// A supervisor listening to an agent's call is busy for every queue: 1005 (supervisor, the
/// only member of `reserve`) listens to 1001's sales call; a SIPp caller waiting in `reserve`
/// is not offered to 1005 while it listens (three announcements pass), and is offered the
/// moment 1005 hangs up the listen call.
#[test]
fn a_supervisor_listening_to_a_call_is_not_offered_queue_calls_until_it_hangs_up() {
    let _serial = serial();
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(
        "acd-config-supervisor",
        &config(&[
            ("sales", r#"members = ["1001"]"#),
            ("reserve", "members = [\"1005\"]\nannounce_period = 1"),
        ]),
    );
    let mut a1001 = agent(&py, &server, "1001");
    let mut sup = agent(&py, &server, "1005");
    let mut customer = caller(&py, &server, "300", "+79995550401");
    let bridge = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.agent == "1001")
        .unwrap_or_else(|| panic!("the customer never reached 1001:\n{}", dump(&server)));
    assert!(a1001.wait_event("confirmed", 10).is_some());
    // The call can be supervised once the parties are connected.
    server
        .wait_event(15, |e| e.kind == "call.connected" && e.call == bridge.call)
        .unwrap_or_else(|| panic!("never connected:\n{}", dump(&server)));
    let before = server.events().last().map(|e| e.id).unwrap_or(0);

    sup.command(&format!("dial sip:listen-1001@{}", server.sip));
    let joined = server
        .wait_event(15, |e| e.kind == "supervisor.join" && e.call == bridge.call)
        .unwrap_or_else(|| panic!("1005 never joined:\n{}", dump(&server)));
    assert_eq!(joined.data["mode"], "listen", "{joined:?}");
    let busy = wait_state(&server, "1005", "busy", before);
    assert_eq!(busy.data["busy_kind"], "direct", "{busy:?}");

    let target = server.sip;
    let sipp_run =
        std::thread::spawn(move || sipp("acd_caller.xml", target, &["-s", "302", "-m", "1"], 60));
    let join = server
        .wait_event(15, |e| e.kind == "queue.join" && e.queue == "reserve")
        .unwrap_or_else(|| panic!("the SIPp caller never joined reserve:\n{}", dump(&server)));
    let call = join.call.clone();
    let announced = switchboard_e2e::wait_for(15, || {
        let n = server
            .events()
            .iter()
            .filter(|e| e.kind == "queue.announce" && e.call == call)
            .count();
        (n >= 3).then_some(())
    });
    assert!(announced.is_some(), "announcements:\n{}", dump(&server));
    assert!(
        !server
            .events()
            .iter()
            .any(|e| e.kind == "queue.offer" && e.call == call),
        "1005 is listening and must not be offered:\n{}",
        dump(&server)
    );

    sup.command("hangup");
    // The listen call's own end (logged by its task before the agent is released).
    let listen_call = server
        .events()
        .into_iter()
        .find(|e| e.kind == "call.start" && e.data["dnis"] == "listen-1001")
        .map(|e| e.call)
        .expect("the listen call started");
    let ended = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == listen_call)
        .unwrap_or_else(|| panic!("the listen call never ended:\n{}", dump(&server)));
    assert_eq!(ended.data["disposition"], "supervision", "{ended:?}");
    let offer = server
        .wait_event(15, |e| e.kind == "queue.offer" && e.call == call)
        .unwrap_or_else(|| panic!("1005 is not offered after hanging up:\n{}", dump(&server)));
    assert_eq!(offer.agent, "1005");
    assert!(offer.id > ended.id, "offered after the listen call ended");
    assert!(
        wait_nth(&mut sup, "confirmed", 2, 15),
        "1005 answers the queue call: {:?}",
        sup.seen
    );
    sup.command("hangup");
    let out = sipp_run.join().expect("sipp thread");
    assert!(out.status.success(), "sipp:\n{}", sipp_trace(&out));
    customer.command("hangup");
    assert!(customer.wait_event("disconnected", 10).is_some());
    for p in [customer, a1001, sup] {
        p.quit();
    }
}
