//! A report as one tenant may see it (`switchboard report … --tenant`, a tenant-scoped
//! token on `/api/v1/reports/*`): the rows of the tenant's queues (queues, ewt) or of the
//! agents serving it (agents). The ivr and trunks reports mix every tenant's calls, so a
//! tenant gets neither.

use super::{Cell, ReportKind, Table};
use crate::tenants::TenantScope;

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
        ReportKind::Queues | ReportKind::Agents | ReportKind::Ewt => Ok(()),
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
    let (column, sees): (&str, fn(&TenantScope, &str) -> bool) = match kind {
        ReportKind::Agents => ("agent", TenantScope::sees_agent),
        _ => ("queue", TenantScope::sees_queue),
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
