//! What the HTTP API reads from the running server: the SIP transport's counters, the
//! location table, the process metrics and the ACD actor's live view, and the texts made
//! from them (the Prometheus exposition, the registrations list). `run` builds it; the
//! API only reads it.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};
use switchboard_transport::SipTransport;

/// State shared with the HTTP API (read-mostly, no locks held across awaits).
pub(crate) struct Shared {
    pub(crate) transport: SipTransport,
    pub(crate) location: switchboard_registrar::LocationTable,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// The ACD actor's live view of queues and agents.
    pub(crate) board: Arc<std::sync::RwLock<Value>>,
}

impl Shared {
    pub(crate) fn metrics_text(&self) -> String {
        let st = self.transport.stats();
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, v: u64| {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            ));
        };
        counter(
            "switchboard_sip_udp_datagrams_total",
            "SIP datagrams received.",
            st.udp_in.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_udp_malformed_total",
            "SIP datagrams that failed to parse.",
            st.udp_malformed.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_udp_dropped_total",
            "SIP datagrams dropped on a full inbound queue (or their source's share of it).",
            st.udp_dropped.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_udp_share_dropped_total",
            "SIP datagrams dropped unparsed because their source held its share of the queue.",
            st.udp_share_dropped.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_udp_reserve_dropped_total",
            "SIP datagrams dropped unparsed from unknown sources: only the reserve for registered phones and trunks was left in the queue.",
            st.udp_reserve_dropped.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tcp_connections_total",
            "SIP TCP connections opened or accepted.",
            st.tcp_connections.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tcp_framing_errors_total",
            "SIP TCP connections closed for framing errors.",
            st.tcp_framing_errors.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tcp_refused_per_source_total",
            "SIP TCP connections closed at accept: the source had limits.tcp_connections_per_source.",
            st.tcp_refused_per_source.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tcp_refused_total",
            "SIP TCP connections closed at accept: the global TCP connection cap was reached.",
            st.tcp_refused_global.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tcp_message_timeouts_total",
            "SIP TCP connections closed: a message did not complete within limits.tcp_message_timeout.",
            st.tcp_message_timeouts.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tcp_idle_closed_total",
            "SIP TCP connections closed by sip.tcp_idle_timeout.",
            st.tcp_idle_closed.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tls_handshakes_total",
            "SIP TLS handshakes completed (inbound and outbound).",
            st.tls_handshakes.load(Ordering::Relaxed),
        );
        counter(
            "switchboard_sip_tls_handshake_failures_total",
            "SIP TLS handshakes that failed or did not finish within limits.tcp_message_timeout.",
            st.tls_handshake_failures.load(Ordering::Relaxed),
        );
        out.push_str(&format!(
            "# HELP switchboard_sip_tcp_connections_open SIP TCP connections open now.\n\
             # TYPE switchboard_sip_tcp_connections_open gauge\n\
             switchboard_sip_tcp_connections_open {}\n",
            st.tcp_open.load(Ordering::Relaxed)
        ));
        out.push_str(&format!(
            "# HELP switchboard_sip_inbound_queued SIP messages waiting in the inbound queue (served round-robin per source).\n\
             # TYPE switchboard_sip_inbound_queued gauge\n\
             switchboard_sip_inbound_queued {}\n",
            self.transport.inbound_queued()
        ));
        if let Some(free) = crate::descriptors::free() {
            out.push_str(&format!(
                "# HELP switchboard_descriptors_free File descriptors free under RLIMIT_NOFILE.\n\
                 # TYPE switchboard_descriptors_free gauge\n\
                 switchboard_descriptors_free {free}\n"
            ));
        }
        self.metrics.render(&mut out);
        self.board_metrics(&mut out);
        out
    }

    /// Queue depth and agents per state, from the ACD actor's live view.
    fn board_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let Ok(board) = self.board.read() else { return };
        let _ = writeln!(out, "# HELP switchboard_queue_waiting Callers waiting per queue.\n# TYPE switchboard_queue_waiting gauge");
        for q in board["queues"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "switchboard_queue_waiting{{queue=\"{}\"}} {}",
                crate::metrics::label_value(q["queue"].as_str().unwrap_or("")),
                q["waiting"].as_u64().unwrap_or(0)
            );
        }
        self.queue_stats_metrics(&board, out);
        // Every state word is a label from the start (zeros included); the board holds
        // the typed state's word (`available`, `wrap_up`, ...), never debug text.
        let mut by_state: std::collections::BTreeMap<&str, u64> =
            switchboard_events::AgentStateName::ALL
                .iter()
                .map(|s| (s.as_str(), 0))
                .collect();
        for a in board["agents"].as_array().into_iter().flatten() {
            let state = a["state"].as_str().unwrap_or("");
            if let Some(n) = by_state.get_mut(state) {
                *n += 1;
            }
        }
        let _ = writeln!(
            out,
            "# HELP switchboard_agents Agents per ACD state.\n# TYPE switchboard_agents gauge"
        );
        for (state, n) in by_state {
            let _ = writeln!(out, "switchboard_agents{{state=\"{state}\"}} {n}");
        }
    }

    /// Per-queue statistics gauges from the board's `stats` (docs/acd.md): the current
    /// interval's figures and the live ones. A figure with no calls behind it yet (no
    /// answered call for ASA, ...) has no sample rather than a made-up zero.
    fn queue_stats_metrics(&self, board: &Value, out: &mut String) {
        use std::fmt::Write;
        let queues: Vec<&Value> = board["queues"].as_array().into_iter().flatten().collect();
        let gauges: [(&str, &str, &str); 7] = [
            (
                "switchboard_queue_service_level",
                "Share of calls answered within the queue's threshold, current interval.",
                "/stats/interval/service_level",
            ),
            (
                "switchboard_queue_asa_seconds",
                "Average speed of answer, current interval.",
                "/stats/interval/asa_s",
            ),
            (
                "switchboard_queue_aht_seconds",
                "Average handle time (talk + wrap-up), current interval.",
                "/stats/interval/aht_s",
            ),
            (
                "switchboard_queue_abandon_rate",
                "Share of calls abandoned (short abandons excluded), current interval.",
                "/stats/interval/abandon_rate",
            ),
            (
                "switchboard_queue_occupancy",
                "Share of members' staffed time on calls and wrap-up, current interval.",
                "/stats/interval/occupancy",
            ),
            (
                "switchboard_queue_longest_wait_seconds",
                "Wait of the longest-waiting caller on the line.",
                "/stats/live/longest_wait_s",
            ),
            (
                "switchboard_queue_service_level_target",
                "The queue's service-level target share.",
                "/stats/sl_target",
            ),
        ];
        for (name, help, pointer) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
            for q in &queues {
                if let Some(v) = q.pointer(pointer).and_then(Value::as_f64) {
                    let queue = crate::metrics::label_value(q["queue"].as_str().unwrap_or(""));
                    let _ = writeln!(out, "{name}{{queue=\"{queue}\"}} {v}");
                }
            }
        }
    }

    pub(crate) fn registrations_json(&self) -> Value {
        let now = std::time::SystemTime::now();
        let mut out = Vec::new();
        let mut users = self.location.users();
        users.sort();
        for user in users {
            for b in self.location.lookup_active(&user, now) {
                out.push(json!({
                    "user": user,
                    "contact": b.contact.to_string(),
                    "transport": b.transport,
                    "source": b.source.to_string(),
                    "expires_in": b.remaining_secs(now),
                    "user_agent": b.user_agent,
                }));
            }
        }
        Value::Array(out)
    }
}
