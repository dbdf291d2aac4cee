//! `switchboard run`: starts every task and waits for SIGINT/SIGTERM.
//!
//! Shape (after mini-redis): listeners and drivers are tasks. Shutdown is staged through a
//! watch channel the SIP driver follows: the first signal drains (new INVITEs get 503 with
//! Retry-After, live calls continue), and the drain timeout or a second signal ends the live
//! calls. The process exits after the driver, every call task and the admin API are done.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchboard_events::Event;
use switchboard_sip_message::Limits;
use switchboard_transport::{SipTransport, TransportConfig};
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::event_log::{EventLog, NewEvent};
use crate::http_state::Shared;
use crate::sip_driver::ShutdownStage;
use crate::RunArgs;

pub(crate) fn main(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::load(args.config.as_deref())?;
    if !args.sip_listen.is_empty() {
        cfg.sip.listen = args.sip_listen.clone();
    }
    if let Some(h) = args.http_listen {
        cfg.http.listen = h;
    }
    if let Some(d) = &args.data_dir {
        cfg.data.dir = d.clone();
    }
    if let Some(c) = &args.ivr_test_clock {
        if crate::config::parse_test_clock(c).is_none() {
            anyhow::bail!(
                "--ivr-test-clock {c:?}: expected a time with an offset, e.g. 2026-01-05T12:00:00+03:00"
            );
        }
        cfg.ivr.test_clock = Some(c.clone());
    }
    refuse_public_demo_tokens(&cfg)?;
    if let Some(s) = &args.event_store {
        cfg.data.event_store = s.clone();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: never in files, pipes or journald.
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none(),
        )
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("switchboard")
        .build()?;
    // The event store opens outside the runtime: the PostgreSQL client blocks, and its
    // writer is a plain thread.
    crate::private_files::secure_data_dir(&cfg.data.dir)
        .with_context(|| format!("creating data dir {}", cfg.data.dir.display()))?;
    let metrics = Arc::new(crate::metrics::Metrics::default());
    crate::disk_watch::check(&cfg.data.dir, cfg.data.min_free_mb, &metrics);
    let store_at = crate::event_store::StoreLocation::parse(&cfg.data.event_store)?;
    let store = store_at.open(&cfg.data.dir)?;
    tracing::info!(store = %store.describe(), "event store open");
    let mut store = store;
    // Pending web callbacks and queue logouts come back from the log.
    let restored = crate::restart_state::RestartState::read(store.as_mut())?;
    // Campaign state comes back from the log too (docs/decisions/0024-campaign-state-in-the-event-log.md).
    let campaign_log = crate::campaign::logged_campaign_events(store.as_mut())
        .context("reading campaign state from the event store")?;
    let events = EventLog::start(store, metrics.clone())?;
    rt.block_on(serve(cfg, events, metrics, restored, campaign_log))?;
    Ok(ExitCode::SUCCESS)
}

/// The SIP TCP connection cap: `limits.tcp_connections`, lowered so `limits.fd_reserve`
/// descriptors (plus 64 for the process itself) stay free for RTP and recordings. Raises
/// the descriptor limit first.
fn tcp_connection_cap(cfg: &Config) -> usize {
    let l = &cfg.limits;
    let nofile = match crate::descriptors::set_open_files_limit(l.open_files) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not raise RLIMIT_NOFILE");
            return l.tcp_connections;
        }
    };
    let room = nofile.saturating_sub(l.fd_reserve + 64).max(1);
    let cap = l
        .tcp_connections
        .min(usize::try_from(room).unwrap_or(usize::MAX));
    tracing::info!(
        open_files = nofile,
        tcp_connections = cap,
        "descriptor budget"
    );
    cap
}

async fn serve(
    cfg: Config,
    events: EventLog,
    metrics: Arc<crate::metrics::Metrics>,
    restored: crate::restart_state::RestartState,
    campaign_log: Vec<crate::event_store::StoredEvent>,
) -> anyhow::Result<()> {
    repair_recordings(&cfg.data.dir.join("recordings"), &events);
    for dir in cfg.tenants.iter().filter_map(|t| t.recordings_dir.as_ref()) {
        repair_recordings(dir, &events);
    }
    let tcfg = TransportConfig {
        limits: Limits {
            max_message: cfg.sip.max_message_bytes,
            ..Limits::default()
        },
        tcp_idle_timeout: Duration::from_secs(cfg.sip.tcp_idle_timeout),
        max_tcp_connections: tcp_connection_cap(&cfg),
        max_tcp_per_source: cfg.limits.tcp_connections_per_source,
        tcp_message_timeout: Duration::from_secs(cfg.limits.tcp_message_timeout),
        tls: crate::sip_tls::listener(&cfg.sip)?,
        ..TransportConfig::default()
    };
    // The SIP sockets' tasks and the SIP driver run on a thread of their own (decision
    // 0052): bound there, so that thread's runtime drives them.
    let sip_thread = crate::sip_thread::SipThread::start().context("starting the SIP thread")?;
    let listen = cfg.sip.listen.clone();
    let (transport, inbound) = sip_thread
        .handle()
        .spawn(async move { SipTransport::bind(&listen, tcfg).await })
        .await
        .context("the SIP thread stopped while binding")?
        .map_err(sip_bind_error)?;
    crate::sip_tls::register_trunks(&transport, &cfg.trunk_specs)?;
    let http = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|e| http_bind_error(cfg.http.listen, e))?;
    let http_addr = http.local_addr()?;
    let mut driver = crate::sip_driver::SipDriver::new(&cfg, transport.clone(), events.clone());
    driver.set_metrics(metrics.clone());
    let sip = driver.handle();
    let cfg = Arc::new(cfg);
    let (presence, new_calls, board, acd_commands, call_ctx) = crate::call_path::start(
        cfg.clone(),
        sip.clone(),
        events.clone(),
        metrics.clone(),
        restored,
    )
    .await?;
    let campaigns = crate::campaign::start(call_ctx.clone(), campaign_log, board.clone())?;
    driver.set_presence(presence);
    driver.set_call_router(new_calls);
    // Registrations saved before a restart log their agents back in if not yet expired.
    let reg_path = crate::registration_store::path_in(&cfg.data.dir);
    match crate::registration_store::load(&reg_path) {
        Ok(saved) if !saved.is_empty() => {
            let n = saved.len();
            let restored = driver.restore_registrations(saved);
            tracing::info!(
                saved = n,
                restored,
                "registrations restored (expired ones dropped)"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::error!(
            error = %format!("{e:#}"),
            "saved registrations not restored; agents log in again when their phones re-register"
        ),
    }
    let (reg_tx, reg_rx) = watch::channel(sip.location.generation());
    driver.set_registrations_changed(reg_tx);
    let reg_writer = tokio::spawn(crate::registration_store::run_writer(
        reg_path,
        sip.location.clone(),
        reg_rx,
        metrics.clone(),
    ));
    let shared = Arc::new(Shared {
        transport: transport.clone(),
        location: sip.location.clone(),
        metrics,
        board,
    });
    let (stage_tx, stage_rx) = watch::channel(ShutdownStage::Running);
    // Signals are caught from here on (a second one during the drain is not lost).
    let mut signals = Signals::new()?;

    let users: Vec<String> = cfg.users.iter().map(|u| u.name.clone()).collect();
    let limits = Arc::new(crate::http_serve::HttpLimits {
        max_connections: cfg.http.max_connections,
        header_timeout: Duration::from_secs(cfg.http.header_timeout),
        body_timeout: Duration::from_secs(cfg.http.body_timeout),
        max_body_bytes: cfg.http.max_body_bytes,
    });
    let setup = crate::http_api::ApiSetup {
        tokens: Arc::new(crate::http_auth::TokenTable::from_config(
            &cfg.http.tokens,
            &users,
            &cfg.tenant_scopes(),
        )?),
        hosts: Arc::new(crate::http_serve::AllowedHosts::new(
            http_addr,
            &cfg.http.allowed_hosts,
        )),
        limits: limits.clone(),
        control: Arc::new(crate::http_control::AgentControl {
            acd: acd_commands,
            agents: users,
            pause_reasons: cfg.acd.pause_reasons.clone(),
            dispositions: cfg
                .queues
                .iter()
                .map(|q| (q.name.clone(), q.dispositions.clone()))
                .collect(),
        }),
        calls: call_ctx,
        events: Arc::new(crate::http_events::EventStream::new(
            events.clone(),
            crate::event_store::StoreLocation::parse(&cfg.data.event_store)?,
            cfg.data.dir.clone(),
            cfg.http.max_ws_clients,
            shared.metrics.clone(),
        )),
    };
    // The admin API stays up through the drain (wallboard, metrics) and stops last.
    let router = crate::http_api::router(shared.clone(), setup)
        .layer(axum::Extension(crate::report::http::ReportSource::new(
            &cfg,
        )))
        .layer(axum::Extension(campaigns))
        .layer(axum::Extension(crate::caller_history::HistoryReader::new(
            crate::event_store::StoreLocation::parse(&cfg.data.event_store)?,
            cfg.data.dir.clone(),
        )));
    let (http_stop_tx, http_stop_rx) = broadcast::channel::<()>(1);
    let http_task = tokio::spawn(crate::http_serve::serve(http, router, limits, http_stop_rx));

    let mut driver_task = sip_thread.handle().spawn(driver.run(inbound, stage_rx));
    // How soon the main runtime gets to its tasks, until the end.
    tokio::spawn(crate::runtime_lag::watch(
        shared.metrics.clone(),
        http_stop_tx.subscribe(),
    ));
    // The free-disk watermark is measured until the end (new calls stay refused while low).
    tokio::spawn(crate::disk_watch::watch(
        cfg.data.dir.clone(),
        cfg.data.min_free_mb,
        shared.metrics.clone(),
        http_stop_tx.subscribe(),
    ));

    events.append(NewEvent::system(Event::SystemStart {
        version: env!("CARGO_PKG_VERSION").to_string(),
    }));
    let sip_addr = transport
        .local_addrs()
        .first()
        .copied()
        .context("no SIP listener")?;
    if let Some(c) = &cfg.ivr.test_clock {
        tracing::warn!(
            test_clock = %c,
            "TEST/DEMO ONLY: the IVR's clock is pinned (ivr.test_clock / --ivr-test-clock); \
             time-of-day routing ignores the real time"
        );
    }
    tracing::info!(sip = %sip_addr, http = %http_addr, "switchboard ready");
    {
        let mut out = std::io::stdout().lock();
        let all: Vec<String> = transport
            .local_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect();
        let tls: String = transport
            .tls_local_addrs()
            .first()
            .map(|a| format!(" sip_tls={a}"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "READY sip={sip_addr} http={http_addr} sip_all={}{tls}",
            all.join(",")
        );
        let _ = out.flush();
    }

    signals.next().await;
    let live = shared.metrics.calls_active.load(Ordering::Relaxed);
    let drain = Duration::from_secs(cfg.shutdown.drain_timeout);
    tracing::info!(
        live_calls = live,
        drain_timeout_s = drain.as_secs(),
        "draining: new calls get 503 (Retry-After {} s); live calls continue until they end; \
         a second SIGTERM/SIGINT ends them now",
        cfg.shutdown.retry_after
    );
    events.append(NewEvent::system(Event::SystemDraining {
        live_calls: live.max(0) as u64,
        drain_timeout_s: drain.as_secs(),
    }));
    let _ = stage_tx.send(ShutdownStage::Draining);
    let drained = tokio::select! {
        _ = &mut driver_task => true,
        _ = signals.next() => {
            tracing::warn!("second signal: hanging up the live calls now");
            false
        }
        _ = tokio::time::sleep(drain) => {
            tracing::warn!(
                drain_timeout_s = drain.as_secs(),
                "drain timeout passed: hanging up the live calls"
            );
            false
        }
    };
    if !drained {
        let _ = stage_tx.send(ShutdownStage::EndingCalls);
        // BYE/CANCEL transactions finish or time out (64*T1); the driver exits then.
        if tokio::time::timeout(Duration::from_secs(40), &mut driver_task)
            .await
            .is_err()
        {
            tracing::warn!("the SIP driver did not finish its last transactions in 40 s");
        }
    }
    // The driver is gone: the registration writer saves the table a last time and ends.
    if tokio::time::timeout(Duration::from_secs(5), reg_writer)
        .await
        .is_err()
    {
        tracing::warn!("the registration store did not finish its last save in 5 s");
    }
    // Every call task logs its call.end before it counts itself out of calls_active.
    let tasks_done = wait_for_call_tasks(&shared.metrics, Duration::from_secs(10)).await;
    if !tasks_done {
        tracing::warn!(
            left = shared.metrics.calls_active.load(Ordering::Relaxed),
            "call tasks still running at exit; their calls may lack a call.end"
        );
    }
    let _ = http_stop_tx.send(());
    if tokio::time::timeout(Duration::from_secs(5), http_task)
        .await
        .is_err()
    {
        tracing::warn!("the admin API did not stop in 5 s");
    }
    events.append(NewEvent::system(Event::SystemStop { drained }));
    events.flush();
    tracing::info!(drained, "stopped");
    Ok(())
}

/// Waits until no call task is left (each decrements `calls_active` after logging its
/// `call.end`), up to `limit`. Checked every 20 ms: a shutdown-only wait.
async fn wait_for_call_tasks(metrics: &crate::metrics::Metrics, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while metrics.calls_active.load(Ordering::Relaxed) > 0 {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// SIGTERM and SIGINT, registered once at start so none is missed between two waits.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("catching SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("catching SIGINT")?,
        })
    }

    /// The next SIGTERM or SIGINT.
    async fn next(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// A SIP bind failure as the operator needs it: which address, and how to pick another.
fn sip_bind_error(e: switchboard_transport::TransportError) -> anyhow::Error {
    use switchboard_transport::TransportError;
    match &e {
        TransportError::Bind { addr, error, .. }
            if error.kind() == std::io::ErrorKind::AddrInUse =>
        {
            anyhow::anyhow!(
                "{e}\n  help: another program (another switchboard, a SIP server or phone) \
                 is using {addr}; stop it, or listen elsewhere with `--sip-listen \
                 127.0.0.1:5070` (or `[sip] listen` in the config)"
            )
        }
        TransportError::Bind { error, .. }
            if error.kind() == std::io::ErrorKind::AddrNotAvailable =>
        {
            anyhow::anyhow!(
                "{e}\n  help: that IP is not an address of this machine; use one it has \
                 (`--sip-listen 127.0.0.1:5060`, or `[sip] listen` in the config)"
            )
        }
        _ => anyhow::anyhow!("binding SIP listeners: {e}"),
    }
}

/// An HTTP bind failure naming the address and the flag that changes it.
fn http_bind_error(addr: std::net::SocketAddr, e: std::io::Error) -> anyhow::Error {
    let help = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "\n  help: another program is using {addr}; stop it, or listen elsewhere with \
             `--http-listen 127.0.0.1:8081` (or `[http] listen` in the config)"
        ),
        std::io::ErrorKind::AddrNotAvailable => "\n  help: that IP is not an address of this \
             machine; use `--http-listen 127.0.0.1:8080` (or `[http] listen` in the config)"
            .to_string(),
        _ => String::new(),
    };
    anyhow::anyhow!("cannot listen for HTTP on {addr}: {e}{help}")
}

/// Recovery pass: a crash leaves WAVs whose header lags the audio by up to a second;
/// fix every recording's size fields from its length (RFC-less, but what players need).
fn repair_recordings(dir: &std::path::Path, events: &EventLog) {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().and_then(|x| x.to_str()) == Some("wav") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut repaired = 0;
    for f in files {
        match switchboard_media::repair_wav(&f) {
            Ok(switchboard_media::RepairOutcome::Repaired { claimed, data_len }) => {
                repaired += 1;
                events.append(NewEvent::system(Event::RecordingRepaired {
                    path: f.display().to_string(),
                    claimed: u64::from(claimed),
                    data_len: u64::from(data_len),
                }));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "recording could not be repaired"),
        }
    }
    if repaired > 0 {
        tracing::info!(repaired, "recordings repaired after an unclean stop");
    }
}

/// The demo tokens are published in the README: an API reachable beyond this machine
/// with one of them configured is open to anyone. Refuse to start that way.
fn refuse_public_demo_tokens(cfg: &Config) -> anyhow::Result<()> {
    let users: Vec<String> = cfg.users.iter().map(|u| u.name.clone()).collect();
    let tokens =
        crate::http_auth::TokenTable::from_config(&cfg.http.tokens, &users, &cfg.tenant_scopes())?;
    if !cfg.http.listen.ip().is_loopback() && tokens.has_demo_token() {
        anyhow::bail!(
            "http.listen {} is not a loopback address, and a public demo token \
             (demo-admin, demo-supervisor, demo-agent-*) is configured: replace \
             [[http.tokens]] with your own (`switchboard token new --role admin`), \
             or listen on 127.0.0.1",
            cfg.http.listen
        );
    }
    Ok(())
}
