//! docs/reports.md checked against the reports (tests only): each report's columns, as
//! the fold of an empty log names them, are the columns its section of the doc defines.

use super::test_events::{spec, Log, T0};
use super::ReportKind;

const DOC: &str = include_str!("../../../../docs/reports.md");

/// The text of the section `` ## `kind` `` up to the next `## ` heading.
fn section(kind: &str) -> &'static str {
    let head = format!("\n## `{kind}`");
    let start = DOC
        .find(&head)
        .unwrap_or_else(|| panic!("docs/reports.md has no section {head:?}"));
    let body = &DOC[start + head.len()..];
    &body[..body.find("\n## ").unwrap_or(body.len())]
}

/// The names in the first column of the section's tables.
fn table_names(section: &str) -> Vec<String> {
    section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .flat_map(|row| {
            let first = row.split(" | ").next().unwrap_or("");
            format!("`{first}")
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_report_column_is_defined_in_docs_reports_md_and_nothing_else() {
    let kinds = [
        (ReportKind::Queues, "queues"),
        (ReportKind::Agents, "agents"),
        (ReportKind::Ivr, "ivr"),
        (ReportKind::Trunks, "trunks"),
        (ReportKind::Ewt, "ewt"),
        (ReportKind::Campaigns, "campaigns"),
    ];
    let mut problems = Vec::new();
    for (kind, name) in kinds {
        let columns = Log::default()
            .report(kind, &spec(T0, T0 + 3_600_000, 1_800_000))
            .columns;
        let text = section(name);
        // The row keys (`interval_start`, `queue`, ...) are in the common rules.
        let common = &DOC[..DOC.find("\n## ").unwrap_or(DOC.len())];
        for c in &columns {
            let named = format!("`{c}`");
            if !text.contains(&named) && !common.contains(&named) {
                problems.push(format!("{name}: column {c} is not in its section"));
            }
        }
        for d in table_names(text) {
            if !columns.contains(&d.as_str()) {
                problems.push(format!(
                    "{name}: the doc defines {d}, the report has no such column"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
