//! The call's tenant (client, from the dialplan's `entry … tenant` or `tenant`) as the call
//! task uses it: its own prompts override the shared ones (`[[tenants]] prompts_dir`,
//! loaded under `@<tenant>/` at start); its recordings go to its directory (`recorder.rs`);
//! its events carry it (`event_log.rs`).

use switchboard_media::Prompt;

use super::CallTask;

/// The cache key of a tenant's own prompt `key` (`<lang>/<name>` or `<name>`).
pub(crate) fn tenant_prompt_key(tenant: &str, key: &str) -> String {
    format!("@{tenant}/{key}")
}

/// The tenant of the dialplan entry an inbound call to `dnis` from `caller` enters, when
/// that entry names one (`entry to "8800…" tenant "acme"`): the dialled number is the
/// DNIS → tenant map, known before the call is answered, so `call.start` and
/// `call.answer` carry it. A tenant set later by a block's `tenant` statement is not
/// known yet; the call's events from then on carry it (and reports take a call's earlier
/// events by call id, docs/events.md).
pub(super) fn entry_tenant(
    dialplans: &std::sync::RwLock<Option<std::sync::Arc<switchboard_ivr::Program>>>,
    dnis: &str,
    caller: &str,
) -> Option<String> {
    let program = dialplans.read().ok()?.clone()?;
    let route = program.route(dnis, caller)?;
    program
        .dialplans
        .get(route.dialplan)?
        .entries
        .get(route.entry)?
        .tenant
        .clone()
}

impl CallTask {
    /// The call's tenant: the queue request's when queued, else what the IVR set.
    pub(super) fn tenant_name(&self) -> Option<&str> {
        self.queue_req
            .as_ref()
            .and_then(|r| r.attrs.tenant.as_deref())
            .or(self.ivr.attrs().tenant.as_deref())
    }

    /// The tenant the call's events carry (the envelope's `tenant`, docs/events.md): the
    /// dialplan's, else that of the queue the call is in or was last in, when it has one.
    pub(super) fn event_tenant(&self) -> Option<&str> {
        self.tenant_name().or_else(|| {
            self.queue_req
                .as_ref()
                .and_then(|r| self.ctx.queue_config(&r.queue))
                .and_then(|q| q.tenant.as_deref())
        })
    }

    /// The prompt `key`: the call's tenant's own when it has one, else the shared one.
    pub(super) fn prompt(&self, key: &str) -> Option<Prompt> {
        self.tenant_name()
            .and_then(|t| self.ctx.prompts.get(&tenant_prompt_key(t, key)))
            .or_else(|| self.ctx.prompts.get(key))
    }
}
