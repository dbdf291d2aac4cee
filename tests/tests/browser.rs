//! The wallboard (`/`) and the agent desktop (`/agent`) in real headless Chromium
//! (chromedriver) and Firefox ESR (Marionette), the same test body in each
//! (`switchboard_e2e::browsers`), against the real binary with real SIP peers: the supervisor pauses the only agent of `sales` (pjsua2, 1001) from the
//! wallboard's agent grid; a SIPp caller waits in `sales` -> the wallboard's sales tile
//! shows 1 waiting; the agent resumes work from the desktop ->
//! the phone rings and the offer card shows the caller, the queue, the tenant and the
//! dialplan's screen-pop fields; the agent answers -> the wallboard's agent grid shows 1001 talking on
//! sales with the number masked; after the call the agent sets a disposition with notes
//! (it reaches the CDR) and ends wrap-up; the agent pauses from the desktop -> the next
//! caller is not offered. Both pages must be on the live event stream (WebSocket) rather
//! than the polling fallback. Every wait is a bounded poll of a DOM or event condition.
//! The pages must have requested nothing from any other host and logged no console error.
//! Screenshots go to
//! `target/browser-artifacts/` (Firefox's to `target/browser-artifacts/firefox/`).

use serde_json::json;
use switchboard_e2e::browser_pages::{artifacts, assert_clean, sign_in};
use switchboard_e2e::browsers::{Browser, Driver, Engine};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, require_peer, sipp, sipp_trace, Server};

fn config() -> String {
    r#"
[ivr]
dialplans = "tests/dialplans-browser"

[media]
rtp_timeout = 120

[[queues]]
name = "sales"
members = ["1001"]
ring_timeout = 60
wrap_up = 60
dispositions = ["sale", "no-sale"]
announce_period = 0
record = false

[[queues]]
name = "operator"
members = ["1003"]

[[queues]]
name = "bank"
members = ["1004"]

[[queues]]
name = "support"
members = ["1003"]

[[queues]]
name = "outsource"
members = ["1003"]
"#
    .to_string()
}

/// The caller number SIPp's `acd_caller.xml` uses for its call number `n`.
fn sipp_caller(n: u32) -> String {
    format!("+7999000{n}")
}

fn tile_waiting(b: &dyn Browser, queue: &str) -> Option<String> {
    b.js(
        "const e = document.querySelector(`[data-queue=\"${arguments[0]}\"] [data-field=waiting]`);\
         return e ? e.textContent : null;",
        json!([queue]),
    )
    .as_str()
    .map(str::to_string)
}

/// Waits (at most 20 s) until the phone has reported `n` events named `name`.
fn count_events(phone: &mut Softphone, name: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let count = |p: &Softphone| p.seen.iter().filter(|v| v["event"] == name).count();
    while count(phone) < n && std::time::Instant::now() < deadline {
        let _ = phone.wait_event("-", 1);
    }
    assert_eq!(count(phone), n, "{name} events: {:?}", phone.seen);
}

#[test]
fn wallboard_and_agent_desktop_follow_a_queued_call_in_chromium() {
    follow_a_queued_call(Engine::Chromium);
}

#[test]
fn wallboard_and_agent_desktop_follow_a_queued_call_in_firefox() {
    follow_a_queued_call(Engine::Firefox);
}

fn follow_a_queued_call(engine: Engine) {
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(driver) = Driver::start(engine) else {
        return;
    };
    let server = Server::start("browser", &config());
    let base = format!("http://{}", server.http);

    // Agent 1001's phone rings until told to answer; the agent starts paused.
    let mut phone = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            answer: "none",
            seconds: 150,
            ..Default::default()
        },
    );
    let reg = phone.wait_event("registered", 20);
    assert_eq!(reg.map(|r| r["code"].clone()), Some(json!(200)));
    server
        .wait_event(20, |e| {
            e.kind == "agent.state" && e.agent == "1001" && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("1001 available: {}", server.log_text()));

    // The wallboard, signed in as the supervisor, who pauses 1001 from the agent grid.
    let mut wall = driver.session(1600, 1000, "en-US");
    sign_in(&wall, &format!("{base}/"), "demo-supervisor");
    wall.wait_js(
        20,
        "const r = document.querySelector('tr[data-agent=\"1001\"]');\
         return r && r.dataset.state === 'available'",
    )
    .expect("the grid shows 1001 available");
    wall.click("tr[data-agent=\"1001\"] button.grid-action");
    wall.wait_js(
        20,
        "return document.querySelector('tr[data-agent=\"1001\"]').dataset.state === 'paused'",
    )
    .expect("the supervisor paused 1001 from the wallboard");
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/agents/1001",
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""pause_reason":"break""#), "{body}");
    assert_eq!(tile_waiting(&wall, "sales").as_deref(), Some("0"));
    wall.wait_js(
        20,
        "return document.getElementById('conn').classList.contains('conn-ws')",
    )
    .expect("the wallboard follows the live event stream");
    assert_eq!(
        wall.js("return document.documentElement.lang", json!([])),
        "en"
    );

    // A caller enters sales with no free agent: the tile shows 1 waiting.
    let target = server.sip;
    let first = std::thread::spawn(move || {
        sipp(
            "acd_caller.xml",
            target,
            &["-s", "200", "-m", "1", "-l", "1"],
            100,
        )
    });
    let joined = server
        .wait_event(30, |e| e.kind == "queue.join" && e.queue == "sales")
        .unwrap_or_else(|| panic!("the caller joined sales: {}", server.log_text()));
    let seen_at = std::time::Instant::now();
    wall.wait_js(
        20,
        "return document.querySelector('[data-queue=\"sales\"] [data-field=waiting]').textContent === '1'",
    )
    .unwrap_or_else(|| panic!("sales shows 1 waiting: {:?}", tile_waiting(&wall, "sales")));
    eprintln!(
        "the sales tile showed 1 waiting {} ms after the join event was read from the log",
        seen_at.elapsed().as_millis()
    );

    // The agent desktop (in Russian), signed in as agent 1001: paused.
    let mut desk = driver.session(1280, 900, "ru-RU");
    sign_in(&desk, &format!("{base}/agent"), "demo-agent-1001");
    desk.wait_js(
        10,
        "return document.getElementById('me-state').dataset.state === 'paused'",
    )
    .expect("the desktop shows the agent paused");
    assert_eq!(
        desk.js(
            "return document.getElementById('me-state').textContent",
            json!([])
        ),
        "Пауза"
    );
    desk.wait_js(
        20,
        "return document.getElementById('conn').classList.contains('conn-ws')",
    )
    .expect("the desktop follows the live event stream");

    // Resume work from the desktop: the phone rings and the offer card pops.
    desk.click("#unpause");
    phone
        .wait_event("incoming", 20)
        .unwrap_or_else(|| panic!("1001's phone rings: {}", server.log_text()));
    desk.wait_js(
        20,
        "const o = document.getElementById('offer'); return !o.hidden && o.dataset.phase === 'ringing'",
    )
    .expect("the offer card shows the ringing call");
    let card = desk.js(
        "const o = document.getElementById('offer');\
         const f = (s) => o.querySelector(s).textContent;\
         return {caller: f('[data-field=caller]'), queue: f('[data-field=queue]'),\
                 tenant: f('[data-field=tenant]'),\
                 account: f('dd[data-key=account]'), segment: f('dd[data-key=segment]')};",
        json!([]),
    );
    assert_eq!(card["caller"], sipp_caller(1), "{card}");
    assert_eq!(card["queue"], "sales", "{card}");
    // The dialplan's tenant "acme" is a client of the embedded demo config: the card names
    // it by its display name.
    assert_eq!(card["tenant"], "ACME Corp", "{card}");
    assert_eq!(card["account"], "A-1001", "{card}");
    assert_eq!(card["segment"], "VIP", "{card}");
    // The conversation script (`screenpop "script"`): rendered as elements, markup as text.
    let script = desk
        .wait_js(
            20,
            "const s = document.getElementById('script');\
             if (s.hidden || s.dataset.loaded !== 'true') return null;\
             return {h: s.querySelector('#script-body h4').textContent,\
                     strong: s.querySelector('#script-body p strong').textContent,\
                     items: [...s.querySelectorAll('#script-body ul li')].map((l) => l.textContent),\
                     injected: s.querySelectorAll('#script-body img, #script-body script').length,\
                     error: document.getElementById('script-error').textContent};",
        )
        .expect("the offer card shows the conversation script");
    assert_eq!(script["h"], "Продажи: приветствие", "{script}");
    assert_eq!(script["strong"], "могу помочь", "{script}");
    assert_eq!(script["items"][0], "Уточните номер счёта.", "{script}");
    assert!(
        script["items"][1]
            .as_str()
            .unwrap_or_default()
            .starts_with("<img"),
        "{script}"
    );
    assert_eq!(script["injected"], 0, "{script}");
    assert_eq!(script["error"], "", "{script}");
    let (status, body) = server.http_get("/api/v1/scripts/no-such-script");
    assert_eq!(status, 404, "an unknown script: {body}");
    assert!(
        body.contains("no conversation script 'no-such-script'"),
        "{body}"
    );
    let (status, body) = server.http_get("/api/v1/scripts/..%2Fbrowser");
    assert_eq!(status, 400, "a path is not a script name: {body}");
    desk.screenshot(&artifacts(&*desk).join("agent-desktop-offer.png"));

    // The agent answers: the grid shows 1001 talking on sales, the number masked.
    phone.command("answer");
    phone
        .wait_event("confirmed", 20)
        .expect("the agent's call is up");
    let row = wall
        .wait_js(
            20,
            "const r = document.querySelector('tr[data-agent=\"1001\"]');\
             if (!r || r.dataset.state !== 'busy') return null;\
             const f = (k) => r.querySelector(`[data-field=${k}]`).textContent;\
             return {state: f('state'), queue: f('queue'), caller: f('caller')};",
        )
        .expect("the agent grid shows 1001 talking");
    assert_eq!(row["state"], "Talking", "{row}");
    assert_eq!(row["queue"], "sales", "{row}");
    let shown = row["caller"].as_str().unwrap_or_default();
    assert!(
        shown.contains('*') && shown != sipp_caller(1) && shown.ends_with("0001"),
        "the supervisor sees the number masked: {row}"
    );
    wall.wait_js(10, "return document.querySelector('[data-queue=\"sales\"] [data-field=waiting]').textContent === '0'")
        .expect("nobody waits in sales once the call is answered");
    wall.screenshot(&artifacts(&*wall).join("wallboard.png"));

    // The agent hangs up; the caller's SIPp answers the BYE and ends.
    phone.command("hangup");
    let out = first.join().expect("sipp thread");
    assert!(out.status.success(), "first caller: {}", sipp_trace(&out));

    // Wrap-up: the agent sets a disposition with notes and ends wrap-up by hand.
    desk.wait_js(
        20,
        "return !document.getElementById('wrapup').hidden\
         && document.getElementById('me-state').dataset.state === 'wrap_up'",
    )
    .expect("the desktop shows the wrap-up panel");
    desk.click("#disposition-code option[value=\"sale\"]");
    desk.type_into("#disposition-notes", "2 seats");
    desk.click("#disposition button[type=submit]");
    desk.wait_js(
        10,
        "return document.getElementById('disposition-saved').textContent !== ''",
    )
    .unwrap_or_else(|| {
        panic!(
            "the disposition is saved: {}",
            desk.js(
                "return document.getElementById('action-error').textContent",
                json!([])
            )
        )
    });
    desk.screenshot(&artifacts(&*desk).join("agent-desktop-wrapup.png"));
    desk.click("#end-wrapup");
    desk.wait_js(
        20,
        "return document.getElementById('me-state').dataset.state === 'available'",
    )
    .expect("wrap-up ended from the desktop");
    let cdr = server.export("cdr");
    // Read the columns by name: more columns may follow the disposition's.
    let header: Vec<&str> = cdr.lines().next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (code, notes) = (
        col("agent_disposition").expect("CDR has agent_disposition"),
        col("disposition_notes").expect("CDR has disposition_notes"),
    );
    assert!(
        cdr.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split(',').collect();
            f.get(code) == Some(&"sale") && f.get(notes) == Some(&"2 seats")
        }),
        "the disposition is in the CDR:\n{cdr}"
    );

    // Pause from the desktop: the next caller waits and is not offered to 1001.
    desk.click("button[data-reason=\"lunch\"]");
    desk.wait_js(
        20,
        "return document.getElementById('me-state').dataset.state === 'paused'",
    )
    .expect("the desktop shows the agent paused for lunch");
    assert_eq!(
        desk.js(
            "return document.getElementById('me-reason').textContent",
            json!([])
        ),
        "Обед"
    );
    let offers_before = server
        .events()
        .iter()
        .filter(|e| e.kind == "queue.offer")
        .count();
    let second = std::thread::spawn(move || {
        sipp(
            "acd_caller.xml",
            target,
            &["-s", "200", "-m", "1", "-l", "1"],
            100,
        )
    });
    let joined_again = server
        .wait_event(30, |e| {
            e.kind == "queue.join" && e.queue == "sales" && e.call != joined.call
        })
        .unwrap_or_else(|| panic!("the second caller joined sales: {}", server.log_text()));
    wall.wait_js(
        20,
        "return document.querySelector('[data-queue=\"sales\"] [data-field=waiting]').textContent === '1'",
    )
    .expect("the second caller waits in sales");
    // The engine offers in the same step as the join: had 1001 been offered the call,
    // the offer would be logged before the wallboard's view showed the caller waiting.
    let offers: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| e.kind == "queue.offer")
        .collect();
    assert_eq!(
        offers.len(),
        offers_before,
        "no offer while paused: {offers:?}"
    );
    // The same view that shows the caller waiting shows 1001 still paused, not ringing
    // (the view is rebuilt after the engine's step that would have offered the call).
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/agents/1001",
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""state":"paused""#) && !body.contains(r#""call""#),
        "1001 stays paused with no call: {body}"
    );
    let _ = phone.wait_event("-", 0);
    assert_eq!(
        phone
            .seen
            .iter()
            .filter(|v| v["event"] == "incoming")
            .count(),
        1,
        "the paused agent's phone did not ring again"
    );
    assert!(desk.js("return document.getElementById('offer').hidden", json!([])) == true);
    desk.screenshot(&artifacts(&*desk).join("agent-desktop-paused.png"));

    // Resume again so the second caller is served and ends cleanly.
    desk.click("#unpause");
    let rang = server.wait_event(20, |e| {
        e.kind == "queue.offer" && e.call == joined_again.call
    });
    assert!(rang.is_some(), "after resuming, the caller is offered");
    wall.js(
        "document.getElementById('lang').click(); return null",
        json!([]),
    );
    assert_eq!(
        wall.js(
            "return document.querySelector('.bar h1').textContent",
            json!([])
        ),
        "Табло"
    );
    count_events(&mut phone, "incoming", 2);
    phone.command("answer");
    count_events(&mut phone, "confirmed", 2);
    phone.command("hangup");
    let out = second.join().expect("sipp thread");
    assert!(out.status.success(), "second caller: {}", sipp_trace(&out));

    assert_clean(&mut wall, "wallboard", &server);
    assert_clean(&mut desk, "agent desktop", &server);
    phone.quit();
}
