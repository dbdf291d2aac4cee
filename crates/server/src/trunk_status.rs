//! What the trunks are doing, for `GET /api/v1/trunks` and `/metrics`: one row per trunk,
//! written by the SIP driver (the owner of the trunks' state) after each change and read
//! by the HTTP API. The lock is held only to copy a row in or the rows out.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One trunk's status.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrunkRow {
    pub(crate) name: String,
    pub(crate) address: String,
    pub(crate) transport: &'static str,
    pub(crate) register: bool,
    /// `registered`, `registering`, `failed`, `unregistered`, `unregistering`; `none` for a
    /// trunk that does not register.
    pub(crate) registration: &'static str,
    pub(crate) last_status: Option<u16>,
    pub(crate) last_error: Option<String>,
    pub(crate) expires_at: Option<Instant>,
    pub(crate) registrations_ok: u64,
    pub(crate) registration_failures: u64,
    pub(crate) active_calls: u32,
    pub(crate) calls_placed: u64,
    pub(crate) failovers: u64,
    pub(crate) refused_max_calls: u64,
    pub(crate) refused_calls_per_second: u64,
}

/// The shared rows.
#[derive(Clone, Default)]
pub(crate) struct TrunkBoard(Arc<Mutex<Vec<TrunkRow>>>);

impl TrunkBoard {
    /// Replaces every row (at start).
    pub(crate) fn set_all(&self, rows: Vec<TrunkRow>) {
        if let Ok(mut g) = self.0.lock() {
            *g = rows;
        }
    }

    /// Changes row `i`.
    pub(crate) fn update(&self, i: usize, f: impl FnOnce(&mut TrunkRow)) {
        if let Ok(mut g) = self.0.lock() {
            if let Some(r) = g.get_mut(i) {
                f(r);
            }
        }
    }

    fn rows(&self) -> Vec<TrunkRow> {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The API's view (never the credentials).
    pub(crate) fn json(&self, now: Instant) -> Value {
        let rows: Vec<Value> = self
            .rows()
            .into_iter()
            .map(|r| {
                let expires_in = r
                    .expires_at
                    .map(|t| t.saturating_duration_since(now))
                    .filter(|d| *d > Duration::ZERO)
                    .map(|d| d.as_secs());
                json!({
                    "trunk": r.name,
                    "address": r.address,
                    "transport": r.transport,
                    "register": r.register,
                    "registration": r.registration,
                    "registered": r.registration == "registered",
                    "expires_in_s": expires_in,
                    "last_status": r.last_status,
                    "last_error": r.last_error,
                    "registrations_ok": r.registrations_ok,
                    "registration_failures": r.registration_failures,
                    "active_calls": r.active_calls,
                    "calls_placed": r.calls_placed,
                    "failovers": r.failovers,
                    "refused": {
                        "max_calls": r.refused_max_calls,
                        "calls_per_second": r.refused_calls_per_second,
                    },
                })
            })
            .collect();
        json!({ "trunks": rows })
    }

    /// Prometheus families, labelled by trunk.
    pub(crate) fn render(&self, out: &mut String) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let mut family = |name: &str, kind: &str, help: &str, v: &dyn Fn(&TrunkRow) -> String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for r in &rows {
                let _ = writeln!(out, "{name}{{trunk=\"{}\"}} {}", r.name, v(r));
            }
        };
        family(
            "switchboard_trunk_registered",
            "gauge",
            "1 while the trunk's registration with the carrier is current.",
            &|r| u8::from(r.registration == "registered").to_string(),
        );
        family(
            "switchboard_trunk_registration_failures_total",
            "counter",
            "Failed REGISTER attempts to the carrier.",
            &|r| r.registration_failures.to_string(),
        );
        family(
            "switchboard_trunk_active_calls",
            "gauge",
            "Outbound calls up through the trunk.",
            &|r| r.active_calls.to_string(),
        );
        family(
            "switchboard_trunk_calls_total",
            "counter",
            "Outbound calls sent to the trunk.",
            &|r| r.calls_placed.to_string(),
        );
        family(
            "switchboard_trunk_failovers_total",
            "counter",
            "Calls that failed on the trunk (408, 5xx) and were tried on the next.",
            &|r| r.failovers.to_string(),
        );
        let _ = writeln!(
            out,
            "# HELP switchboard_trunk_refused_total Calls the trunk did not take because of its max_calls or calls_per_second.\n# TYPE switchboard_trunk_refused_total counter"
        );
        for r in &rows {
            let _ = writeln!(
                out,
                "switchboard_trunk_refused_total{{trunk=\"{}\",reason=\"max_calls\"}} {}\nswitchboard_trunk_refused_total{{trunk=\"{}\",reason=\"calls_per_second\"}} {}",
                r.name, r.refused_max_calls, r.name, r.refused_calls_per_second
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_render_as_json_and_metrics() {
        let b = TrunkBoard::default();
        let now = Instant::now();
        b.set_all(vec![TrunkRow {
            name: "carrier-a".into(),
            registration: "registered",
            expires_at: Some(now + Duration::from_secs(30)),
            ..TrunkRow::default()
        }]);
        b.update(0, |r| r.refused_max_calls += 2);
        let j = b.json(now);
        assert_eq!(j["trunks"][0]["registered"], true);
        assert_eq!(j["trunks"][0]["expires_in_s"], 30);
        assert_eq!(j["trunks"][0]["refused"]["max_calls"], 2);
        let mut m = String::new();
        b.render(&mut m);
        assert!(m.contains("switchboard_trunk_registered{trunk=\"carrier-a\"} 1"));
        assert!(m.contains(
            "switchboard_trunk_refused_total{trunk=\"carrier-a\",reason=\"max_calls\"} 2"
        ));
    }
}
