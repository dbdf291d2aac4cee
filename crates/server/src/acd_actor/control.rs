//! Agent control in the ACD actor beyond pause/unpause: logging in and out of queues, ending
//! wrap-up, and disposition codes on an agent's last call. The HTTP handlers
//! (`http_agents.rs`) send an [`AgentCommand`]; the actor applies it to the engine and
//! answers once the live view shows the effect.

use std::collections::HashMap;

use serde_json::{json, Value};
use switchboard_acd::{AcdError, AgentId, CallId, QueueId};
use tokio::sync::oneshot;

use super::{AcdActor, AgentControlError};
use crate::config::Config;
use crate::event_log::NewEvent;
use crate::queue_membership::QueueLogout;
use switchboard_events::Event;

/// The longest disposition note kept, in characters.
pub(crate) const MAX_NOTES_CHARS: usize = 500;

/// The answer to an [`AgentCommand`]: a JSON body for the API, or why it did not take.
pub(crate) type ControlAnswer = Result<Value, AgentControlError>;

/// Agent control commands from the HTTP API.
#[derive(Debug)]
pub(crate) enum AgentCommand {
    /// Log into these queues (`None`: every configured queue).
    LoginQueues {
        agent: String,
        queues: Option<Vec<String>>,
        reply: oneshot::Sender<ControlAnswer>,
    },
    /// Log out of these queues (`None`: all).
    LogoutQueues {
        agent: String,
        queues: Option<Vec<String>>,
        reply: oneshot::Sender<ControlAnswer>,
    },
    /// End the agent's wrap-up now.
    EndWrapUp {
        agent: String,
        reply: oneshot::Sender<ControlAnswer>,
    },
    /// Set a disposition code on the agent's last (or current) queue call.
    Disposition {
        agent: String,
        code: String,
        notes: String,
        by: String,
        reply: oneshot::Sender<ControlAnswer>,
    },
}

/// Checks a queue's `dispositions` list: words of letters, digits, `_` and `-`, unique.
pub(crate) fn check_dispositions(queue: &str, codes: &[String]) -> anyhow::Result<()> {
    for (i, c) in codes.iter().enumerate() {
        if c.is_empty()
            || c.len() > 64
            || !c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            anyhow::bail!(
                "queue {queue}: dispositions: {c:?} is not a code (1 to 64 letters, digits, _ and -)"
            );
        }
        if codes[..i].contains(c) {
            anyhow::bail!("queue {queue}: dispositions: {c:?} is listed twice");
        }
    }
    Ok(())
}

/// The actor's agent-control state.
pub(crate) struct ControlState {
    /// Each queue's disposition codes, by queue id.
    dispositions: Vec<Vec<String>>,
    /// Each agent's configured queues, by agent id.
    configured: Vec<Vec<QueueId>>,
    /// The queue call each agent was last connected to, and its queue.
    last_call: HashMap<AgentId, (CallId, QueueId)>,
    /// Answers to send once the live view is refreshed.
    replies: Vec<(oneshot::Sender<ControlAnswer>, ControlAnswer)>,
}

impl ControlState {
    pub(crate) fn new(cfg: &Config) -> ControlState {
        ControlState {
            dispositions: cfg.queues.iter().map(|q| q.dispositions.clone()).collect(),
            configured: cfg
                .users
                .iter()
                .map(|u| {
                    cfg.queues
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| q.members.contains(&u.name))
                        .map(|(i, _)| QueueId(i as u16))
                        .collect()
                })
                .collect(),
            last_call: HashMap::new(),
            replies: Vec::new(),
        }
    }

    /// Sends the answers held back until the live view showed their effect.
    pub(crate) fn send_replies(&mut self) {
        for (reply, answer) in self.replies.drain(..) {
            let _ = reply.send(answer);
        }
    }
}

impl AcdActor {
    /// Applies an agent command; the answer waits in `control.replies`.
    pub(super) fn handle_agent_command(&mut self, cmd: AgentCommand) {
        let now = self.now();
        let (reply, answer) = match cmd {
            AgentCommand::LoginQueues {
                agent,
                queues,
                reply,
            } => (reply, self.set_queues(now, &agent, queues, true)),
            AgentCommand::LogoutQueues {
                agent,
                queues,
                reply,
            } => (reply, self.set_queues(now, &agent, queues, false)),
            AgentCommand::EndWrapUp { agent, reply } => {
                let answer = match self.dir.agent_id(&agent) {
                    None => Err(AgentControlError::UnknownAgent),
                    Some(a) => match self.acd.handle_wrap_up_done(now, a) {
                        Ok(()) => Ok(json!({"agent": agent, "wrap_up": false})),
                        Err(AcdError::NotInWrapUp(_)) => Err(AgentControlError::Refused(
                            "the agent is not in wrap-up".into(),
                        )),
                        Err(e) => Err(AgentControlError::from_acd(&e)),
                    },
                };
                (reply, answer)
            }
            AgentCommand::Disposition {
                agent,
                code,
                notes,
                by,
                reply,
            } => (reply, self.set_disposition(&agent, code, notes, &by)),
        };
        self.control.replies.push((reply, answer));
    }

    fn set_queues(
        &mut self,
        now: std::time::Duration,
        agent: &str,
        queues: Option<Vec<String>>,
        login: bool,
    ) -> ControlAnswer {
        let a = self
            .dir
            .agent_id(agent)
            .ok_or(AgentControlError::UnknownAgent)?;
        let configured = self
            .control
            .configured
            .get(a.0 as usize)
            .cloned()
            .unwrap_or_default();
        // Check every name before changing anything: all or nothing.
        let ids: Vec<QueueId> = match queues {
            None => configured,
            Some(names) => {
                let mut ids = Vec::with_capacity(names.len());
                for n in names {
                    let q = self
                        .dir
                        .queue_id(&n)
                        .ok_or_else(|| AgentControlError::UnknownQueue(n.clone()))?;
                    if !configured.contains(&q) {
                        return Err(AgentControlError::NotMember(n));
                    }
                    ids.push(q);
                }
                ids
            }
        };
        for q in ids {
            let r = if login {
                self.acd.handle_queue_login(now, a, q)
            } else {
                self.acd.handle_queue_logout(now, a, q)
            };
            if let Err(e) = r {
                tracing::warn!(error = %e, "queue membership change refused");
            }
        }
        Ok(json!({"agent": agent, "queues": self.active_queue_names(a)}))
    }

    /// The queues an agent takes calls from now, by name.
    pub(super) fn active_queue_names(&self, agent: AgentId) -> Vec<String> {
        self.acd
            .agent_queues(agent)
            .unwrap_or_default()
            .into_iter()
            .map(|q| self.dir.queue_name(q).to_string())
            .collect()
    }

    fn set_disposition(
        &mut self,
        agent: &str,
        code: String,
        notes: String,
        by: &str,
    ) -> ControlAnswer {
        let a = self
            .dir
            .agent_id(agent)
            .ok_or(AgentControlError::UnknownAgent)?;
        let (call, queue) = *self
            .control
            .last_call
            .get(&a)
            .ok_or(AgentControlError::NoCall)?;
        let allowed = self
            .control
            .dispositions
            .get(queue.0 as usize)
            .cloned()
            .unwrap_or_default();
        let queue_name = self.dir.queue_name(queue).to_string();
        if !allowed.contains(&code) {
            return Err(AgentControlError::UnknownDisposition {
                code,
                queue: queue_name,
                allowed,
            });
        }
        self.events.append(
            NewEvent::call(
                &call.0.to_string(),
                Event::CallDisposition {
                    code: code.clone(),
                    notes: notes.clone(),
                    by: by.to_string(),
                },
            )
            .queue(&queue_name)
            .agent(agent),
        );
        Ok(json!({
            "agent": agent,
            "call": call.0.to_string(),
            "queue": queue_name,
            "code": code,
            "notes": notes,
        }))
    }

    /// Applies the queue logouts read back from the event log at start
    /// (`queue_membership.rs`), before the actor runs. They were logged when they were
    /// made, so the engine's membership outputs are not logged again. A pair that no
    /// longer fits the configuration (agent or queue removed, no longer a member) is
    /// skipped with a log line.
    pub(crate) fn restore_queue_logouts(&mut self, logouts: &[QueueLogout]) {
        let now = self.now();
        let mut restored = 0usize;
        for l in logouts {
            let (Some(a), Some(q)) = (self.dir.agent_id(&l.agent), self.dir.queue_id(&l.queue))
            else {
                tracing::info!(agent = %l.agent, queue = %l.queue,
                    "queue logout in the event log names an agent or queue no longer configured; skipped");
                continue;
            };
            match self.acd.handle_queue_logout(now, a, q) {
                Ok(()) => restored += 1,
                Err(e) => tracing::info!(agent = %l.agent, queue = %l.queue, error = %e,
                    "queue logout in the event log no longer applies; skipped"),
            }
        }
        while let Some(out) = self.acd.poll_output() {
            if !matches!(
                out,
                switchboard_acd::Output::Log(switchboard_acd::Event::QueueMembership { .. })
            ) {
                tracing::warn!(?out, "unexpected ACD output while restoring queue logouts");
            }
        }
        if restored > 0 {
            tracing::info!(restored, "queue logouts restored from the event log");
        }
    }

    /// Remembers the queue call an agent is connected to (for dispositions).
    pub(super) fn note_agent_state(&mut self, agent: AgentId, state: &switchboard_acd::AgentState) {
        if let switchboard_acd::AgentState::Busy {
            call: Some(call), ..
        } = state
        {
            if let Some(q) = self.acd.call_queue(*call) {
                self.control.last_call.insert(agent, (*call, q));
            }
        }
    }
}
