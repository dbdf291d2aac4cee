//! Reads one Prometheus histogram from the server's `/metrics` (plain HTTP/1.0 GET over
//! loopback, blocking, 5 s timeouts) before and after a run, and summarises the
//! difference: count, mean and bucket-bounded quantiles. Used for
//! `switchboard_announcement_lateness_seconds` (how late queue announcements start), the
//! server's answer-to-audio from the call task and from the SIP socket, and the SIP
//! inbound queue's wait.
//! It is not a Prometheus client: only `NAME_bucket{le="..."}`, `NAME_sum` and
//! `NAME_count` lines without other labels are read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The announcement lateness histogram's name.
pub(crate) const LATENESS: &str = "switchboard_announcement_lateness_seconds";
/// The server's answer-to-audio histogram (agent's answer taken up by the call to the
/// first packet across the bridge): the server's share of the tool's answer-to-audio.
pub(crate) const ANSWER_TO_AUDIO: &str = "switchboard_answer_to_audio_seconds";
/// The same from the agent's 200 arriving at the server's SIP socket: adds the SIP path.
pub(crate) const SIP_ANSWER_TO_AUDIO: &str = "switchboard_sip_answer_to_audio_seconds";
/// How long received SIP messages waited for the server's SIP driver.
pub(crate) const SIP_INBOUND_WAIT: &str = "switchboard_sip_inbound_wait_seconds";
/// How late the server's main runtime ran a 10 ms timer (its stalls).
pub(crate) const RUNTIME_LATENESS: &str = "switchboard_runtime_lateness_seconds";

/// One scrape of a histogram: cumulative buckets by upper bound (`+Inf` as infinity).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Histogram {
    pub(crate) buckets: Vec<(f64, u64)>,
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl Histogram {
    /// The histogram `name` in a Prometheus text exposition; `None` if it is absent.
    pub(crate) fn parse(text: &str, name: &str) -> Option<Histogram> {
        let mut h = Histogram::default();
        let mut seen = false;
        let bucket = format!("{name}_bucket{{le=\"");
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(&bucket) {
                let (le, v) = rest.split_once("\"} ")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                h.buckets.push((le, v.trim().parse().ok()?));
                seen = true;
            } else if let Some(v) = line.strip_prefix(&format!("{name}_sum ")) {
                h.sum = v.trim().parse().ok()?;
            } else if let Some(v) = line.strip_prefix(&format!("{name}_count ")) {
                h.count = v.trim().parse().ok()?;
            }
        }
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        seen.then_some(h)
    }

    /// What was observed between `earlier` and `self` (same buckets).
    pub(crate) fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |le: f64| {
            earlier
                .buckets
                .iter()
                .find(|b| b.0 == le)
                .map_or(0, |b| b.1)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| (le, n.saturating_sub(before(le))))
                .collect(),
            sum: (self.sum - earlier.sum).max(0.0),
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The smallest bucket bound at or under which a share `q` of the observations lie
    /// (an upper bound on the `q` quantile); `None` without observations.
    pub(crate) fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let need = (q * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|b| b.1 >= need.max(1))
            .map(|b| b.0)
    }

    pub(crate) fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// Observations over `bound` seconds (`bound` must be a bucket bound).
    pub(crate) fn over(&self, bound: f64) -> Option<u64> {
        let under = self.buckets.iter().find(|b| b.0 == bound)?.1;
        Some(self.count.saturating_sub(under))
    }
}

/// GETs `path` from `addr` (loopback only) and returns the body.
pub(crate) fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::other("not a loopback address"));
    }
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.take(64 << 20).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no HTTP header end"))?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        return Err(std::io::Error::other(format!(
            "HTTP status: {}",
            head.lines().next().unwrap_or("")
        )));
    }
    Ok(body.to_string())
}

/// The server's histograms `names` now (each `None` when absent), or `None` (and a note
/// on stderr) if `/metrics` is unreadable.
pub(crate) fn histograms<const N: usize>(
    addr: SocketAddr,
    names: [&str; N],
) -> Option<[Option<Histogram>; N]> {
    match get(addr, "/metrics") {
        Ok(body) => Some(names.map(|n| Histogram::parse(&body, n))),
        Err(e) => {
            eprintln!("switchboard-load: reading http://{addr}/metrics failed: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: &str = LATENESS;

    fn text(b: [u64; 4], sum: f64) -> String {
        format!(
            "# TYPE {N} histogram\n{N}_bucket{{le=\"0.05\"}} {}\n{N}_bucket{{le=\"0.2\"}} {}\n\
             {N}_bucket{{le=\"1\"}} {}\n{N}_bucket{{le=\"+Inf\"}} {}\n{N}_sum {sum}\n{N}_count {}\n\
             switchboard_calls_total 3\n",
            b[0], b[1], b[2], b[3], b[3]
        )
    }

    #[test]
    fn parses_the_histogram_and_ignores_other_metrics() {
        let h = Histogram::parse(&text([1, 2, 3, 4], 2.5), N).expect("histogram");
        assert_eq!(
            h.buckets,
            vec![(0.05, 1), (0.2, 2), (1.0, 3), (f64::INFINITY, 4)]
        );
        assert_eq!((h.count, h.sum), (4, 2.5));
        assert_eq!(Histogram::parse("switchboard_calls_total 3\n", N), None);
    }

    #[test]
    fn the_difference_of_two_scrapes_gives_quantile_bounds_and_the_mean() {
        let before = Histogram::parse(&text([10, 10, 10, 10], 0.1), N).unwrap();
        // 100 more: 90 within 50 ms, 8 more within 200 ms, 2 within 1 s.
        let after = Histogram::parse(&text([100, 108, 110, 110], 5.1), N).unwrap();
        let d = after.since(&before);
        assert_eq!(d.count, 100);
        assert!((d.mean().unwrap() - 0.05).abs() < 1e-9);
        assert_eq!(d.quantile_bound(0.5), Some(0.05));
        assert_eq!(d.quantile_bound(0.9), Some(0.05));
        assert_eq!(d.quantile_bound(0.95), Some(0.2));
        assert_eq!(d.quantile_bound(0.99), Some(1.0));
        assert_eq!(d.over(0.2), Some(2));
        assert_eq!(Histogram::default().quantile_bound(0.99), None);
    }

    #[test]
    fn refuses_a_non_loopback_address() {
        let e = get("192.0.2.1:80".parse().unwrap(), "/metrics").unwrap_err();
        assert!(e.to_string().contains("loopback"));
    }
}
