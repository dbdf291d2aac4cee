//! Reading the server's CSV exports (CDR, queue_log) in the report tests: rows as maps by
//! header, the time of day of a CDR timestamp, and JSON numbers that must be numbers.
//! Used by queue_stats.rs, reports_e2e.rs and simulate.rs, which count calls from the CDR
//! and compare with the reports.

use std::collections::HashMap;

use serde_json::Value;

/// Rows of a CSV with a header, as maps; fields may be quoted with `"` (doubled inside).
pub fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    fn fields(line: &str) -> Vec<String> {
        let (mut out, mut cur, mut quoted) = (Vec::new(), String::new(), false);
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                ('"', _) => quoted = !quoted,
                (',', false) => out.push(std::mem::take(&mut cur)),
                (c, _) => cur.push(c),
            }
        }
        out.push(cur);
        out
    }
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap_or(""));
    lines
        .filter(|l| !l.is_empty())
        .map(|l| header.iter().cloned().zip(fields(l)).collect())
        .collect()
}

/// Seconds since midnight UTC of a CDR timestamp (`2026-01-05T12:00:00.123Z`); calls in
/// these tests last seconds, and one crossing midnight is put right by the caller.
pub fn time_of_day(iso: &str) -> f64 {
    let t = iso
        .split_once('T')
        .map(|(_, t)| t.trim_end_matches('Z'))
        .unwrap_or_else(|| panic!("a CDR timestamp: {iso:?}"));
    t.split(':')
        .map(|p| p.parse::<f64>().unwrap_or_else(|_| panic!("{iso:?}")))
        .fold(0.0, |acc, p| acc * 60.0 + p)
}

/// A JSON value that must be a number.
pub fn number(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("expected a number, got {v}"))
}
