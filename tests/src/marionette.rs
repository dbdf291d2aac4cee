//! A headless Firefox ESR (apt `firefox-esr`) driven over Marionette, Firefox's own remote
//! protocol, for the browser tests: Debian ships no geckodriver, so this speaks the
//! protocol geckodriver itself speaks (docs/decisions/0040-firefox-marionette.md). It is a
//! test client, not a general WebDriver: the few commands the page tests use.
//!
//! Marionette is JSON over TCP; every message is framed as `<byte length>:<json>`. The
//! server greets with `{"applicationType":"gecko","marionetteProtocol":3}`; a command is
//! `[0, id, "WebDriver:Name", {params}]` and its answer `[1, id, error|null, result|null]`.
//! One Firefox process runs one session, so every [`FirefoxSession`] is its own process
//! with a fresh profile directory (its `user.js` sets `marionette.port` to a free port),
//! killed and removed on drop.
//!
//! Firefox has no console-log command over Marionette. Console errors are read from two
//! places: the process's stderr, where Gecko writes every uncaught page error as
//! `JavaScript error: <url>, line N: ...` (kept when the URL is the page's own origin),
//! and a hook the client installs in each page after it loads (wraps `console.error`,
//! listens for `error` and `unhandledrejection`). Requested URLs come from a network
//! observer (`http-on-modify-request`) the client installs in the browser's chrome
//! context (Firefox started with `-remote-allow-system-access`): every request of a page,
//! failed ones included, like Chromium's performance log.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::browsers::Browser;
use crate::{scratch_dir, wait_for};

/// The key under which WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The largest Marionette message this client accepts (a full-window PNG screenshot in
/// base64 is a few MB).
const MAX_MESSAGE: usize = 64 << 20;

/// Installed in every page after it loads: records console errors, uncaught errors and
/// rejected promises in `window.__switchboardProbe`. Idempotent.
const PROBE: &str = r#"
if (!window.__switchboardProbe) {
  const probe = { errors: [] };
  window.__switchboardProbe = probe;
  const text = (a) => { try { return a instanceof Error ? String(a.stack || a) : (typeof a === 'string' ? a : JSON.stringify(a)); } catch (_) { return String(a); } };
  const original = console.error.bind(console);
  console.error = (...args) => { probe.errors.push('console.error: ' + args.map(text).join(' ')); original(...args); };
  window.addEventListener('error', (e) => probe.errors.push('error: ' + (e.message || e.type) + ' at ' + (e.filename || '') + ':' + (e.lineno || 0)));
  window.addEventListener('unhandledrejection', (e) => probe.errors.push('unhandledrejection: ' + text(e.reason)));
}
return null;
"#;

/// Reads (and clears) the errors the probe saw in the current page.
const HARVEST: &str = r#"
const p = window.__switchboardProbe;
return p ? p.errors.splice(0) : [];
"#;

/// Run once in the browser's chrome (privileged) context: every HTTP request a page makes
/// (documents, scripts, fetches, WebSocket handshakes; failed ones too, as they are
/// observed before they are sent) is recorded in the chrome window's
/// `__switchboardRequests`. Firefox's own background requests (system principal, no
/// browsing context) are not pages' requests and are left out.
const NETWORK_OBSERVER: &str = r#"
if (!window.__switchboardRequests) {
  const seen = [];
  window.__switchboardRequests = seen;
  Services.obs.addObserver({
    observe(subject) {
      try {
        const ch = subject.QueryInterface(Ci.nsIChannel);
        const li = ch.loadInfo;
        if (!li || !li.browsingContextID) return;
        if (li.loadingPrincipal && li.loadingPrincipal.isSystemPrincipal) return;
        seen.push(ch.URI.spec);
      } catch (_) { /* not a channel */ }
    },
  }, 'http-on-modify-request');
}
return null;
"#;

/// Starts headless Firefox sessions; holds nothing itself (one process per session).
pub struct Firefox {
    _private: (),
}

impl Firefox {
    /// None (test skipped) or a panic (peers required) when firefox-esr is missing.
    pub fn start() -> Option<Firefox> {
        if !crate::require_peer("firefox-esr") {
            return None;
        }
        Some(Firefox { _private: () })
    }

    /// A new headless Firefox of `width` x `height` pixels (its viewport), its pages
    /// asked for `lang` (`en-US`, `ru-RU`) first.
    pub fn session(&self, width: u32, height: u32, lang: &str) -> FirefoxSession {
        FirefoxSession::launch(width, height, lang)
    }
}

/// One Firefox process with one Marionette session; killed, its profile removed, on drop.
pub struct FirefoxSession {
    child: Child,
    profile: PathBuf,
    conn: RefCell<Connection>,
    /// The origin of the page last navigated to (`http://127.0.0.1:port`).
    origin: RefCell<String>,
    /// Probe errors of pages already left.
    errors: RefCell<Vec<String>>,
    /// Firefox's stderr lines, collected by a thread.
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// How many stderr lines `console_errors` already read.
    stderr_seen: RefCell<usize>,
}

struct Connection {
    stream: TcpStream,
    next_id: u64,
}

impl FirefoxSession {
    fn launch(width: u32, height: u32, lang: &str) -> FirefoxSession {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let profile = scratch_dir("firefox-profile");
        let prefs = format!(
            "user_pref(\"marionette.port\", {port});\n\
             user_pref(\"intl.accept_languages\", \"{lang}\");\n\
             user_pref(\"browser.shell.checkDefaultBrowser\", false);\n\
             user_pref(\"datareporting.policy.dataSubmissionEnabled\", false);\n\
             user_pref(\"toolkit.telemetry.enabled\", false);\n\
             user_pref(\"app.update.disabledForTesting\", true);\n\
             user_pref(\"browser.safebrowsing.malware.enabled\", false);\n\
             user_pref(\"browser.safebrowsing.phishing.enabled\", false);\n\
             user_pref(\"network.captive-portal-service.enabled\", false);\n\
             user_pref(\"network.connectivity-service.enabled\", false);\n"
        );
        std::fs::write(profile.join("user.js"), prefs).expect("write the profile's user.js");
        let stdout =
            std::fs::File::create(profile.with_extension("stdout")).expect("firefox stdout file");
        let mut child = Command::new("firefox-esr")
            // System access: the network observer runs in the chrome context.
            .args([
                "--headless",
                "--marionette",
                "-remote-allow-system-access",
                "--no-remote",
                "--profile",
            ])
            .arg(&profile)
            .arg("about:blank")
            .env("MOZ_HEADLESS", "1")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start firefox-esr");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        if let Some(pipe) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    sink.lock().expect("stderr lines").push(line);
                }
            });
        }
        let stream = wait_for(60, || TcpStream::connect(("127.0.0.1", port)).ok());
        let Some(stream) = stream else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "firefox-esr did not open Marionette on port {port}; stderr:\n{}",
                stderr.lock().map(|l| l.join("\n")).unwrap_or_default()
            );
        };
        stream.set_read_timeout(Some(Duration::from_secs(90))).ok();
        let mut conn = Connection { stream, next_id: 0 };
        let hello = conn.read_message().expect("the Marionette greeting");
        assert_eq!(
            hello["marionetteProtocol"], 3,
            "a Marionette protocol 3 server: {hello}"
        );
        let session = FirefoxSession {
            child,
            profile,
            conn: RefCell::new(conn),
            origin: RefCell::new(String::new()),
            errors: RefCell::new(Vec::new()),
            stderr,
            stderr_seen: RefCell::new(0),
        };
        session.command(
            "WebDriver:NewSession",
            json!({"capabilities": {"alwaysMatch": {"pageLoadStrategy": "normal"}}}),
        );
        session.set_viewport(width, height);
        session.in_chrome(NETWORK_OBSERVER);
        session
    }

    /// Sizes the window so that the page's viewport is `width` x `height` (what Chromium's
    /// `--window-size` gives a headless page).
    fn set_viewport(&self, width: u32, height: u32) {
        self.command(
            "WebDriver:SetWindowRect",
            json!({"width": width, "height": height}),
        );
        let inner = self.js("return [window.innerWidth, window.innerHeight]", json!([]));
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(u64::from(width)),
            inner[1].as_u64().unwrap_or(u64::from(height)),
        );
        let (dw, dh) = (
            u64::from(width).saturating_sub(iw),
            u64::from(height).saturating_sub(ih),
        );
        if dw > 0 || dh > 0 {
            self.command(
                "WebDriver:SetWindowRect",
                json!({"width": u64::from(width) + dw, "height": u64::from(height) + dh}),
            );
        }
    }

    /// One command; its result, or a panic naming the command and Marionette's error.
    fn command(&self, name: &str, params: Value) -> Value {
        match self.conn.borrow_mut().call(name, &params) {
            Ok(v) => v,
            Err(e) => panic!("Marionette {name}: {e}"),
        }
    }

    fn find(&self, css: &str) -> String {
        let v = self.command(
            "WebDriver:FindElement",
            json!({"using": "css selector", "value": css}),
        );
        v["value"][ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Moves the errors the current page's probe saw into the session's list.
    fn harvest(&self) {
        let conn = &mut *self.conn.borrow_mut();
        // A page that is gone or mid-navigation has nothing to give: not an error.
        if let Ok(v) = conn.call(
            "WebDriver:ExecuteScript",
            &json!({"script": HARVEST, "args": []}),
        ) {
            let mut errors = self.errors.borrow_mut();
            for e in v["value"].as_array().into_iter().flatten() {
                errors.push(e.as_str().map_or_else(|| e.to_string(), str::to_string));
            }
        }
    }

    /// Runs `script` in the browser's chrome context, then returns to the page.
    fn in_chrome(&self, script: &str) -> Value {
        self.command("Marionette:SetContext", json!({"value": "chrome"}));
        let v = self.conn.borrow_mut().call(
            "WebDriver:ExecuteScript",
            &json!({"script": script, "args": []}),
        );
        self.command("Marionette:SetContext", json!({"value": "content"}));
        v.unwrap_or_else(|e| panic!("chrome script: {e}"))["value"].clone()
    }
}

impl Browser for FirefoxSession {
    fn engine(&self) -> &'static str {
        "firefox"
    }

    fn goto(&self, url: &str) {
        self.harvest();
        self.command("WebDriver:Navigate", json!({ "url": url }));
        let origin = url.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
        *self.origin.borrow_mut() = origin;
        self.command(
            "WebDriver:ExecuteScript",
            json!({"script": PROBE, "args": []}),
        );
    }

    fn js(&self, script: &str, args: Value) -> Value {
        self.command(
            "WebDriver:ExecuteScript",
            json!({"script": script, "args": args}),
        )["value"]
            .clone()
    }

    fn click(&self, css: &str) {
        let el = self.find(css);
        self.command("WebDriver:ElementClick", json!({ "id": el }));
    }

    fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        self.command(
            "WebDriver:ElementSendKeys",
            json!({ "id": el, "text": text }),
        );
    }

    fn screenshot(&self, path: &Path) {
        let v = self.command(
            "WebDriver:TakeScreenshot",
            json!({"full": false, "hash": false}),
        );
        let png = crate::webdriver::base64_decode(v["value"].as_str().unwrap_or_default());
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("artifact dir");
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    fn console_errors(&self) -> Vec<String> {
        self.harvest();
        let mut out: Vec<String> = self.errors.borrow_mut().drain(..).collect();
        let origin = self.origin.borrow().clone();
        let lines = self.stderr.lock().expect("stderr lines");
        let mut seen = self.stderr_seen.borrow_mut();
        for line in &lines[*seen..] {
            // Gecko: "JavaScript error: http://host:port/app.js, line 3: TypeError: ..."
            if let Some(rest) = line.strip_prefix("JavaScript error: ") {
                if !origin.is_empty() && rest.starts_with(&origin) {
                    out.push(line.clone());
                }
            }
        }
        *seen = lines.len();
        out
    }

    fn requested_urls(&mut self) -> Vec<String> {
        let v = self.in_chrome("return window.__switchboardRequests || []");
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    }
}

impl Drop for FirefoxSession {
    fn drop(&mut self) {
        if let Ok(mut conn) = self.conn.try_borrow_mut() {
            conn.stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .ok();
            let _ = conn.call("WebDriver:DeleteSession", &json!({}));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(self.profile.with_extension("stdout"));
    }
}

impl Connection {
    fn call(&mut self, name: &str, params: &Value) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let body = json!([0, id, name, params]).to_string();
        let framed = format!("{}:{body}", body.len());
        self.stream
            .write_all(framed.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        loop {
            let reply = self.read_message()?;
            // A late answer to an earlier command (one that timed out) is skipped.
            if reply[0] != 1 || reply[1] != id {
                continue;
            }
            if !reply[2].is_null() {
                return Err(format!(
                    "{}: {}",
                    reply[2]["error"].as_str().unwrap_or("error"),
                    reply[2]["message"].as_str().unwrap_or_default()
                ));
            }
            return Ok(reply[3].clone());
        }
    }

    /// One `<len>:<json>` message.
    fn read_message(&mut self) -> Result<Value, String> {
        let mut len = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            self.stream
                .read_exact(&mut byte)
                .map_err(|e| format!("read: {e}"))?;
            if byte[0] == b':' {
                break;
            }
            if !byte[0].is_ascii_digit() || len.len() > 10 {
                return Err(format!("bad frame length prefix {len:?}+{}", byte[0]));
            }
            len.push(byte[0]);
        }
        let n = parse_length(&len).ok_or_else(|| format!("bad frame length {len:?}"))?;
        let mut body = vec![0u8; n];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| format!("read {n} bytes: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("not JSON ({e})"))
    }
}

/// The decimal length before a frame's `:`, bounded by [`MAX_MESSAGE`].
fn parse_length(digits: &[u8]) -> Option<usize> {
    std::str::from_utf8(digits)
        .ok()?
        .parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_MESSAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths_are_bounded_decimals() {
        assert_eq!(parse_length(b"57"), Some(57));
        assert_eq!(parse_length(b""), None);
        assert_eq!(parse_length(b"99999999999"), None);
    }
}
