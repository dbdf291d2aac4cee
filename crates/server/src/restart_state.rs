//! What the event log gives back at start: the ACD state that outlives a restart. Read once,
//! before the event-log writer starts, and handed to the ACD actor before any call or API
//! request reaches it. It holds no state of its own and writes nothing.

use anyhow::Context;

use crate::event_store::EventStore;
use crate::queue_membership::QueueLogout;
use crate::web_callbacks::WebCallback;

/// The ACD state rebuilt from the event log.
#[derive(Debug, Default)]
pub(crate) struct RestartState {
    /// Web callbacks still pending, in their original order (`web_callbacks.rs`).
    pub(crate) callbacks: Vec<WebCallback>,
    /// Agents logged out of queues over the API (`queue_membership.rs`).
    pub(crate) queue_logouts: Vec<QueueLogout>,
}

impl RestartState {
    pub(crate) fn read(store: &mut dyn EventStore) -> anyhow::Result<RestartState> {
        Ok(RestartState {
            // docs/decisions/0016-web-callbacks-in-the-event-log.md
            callbacks: crate::web_callbacks::pending_in_log(store)
                .context("reading pending web callbacks from the event store")?,
            queue_logouts: crate::queue_membership::logged_out_in_log(store)
                .context("reading queue memberships from the event store")?,
        })
    }
}
