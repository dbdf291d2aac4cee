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
        let mut carrier = SippCarrier { child, dir };
        // Wait until SIPp's sockets are bound (seen in /proc/net/udp, without touching the
        // ports), so the server's first request does not go to nobody on a busy machine.
        // SIPp with `-mp P` also binds P and P + 2 (audio, "video") and exits at once when
        // it cannot: that is a failed start, said here, not a call that never gets answered.
        let media = extra
            .iter()
            .position(|a| *a == "-mp")
            .and_then(|i| extra.get(i + 1))
            .and_then(|p| p.parse::<u16>().ok());
        let mut want = vec![port];
        want.extend(media.into_iter().flat_map(|m| [m, m + 2]));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !want.iter().all(|p| udp_port_bound(*p)) && Instant::now() < deadline {
            if let Ok(Some(status)) = carrier.child.try_wait() {
                panic!(
                    "SIPp carrier ({scenario}, port {port}, media {media:?}) exited at start \
                     ({status}):\n{}",
                    carrier.startup_errors()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        carrier
    }

    /// [`SippCarrier::start_with`] with a media port of its own (`-mp`, from
    /// [`free_media_port`]); the port, for scenarios that send to it. A start that fails
    /// because another process bound one of SIPp's media ports in the meantime is retried
    /// on other ports (twice).
    pub fn start_with_media(
        scenario: &str,
        port: u16,
        calls: u32,
        secs: u64,
        extra: &[&str],
    ) -> (SippCarrier, u16) {
        for attempt in 0..3 {
            let media = free_media_port();
            let mp = media.to_string();
            let mut args = extra.to_vec();
            args.extend(["-mp", mp.as_str()]);
            let started = std::panic::catch_unwind(|| {
                SippCarrier::start_with(scenario, port, calls, secs, &args)
            });
            match started {
                Ok(carrier) => return (carrier, media),
                Err(e) if attempt < 2 => {
                    eprintln!("SIPp carrier start on media port {media} failed, retrying: {e:?}")
                }
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// SIPp's stderr and error log, for a start that failed.
    fn startup_errors(&self) -> String {
        let stderr = std::fs::read_to_string(self.dir.join("sipp-stderr.log")).unwrap_or_default();
        format!("{stderr}{}", self.traces())
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

/// An even loopback UDP port `p` with `p..p + 4` free, for SIPp's `-mp` (it binds `p` for
/// audio and `p + 2`; RTCP would take the odd ones). Chosen in 10000..19999: below the
/// kernel's ephemeral range (32768..60999 here), where any socket bound to port 0 or any
/// connect may land between this check and SIPp's bind, and below the server's default RTP
/// range (20000..29999).
pub fn free_media_port() -> u16 {
    let seed = u64::from(std::process::id()) * 7919
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::from(d.subsec_nanos()))
            .unwrap_or(0);
    for i in 0..2000u64 {
        let p = 10000 + (((seed + i * 2) % 9996) & !1) as u16;
        let socks: Vec<_> = (p..p + 4)
            .map(|q| std::net::UdpSocket::bind(("127.0.0.1", q)))
            .collect();
        if socks.iter().all(Result::is_ok) {
            return p;
        }
    }
    panic!("no free media port quadruple in 10000..19999");
}
