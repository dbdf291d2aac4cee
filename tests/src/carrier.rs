//! SIPp playing a carrier: a UAS scenario listening on a loopback port in the background
//! while the test drives the server, under a hard `timeout`, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::{repo_root, scratch_dir};

/// A SIPp UAS running `scenario` on `127.0.0.1:port`.
pub struct SippCarrier {
    child: Child,
    dir: PathBuf,
}

impl SippCarrier {
    /// Starts SIPp with `scenario` (in `tests/scenarios`) on `port`, ending after `calls`
    /// calls or `secs` seconds (then failing).
    pub fn start(scenario: &str, port: u16, calls: u32, secs: u64) -> SippCarrier {
        SippCarrier::start_with(scenario, port, calls, secs, &[])
    }

    /// [`SippCarrier::start`] with more SIPp arguments (e.g. `-rtp_echo -mp PORT`).
    pub fn start_with(
        scenario: &str,
        port: u16,
        calls: u32,
        secs: u64,
        extra: &[&str],
    ) -> SippCarrier {
        let dir = scratch_dir("sipp-carrier");
        let scen = repo_root().join("tests").join("scenarios").join(scenario);
        let child = Command::new("timeout")
            .arg(secs.to_string())
            .arg("sipp")
            .arg("-sf")
            .arg(scen)
            .args(["-buff_size", "4194304", "-nostdin", "-i", "127.0.0.1"])
            .args(["-p", &port.to_string(), "-m", &calls.to_string()])
            .args([
                "-timeout",
                &format!("{}s", secs.saturating_sub(2).max(1)),
                "-timeout_error",
            ])
            .args(["-trace_err", "-trace_msg"])
            .args(extra)
            .current_dir(&dir)
            // Files, not pipes nobody reads: SIPp's screen would fill a pipe and block it.
            .stdout(Stdio::from(
                std::fs::File::create(dir.join("sipp-stdout.txt")).expect("stdout file"),
            ))
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("sipp-stderr.log")).expect("stderr file"),
            ))
            .spawn()
            .expect("run sipp");
        // Wait until SIPp's socket is bound (seen in /proc/net/udp, without touching the
        // port), so the server's first request does not go to nobody on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !udp_port_bound(port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        SippCarrier { child, dir }
    }

    /// Waits up to `secs` for SIPp to exit; its status (None if still running), and the
    /// text of its message and error traces for diagnostics.
    pub fn wait(&mut self, secs: u64) -> (Option<ExitStatus>, String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                break Some(s);
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        (status, self.traces())
    }

    /// SIPp's message and error logs so far.
    pub fn traces(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    out.push_str(&format!("== {}\n", p.display()));
                    out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
                }
            }
        }
        out
    }
}

impl Drop for SippCarrier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether some socket is bound to UDP `port` (Linux `/proc/net/udp`).
fn udp_port_bound(port: u16) -> bool {
    let want = format!(":{port:04X}");
    std::fs::read_to_string("/proc/net/udp").is_ok_and(|t| {
        t.lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .any(|local| local.ends_with(&want))
    })
}

/// A loopback UDP port free right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
