//! The ACD actor: the one owner of the ACD engine. Call tasks and the SIP driver send it
//! commands; it drives the engine with its own clock (`AcdActor::now`), and routes the
//! engine's outputs to call tasks (offers, announcements, exits) and the event log.

mod board;
mod calendar;
mod control;
mod engagement;
mod web;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::sync::{Arc, RwLock};

use serde_json::Value;
use switchboard_acd::{
    Acd, AcdConfig, AgentConfig, AgentId, CallId, ExitReason, Join, OfferFailure, Output, QueueId,
    SkillReq, Spoken, Statistics, StatsConfig,
};
use switchboard_registrar::LocationEvent;
use tokio::sync::mpsc;

use crate::agent_desk::AgentDesk;
use crate::config::Config;
use crate::core_events;
use crate::event_log::{EventLog, NewEvent};
use crate::web_callbacks::WebCallbackBook;
use switchboard_events::{CallbackOutcome, Event, OriginatePurpose};

pub(crate) use calendar::StatsCalendar;
pub(crate) use control::{check_dispositions, AgentCommand, ControlAnswer, MAX_NOTES_CHARS};
pub(crate) use engagement::{AgentHold, CallbackAgent, Engagement};
pub(crate) use web::{StartError, WebCallbackCommand};

/// What the ACD tells a call task.
#[derive(Debug)]
pub(crate) enum QueueSignal {
    /// Ring this agent (a registered user name).
    Offer { agent: String },
    /// Stop ringing this agent (ring timeout, or another agent answered).
    CancelOffer { agent: String },
    /// Say the position and estimated wait; `due` is when the engine's timer said so.
    Announce {
        position: usize,
        spoken: Spoken,
        due: Instant,
    },
    /// Leave the queue (max wait, exit key, no agents...); `None`: the queue is unknown.
    Exit {
        reason: Option<switchboard_acd::ExitReason>,
    },
    /// The dialplan's `callback` request `id` was (not) taken (see `call/dialplan_callback.rs`).
    CallbackScheduled { id: u64, scheduled: bool },
}

/// Commands to the ACD actor.
#[derive(Debug)]
pub(crate) enum AcdCommand {
    Join {
        call: u64,
        queue: String,
        priority: i32,
        caller: String,
        data: Vec<(String, String)>,
        skills: Vec<String>,
        /// The dialplan's `tenant` for this call: only agents of that tenant take it.
        tenant: Option<String>,
        announce_every: Option<Duration>,
        signals: mpsc::Sender<QueueSignal>,
    },
    Key {
        call: u64,
        key: char,
    },
    OfferAnswered {
        call: u64,
        agent: String,
    },
    OfferFailed {
        call: u64,
        agent: String,
        failure: OfferFailure,
    },
    CallEnded {
        call: u64,
    },
    Presence(LocationEvent),
    /// The waiting caller asked to be called back at `number`, keeping their place.
    CallbackRequest {
        call: u64,
        number: String,
    },
    /// How a callback attempt went.
    CallbackResult {
        call: u64,
        connected: bool,
    },
    /// The dialplan took the caller out (its exit key or max wait): counted as that exit.
    Exit {
        call: u64,
        reason: ExitReason,
    },
    /// Pause an agent with a reason code (HTTP API); the answer says if it took.
    Pause {
        agent: String,
        reason: String,
        reply: tokio::sync::oneshot::Sender<Result<(), AgentControlError>>,
    },
    /// The agent's device is on a call that is not a queue offer (their own internal call
    /// or consultation, a supervision call): busy for every queue until `Released`.
    Engaged {
        agent: String,
        kind: switchboard_acd::BusyKind,
    },
    /// `Engaged`, unless the agent is already on a call (ringing, reserved or busy): the
    /// answer says whether they were free. A transfer to a person asks this first.
    EngageIfFree {
        agent: String,
        kind: switchboard_acd::BusyKind,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    /// That non-queue call ended.
    Released {
        agent: String,
    },
    /// Unpause an agent (also cancels a pending pause).
    Unpause {
        agent: String,
        reply: tokio::sync::oneshot::Sender<Result<(), AgentControlError>>,
    },
    /// Move a waiting caller to another queue for good (a supervisor's transfer of a
    /// waiting call; counted and logged as `queue.overflow`). The reply says why not.
    MoveWaiting {
        call: u64,
        queue: String,
        reply: tokio::sync::oneshot::Sender<Result<(), String>>,
    },
    /// Queue login/logout, end of wrap-up, dispositions (`acd_actor/control.rs`).
    Agent(AgentCommand),
    /// Web callbacks: schedule, cancel, list (`acd_actor/web.rs`).
    WebCallback(WebCallbackCommand),
}

/// Why an agent control command did not take.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AgentControlError {
    /// The agent's phone is not registered (or unreachable).
    NotLoggedIn,
    /// Anything else the ACD refused, in words.
    Refused(String),
    /// No such agent.
    UnknownAgent,
    /// No such queue.
    UnknownQueue(String),
    /// The agent is not a configured member of this queue.
    NotMember(String),
    /// The agent has had no queue call yet (nothing to set a disposition on).
    NoCall,
    /// The code is not one of the queue's dispositions.
    UnknownDisposition {
        code: String,
        queue: String,
        allowed: Vec<String>,
    },
}

impl AgentControlError {
    fn from_acd(e: &switchboard_acd::AcdError) -> AgentControlError {
        match e {
            switchboard_acd::AcdError::NotLoggedIn(_) => AgentControlError::NotLoggedIn,
            other => AgentControlError::Refused(other.to_string()),
        }
    }
}

/// A callback the ACD wants placed now (its turn came and `agent` is reserved).
#[derive(Debug, Clone)]
pub(crate) struct CallbackJob {
    pub(crate) call: u64,
    pub(crate) queue: String,
    pub(crate) number: String,
    pub(crate) agent: String,
    pub(crate) agent_first: bool,
    pub(crate) attempt: u32,
    /// A caller's callback, or a web callback (always agent first).
    pub(crate) purpose: OriginatePurpose,
}

/// Names and ids of queues, agents, skills and tenants.
pub(crate) struct Directory {
    agents: Vec<String>,
    /// Queues, skills any agent has and tenants, interned (`queue_config::Names`).
    names: crate::queue_config::Names,
    /// The `tenant` of each queue that has one, by queue name.
    queue_tenants: HashMap<String, String>,
}

impl Directory {
    fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.names.queue(name)
    }
    fn queue_name(&self, id: QueueId) -> &str {
        self.names
            .queues
            .get(id.0 as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }
    fn queue_tenant(&self, id: QueueId) -> Option<&str> {
        self.queue_tenants
            .get(self.queue_name(id))
            .map(String::as_str)
    }
    fn agent_id(&self, name: &str) -> Option<AgentId> {
        self.agents
            .iter()
            .position(|a| a == name)
            .map(|i| AgentId(i as u32))
    }
    /// The ACD's requirement for skills by name (minimum proficiency 1; the queue's
    /// `skill_tiers` set higher ones). A skill no agent has is left out, since a call
    /// needing it could never be served, and said in the log with the queue's name.
    fn skill_reqs(&self, queue: &str, names: &[String]) -> Vec<SkillReq> {
        names
            .iter()
            .filter_map(|n| {
                let id = self.names.skill(n);
                if id.is_none() {
                    tracing::warn!(
                        skill = %n.chars().take(32).collect::<String>(),
                        queue,
                        "the dialplan asks for a skill no [[users]] entry has; requirement ignored"
                    );
                }
                id
            })
            .map(|skill| SkillReq { skill, min: 1 })
            .collect()
    }

    fn agent_name(&self, id: AgentId) -> &str {
        self.agents
            .get(id.0 as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }
}

pub(crate) struct AcdActor {
    acd: Acd,
    dir: Directory,
    epoch: Instant,
    calls: HashMap<u64, mpsc::Sender<QueueSignal>>,
    events: EventLog,
    rx: mpsc::UnboundedReceiver<AcdCommand>,
    callbacks: Option<mpsc::UnboundedSender<CallbackJob>>,
    /// What the wallboard API shows: queues and agents, refreshed after every change.
    board: Arc<RwLock<Value>>,
    /// Answers to control commands, sent once the live view shows their effect.
    replies: Vec<ControlReply>,
    /// Per-queue statistics, fed by the engine's outputs as they are drained.
    stats: Statistics,
    /// Where the statistics' windows fall in wall-clock time.
    calendar: StatsCalendar,
    /// Queue login/logout, wrap-up and dispositions (`acd_actor/control.rs`).
    control: control::ControlState,
    /// Time in state and the screen-pop data of each agent's call (the agent grid).
    desk: AgentDesk,
    /// Non-queue calls each agent is on (`Engaged` minus `Released`): the engine hears
    /// "busy" on the first and "idle" after the last.
    engaged: HashMap<AgentId, u32>,
    /// Pending web callbacks (their ACD entries are in `acd`).
    web: WebCallbackBook,
}

/// The engine's time when the actor starts. Not zero, so that entries restored from before
/// a restart (web callbacks) keep their first join time as an engine time, up to this far
/// back; the statistics' windows never begin before it (`StatsCalendar::starting_at`).
const CLOCK_ORIGIN: Duration = Duration::from_secs(400 * 86_400);

/// The longest the wallboard view goes without a refresh.
const BOARD_REFRESH: Duration = Duration::from_secs(1);

type ControlReply = (
    tokio::sync::oneshot::Sender<Result<(), AgentControlError>>,
    Result<(), AgentControlError>,
);

impl AcdActor {
    pub(crate) fn new(
        cfg: &Config,
        events: EventLog,
    ) -> anyhow::Result<(AcdActor, mpsc::UnboundedSender<AcdCommand>)> {
        let mut acd = Acd::new(AcdConfig {
            seed: rand::random(),
            rona_unpause_after: (cfg.acd.rona_unpause_after > 0)
                .then(|| Duration::from_secs(cfg.acd.rona_unpause_after)),
            ..AcdConfig::default()
        });
        let dir = Directory {
            agents: cfg.users.iter().map(|u| u.name.clone()).collect(),
            names: crate::queue_config::Names::new(&cfg.queues, &cfg.users),
            queue_tenants: cfg
                .queues
                .iter()
                .filter_map(|q| Some((q.name.clone(), q.tenant.clone()?)))
                .collect(),
        };
        let mut stats = Statistics::new();
        for q in &cfg.queues {
            let qc = q.to_core(&dir.names);
            let id = dir
                .queue_id(&q.name)
                .ok_or_else(|| anyhow::anyhow!("queue id"))?;
            stats.add_queue(
                id,
                StatsConfig {
                    service_level: qc.service_level,
                    short_abandon: Duration::from_secs(q.short_abandon),
                },
            );
            acd.add_queue(id, qc)
                .map_err(|e| anyhow::anyhow!("queue {}: {e}", q.name))?;
        }
        for u in &cfg.users {
            let queues: Vec<QueueId> = cfg
                .queues
                .iter()
                .filter(|q| q.members.contains(&u.name))
                .filter_map(|q| dir.queue_id(&q.name))
                .collect();
            let id = dir
                .agent_id(&u.name)
                .ok_or_else(|| anyhow::anyhow!("agent id"))?;
            stats.add_agent(id, &queues);
            let mut ac = AgentConfig::new(id, queues);
            ac.skills = u
                .skills
                .iter()
                .filter_map(|(name, p)| dir.names.skill(name).map(|s| (s, *p)))
                .collect();
            ac.tenants = u
                .tenants
                .iter()
                .filter_map(|t| dir.names.tenant(t))
                .collect();
            acd.add_agent(ac)
                .map_err(|e| anyhow::anyhow!("agent {}: {e}", u.name))?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mut actor = AcdActor {
            acd,
            dir,
            epoch: Instant::now(),
            calls: HashMap::new(),
            events,
            rx,
            callbacks: None,
            board: Arc::new(RwLock::new(Value::Null)),
            replies: Vec::new(),
            stats,
            calendar: StatsCalendar::new(
                chrono::Utc::now() - chrono::Duration::from_std(CLOCK_ORIGIN).unwrap_or_default(),
                cfg.acd.tz(),
                cfg.acd.stats_interval,
            )
            .starting_at(CLOCK_ORIGIN),
            control: control::ControlState::new(cfg),
            desk: AgentDesk::new(&cfg.tenants, CLOCK_ORIGIN),
            engaged: HashMap::new(),
            web: WebCallbackBook::new(cfg.acd.max_pending_callbacks),
        };
        // The board holds every configured queue and agent before the HTTP API can read it
        // (the actor's task may start after the API answers; a configured agent was a 404).
        let now = actor.now();
        actor.stats.roll(now, actor.calendar.windows(now));
        actor.refresh_board();
        Ok((actor, tx))
    }

    /// For tests: an actor on the embedded demo config, logging to a fresh SQLite store in
    /// a scratch directory named after `tag` (returned, for the caller to remove).
    #[cfg(test)]
    pub(crate) fn for_test(tag: &str) -> (AcdActor, Config, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("sb-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = crate::event_store::StoreLocation::Sqlite
            .open(&dir)
            .unwrap();
        let events = EventLog::start(store, Arc::new(crate::metrics::Metrics::default())).unwrap();
        let cfg = Config::load(None).unwrap();
        let (actor, _tx) = AcdActor::new(&cfg, events).unwrap();
        (actor, cfg, dir)
    }

    /// The live queue and agent view for the HTTP API (read-only outside the actor).
    pub(crate) fn board(&self) -> Arc<RwLock<Value>> {
        self.board.clone()
    }

    /// Where callbacks to place are sent.
    pub(crate) fn set_callbacks(&mut self, tx: mpsc::UnboundedSender<CallbackJob>) {
        self.callbacks = Some(tx);
    }

    /// The engine's time: [`CLOCK_ORIGIN`] plus the time since the actor started.
    fn now(&self) -> Duration {
        CLOCK_ORIGIN + self.epoch.elapsed()
    }

    pub(crate) async fn run(mut self) {
        let now = self.now();
        self.stats.roll(now, self.calendar.windows(now));
        self.refresh_board();
        loop {
            let next = self
                .acd
                .poll_timeout()
                .map(|d| self.epoch + d.saturating_sub(CLOCK_ORIGIN))
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))
                // The live figures (longest wait, occupancy) move with time alone, and a
                // new statistics interval starts on the clock: refresh at least every second.
                .min(Instant::now() + BOARD_REFRESH);
            tokio::select! {
                cmd = self.rx.recv() => match cmd {
                    Some(c) => self.handle(c),
                    None => return,
                },
                _ = tokio::time::sleep_until(next.into()) => {
                    let now = self.now();
                    self.acd.handle_timeout(now);
                }
            }
            self.drain();
            self.refresh_board();
            for (reply, r) in self.replies.drain(..) {
                let _ = reply.send(r);
            }
            self.control.send_replies();
        }
    }

    fn handle(&mut self, cmd: AcdCommand) {
        let now = self.now();
        let result = match cmd {
            AcdCommand::Join {
                call,
                queue,
                priority,
                caller,
                data,
                announce_every,
                skills,
                tenant,
                signals,
            } => {
                let Some(qid) = self.dir.queue_id(&queue) else {
                    let _ = signals.try_send(QueueSignal::Exit { reason: None });
                    return;
                };
                self.calls.insert(call, signals);
                self.desk
                    .joined(call, &queue, &caller, &data, tenant.as_deref());
                let mut j = Join::new(CallId(call), qid);
                j.priority = priority.clamp(0, 255) as u8;
                j.caller = Some(caller.into());
                j.data = data;
                j.announce_every = announce_every;
                j.skills = self.dir.skill_reqs(&queue, &skills);
                j.tenant = tenant.as_deref().and_then(|t| self.dir.names.tenant(t));
                self.acd.handle_join(now, j)
            }
            AcdCommand::Key { call, key } => self.acd.handle_key(now, CallId(call), key),
            AcdCommand::OfferAnswered { call, agent } => match self.dir.agent_id(&agent) {
                Some(a) => self.acd.handle_offer_answered(now, CallId(call), a),
                None => Ok(()),
            },
            AcdCommand::OfferFailed {
                call,
                agent,
                failure,
            } => match self.dir.agent_id(&agent) {
                Some(a) => self.acd.handle_offer_failed(now, CallId(call), a, failure),
                None => Ok(()),
            },
            AcdCommand::CallEnded { call } => {
                self.calls.remove(&call);
                self.desk.ended(call);
                self.acd.handle_call_ended(now, CallId(call))
            }
            AcdCommand::CallbackRequest { call, number } => {
                self.calls.remove(&call);
                self.acd
                    .handle_callback_request(now, CallId(call), number.into())
            }
            AcdCommand::Pause {
                agent,
                reason,
                reply,
            } => {
                let r = match self.dir.agent_id(&agent) {
                    Some(a) => self.acd.handle_pause(now, a, reason),
                    None => Ok(()),
                };
                let answer = r.as_ref().map(|_| ()).map_err(AgentControlError::from_acd);
                self.replies.push((reply, answer));
                r
            }
            AcdCommand::Unpause { agent, reply } => {
                let r = match self.dir.agent_id(&agent) {
                    Some(a) => self.acd.handle_unpause(now, a),
                    None => Ok(()),
                };
                let answer = r.as_ref().map(|_| ()).map_err(AgentControlError::from_acd);
                self.replies.push((reply, answer));
                r
            }
            AcdCommand::Agent(c) => {
                self.handle_agent_command(c);
                Ok(())
            }
            AcdCommand::Engaged { agent, kind } => match self.dir.agent_id(&agent) {
                Some(a) => self.engage(now, a, kind),
                None => Ok(()),
            },
            AcdCommand::EngageIfFree { agent, kind, reply } => {
                let (free, r) = self.engage_if_free(now, &agent, kind);
                let _ = reply.send(free);
                r
            }
            AcdCommand::Released { agent } => match self.dir.agent_id(&agent) {
                Some(a) => self.release(now, a),
                None => Ok(()),
            },
            AcdCommand::MoveWaiting { call, queue, reply } => {
                let moved = match self.dir.queue_id(&queue) {
                    None => Err(format!("no queue '{queue}'")),
                    Some(q) => self
                        .acd
                        .move_waiting(now, CallId(call), q)
                        .map_err(|e| match e {
                            switchboard_acd::AcdError::NotWaiting(_) => format!(
                                "the caller is not waiting in a queue other than '{queue}' \
                             (ringing an agent, or already there)"
                            ),
                            e => e.to_string(),
                        }),
                };
                let _ = reply.send(moved);
                Ok(())
            }
            AcdCommand::Exit { call, reason } => {
                self.calls.remove(&call);
                self.desk.ended(call);
                self.acd.handle_exit(now, CallId(call), reason)
            }
            AcdCommand::WebCallback(c) => {
                self.handle_web_callback(now, c);
                Ok(())
            }
            AcdCommand::CallbackResult { call, connected } => {
                self.web_callback_result(call, connected);
                let r = if connected {
                    switchboard_acd::CallbackResult::Connected
                } else {
                    switchboard_acd::CallbackResult::Failed
                };
                self.acd.handle_callback_result(now, CallId(call), r)
            }
            AcdCommand::Presence(ev) => match ev {
                LocationEvent::LoggedIn { user } => match self.dir.agent_id(&user) {
                    Some(a) => self.acd.handle_login(now, a),
                    None => Ok(()),
                },
                LocationEvent::LoggedOut { user, .. } => match self.dir.agent_id(&user) {
                    Some(a) => self.acd.handle_logout(now, a),
                    None => Ok(()),
                },
            },
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "ACD refused an input");
        }
    }

    fn send(&mut self, call: CallId, s: QueueSignal) {
        if let Some(tx) = self.calls.get(&call.0) {
            let _ = tx.try_send(s);
        }
    }

    fn drain(&mut self) {
        let now = self.now();
        self.stats.roll(now, self.calendar.windows(now));
        while let Some(out) = self.acd.poll_output() {
            // A web callback restored after a restart was offered when first scheduled.
            match &out {
                Output::Log(switchboard_acd::Event::Joined { call, .. })
                    if self.web.is_restored_join(call.0) =>
                {
                    self.stats.observe_restored(now, &out)
                }
                _ => self.stats.observe(now, &out),
            }
            match out {
                Output::Offer { call, agent, queue } => {
                    let name = self.dir.agent_name(agent).to_string();
                    self.events.append(
                        NewEvent::call(&call.0.to_string(), Event::QueueOffer {})
                            .queue(self.dir.queue_name(queue))
                            .agent(&name),
                    );
                    self.send(call, QueueSignal::Offer { agent: name });
                }
                Output::CancelOffer { call, agent } => {
                    let name = self.dir.agent_name(agent).to_string();
                    self.send(call, QueueSignal::CancelOffer { agent: name });
                }
                Output::Announce {
                    call,
                    queue,
                    position,
                    ewt_bound,
                    spoken,
                    due,
                } => {
                    self.events.append(
                        NewEvent::call(
                            &call.0.to_string(),
                            Event::QueueAnnounce {
                                position: position as u64,
                                ewt_bound_s: ewt_bound.map(|d| d.as_secs()),
                                spoken: spoken.to_string(),
                            },
                        )
                        .queue(self.dir.queue_name(queue)),
                    );
                    let due = self.epoch + due.saturating_sub(CLOCK_ORIGIN);
                    self.send(
                        call,
                        QueueSignal::Announce {
                            position,
                            spoken,
                            due,
                        },
                    );
                }
                Output::Exit {
                    call,
                    queue,
                    reason,
                } => {
                    if let Some(ev) = self.web.finish(call.0, CallbackOutcome::Failed, None) {
                        self.events.append(ev);
                    }
                    self.events.append(
                        NewEvent::call(&call.0.to_string(), core_events::queue_exit(&reason))
                            .queue(self.dir.queue_name(queue)),
                    );
                    self.send(
                        call,
                        QueueSignal::Exit {
                            reason: Some(reason),
                        },
                    );
                }
                Output::Overflow { call, from, to } => {
                    self.desk.moved(call.0, self.dir.queue_name(to));
                    self.events.append(
                        NewEvent::call(
                            &call.0.to_string(),
                            Event::QueueOverflow {
                                to: self.dir.queue_name(to).to_string(),
                            },
                        )
                        .queue(self.dir.queue_name(from)),
                    );
                }
                Output::Callback {
                    call,
                    queue,
                    number,
                    agent,
                    order,
                    attempt,
                } => {
                    let web = self.web.contains(call.0);
                    if web {
                        self.web.dialing(call.0, attempt);
                    }
                    let job = CallbackJob {
                        call: call.0,
                        queue: self.dir.queue_name(queue).to_string(),
                        number: number.as_str().to_string(),
                        agent: self.dir.agent_name(agent).to_string(),
                        // A web callback's customer is not waiting on a line: the agent
                        // is called first, so the customer never answers to silence.
                        agent_first: web
                            || matches!(order, switchboard_acd::CallbackOrder::AgentFirst),
                        attempt,
                        purpose: if web {
                            OriginatePurpose::WebCallback
                        } else {
                            OriginatePurpose::Callback
                        },
                    };
                    match &self.callbacks {
                        Some(tx) => {
                            let _ = tx.send(job);
                        }
                        None => {
                            let now = self.now();
                            let _ = self.acd.handle_callback_result(
                                now,
                                call,
                                switchboard_acd::CallbackResult::Failed,
                            );
                        }
                    }
                }
                Output::Log(ev) => self.log(ev),
            }
        }
    }

    fn log(&mut self, ev: switchboard_acd::Event) {
        use switchboard_acd::Event as E;
        if let E::Joined { call, .. } = &ev {
            if self.web.take_restored_join(call.0) {
                return;
            }
        }
        let e = match ev {
            E::Joined {
                call,
                queue,
                position,
                resumed,
            } => NewEvent::call(
                &call.0.to_string(),
                Event::QueueJoin {
                    position: position as u64,
                    resumed,
                },
            )
            .queue(self.dir.queue_name(queue))
            // The dialplan's tenant, else the queue's; later events of the call carry it
            // too (the event-log writer).
            .tenant(
                self.desk
                    .tenant_of(call.0)
                    .or_else(|| self.dir.queue_tenant(queue)),
            ),
            E::Predicted {
                call,
                queue,
                position,
                bound,
                waited,
            } => NewEvent::call(
                &call.0.to_string(),
                Event::QueuePrediction {
                    position: position as u64,
                    bound_s: bound.map(|b| b.as_secs_f64()),
                    waited_s: waited.as_secs_f64(),
                },
            )
            .queue(self.dir.queue_name(queue)),
            E::Waited {
                call,
                queue,
                waited,
                outcome,
            } => NewEvent::call(
                &call.0.to_string(),
                core_events::queue_waited(waited.as_secs_f64(), &outcome, |q| {
                    self.dir.queue_name(q).to_string()
                }),
            )
            .queue(self.dir.queue_name(queue)),
            E::AgentState { agent, state } => {
                self.note_agent_state(agent, &state);
                self.desk.state_changed(agent.0, self.now());
                NewEvent::system(core_events::agent_state(&state)).agent(self.dir.agent_name(agent))
            }
            E::RonaUnpaused { agent, after } => NewEvent::system(Event::AgentRonaUnpaused {
                after_s: after.as_secs(),
            })
            .agent(self.dir.agent_name(agent)),
            E::QueueMembership {
                agent,
                queue,
                active,
            } => NewEvent::system(if active {
                Event::AgentQueueLogin {}
            } else {
                Event::AgentQueueLogout {}
            })
            .agent(self.dir.agent_name(agent))
            .queue(self.dir.queue_name(queue)),
            E::Rona { agent, call } => NewEvent::call(&call.0.to_string(), Event::QueueRona {})
                .agent(self.dir.agent_name(agent)),
        };
        self.events.append(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_some_agent_has_become_requirements_and_unknown_ones_are_dropped() {
        let dir = Directory {
            agents: vec!["1001".into()],
            names: crate::queue_config::Names {
                queues: vec!["sales".into()],
                skills: vec!["ru".into(), "vip".into()],
                tenants: Vec::new(),
            },
            queue_tenants: HashMap::new(),
        };
        let reqs = dir.skill_reqs("sales", &["vip".into(), "client-acme".into()]);
        assert_eq!(
            reqs,
            vec![SkillReq {
                skill: switchboard_acd::SkillId(1),
                min: 1
            }]
        );
        assert!(dir.skill_reqs("sales", &[]).is_empty());
    }

    #[test]
    fn the_demo_agents_have_different_skills() {
        let cfg = Config::load(None).unwrap();
        let skills = |n: &str| {
            cfg.users
                .iter()
                .find(|u| u.name == n)
                .unwrap()
                .skills
                .clone()
        };
        assert!(skills("1004").contains_key("ru") && !skills("1001").contains_key("ru"));
        assert!(skills("1001").contains_key("vip"));
    }
}
