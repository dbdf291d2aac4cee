//! Outbound campaigns in the server: the runner task that owns every campaign's state
//! (the sans-IO `switchboard_campaign::Campaign`), places the calls it asks for (each
//! through the dial gate, then `call::run_campaign_call`), feeds their outcomes back, and
//! logs every dial, outcome and state change as events, from which the state is rebuilt
//! at the next start (docs/decisions/0024-campaign-state-in-the-event-log.md). The HTTP
//! handlers (`http_campaigns.rs`) talk to it through [`CampaignHandle`].

mod definition;
mod restore;
mod view;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchboard_campaign::{Campaign, Outcome, RowId, RowStatus, RunState};
use switchboard_events::{
    CampaignOutcome, CampaignRowStatus, CampaignState, Event, OriginatePurpose,
};
use tokio::sync::{mpsc, oneshot};

pub(crate) use definition::{CampaignDef, CampaignKind, MachineAction};
pub(crate) use restore::logged_campaign_events;

use switchboard_outbound::pacing::{PacingConfig, PredictivePacer};

use crate::call::{CallContext, CampaignCall, CampaignStart, PacerNote, PacerNoteKind};
use crate::event_log::NewEvent;

/// Where a campaign's definition came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Config,
    Api,
}

struct Entry {
    def: CampaignDef,
    core: Campaign,
    source: Source,
    /// Predictive campaigns: how many to dial (not persisted: after a restart it learns
    /// again, starting progressive).
    pacer: Option<PredictivePacer>,
}

/// Why a campaign request was refused (the HTTP layer maps these to 4xx).
#[derive(Debug)]
pub(crate) enum CampaignError {
    NotFound(String),
    Exists(String),
    Invalid(String),
    State(String),
    Gone,
}

/// Asks of the runner.
pub(crate) enum CampaignCommand {
    Create {
        def: Box<CampaignDef>,
        by: String,
        reply: oneshot::Sender<Result<Value, CampaignError>>,
    },
    Control {
        name: String,
        to: RunState,
        by: String,
        reply: oneshot::Sender<Result<Value, CampaignError>>,
    },
    List {
        reply: oneshot::Sender<Value>,
    },
    Get {
        name: String,
        reply: oneshot::Sender<Option<Value>>,
    },
}

/// A call's end, from its task to the runner.
struct Finished {
    campaign: String,
    row: RowId,
    attempt: u32,
    call: u64,
    outcome: Outcome,
    status: Option<u16>,
}

/// The HTTP layer's way to the runner.
#[derive(Clone)]
pub(crate) struct CampaignHandle(mpsc::UnboundedSender<CampaignCommand>);

impl CampaignHandle {
    pub(crate) async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> CampaignCommand,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.0.send(make(tx)).ok()?;
        rx.await.ok()
    }
}

/// Starts the runner with the configured campaigns and the state the log holds.
pub(crate) fn start(
    ctx: Arc<CallContext>,
    logged: Vec<crate::event_store::StoredEvent>,
    board: Arc<std::sync::RwLock<Value>>,
) -> anyhow::Result<CampaignHandle> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let (notes_tx, notes_rx) = mpsc::unbounded_channel();
    let mut runner = Runner {
        ctx,
        entries: BTreeMap::new(),
        board,
        done_tx,
        notes_tx,
        origin: std::time::Instant::now(),
    };
    runner.load(logged)?;
    tokio::spawn(runner.run(rx, done_rx, notes_rx));
    Ok(CampaignHandle(tx))
}

struct Runner {
    ctx: Arc<CallContext>,
    entries: BTreeMap<String, Entry>,
    board: Arc<std::sync::RwLock<Value>>,
    done_tx: mpsc::UnboundedSender<Finished>,
    notes_tx: mpsc::UnboundedSender<PacerNote>,
    /// The pacers' time origin (they take time as a `Duration` since it).
    origin: std::time::Instant,
}

/// Free agents of `queue` on the board (available and logged into it).
fn free_agents_on(board: &std::sync::RwLock<Value>, queue: &str) -> u32 {
    let Ok(b) = board.read() else { return 0 };
    b["agents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|x| {
                    x["state"] == "available"
                        && x["queues"]
                            .as_array()
                            .is_some_and(|q| q.iter().any(|n| n == queue))
                })
                .count() as u32
        })
        .unwrap_or(0)
}

pub(crate) fn outcome_word(o: Outcome) -> CampaignOutcome {
    match o {
        Outcome::Answered => CampaignOutcome::Answered,
        Outcome::Busy => CampaignOutcome::Busy,
        Outcome::NoAnswer => CampaignOutcome::NoAnswer,
        Outcome::Machine => CampaignOutcome::Machine,
        Outcome::Abandoned => CampaignOutcome::Abandoned,
        Outcome::NoTrunk => CampaignOutcome::NoTrunk,
        Outcome::Interrupted => CampaignOutcome::Interrupted,
        Outcome::Failed => CampaignOutcome::Failed,
        Outcome::Refused => CampaignOutcome::Refused,
    }
}

pub(crate) fn state_word(s: RunState) -> CampaignState {
    match s {
        RunState::Created => CampaignState::Created,
        RunState::Running => CampaignState::Running,
        RunState::Paused => CampaignState::Paused,
        RunState::Stopped => CampaignState::Stopped,
        RunState::Finished => CampaignState::Finished,
    }
}

impl Runner {
    fn queues(&self) -> Vec<String> {
        self.ctx.cfg.queues.iter().map(|q| q.name.clone()).collect()
    }

    fn add(&mut self, def: CampaignDef, source: Source) -> anyhow::Result<()> {
        let c = def.compile(&self.queues())?;
        def.check_tenant(&self.ctx.cfg)?;
        let core = Campaign::new(c.plan, c.rows, &c.dnc);
        let pacer = (def.kind == CampaignKind::Predictive).then(|| {
            PredictivePacer::new(PacingConfig {
                abandon_cap: def.abandon_cap.unwrap_or(0.03),
                ..PacingConfig::default()
            })
        });
        self.entries.insert(
            def.name.clone(),
            Entry {
                def,
                core,
                source,
                pacer,
            },
        );
        Ok(())
    }

    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<CampaignCommand>,
        mut done_rx: mpsc::UnboundedReceiver<Finished>,
        mut notes_rx: mpsc::UnboundedReceiver<PacerNote>,
    ) {
        loop {
            self.dial_due();
            let wait = self.next_wait();
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    None => return,
                },
                Some(f) = done_rx.recv() => self.on_finished(f),
                Some(n) = notes_rx.recv() => self.on_note(n),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Until the next row is due; at most a second while an agent campaign runs (free
    /// agents are read from the board), at most a minute otherwise.
    fn next_wait(&self) -> Duration {
        let now = Utc::now();
        let mut wait = Duration::from_secs(60);
        for e in self.entries.values() {
            if e.core.state() != RunState::Running {
                continue;
            }
            if matches!(
                e.def.kind,
                CampaignKind::Progressive | CampaignKind::Predictive
            ) {
                wait = wait.min(Duration::from_secs(1));
            }
            if let Some(t) = e.core.next_wakeup(now) {
                let d = (t - now).to_std().unwrap_or(Duration::ZERO);
                wait = wait.min(d.max(Duration::from_millis(50)));
            }
        }
        wait
    }

    fn free_agents(&self, queue: &str) -> u32 {
        free_agents_on(&self.board, queue)
    }

    /// An answered predictive call's news, for its campaign's pacer.
    fn on_note(&mut self, n: PacerNote) {
        let now = self.origin.elapsed();
        let Some(p) = self
            .entries
            .get_mut(&n.campaign)
            .and_then(|e| e.pacer.as_mut())
        else {
            return;
        };
        match n.kind {
            PacerNoteKind::Person => p.on_answer(now),
            PacerNoteKind::Machine => p.on_no_answer(now),
            PacerNoteKind::Abandoned => p.on_abandon(now),
            PacerNoteKind::Connected => p.on_agent_connected(now),
            PacerNoteKind::HandleEnd(h) => p.on_handle_end(now, h),
        }
    }

    fn dial_due(&mut self) {
        let now = Utc::now();
        let names: Vec<String> = self.entries.keys().cloned().collect();
        let pace_now = self.origin.elapsed();
        for name in names {
            let free = match self.entries.get(&name) {
                Some(e) if e.core.state() == RunState::Running => {
                    e.def.queue.as_deref().map(|q| self.free_agents(q))
                }
                _ => continue,
            };
            let Some(e) = self.entries.get_mut(&name) else {
                continue;
            };
            let in_flight = e.core.in_flight();
            let limit = match (e.def.kind, free, e.pacer.as_mut()) {
                (CampaignKind::Predictive, Some(free), Some(p)) => {
                    p.dials_to_place(pace_now, free, in_flight)
                }
                (CampaignKind::Progressive, Some(free), _) => free.saturating_sub(in_flight),
                _ => u32::MAX,
            };
            let mut limit = limit;
            while limit > 0 {
                let Some(e) = self.entries.get_mut(&name) else {
                    break;
                };
                let Some(dial) = e.core.next_dial(now, limit) else {
                    break;
                };
                limit -= 1;
                if let Some(p) = e.pacer.as_mut() {
                    p.on_dial(pace_now);
                }
                let row = e.core.row(dial.row).cloned();
                let Some(row) = row else { continue };
                let id = self.ctx.next_call_id();
                // The call's first event: its tenant tags the call's later events too.
                self.ctx.events.append(
                    NewEvent::call(
                        &id.to_string(),
                        Event::CampaignDial {
                            campaign: name.clone(),
                            row: dial.row.0,
                            attempt: dial.attempt,
                        },
                    )
                    .tenant(e.def.tenant.as_deref()),
                );
                let def = &e.def;
                let queue = def.queue.clone().unwrap_or_default();
                let predictive = (def.kind == CampaignKind::Predictive).then(|| {
                    let board = self.board.clone();
                    let q = queue.clone();
                    crate::call::Predictive {
                        machine: def.machine,
                        dialplan: def.dialplan.clone(),
                        abandon_dialplan: def.abandon_dialplan.clone(),
                        free_agents: Arc::new(move || free_agents_on(&board, &q)),
                        notes: self.notes_tx.clone(),
                    }
                });
                let start = match def.kind {
                    CampaignKind::Progressive | CampaignKind::Predictive => CampaignStart::Queue {
                        queue,
                        script: def.script.clone(),
                        predictive,
                    },
                    CampaignKind::Notification | CampaignKind::Survey => CampaignStart::Dialplan {
                        dialplan: def.dialplan.clone().unwrap_or_default(),
                        questions: def.questions.clone(),
                    },
                };
                let job = CampaignCall {
                    id,
                    campaign: name.clone(),
                    row: dial.row.0,
                    attempt: dial.attempt,
                    number: dial.number.clone(),
                    name: row.name.clone(),
                    fields: row.fields.clone(),
                    caller_id: def.caller_id.clone(),
                    tenant: def.tenant.clone(),
                    ring_limit: Duration::from_secs(def.ring_timeout_s),
                    start,
                };
                tracing::info!(campaign = %name, row = dial.row.0, attempt = dial.attempt, call = id, "campaign call");
                let ctx = self.ctx.clone();
                let done = self.done_tx.clone();
                let (campaign, row_id, attempt) = (name.clone(), dial.row, dial.attempt);
                tokio::spawn(async move {
                    let (outcome, status) = match ctx.dial_gate.admit(&job.number).await {
                        Ok(number) => {
                            let job = CampaignCall { number, ..job };
                            let r = crate::call::run_campaign_call(ctx.clone(), job).await;
                            (r.outcome, r.status)
                        }
                        Err(r) => {
                            tracing::warn!(
                                reason = r.as_str(),
                                "campaign call refused by the dial policy"
                            );
                            ctx.metrics.dial_refused.count(r);
                            ctx.events.append(crate::dial_policy::refused_event(
                                id,
                                OriginatePurpose::Campaign,
                                &job.number,
                                r,
                            ));
                            (Outcome::Refused, None)
                        }
                    };
                    let _ = done.send(Finished {
                        campaign,
                        row: row_id,
                        attempt,
                        call: id,
                        outcome,
                        status,
                    });
                });
            }
        }
    }

    fn on_finished(&mut self, f: Finished) {
        let now = Utc::now();
        let Some(e) = self.entries.get_mut(&f.campaign) else {
            return;
        };
        if let Some(p) = e.pacer.as_mut() {
            // Answered calls told their pacer as they went (`on_note`); the rest end here.
            if !matches!(
                f.outcome,
                Outcome::Answered | Outcome::Abandoned | Outcome::Machine
            ) {
                p.on_no_answer(self.origin.elapsed());
            }
        }
        let before = e.core.state();
        let d = e.core.on_result(f.row, f.outcome, now);
        log_result(
            &self.ctx,
            e.def.tenant.as_deref(),
            f.call,
            &f.campaign,
            f.row,
            f.attempt,
            f.outcome,
            f.status,
            d,
        );
        let after = e.core.state();
        if after != before {
            self.log_state(&f.campaign, after, None);
        }
    }

    fn log_state(&self, name: &str, state: RunState, by: Option<String>) {
        let tenant = self.entries.get(name).and_then(|e| e.def.tenant.as_deref());
        self.ctx.events.append(
            NewEvent::system(Event::CampaignStateChanged {
                campaign: name.to_string(),
                state: state_word(state),
                by,
            })
            .tenant(tenant),
        );
    }

    fn on_command(&mut self, cmd: CampaignCommand) {
        match cmd {
            CampaignCommand::List { reply } => {
                let list: Vec<Value> = self
                    .entries
                    .values()
                    .map(|e| {
                        let mut v = view::summary(&e.def, &e.core, e.source);
                        if let Some(p) = &e.pacer {
                            v["pacing"] = view::pacing(p);
                        }
                        v
                    })
                    .collect();
                let _ = reply.send(serde_json::json!({ "campaigns": list }));
            }
            CampaignCommand::Get { name, reply } => {
                let _ = reply.send(self.entries.get(&name).map(|e| {
                    let mut v = view::detail(&e.def, &e.core, e.source, Utc::now());
                    if let Some(p) = &e.pacer {
                        v["pacing"] = view::pacing(p);
                    }
                    v
                }));
            }
            CampaignCommand::Create { def, by, reply } => {
                let _ = reply.send(self.create(*def, by));
            }
            CampaignCommand::Control {
                name,
                to,
                by,
                reply,
            } => {
                let r = match self.entries.get_mut(&name) {
                    None => Err(CampaignError::NotFound(name.clone())),
                    Some(e) => {
                        let r = match to {
                            RunState::Running => e.core.start(),
                            RunState::Paused => e.core.pause(),
                            _ => e.core.stop(),
                        };
                        match r {
                            Ok(()) => {
                                Ok((e.core.state(), view::summary(&e.def, &e.core, e.source)))
                            }
                            Err(s) => Err(CampaignError::State(s.to_string())),
                        }
                    }
                };
                let r = r.map(|(state, v)| {
                    self.log_state(&name, state, Some(by));
                    v
                });
                let _ = reply.send(r);
            }
        }
    }

    fn create(&mut self, def: CampaignDef, by: String) -> Result<Value, CampaignError> {
        if self.entries.contains_key(&def.name) {
            return Err(CampaignError::Exists(def.name));
        }
        self.add(def.clone(), Source::Api)
            .map_err(|e| CampaignError::Invalid(format!("{e:#}")))?;
        let definition = serde_json::to_value(&def).unwrap_or(Value::Null);
        self.ctx.events.append(
            NewEvent::system(Event::CampaignDefined {
                campaign: def.name.clone(),
                definition,
                by: Some(by),
            })
            .tenant(def.tenant.as_deref()),
        );
        let e = self.entries.get(&def.name).ok_or(CampaignError::Gone)?;
        Ok(view::summary(&e.def, &e.core, e.source))
    }
}

#[allow(clippy::too_many_arguments)]
fn log_result(
    ctx: &CallContext,
    tenant: Option<&str>,
    call: u64,
    campaign: &str,
    row: RowId,
    attempt: u32,
    outcome: Outcome,
    status: Option<u16>,
    d: switchboard_campaign::Decision,
) {
    let row_status = match d.status {
        RowStatus::Pending | RowStatus::Dialling => CampaignRowStatus::Pending,
        RowStatus::Exhausted(_) => CampaignRowStatus::Exhausted,
        RowStatus::Done(_) | RowStatus::DoNotCall => CampaignRowStatus::Done,
    };
    ctx.events.append(
        NewEvent::call(
            &call.to_string(),
            Event::CampaignResult {
                campaign: campaign.to_string(),
                row: row.0,
                attempt,
                outcome: outcome_word(outcome),
                status,
                row_status,
                next_at: d.next_at.map(|t: DateTime<Utc>| t.to_rfc3339()),
            },
        )
        .tenant(tenant),
    );
}
