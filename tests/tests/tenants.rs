//! Tenant isolation end to end: two clients (`acme`, `globex`), each with its own DNIS,
//! queue, agent (pjsua2) and recordings directory. One call per client is answered by the
//! client's agent; while both talk, every list endpoint read with acme's tokens (a
//! supervisor and an admin-role token scoped to acme, which sees numbers unmasked) must
//! contain nothing of globex: not its queue, its agent, its caller's number nor its name;
//! globex's queue, agent and call are 404 for them; the reports and the event stream
//! likewise. Globex's recording lands in globex's directory, acme's in acme's.
//!
//! With one call of each client waiting in a queue they share (`shared_q`, no tenant),
//! each client's supervisor's event stream shows its own call from its IVR phase on and
//! nothing of the other's, every event of a call from `ivr.start` on carries its tenant,
//! and `GET /api/v1/calls` lists each supervisor its own call only.
//!
//! Conversation scripts: a tenant's own `scripts/<tenant>/<name>.md` comes before the
//! shared one, and another tenant's script is 404.

use serde_json::Value;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::ws::{python_with_websockets, EventClient, WsAuth};
use switchboard_e2e::{http_call, scratch_dir, wait_for, Server};

const ACME_CALLER: &str = "+74951114141";
const GLOBEX_CALLER: &str = "+74951117373";
/// What must never appear in anything acme's tokens are shown.
/// (Globex's agent is `gus-globex`; its queue `globex_q`: "globex" covers both.)
const GLOBEX_MARKS: [&str; 3] = ["globex", "Globex", GLOBEX_CALLER];

fn config(rec: &std::path::Path) -> String {
    format!(
        r#"
[ivr]
dialplans = "tests/dialplans-tenants"

[media]
rtp_timeout = 120

[http]
tokens = [
  {{ name = "all-admin", sha256 = "603b706a310205826707afeec44af11c6ca206d2ff99494605185af02d83edac", role = "admin" }},
  {{ name = "acme-sup", sha256 = "a2592654f790ac126514e152fa05b698cf9bc633d5373c798e3dbee8afe86e18", role = "supervisor", tenant = "acme" }},
  {{ name = "acme-admin", sha256 = "9b2121d11ed6621675e9e2b97e2b0fd1330254dedede68163bc54c72550f1bf6", role = "admin", tenant = "acme" }},
  {{ name = "globex-sup", sha256 = "b9136f9685b93fcc93a68fa47f8dbad53bde9f3fdd9b78ff0e912f0d3e99a6ff", role = "supervisor", tenant = "globex" }},
]

[[tenants]]
name = "acme"
display_name = "ACME Corp"
description = "Rockets and anvils"
recordings_dir = "{acme}"

[[tenants]]
name = "globex"
display_name = "Globex Corporation"
recordings_dir = "{globex}"

[[users]]
name = "ann-acme"
password = "secret-ann"
tenant = "acme"

[[users]]
name = "gus-globex"
password = "secret-gus"
tenants = ["globex"]

[[users]]
name = "sam-shared"
password = "secret-sam"
tenants = ["acme", "globex"]

[[queues]]
name = "shared_q"
members = ["sam-shared"]
announce_period = 0

[[queues]]
name = "acme_q"
tenant = "acme"
members = ["ann-acme"]
record = true
announce_period = 0
wrap_up = 1

[[queues]]
name = "globex_q"
tenant = "globex"
members = ["gus-globex"]
record = true
announce_period = 0
wrap_up = 1
"#,
        acme = rec.join("acme").display(),
        globex = rec.join("globex").display(),
    )
}

fn get(server: &Server, path: &str, token: &str) -> (u16, String) {
    http_call(server.http, "GET", path, None, Some(token), None)
}

fn assert_clean(what: &str, body: &str) {
    for mark in GLOBEX_MARKS {
        assert!(
            !body.contains(mark),
            "{what} shows {mark:?} to acme: {body}"
        );
    }
}

fn agent(py: &str, server: &Server, user: &'static str, password: &'static str) -> Softphone {
    let mut phone = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            user: Some((user, password)),
            answer: "auto",
            seconds: 120,
            ..Default::default()
        },
    );
    let reg = phone.wait_event("registered", 20);
    assert_eq!(reg.map(|r| r["code"].clone()), Some(serde_json::json!(200)));
    server
        .wait_event(20, |e| {
            e.kind == "agent.state" && e.agent == user && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("{user} available: {}", server.log_text()));
    phone
}

fn caller(py: &str, server: &Server, dnis: &str, number: &'static str) -> Softphone {
    Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:{dnis}@{}", server.sip)),
            caller: number,
            tone_hz: 440,
            seconds: 60,
            ..Default::default()
        },
    )
}

#[test]
fn a_tenants_tokens_see_nothing_of_another_tenant() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(ws_py) = python_with_websockets() else {
        return;
    };
    let rec = scratch_dir("tenants-recordings");
    let server = Server::start("tenants", &config(&rec));
    let mut a_agent = agent(&py, &server, "ann-acme", "secret-ann");
    let mut g_agent = agent(&py, &server, "gus-globex", "secret-gus");

    // One call per client, each to its own DNIS; each client's agent answers.
    let mut a_call = caller(&py, &server, "5001", ACME_CALLER);
    let mut g_call = caller(&py, &server, "5002", GLOBEX_CALLER);
    let recording = |queue: &str| {
        server
            .wait_event(30, |e| e.kind == "recording.start" && e.queue == queue)
            .or_else(|| {
                // The recording event names the call, not always the queue: find the
                // call that was bridged in `queue` and its recording.
                let evs = server.events();
                let call = evs
                    .iter()
                    .find(|e| e.kind == "queue.join" && e.queue == queue)?
                    .call
                    .clone();
                evs.into_iter()
                    .find(|e| e.kind == "recording.start" && e.call == call)
            })
            .unwrap_or_else(|| panic!("{queue}'s call is recorded: {}", server.log_text()))
    };
    let a_rec = recording("acme_q");
    let g_rec = recording("globex_q");
    let path_of =
        |e: &switchboard_e2e::LoggedEvent| e.data["path"].as_str().unwrap_or("").to_string();
    assert!(
        path_of(&a_rec).starts_with(&rec.join("acme").display().to_string()),
        "acme's recording in acme's directory: {:?}",
        a_rec.data
    );
    assert!(
        path_of(&g_rec).starts_with(&rec.join("globex").display().to_string()),
        "globex's recording in globex's directory: {:?}",
        g_rec.data
    );

    // Both calls are up: the unscoped admin sees both.
    let calls = wait_for(20, || {
        let (status, body) = get(&server, "/api/v1/calls", "all-admin");
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        (v.as_array().map_or(0, Vec::len) == 2
            && v.as_array()
                .unwrap()
                .iter()
                .all(|c| c["phase"] == "bridged"))
        .then_some(v)
    })
    .expect("both calls bridged");
    let globex_call = calls
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["tenant"] == "globex")
        .expect("the globex call carries its tenant")["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(calls.to_string().contains(GLOBEX_CALLER) && calls.to_string().contains(ACME_CALLER));

    for token in ["acme-sup", "acme-admin"] {
        for path in [
            "/api/v1/queues",
            "/api/v1/agents",
            "/api/v1/calls",
            "/api/v1/callbacks",
            "/api/v1/registrations",
            "/api/v1/session",
        ] {
            let (status, body) = get(&server, path, token);
            assert_eq!(status, 200, "{token} {path}: {body}");
            assert_clean(&format!("{token} {path}"), &body);
        }
        // acme's own things are there.
        let (_, queues) = get(&server, "/api/v1/queues", token);
        assert!(queues.contains("acme_q"), "{queues}");
        let (_, agents) = get(&server, "/api/v1/agents", token);
        assert!(agents.contains("ann-acme"), "{agents}");
        let (_, calls) = get(&server, "/api/v1/calls", token);
        assert!(calls.contains("acme"), "acme's call is listed: {calls}");
        // Another tenant's queue, agent, call: 404, as if they did not exist.
        // The answer is the one for a name that does not exist at all (no oracle).
        for (path, name, absent) in [
            ("/api/v1/queues/", "globex_q", "nosuch_q"),
            ("/api/v1/agents/", "gus-globex", "nosuch-agent"),
            ("/api/v1/calls/", globex_call.as_str(), "987654321"),
        ] {
            let (status, body) = get(&server, &format!("{path}{name}"), token);
            assert_eq!(status, 404, "{token} {path}{name}: {body}");
            let (_, missing) = get(&server, &format!("{path}{absent}"), token);
            assert_eq!(
                body.replace(name, "X"),
                missing.replace(absent, "X"),
                "{token} {path}{name}"
            );
        }
        let (status, body) = http_call(
            server.http,
            "POST",
            &format!("/api/v1/calls/{globex_call}/hangup"),
            None,
            Some(token),
            None,
        );
        assert_eq!(status, 404, "{token} hangs up globex's call: {body}");
        let (status, body) = http_call(
            server.http,
            "POST",
            "/api/v1/callbacks",
            Some(r#"{"queue": "globex_q", "number": "+74951230000"}"#),
            Some(token),
            None,
        );
        assert_eq!(status, 404, "{token} asks for a globex callback: {body}");
    }
    // The other way round too.
    let (status, _) = get(&server, "/api/v1/queues/acme_q", "globex-sup");
    assert_eq!(status, 404);

    // The calls end (the agents hang up); the globex recording is a file in its directory.
    a_agent.command("hangup");
    g_agent.command("hangup");
    for (p, who) in [(&mut a_call, "acme caller"), (&mut g_call, "globex caller")] {
        p.wait_event("disconnected", 30)
            .unwrap_or_else(|| panic!("{who} disconnected"));
    }
    let ended = wait_for(30, || {
        let evs = server.events();
        (evs.iter().filter(|e| e.kind == "call.end").count() >= 2).then_some(evs)
    })
    .expect("both calls ended");
    let last_id = ended.last().map(|e| e.id).unwrap_or(0);
    assert!(
        std::path::Path::new(&path_of(&g_rec)).exists(),
        "{:?}",
        g_rec.data
    );
    assert!(
        std::path::Path::new(&path_of(&a_rec)).exists(),
        "{:?}",
        a_rec.data
    );

    // Reports: acme's rows only; the mixed reports are refused.
    let today = chrono::Utc::now().date_naive();
    let range = format!(
        "from={}&to={}&interval=1d&format=json",
        today - chrono::Days::new(1),
        today + chrono::Days::new(2)
    );
    for kind in ["queues", "agents", "ewt"] {
        let (status, body) = get(
            &server,
            &format!("/api/v1/reports/{kind}?{range}"),
            "acme-admin",
        );
        assert_eq!(status, 200, "{kind}: {body}");
        assert_clean(&format!("report {kind}"), &body);
        let (_, all) = get(
            &server,
            &format!("/api/v1/reports/{kind}?{range}"),
            "all-admin",
        );
        if kind != "ewt" {
            assert!(
                all.contains("globex"),
                "admin's {kind} report has globex: {all}"
            );
            assert!(
                body.contains("acme"),
                "acme's {kind} report has acme: {body}"
            );
        }
    }
    for kind in ["ivr", "trunks"] {
        let (status, body) = get(
            &server,
            &format!("/api/v1/reports/{kind}?{range}"),
            "acme-sup",
        );
        assert_eq!(status, 403, "{kind}: {body}");
    }

    // The event stream, replayed from the start: acme's calls, nothing of globex's.
    let mut acme_ws = EventClient::connect(
        &ws_py,
        server.http,
        "/api/v1/events?since=0",
        WsAuth::Header("acme-admin"),
    );
    let mut admin_ws = EventClient::connect(
        &ws_py,
        server.http,
        "/api/v1/events?since=0",
        WsAuth::Header("all-admin"),
    );
    let all = admin_ws
        .frames_through(last_id, 30)
        .expect("the admin's replay reaches the last event");
    assert!(all.iter().any(|f| f.to_string().contains("globex_q")));
    // The acme stream is filtered, so it may not contain `last_id` itself: read until the
    // admin's last acme event.
    let last_acme = all
        .iter()
        .filter(|f| f["queue"] == "acme_q")
        .filter_map(|f| f["id"].as_i64())
        .max()
        .expect("acme's call has events");
    let seen = acme_ws
        .frames_through(last_acme, 30)
        .expect("acme's replay reaches acme's last event");
    assert!(seen
        .iter()
        .any(|f| f["kind"] == "queue.join" && f["queue"] == "acme_q"));
    let text = serde_json::to_string(&seen).unwrap();
    assert_clean("the event stream", &text);

    drop(a_call);
    drop(g_call);
    let _ = std::fs::remove_dir_all(&rec);
}

#[test]
fn each_tenant_sees_its_own_calls_in_a_shared_queue_from_their_ivr_phase() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(ws_py) = python_with_websockets() else {
        return;
    };
    let rec = scratch_dir("tenants-shared");
    let server = Server::start("tenants-shared", &config(&rec));
    // Nobody answers: both calls wait in the shared queue (sam-shared is not registered).
    let a_call = caller(&py, &server, "5003", ACME_CALLER);
    let g_call = caller(&py, &server, "5004", GLOBEX_CALLER);
    let joins = wait_for(30, || {
        let evs = server.events();
        let joined: Vec<_> = evs
            .into_iter()
            .filter(|e| e.kind == "queue.join" && e.queue == "shared_q")
            .collect();
        (joined.len() == 2).then_some(joined)
    })
    .unwrap_or_else(|| panic!("both calls wait in shared_q: {}", server.log_text()));
    let call_of = |tenant: &str| {
        joins
            .iter()
            .find(|e| e.tenant == tenant)
            .unwrap_or_else(|| panic!("a join tagged {tenant}: {joins:?}"))
            .call
            .clone()
    };
    let (acme_call, globex_call) = (call_of("acme"), call_of("globex"));

    // In the log: every event of each call carries its tenant, from call.start on (the
    // dialplan entry the dialled number picks names it: decision 0038 as amended); the
    // IVR's menu is among them.
    let evs = server.events();
    for (call, tenant) in [(&acme_call, "acme"), (&globex_call, "globex")] {
        let own: Vec<_> = evs.iter().filter(|e| &e.call == call).collect();
        let from = own
            .iter()
            .position(|e| e.kind == "ivr.start")
            .unwrap_or_else(|| panic!("{call} has ivr.start: {own:?}"));
        assert!(
            own[from..].iter().all(|e| e.tenant == tenant),
            "{tenant}'s events from ivr.start on carry it: {own:?}"
        );
        assert!(own[from..].iter().any(|e| e.kind == "ivr.menu"), "{own:?}");
        assert!(
            own[..from].iter().all(|e| e.tenant == tenant)
                && own.first().is_some_and(|e| e.kind == "call.start"),
            "{tenant}'s call.start and call.answer carry it too: {own:?}"
        );
    }
    let last_id = evs.last().map(|e| e.id).unwrap_or(0);

    // Each supervisor's stream: its call's IVR phase and wait, nothing of the other call.
    for (token, own, other, other_marks) in [
        ("acme-sup", &acme_call, &globex_call, &GLOBEX_MARKS[..]),
        (
            "globex-sup",
            &globex_call,
            &acme_call,
            &["acme", "ACME", ACME_CALLER][..],
        ),
    ] {
        let own_last = evs
            .iter()
            .filter(|e| &e.call == own)
            .map(|e| e.id)
            .max()
            .unwrap_or(last_id);
        let mut ws = EventClient::connect(
            &ws_py,
            server.http,
            "/api/v1/events?since=0",
            WsAuth::Header(token),
        );
        let seen = ws
            .frames_through(own_last, 30)
            .unwrap_or_else(|| panic!("{token}'s replay reaches its call's last event"));
        let kinds_of_own: Vec<&str> = seen
            .iter()
            .filter(|f| f["call"] == own.as_str())
            .filter_map(|f| f["kind"].as_str())
            .collect();
        for kind in ["ivr.start", "ivr.menu", "queue.join"] {
            assert!(
                kinds_of_own.contains(&kind),
                "{token} sees its call's {kind}: {kinds_of_own:?}"
            );
        }
        assert!(
            !seen.iter().any(|f| f["call"] == other.as_str()),
            "{token} sees nothing of the other tenant's call in the shared queue: {seen:?}"
        );
        let text = serde_json::to_string(&seen).unwrap();
        for mark in other_marks {
            assert!(
                !text.contains(mark),
                "{token}'s stream shows {mark:?}: {text}"
            );
        }
        // The calls API agrees: its own waiting call, not the other.
        let (status, body) = get(&server, "/api/v1/calls", token);
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains(own.as_str()),
            "{token} lists its call: {body}"
        );
        assert!(!body.contains(other.as_str()), "{token}: {body}");
    }
    // The queues report: the shared queue's row counts each tenant's own call only.
    let today = chrono::Utc::now().date_naive();
    let range = format!(
        "from={}&to={}&interval=1d&format=json",
        today - chrono::Days::new(1),
        today + chrono::Days::new(2)
    );
    let offered = |token: &str| -> u64 {
        let (status, body) = get(&server, &format!("/api/v1/reports/queues?{range}"), token);
        assert_eq!(status, 200, "{token}: {body}");
        let report: Value = serde_json::from_str(&body).unwrap();
        report["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("{token}: rows in {body}"))
            .iter()
            .filter(|r| r["queue"] == "shared_q")
            .map(|r| r["offered"].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(offered("all-admin"), 2);
    assert_eq!(offered("acme-sup"), 1);
    assert_eq!(offered("globex-sup"), 1);
    drop(a_call);
    drop(g_call);
    let _ = std::fs::remove_dir_all(&rec);
}

#[test]
fn conversation_scripts_are_per_tenant_and_another_tenants_is_404() {
    let rec = scratch_dir("tenants-scripts");
    let server = Server::start("tenants-scripts", &config(&rec));
    let heading = |path: &str, token: &str| -> (u16, String) {
        let (status, body) = get(&server, path, token);
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let h = v["blocks"][0]["spans"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        (status, if status == 200 { h } else { body })
    };
    // acme's own greeting for acme (its token, or any staff token naming the tenant);
    // the shared one otherwise.
    for (path, token) in [
        ("/api/v1/scripts/greeting", "acme-sup"),
        ("/api/v1/scripts/greeting?tenant=acme", "acme-sup"),
        ("/api/v1/scripts/greeting?tenant=acme", "all-admin"),
    ] {
        assert_eq!(
            heading(path, token),
            (200, "ACME greeting".into()),
            "{token} {path}"
        );
    }
    for (path, token) in [
        ("/api/v1/scripts/greeting", "all-admin"),
        ("/api/v1/scripts/greeting", "globex-sup"),
    ] {
        assert_eq!(
            heading(path, token),
            (200, "Greeting".into()),
            "{token} {path}"
        );
    }
    // globex's script: its own, not acme's; asking for globex's with acme's token is 404
    // exactly like a script that does not exist.
    assert_eq!(
        heading("/api/v1/scripts/retention", "globex-sup"),
        (200, "Globex retention offer".into())
    );
    let (status, body) = get(
        &server,
        "/api/v1/scripts/retention?tenant=globex",
        "acme-sup",
    );
    assert_eq!(status, 404, "{body}");
    let (_, missing) = get(&server, "/api/v1/scripts/nosuch", "acme-sup");
    assert_eq!(
        body.replace("retention", "X"),
        missing.replace("nosuch", "X")
    );
    assert_clean("another tenant's script", &body);
    let (status, body) = get(&server, "/api/v1/scripts/retention", "acme-sup");
    assert_eq!(status, 404, "{body}");
    let (status, _) = get(
        &server,
        "/api/v1/scripts/greeting?tenant=no%2Fsuch",
        "all-admin",
    );
    assert_eq!(status, 400);
    let _ = std::fs::remove_dir_all(&rec);
}
