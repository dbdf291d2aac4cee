//! Call and media counters for the Prometheus endpoint. Call tasks add their totals
//! when a call ends (not per packet), so the media path touches no shared state.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A label value as the Prometheus text format wants it: a backslash, `"` and a line feed
/// escaped as `\\`, `\"` and `\n` (a queue named `a"b` must not end the label early).
pub(crate) fn label_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Process-wide counters; one `Arc<Metrics>` shared by call tasks and the HTTP API.
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) calls_total: AtomicU64,
    pub(crate) calls_active: AtomicI64,
    pub(crate) calls_answered: AtomicU64,
    pub(crate) calls_abandoned: AtomicU64,
    pub(crate) calls_callback: AtomicU64,
    pub(crate) rtp_received: AtomicU64,
    pub(crate) rtp_lost: AtomicU64,
    pub(crate) rtp_foreign_dropped: AtomicU64,
    /// SRTP/SRTCP packets refused on receive (authentication, replay, too old) or that
    /// could not be protected on send.
    pub(crate) srtp_rejected: AtomicU64,
    /// Media legs set up with SRTP.
    pub(crate) srtp_legs: AtomicU64,
    /// Audio packets that reached a leg's jitter buffer after their frame was played
    /// (decoding paths only: IVR input, recording, AMD, mixing), counted when the leg ends.
    pub(crate) decode_late: AtomicU64,
    /// Frames the decoding paths concealed (their packet lost or late), at leg end.
    pub(crate) decode_concealed: AtomicU64,
    /// Audio packets too large for a decoding path's jitter buffer, not decoded.
    pub(crate) decode_oversize: AtomicU64,
    pub(crate) rtp_relayed: AtomicU64,
    pub(crate) recordings: AtomicU64,
    /// In-dialog requests answered 503 because one call had too many waiting.
    pub(crate) sip_in_dialog_refused: AtomicU64,
    /// New calls answered 503 because the call router's queue was full.
    pub(crate) calls_refused_router_full: AtomicU64,
    /// Predictive campaign calls a person answered with no agent free (hung up).
    pub(crate) campaign_abandoned: AtomicU64,
    /// Failed saves of `registrations.json` (see `registration_store`).
    pub(crate) registrations_save_failures: AtomicU64,
    /// Hardening counters (lockout, TCP, admission), written by the SIP driver.
    pub(crate) guard: GuardMetrics,
    /// INVITE authentication and blind-ACK counters (see `invite_auth`).
    pub(crate) invite_auth: crate::invite_auth::InviteAuthMetrics,
    /// Calls we would have originated, refused by the dial policy, by reason.
    pub(crate) dial_refused: crate::dial_policy::RefusalCounters,
    /// Event rows committed to the event store.
    pub(crate) events_written: AtomicU64,
    /// Failed commits of an event batch (each retry that fails counts).
    pub(crate) event_write_failures: AtomicU64,
    /// Events given up after every retry failed.
    pub(crate) events_lost: AtomicU64,
    /// Calls the event writer remembers (live ones and those ended within the grace).
    pub(crate) event_log_calls: AtomicI64,
    /// 1 while free space in the data directory is below `[data] min_free_mb`.
    pub(crate) disk_low: AtomicI64,
    /// Calls refused with 503 because the disk was below the watermark.
    pub(crate) calls_refused_disk_low: AtomicU64,
    /// The WebSocket event stream's clients (`http_events`).
    pub(crate) ws: crate::http_events::WsMetrics,
    /// The carrier trunks' registration and call counters (written by the SIP driver).
    pub(crate) trunks: crate::trunk_status::TrunkBoard,
    /// How late queue announcements start playing (written by call tasks).
    pub(crate) announcement_lateness: crate::delay_histogram::DelayHistogram,
    /// From a call task taking up the agent's answer to the first packet across the
    /// bridge (written by call tasks).
    pub(crate) answer_to_audio: crate::delay_histogram::DelayHistogram,
    /// The agent's 200 at the SIP socket to the first packet across the bridge.
    pub(crate) sip_answer_to_audio: crate::delay_histogram::DelayHistogram,
    /// A received SIP message's wait for the SIP driver.
    pub(crate) sip_inbound_wait: crate::delay_histogram::DelayHistogram,
    /// How late the main runtime runs a 10 ms timer (`runtime_lag`).
    pub(crate) runtime_lateness: crate::delay_histogram::DelayHistogram,
}

/// What the defences against a hostile network did. Totals are copied from the owners'
/// own counters (the registrar's `AuthStats`, the admission tables) after each change.
#[derive(Default)]
pub(crate) struct GuardMetrics {
    pub(crate) register_failures: AtomicU64,
    pub(crate) register_lockouts: AtomicU64,
    pub(crate) register_locked_rejections: AtomicU64,
    pub(crate) register_lockout_exemptions: AtomicU64,
    pub(crate) register_locked_sources: AtomicU64,
    pub(crate) calls_refused_descriptors: AtomicU64,
    pub(crate) calls_refused_concurrent: AtomicU64,
    pub(crate) calls_refused_rate: AtomicU64,
    pub(crate) requests_rejected: AtomicU64,
    pub(crate) requests_dropped: AtomicU64,
    pub(crate) rate_limited_sources: AtomicU64,
    pub(crate) tx_refused_full: AtomicU64,
    pub(crate) tx_refused_source_share: AtomicU64,
    pub(crate) tx_refused_own_caps: AtomicU64,
    pub(crate) tx_refused_memory: AtomicU64,
    pub(crate) tx_refused_client: AtomicU64,
    pub(crate) tx_bytes: AtomicU64,
    pub(crate) tx_client_bytes: AtomicU64,
    pub(crate) tx_trunk_bytes: AtomicU64,
}

/// Counts one task in `calls_active` while it lives (a callback's task, say), so shutdown
/// waits for it like for an inbound call's task.
pub(crate) struct ActiveCall(std::sync::Arc<Metrics>);

impl ActiveCall {
    pub(crate) fn new(metrics: std::sync::Arc<Metrics>) -> ActiveCall {
        metrics.calls_active.fetch_add(1, Ordering::Relaxed);
        ActiveCall(metrics)
    }
}

impl Drop for ActiveCall {
    fn drop(&mut self) {
        self.0.calls_active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl GuardMetrics {
    fn render(&self, out: &mut String) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, u64); 19] = [
            (
                "switchboard_register_auth_failures_total",
                "counter",
                "Digest authentication failures, REGISTER and INVITE (unknown users included).",
                g(&self.register_failures),
            ),
            (
                "switchboard_register_lockouts_total",
                "counter",
                "Sources locked out after repeated REGISTER authentication failures.",
                g(&self.register_lockouts),
            ),
            (
                "switchboard_register_locked_rejections_total",
                "counter",
                "REGISTERs refused with 403 because their source is locked.",
                g(&self.register_locked_rejections),
            ),
            (
                "switchboard_register_lockout_exemptions_total",
                "counter",
                "REGISTERs from a locked source let through (live binding or recent login).",
                g(&self.register_lockout_exemptions),
            ),
            (
                "switchboard_register_locked_sources",
                "gauge",
                "Sources locked out right now.",
                g(&self.register_locked_sources),
            ),
            (
                "switchboard_calls_refused_descriptors_total",
                "counter",
                "New calls refused with 503 because too few file descriptors were free.",
                g(&self.calls_refused_descriptors),
            ),
            (
                "switchboard_calls_refused_concurrent_total",
                "counter",
                "New calls refused with 503: limits.max_calls calls were up.",
                g(&self.calls_refused_concurrent),
            ),
            (
                "switchboard_calls_refused_rate_total",
                "counter",
                "New calls refused with 503: over limits.calls_per_second.",
                g(&self.calls_refused_rate),
            ),
            (
                "switchboard_sip_requests_rate_rejected_total",
                "counter",
                "SIP requests answered with a stateless 503: their source was over limits.requests_per_second.",
                g(&self.requests_rejected),
            ),
            (
                "switchboard_sip_requests_rate_dropped_total",
                "counter",
                "SIP requests dropped unanswered: their source was over its rate and its 503 budget.",
                g(&self.requests_dropped),
            ),
            (
                "switchboard_sip_rate_limited_sources",
                "gauge",
                "Sources with a request-rate entry now.",
                g(&self.rate_limited_sources),
            ),
            (
                "switchboard_sip_transactions_refused_full_total",
                "counter",
                "Requests refused with 503: the transaction table was full.",
                g(&self.tx_refused_full),
            ),
            (
                "switchboard_sip_transactions_refused_source_share_total",
                "counter",
                "Requests refused with 503: their source held its share of live transactions or bytes.",
                g(&self.tx_refused_source_share),
            ),
            (
                "switchboard_sip_trunk_transactions_refused_total",
                "counter",
                "Requests refused with 503: their source, a trunk's address, held its own transaction caps.",
                g(&self.tx_refused_own_caps),
            ),
            (
                "switchboard_sip_transactions_refused_memory_total",
                "counter",
                "Requests refused with 503: live server transactions held limits.transaction_bytes.",
                g(&self.tx_refused_memory),
            ),
            (
                "switchboard_sip_client_transactions_refused_total",
                "counter",
                "Requests of ours not sent: live client transactions held limits.client_transaction_bytes.",
                g(&self.tx_refused_client),
            ),
            (
                "switchboard_sip_transaction_bytes",
                "gauge",
                "Estimated bytes held by all live transactions, server and client.",
                g(&self.tx_bytes),
            ),
            (
                "switchboard_sip_client_transaction_bytes",
                "gauge",
                "Estimated bytes held by live client transactions (requests we sent).",
                g(&self.tx_client_bytes),
            ),
            (
                "switchboard_sip_trunk_transaction_bytes",
                "gauge",
                "Estimated bytes held by live server transactions of trunk addresses (their own caps).",
                g(&self.tx_trunk_bytes),
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        }
    }
}

impl Metrics {
    /// Adds `v` to a counter.
    pub(crate) fn add(c: &AtomicU64, v: u64) {
        c.fetch_add(v, Ordering::Relaxed);
    }

    /// The Prometheus text exposition of these counters.
    pub(crate) fn render(&self, out: &mut String) {
        let mut line = |name: &str, kind: &str, help: &str, v: i64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        };
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed) as i64;
        line(
            "switchboard_calls_total",
            "counter",
            "Inbound calls started.",
            g(&self.calls_total),
        );
        line(
            "switchboard_calls_active",
            "gauge",
            "Calls in progress.",
            self.calls_active.load(Ordering::Relaxed),
        );
        line(
            "switchboard_calls_answered_total",
            "counter",
            "Calls answered by an agent.",
            g(&self.calls_answered),
        );
        line(
            "switchboard_calls_abandoned_total",
            "counter",
            "Callers who hung up while queued or ringing.",
            g(&self.calls_abandoned),
        );
        line(
            "switchboard_calls_callback_total",
            "counter",
            "Callers who took a callback.",
            g(&self.calls_callback),
        );
        line(
            "switchboard_rtp_packets_received_total",
            "counter",
            "RTP packets accepted from callers (finished calls).",
            g(&self.rtp_received),
        );
        line(
            "switchboard_rtp_packets_lost_total",
            "counter",
            "RTP packets lost on the way from callers (RFC 3550 A.3).",
            g(&self.rtp_lost),
        );
        line(
            "switchboard_rtp_foreign_dropped_total",
            "counter",
            "RTP packets from a source other than the latched one.",
            g(&self.rtp_foreign_dropped),
        );
        line(
            "switchboard_srtp_rejected_total",
            "counter",
            "SRTP/SRTCP packets dropped: failed authentication, replayed or too old on receive, or not protectable on send.",
            g(&self.srtp_rejected),
        );
        line(
            "switchboard_decode_late_total",
            "counter",
            "Audio packets that reached a decoding path's jitter buffer after their frame was played (counted when the leg ends).",
            g(&self.decode_late),
        );
        line(
            "switchboard_decode_concealed_total",
            "counter",
            "Audio frames a decoding path concealed because their packet was lost or late (counted when the leg ends).",
            g(&self.decode_concealed),
        );
        line(
            "switchboard_decode_oversize_total",
            "counter",
            "Audio packets larger than a decoding path's jitter buffer slot (over 60 ms at 64 kbit/s), not decoded.",
            g(&self.decode_oversize),
        );
        line(
            "switchboard_srtp_legs_total",
            "counter",
            "Media legs whose SDP negotiated SRTP (SDES).",
            g(&self.srtp_legs),
        );
        line(
            "switchboard_rtp_packets_relayed_total",
            "counter",
            "RTP packets forwarded across bridges.",
            g(&self.rtp_relayed),
        );
        line(
            "switchboard_sip_in_dialog_refused_total",
            "counter",
            "In-dialog requests (INFO, re-INVITE, REFER) answered 503 because their call had too many waiting.",
            g(&self.sip_in_dialog_refused),
        );
        line(
            "switchboard_calls_refused_router_full_total",
            "counter",
            "New calls answered 503 because calls arrived faster than they could be started.",
            g(&self.calls_refused_router_full),
        );
        line(
            "switchboard_campaign_abandoned_total",
            "counter",
            "Predictive campaign calls a person answered with no agent free: hung up (abandoned).",
            g(&self.campaign_abandoned),
        );
        line(
            "switchboard_recordings_total",
            "counter",
            "Recordings started.",
            g(&self.recordings),
        );
        line(
            "switchboard_registrations_save_failures_total",
            "counter",
            "Failed saves of registrations.json (a restart then loses those logins).",
            g(&self.registrations_save_failures),
        );
        line(
            "switchboard_events_written_total",
            "counter",
            "Event rows committed to the event store.",
            g(&self.events_written),
        );
        line(
            "switchboard_event_write_failures_total",
            "counter",
            "Failed commits of an event batch (each failed retry counts).",
            g(&self.event_write_failures),
        );
        line(
            "switchboard_events_lost_total",
            "counter",
            "Events given up after every retry failed.",
            g(&self.events_lost),
        );
        line(
            "switchboard_event_log_calls",
            "gauge",
            "Calls the event writer remembers (sequence, tenant): live ones and recently ended ones.",
            self.event_log_calls.load(Ordering::Relaxed),
        );
        line(
            "switchboard_disk_low",
            "gauge",
            "1 while free space in the data directory is below [data] min_free_mb.",
            self.disk_low.load(Ordering::Relaxed),
        );
        line(
            "switchboard_calls_refused_disk_low_total",
            "counter",
            "Calls refused with 503 because the disk was below the watermark.",
            g(&self.calls_refused_disk_low),
        );
        self.guard.render(out);
        self.ws.render(out);
        self.invite_auth.render(out);
        self.trunks.render(out);
        let _ = write!(
            out,
            "# HELP switchboard_dial_refused_total Calls we would have originated (callbacks, transfers to numbers, campaign calls, agents' own calls), refused by the dial policy or an agent's dial permissions.\n\
             # TYPE switchboard_dial_refused_total counter\n"
        );
        for (reason, n) in self.dial_refused.snapshot() {
            let _ = writeln!(
                out,
                "switchboard_dial_refused_total{{reason=\"{reason}\"}} {n}"
            );
        }
        self.announcement_lateness.render(
            crate::delay_histogram::ANNOUNCEMENT_LATENESS,
            "Time from when a queue announcement was due to when its call started playing it.",
            out,
        );
        self.answer_to_audio.render(
            crate::delay_histogram::ANSWER_TO_AUDIO,
            "Time from a call taking up the agent's answer to the first packet across the bridge.",
            out,
        );
        self.sip_answer_to_audio.render(
            crate::delay_histogram::SIP_ANSWER_TO_AUDIO,
            "Time from the agent's 200 OK arriving at the SIP socket to the first packet across the bridge.",
            out,
        );
        self.sip_inbound_wait.render(
            crate::delay_histogram::SIP_INBOUND_WAIT,
            "Time from a SIP message's receive to the SIP driver taking it up.",
            out,
        );
        self.runtime_lateness.render(
            crate::delay_histogram::RUNTIME_LATENESS,
            "How late the main runtime ran a 10 ms timer.",
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::add(&m.calls_total, 3);
        m.calls_active.fetch_add(2, Ordering::Relaxed);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("# TYPE switchboard_calls_total counter\nswitchboard_calls_total 3\n"));
        assert!(out.contains("switchboard_calls_active 2\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("sales"), "sales");
        assert_eq!(label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(label_value("a\nb"), "a\\nb");
    }

    #[test]
    fn every_metric_rendered_here_is_documented() {
        const DOC: &str = include_str!("../../../docs/operations.md");
        let mut out = String::new();
        Metrics::default().render(&mut out);
        let names: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert!(names.len() > 20, "{out}");
        for name in names {
            assert!(
                DOC.contains(&format!("`{name}`")) || DOC.contains(&format!("`{name}{{")),
                "{name} is not in the metrics table of docs/operations.md"
            );
        }
    }
}
