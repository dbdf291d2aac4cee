//! Real peers driven by the tests: the pjsua2 softphone script (`tests/peers/pjsua_agent.py`)
//! as an agent or as a trunk caller, its JSON-line events read as they come.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::repo_root;

/// The Python with pjsua2, or None (test skipped) / panic (peers required).
pub fn python_with_pjsua2() -> Option<String> {
    let python = std::env::var("SWITCHBOARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import pjsua2"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("pjsua2 is required (scripts/test installs it in target/venv)");
        }
        eprintln!("SKIPPED: pjsua2 missing");
        return None;
    }
    Some(python)
}

/// A running pjsua2 softphone.
pub struct Softphone {
    child: Child,
    stdin: Option<ChildStdin>,
    events: mpsc::Receiver<serde_json::Value>,
    /// Every event seen so far.
    pub seen: Vec<serde_json::Value>,
    /// Where it records what it hears (if asked to).
    pub recording: Option<PathBuf>,
}

/// How to start a softphone.
pub struct SoftphoneOpts<'a> {
    /// Agent user (registers) — or None for a trunk caller.
    pub user: Option<(&'a str, &'a str)>,
    /// Call this URI (caller mode).
    pub call: Option<String>,
    /// Caller number in caller mode.
    pub caller: &'a str,
    /// `auto`, `busy` or `none` (ring forever).
    pub answer: &'a str,
    /// Sine tone to send, Hz (0 = none).
    pub tone_hz: u32,
    /// Record what it hears here.
    pub record: Option<PathBuf>,
    /// Lifetime cap, seconds.
    pub seconds: u32,
    /// SIP port to listen on (0: any) — a caller that must be reachable for callbacks.
    pub local_port: u16,
    /// `udp`, `tcp` or `tls` (registration and calls).
    pub transport: &'a str,
    /// TLS: the CA file the server's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// SDES SRTP: `mandatory`, `optional`, or empty for plain RTP.
    pub srtp: &'a str,
    /// The only codec to offer and accept (`PCMA`, `G722`, ...); empty: PCMU, then PCMA.
    pub codec: &'a str,
}

impl Default for SoftphoneOpts<'_> {
    fn default() -> Self {
        SoftphoneOpts {
            user: None,
            call: None,
            caller: "+79995550101",
            answer: "auto",
            tone_hz: 0,
            record: None,
            seconds: 60,
            local_port: 0,
            transport: "udp",
            ca_file: None,
            srtp: "",
            codec: "",
        }
    }
}

impl Softphone {
    /// Starts the script against `server`.
    pub fn start(python: &str, server: SocketAddr, o: SoftphoneOpts<'_>) -> Softphone {
        let mut cmd = Command::new("timeout");
        cmd.arg((o.seconds + 10).to_string())
            .arg(python)
            .arg(repo_root().join("tests/peers/pjsua_agent.py"))
            .args([
                "--server",
                &server.to_string(),
                "--answer",
                o.answer,
                "--seconds",
                &o.seconds.to_string(),
            ])
            .args(["--tone-hz", &o.tone_hz.to_string(), "--caller", o.caller])
            .args(["--local-port", &o.local_port.to_string()])
            .args(["--transport", o.transport]);
        if !o.srtp.is_empty() {
            cmd.args(["--srtp", o.srtp]);
        }
        if !o.codec.is_empty() {
            cmd.args(["--codec", o.codec]);
        }
        if let Some(ca) = &o.ca_file {
            cmd.arg("--ca-file").arg(ca);
        }
        if let Some((u, p)) = o.user {
            cmd.args(["--user", u, "--password", p]);
        }
        if let Some(c) = &o.call {
            cmd.args(["--call", c]);
        }
        if let Some(r) = &o.record {
            cmd.arg("--record").arg(r);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pjsua2 softphone");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Softphone {
            child,
            stdin,
            events: rx,
            seen: Vec::new(),
            recording: o.record,
        }
    }

    /// Waits up to `secs` for an event named `name`; returns it.
    pub fn wait_event(&mut self, name: &str, secs: u64) -> Option<serde_json::Value> {
        if let Some(v) = self.seen.iter().find(|v| v["event"] == name) {
            return Some(v.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["event"] == name {
                        return Some(v);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits up to `secs` for an event named `name` that arrives from now on (events seen
    /// before, say by an earlier call, do not count); returns it.
    pub fn wait_new_event(&mut self, name: &str, secs: u64) -> Option<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Ok(v) = self
            .events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.seen.push(v.clone());
            if v["event"] == name {
                return Some(v);
            }
        }
        None
    }

    /// Sends a command line ("hangup", "dtmf 1", "unregister", "quit").
    pub fn command(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{line}");
            let _ = s.flush();
        }
    }

    /// Asks the script to quit and waits for it (so its recording is complete).
    pub fn quit(mut self) -> Vec<serde_json::Value> {
        self.command("quit");
        let _ = self.wait_event("exit", 15);
        drop(self.stdin.take());
        let _ = self.child.wait();
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Softphone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Agent `user` (password `secret-<user>`) on a pjsua2 phone started with `opts` (its
/// `user` is set here), asserted registered (200 within 20 s). The one way the e2e tests
/// register an agent's phone; wait for the agent's `agent.state` where a test needs the
/// ACD to have seen it.
pub fn registered(
    python: &str,
    server: SocketAddr,
    user: &str,
    opts: SoftphoneOpts<'_>,
) -> Softphone {
    let password = format!("secret-{user}");
    let mut phone = Softphone::start(
        python,
        server,
        SoftphoneOpts {
            user: Some((user, &password)),
            ..opts
        },
    );
    let reg = phone.wait_event("registered", 20);
    assert_eq!(
        reg.as_ref().map(|r| r["code"].clone()),
        Some(serde_json::json!(200)),
        "agent {user} registers: {reg:?}"
    );
    phone
}

/// Agent `user` on a pjsua2 phone that answers every call and lives `seconds`, asserted
/// registered ([`registered`]).
pub fn registered_agent(python: &str, server: SocketAddr, user: &str, seconds: u32) -> Softphone {
    registered(
        python,
        server,
        user,
        SoftphoneOpts {
            answer: "auto",
            seconds,
            ..Default::default()
        },
    )
}
