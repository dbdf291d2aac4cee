//! What the browser tests of the wallboard and the agent desktop share: signing in with
//! a token through the page's own form, the screenshots' directory, and the final check
//! that a page logged no console error and asked no other host for anything.

use crate::webdriver::Browser;
use crate::{repo_root, Server};

/// Opens `url` and signs in with `token` by keyboard (type, Enter); waits until the
/// page shows its data.
pub fn sign_in(b: &Browser, url: &str, token: &str) {
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

/// Where the tests save their screenshots: `target/browser-artifacts/`.
pub fn artifacts() -> std::path::PathBuf {
    repo_root().join("target").join("browser-artifacts")
}

/// No console error, and every request went to the server under test.
pub fn assert_clean(b: &mut Browser, page: &str, server: &Server) {
    let errors: Vec<_> = b
        .console()
        .into_iter()
        .filter(|(level, _)| level == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "{page}: console errors {errors:?}");
    let ours = [
        format!("http://{}/", server.http),
        format!("ws://{}/", server.http),
    ];
    let urls = b.requested_urls();
    assert!(
        urls.iter().any(|u| u.contains("/api/v1/")),
        "{page}: the performance log shows the API calls: {urls:?}"
    );
    let foreign: Vec<_> = urls
        .iter()
        .filter(|u| !ours.iter().any(|o| u.starts_with(o.as_str())))
        .collect();
    assert!(
        foreign.is_empty(),
        "{page}: requests to other hosts {foreign:?}"
    );
}
