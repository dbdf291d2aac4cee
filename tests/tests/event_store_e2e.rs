//! The event store end to end: the same real call (pjsua2 caller -> IVR -> queue `sales` ->
//! agent 1001) logged to SQLite and to a private PostgreSQL cluster gives the same CDR,
//! queue_log and check; and a `kill -9` during a bridged call leaves a log that the next
//! start closes with `end_reason` `crash`, so the call is in the CDR and `export check`
//! passes.

use std::path::Path;
use std::process::Command;

use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::pg::PgCluster;
use switchboard_e2e::{switchboard_bin, wait_for, Server};

/// `switchboard export WHAT --data-dir DIR [--event-store URL]`: (exit code, stdout).
fn export(what: &str, data_dir: &Path, store: Option<&str>) -> (i32, String) {
    let mut cmd = Command::new("timeout");
    cmd.arg("60")
        .arg(switchboard_bin())
        .args(["export", what, "--data-dir"])
        .arg(data_dir);
    if let Some(url) = store {
        cmd.args(["--event-store", url]);
    }
    let out = cmd.output().expect("run switchboard export");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

/// The kinds in the store, in order (SQLite through the harness, PostgreSQL through psql).
fn logged_kinds(server: &Server, store: Option<&str>) -> Vec<String> {
    match store {
        None => server.events().into_iter().map(|e| e.kind).collect(),
        Some(url) => {
            let out = Command::new("timeout")
                .args([
                    "30",
                    "psql",
                    "-qAt",
                    url,
                    "-c",
                    "SELECT kind FROM events ORDER BY id",
                ])
                .output()
                .expect("psql");
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        }
    }
}

/// CDR rows as (column -> value) maps.
fn cdr_rows(csv: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// The columns that do not depend on when the call ran or its random id.
const STABLE: [&str; 8] = [
    "caller",
    "dnis",
    "queue",
    "agent",
    "disposition",
    "hangup_by",
    "end_reason",
    "dtmf",
];

/// The queue_log events (5th field) in order, for calls only.
fn ql_events(ql: &str) -> Vec<String> {
    ql.lines()
        .filter(|l| l.split('|').nth(1).is_some_and(|c| c != "NONE"))
        .map(|l| l.split('|').nth(4).unwrap_or("").to_string())
        .collect()
}

/// A caller reaches agent 1001 through the demo IVR; returns the two phones once the agent
/// has answered (the call is bridged).
fn bridged_call(py: &str, server: &Server) -> (Softphone, Softphone) {
    let mut agent = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            ..Default::default()
        },
    );
    assert!(
        agent.wait_event("registered", 20).is_some(),
        "agent registered; log:\n{}",
        server.log_text()
    );
    let mut caller = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "call answered; log:\n{}",
        server.log_text()
    );
    assert!(caller.wait_event("media", 10).is_some());
    caller.command("dtmf 1");
    assert!(
        agent.wait_event("incoming", 40).is_some(),
        "agent offered the call; log:\n{}",
        server.log_text()
    );
    assert!(
        agent.wait_event("confirmed", 10).is_some(),
        "agent answered"
    );
    (caller, agent)
}

/// One bridged call that the caller ends; returns the exports once the CDR has the call.
fn call_and_export(py: &str, store: Option<&str>) -> (String, String, (i32, String)) {
    let args: Vec<&str> = store.map(|u| vec!["--event-store", u]).unwrap_or_default();
    let server = Server::start_with("store-call", "", &args);
    let (mut caller, mut agent) = bridged_call(py, &server);
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    assert!(agent.wait_event("disconnected", 10).is_some());
    caller.quit();
    agent.quit();
    // The log is written asynchronously: wait until the CDR has the finished call.
    let cdr = wait_for(20, || {
        let (code, out) = export("cdr", &server.data_dir, store);
        (code == 0 && cdr_rows(&out).len() == 1).then_some(out)
    })
    .unwrap_or_else(|| panic!("CDR row; log:\n{}", server.log_text()));
    let (code, ql) = export("queue-log", &server.data_dir, store);
    assert_eq!(code, 0);
    let check = export("check", &server.data_dir, store);
    if store.is_some() {
        assert!(
            !server.data_dir.join("events.sqlite").exists(),
            "with a PostgreSQL store nothing is written to SQLite"
        );
    }
    (cdr, ql, check)
}

#[test]
fn a_call_logged_to_postgresql_exports_the_same_as_to_sqlite() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let (cdr_lite, ql_lite, check_lite) = call_and_export(&py, None);
    let (cdr_pg, ql_pg, check_pg) = call_and_export(&py, Some(&pg.url));

    let stable = |csv: &str| {
        cdr_rows(csv)
            .into_iter()
            .map(|r| {
                STABLE
                    .iter()
                    .map(|k| (k.to_string(), r.get(*k).cloned().unwrap_or_default()))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(stable(&cdr_pg), stable(&cdr_lite), "{cdr_pg}\n{cdr_lite}");
    let row = &cdr_rows(&cdr_pg)[0];
    assert_eq!(row["disposition"], "answered");
    assert_eq!(row["end_reason"], "caller_hangup");
    assert_eq!(row["agent"], "1001");
    assert_eq!(
        cdr_pg.lines().next(),
        cdr_lite.lines().next(),
        "same header"
    );
    assert_eq!(ql_events(&ql_pg), ql_events(&ql_lite), "{ql_pg}\n{ql_lite}");
    assert_eq!(
        ql_events(&ql_pg),
        ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"],
        "{ql_pg}"
    );
    assert_eq!(check_pg, check_lite);
    assert_eq!(check_pg.0, 0, "{}", check_pg.1);
}

/// A bridged call, `kill -9`, a restart on the same store: the call is closed as `crash`.
fn crash_and_restart(py: &str, store: Option<&str>) {
    let args: Vec<&str> = store.map(|u| vec!["--event-store", u]).unwrap_or_default();
    let mut server = Server::start_with("store-crash", "", &args);
    let (caller, agent) = bridged_call(py, &server);
    // Kill only once the bridge is committed (the agent answered; the log follows).
    let data_dir = server.data_dir.clone();
    let bridged = wait_for(20, || {
        logged_kinds(&server, store)
            .iter()
            .any(|k| k == "call.bridge")
            .then_some(())
    });
    assert!(
        bridged.is_some(),
        "call.bridge logged; log:\n{}",
        server.log_text()
    );
    let (code, out) = export("check", &data_dir, store);
    assert_eq!(code, 1, "a call without an end fails the check: {out}");
    assert!(out.contains("no call.end"), "{out}");
    server.kill_hard();
    caller.quit();
    agent.quit();

    let restarted = Server::start_on("store-crash-again", "", &args, Some(&data_dir));
    let (code, cdr) = export("cdr", &data_dir, store);
    assert_eq!(code, 0);
    let rows = cdr_rows(&cdr);
    assert_eq!(rows.len(), 1, "the crashed call is in the CDR: {cdr}");
    assert_eq!(rows[0]["end_reason"], "crash", "{cdr}");
    assert_eq!(rows[0]["disposition"], "interrupted", "{cdr}");
    assert_eq!(rows[0]["agent"], "1001", "{cdr}");
    assert_eq!(rows[0]["queue"], "sales", "{cdr}");
    let (code, out) = export("check", &data_dir, store);
    assert_eq!(code, 0, "check after the restart: {out}");
    drop(restarted);
}

#[test]
fn kill_9_during_a_bridged_call_is_closed_as_crash_at_restart_sqlite() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    crash_and_restart(&py, None);
}

#[test]
fn kill_9_during_a_bridged_call_is_closed_as_crash_at_restart_postgresql() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(pg) = PgCluster::start() else {
        return;
    };
    crash_and_restart(&py, Some(&pg.url));
}

/// A one-shot INVITE over UDP; returns the final status code.
fn invite_status(server: &Server) -> Option<u16> {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    let port = sock.local_addr().ok()?.port();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let msg = format!(
        "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};rport;branch=z9hG4bKdisk1\r\n\
         From: <sip:+79995550101@127.0.0.1>;tag=d1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: disk-low-1\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sock.send_to(msg.as_bytes(), server.sip).ok()?;
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let head = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
        if code >= 200 {
            return Some(code);
        }
    }
}

#[test]
fn below_the_free_disk_watermark_new_calls_get_503_and_it_is_counted() {
    // No disk has a petabyte free: the watermark is crossed from the start.
    let server = Server::start("store-disk-low", "[data]\nmin_free_mb = 1000000000\n");
    assert_eq!(invite_status(&server), Some(503), "{}", server.log_text());
    let (_, metrics) = server.http_get("/metrics");
    assert!(metrics.contains("\nswitchboard_disk_low 1\n"), "{metrics}");
    assert!(
        metrics.contains("\nswitchboard_calls_refused_disk_low_total 1\n"),
        "{metrics}"
    );
    let log = server.log_text();
    assert!(
        log.contains("free disk space below [data] min_free_mb"),
        "{log}"
    );
    // Nothing was taken that the log did not record: no call.start for the refused call.
    assert!(
        !server.events().iter().any(|e| e.kind == "call.start"),
        "{:?}",
        server.events()
    );
}
