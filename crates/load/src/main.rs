//! `switchboard-load`: a load generator that plays both sides of a contact center against a
//! running switchboard over loopback. Agents register with a digest answer and take offered
//! calls after a delay; callers arrive at a fixed or Poisson rate on the trusted trunk, walk
//! the IVR with RFC 4733 digits, wait in the queue, talk with G.711 (PCMU) tones both ways
//! and hang up. It checks the other side's tone on a sample of calls and reports rates,
//! failures by cause, latencies, loss and jitter, and the CPU of the server and of itself.
//! Two more subcommands measure the floor under switchboard's media cost: `relay` is a
//! minimal loopback relay (two sockets per call, recv -> send) and `media` plays the same
//! calls' media without SIP through it or through rtpengine (set up over rtpengine's ng
//! protocol), reporting the relay's CPU per packet (benches/relay_baseline.sh).
//! It is not a general SIP test tool: its SIP is the minimum a phone needs (UDP only, no
//! authentication on INVITE, no re-INVITE of its own), and it refuses non-loopback targets.

mod agent;
mod audio;
mod caller;
mod digest;
mod endpoint;
mod lag;
mod leg;
mod media_run;
mod ng;
mod procfs;
mod relay;
mod relay_worker;
mod scrape;
mod server_config;
mod stats;
mod steady;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use rand_distr::{Distribution, Exp};

use switchboard_media::Codec;

use crate::endpoint::Endpoint;
use crate::leg::{CallPlan, Shared};
use crate::server_config::{agent_password, ServerConfig};
use crate::stats::summary;

/// Hard caps, whatever the flags say.
const MAX_CALLS: u64 = 1_000_000;
const MAX_DURATION_S: u64 = 3000;
const MAX_AGENTS: u32 = 5000;
const MAX_CONCURRENT: u64 = 12_000;

#[derive(Parser)]
#[command(
    name = "switchboard-load",
    about = "Contact-center load generator for switchboard (loopback only)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print a switchboard config (agents as users, queue `load`) for `switchboard run --config`.
    Config {
        #[arg(long, default_value_t = 10)]
        agents: u32,
        #[arg(long, default_value_t = 1001)]
        first_agent: u32,
        /// Record bridged calls (queue `record = true`).
        #[arg(long)]
        record: bool,
        /// Agent wrap-up after each call, seconds.
        #[arg(long, default_value_t = 0)]
        wrap_up: u32,
        /// Seconds between queue announcements; 0 turns them off.
        #[arg(long, default_value_t = 0)]
        announce_period: u32,
        /// Directory of the load dialplans, as the server will see it.
        #[arg(long, default_value = "crates/load/dialplans")]
        dialplans: String,
        #[arg(long, default_value_t = 20000)]
        rtp_port_min: u16,
        #[arg(long, default_value_t = 39999)]
        rtp_port_max: u16,
        /// The server's `[limits] max_calls` (calls up at once).
        #[arg(long, default_value_t = 6000)]
        max_calls: u32,
        /// The server's `[limits] calls_per_second` (new calls per second).
        #[arg(long, default_value_t = 5000)]
        calls_per_second: u32,
    },
    /// Run a load against a switchboard.
    Run(RunArgs),
    /// The minimal loopback relay baseline: `--calls` socket pairs from `--first-port`,
    /// latching, recv -> send, for `--duration` seconds at most.
    Relay {
        #[arg(long, default_value_t = 100)]
        calls: u32,
        #[arg(long, default_value_t = 40000)]
        first_port: u16,
        #[arg(long, default_value_t = 600)]
        duration: u64,
        /// Worker threads of the relay's runtime (`task`) or relay threads (`worker`).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// `task`: one tokio task per call (the baseline); `worker`: `--threads` threads
        /// each draining a share of the calls' sockets from one epoll set (decision 0050).
        #[arg(long, value_enum, default_value_t = RelayShape::Task)]
        shape: RelayShape,
    },
    /// The same calls' media without SIP through a baseline relay (`minimal:FIRST_PORT`
    /// for `switchboard-load relay`, `rtpengine:IP:PORT` for rtpengine's ng socket).
    Media {
        #[arg(long)]
        via: media_run::Via,
        /// The relay's process id, to read its CPU time and RSS from /proc.
        #[arg(long)]
        relay_pid: Option<u32>,
        #[arg(long, default_value_t = 100)]
        calls: u32,
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Talk time, seconds.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
        #[arg(long, default_value_t = 10)]
        sample_every: u64,
        #[arg(long, default_value_t = 5)]
        progress: u64,
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Scenario {
    /// Callers walk the IVR into queue `load` and talk to an agent.
    Queue,
    /// Callers walk the IVR and listen to prompts; no agents.
    Ivr,
    /// Callers dial an agent's own number (caller k: agent first_agent + k % agents), no
    /// digits, no queue: the same bridged call through any B2BUA, so switchboard
    /// (crates/load/dialplans/load.ivr: `transfer agent dialled`) can be set side by side
    /// with another PBX relaying media.
    Direct,
}

/// A codec a simulated phone offers, sends and checks.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum CodecArg {
    /// G.711 µ-law (payload type 0).
    Pcmu,
    /// G.711 A-law (payload type 8).
    Pcma,
    /// G.722 at 64 kbit/s (payload type 9; 16 kHz audio on an 8000 Hz RTP clock).
    G722,
}

impl CodecArg {
    fn codec(self) -> Codec {
        match self {
            CodecArg::Pcmu => Codec::Pcmu,
            CodecArg::Pcma => Codec::Pcma,
            CodecArg::G722 => Codec::G722,
        }
    }
}

/// How `switchboard-load relay` is built.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum RelayShape {
    /// One tokio task per call (`relay.rs`).
    Task,
    /// Relay threads each draining many calls' sockets (`relay_worker.rs`).
    Worker,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
enum Arrivals {
    Fixed,
    Poisson,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The server's SIP address (UDP); must be loopback.
    #[arg(long)]
    server: SocketAddr,
    /// The server's process id, to read its CPU time and RSS from /proc.
    #[arg(long)]
    server_pid: Option<u32>,
    /// The server's HTTP address (loopback): its announcement lateness and answer-to-audio
    /// histograms are read from /metrics before and after the run.
    #[arg(long)]
    http: Option<SocketAddr>,
    #[arg(long, value_enum, default_value_t = Scenario::Queue)]
    scenario: Scenario,
    /// Number to dial (default: 500 for queue, 501 for ivr, as in crates/load/dialplans).
    #[arg(long)]
    number: Option<String>,
    /// Digits sent with RFC 4733 after the IVR answers.
    #[arg(long, default_value = "1")]
    digits: String,
    #[arg(long, default_value_t = 300)]
    digit_delay_ms: u64,
    /// Agents to register (users first_agent..); 0 in the ivr scenario.
    #[arg(long, default_value_t = 10)]
    agents: u32,
    #[arg(long, default_value_t = 1001)]
    first_agent: u32,
    /// Agents answer an offer after this long.
    #[arg(long, default_value_t = 200)]
    answer_delay_ms: u64,
    /// New calls per second.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    #[arg(long, value_enum, default_value_t = Arrivals::Fixed)]
    arrivals: Arrivals,
    /// Calls to place at most.
    #[arg(long, default_value_t = 100)]
    calls: u64,
    /// Stop placing calls after this many seconds.
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Talk time, seconds (after the agent answers; in the ivr scenario after the digits).
    #[arg(long, default_value_t = 5.0)]
    hold: f64,
    /// A caller gives up waiting for an agent after this many seconds.
    #[arg(long, default_value_t = 60)]
    max_wait: u64,
    /// Full audio check on every n-th call (0: none).
    #[arg(long, default_value_t = 10)]
    sample_every: u64,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 5)]
    progress: u64,
    /// Calls up at once at most; arrivals wait while it is reached.
    #[arg(long, default_value_t = 3000)]
    max_concurrent: u64,
    /// Worker threads of the tool's runtime.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The only codec callers offer, send and check (the server transcodes to the agents').
    #[arg(long, value_enum, default_value_t = CodecArg::Pcmu)]
    caller_codec: CodecArg,
    /// The codec agents answer with (an offer without it gets 488).
    #[arg(long, value_enum, default_value_t = CodecArg::Pcmu)]
    agent_codec: CodecArg,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Config {
            agents,
            first_agent,
            record,
            wrap_up,
            announce_period,
            dialplans,
            rtp_port_min,
            rtp_port_max,
            max_calls,
            calls_per_second,
        } => {
            if agents > MAX_AGENTS {
                bail!("--agents {agents} is over the cap of {MAX_AGENTS}");
            }
            print!(
                "{}",
                ServerConfig {
                    agents,
                    first_agent,
                    record,
                    wrap_up,
                    announce_period,
                    dialplans,
                    rtp_port_min,
                    rtp_port_max,
                    max_calls,
                    calls_per_second,
                }
                .to_toml()
            );
            Ok(())
        }
        Cmd::Relay {
            calls,
            first_port,
            duration,
            threads,
            shape,
        } => {
            if u64::from(calls) > MAX_CONCURRENT {
                bail!("--calls {calls} is over the cap of {MAX_CONCURRENT}");
            }
            procfs::raise_nofile();
            let duration = Duration::from_secs(duration.min(MAX_DURATION_S));
            if shape == RelayShape::Worker {
                return relay_worker::run(calls, first_port, threads.clamp(1, 16), duration);
            }
            let rt = runtime(threads)?;
            rt.block_on(relay::run(calls, first_port, duration))
        }
        Cmd::Media {
            via,
            relay_pid,
            calls,
            rate,
            hold,
            sample_every,
            progress,
            threads,
        } => {
            if u64::from(calls) > MAX_CONCURRENT {
                bail!("--calls {calls} is over the cap of {MAX_CONCURRENT}");
            }
            if !(rate > 0.0 && rate <= 10_000.0 && (0.0..=3600.0).contains(&hold)) {
                bail!("--rate must be in (0, 10000] and --hold in [0, 3600]");
            }
            let sh = Arc::new(Shared::new(CallPlan {
                number: String::new(),
                to_agent: true,
                digits: String::new(),
                digit_delay: Duration::ZERO,
                hold: Duration::from_secs_f64(hold),
                max_wait: Duration::ZERO,
                answer_delay: Duration::ZERO,
                sample_every,
                // The relays forward, they do not transcode: both sides PCMU.
                caller_codec: Codec::Pcmu,
                agent_codec: Codec::Pcmu,
                direct_agents: None,
            }));
            let args = media_run::MediaArgs {
                via,
                relay_pid,
                calls,
                rate,
                hold: Duration::from_secs_f64(hold),
                sample_every,
                progress: Duration::from_secs(progress),
            };
            let rt = runtime(threads)?;
            let failed = rt.block_on(media_run::run(args, sh))?;
            rt.shutdown_timeout(Duration::from_secs(1));
            std::process::exit(if failed { 1 } else { 0 });
        }
        Cmd::Run(args) => {
            check_bounds(&args)?;
            let rt = runtime(args.threads)?;
            let failed = rt.block_on(run(args))?;
            rt.shutdown_timeout(Duration::from_secs(1));
            std::process::exit(if failed { 1 } else { 0 });
        }
    }
}

fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.clamp(1, 16))
        .enable_all()
        .build()
}

fn check_bounds(a: &RunArgs) -> anyhow::Result<()> {
    if !a.server.ip().is_loopback() {
        bail!(
            "--server {} is not a loopback address: switchboard-load only runs over loopback",
            a.server
        );
    }
    if a.calls > MAX_CALLS {
        bail!("--calls {} is over the cap of {MAX_CALLS}", a.calls);
    }
    if a.duration > MAX_DURATION_S {
        bail!(
            "--duration {} is over the cap of {MAX_DURATION_S} s",
            a.duration
        );
    }
    if a.agents > MAX_AGENTS {
        bail!("--agents {} is over the cap of {MAX_AGENTS}", a.agents);
    }
    if a.max_concurrent > MAX_CONCURRENT {
        bail!(
            "--max-concurrent {} is over the cap of {MAX_CONCURRENT}",
            a.max_concurrent
        );
    }
    if !(a.rate > 0.0 && a.rate <= 10_000.0) {
        bail!("--rate must be in (0, 10000]");
    }
    if !(a.hold >= 0.0 && a.hold <= 3600.0) {
        bail!("--hold must be in [0, 3600] seconds");
    }
    if a.scenario != Scenario::Ivr && a.agents == 0 {
        bail!("the {:?} scenario needs --agents > 0", a.scenario);
    }
    Ok(())
}

struct Sample {
    cpu: Option<Duration>,
    rss: Option<(u64, u64)>,
    own: Duration,
    at: Instant,
}

fn sample(pid: Option<u32>) -> Sample {
    Sample {
        cpu: pid.and_then(procfs::process_cpu),
        rss: pid.and_then(procfs::process_rss_kib),
        own: procfs::own_cpu(),
        at: Instant::now(),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs the load; returns whether any call failed.
async fn run(a: RunArgs) -> anyhow::Result<bool> {
    let nofile = procfs::raise_nofile();
    let to_agent = a.scenario != Scenario::Ivr;
    let direct = a.scenario == Scenario::Direct;
    let plan = CallPlan {
        number: a
            .number
            .clone()
            .unwrap_or_else(|| if to_agent { "500" } else { "501" }.to_string()),
        to_agent,
        digits: if direct {
            String::new()
        } else {
            a.digits.clone()
        },
        digit_delay: Duration::from_millis(a.digit_delay_ms),
        hold: Duration::from_secs_f64(a.hold),
        max_wait: Duration::from_secs(a.max_wait),
        answer_delay: Duration::from_millis(a.answer_delay_ms),
        sample_every: a.sample_every,
        caller_codec: a.caller_codec.codec(),
        agent_codec: a.agent_codec.codec(),
        direct_agents: direct.then_some((a.first_agent, a.agents)),
    };
    let sh = Arc::new(Shared::new(plan.clone()));
    let callers = Endpoint::bind(a.server).await?;
    let agents = Endpoint::bind(a.server).await?;
    {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(callers.clone().run(tx));
        let ep = callers.clone();
        // Out-of-dialog requests to the trunk side: 481 (ACKs are only counted).
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                ep.stray.fetch_add(1, Ordering::Relaxed);
                if let switchboard_sip_message::Message::Request(r) = m {
                    if r.method != switchboard_sip_message::Method::Ack {
                        ep.send(&endpoint::response(
                            &r,
                            switchboard_sip_message::StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST,
                            None,
                            None,
                            None,
                        ))
                        .await;
                    }
                }
            }
        });
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(agents.clone().run(tx));
        tokio::spawn(agent::dispatch(agents.clone(), sh.clone(), rx));
    }
    eprintln!(
        "switchboard-load: {:?} scenario against {}, {} calls at most at {}/s ({:?}), {} s at most, hold {} s, callers {:?} / agents {:?}, open files {nofile}",
        a.scenario, a.server, a.calls, a.rate, a.arrivals, a.duration, a.hold, a.caller_codec, a.agent_codec
    );

    // Agents register first (at most 50 REGISTER transactions at once).
    let n_agents = if to_agent { a.agents } else { 0 };
    if n_agents > 0 {
        let sem = Arc::new(tokio::sync::Semaphore::new(50));
        let mut set = tokio::task::JoinSet::new();
        let expires = (a.duration + 600).clamp(600, 3600) as u32;
        for i in 0..n_agents {
            let user = (a.first_agent + i).to_string();
            let (ep, sem) = (agents.clone(), sem.clone());
            set.spawn(async move {
                let _permit = sem.acquire().await;
                let pw = agent_password(&user);
                agent::register(&ep, &user, &pw, expires)
                    .await
                    .map_err(|e| (user, e))
            });
        }
        let mut failed = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(Err(e)) = r {
                failed.push(e);
            }
        }
        if !failed.is_empty() {
            bail!(
                "{} of {n_agents} agents failed to register, e.g. {:?} (is the server running with `switchboard-load config --agents {}`?)",
                failed.len(),
                failed.first(),
                n_agents
            );
        }
        eprintln!("switchboard-load: {n_agents} agents registered");
    }

    let scrape = |addr| {
        scrape::histograms(
            addr,
            [
                scrape::LATENESS,
                scrape::ANSWER_TO_AUDIO,
                scrape::SIP_ANSWER_TO_AUDIO,
                scrape::SIP_INBOUND_WAIT,
                scrape::RUNTIME_LATENESS,
            ],
        )
    };
    let histograms_before = a.http.and_then(scrape);
    let start = sample(a.server_pid);
    let t0 = Instant::now();
    let (lag, lag_task) = lag::spawn(t0);
    let stop_placing = t0 + Duration::from_secs(a.duration);
    let placer = {
        let (ep, sh) = (callers.clone(), sh.clone());
        let (rate, arrivals, calls, max_conc) = (a.rate, a.arrivals, a.calls, a.max_concurrent);
        tokio::spawn(async move {
            let exp = Exp::new(rate).expect("rate > 0");
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::from_entropy();
            let mut next = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for idx in 0..calls {
                if Instant::now() >= stop_placing {
                    break;
                }
                tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
                while sh.live.active.load(Ordering::Relaxed) >= max_conc {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                set.spawn(caller::run(idx, ep.clone(), sh.clone()));
                let gap = match arrivals {
                    Arrivals::Fixed => 1.0 / rate,
                    Arrivals::Poisson => exp.sample(&mut rng),
                };
                next += Duration::from_secs_f64(gap);
                while set.try_join_next().is_some() {}
            }
            (set, t0.elapsed())
        })
    };

    // Progress while calls are placed and until they finish, bounded overall.
    let hard_end =
        stop_placing + plan.max_wait + plan.hold + plan.digit_delay + Duration::from_secs(90);
    let mut ticker = tokio::time::interval(Duration::from_secs(a.progress.max(1)));
    ticker.tick().await;
    let mut last = sample(a.server_pid);
    let mut last_snap = steady::Snapshot::read(&sh.live, last.cpu);
    let mut steady = steady::Steady::default();
    let mut set = None;
    let mut placing = Duration::ZERO;
    let mut placer = Some(placer);
    let mut peak_rss_kib = start.rss.map(|r| r.0).unwrap_or(0);
    loop {
        tokio::select! {
            r = async { placer.as_mut().expect("placer").await }, if placer.is_some() => {
                placer = None;
                let (s, took) = r.context("the call placer panicked")?;
                set = Some(s);
                placing = took;
            }
            _ = ticker.tick() => {
                let s = sample(a.server_pid);
                let live = &sh.live;
                let dt = s.at.duration_since(last.at).as_secs_f64().max(1e-3);
                let srv = match (s.cpu, last.cpu) {
                    (Some(c1), Some(c0)) => format!("server {:.0}% cpu", 100.0 * (c1 - c0).as_secs_f64() / dt),
                    _ => "server cpu ?".into(),
                };
                if let Some((rss, _)) = s.rss { peak_rss_kib = peak_rss_kib.max(rss); }
                eprintln!(
                    "[{:>5.0}s] placed {} active {} bridged {} done {} failed {} | {srv}, rss {} MiB | load {:.0}% cpu | loadavg {}",
                    t0.elapsed().as_secs_f64(),
                    live.started.load(Ordering::Relaxed),
                    live.active.load(Ordering::Relaxed),
                    live.bridged.load(Ordering::Relaxed),
                    live.finished.load(Ordering::Relaxed),
                    live.failed.load(Ordering::Relaxed),
                    s.rss.map(|r| r.0 / 1024).unwrap_or(0),
                    100.0 * (s.own - last.own).as_secs_f64() / dt,
                    load_average(),
                );
                let snap = steady::Snapshot::read(&sh.live, s.cpu);
                steady.add(&last_snap, &snap);
                last_snap = snap;
                last = s;
            }
        }
        if placer.is_none() && sh.live.active.load(Ordering::Relaxed) == 0 {
            break;
        }
        if Instant::now() >= hard_end {
            break;
        }
    }
    let placed = sh.live.started.load(Ordering::Relaxed);
    let end = sample(a.server_pid);
    let unfinished = sh.live.active.load(Ordering::Relaxed);
    if let Some(mut set) = set {
        set.abort_all();
    }
    let histograms = match (histograms_before, a.http.and_then(scrape)) {
        (Some(b), Some(e)) => [0, 1, 2, 3, 4].map(|i| match (&b[i], &e[i]) {
            (Some(b), Some(e)) => Some(e.since(b)),
            _ => None,
        }),
        _ => [None, None, None, None, None],
    };
    lag_task.abort();
    let lag_seen = std::mem::take(&mut *lag.lock().expect("lag lock"));
    Ok(report(
        &a,
        &sh,
        &start,
        &end,
        t0,
        unfinished,
        placed,
        placing,
        peak_rss_kib,
        &steady,
        &callers,
        &agents,
        histograms.each_ref().map(Option::as_ref),
        &lag_seen,
    ))
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &RunArgs,
    sh: &Shared,
    start: &Sample,
    end: &Sample,
    t0: Instant,
    unfinished: u64,
    placed: u64,
    placing: Duration,
    peak_rss_sampled: u64,
    steady: &steady::Steady,
    callers: &Endpoint,
    agents: &Endpoint,
    [lateness, answer_to_audio, sip_answer_to_audio, sip_inbound_wait, runtime_lateness]: [Option<&scrape::Histogram>;
        5],
    lag: &lag::Lag,
) -> bool {
    let mut acct = sh.acct.lock().expect("acct lock");
    if unfinished > 0 {
        *acct
            .failures
            .entry("unfinished_at_deadline".into())
            .or_default() += unfinished;
    }
    let wall = end.at.duration_since(start.at).as_secs_f64().max(1e-3);
    let live = &sh.live;
    let completed = acct.completed;
    let failed = acct.failed();
    let rtp_sent = live.rtp_sent.load(Ordering::Relaxed);
    let rtp_recv = live.rtp_received.load(Ordering::Relaxed);
    let own_cpu = (end.own - start.own).as_secs_f64();
    let server_cpu = match (end.cpu, start.cpu) {
        (Some(e), Some(s)) => Some((e - s).as_secs_f64()),
        _ => None,
    };
    let peak_active = live.peak_active.load(Ordering::Relaxed);
    let peak_bridged = live.peak_bridged.load(Ordering::Relaxed);
    let first_placed_to_last = t0.elapsed().as_secs_f64();
    // Calls placed per second: n calls span n - 1 intervals.
    let cps = if placed > 1 {
        (placed - 1) as f64 / placing.as_secs_f64().max(1e-3)
    } else {
        0.0
    };
    println!("== switchboard-load report ==");
    println!(
        "calls: placed {placed}, completed {completed}, failed {failed}; {:.1} calls/s placed over {:.1} s (asked {}/s), run {:.1} s",
        cps,
        placing.as_secs_f64(),
        a.rate,
        first_placed_to_last,
    );
    for (cause, n) in &acct.failures {
        println!("  failed: {cause} {n}");
    }
    for (what, n) in &acct.agent_events {
        println!("  agent side: {what} {n}");
    }
    println!("concurrent: peak {peak_active} calls up, peak {peak_bridged} bridged to agents");
    println!(
        "post-dial delay (INVITE -> 200) ms: {}",
        summary(&acct.post_dial_delay_ms)
    );
    if a.scenario == Scenario::Queue {
        println!(
            "queue wait (IVR answer -> agent answer) ms: {}",
            summary(&acct.queue_wait_ms)
        );
        println!(
            "answer-to-audio ms, agent tone at caller: {}",
            summary(&acct.to_caller.answer_to_audio_ms)
        );
        println!(
            "answer-to-audio ms, caller tone at agent: {}",
            summary(&acct.to_agent.answer_to_audio_ms)
        );
    }
    for (name, d) in [("to caller", &acct.to_caller), ("to agent", &acct.to_agent)] {
        if d.expected == 0 {
            continue;
        }
        println!(
            "media {name}: {} received of {} expected, loss {:.3}% ({} sequence gaps, largest {} packets; {} streams restarted their sequence, {} stray packets); jitter ms {}; longest arrival gap ms {}; audio check {} of {} sampled failed (worst tone gap {:.0} ms)",
            d.received,
            d.expected,
            d.loss_pct(),
            d.seq_gaps,
            d.max_seq_gap,
            d.restarted_streams,
            d.discarded,
            summary(&d.jitter_ms),
            summary(&d.max_interarrival_ms),
            d.sampled_failed,
            d.sampled,
            d.worst_gap_ms
        );
        if !d.gap_ends.is_empty() {
            let busiest: Vec<String> = stats::busiest_seconds(&d.gap_ends, t0, 3)
                .iter()
                .map(|(s, n)| format!("{s} s ({n})"))
                .collect();
            println!(
                "  longest arrival gap {name}: ms into the stream {}; the run seconds most of them ended in: {}",
                summary(&d.gap_into_stream_ms),
                busiest.join(", ")
            );
        }
    }
    println!(
        "load tool: {own_cpu:.2} s CPU ({:.0}% of one core); RTP sent {rtp_sent}, received {rtp_recv}; bad RTP {}, RTP in an unnegotiated payload type {}, RTP from a foreign address {}, unparsable SIP {}, stray SIP {}",
        100.0 * own_cpu / wall,
        live.rtp_bad.load(Ordering::Relaxed),
        live.rtp_wrong_codec.load(Ordering::Relaxed),
        live.rtp_foreign.load(Ordering::Relaxed),
        callers.unparsable.load(Ordering::Relaxed) + agents.unparsable.load(Ordering::Relaxed),
        callers.stray.load(Ordering::Relaxed) + agents.stray.load(Ordering::Relaxed),
    );
    println!("load tool's own runtime: a 10 ms timer {}", lag.summary());
    // The worse direction's p99 (ms), for scripts that set runs side by side.
    let answer_to_audio_p99 = [&acct.to_caller, &acct.to_agent]
        .iter()
        .filter_map(|d| stats::percentile(&mut d.answer_to_audio_ms.clone(), 99.0))
        .reduce(f64::max);
    let mut json = serde_json::json!({
        "placed": placed, "completed": completed, "failed": failed,
        "failures": acct.failures, "agent_events": acct.agent_events,
        "peak_active": peak_active, "peak_bridged": peak_bridged,
        "wall_s": wall, "cps": cps, "load_cpu_s": own_cpu,
        "load_timer_worst_late_ms": lag.worst().as_secs_f64() * 1000.0,
        "rtp_sent": rtp_sent, "rtp_received": rtp_recv,
        "loss_to_caller_pct": acct.to_caller.loss_pct(), "loss_to_agent_pct": acct.to_agent.loss_pct(),
        "restarted_to_caller": acct.to_caller.restarted_streams, "restarted_to_agent": acct.to_agent.restarted_streams,
        "sampled_to_caller": acct.to_caller.sampled, "sampled_to_caller_failed": acct.to_caller.sampled_failed,
        "sampled_to_agent": acct.to_agent.sampled, "sampled_to_agent_failed": acct.to_agent.sampled_failed,
        "loadavg": load_average(),
        "caller_codec": format!("{:?}", a.caller_codec), "agent_codec": format!("{:?}", a.agent_codec),
        "rtp_wrong_codec": live.rtp_wrong_codec.load(Ordering::Relaxed),
        "answer_to_audio_p99_ms": answer_to_audio_p99,
    });
    if let Some(cpu) = server_cpu {
        let rss = end.rss.map(|r| r.1).unwrap_or(0).max(peak_rss_sampled);
        let base = start.rss.map(|r| r.0).unwrap_or(0);
        let per_call_kib = if peak_active > 0 {
            rss.saturating_sub(base) as f64 / peak_active as f64
        } else {
            0.0
        };
        let pkts = (rtp_sent + rtp_recv).max(1);
        println!(
            "server: {cpu:.2} s CPU ({:.0}% of one core) = {:.3} ms per call, {:.2} us per RTP packet in or out ({:.2} us per packet delivered to us); RSS {} -> peak {} MiB, {:.0} KiB per peak concurrent call",
            100.0 * cpu / wall,
            1000.0 * cpu / (completed + failed).max(1) as f64,
            1e6 * cpu / pkts as f64,
            1e6 * cpu / rtp_recv.max(1) as f64,
            base / 1024,
            rss / 1024,
            per_call_kib
        );
        println!("server CPU / load tool CPU: {:.2}", cpu / own_cpu.max(1e-6));
        if let Some(us) = steady.us_per_packet() {
            println!(
                "server in the steady bridged state (every call up bridged, none starting or ending; {} progress intervals, {} packets delivered): {us:.2} us per packet delivered",
                steady.intervals, steady.packets
            );
            json["server_us_per_packet_steady"] = serde_json::json!(us);
        }
        json["server_cpu_s"] = serde_json::json!(cpu);
        json["server_ms_per_call"] =
            serde_json::json!(1000.0 * cpu / (completed + failed).max(1) as f64);
        json["server_us_per_packet"] = serde_json::json!(1e6 * cpu / pkts as f64);
        json["server_us_per_packet_delivered"] =
            serde_json::json!(1e6 * cpu / rtp_recv.max(1) as f64);
        json["server_peak_rss_kib"] = serde_json::json!(rss);
        json["server_kib_per_call"] = serde_json::json!(per_call_kib);
    }
    if let Some(h) = lateness {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{:.0}", s * 1000.0));
        println!(
            "announcement lateness (server histogram): {} announcements, mean {} ms, p50 <= {} ms, p99 <= {} ms, over 200 ms: {}",
            h.count,
            ms(h.mean()),
            ms(h.quantile_bound(0.5)),
            ms(h.quantile_bound(0.99)),
            h.over(0.2).map_or("-".into(), |n| n.to_string()),
        );
        json["announcements"] = serde_json::json!(h.count);
        json["announcement_lateness_mean_s"] = serde_json::json!(h.mean());
        json["announcement_lateness_p99_bound_s"] = serde_json::json!(h.quantile_bound(0.99));
        json["announcements_over_200ms"] = serde_json::json!(h.over(0.2));
    }
    if let Some(h) = answer_to_audio.filter(|h| h.count > 0) {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{:.0}", s * 1000.0));
        println!(
            "answer-to-audio inside the server (its histogram: answer taken up by the call to the first packet across): {} calls, mean {} ms, p50 <= {} ms, p99 <= {} ms",
            h.count,
            ms(h.mean()),
            ms(h.quantile_bound(0.5)),
            ms(h.quantile_bound(0.99)),
        );
        json["server_answer_to_audio_calls"] = serde_json::json!(h.count);
        json["server_answer_to_audio_mean_s"] = serde_json::json!(h.mean());
        json["server_answer_to_audio_p99_bound_s"] = serde_json::json!(h.quantile_bound(0.99));
    }
    if let Some(h) = sip_answer_to_audio.filter(|h| h.count > 0) {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{:.1}", s * 1000.0));
        println!(
            "answer-to-audio inside the server from the SIP socket (its histogram: the agent's 200 received to the first packet across): {} calls, mean {} ms, p50 <= {} ms, p99 <= {} ms",
            h.count,
            ms(h.mean()),
            ms(h.quantile_bound(0.5)),
            ms(h.quantile_bound(0.99)),
        );
        json["server_sip_answer_to_audio_calls"] = serde_json::json!(h.count);
        json["server_sip_answer_to_audio_mean_s"] = serde_json::json!(h.mean());
        json["server_sip_answer_to_audio_p99_bound_s"] = serde_json::json!(h.quantile_bound(0.99));
    }
    if let Some(h) = sip_inbound_wait.filter(|h| h.count > 0) {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{:.1}", s * 1000.0));
        println!(
            "SIP inbound wait (server histogram: received to taken up by the SIP driver): {} messages, mean {} ms, p50 <= {} ms, p99 <= {} ms, over 100 ms: {}",
            h.count,
            ms(h.mean()),
            ms(h.quantile_bound(0.5)),
            ms(h.quantile_bound(0.99)),
            h.over(0.1).map_or("-".into(), |n| n.to_string()),
        );
        json["server_sip_inbound_messages"] = serde_json::json!(h.count);
        json["server_sip_inbound_wait_mean_s"] = serde_json::json!(h.mean());
        json["server_sip_inbound_wait_p99_bound_s"] = serde_json::json!(h.quantile_bound(0.99));
    }
    if let Some(h) = runtime_lateness.filter(|h| h.count > 0) {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |s| format!("{:.1}", s * 1000.0));
        let over = |b: f64| h.over(b).map_or("-".into(), |n| n.to_string());
        println!(
            "server's main runtime (its histogram: how late a 10 ms timer ran): {} periods, mean {} ms, p99 <= {} ms, over 100 ms: {}, over 200 ms: {}",
            h.count,
            ms(h.mean()),
            ms(h.quantile_bound(0.99)),
            over(0.1),
            over(0.2),
        );
        json["server_runtime_lateness_p99_bound_s"] = serde_json::json!(h.quantile_bound(0.99));
        json["server_runtime_late_over_200ms"] = serde_json::json!(h.over(0.2));
    }
    println!("RESULT {json}");
    failed > 0
}
