//! Reports derived from the event log (`<data-dir>/events.sqlite`) and only from it: call
//! detail records (CSV), an Asterisk-compatible `queue_log`, a recordings index (CSV), and a
//! consistency check of the per-call event sequences.
//!
//! Every function here reads and never writes, and is a pure function of the rows it reads:
//! no clock, no files besides the connection it is given. Unknown event kinds are skipped
//! and missing or mistyped JSON fields become empty cells, so older exporters keep working
//! as new kinds appear in the log.
//!
//! CSV follows RFC 4180: a header row, CRLF line ends, fields quoted when they hold a comma,
//! a double quote, CR or LF, with inner quotes doubled. Times are ISO 8601 in UTC with
//! milliseconds (`2026-11-23T10:00:00.000Z`); durations are seconds with three decimals.
//!
//! One file per concern: [`cdr`] (call detail records and the recordings index, both
//! folded from per-call summaries), [`queue_log`], [`check`], [`csv`] (RFC 4180 and
//! formula neutralisation); this file has the field access and time formatting they share
//! and the `--from`/`--to` parser.

mod cdr;
#[cfg(test)]
mod cdr_tests;
mod check;
mod csv;
mod queue_log;
#[cfg(test)]
mod queue_log_tests;
#[cfg(test)]
mod test_log;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use switchboard_events::{CallEnd, EndReason, Event};

use crate::event_store::StoredEvent;

pub(crate) use self::cdr::{export_cdr, recordings_index};
pub(crate) use self::check::check_call_sequences;
pub(crate) use self::csv::csv_row;
pub(crate) use self::queue_log::export_queue_log;

/// Prefix of the queue_log `agent` field: Asterisk writes the queue member's interface
/// there (`SIP/8007`, `PJSIP/516`), and report tools group agents by it.
pub(crate) const AGENT_CHANNEL_PREFIX: &str = "SIP/";

/// The `context` of a `BLINDTRANSFER` line: our transfers always go to a queue.
pub(super) const TRANSFER_CONTEXT: &str = "queue";

/// Kinds that may follow `call.end` (bookkeeping written by other tasks after the call is
/// gone: the ACD's `queue.waited`, a screen-pop webhook's last retry).
pub(super) const AFTER_END_PREFIXES: [&str; 2] = ["queue.", "screenpop."];

/// At most this many DTMF characters are kept per call in a CDR.
pub(super) const MAX_DTMF: usize = 128;

/// At most this many problems are reported per call by [`check_call_sequences`].
pub(super) const MAX_PROBLEMS_PER_CALL: usize = 8;

// ---------------------------------------------------------------------------------------
// Field access and formatting
// ---------------------------------------------------------------------------------------

pub(super) fn str_of<'a>(data: &'a Value, key: &str) -> Option<&'a str> {
    data.get(key).and_then(Value::as_str)
}

pub(super) fn i64_of(data: &Value, key: &str) -> Option<i64> {
    match data.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// ISO 8601 UTC with milliseconds; empty if out of chrono's range.
pub(super) fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

pub(super) fn iso_opt(ms: Option<i64>) -> String {
    ms.map(iso).unwrap_or_default()
}

pub(super) fn secs3(v: f64) -> String {
    format!("{v:.3}")
}

pub(super) fn ms_to_secs3(ms: i64) -> String {
    secs3(ms as f64 / 1000.0)
}

/// Whole seconds between two unix-ms instants (never negative), as Asterisk counts them.
pub(super) fn whole_secs(from_ms: i64, to_ms: i64) -> i64 {
    to_ms.saturating_sub(from_ms).max(0) / 1000
}

pub(super) fn in_window(ts: i64, from_ms: Option<i64>, to_ms: Option<i64>) -> bool {
    from_ms.is_none_or(|f| ts >= f) && to_ms.is_none_or(|t| ts < t)
}

/// Who ended the call, from the typed `call.end` reason.
pub(super) fn hangup_by(reason: Option<EndReason>) -> &'static str {
    match reason {
        None => "",
        Some(EndReason::CallerHangup | EndReason::CallerCancelled | EndReason::CustomerHangup) => {
            "caller"
        }
        Some(EndReason::AgentHangup) => "agent",
        Some(_) => "system",
    }
}

/// The typed `call.end` of a row, if it is one that fits the schema.
pub(super) fn call_end(ev: &StoredEvent) -> Option<&CallEnd> {
    match &ev.event {
        Some(Event::CallEnd(e)) => Some(e),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// --from / --to
// ---------------------------------------------------------------------------------------

/// Parses a `--from`/`--to` argument to unix milliseconds: RFC 3339
/// (`2026-11-23T10:00:00Z`, `2026-11-23T10:00:00.5+03:00`), a date (`2026-11-23`, midnight
/// UTC) or whole unix seconds (`1795428000`). A time without an offset is refused rather
/// than guessed.
pub(crate) fn parse_time_arg(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let secs: i64 = s
            .parse()
            .with_context(|| format!("unix seconds out of range: {s}"))?;
        return secs
            .checked_mul(1000)
            .with_context(|| format!("unix seconds out of range: {s}"));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    bail!(
        "cannot read time {s:?}: use RFC 3339 with an offset (2026-11-23T10:00:00Z), \
         a date (2026-11-23, midnight UTC) or unix seconds"
    )
}

#[cfg(test)]
mod tests {
    use super::test_log::T0;
    use super::*;

    #[test]
    fn times_are_iso_8601_utc_with_millis() {
        assert_eq!(iso(T0), "2026-11-23T10:00:00.000Z");
        assert_eq!(iso(T0 + 1_234), "2026-11-23T10:00:01.234Z");
        assert_eq!(iso(i64::MAX), "");
    }

    #[test]
    fn time_arguments_parse_in_every_accepted_form() {
        assert_eq!(parse_time_arg("2026-11-23T10:00:00Z").unwrap(), T0);
        assert_eq!(parse_time_arg("2026-11-23T13:00:00+03:00").unwrap(), T0);
        assert_eq!(
            parse_time_arg("2026-11-23T10:00:00.250Z").unwrap(),
            T0 + 250
        );
        assert_eq!(parse_time_arg("2026-11-23").unwrap(), T0 - 10 * 3_600_000);
        assert_eq!(parse_time_arg("1795428000").unwrap(), T0);
        assert_eq!(parse_time_arg(" 0 ").unwrap(), 0);
        for bad in [
            "",
            "yesterday",
            "2026-11-23T10:00:00",
            "2026-13-01",
            "99999999999999999999",
            "9223372036854775807",
            "12a",
        ] {
            assert!(parse_time_arg(bad).is_err(), "{bad:?} accepted");
        }
    }
}
