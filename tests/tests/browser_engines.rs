//! The browser drivers themselves, in headless Chromium (chromedriver) and Firefox ESR
//! (Marionette): the checks every page test ends with (`assert_clean`: no console error,
//! no request to another host) must be able to fail, so each engine is shown a console
//! error, an uncaught error and a request to another host, and must report each of them.
//! The page is the real wallboard served by the binary; keyboard input (Tab, Enter) is
//! typed the way the page tests type it. On the way, the wallboard's agent grid shows an
//! agent that never registered as logged out since the server started (it once showed
//! the engine clock's origin: "Logged out 9600:00:04").

use serde_json::json;
use switchboard_e2e::browser_pages::{artifacts, sign_in};
use switchboard_e2e::browsers::{Browser, Driver, Engine};
use switchboard_e2e::Server;

#[test]
fn the_driver_reports_console_errors_and_foreign_requests_in_chromium() {
    driver_reports_what_the_page_checks_need(Engine::Chromium);
}

#[test]
fn the_driver_reports_console_errors_and_foreign_requests_in_firefox() {
    driver_reports_what_the_page_checks_need(Engine::Firefox);
}

fn driver_reports_what_the_page_checks_need(engine: Engine) {
    let Some(driver) = Driver::start(engine) else {
        return;
    };
    let before_start = std::time::Instant::now();
    let server = Server::start("browser-engines", "");
    let mut wall = driver.session(1024, 700, "ru-RU");
    assert_eq!(
        wall.engine(),
        if engine == Engine::Firefox {
            "firefox"
        } else {
            "chromium"
        }
    );
    sign_in(
        &wall,
        &format!("http://{}/", server.http),
        "demo-supervisor",
    );
    // The browser asks for Russian: the page follows it.
    assert_eq!(
        wall.js("return document.documentElement.lang", json!([])),
        "ru"
    );
    // The window is as wide as asked for.
    let width = wall.js("return window.innerWidth", json!([]));
    assert_eq!(width, 1024, "{engine:?} viewport");
    // An agent whose phone never registered: logged out since the server started (not
    // since the engine clock's origin, which showed "Logged out 9600:00:04").
    let (status, body) = switchboard_e2e::http_call(
        server.http,
        "GET",
        "/api/v1/agents/1001",
        None,
        Some("demo-supervisor"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let agent: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(agent["state"], "logged_out", "{agent}");
    let in_state = agent["in_state_s"].as_f64().expect("in_state_s");
    assert!(
        in_state <= before_start.elapsed().as_secs_f64(),
        "in its state no longer than the server has run: {agent}"
    );
    let shown = wall
        .wait_js(
            10,
            "const r = document.querySelector('tr[data-agent=\"1001\"]');\
             return r ? r.querySelector('[data-field=time]').textContent : null",
        )
        .expect("the grid lists 1001");
    let shown = shown.as_str().unwrap_or_default();
    let minutes: u64 = shown
        .split(':')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(
        shown.split(':').count() == 2 && minutes * 60 <= before_start.elapsed().as_secs(),
        "the grid shows the time since the server started: {shown:?}"
    );
    let clean = wall.console_errors();
    assert!(clean.is_empty(), "{engine:?}: a clean page: {clean:?}");
    let urls = wall.requested_urls();
    assert!(
        urls.iter().any(|u| u.ends_with("/wallboard.js")),
        "{engine:?}: the page's script is among the requests: {urls:?}"
    );

    // A console error and an uncaught error, both reported.
    wall.js(
        "console.error('probe: console error');\
         setTimeout(() => { throw new Error('probe: uncaught'); }, 0); return null",
        json!([]),
    );
    let mut errors = Vec::new();
    let seen = switchboard_e2e::wait_for(10, || {
        errors.extend(wall.console_errors());
        let both = errors.iter().any(|e| e.contains("probe: console error"))
            && errors.iter().any(|e| e.contains("probe: uncaught"));
        both.then_some(())
    });
    assert!(
        seen.is_some(),
        "{engine:?}: both errors reported: {errors:?}"
    );

    // Keyboard: Tab moves focus out of a field, as a user's Tab would.
    wall.js(
        "const i = document.createElement('input'); i.id = 'probe-a';\
         const j = document.createElement('input'); j.id = 'probe-b';\
         document.body.prepend(j); document.body.prepend(i); return null",
        json!([]),
    );
    wall.type_into("#probe-a", "x\u{E004}");
    assert_eq!(
        wall.js("return document.activeElement.id", json!([])),
        "probe-b",
        "{engine:?}: Tab moved the focus"
    );
    wall.screenshot(&artifacts(&wall).join("engine-check.png"));
    assert!(artifacts(&wall).join("engine-check.png").exists());
    // A request to another host (a closed loopback port under another name) is listed,
    // though it fails. The pages' Content-Security-Policy stops a fetch to another host
    // before it is sent, so the page navigates there instead.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let foreign_url = format!("http://localhost:{closed}/probe-foreign");
    wall.js(
        "location.assign(arguments[0]); return null",
        json!([foreign_url]),
    );
    let foreign = switchboard_e2e::wait_for(10, || {
        wall.requested_urls()
            .into_iter()
            .find(|u| u.starts_with(&foreign_url))
    });
    assert!(
        foreign.is_some(),
        "{engine:?}: the foreign request is listed"
    );
}
