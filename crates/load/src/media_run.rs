//! `switchboard-load media`: the same bridged calls' media (a PCMU tone each way, 20 ms
//! packets, the audio check on sampled calls) without SIP, relayed by a baseline instead
//! of switchboard: the minimal relay (`switchboard-load relay`, ports by call index) or
//! rtpengine (each call set up with an ng `offer`/`answer`, removed with `delete`). It
//! reports the relay process's CPU per packet delivered, so switchboard's figure from a
//! `run` with the same calls, rate and hold can be put over it.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use switchboard_media::Codec;

use anyhow::{bail, Context};
use tokio::net::UdpSocket;

use crate::audio::{RtpSource, AGENT_TONE_HZ, CALLER_TONE_HZ};
use crate::endpoint::{sdp, sdp_media_addr};
use crate::leg::{Live, MediaLeg, PacketBuf, Shared};
use crate::ng::{self, Value};
use crate::stats::{summary, Outcome};
use crate::{load_average, procfs, sample};

/// Which relay carries the calls.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Via {
    /// `switchboard-load relay` with call `i` on ports `first + 2i` (caller's side) and
    /// `first + 2i + 1` (agent's side).
    Minimal { first_port: u16 },
    /// rtpengine's ng control socket.
    Rtpengine { ng: SocketAddr },
}

impl std::str::FromStr for Via {
    type Err = String;
    fn from_str(s: &str) -> Result<Via, String> {
        if let Some(p) = s.strip_prefix("minimal:") {
            let first_port = p
                .parse()
                .map_err(|_| format!("minimal:PORT expected, got {s:?}"))?;
            return Ok(Via::Minimal { first_port });
        }
        if let Some(a) = s.strip_prefix("rtpengine:") {
            let ng: SocketAddr = a
                .parse()
                .map_err(|_| format!("rtpengine:IP:PORT expected, got {s:?}"))?;
            if !ng.ip().is_loopback() {
                return Err(format!("{ng} is not a loopback address"));
            }
            return Ok(Via::Rtpengine { ng });
        }
        Err(format!(
            "--via is minimal:FIRST_PORT or rtpengine:IP:PORT, not {s:?}"
        ))
    }
}

/// What a media run asks for.
pub(crate) struct MediaArgs {
    pub(crate) via: Via,
    pub(crate) relay_pid: Option<u32>,
    pub(crate) calls: u32,
    pub(crate) rate: f64,
    pub(crate) hold: Duration,
    pub(crate) sample_every: u64,
    pub(crate) progress: Duration,
}

/// Runs the calls; returns whether any failed.
pub(crate) async fn run(a: MediaArgs, sh: Arc<Shared>) -> anyhow::Result<bool> {
    procfs::raise_nofile();
    let ctl = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    eprintln!(
        "switchboard-load media: {} calls via {:?} at {}/s, hold {:?}",
        a.calls, a.via, a.rate, a.hold
    );
    let start = sample(a.relay_pid);
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let mut next = t0;
    let mut ticker = tokio::time::interval(a.progress.max(Duration::from_secs(1)));
    ticker.tick().await;
    let mut placed = 0u32;
    let mut peak_rss = start.rss.map(|r| r.0).unwrap_or(0);
    let hard_end = t0
        + Duration::from_secs_f64(f64::from(a.calls) / a.rate)
        + a.hold
        + Duration::from_secs(60);
    loop {
        let place_at = tokio::time::Instant::from_std(next);
        tokio::select! {
            _ = tokio::time::sleep_until(place_at), if placed < a.calls => {
                set.spawn(call(placed, a.via, ctl.clone(), sh.clone(), a.hold, a.sample_every));
                placed += 1;
                next += Duration::from_secs_f64(1.0 / a.rate);
            }
            _ = ticker.tick() => {
                let s = sample(a.relay_pid);
                if let Some((rss, _)) = s.rss { peak_rss = peak_rss.max(rss); }
                eprintln!(
                    "[{:>5.0}s] placed {placed} active {} done {} failed {} | relay rss {} MiB | loadavg {}",
                    t0.elapsed().as_secs_f64(),
                    sh.live.active.load(Ordering::Relaxed),
                    sh.live.finished.load(Ordering::Relaxed),
                    sh.live.failed.load(Ordering::Relaxed),
                    s.rss.map(|r| r.0 / 1024).unwrap_or(0),
                    load_average(),
                );
            }
            r = set.join_next(), if !set.is_empty() => {
                if let Some(Err(e)) = r { bail!("a media call panicked: {e}"); }
            }
        }
        if placed == a.calls && set.is_empty() {
            break;
        }
        if Instant::now() >= hard_end {
            set.abort_all();
            break;
        }
    }
    let end = sample(a.relay_pid);
    Ok(report(&a, &sh, &start, &end, peak_rss))
}

async fn call(
    idx: u32,
    via: Via,
    ctl: Arc<UdpSocket>,
    sh: Arc<Shared>,
    hold: Duration,
    sample_every: u64,
) {
    Live::enter(&sh.live.active, &sh.live.peak_active);
    let sampled = sample_every > 0 && u64::from(idx) % sample_every == 0;
    let outcome = match talk(idx, via, &ctl, &sh, hold, sampled).await {
        Ok(true) => Outcome::Completed,
        Ok(false) => Outcome::Failed("audio_check".into()),
        Err(e) => Outcome::Failed(format!("setup: {e:#}")),
    };
    sh.live.active.fetch_sub(1, Ordering::Relaxed);
    sh.live.finished.fetch_add(1, Ordering::Relaxed);
    if outcome != Outcome::Completed {
        sh.live.failed.fetch_add(1, Ordering::Relaxed);
    }
    sh.acct.lock().expect("acct lock").record(&outcome);
}

/// One call's media for `hold`; `Ok(audio check passed or not sampled)`.
async fn talk(
    idx: u32,
    via: Via,
    ctl: &UdpSocket,
    sh: &Shared,
    hold: Duration,
    sampled: bool,
) -> anyhow::Result<bool> {
    let mut caller = MediaLeg::bind(AGENT_TONE_HZ, sampled, Codec::Pcmu).await?;
    let mut agent = MediaLeg::bind(CALLER_TONE_HZ, sampled, Codec::Pcmu).await?;
    let call_id = format!("media-{idx}-{}", std::process::id());
    match via {
        Via::Minimal { first_port } => {
            let (pa, pb) = crate::relay::call_ports(first_port, idx)
                .context("call index past the relay's ports")?;
            caller.remote = Some(SocketAddr::from(([127, 0, 0, 1], pa)));
            agent.remote = Some(SocketAddr::from(([127, 0, 0, 1], pb)));
        }
        Via::Rtpengine { ng } => {
            let offer = sdp(u64::from(idx), caller.port(), Codec::Pcmu);
            let r = ng::request(
                ctl,
                ng,
                &format!("{call_id}-o"),
                vec![
                    ("command", Value::str("offer")),
                    ("call-id", Value::str(&call_id)),
                    ("from-tag", Value::str("caller")),
                    ("sdp", Value::str(&offer)),
                ],
            )
            .await?;
            agent.remote = r
                .get_str("sdp")
                .and_then(|s| sdp_media_addr(s.as_bytes()))
                .map(Some)
                .context("rtpengine's offer reply has no usable SDP")?;
            let answer = sdp(u64::from(idx), agent.port(), Codec::Pcmu);
            let r = ng::request(
                ctl,
                ng,
                &format!("{call_id}-a"),
                vec![
                    ("command", Value::str("answer")),
                    ("call-id", Value::str(&call_id)),
                    ("from-tag", Value::str("caller")),
                    ("to-tag", Value::str("agent")),
                    ("sdp", Value::str(&answer)),
                ],
            )
            .await?;
            caller.remote = r
                .get_str("sdp")
                .and_then(|s| sdp_media_addr(s.as_bytes()))
                .map(Some)
                .context("rtpengine's answer reply has no usable SDP")?;
        }
    }
    let answered = Instant::now();
    Live::enter(&sh.live.bridged, &sh.live.peak_bridged);
    let mut src_c = RtpSource::new(rand::random::<u32>() | 1, CALLER_TONE_HZ, Codec::Pcmu);
    let mut src_a = RtpSource::new(rand::random::<u32>() | 1, AGENT_TONE_HZ, Codec::Pcmu);
    let (mut pc, mut pa): (PacketBuf, PacketBuf) = ([0; 172], [0; 172]);
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let end = tokio::time::Instant::from_std(answered + hold);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let n = src_c.next_packet(&mut pc);
                caller.send(&pc[..n]).await;
                let n = src_a.next_packet(&mut pa);
                agent.send(&pa[..n]).await;
            }
            _ = caller.recv(&sh.live) => {}
            _ = agent.recv(&sh.live) => {}
            _ = tokio::time::sleep_until(end) => break,
        }
    }
    sh.live.bridged.fetch_sub(1, Ordering::Relaxed);
    if let Via::Rtpengine { ng } = via {
        // Best effort: a failed delete leaves the call to rtpengine's own timeout.
        let _ = ng::request(
            ctl,
            ng,
            &format!("{call_id}-d"),
            vec![
                ("command", Value::str("delete")),
                ("call-id", Value::str(&call_id)),
                ("from-tag", Value::str("caller")),
            ],
        )
        .await;
    }
    let to_caller = caller.report(Some(answered), sampled, &sh.live);
    let to_agent = agent.report(Some(answered), sampled, &sh.live);
    let ok = to_caller.sampled_ok != Some(false) && to_agent.sampled_ok != Some(false);
    let mut acct = sh.acct.lock().expect("acct lock");
    acct.to_caller.add_stream(&to_caller);
    acct.to_agent.add_stream(&to_agent);
    Ok(ok)
}

fn report(
    a: &MediaArgs,
    sh: &Shared,
    start: &crate::Sample,
    end: &crate::Sample,
    peak_rss: u64,
) -> bool {
    let acct = sh.acct.lock().expect("acct lock");
    let live = &sh.live;
    let wall = end.at.duration_since(start.at).as_secs_f64().max(1e-3);
    let failed = acct.failed();
    let sent = live.rtp_sent.load(Ordering::Relaxed);
    let recv = live.rtp_received.load(Ordering::Relaxed);
    let own = (end.own - start.own).as_secs_f64();
    let peak_active = live.peak_active.load(Ordering::Relaxed);
    println!("== switchboard-load media report ({:?}) ==", a.via);
    println!(
        "calls: {} completed, {failed} failed; peak {peak_active} up at once",
        acct.completed
    );
    for (cause, n) in &acct.failures {
        println!("  failed: {cause} {n}");
    }
    for (name, d) in [("to caller", &acct.to_caller), ("to agent", &acct.to_agent)] {
        println!(
            "media {name}: {} received of {} expected, loss {:.3}%; jitter ms {}; audio check {} of {} sampled failed (worst tone gap {:.0} ms)",
            d.received, d.expected, d.loss_pct(), summary(&d.jitter_ms), d.sampled_failed, d.sampled, d.worst_gap_ms
        );
    }
    println!(
        "load tool: {own:.2} s CPU ({:.0}% of one core); RTP sent {sent}, received {recv}",
        100.0 * own / wall
    );
    let mut json = serde_json::json!({
        "via": format!("{:?}", a.via), "completed": acct.completed, "failed": failed,
        "peak_active": peak_active, "wall_s": wall, "load_cpu_s": own,
        "rtp_sent": sent, "rtp_received": recv,
        "loss_to_caller_pct": acct.to_caller.loss_pct(), "loss_to_agent_pct": acct.to_agent.loss_pct(),
        "sampled_failed": acct.to_caller.sampled_failed + acct.to_agent.sampled_failed,
        "loadavg": load_average(),
    });
    if let (Some(c1), Some(c0)) = (end.cpu, start.cpu) {
        let cpu = (c1 - c0).as_secs_f64();
        let base = start.rss.map(|r| r.0).unwrap_or(0);
        let rss = end.rss.map(|r| r.1).unwrap_or(0).max(peak_rss);
        let per_call = rss.saturating_sub(base) as f64 / peak_active.max(1) as f64;
        println!(
            "relay: {cpu:.2} s CPU ({:.0}% of one core), {:.2} us per packet delivered; RSS {} -> peak {} MiB, {per_call:.0} KiB per call",
            100.0 * cpu / wall,
            1e6 * cpu / recv.max(1) as f64,
            base / 1024,
            rss / 1024
        );
        json["relay_cpu_s"] = serde_json::json!(cpu);
        json["relay_us_per_packet_delivered"] = serde_json::json!(1e6 * cpu / recv.max(1) as f64);
        json["relay_kib_per_call"] = serde_json::json!(per_call);
    }
    println!("RESULT {json}");
    failed > 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::leg::CallPlan;

    /// Two sockets on consecutive loopback ports (the minimal relay's layout for call 0).
    async fn consecutive_pair() -> (UdpSocket, UdpSocket, u16) {
        for _ in 0..200 {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let p = a.local_addr().unwrap().port();
            if p == u16::MAX {
                continue;
            }
            if let Ok(b) = UdpSocket::bind(("127.0.0.1", p + 1)).await {
                return (a, b, p);
            }
        }
        panic!("no two consecutive free ports");
    }

    #[tokio::test]
    async fn a_call_through_the_minimal_relay_passes_the_audio_check_both_ways() {
        let (a, b, first_port) = consecutive_pair().await;
        let counters = Arc::new(crate::relay::RelayCounters::default());
        let relay = tokio::spawn(crate::relay::relay_pair(a, b, counters.clone()));
        let sh = Shared::new(CallPlan {
            number: String::new(),
            to_agent: true,
            digits: String::new(),
            digit_delay: Duration::ZERO,
            hold: Duration::from_secs(1),
            max_wait: Duration::ZERO,
            answer_delay: Duration::ZERO,
            sample_every: 1,
            caller_codec: Codec::Pcmu,
            agent_codec: Codec::Pcmu,
            direct_agents: None,
        });
        let ctl = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let via = Via::Minimal { first_port };
        let ok = talk(0, via, &ctl, &sh, Duration::from_secs(1), true)
            .await
            .unwrap();
        relay.abort();
        assert!(ok, "the tone check failed");
        let acct = sh.acct.lock().unwrap();
        for d in [&acct.to_caller, &acct.to_agent] {
            assert_eq!(d.sampled, 1);
            assert_eq!(d.sampled_failed, 0);
            assert!(d.received > 10, "received {}", d.received);
        }
        // Every packet the tool received went through the relay.
        assert!(
            counters.forwarded.load(Ordering::Relaxed)
                >= acct.to_caller.received + acct.to_agent.received
        );
    }

    #[test]
    fn via_parses_both_relays_and_refuses_the_rest() {
        assert!(matches!(
            "minimal:30000".parse::<Via>(),
            Ok(Via::Minimal { first_port: 30000 })
        ));
        assert!(matches!(
            "rtpengine:127.0.0.1:2223".parse::<Via>(),
            Ok(Via::Rtpengine { .. })
        ));
        assert!("rtpengine:10.0.0.1:2223".parse::<Via>().is_err());
        assert!("minimal:x".parse::<Via>().is_err());
        assert!("sbc:1".parse::<Via>().is_err());
    }
}
