//! A report [`Table`] as text: an aligned table for people, CSV (RFC 4180, as the
//! exports) or JSON. Figures are seconds or shares with three decimals; a figure with
//! nothing behind it is empty (table: `-`, JSON: `null`); times are ISO 8601 UTC.

use anyhow::bail;
use chrono::DateTime;
use serde_json::{json, Map, Value};

use super::{Cell, Table};

/// How a report is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Csv,
    Json,
}

impl Format {
    pub(crate) fn parse(s: &str) -> anyhow::Result<Format> {
        Ok(match s {
            "table" => Format::Table,
            "csv" => Format::Csv,
            "json" => Format::Json,
            _ => bail!("unknown format {s:?}: one of table, csv, json"),
        })
    }

    /// The HTTP content type.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Table => "text/plain; charset=utf-8",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

fn iso(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn text(c: &Cell, empty: &str) -> String {
    match c {
        Cell::Text(s) => s.clone(),
        Cell::Int(n) => n.to_string(),
        Cell::Num(Some(v)) => format!("{v:.3}"),
        Cell::Num(None) => empty.to_string(),
        Cell::Time(ms) => iso(*ms),
    }
}

fn value(c: &Cell) -> Value {
    match c {
        Cell::Text(s) => json!(s),
        Cell::Int(n) => json!(n),
        Cell::Num(Some(v)) if v.is_finite() => json!((v * 1000.0).round() / 1000.0),
        Cell::Num(_) => Value::Null,
        Cell::Time(ms) => json!(iso(*ms)),
    }
}

/// The table as JSON: `{"columns": [...], "rows": [{column: value}, ...]}`.
pub(crate) fn to_json(t: &Table) -> Value {
    let rows: Vec<Value> = t
        .rows
        .iter()
        .map(|r| {
            let m: Map<String, Value> = t
                .columns
                .iter()
                .zip(r)
                .map(|(c, v)| (c.to_string(), value(v)))
                .collect();
            Value::Object(m)
        })
        .collect();
    json!({ "columns": t.columns, "rows": rows })
}

/// The table in `format`.
pub(crate) fn render(t: &Table, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&to_json(t)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Csv => {
            let mut out = String::new();
            crate::export::csv_row(&mut out, &t.columns);
            for r in &t.rows {
                let cells: Vec<String> = r.iter().map(|c| text(c, "")).collect();
                crate::export::csv_row(&mut out, &cells);
            }
            out
        }
        Format::Table => {
            let cells: Vec<Vec<String>> = t
                .rows
                .iter()
                .map(|r| r.iter().map(|c| text(c, "-")).collect())
                .collect();
            let mut widths: Vec<usize> = t.columns.iter().map(|c| c.len()).collect();
            for r in &cells {
                for (w, c) in widths.iter_mut().zip(r) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let mut out = String::new();
            let mut line = |fields: &mut dyn Iterator<Item = &str>| {
                let mut l = String::new();
                for (i, (f, w)) in fields.zip(&widths).enumerate() {
                    if i > 0 {
                        l.push_str("  ");
                    }
                    l.push_str(f);
                    for _ in f.chars().count()..*w {
                        l.push(' ');
                    }
                }
                out.push_str(l.trim_end());
                out.push('\n');
            };
            line(&mut t.columns.iter().copied());
            for r in &cells {
                line(&mut r.iter().map(String::as_str));
            }
            if t.rows.is_empty() {
                out.push_str("(no rows)\n");
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table {
            columns: vec!["interval_start", "queue", "offered", "asa_s"],
            rows: vec![
                vec![
                    Cell::Time(1_795_428_000_000),
                    Cell::Text("sa,les".into()),
                    Cell::Int(3),
                    Cell::Num(Some(1.23456)),
                ],
                vec![
                    Cell::Time(1_795_429_800_000),
                    Cell::Text("x".into()),
                    Cell::Int(0),
                    Cell::Num(None),
                ],
            ],
        }
    }

    #[test]
    fn every_format_renders() {
        let t = table();
        assert_eq!(
            render(&t, Format::Csv),
            "interval_start,queue,offered,asa_s\r\n\
             2026-11-23T10:00:00Z,\"sa,les\",3,1.235\r\n\
             2026-11-23T10:30:00Z,x,0,\r\n"
        );
        let j = to_json(&t);
        assert_eq!(j["rows"][0]["asa_s"], json!(1.235));
        assert_eq!(j["rows"][1]["asa_s"], Value::Null);
        assert_eq!(j["rows"][0]["interval_start"], "2026-11-23T10:00:00Z");
        let text = render(&t, Format::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("interval_start        queue   offered  asa_s"));
        assert!(lines[2].ends_with("-"));
        assert!(Format::parse("xml").is_err());
    }
}
