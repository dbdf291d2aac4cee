//! What the browser tests of the wallboard and the agent desktop share: signing in with
//! a token through the page's own form, the screenshots' directory, and the final check
//! that a page logged no console error and asked no other host for anything.

use crate::browsers::Browser;
use crate::{repo_root, Server};

/// Opens `url` and signs in with `token` by keyboard (type, Enter); waits until the
/// page shows its data.
pub fn sign_in(b: &dyn Browser, url: &str, token: &str) {
    b.goto(url);
    b.wait_js(20, "return !document.getElementById('login').hidden")
        .expect("the sign-in form shows");
    b.type_into("#token", &format!("{token}\u{E007}"));
    b.wait_js(
        20,
        "return !document.getElementById('app').hidden && document.body.dataset.loaded === 'true'",
    )
    .unwrap_or_else(|| panic!("signed in at {url}"));
}

/// Where the tests save the screenshots taken in `b`: `target/browser-artifacts/` for
/// Chromium, `target/browser-artifacts/firefox/` for Firefox.
pub fn artifacts(b: &dyn Browser) -> std::path::PathBuf {
    let dir = repo_root().join("target").join("browser-artifacts");
    match b.engine() {
        "chromium" => dir,
        other => dir.join(other),
    }
}

/// No console error, and every request went to the server under test.
pub fn assert_clean(b: &mut dyn Browser, page: &str, server: &Server) {
    let engine = b.engine();
    let errors = b.console_errors();
    assert!(
        errors.is_empty(),
        "{page} in {engine}: console errors {errors:?}"
    );
    let ours = [
        format!("http://{}/", server.http),
        format!("ws://{}/", server.http),
    ];
    let urls = b.requested_urls();
    assert!(
        urls.iter().any(|u| u.contains("/api/v1/")),
        "{page} in {engine}: the browser saw the API calls: {urls:?}"
    );
    let foreign: Vec<_> = urls
        .iter()
        .filter(|u| !ours.iter().any(|o| u.starts_with(o.as_str())))
        .collect();
    assert!(
        foreign.is_empty(),
        "{page} in {engine}: requests to other hosts {foreign:?}"
    );
}
