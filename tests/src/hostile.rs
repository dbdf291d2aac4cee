//! Helpers for the hardening tests: SIPp from a chosen loopback source address
//! (127.0.0.x), metrics lookups, and the server's peak memory.

use std::net::SocketAddr;
use std::process::{Command, Output};

use crate::{repo_root, scratch_dir, Server};

/// Runs SIPp against `target` with a scenario from `tests/scenarios/`, bound to `local_ip`
/// (the source address the server sees), under `timeout`. `-buff_size 4194304` and
/// `-nostdin` are always added.
pub fn sipp_from(
    local_ip: &str,
    scenario: &str,
    target: SocketAddr,
    args: &[&str],
    secs: u64,
) -> Output {
    let dir = scratch_dir("sipp-from");
    let scen = repo_root().join("tests").join("scenarios").join(scenario);
    Command::new("timeout")
        .arg(secs.to_string())
        .arg("sipp")
        .arg(target.to_string())
        .arg("-sf")
        .arg(scen)
        .args(["-buff_size", "4194304", "-nostdin", "-i", local_ip])
        .args([
            "-timeout",
            &format!("{}s", secs.saturating_sub(2).max(1)),
            "-timeout_error",
        ])
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("run sipp")
}

/// The value of an unlabelled metric from `/metrics`, if present.
pub fn metric(server: &Server, name: &str) -> Option<f64> {
    let (status, body) = server.http_get("/metrics");
    assert_eq!(status, 200, "metrics endpoint");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The server process's peak resident set size (`VmHWM`), in kB.
pub fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// A TCP connection to `to` from `local_ip` (any port), or `None` if it does not connect
/// within 5 s.
pub fn tcp_from(local_ip: &str, to: SocketAddr) -> Option<std::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    let local: SocketAddr = format!("{local_ip}:0").parse().ok()?;
    s.bind(&local.into()).ok()?;
    s.connect_timeout(&to.into(), std::time::Duration::from_secs(5))
        .ok()?;
    Some(s.into())
}
