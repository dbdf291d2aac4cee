//! Live queue statistics against an independent count: SIPp callers into queue `sales`
//! (eight who wait to be served, three who hang up while waiting), two pjsua2 agents who
//! answer and hang up after a few seconds; then `GET /api/v1/queues/sales` must agree with
//! what the CDR (`switchboard export cdr`) says about the same calls: offered, answered and
//! abandoned exactly; service level exactly (or within the range the calls whose wait lies
//! next to the threshold allow); ASA and AHT within a tolerance made of the two
//! measurements' resolution (the CDR's timestamps are whole milliseconds, taken by the call
//! task, the engine's a moment later in the ACD actor), and abandon rate exactly.

use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard_e2e::cdr_csv::{csv_rows, number, time_of_day};
use switchboard_e2e::peers::{python_with_pjsua2, registered_agent};
use switchboard_e2e::{http_call, require_peer, sipp, sipp_trace, wait_for, Server};

/// Callers who wait until an agent serves them.
const SERVED: usize = 8;
/// Callers who hang up 1.5 s after the IVR answers, while still queued.
const ABANDONING: usize = 3;
/// How long an agent talks before hanging up.
const TALK: Duration = Duration::from_secs(3);
/// The queue's service-level threshold (seconds) and wrap-up (seconds).
const THRESHOLD: f64 = 6.0;
const WRAP: f64 = 1.0;

fn config() -> String {
    format!(
        r#"
[ivr]
dialplans = "tests/dialplans-acd"

[media]
rtp_timeout = 120

[acd]
stats_interval = 60
timezone = "Europe/Moscow"

[[queues]]
name = "sales"
strategy = "longest-idle"
members = ["1001", "1002"]
ring_timeout = 10
wrap_up = {WRAP}
announce_period = 0
record = false
sl_threshold = {THRESHOLD}
sl_target = 0.8

[[queues]]
name = "bank"
members = ["1004"]

[[queues]]
name = "support"
members = ["1003"]

[[queues]]
name = "operator"
members = ["1003"]

[[queues]]
name = "outsource"
members = ["1003"]
"#
    )
}

fn queue(server: &Server) -> Value {
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/queues/sales",
        None,
        Some("demo-agent-1001"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn queue_statistics_agree_with_a_count_from_the_cdr() {
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("queue-stats", &config());
    let mut agents = [
        registered_agent(&py, server.sip, "1001", 90),
        registered_agent(&py, server.sip, "1002", 90),
    ];
    wait_for(15, || {
        (queue(&server)["stats"]["live"]["agents"]["available"] == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("both agents available: {}", queue(&server)));
    let day_before = queue(&server)["stats"]["today"]["since"].clone();

    // Served callers: 4 a second, so a queue builds up behind the two agents.
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
    // Once they are all in, the abandoning callers join behind them.
    wait_for(20, || {
        (queue(&server)["stats"]["today"]["offered"].as_u64() >= Some(SERVED as u64)).then_some(())
    })
    .unwrap_or_else(|| panic!("the served callers joined: {}", queue(&server)));
    let n = ABANDONING.to_string();
    let abandoning = std::thread::spawn(move || {
        sipp(
            "acd_caller_abandon.xml",
            target,
            &["-s", "200", "-m", &n, "-r", "10", "-l", &n],
            30,
        )
    });

    // Each agent hangs up TALK after its call is confirmed, until every caller is gone.
    let deadline = Instant::now() + Duration::from_secs(80);
    let mut cursor = [0usize; 2];
    let mut due: [Option<Instant>; 2] = [None, None];
    let done = |server: &Server| {
        server
            .events()
            .iter()
            .filter(|e| e.kind == "call.end")
            .count()
            >= SERVED + ABANDONING
    };
    while !done(&server) && Instant::now() < deadline {
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
    assert!(done(&server), "every call ended: {}", server.log_text());
    // The last wrap-up ends a second after the last call: then every answered call is
    // handled.
    let stats = wait_for(10, || {
        let q = queue(&server);
        let t = &q["stats"]["today"];
        (t["handled"] == t["answered"] && q["stats"]["live"]["agents"]["available"] == 2)
            .then_some(q)
    })
    .unwrap_or_else(|| panic!("every answered call handled: {}", queue(&server)));
    for phone in agents {
        phone.quit();
    }
    let today = &stats["stats"]["today"];
    if today["since"] != day_before {
        eprintln!("midnight in Europe/Moscow passed during the test; figures of two days");
        return;
    }
    let since = today["since"].as_str().unwrap_or("");
    assert!(
        since.ends_with("+03:00"),
        "today.since in Moscow time: {since}"
    );

    // The independent count, from the CDR.
    let rows: Vec<_> = csv_rows(&server.export("cdr"))
        .into_iter()
        .filter(|r| r["queue"] == "sales")
        .collect();
    let num = |r: &std::collections::HashMap<String, String>, k: &str| -> f64 {
        r[k].parse()
            .unwrap_or_else(|_| panic!("{k} is a number in {r:?}"))
    };
    let answered: Vec<_> = rows
        .iter()
        .filter(|r| r["disposition"] == "answered")
        .collect();
    let abandoned: Vec<_> = rows
        .iter()
        .filter(|r| r["disposition"] == "abandoned")
        .collect();
    eprintln!(
        "CDR: {} rows, {} answered, {} abandoned; API today: {today}",
        rows.len(),
        answered.len(),
        abandoned.len()
    );
    assert_eq!(rows.len(), SERVED + ABANDONING, "every caller was in sales");
    assert_eq!(answered.len() + abandoned.len(), rows.len());
    assert!(answered.len() >= SERVED, "{rows:?}");
    assert!(!abandoned.is_empty(), "some callers abandoned: {rows:?}");
    assert_eq!(today["offered"], rows.len());
    assert_eq!(today["answered"], answered.len());
    assert_eq!(today["abandoned"], abandoned.len());
    assert_eq!(today["short_abandoned"], 0);

    // Abandon rate: counts, so exact.
    let base = (answered.len() + abandoned.len()) as f64;
    let rate = number(&today["abandon_rate"]);
    assert!(
        (rate - abandoned.len() as f64 / base).abs() < 1e-9,
        "{rate}"
    );

    // ASA: the same calls' waits, measured twice. The CDR's wait runs from the join to the
    // bridge event; the engine's from the actor's join to the actor's answer. Each end is
    // a message apart: allow a few milliseconds per end and per call, plus the CDR's
    // millisecond rounding.
    let waits: Vec<f64> = answered.iter().map(|r| num(r, "wait_s")).collect();
    let cdr_asa = waits.iter().sum::<f64>() / waits.len() as f64;
    let asa = number(&today["asa_s"]);
    let per_call = 0.25;
    assert!(
        (asa - cdr_asa).abs() <= per_call,
        "ASA: API {asa:.3} s, CDR {cdr_asa:.3} s"
    );
    // Service level: exact, except that a call whose two measured waits straddle the
    // threshold may fall either way.
    let sure_within = waits.iter().filter(|w| **w <= THRESHOLD - per_call).count();
    let maybe_within = waits.iter().filter(|w| **w <= THRESHOLD + per_call).count();
    let within = today["answered_within_threshold"]
        .as_u64()
        .expect("answered_within_threshold") as usize;
    assert!(
        (sure_within..=maybe_within).contains(&within),
        "within {THRESHOLD} s: API {within}, CDR {sure_within}..={maybe_within} (waits {waits:?})"
    );
    assert!(
        sure_within > 0 && maybe_within < answered.len(),
        "the scenario has calls on both sides of the threshold: {waits:?}"
    );
    let sl = number(&today["service_level"]);
    assert!((sl - within as f64 / base).abs() < 1e-9, "SL {sl}");
    assert_eq!(stats["stats"]["sl_threshold_s"], THRESHOLD);

    // AHT: the agent's time on the call (from the CDR's bridge, the agent's answer, to its
    // end; the CDR's own talk_s starts after the whisper to the agent) plus the configured
    // wrap-up (the wrap-up timer ends it).
    let talk: f64 = answered
        .iter()
        .map(|r| (time_of_day(&r["end"]) - time_of_day(&r["bridge"])).rem_euclid(86_400.0))
        .sum::<f64>()
        / answered.len() as f64;
    let cdr_aht = talk + WRAP;
    let aht = number(&today["aht_s"]);
    eprintln!(
        "ASA API {asa:.3} s vs CDR {cdr_asa:.3} s; AHT API {aht:.3} s vs CDR {cdr_aht:.3} s; \
         SL API {within}/{base} vs CDR {sure_within}..={maybe_within}"
    );
    assert!(
        (aht - cdr_aht).abs() <= per_call,
        "AHT: API {aht:.3} s, CDR talk {talk:.3} s + wrap-up {WRAP} s"
    );
    assert!(number(&today["occupancy"]) > 0.0);

    // The interval is part of the day; the gauges show the interval.
    let interval = &stats["stats"]["interval"];
    assert!(interval["offered"].as_u64() <= today["offered"].as_u64());
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("switchboard_queue_longest_wait_seconds{queue=\"sales\"} 0"),
        "{metrics}"
    );
    if interval["offered"] == today["offered"] && interval["answered"] == today["answered"] {
        let gauge: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("switchboard_queue_service_level{queue=\"sales\"} "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("a service-level gauge for sales in\n{metrics}"));
        assert!((gauge - sl).abs() < 1e-9, "gauge {gauge}, API {sl}");
    }
}
