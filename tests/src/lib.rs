//! Harness for the end-to-end tests: builds and starts the real `switchboard` binary on
//! free loopback ports with a scratch data directory, waits for its `READY` line (an
//! event, not a sleep), and runs real peers (SIPp, baresip, pjsua2) against it, each
//! under a hard timeout.
//!
//! Peers that are missing make a test fail when `SWITCHBOARD_REQUIRE_PEERS=1` (set by
//! `scripts/test`), and skip with a message otherwise, so `cargo test` works on a laptop.

pub mod audio;
pub mod baresip;
pub mod browser_pages;
pub mod browsers;
pub mod carrier;
pub mod cdr_csv;
pub mod hostile;
pub mod marionette;
pub mod outbound_fixture;
pub mod peers;
pub mod pg;
pub mod prompt_pieces;
pub mod raw_callee;
pub mod raw_sip;
pub mod recorded_audio;
pub mod rtp_capture;
pub mod rtp_sink;
pub mod test_ca;
pub mod transfer_peers;
pub mod webdriver;
pub mod ws;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The shared test data directory (`../shared` next to the repo).
pub fn shared_dir() -> PathBuf {
    repo_root().join("..").join("shared")
}

/// Path of the `switchboard` binary, building it if needed.
pub fn switchboard_bin() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("target"));
    let bin = target.join("debug").join("switchboard");
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "switchboard"])
            .current_dir(repo_root())
            .status()
            .expect("cargo build -p switchboard");
        assert!(status.success(), "building switchboard failed");
    });
    bin
}

/// Whether a peer program is available; fails the test if peers are required.
pub fn require_peer(program: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
            panic!("{program} is required (scripts/test installs it)");
        }
        eprintln!("SKIPPED: {program} is not installed (run scripts/test to install peers)");
    }
    found
}

/// A unique scratch directory under the target dir.
pub fn scratch_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = repo_root().join("target").join("e2e").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The time every test server's IVR sees unless a test pins another: a Monday noon in
/// Moscow (the demo dialplans' timezone), so time-of-day branches take their daytime path
/// at any hour the suite runs. Passed as `--ivr-test-clock`.
pub const IVR_DAYTIME: &str = "2026-01-05T12:00:00+03:00";

/// A night-time pin (02:00 in Moscow) for tests of the night branches.
pub const IVR_NIGHT: &str = "2026-01-05T02:00:00+03:00";

/// The pin every test server gets by default: `$SWITCHBOARD_IVR_TEST_CLOCK` when set (to
/// run the whole suite at night, say), else [`IVR_DAYTIME`].
pub fn default_ivr_clock() -> String {
    std::env::var("SWITCHBOARD_IVR_TEST_CLOCK")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| IVR_DAYTIME.to_string())
}

/// A running switchboard; killed on drop.
pub struct Server {
    child: Child,
    /// The SIP address (UDP and TCP).
    pub sip: SocketAddr,
    /// Every SIP listen address (e.g. IPv4 and IPv6).
    pub sip_all: Vec<SocketAddr>,
    /// The SIP over TLS listen address, when `sip.tls_listen` is set.
    pub sip_tls: Option<SocketAddr>,
    /// The HTTP admin address.
    pub http: SocketAddr,
    /// The scratch data directory.
    pub data_dir: PathBuf,
    /// Where stderr (the log) goes.
    pub log: PathBuf,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the binary with the embedded config plus `extra_toml` merged over it, on
    /// free ports, and waits (up to 60 s) for it to print READY.
    pub fn start(name: &str, extra_toml: &str) -> Server {
        Server::start_with(name, extra_toml, &[])
    }

    /// Like [`Server::start`], with extra command-line arguments for `switchboard run`.
    /// The IVR's clock is pinned to [`default_ivr_clock`] unless `args` pass
    /// `--ivr-test-clock` or `extra_toml` sets `test_clock` itself.
    pub fn start_with(name: &str, extra_toml: &str, args: &[&str]) -> Server {
        Server::start_on(name, extra_toml, args, None)
    }

    /// Like [`Server::start_with`], on an existing data directory (a restart) when
    /// `data_dir` is given, else on a fresh one.
    pub fn start_on(
        name: &str,
        extra_toml: &str,
        args: &[&str],
        data_dir: Option<&Path>,
    ) -> Server {
        let dir = scratch_dir(name);
        let data_dir = data_dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dir.join("data"));
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, extra_toml).expect("write config");
        let log = dir.join("switchboard.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(switchboard_bin())
            .arg("run")
            .arg("--config")
            .arg(&cfg)
            .args([
                "--sip-listen",
                "127.0.0.1:0",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .args(
                if args.contains(&"--ivr-test-clock") || extra_toml.contains("test_clock") {
                    Vec::new()
                } else {
                    vec!["--ivr-test-clock".to_string(), default_ivr_clock()]
                },
            )
            .arg("--data-dir")
            .arg(&data_dir)
            .current_dir(repo_root())
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("start switchboard");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("READY ") {
                        let mut sip = None;
                        let mut http = None;
                        let mut sip_all = Vec::new();
                        let mut sip_tls = None;
                        for kv in rest.split_whitespace() {
                            if let Some(v) = kv.strip_prefix("sip=") {
                                sip = v.parse().ok();
                            }
                            if let Some(v) = kv.strip_prefix("http=") {
                                http = v.parse().ok();
                            }
                            if let Some(v) = kv.strip_prefix("sip_tls=") {
                                sip_tls = v.parse().ok();
                            }
                            if let Some(v) = kv.strip_prefix("sip_all=") {
                                sip_all = v.split(',').filter_map(|a| a.parse().ok()).collect();
                            }
                        }
                        return Server {
                            child,
                            sip: sip.expect("READY has sip="),
                            sip_all,
                            sip_tls,
                            http: http.expect("READY has http="),
                            data_dir,
                            log,
                            lines: rx,
                        };
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "switchboard did not become ready; log:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            }
        }
    }

    /// Lines the server printed on stdout since the last call.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (a clean shutdown: with no live call the process exits at once) and
    /// waits up to `secs` for the process to exit; returns its exit status.
    pub fn terminate(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        self.signal("TERM");
        self.wait_exit(secs)
    }

    /// Sends a signal (`"TERM"`, `"INT"`, `"KILL"`) without waiting.
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status();
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits up to `secs` for the process to exit; returns its exit status.
    pub fn wait_exit(&mut self, secs: u64) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's process id (for /proc lookups).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (a crash: nothing is flushed or closed) and reaps it.
    pub fn kill_hard(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// GET a path on the admin API; returns (status, body).
    /// Runs `switchboard export <what>` on this server's data directory; returns stdout
    /// (fails the test when the export fails).
    pub fn export(&self, what: &str) -> String {
        let out = Command::new(switchboard_bin())
            .args(["export", what, "--data-dir"])
            .arg(&self.data_dir)
            .output()
            .expect("run switchboard export");
        assert!(
            out.status.success(),
            "switchboard export {what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// GET with the demo admin token.
    pub fn http_get(&self, path: &str) -> (u16, String) {
        http_call(self.http, "GET", path, None, Some(DEMO_ADMIN_TOKEN), None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The embedded config's demo admin token (README).
pub const DEMO_ADMIN_TOKEN: &str = "demo-admin";

/// A minimal HTTP/1.1 client (the tests talk to our admin API only), without a token.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    http_call(addr, method, path, body, None, None)
}

/// Like [`http_request`], with a bearer `token` and a `host` header other than `addr`.
pub fn http_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
    host: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let body = body.unwrap_or("");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let host = host.map_or_else(|| addr.to_string(), str::to_string);
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send http");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read http");
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Runs SIPp against `target` with a scenario from `tests/scenarios/`, under `timeout`.
/// `-buff_size 4194304` and `-nostdin` are always added.
pub fn sipp(scenario: &str, target: SocketAddr, args: &[&str], secs: u64) -> Output {
    let dir = scratch_dir("sipp");
    let scen = repo_root().join("tests").join("scenarios").join(scenario);
    Command::new("timeout")
        .arg(secs.to_string())
        .arg("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(scen)
        .args(["-buff_size", "4194304", "-nostdin", "-i", "127.0.0.1"])
        .args([
            "-timeout",
            &format!("{}s", secs.saturating_sub(2).max(1)),
            "-timeout_error",
        ])
        .args(["-trace_err", "-trace_msg"])
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("run sipp")
}

/// The text of SIPp's message trace files in the directory it ran in (for diagnostics).
pub fn sipp_trace(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits until `f` returns Some, polling every 50 ms, up to `secs`.
pub fn wait_for<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One row of the server's event log.
#[derive(Clone, Debug)]
pub struct LoggedEvent {
    /// Global order.
    pub id: i64,
    /// Unix milliseconds when it was logged.
    pub ts_ms: i64,
    /// Our call id.
    pub call: String,
    /// Sequence within the call.
    pub call_seq: i64,
    /// Queue name.
    pub queue: String,
    /// Agent name.
    pub agent: String,
    /// The call's tenant (`''` if none).
    pub tenant: String,
    /// Kind, e.g. `queue.announce`.
    pub kind: String,
    /// Details.
    pub data: serde_json::Value,
}

impl Server {
    /// Asks for a web callback to `number` in `queue`, due now (as a supervisor), and waits
    /// for the engine to start placing it: its id and the placed call's `call.start`.
    pub fn place_web_callback(&self, queue: &str, number: &str) -> (String, LoggedEvent) {
        let body = serde_json::json!({"queue": queue, "number": number}).to_string();
        let (status, made) = http_call(
            self.http,
            "POST",
            "/api/v1/callbacks",
            Some(&body),
            Some("demo-supervisor"),
            None,
        );
        assert_eq!(status, 201, "{made}");
        let made: serde_json::Value = serde_json::from_str(&made).expect("JSON");
        let id = made["id"].as_str().expect("an id").to_string();
        let placed = self
            .wait_event(40, |e| {
                e.kind == "call.start" && e.data["callback_for"] == id.as_str()
            })
            .unwrap_or_else(|| panic!("callback placed; events {:#?}", self.events()));
        (id, placed)
    }

    /// Every event in the server's log so far.
    pub fn events(&self) -> Vec<LoggedEvent> {
        let path = self.data_dir.join("events.sqlite");
        let Ok(conn) = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        ) else {
            return Vec::new();
        };
        let Ok(mut st) = conn.prepare(
            "SELECT id, call, call_seq, queue, agent, kind, data, ts_ms, tenant FROM events ORDER BY id",
        ) else {
            return Vec::new();
        };
        st.query_map([], |r| {
            let data: String = r.get(6)?;
            Ok(LoggedEvent {
                id: r.get(0)?,
                ts_ms: r.get(7)?,
                call: r.get(1)?,
                call_seq: r.get(2)?,
                queue: r.get(3)?,
                agent: r.get(4)?,
                tenant: r.get(8)?,
                kind: r.get(5)?,
                data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            })
        })
        .map(|rows| rows.flatten().collect())
        .unwrap_or_default()
    }

    /// Waits up to `secs` for an event matching `pred`.
    pub fn wait_event(
        &self,
        secs: u64,
        pred: impl Fn(&LoggedEvent) -> bool,
    ) -> Option<LoggedEvent> {
        wait_for(secs, || self.events().into_iter().find(|e| pred(e)))
    }
}
