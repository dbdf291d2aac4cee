//! # queue_log mapping
//!
//! Lines are `epoch|callid|queuename|agent|EVENT|data1|data2|...` as Asterisk's `app_queue`
//! writes them: `epoch` is unix seconds, `callid` is our call id (decimal) or `NONE`,
//! `agent` is `SIP/<agent name>` (see [`AGENT_CHANNEL_PREFIX`]) or `NONE`. Times in data
//! fields are whole seconds, except `RINGNOANSWER`, which Asterisk writes in milliseconds.
//!
//! | event log                                  | queue_log                                                     |
//! |--------------------------------------------|---------------------------------------------------------------|
//! | `queue.join`                               | `ENTERQUEUE\|url\|callerid\|position` (url is always empty)    |
//! | `agent.ring_failed`, or `queue.rona` alone | `RINGNOANSWER\|ringtime_ms` (once per ring)                    |
//! | `call.bridge`                              | `CONNECT\|holdtime\|bridged_uniqueid\|ringtime`                |
//! | `call.end` after a bridge, caller hung up  | `COMPLETECALLER\|holdtime\|calltime\|origposition`             |
//! | `call.end` after a bridge, otherwise       | `COMPLETEAGENT\|holdtime\|calltime\|origposition`              |
//! | `call.transfer` (blind, to a queue)        | `BLINDTRANSFER\|to_queue\|queue\|holdtime\|calltime\|origposition` |
//! | `call.end` while queued or ringing         | `ABANDON\|position\|origposition\|waittime`                    |
//! | `queue.exit` `max_wait`, `queue.overflow`  | `EXITWITHTIMEOUT\|position\|origposition\|waittime`            |
//! | `queue.exit` `ExitKey`                     | `EXITWITHKEY\|key\|position\|origposition\|waittime`           |
//! | `queue.exit` `NoAgents` after joining      | `EXITEMPTY\|position\|origposition\|waittime`                  |
//! | `queue.exit` `NoAgents` / `QueueFull` at join | `JOINEMPTY\|` / `FULL\|`                                    |
//! | `agent.login` / `agent.logout`             | `AGENTLOGIN\|channel` / `AGENTLOGOFF\|channel\|logintime`      |
//! | `agent.state` entering / leaving `paused`  | `PAUSE\|reason` / `UNPAUSE\|` (queue `NONE`)                   |
//!
//! A blind transfer ends the first agent's part with `BLINDTRANSFER` (extension = target
//! queue, context = `queue`); the caller's new wait starts with `ENTERQUEUE` in that queue.
//! `CONNECT` is written when the agent answers (`call.bridge`), calltime runs from the end
//! of the agent whisper (`call.connected`) when there is one.
//!
//! An overflow is written the way Asterisk shows it when a queue timeout sends the caller on
//! to another queue: `EXITWITHTIMEOUT` in the old queue, then `ENTERQUEUE` in the new one.
//! `bridged_uniqueid` is `<call>-<agent>`: we have no Asterisk channel id for the agent leg.
//! `|`, CR and LF inside a value are replaced by `_` so a line always has its fields.

use std::collections::HashMap;

use anyhow::Context;

use super::{
    call_end, hangup_by, i64_of, str_of, whole_secs, AGENT_CHANNEL_PREFIX, TRANSFER_CONTEXT,
};
use crate::event_store::EventStore;
use crate::event_store::StoredEvent;
use switchboard_events::{AgentStateName, Event, QueueExitReason};

// ---------------------------------------------------------------------------------------
// Asterisk queue_log
// ---------------------------------------------------------------------------------------

/// A queue_log value: `|`, CR and LF would break the line's fields.
fn ql_value(s: &str) -> String {
    s.replace(['|', '\r', '\n'], "_")
}

fn ql_agent(agent: &str) -> String {
    if agent.is_empty() {
        "NONE".to_string()
    } else {
        format!("{AGENT_CHANNEL_PREFIX}{}", ql_value(agent))
    }
}

fn ql_name(s: &str) -> String {
    if s.is_empty() {
        "NONE".to_string()
    } else {
        ql_value(s)
    }
}

/// Queue state of one call while replaying the log.
#[derive(Debug, Default)]
struct QueuedCall {
    caller: String,
    queue: String,
    join_ms: i64,
    orig_position: i64,
    position: i64,
    in_queue: bool,
    /// The outstanding rings (several at once for a ring-all queue): agent, when it
    /// started, whether its failure was logged.
    ring: Vec<(String, i64, bool)>,
    bridged: Option<Bridged>,
    ended: bool,
}

/// The agent a call is bridged to, for the queue_log line that ends that part of the call.
#[derive(Debug)]
struct Bridged {
    agent: String,
    hold_s: i64,
    /// Talk starts at the bridge, or when the whisper ends (`call.connected`).
    talk_from_ms: i64,
}

impl QueuedCall {
    fn wait_s(&self, now_ms: i64) -> i64 {
        whole_secs(self.join_ms, now_ms)
    }
}

/// Writes queue_log lines for the events it is fed, in order.
struct QueueLogWriter {
    from_ms: Option<i64>,
    out: String,
    calls: HashMap<String, QueuedCall>,
    login_ms: HashMap<String, i64>,
    /// Agents currently paused, with the reason.
    paused: HashMap<String, String>,
}

impl QueueLogWriter {
    fn line(
        &mut self,
        ts_ms: i64,
        callid: &str,
        queue: &str,
        agent: &str,
        event: &str,
        data: &[String],
    ) {
        if self.from_ms.is_some_and(|f| ts_ms < f) {
            return;
        }
        let mut l = format!(
            "{}|{}|{}|{}|{}",
            ts_ms.div_euclid(1000),
            ql_name(callid),
            ql_name(queue),
            agent,
            event
        );
        if data.is_empty() {
            l.push('|');
        }
        for d in data {
            l.push('|');
            l.push_str(&ql_value(d));
        }
        l.push('\n');
        self.out.push_str(&l);
    }

    fn feed(&mut self, ev: &StoredEvent) {
        if ev.call.is_empty() {
            self.agent_event(ev);
        } else {
            self.call_event(ev);
        }
    }

    fn agent_event(&mut self, ev: &StoredEvent) {
        if ev.agent.is_empty() {
            return;
        }
        let chan = ql_agent(&ev.agent);
        match ev.kind.as_str() {
            "agent.login" => {
                self.login_ms.insert(ev.agent.clone(), ev.ts_ms);
                self.line(
                    ev.ts_ms,
                    "",
                    "",
                    &chan,
                    "AGENTLOGIN",
                    std::slice::from_ref(&chan),
                );
            }
            "agent.logout" => {
                let logged = self
                    .login_ms
                    .remove(&ev.agent)
                    .map(|t| whole_secs(t, ev.ts_ms))
                    .unwrap_or(0);
                self.paused.remove(&ev.agent);
                self.line(
                    ev.ts_ms,
                    "",
                    "",
                    &chan,
                    "AGENTLOGOFF",
                    &[chan.clone(), logged.to_string()],
                );
            }
            "agent.state" => {
                let Some(Event::AgentState {
                    state,
                    pause_reason,
                    ..
                }) = &ev.event
                else {
                    return;
                };
                if *state == AgentStateName::Paused {
                    let reason = pause_reason.clone().unwrap_or_default();
                    let was = self.paused.insert(ev.agent.clone(), reason.clone());
                    if was.as_deref() != Some(reason.as_str()) {
                        self.line(ev.ts_ms, "", "", &chan, "PAUSE", &[reason]);
                    }
                } else if self.paused.remove(&ev.agent).is_some()
                    && *state != AgentStateName::LoggedOut
                {
                    self.line(ev.ts_ms, "", "", &chan, "UNPAUSE", &[String::new()]);
                }
            }
            _ => {}
        }
    }

    fn call_event(&mut self, ev: &StoredEvent) {
        let id = ev.call.clone();
        let mut lines: Vec<(String, String, &'static str, Vec<String>)> = Vec::new();
        {
            let c = self.calls.entry(id.clone()).or_default();
            if c.ended {
                return;
            }
            let queue_of = |c: &QueuedCall| {
                if ev.queue.is_empty() {
                    c.queue.clone()
                } else {
                    ev.queue.clone()
                }
            };
            let position = |c: &QueuedCall| {
                vec![
                    c.position.to_string(),
                    c.orig_position.to_string(),
                    c.wait_s(ev.ts_ms).to_string(),
                ]
            };
            match ev.kind.as_str() {
                "call.start" => {
                    c.caller = str_of(&ev.data, "caller").unwrap_or_default().to_string();
                }
                "queue.join" => {
                    c.queue.clone_from(&ev.queue);
                    c.join_ms = ev.ts_ms;
                    c.position = i64_of(&ev.data, "position").unwrap_or(0);
                    c.orig_position = c.position;
                    c.in_queue = true;
                    let data = vec![String::new(), c.caller.clone(), c.position.to_string()];
                    lines.push((queue_of(c), "NONE".into(), "ENTERQUEUE", data));
                }
                "queue.announce" | "queue.prediction" => {
                    if let Some(p) = i64_of(&ev.data, "position") {
                        c.position = p;
                    }
                }
                "agent.ring" => {
                    // A new offer round (the previous rings have all ended) starts afresh.
                    if c.ring.iter().all(|r| r.2) {
                        c.ring.clear();
                    }
                    c.ring.retain(|r| r.0 != ev.agent);
                    c.ring.push((ev.agent.clone(), ev.ts_ms, false));
                }
                "agent.ring_failed" | "queue.rona" => {
                    let matches =
                        |r: &(String, i64, bool)| !r.2 && (ev.agent.is_empty() || r.0 == ev.agent);
                    let q = queue_of(c);
                    if let Some(r) = c.ring.iter_mut().find(|r| matches(r)) {
                        r.2 = true;
                        let agent = if ev.agent.is_empty() {
                            r.0.clone()
                        } else {
                            ev.agent.clone()
                        };
                        let ring_ms = ev.ts_ms.saturating_sub(r.1).max(0);
                        lines.push((
                            q,
                            ql_agent(&agent),
                            "RINGNOANSWER",
                            vec![ring_ms.to_string()],
                        ));
                    }
                }
                "call.bridge" => {
                    let hold = if c.in_queue { c.wait_s(ev.ts_ms) } else { 0 };
                    // The answering agent's ring (ring-all: one of several).
                    let answering = c
                        .ring
                        .iter()
                        .rev()
                        .find(|r| ev.agent.is_empty() || r.0 == ev.agent);
                    let ring = answering.map(|r| whole_secs(r.1, ev.ts_ms)).unwrap_or(0);
                    let agent = if ev.agent.is_empty() {
                        answering.map(|r| r.0.clone()).unwrap_or_default()
                    } else {
                        ev.agent.clone()
                    };
                    c.queue = queue_of(c);
                    c.in_queue = false;
                    c.ring.clear();
                    c.bridged = Some(Bridged {
                        agent: agent.clone(),
                        hold_s: hold,
                        talk_from_ms: ev.ts_ms,
                    });
                    let data = vec![hold.to_string(), format!("{id}-{agent}"), ring.to_string()];
                    lines.push((c.queue.clone(), ql_agent(&agent), "CONNECT", data));
                }
                "call.connected" => {
                    if let Some(b) = c.bridged.as_mut() {
                        b.talk_from_ms = ev.ts_ms;
                    }
                }
                "call.transfer" => {
                    // Asterisk: BLINDTRANSFER(extension|context|holdtime|calltime|origposition).
                    if let Some(b) = c.bridged.take() {
                        let to = str_of(&ev.data, "to_queue").unwrap_or_default().to_string();
                        let agent = if ev.agent.is_empty() {
                            b.agent
                        } else {
                            ev.agent.clone()
                        };
                        let data = vec![
                            to,
                            TRANSFER_CONTEXT.to_string(),
                            b.hold_s.to_string(),
                            whole_secs(b.talk_from_ms, ev.ts_ms).to_string(),
                            c.orig_position.to_string(),
                        ];
                        lines.push((queue_of(c), ql_agent(&agent), "BLINDTRANSFER", data));
                    }
                }
                "queue.exit" => {
                    let Some(Event::QueueExit { reason, key, .. }) = &ev.event else {
                        return;
                    };
                    let q = queue_of(c);
                    let was_in = c.in_queue;
                    c.in_queue = false;
                    match reason {
                        QueueExitReason::MaxWait if was_in => {
                            lines.push((q, "NONE".into(), "EXITWITHTIMEOUT", position(c)));
                        }
                        QueueExitReason::ExitKey if was_in => {
                            let mut data = vec![key.clone().unwrap_or_default()];
                            data.extend(position(c));
                            lines.push((q, "NONE".into(), "EXITWITHKEY", data));
                        }
                        QueueExitReason::NoAgents if was_in => {
                            lines.push((q, "NONE".into(), "EXITEMPTY", position(c)));
                        }
                        QueueExitReason::NoAgents => {
                            lines.push((q, "NONE".into(), "JOINEMPTY", Vec::new()));
                        }
                        QueueExitReason::QueueFull if !was_in => {
                            lines.push((q, "NONE".into(), "FULL", Vec::new()));
                        }
                        _ => {}
                    }
                }
                "queue.overflow" if c.in_queue => {
                    c.in_queue = false;
                    lines.push((queue_of(c), "NONE".into(), "EXITWITHTIMEOUT", position(c)));
                }
                "call.end" => {
                    c.ended = true;
                    if let Some(b) = c.bridged.take() {
                        let end = call_end(ev);
                        let talk = end
                            .and_then(|e| e.talk_s)
                            .filter(|t| t.is_finite())
                            .map(|t| t as i64)
                            .unwrap_or_else(|| whole_secs(b.talk_from_ms, ev.ts_ms));
                        let event = if hangup_by(end.map(|e| e.end_reason)) == "caller" {
                            "COMPLETECALLER"
                        } else {
                            "COMPLETEAGENT"
                        };
                        let agent = if ev.agent.is_empty() {
                            b.agent
                        } else {
                            ev.agent.clone()
                        };
                        let data = vec![
                            b.hold_s.to_string(),
                            talk.to_string(),
                            c.orig_position.to_string(),
                        ];
                        lines.push((queue_of(c), ql_agent(&agent), event, data));
                    } else if c.in_queue {
                        c.in_queue = false;
                        lines.push((queue_of(c), "NONE".into(), "ABANDON", position(c)));
                    }
                    // Keep only the marker: later bookkeeping for this call is ignored.
                    c.caller.clear();
                    c.ring.clear();
                }
                _ => {}
            }
        }
        for (queue, agent, event, data) in lines {
            self.line(ev.ts_ms, &id, &queue, &agent, event, &data);
        }
    }
}

/// The log as Asterisk `queue_log` lines (see the module docs for the mapping), for events
/// in `[from_ms, to_ms)` (unix ms; `None` = unbounded). State such as join times and logins
/// is rebuilt from the whole log before `to_ms`, so hold times are right at the window's edge.
pub(crate) fn export_queue_log(
    store: &mut dyn EventStore,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
) -> anyhow::Result<String> {
    let events = store
        .read_range(None, to_ms)
        .context("reading the event log")?;
    let mut w = QueueLogWriter {
        from_ms,
        out: String::new(),
        calls: HashMap::new(),
        login_ms: HashMap::new(),
        paused: HashMap::new(),
    };
    for ev in &events {
        w.feed(ev);
    }
    Ok(w.out)
}
