//! The fixture the ACD end-to-end tests share: the queues' configuration, phones that
//! register or call, the event log's timestamps, and the exports.
//!
//! The dialplan `tests/dialplans-acd/acd.ivr` sends each number straight into one queue
//! (200: sales, 201: bank, 202: support, 203-205: bank with a max wait, an exit key, a
//! priority); every test sets up those queues in its TOML.
// Each test binary that includes this module uses a subset of it.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use switchboard_e2e::peers::{registered, Softphone, SoftphoneOpts};
use switchboard_e2e::{LoggedEvent, Server};

/// One test at a time (see the module doc).
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server configuration: our dialplans, a long RTP timeout (SIPp callers send no
/// audio), and the queue list with `sales`, `bank` and `support` given by the test. The
/// list replaces the default one, so it keeps every queue the default config names.
pub(crate) fn config(sales: &str, bank: &str, support: &str) -> String {
    format!(
        r#"
[ivr]
dialplans = "tests/dialplans-acd"

[media]
rtp_timeout = 120

[[queues]]
name = "sales"
{sales}

[[queues]]
name = "bank"
{bank}

[[queues]]
name = "support"
{support}

[[queues]]
name = "operator"
members = ["1003"]

[[queues]]
name = "outsource"
members = ["1003"]
"#
    )
}

/// Unix-millisecond timestamps of the logged events, by event id.
pub(crate) fn timestamps(server: &Server) -> HashMap<i64, i64> {
    let conn = rusqlite::Connection::open_with_flags(
        server.data_dir.join("events.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the event log");
    let mut st = conn
        .prepare("SELECT id, ts_ms FROM events")
        .expect("prepare");
    st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .expect("query")
        .flatten()
        .collect()
}

/// Waits until `user` is logged in and available in the ACD.
pub(crate) fn wait_available(server: &Server, user: &str) {
    server
        .wait_event(15, |e| {
            e.kind == "agent.state" && e.agent == user && e.data["state"] == "available"
        })
        .unwrap_or_else(|| {
            panic!(
                "agent {user} never became available; events:\n{}\nlog:\n{}",
                dump(server),
                server.log_text()
            )
        });
}

pub(crate) fn agent_phone(
    py: &str,
    server: &Server,
    user: &str,
    answer: &str,
    secs: u32,
) -> Softphone {
    let phone = registered(
        py,
        server.sip,
        user,
        SoftphoneOpts {
            answer,
            seconds: secs,
            ..Default::default()
        },
    );
    wait_available(server, user);
    phone
}

pub(crate) fn caller_phone(
    py: &str,
    server: &Server,
    dial: &str,
    caller: &str,
    secs: u32,
) -> Softphone {
    let mut phone = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:{dial}@{}", server.sip)),
            caller,
            seconds: secs,
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

/// The event log, one line per event (for failure messages).
pub(crate) fn dump(server: &Server) -> String {
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

/// Runs `switchboard export <what>` on the server's data directory; returns stdout.
pub(crate) fn export(server: &Server, what: &str) -> String {
    server.export(what)
}

pub(crate) fn of_call<'a>(evs: &'a [LoggedEvent], call: &str) -> Vec<&'a LoggedEvent> {
    evs.iter().filter(|e| e.call == call).collect()
}
