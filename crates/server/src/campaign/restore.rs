//! Campaign state after a restart: the configured campaigns, those defined over the API
//! (`campaign.defined`), then every logged state change, dial and outcome replayed into
//! the core in log order. Calls that were in progress when the server stopped count as
//! `interrupted` and are tried again without using an attempt.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use switchboard_campaign::{Outcome, RowId, RunState};
use switchboard_events::Event;

use super::{log_result, CampaignDef, Runner, Source};
use crate::event_store::{EventStore, StoredEvent};

/// The campaign events in the store, oldest first (read before the event log starts).
pub(crate) fn logged_campaign_events(
    store: &mut dyn EventStore,
) -> anyhow::Result<Vec<StoredEvent>> {
    store.read_kind_prefix("campaign.")
}

impl Runner {
    /// Adds the configured campaigns, replays the log, then starts `autostart` ones that
    /// were never started.
    pub(super) fn load(&mut self, logged: Vec<StoredEvent>) -> anyhow::Result<()> {
        for def in self.ctx.cfg.campaigns.clone() {
            self.add(def, Source::Config)?;
        }
        let mut last_call: HashMap<(String, u32), u64> = HashMap::new();
        let mut replayed = 0usize;
        for row in logged {
            let at = DateTime::<Utc>::from_timestamp_millis(row.ts_ms).unwrap_or_default();
            match row.event {
                Some(Event::CampaignDefined {
                    campaign,
                    definition,
                    ..
                }) => {
                    if self.entries.contains_key(&campaign) {
                        continue;
                    }
                    let added = serde_json::from_value::<CampaignDef>(definition)
                        .map_err(anyhow::Error::from)
                        .and_then(|d| self.add(d, Source::Api));
                    if let Err(e) = added {
                        tracing::error!(%campaign, error = %format!("{e:#}"), "a campaign defined over the API no longer loads; skipped");
                    }
                }
                Some(Event::CampaignStateChanged {
                    campaign, state, ..
                }) => {
                    if let (Some(e), Some(s)) = (
                        self.entries.get_mut(&campaign),
                        RunState::parse(state.as_str()),
                    ) {
                        e.core.replay_state(s);
                    }
                }
                Some(Event::CampaignDial {
                    campaign,
                    row: r,
                    attempt,
                }) => {
                    if let Ok(call) = row.call.parse::<u64>() {
                        last_call.insert((campaign.clone(), r), call);
                    }
                    if let Some(e) = self.entries.get_mut(&campaign) {
                        e.core.replay_dial(RowId(r), attempt);
                        replayed += 1;
                    }
                }
                Some(Event::CampaignResult {
                    campaign,
                    row: r,
                    outcome,
                    next_at,
                    ..
                }) => {
                    let next = next_at
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&Utc));
                    if let (Some(e), Some(o)) = (
                        self.entries.get_mut(&campaign),
                        Outcome::parse(outcome.as_str()),
                    ) {
                        e.core.replay_result(RowId(r), o, at, next);
                    }
                }
                _ => {}
            }
        }
        let now = Utc::now();
        let names: Vec<String> = self.entries.keys().cloned().collect();
        for name in names {
            let Some(e) = self.entries.get_mut(&name) else {
                continue;
            };
            for r in e.core.interrupted() {
                let attempt = e.core.row_state(r).map_or(0, |s| s.attempts);
                let d = e.core.on_result(r, Outcome::Interrupted, now);
                let call = last_call.get(&(name.clone(), r.0)).copied().unwrap_or(0);
                log_result(
                    &self.ctx,
                    e.def.tenant.as_deref(),
                    call,
                    &name,
                    r,
                    attempt,
                    Outcome::Interrupted,
                    None,
                    d,
                );
            }
            let autostart = e.def.autostart && e.core.state() == RunState::Created;
            if autostart && e.core.start().is_ok() {
                let state = e.core.state();
                self.log_state(&name, state, None);
            }
        }
        if replayed > 0 {
            tracing::info!(
                campaigns = self.entries.len(),
                dials = replayed,
                "campaign state rebuilt from the event log"
            );
        }
        Ok(())
    }
}
