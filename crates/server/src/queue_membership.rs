//! Queue memberships changed over the API, read back from the event log at start.
//!
//! An agent logs in and out of its configured queues with `POST /api/v1/agents/{user}/login`
//! and `.../logout` (`acd_actor/control.rs`); each change is an `agent.queue_login` or
//! `agent.queue_logout` event. The ACD engine keeps the membership in memory only, so at
//! start the server reads those events (`EventStore::read_kind_prefix`, both backends) and
//! the last one for each agent and queue decides: a queue whose last event is a logout
//! stays logged out after the restart. This module only reads the log; the ACD actor
//! applies the result (`AcdActor::restore_queue_logouts`).

use std::collections::BTreeMap;

use switchboard_events::Event;

use crate::event_store::EventStore;

/// An agent logged out of a queue, by name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct QueueLogout {
    pub(crate) agent: String,
    pub(crate) queue: String,
}

/// The (agent, queue) pairs whose last membership event in the log is a logout, sorted.
pub(crate) fn logged_out_in_log(store: &mut dyn EventStore) -> anyhow::Result<Vec<QueueLogout>> {
    let mut last: BTreeMap<QueueLogout, bool> = BTreeMap::new();
    for row in store.read_kind_prefix("agent.queue_")? {
        let active = match row.event {
            Some(Event::AgentQueueLogin {}) => true,
            Some(Event::AgentQueueLogout {}) => false,
            _ => continue,
        };
        if row.agent.is_empty() || row.queue.is_empty() {
            continue;
        }
        last.insert(
            QueueLogout {
                agent: row.agent,
                queue: row.queue,
            },
            active,
        );
    }
    Ok(last
        .into_iter()
        .filter(|(_, active)| !active)
        .map(|(k, _)| k)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_store::{Row, SqliteStore};

    fn row(agent: &str, queue: &str, event: Event) -> Row {
        Row {
            ts_ms: 1,
            call: String::new(),
            call_seq: 0,
            queue: queue.into(),
            agent: agent.into(),
            tenant: String::new(),
            kind: event.kind().into(),
            data: event.data().to_string(),
            schema: switchboard_events::SCHEMA_VERSION,
        }
    }

    #[test]
    fn the_last_membership_event_of_each_agent_and_queue_decides() {
        let dir = std::env::temp_dir().join(format!("sb-qm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut store = SqliteStore::open(&dir.join("e.sqlite")).unwrap();
        store
            .append_batch(&[
                row("1001", "sales", Event::AgentQueueLogout {}),
                row("1001", "support", Event::AgentQueueLogout {}),
                row("1002", "sales", Event::AgentQueueLogout {}),
                row("1001", "sales", Event::AgentQueueLogin {}),
                row("1002", "sales", Event::AgentQueueLogin {}),
                row("1002", "sales", Event::AgentQueueLogout {}),
                row("1003", "sales", Event::AgentLogin {}),
            ])
            .unwrap();
        let off = logged_out_in_log(&mut store).unwrap();
        let pairs: Vec<(&str, &str)> = off
            .iter()
            .map(|l| (l.agent.as_str(), l.queue.as_str()))
            .collect();
        assert_eq!(pairs, vec![("1001", "support"), ("1002", "sales")]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
