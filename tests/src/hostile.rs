//! Helpers for the hardening tests: SIPp from a chosen loopback source address
//! (127.0.0.x), OPTIONS health probes, metrics lookups, and the server's peak memory.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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

/// One answered OPTIONS probe: how long the 200 took and how many times the request was
/// sent (1: answered without a retransmission).
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    pub took: Duration,
    pub sends: u32,
}

/// One OPTIONS probe from `sock` (Call-ID `probe-<tag>-<n>@mon`), retransmitted every
/// 500 ms; its answer, if a 200 came within 8 s.
pub fn options_probe(sock: &UdpSocket, target: SocketAddr, tag: &str, n: u32) -> Option<Probe> {
    let start = Instant::now();
    let local = sock.local_addr().expect("addr");
    let call_id = format!("probe-{tag}-{n}@mon");
    let req = format!(
        "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-{tag}-{n}\r\n\
         From: <sip:monitor@{}>;tag=p{n}\r\nTo: <sip:{target}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        local.ip()
    );
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    for sends in 1..=16 {
        sock.send_to(req.as_bytes(), target).expect("send probe");
        while let Ok((len, _)) = sock.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..len]);
            if text.starts_with("SIP/2.0 200") && text.contains(&call_id) {
                return Some(Probe {
                    took: start.elapsed(),
                    sends,
                });
            }
        }
    }
    None
}
