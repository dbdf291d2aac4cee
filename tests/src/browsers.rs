//! The browsers the page tests run in, behind one small interface so that the same test
//! body drives headless Chromium (chromedriver, [`crate::webdriver`]) and headless Firefox
//! ESR (Marionette, [`crate::marionette`]). It is what the page tests need (navigate, run
//! a script, click, type, screenshot, console errors, requested URLs), not a WebDriver
//! binding.

use std::path::Path;

use serde_json::{json, Value};

use crate::marionette::Firefox;
use crate::wait_for;
use crate::webdriver::ChromeDriver;

/// One browser window with a page in it.
pub trait Browser {
    /// `chromium` or `firefox` (artifact names, messages).
    fn engine(&self) -> &'static str;

    /// Loads `url` (returns when the page's load event fired).
    fn goto(&self, url: &str);

    /// Runs `script` (a function body; `arguments` are `args`) in the page; its result.
    fn js(&self, script: &str, args: Value) -> Value;

    /// Clicks the element `css` selects, as a user would.
    fn click(&self, css: &str);

    /// Types `text` into the element `css` selects (`\u{E007}` is Enter, `\u{E004}` Tab).
    fn type_into(&self, css: &str, text: &str);

    /// Saves a PNG screenshot of the window.
    fn screenshot(&self, path: &Path);

    /// Console errors (and uncaught page errors) since the last call.
    fn console_errors(&self) -> Vec<String>;

    /// Every URL the pages requested so far (HTTP requests and WebSocket openings).
    fn requested_urls(&mut self) -> Vec<String>;

    /// Polls `script` (a function body returning a value) until it returns something
    /// other than null/false, at most `secs`; that value.
    fn wait_js(&self, secs: u64, script: &str) -> Option<Value> {
        wait_for(secs, || {
            let v = self.js(script, json!([]));
            (!v.is_null() && v != false).then_some(v)
        })
    }
}

/// Which browser a test runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Chromium,
    Firefox,
}

/// What opens browser windows of one engine: chromedriver for Chromium (one process for
/// every window), nothing for Firefox (each window is its own process).
pub enum Driver {
    Chromium(ChromeDriver),
    Firefox(Firefox),
}

impl Driver {
    /// None (test skipped) or a panic (`SWITCHBOARD_REQUIRE_PEERS=1`) when the engine's
    /// browser is not installed.
    pub fn start(engine: Engine) -> Option<Driver> {
        match engine {
            Engine::Chromium => ChromeDriver::start().map(Driver::Chromium),
            Engine::Firefox => Firefox::start().map(Driver::Firefox),
        }
    }

    /// A new headless window of `width` x `height` pixels, its UI asked for in `lang`
    /// (`en-US`, `ru-RU`).
    pub fn session(&self, width: u32, height: u32, lang: &str) -> Box<dyn Browser> {
        match self {
            Driver::Chromium(d) => Box::new(d.session(width, height, lang)),
            Driver::Firefox(d) => Box::new(d.session(width, height, lang)),
        }
    }
}

/// A boxed window is a window (so `&window` passes where `&dyn Browser` is asked for).
impl Browser for Box<dyn Browser> {
    fn engine(&self) -> &'static str {
        (**self).engine()
    }
    fn goto(&self, url: &str) {
        (**self).goto(url)
    }
    fn js(&self, script: &str, args: Value) -> Value {
        (**self).js(script, args)
    }
    fn click(&self, css: &str) {
        (**self).click(css)
    }
    fn type_into(&self, css: &str, text: &str) {
        (**self).type_into(css, text)
    }
    fn screenshot(&self, path: &Path) {
        (**self).screenshot(path)
    }
    fn console_errors(&self) -> Vec<String> {
        (**self).console_errors()
    }
    fn requested_urls(&mut self) -> Vec<String> {
        (**self).requested_urls()
    }
}
