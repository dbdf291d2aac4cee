//! An agent's own outbound call on the wallboard's live-calls table (issue 17 on top of
//! issue 14's listing), in headless Chromium against the real binary: registered pjsua2
//! agent 1001 dials +74951234567 through a SIPp carrier; the supervisor's table shows the
//! row as outbound with the number dialled (masked: `→ +*******4567`), not the agent, in
//! the caller column, the agent in its own column, the phase in words in English and in
//! Russian, and the supervision buttons (an agent's own call can be listened to); the row
//! leaves the table when the agent hangs up. Every wait is a bounded poll of a DOM or
//! event condition; the page must log no console error.

use serde_json::{json, Value};
use switchboard_e2e::browser_pages::{artifacts, assert_clean, sign_in};
use switchboard_e2e::browsers::{Driver, Engine};
use switchboard_e2e::outbound_fixture::OutboundFixture;
use switchboard_e2e::peers::{python_with_pjsua2, SoftphoneOpts};
use switchboard_e2e::require_peer;

/// The text of each cell of the row `row`, by its `data-field`, and the row's data.
fn row_view(wall: &dyn switchboard_e2e::browsers::Browser, row: &str) -> Value {
    wall.js(
        &format!(
            "const r = document.querySelector('{row}');
             if (!r) return null;
             const cells = {{}};
             for (const td of r.querySelectorAll('td')) cells[td.dataset.field] = td.textContent;
             cells.direction = r.dataset.direction;
             cells.phase_code = r.dataset.phase;
             cells.buttons = Array.from(r.querySelectorAll('button')).map(b => b.dataset.action);
             return cells;"
        ),
        json!([]),
    )
}

#[test]
fn an_agents_own_call_shows_on_the_wallboard_as_outbound_in_chromium() {
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let Some(driver) = Driver::start(Engine::Chromium) else {
        return;
    };
    let fixture = OutboundFixture::start("browser-outbound", "");
    let server = &fixture.server;
    let mut wall = driver.session(1600, 1000, "en-US");
    sign_in(
        &*wall,
        &format!("http://{}/", server.http),
        "demo-supervisor",
    );

    let mut agent = fixture.agent(
        &py,
        SoftphoneOpts {
            tone_hz: 2000,
            ..Default::default()
        },
    );
    let out = fixture.dial_out(&mut agent);
    let row = format!("tr[data-call=\"{}\"]", out.call);
    let view = wall
        .wait_js(
            20,
            &format!(
                "const r = document.querySelector('{row}'); return r && r.dataset.phase === 'bridged'"
            ),
        )
        .map(|_| row_view(&*wall, &row))
        .unwrap_or_else(|| panic!("the table shows the bridged outbound call"));
    assert_eq!(view["direction"], "outbound", "{view}");
    assert_eq!(
        view["caller"], "\u{2192} +*******4567",
        "the number dialled, masked for a supervisor, not the agent: {view}"
    );
    assert_eq!(view["agent"], "1001", "{view}");
    assert_eq!(view["queue"], "", "{view}");
    assert_eq!(view["phase"], "Talking", "{view}");
    assert_eq!(
        view["buttons"],
        json!(["listen", "whisper", "barge"]),
        "an agent's own call can be supervised: {view}"
    );

    // The same row in Russian.
    wall.click("#lang");
    wall.wait_js(
        10,
        &format!(
            "const c = document.querySelector('{row} td[data-field=phase]'); \
             const b = document.querySelector('{row} button[data-action=listen]'); \
             return c && c.textContent === 'Разговор' && b && b.textContent === 'Слушать'"
        ),
    )
    .unwrap_or_else(|| panic!("the phase in Russian: {}", row_view(&*wall, &row)));
    wall.screenshot(&artifacts(&*wall).join("wallboard-outbound-call.png"));

    fixture.hang_up(&mut agent, &out);
    wall.wait_js(
        20,
        &format!("return document.querySelector('{row}') === null"),
    )
    .expect("the ended call leaves the table");
    assert_clean(&mut *wall, "wallboard", server);
    agent.quit();
}
