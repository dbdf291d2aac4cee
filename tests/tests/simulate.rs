//! What-if replay on the event store of a real run: SIPp callers into `sales` (eight who
//! wait to be served, four who hang up 1.5 s after joining), two pjsua2 agents who answer
//! and hang up after three seconds. Then, as subprocesses on the same store:
//! `switchboard simulate` with the same configuration must report the recorded service
//! level exactly as `switchboard report queues` does and reproduce it within 5 points;
//! `--agents sales=+3` must not make it worse (and `--scale 2` doubles the callers);
//! `switchboard staffing --from-events` must plan a positive number of agents for the busy
//! slot. The threshold (2 s) sits between the waits of callers answered at once (ring
//! time) and of those who waited for a call to end (at least 3 s), so jitter in the
//! recorded times cannot move a caller across it.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use switchboard_e2e::cdr_csv::number;
use switchboard_e2e::peers::{python_with_pjsua2, registered_agent};
use switchboard_e2e::{
    http_call, require_peer, sipp, sipp_trace, switchboard_bin, wait_for, Server,
};

const SERVED: usize = 8;
const ABANDONING: usize = 4;
const TALK: Duration = Duration::from_secs(3);

fn config() -> String {
    let mut c = String::from(
        r#"
[ivr]
dialplans = "tests/dialplans-acd"

[media]
rtp_timeout = 120

[[queues]]
name = "sales"
strategy = "longest-idle"
members = ["1001", "1002"]
ring_timeout = 10
wrap_up = 1
announce_period = 0
record = false
sl_threshold = 2
sl_target = 0.8
"#,
    );
    for (q, m) in [
        ("bank", "1004"),
        ("support", "1003"),
        ("operator", "1003"),
        ("outsource", "1003"),
    ] {
        c.push_str(&format!(
            "\n[[queues]]\nname = \"{q}\"\nmembers = [\"{m}\"]\n"
        ));
    }
    c
}

fn queue(server: &Server) -> Value {
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/queues/sales",
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Callers and agents; returns when every call ended and every answered call is handled.
fn run_load(server: &Server, py: &str) {
    let mut agents = [
        registered_agent(py, server.sip, "1001", 90),
        registered_agent(py, server.sip, "1002", 90),
    ];
    wait_for(15, || {
        (queue(server)["stats"]["live"]["agents"]["available"] == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("both agents available: {}", queue(server)));
    let target = server.sip;
    let n = SERVED.to_string();
    let served = std::thread::spawn(move || {
        sipp(
            "acd_caller.xml",
            target,
            &["-s", "200", "-m", &n, "-r", "4", "-l", &n],
            80,
        )
    });
    wait_for(20, || {
        (queue(server)["stats"]["today"]["offered"].as_u64() >= Some(SERVED as u64)).then_some(())
    })
    .unwrap_or_else(|| panic!("the served callers joined: {}", queue(server)));
    let n = ABANDONING.to_string();
    let abandoning = std::thread::spawn(move || {
        sipp(
            "acd_caller_abandon.xml",
            target,
            &["-s", "200", "-m", &n, "-r", "10", "-l", &n],
            30,
        )
    });
    let deadline = Instant::now() + Duration::from_secs(80);
    let mut cursor = [0usize; 2];
    let mut due: [Option<Instant>; 2] = [None, None];
    let ended = |server: &Server| {
        server
            .events()
            .iter()
            .filter(|e| e.kind == "call.end")
            .count()
            >= SERVED + ABANDONING
    };
    // Each agent hangs up TALK after its call is confirmed.
    while !ended(server) && Instant::now() < deadline {
        for (i, phone) in agents.iter_mut().enumerate() {
            let _ = phone.wait_event("-", 0);
            for v in &phone.seen[cursor[i]..] {
                if v["event"] == "confirmed" {
                    due[i] = Some(Instant::now() + TALK);
                }
            }
            cursor[i] = phone.seen.len();
            if due[i].is_some_and(|d| Instant::now() >= d) {
                phone.command("hangup");
                due[i] = None;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = served.join().expect("sipp thread");
    assert!(out.status.success(), "served callers: {}", sipp_trace(&out));
    let out = abandoning.join().expect("sipp thread");
    assert!(
        out.status.success(),
        "abandoning callers: {}",
        sipp_trace(&out)
    );
    assert!(ended(server), "every call ended: {}", server.log_text());
    wait_for(10, || {
        let q = queue(server);
        let t = &q["stats"]["today"];
        (t["handled"] == t["answered"] && q["stats"]["live"]["agents"]["available"] == 2)
            .then_some(())
    })
    .unwrap_or_else(|| panic!("every answered call handled: {}", queue(server)));
    for phone in agents {
        phone.quit();
    }
}

#[test]
fn a_replay_of_a_real_run_reproduces_its_service_level() {
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let unix = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs()
    };
    let from = (unix() - 60).to_string();
    let server = Server::start("simulate-e2e", &config());
    run_load(&server, &py);
    let to = (unix() + 60).to_string();
    let cfg = server
        .data_dir
        .parent()
        .expect("scratch")
        .join("config.toml");
    let run = |cmd: &str, extra: &[&str]| -> Value {
        let out = Command::new(switchboard_bin())
            .arg(cmd)
            .args(extra)
            .args(["--from", &from, "--to", &to, "--format", "json", "--config"])
            .arg(&cfg)
            .arg("--data-dir")
            .arg(&server.data_dir)
            .output()
            .expect("run switchboard");
        assert!(
            out.status.success(),
            "switchboard {cmd} {extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let sales = |t: &Value| -> Value {
        let rows: Vec<&Value> = t["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["queue"] == "sales")
            .collect();
        assert_eq!(rows.len(), 1, "one interval, one row for sales: {t}");
        rows[0].clone()
    };
    let report = sales(&run("report", &["queues", "--interval", "1d"]));
    let same = sales(&run("simulate", &["--interval", "1d"]));
    eprintln!("report: {report}\nreplay: {same}");
    assert_eq!(report["offered"], (SERVED + ABANDONING) as u64);
    assert!(report["abandoned"].as_u64() > Some(0), "{report}");
    // The recorded side is the report's count.
    for (r, s) in [
        ("offered", "offered"),
        ("answered", "answered"),
        ("abandoned", "abandoned"),
    ] {
        assert_eq!(report[r], same[s], "{r}: report {report} simulate {same}");
    }
    let recorded = number(&report["service_level"]);
    assert!((number(&same["service_level"]) - recorded).abs() < 1e-3);
    assert_eq!(same["offered_sim"], report["offered"]);
    let replayed = number(&same["service_level_sim"]);
    assert!(
        (replayed - recorded).abs() <= 0.05,
        "replayed SL {replayed:.3} vs recorded {recorded:.3}: {same}"
    );
    assert!(number(&same["occupancy_sim"]) > 0.0, "{same}");

    // Three more agents: service level no worse; twice the callers: twice offered.
    let more = sales(&run(
        "simulate",
        &["--interval", "1d", "--agents", "sales=+3"],
    ));
    eprintln!("with 3 more agents: {more}");
    assert!(
        number(&more["service_level_sim"]) >= replayed,
        "more agents, lower SL: {more} vs {same}"
    );
    let doubled = sales(&run("simulate", &["--interval", "1d", "--scale", "2"]));
    assert_eq!(
        doubled["offered_sim"].as_u64(),
        Some(2 * (SERVED + ABANDONING) as u64),
        "{doubled}"
    );

    // A staffing plan from the same traffic: the busy slot needs agents.
    let plan = run("staffing", &["--from-events", "--interval", "1h"]);
    eprintln!("staffing: {plan}");
    let slot = sales(&plan);
    assert_eq!(slot["offered"], (SERVED + ABANDONING) as u64, "{plan}");
    assert!(slot["agents"].as_u64() >= Some(1), "{plan}");
    assert_eq!(slot["erlang"], "A", "callers were seen to give up: {plan}");

    // Bad input: a clear error, exit 2.
    let out = Command::new(switchboard_bin())
        .args([
            "simulate",
            "--from",
            &from,
            "--to",
            &to,
            "--agents",
            "sales=lots",
        ])
        .arg("--config")
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .output()
        .expect("run switchboard");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--agents"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
