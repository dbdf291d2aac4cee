//! Wiring of the call path: prompts and dialplans loaded at start (and reloaded on file
//! change or SIGHUP), the ACD actor, and the router that gives each new inbound call its
//! own task.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use switchboard_ivr::{CheckContext, DialplanLoader, Lang, Program, PromptCatalog};
use switchboard_media::PromptCache;
use switchboard_registrar::LocationEvent;
use switchboard_rtp::NtpClock;
use switchboard_transport::RtpPortPool;
use tokio::sync::mpsc;

use crate::acd_actor::{AcdActor, AcdCommand};
use crate::call::{run_call, CallContext};
use crate::config::Config;
use crate::event_log::EventLog;
use crate::sip_driver::{NewCall, SipHandle};

/// Known prompts for the dialplan checker: `<dir>/<lang>/<name>.wav`.
pub(crate) fn prompt_catalog(dir: &Path) -> PromptCatalog {
    let mut cat = PromptCatalog::new();
    for lang in [Lang::En, Lang::Ru] {
        let Ok(rd) = std::fs::read_dir(dir.join(lang.code())) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) == Some("wav") {
                if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                    cat.insert(lang, stem);
                }
            }
        }
    }
    cat
}

pub(crate) fn check_context(cfg: &Config) -> CheckContext {
    CheckContext::new(
        cfg.queues.iter().map(|q| q.name.clone()),
        prompt_catalog(&cfg.ivr.prompts),
    )
    .with_skills(crate::tools::agent_skills(cfg))
    .with_scripts(crate::conversation_script::script_names(
        &cfg.ivr.dialplans.join("scripts"),
    ))
}

fn ntp_now() -> NtpClock {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() + 2_208_988_800;
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    NtpClock {
        at: Instant::now(),
        ntp: (secs << 32) | frac,
    }
}

fn newest_mtime(dir: &Path) -> Option<SystemTime> {
    fn walk(dir: &Path, best: &mut Option<SystemTime>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, best);
            } else if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
                if best.is_none_or(|b| m > b) {
                    *best = Some(m);
                }
            }
        }
    }
    let mut best = None;
    walk(dir, &mut best);
    best
}

/// Starts the ACD actor, the dialplan reloader and the call router. Returns the sender
/// for presence events (from the registrar) and the receiver end the SIP driver feeds.
pub(crate) async fn start(
    cfg: Arc<Config>,
    sip: SipHandle,
    events: EventLog,
    metrics: Arc<crate::metrics::Metrics>,
    restored: crate::restart_state::RestartState,
) -> anyhow::Result<(
    mpsc::UnboundedSender<LocationEvent>,
    mpsc::Sender<NewCall>,
    Arc<RwLock<serde_json::Value>>,
    mpsc::UnboundedSender<AcdCommand>,
    Arc<CallContext>,
)> {
    let mut prompts = PromptCache::new();
    if !cfg.ivr.prompts.is_dir() {
        let cwd = std::env::current_dir().unwrap_or_default();
        anyhow::bail!(
            "ivr.prompts: no directory {} (relative paths are taken from the working directory {}); \
             start switchboard in the repository (where prompts/ is) or set ivr.prompts in --config",
            cfg.ivr.prompts.display(),
            cwd.display()
        );
    }
    let n = prompts
        .load_dir(&cfg.ivr.prompts)
        .with_context(|| format!("loading prompts from {}", cfg.ivr.prompts.display()))?;
    tracing::info!(prompts = n, "prompts loaded");
    for t in &cfg.tenants {
        if let Some(dir) = &t.prompts_dir {
            let prefix = crate::call::tenant_prompt_key(&t.name, "");
            let n = prompts.load_dir_as(dir, &prefix).with_context(|| {
                format!("tenants {}: loading prompts_dir {}", t.name, dir.display())
            })?;
            tracing::info!(tenant = %t.name, prompts = n, "tenant prompts loaded");
        }
    }

    let mut loader = DialplanLoader::new(cfg.ivr.dialplans.clone(), check_context(&cfg));
    let first = loader.reload().map_err(|e| {
        anyhow::anyhow!(
            "dialplans in {} do not load:\n{e}",
            cfg.ivr.dialplans.display()
        )
    })?;
    if !first.warnings.is_empty() {
        tracing::warn!("dialplan warnings:\n{}", first.warnings);
    }
    let dialplans: Arc<RwLock<Option<Arc<Program>>>> = Arc::new(RwLock::new(Some(first.program)));
    tokio::spawn(reload_dialplans(
        loader,
        cfg.ivr.dialplans.clone(),
        dialplans.clone(),
        events.clone(),
    ));

    let (mut actor, acd_tx) = AcdActor::new(&cfg, events.clone())?;
    let board = actor.board();
    let (callbacks_tx, mut callbacks_rx) = mpsc::unbounded_channel();
    actor.set_callbacks(callbacks_tx);
    actor.restore_queue_logouts(&restored.queue_logouts);
    tokio::spawn(actor.run());
    let restored_callbacks = restored.callbacks;
    if !restored_callbacks.is_empty() {
        tracing::info!(
            pending = restored_callbacks.len(),
            "web callbacks restored from the event log"
        );
    }
    for cb in restored_callbacks {
        let _ = acd_tx.send(AcdCommand::WebCallback(
            crate::acd_actor::WebCallbackCommand::Schedule {
                cb,
                restored: true,
                reply: None,
            },
        ));
    }

    let (presence_tx, mut presence_rx) = mpsc::unbounded_channel::<LocationEvent>();
    let acd_for_presence = acd_tx.clone();
    tokio::spawn(async move {
        while let Some(ev) = presence_rx.recv().await {
            let _ = acd_for_presence.send(AcdCommand::Presence(ev));
        }
    });

    let pool = RtpPortPool::new(
        cfg.media.rtp_ip,
        cfg.media.rtp_port_min..=cfg.media.rtp_port_max,
    );
    // Call ids start from the wall clock in milliseconds times 2,048 and count up by one
    // per call, so a restart (even within the same second) never reuses an id of the run
    // before: that run would have needed 2,048 calls per millisecond to get ahead of the
    // clock. (Seconds times 2^20, used before, repeated ids after a restart within one
    // second; ids made that way stay below these.) Below 2^53 until the year 2109, so
    // JSON readers that parse numbers as doubles keep them exact.
    let first_id = (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64)
        << 11;
    let ctx = Arc::new(CallContext {
        cfg: cfg.clone(),
        sip,
        acd: acd_tx.clone(),
        events,
        prompts: Arc::new(prompts),
        dialplans,
        rtp_pool: pool,
        next_call: AtomicU64::new(first_id),
        ntp: ntp_now(),
        metrics,
        supervisable: dashmap::DashMap::new(),
        number_rules: cfg.dial_policy.rules()?,
        agent_dial: std::sync::Mutex::new(crate::agent_dial::AgentDialGate::new(
            &cfg.dial_policy,
            &cfg.dial_permissions,
            &cfg.users,
        )?),
        live: crate::live_calls::LiveCalls::default(),
        http: crate::http_client::HttpClient::new(cfg.ivr.http_ca_file.as_deref())?,
        dial_gate: crate::dial_policy::DialGate::new(&cfg.dial_policy)?.spawn(),
    });
    let cb_ctx = ctx.clone();
    // Every callback passes the dial gate (the one owner of the caps) before it is placed.
    let gate = ctx.dial_gate.clone();
    tokio::spawn(async move {
        while let Some(mut job) = callbacks_rx.recv().await {
            match gate.admit(&job.number).await {
                Ok(number) => {
                    job.number = number;
                    tokio::spawn(crate::callback::run_callback(cb_ctx.clone(), job));
                }
                Err(r) => {
                    tracing::warn!(reason = r.as_str(), "callback refused by the dial policy");
                    cb_ctx.metrics.dial_refused.count(r);
                    cb_ctx.events.append(
                        crate::dial_policy::refused_event(job.call, job.purpose, &job.number, r)
                            .queue(&job.queue),
                    );
                    let _ = cb_ctx.acd.send(AcdCommand::CallbackResult {
                        call: job.call,
                        connected: false,
                    });
                }
            }
        }
    });
    let (new_tx, mut new_rx) = mpsc::channel::<NewCall>(1024);
    let api_ctx = ctx.clone();
    tokio::spawn(async move {
        while let Some(nc) = new_rx.recv().await {
            tokio::spawn(run_call(ctx.clone(), nc));
        }
    });
    Ok((presence_tx, new_tx, board, acd_tx, api_ctx))
}

/// Reloads on SIGHUP or when a file under `dir` changes (polled every 2 s). A version
/// with errors is rejected with its diagnostics in the log; the previous one stays.
async fn reload_dialplans(
    mut loader: DialplanLoader,
    dir: PathBuf,
    slot: Arc<RwLock<Option<Arc<Program>>>>,
    events: EventLog,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).ok();
    let mut seen = newest_mtime(&dir);
    let mut poll = tokio::time::interval(Duration::from_secs(2));
    loop {
        let by_signal = tokio::select! {
            _ = poll.tick() => false,
            _ = async { match hup.as_mut() { Some(h) => { h.recv().await; } None => std::future::pending::<()>().await } } => true,
        };
        let m = newest_mtime(&dir);
        if !by_signal && m == seen {
            continue;
        }
        seen = m;
        match loader.reload() {
            Ok(set) => {
                tracing::info!(version = set.version, "dialplans reloaded");
                events.append(crate::event_log::NewEvent::system(
                    switchboard_events::Event::DialplanReloaded {
                        version: set.version,
                        warnings: set.warnings.clone(),
                    },
                ));
                if let Ok(mut g) = slot.write() {
                    *g = Some(set.program);
                }
            }
            Err(e) => {
                tracing::error!(
                    "dialplan reload rejected; the previous version stays active:\n{e}"
                );
                events.append(crate::event_log::NewEvent::system(
                    switchboard_events::Event::DialplanRejected {
                        diagnostics: e.to_string(),
                    },
                ));
            }
        }
    }
}
