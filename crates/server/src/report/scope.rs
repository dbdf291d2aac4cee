//! A report as one tenant may see it (`switchboard report … --tenant`, a tenant-scoped
//! token on `/api/v1/reports/*`): computed from the tenant's events only ([`TenantEvents`]:
//! the rows tagged with its tenant, docs/events.md "Envelope: `tenant`"), then limited to the
//! rows of its queues and of the queues shared between tenants (queues, ewt: a shared
//! queue's row counts only this tenant's calls) or of the agents serving it (agents), or
//! of its campaigns (campaigns: a campaign's events carry its `tenant`, so the tenant's
//! events hold its campaigns' calls and no other). The ivr and trunks reports mix every
//! tenant's calls, so a tenant gets neither.

use std::collections::HashSet;

use super::{Cell, ReportKind, Table};
use crate::event_store::StoredEvent;
use crate::tenants::TenantScope;

/// Which stored events a tenant's report is computed from, fed in store order: events
/// tagged with the tenant; untagged events of a call already seen tagged or, for rows
/// without a tenant (untenanted calls, logs from before the column), in one of its queues;
/// every event outside a call (agents' states: an agent row is its agent's whole day) and
/// every `call.start` (it only names the caller, for the repeat-call proxy, and is logged
/// before the dialplan chooses the tenant). Another tenant's call is never counted, even in
/// a queue this tenant owns or shares.
pub(crate) struct TenantEvents<'a> {
    scope: &'a TenantScope,
    calls: HashSet<String>,
}

impl<'a> TenantEvents<'a> {
    pub(crate) fn new(scope: &'a TenantScope) -> TenantEvents<'a> {
        TenantEvents {
            scope,
            calls: HashSet::new(),
        }
    }

    pub(crate) fn admits(&mut self, ev: &StoredEvent) -> bool {
        if ev.call.is_empty() || ev.kind == "call.start" {
            return true;
        }
        if !ev.tenant.is_empty() {
            let own = ev.tenant == self.scope.tenant;
            if own && !self.calls.contains(&ev.call) {
                self.calls.insert(ev.call.clone());
            }
            return own;
        }
        if self.calls.contains(&ev.call) {
            return true;
        }
        let ours = !ev.queue.is_empty() && self.scope.sees_queue(&ev.queue);
        if ours {
            self.calls.insert(ev.call.clone());
        }
        ours
    }
}

/// Why a report is not given to a tenant.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NotForTenant(pub(crate) ReportKind);

impl std::fmt::Display for NotForTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            ReportKind::Ivr => "ivr",
            ReportKind::Trunks => "trunks",
            ReportKind::Queues => "queues",
            ReportKind::Agents => "agents",
            ReportKind::Ewt => "ewt",
            ReportKind::Campaigns => "campaigns",
        };
        write!(
            f,
            "the {name} report mixes every tenant's calls: not available for one tenant"
        )
    }
}

impl std::error::Error for NotForTenant {}

/// Checked before the report runs: whether `kind` can be scoped to a tenant at all.
pub(crate) fn check(kind: ReportKind) -> Result<(), NotForTenant> {
    match kind {
        ReportKind::Queues | ReportKind::Agents | ReportKind::Ewt | ReportKind::Campaigns => Ok(()),
        ReportKind::Ivr | ReportKind::Trunks => Err(NotForTenant(kind)),
    }
}

/// `table` limited to the rows `scope` may see.
pub(crate) fn scoped(
    kind: ReportKind,
    mut table: Table,
    scope: &TenantScope,
) -> Result<Table, NotForTenant> {
    check(kind)?;
    if kind == ReportKind::Campaigns {
        // Computed from the tenant's events only: its own campaigns' rows.
        return Ok(table);
    }
    let (column, sees): (&str, fn(&TenantScope, &str) -> bool) = match kind {
        ReportKind::Agents => ("agent", TenantScope::sees_agent),
        _ => ("queue", |s, q| s.sees_queue(q) || s.is_shared_queue(q)),
    };
    let Some(i) = table.columns.iter().position(|c| *c == column) else {
        table.rows.clear();
        return Ok(table);
    };
    table
        .rows
        .retain(|r| matches!(r.get(i), Some(Cell::Text(n)) if sees(scope, n)));
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(column: &'static str, names: &[&str]) -> Table {
        Table {
            columns: vec!["interval_start", column, "calls"],
            rows: names
                .iter()
                .map(|n| vec![Cell::Time(0), Cell::Text(n.to_string()), Cell::Int(1)])
                .collect(),
        }
    }

    #[test]
    fn a_tenant_s_report_counts_its_calls_only_in_its_and_shared_queues() {
        use serde_json::json;
        let s = TenantScope::for_test("acme", &["acme-sales"], &["1001"]).with_shared(&["general"]);
        let ev = |call: &str, queue: &str, tenant: &str, kind: &str| {
            let data = match kind {
                "call.start" => json!({"caller": "+74951234567", "dnis": "1"}),
                "queue.join" => json!({"position": 1, "resumed": false}),
                _ => json!({}),
            };
            StoredEvent::new(
                1,
                1,
                call.into(),
                1,
                queue.into(),
                String::new(),
                kind.into(),
                data,
            )
            .with_tenant(tenant.into())
        };
        let mut f = TenantEvents::new(&s);
        let admitted: Vec<bool> = [
            ev("c1", "", "", "call.start"),
            ev("c1", "general", "acme", "queue.join"),
            ev("c1", "general", "", "queue.waited"),
            ev("c2", "general", "globex", "queue.join"),
            ev("c3", "acme-sales", "globex", "queue.join"),
            ev("c4", "acme-sales", "", "queue.join"),
            ev("c4", "", "", "call.end"),
            ev("c5", "general", "", "queue.join"),
            ev("", "", "", "agent.login"),
        ]
        .iter()
        .map(|e| f.admits(e))
        .collect();
        // acme's call in the shared queue (and its later untagged row), an untagged call in
        // acme's queue (an old log), events outside calls; not globex's calls, even in
        // acme's queue, nor an untagged call in the shared queue.
        assert_eq!(
            admitted,
            [true, true, true, false, false, true, true, false, true]
        );
        let q = scoped(
            ReportKind::Queues,
            table("queue", &["acme-sales", "general", "globex-sales"]),
            &s,
        )
        .unwrap();
        assert_eq!(q.rows.len(), 2, "acme's and the shared queue's rows");
    }

    #[test]
    fn a_tenant_s_campaigns_report_holds_its_campaigns_calls_only() {
        let s = TenantScope::for_test("acme", &["acme-sales"], &["1001"]);
        let ev = |call: &str, tenant: &str, kind: &str| {
            StoredEvent::new(
                1,
                1,
                call.into(),
                1,
                String::new(),
                String::new(),
                kind.into(),
                serde_json::json!({"campaign": "x", "row": 0, "attempt": 1}),
            )
            .with_tenant(tenant.into())
        };
        let mut f = TenantEvents::new(&s);
        let admitted: Vec<bool> = [
            ev("c1", "acme", "campaign.dial"),
            ev("c1", "", "campaign.result"),
            ev("c2", "globex", "campaign.dial"),
            ev("c2", "globex", "campaign.result"),
            ev("c3", "", "campaign.dial"),
            ev("c3", "", "campaign.result"),
        ]
        .iter()
        .map(|e| f.admits(e))
        .collect();
        // acme's campaign call (and its later untagged row); neither globex's nor a
        // campaign of no tenant.
        assert_eq!(admitted, [true, true, false, false, false, false]);
        let t = scoped(
            ReportKind::Campaigns,
            table("campaign", &["acme-offers"]),
            &s,
        )
        .unwrap();
        assert_eq!(t.rows.len(), 1);
    }

    #[test]
    fn a_tenant_gets_its_queues_and_agents_rows_only() {
        let s = TenantScope::for_test("acme", &["acme-sales"], &["1001"]);
        let names = |t: &Table| -> Vec<Cell> { t.rows.iter().map(|r| r[1].clone()).collect() };
        let q = scoped(
            ReportKind::Queues,
            table("queue", &["acme-sales", "globex-sales", "acme-sales"]),
            &s,
        )
        .unwrap();
        assert_eq!(names(&q), vec![Cell::Text("acme-sales".into()); 2]);
        let e = scoped(ReportKind::Ewt, table("queue", &["globex-sales"]), &s).unwrap();
        assert!(e.rows.is_empty());
        let a = scoped(ReportKind::Agents, table("agent", &["1001", "2001"]), &s).unwrap();
        assert_eq!(names(&a), vec![Cell::Text("1001".into())]);
        for kind in [ReportKind::Ivr, ReportKind::Trunks] {
            assert_eq!(
                scoped(kind, table("queue", &["acme-sales"]), &s).unwrap_err(),
                NotForTenant(kind)
            );
        }
    }
}
