//! A client of the event stream (`GET /api/v1/events`): the Python `websockets` package
//! driven by `tests/peers/ws_events_client.py`, its JSON lines read as they come.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::repo_root;

/// The Python with `websockets`, or None (test skipped) / panic (peers required).
pub fn python_with_websockets() -> Option<String> {
    let python = std::env::var("SWITCHBOARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import websockets.sync.client"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("the Python websockets package is required (scripts/test installs it)");
        }
        eprintln!("SKIPPED: Python websockets missing");
        return None;
    }
    Some(python)
}

/// How the client presents its token.
#[derive(Clone, Copy, Debug)]
pub enum WsAuth<'a> {
    /// `Authorization: Bearer <token>`.
    Header(&'a str),
    /// Subprotocols `switchboard.v1`, `bearer.<token>` (what a browser does).
    Subprotocol(&'a str),
    /// No token.
    None,
}

/// A running event-stream client.
pub struct EventClient {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<Value>,
    /// Every line seen so far.
    pub seen: Vec<Value>,
}

impl EventClient {
    /// Connects to `http` + `path_and_query` (e.g. `/api/v1/events?since=3`).
    pub fn connect(python: &str, http: SocketAddr, path_and_query: &str, auth: WsAuth<'_>) -> Self {
        let mut cmd = Command::new("timeout");
        cmd.arg("130")
            .arg(python)
            .arg(repo_root().join("tests/peers/ws_events_client.py"))
            .args(["--url", &format!("ws://{http}{path_and_query}")])
            .args(["--seconds", "120"]);
        match auth {
            WsAuth::Header(t) => {
                cmd.args(["--token", t]);
            }
            WsAuth::Subprotocol(t) => {
                cmd.args(["--protocol-token", t]);
            }
            WsAuth::None => {}
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the websockets client");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        EventClient {
            child,
            stdin,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits up to `secs` for a line matching `pred` (looking at lines already seen
    /// first); returns it.
    pub fn wait(&mut self, secs: u64, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return Some(v.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return Some(v);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for the connection to open (or be refused): the first line.
    pub fn opened(&mut self, secs: u64) -> Value {
        self.wait(secs, |v| v["event"] != "frame")
            .expect("the client reports open, rejected or error")
    }

    /// The event frames received so far.
    pub fn frames(&mut self) -> Vec<Value> {
        self.seen.extend(self.lines.try_iter());
        self.seen
            .iter()
            .filter(|v| v["event"] == "frame")
            .map(|v| v["data"].clone())
            .collect()
    }

    /// Waits until a frame with id `id` or more has arrived; returns every frame.
    pub fn frames_through(&mut self, id: i64, secs: u64) -> Option<Vec<Value>> {
        self.wait(secs, |v| {
            v["event"] == "frame" && v["data"]["id"].as_i64().is_some_and(|i| i >= id)
        })?;
        Some(self.frames())
    }

    /// Sends a text frame.
    pub fn send_text(&mut self, text: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "send {text}");
            let _ = s.flush();
        }
    }
}

impl Drop for EventClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
