//! Configuration: the embedded default (`default.toml`) with a user file merged over it.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;

/// The embedded demo configuration; also the documentation of every key.
pub(crate) const DEFAULT_TOML: &str = include_str!("default.toml");

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) sip: SipConfig,
    pub(crate) http: HttpConfig,
    pub(crate) data: DataConfig,
    pub(crate) media: MediaConfig,
    pub(crate) ivr: IvrConfig,
    pub(crate) screen_pop: ScreenPopConfig,
    #[serde(default)]
    pub(crate) shutdown: ShutdownConfig,
    pub(crate) limits: LimitsConfig,
    #[serde(default)]
    pub(crate) acd: AcdSection,
    /// Which numbers calls we originate may reach, and how often (`dial_policy.rs`).
    #[serde(default)]
    pub(crate) dial_policy: crate::dial_policy::DialPolicyConfig,
    /// Agents' own outbound calls: the defaults of their dial permissions (`agent_dial.rs`).
    #[serde(default)]
    pub(crate) dial_permissions: crate::agent_dial::DialPermissionsConfig,
    #[serde(default)]
    pub(crate) users: Vec<UserConfig>,
    #[serde(default)]
    /// `[[queues]]`, with their validation and translation to the ACD core (`queue_config.rs`).
    pub(crate) queues: Vec<crate::queue_config::QueueConfig>,
    /// `[[tenants]]`: the clients of an outsourcing centre (`tenants.rs`).
    #[serde(default)]
    pub(crate) tenants: Vec<crate::tenants::TenantConfig>,
    /// Historical reports (`report/`): trunk count, quality weights.
    #[serde(default)]
    pub(crate) reports: crate::report::ReportsConfig,
    /// The carriers outbound calls go through (`trunk_config.rs`).
    #[serde(default)]
    pub(crate) trunks: Vec<crate::trunk_config::TrunkConfig>,
    /// Outbound campaigns (`campaign/`).
    #[serde(default)]
    pub(crate) campaigns: Vec<crate::campaign::CampaignDef>,
    /// `trunks` (or the legacy `sip.outbound_trunk`) resolved at load.
    #[serde(skip)]
    pub(crate) trunk_specs: Vec<crate::trunk_config::TrunkSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SipConfig {
    pub(crate) listen: Vec<SocketAddr>,
    pub(crate) realm: String,
    /// Trunks trusted by source IP over any transport (the weakest form; see `trunk_trust`).
    pub(crate) trusted_trunks: Vec<IpAddr>,
    /// Trunks trusted by source IP over one named transport.
    #[serde(default)]
    pub(crate) trunk_trust: Vec<crate::trunk_trust::TrunkTrustEntry>,
    /// Trunks that authenticate their INVITEs by digest.
    #[serde(default)]
    pub(crate) trunk_auth: Vec<crate::trunk_trust::TrunkAuthEntry>,
    /// Trunks are behind NAT: a trunk call's media may latch onto the signalling source
    /// IP (any port) within 2 s of the answer, not only the SDP address.
    #[serde(default)]
    pub(crate) trunks_nat: bool,
    pub(crate) t1_ms: u64,
    pub(crate) t2_ms: u64,
    pub(crate) t4_ms: u64,
    pub(crate) min_expires: u32,
    pub(crate) max_expires: u32,
    pub(crate) default_expires: u32,
    pub(crate) digest_algorithms: Vec<String>,
    pub(crate) nonce_lifetime: u64,
    pub(crate) max_message_bytes: usize,
    pub(crate) tcp_idle_timeout: u64,
    pub(crate) keepalive_interval: u64,
    #[serde(default)]
    pub(crate) outbound_trunk: Option<SocketAddr>,
    /// RFC 4028 session interval for callers that refresh their own session, seconds (at
    /// least 90, our Min-SE; 0 turns session timers off).
    #[serde(default = "default_session_expires")]
    pub(crate) session_expires: u32,
    /// SIP over TLS listen address (`None`: no TLS listener).
    #[serde(default)]
    pub(crate) tls_listen: Option<SocketAddr>,
    /// PEM certificate chain of the TLS listener.
    #[serde(default)]
    pub(crate) tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of the TLS listener.
    #[serde(default)]
    pub(crate) tls_key: Option<std::path::PathBuf>,
    /// PEM CA certificates that client certificates must chain to (optional; without it
    /// a client certificate is taken as presented and trusted only by a trunk's pin).
    #[serde(default)]
    pub(crate) tls_client_ca: Option<std::path::PathBuf>,
}

fn default_session_expires() -> u32 {
    1800
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HttpConfig {
    pub(crate) listen: SocketAddr,
    /// Bearer tokens of the API (hashes), with their roles.
    #[serde(default)]
    pub(crate) tokens: Vec<crate::http_auth::TokenConfig>,
    /// Host header values answered besides the listen address and `localhost`.
    #[serde(default)]
    pub(crate) allowed_hosts: Vec<String>,
    #[serde(default = "default_http_connections")]
    pub(crate) max_connections: usize,
    /// Seconds a client has to send a request's headers.
    #[serde(default = "default_http_timeout")]
    pub(crate) header_timeout: u64,
    /// Seconds a client has to send a request's body.
    #[serde(default = "default_http_timeout")]
    pub(crate) body_timeout: u64,
    #[serde(default = "default_http_body")]
    pub(crate) max_body_bytes: usize,
    /// Event-stream WebSocket clients at most (`GET /api/v1/events`); more get 503.
    #[serde(default = "default_ws_clients")]
    pub(crate) max_ws_clients: usize,
}

fn default_http_connections() -> usize {
    256
}
fn default_http_timeout() -> u64 {
    10
}
fn default_http_body() -> usize {
    65_536
}
fn default_ws_clients() -> usize {
    64
}

/// `[acd]`: settings of the ACD that are not per queue.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AcdSection {
    /// Reason codes an agent may pause with over the API.
    pub(crate) pause_reasons: Vec<String>,
    /// Length of the statistics' reporting interval, minutes: 15, 30 or 60.
    pub(crate) stats_interval: u32,
    /// IANA time zone whose midnight starts the statistics' day (e.g. `Europe/Moscow`).
    pub(crate) timezone: String,
    /// RONA recovery: seconds after which an agent paused by ring-no-answer is unpaused
    /// (0: it stays paused until unpaused by hand).
    pub(crate) rona_unpause_after: u64,
    /// Web callbacks (`POST /api/v1/callbacks`) that may wait at once; more get 503.
    pub(crate) max_pending_callbacks: usize,
}

impl AcdSection {
    /// The configured time zone (checked at load).
    pub(crate) fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::UTC)
    }
}

impl Default for AcdSection {
    fn default() -> AcdSection {
        AcdSection {
            pause_reasons: ["break", "lunch", "training", "meeting", "after_call_work"]
                .map(String::from)
                .to_vec(),
            stats_interval: 30,
            timezone: "UTC".into(),
            rona_unpause_after: 60,
            max_pending_callbacks: 10_000,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DataConfig {
    pub(crate) dir: PathBuf,
    /// `sqlite` or a `postgres://` URL (see `event_store::StoreLocation`).
    pub(crate) event_store: String,
    /// Free-space watermark of the data directory, MiB; 0 = off.
    pub(crate) min_free_mb: u64,
    /// Threads writing all recordings (the shared writer pool, decision 0032), 1..=16.
    #[serde(default = "default_recording_writers")]
    pub(crate) recording_writers: usize,
}

fn default_recording_writers() -> usize {
    2
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MediaConfig {
    pub(crate) rtp_ip: IpAddr,
    pub(crate) rtp_port_min: u16,
    pub(crate) rtp_port_max: u16,
    pub(crate) rtp_timeout: u64,
    pub(crate) ptime: u32,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IvrConfig {
    pub(crate) dialplans: PathBuf,
    pub(crate) prompts: PathBuf,
    /// TEST/DEMO ONLY: the instant every call's IVR sees as "now" (RFC 3339 with an
    /// offset), instead of the real time; pins time-of-day routing. Absent in production.
    #[serde(default)]
    pub(crate) test_clock: Option<String>,
    /// PEM file of CA certificates trusted by `https://` lookups and screen pops, besides
    /// the built-in Mozilla roots (a private CRM's CA).
    #[serde(default)]
    pub(crate) http_ca_file: Option<PathBuf>,
}

impl IvrConfig {
    /// The time a call's IVR sees when the call starts: `real`, unless `test_clock` pins
    /// it (validated at load, so a bad value never gets here).
    pub(crate) fn call_start_time(&self, real: DateTime<Utc>) -> DateTime<FixedOffset> {
        self.test_clock
            .as_deref()
            .and_then(parse_test_clock)
            .unwrap_or_else(|| real.fixed_offset())
    }
}

/// Parses `ivr.test_clock` / `--ivr-test-clock`: `2026-01-05T12:00:00+03:00` (RFC 3339) or
/// `2026-01-05T12:00+03:00`.
pub(crate) fn parse_test_clock(s: &str) -> Option<DateTime<FixedOffset>> {
    switchboard_ivr::testfile::parse_at(s)
}

/// What SIGTERM/SIGINT do to live calls.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShutdownConfig {
    /// Seconds live calls may continue after the first signal; then they are hung up.
    #[serde(default = "default_drain_timeout")]
    pub(crate) drain_timeout: u64,
    /// Seconds in the `Retry-After` of the 503 that new INVITEs get while draining.
    #[serde(default = "default_retry_after")]
    pub(crate) retry_after: u32,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout: default_drain_timeout(),
            retry_after: default_retry_after(),
        }
    }
}

fn default_drain_timeout() -> u64 {
    300
}
fn default_retry_after() -> u32 {
    30
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScreenPopConfig {
    pub(crate) url: String,
    pub(crate) timeout_ms: u64,
    pub(crate) retries: u32,
}

/// Defences against a hostile network: REGISTER lockout, TCP and descriptor limits,
/// admission control. Documented in default.toml and README's configuration reference.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsConfig {
    pub(crate) register_max_failures: u32,
    pub(crate) register_failure_window: u64,
    pub(crate) register_lockout: u64,
    pub(crate) register_lockout_max: u64,
    pub(crate) register_trust: u64,
    pub(crate) open_files: u64,
    pub(crate) fd_reserve: u64,
    pub(crate) call_fd_headroom: u64,
    pub(crate) tcp_connections: usize,
    pub(crate) tcp_connections_per_source: usize,
    pub(crate) tcp_message_timeout: u64,
    pub(crate) requests_per_second: f64,
    pub(crate) request_burst: f64,
    pub(crate) rejections_per_second: f64,
    pub(crate) rejections_per_second_all: f64,
    pub(crate) rate_limited_sources: usize,
    pub(crate) transactions_per_source: usize,
    pub(crate) transaction_bytes_per_source: usize,
    pub(crate) transaction_bytes: usize,
    pub(crate) client_transaction_bytes: usize,
    pub(crate) max_calls: usize,
    pub(crate) calls_per_second: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserConfig {
    pub(crate) name: String,
    pub(crate) password: String,
    /// May listen to, whisper to and barge into agents' calls.
    #[serde(default)]
    pub(crate) supervisor: bool,
    /// The phone is behind NAT: its media may latch onto the IP its SIP comes from (any
    /// port) within 2 s of the answer, not only the address its SDP names.
    #[serde(default)]
    pub(crate) nat: bool,
    /// SRTP on this user's media legs: `off` (default), `optional` or `required`
    /// (srtp_leg.rs, docs/decisions/0033-srtp-sdes.md).
    #[serde(default)]
    pub(crate) srtp: crate::srtp_leg::SrtpPolicy,
    /// Skills and proficiency 1-10, e.g. { ru = 9, vip = 7 }; calls that need a skill
    /// (the dialplan's `skill`) go only to agents who have it.
    #[serde(default)]
    pub(crate) skills: std::collections::BTreeMap<String, u8>,
    /// Tenants (`[[tenants]]` names) the agent works for: `tenant = "acme"` or
    /// `tenant = ["acme", "globex"]` (also spelled `tenants`). A queue or call with a
    /// tenant is offered only to agents serving it.
    #[serde(
        default,
        rename = "tenant",
        alias = "tenants",
        deserialize_with = "crate::tenants::one_or_many"
    )]
    pub(crate) tenants: Vec<String>,
    /// Outside numbers this user's own calls may reach (patterns); default: the
    /// `[dial_permissions] allow` list.
    #[serde(default)]
    pub(crate) dial_allow: Option<Vec<String>>,
    /// This user may call international numbers; default `[dial_permissions]`'s.
    #[serde(default)]
    pub(crate) dial_international: Option<bool>,
    /// Own outbound calls per sliding hour; default `[dial_permissions]`'s.
    #[serde(default)]
    pub(crate) dial_max_per_hour: Option<u32>,
    /// Record this user's own outbound calls; default `[dial_permissions] record`.
    #[serde(default)]
    pub(crate) record_outbound: Option<bool>,
    /// The caller ID this user's outbound calls ask the trunk to present (a trunk with a
    /// fixed `caller_id` overrides it).
    #[serde(default)]
    pub(crate) caller_id: Option<String>,
}

/// Merges `over` into `base`: tables merge key by key, anything else replaces.
fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

impl Config {
    /// The embedded default, or the default with `path` merged over it.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let mut value: toml::Value =
            toml::from_str(DEFAULT_TOML).context("embedded default config")?;
        if let Some(path) = path {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading config {}", path.display()))?;
            let over: toml::Value =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            // The queues straight from the text, for errors with a line and column (the
            // merged value below has no positions).
            crate::queue_config::check_spans(&text)
                .with_context(|| format!("in {}", path.display()))?;
            merge(&mut value, over);
        }
        let mut cfg: Config = value.try_into().context("config")?;
        if let Err(e) = cfg.validate() {
            // A queue's bad value: point at its line in the user's file when it is there.
            let at = e
                .downcast_ref::<crate::queue_config::QueueKeyError>()
                .zip(path)
                .and_then(|(q, path)| {
                    let text = std::fs::read_to_string(path).ok()?;
                    let line = crate::queue_config::locate(&text, &q.queue, &q.key)?;
                    Some(format!("{}:{line}", path.display()))
                });
            return Err(match at {
                Some(at) => e.context(at),
                None => e,
            });
        }
        cfg.trunk_specs = crate::trunk_config::resolve(&cfg.trunks, cfg.sip.outbound_trunk)?;
        crate::sip_tls::validate(&cfg.sip, &cfg.trunk_specs)?;
        Ok(cfg)
    }

    /// What each tenant-scoped API token sees.
    pub(crate) fn tenant_scopes(&self) -> crate::tenants::TenantScopes {
        crate::tenants::TenantScopes::new(&self.tenants, &self.users, &self.queues)
    }

    /// The `[[tenants]]` entry named `name`.
    pub(crate) fn tenant(&self, name: &str) -> Option<&crate::tenants::TenantConfig> {
        self.tenants.iter().find(|t| t.name == name)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=16).contains(&self.data.recording_writers) {
            anyhow::bail!(
                "data.recording_writers = {}: between 1 and 16 threads",
                self.data.recording_writers
            );
        }
        if self.sip.session_expires != 0 && self.sip.session_expires < 90 {
            anyhow::bail!(
                "sip.session_expires = {}: at least 90 seconds (RFC 4028 Min-SE), or 0 for off",
                self.sip.session_expires
            );
        }
        self.dial_policy.rules()?;
        crate::agent_dial::AgentDialGate::new(
            &self.dial_policy,
            &self.dial_permissions,
            &self.users,
        )?;
        let not_number = |c: &str| {
            let d = c.strip_prefix('+').unwrap_or(c);
            d.is_empty() || !d.bytes().all(|b| b.is_ascii_digit())
        };
        for (who, c) in self
            .users
            .iter()
            .filter_map(|u| Some((format!("users.{}", u.name), u.caller_id.as_deref()?)))
            .chain(
                self.dial_permissions
                    .caller_id
                    .as_deref()
                    .map(|c| ("dial_permissions".to_string(), c)),
            )
        {
            if not_number(c) {
                bail!("{who}: caller_id {c:?} is not a number (digits, optional leading +)");
            }
        }
        let queues: Vec<String> = self.queues.iter().map(|q| q.name.clone()).collect();
        for (i, c) in self.campaigns.iter().enumerate() {
            if self.campaigns[..i].iter().any(|o| o.name == c.name) {
                bail!("campaigns[{}]: name: two campaigns have this name", c.name);
            }
            c.compile(&queues)?;
            c.check_tenant(self)?;
        }
        let users: Vec<String> = self.users.iter().map(|u| u.name.clone()).collect();
        crate::tenants::validate(&self.tenants, &self.users, &self.queues)?;
        crate::http_auth::TokenTable::from_config(
            &self.http.tokens,
            &users,
            &self.tenant_scopes(),
        )?;
        if self.acd.pause_reasons.iter().any(|r| {
            r.is_empty()
                || !r
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        }) {
            bail!("acd.pause_reasons: reason codes are words of letters, digits, _ and -");
        }
        if let Some(t) =
            self.sip.trunk_auth.iter().find(|t| {
                t.username.is_empty() || t.password.is_empty() || users.contains(&t.username)
            })
        {
            bail!(
                "sip.trunk_auth: {:?} needs a username and a password, and must not be a [[users]] name",
                t.username
            );
        }
        if self.sip.listen.is_empty() {
            bail!("sip.listen: at least one address is needed");
        }
        if self.sip.listen[0].ip().is_unspecified() {
            bail!("sip.listen: the first address is advertised in Via and Contact, so it must be a real address, not {}", self.sip.listen[0].ip());
        }
        if self.media.rtp_ip.is_unspecified() {
            bail!(
                "media.rtp_ip is advertised in SDP, so it must be a real address, not {}",
                self.media.rtp_ip
            );
        }
        if let Some(c) = &self.ivr.test_clock {
            if parse_test_clock(c).is_none() {
                bail!(
                    "ivr.test_clock: {c:?} is not a time with an offset, e.g. \
                     \"2026-01-05T12:00:00+03:00\" (test/demo only; leave it out in production)"
                );
            }
        }
        if self.media.rtp_port_min >= self.media.rtp_port_max {
            bail!("media.rtp_port_min must be below media.rtp_port_max");
        }
        for a in &self.sip.digest_algorithms {
            if switchboard_registrar::Algorithm::parse(a).is_none() {
                bail!("sip.digest_algorithms: unknown algorithm {a:?} (MD5, MD5-sess, SHA-256, SHA-256-sess)");
            }
        }
        let l = &self.limits;
        if l.register_max_failures == 0 {
            bail!("limits.register_max_failures must be at least 1");
        }
        if l.tcp_connections == 0 || l.tcp_connections_per_source == 0 {
            bail!(
                "limits.tcp_connections and limits.tcp_connections_per_source must be at least 1"
            );
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(l.requests_per_second)
            || !positive(l.calls_per_second)
            || l.request_burst.is_nan()
            || l.request_burst < 1.0
        {
            bail!("limits.requests_per_second and limits.calls_per_second must be above 0, limits.request_burst at least 1");
        }
        if l.rejections_per_second.is_nan() || l.rejections_per_second < 0.0 {
            bail!("limits.rejections_per_second must not be negative");
        }
        if l.rejections_per_second_all.is_nan() || l.rejections_per_second_all < 0.0 {
            bail!("limits.rejections_per_second_all must not be negative");
        }
        if l.max_calls == 0 || l.transactions_per_source == 0 || l.rate_limited_sources == 0 {
            bail!("limits.max_calls, limits.transactions_per_source and limits.rate_limited_sources must be at least 1");
        }
        if l.tcp_message_timeout == 0 {
            bail!("limits.tcp_message_timeout must be at least 1 second");
        }
        if l.register_lockout > l.register_lockout_max {
            bail!("limits.register_lockout must not exceed limits.register_lockout_max");
        }
        if self.sip.min_expires > self.sip.max_expires {
            bail!("sip.min_expires must not exceed sip.max_expires");
        }
        for u in &self.users {
            if let Some((skill, p)) = u.skills.iter().find(|(_, p)| !(1..=10).contains(*p)) {
                bail!(
                    "user {}: skill {skill} has proficiency {p}; use 1 to 10",
                    u.name
                );
            }
        }
        if ![15, 30, 60].contains(&self.acd.stats_interval) {
            bail!(
                "acd.stats_interval: {} minutes; use 15, 30 or 60",
                self.acd.stats_interval
            );
        }
        self.reports.validate()?;
        if self.acd.timezone.parse::<chrono_tz::Tz>().is_err() {
            bail!(
                "acd.timezone: {:?} is not an IANA time zone name (e.g. \"Europe/Moscow\", \"UTC\")",
                self.acd.timezone.chars().take(64).collect::<String>()
            );
        }
        crate::queue_config::validate(&self.queues, &self.users)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_loads() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.sip.listen, vec!["127.0.0.1:5060".parse().unwrap()]);
        assert_eq!(c.users.len(), 5);
        assert_eq!(c.queues.len(), 5);
        assert!(c
            .queues
            .iter()
            .any(|q| q.name == "sales" && q.members.len() == 3));
        assert_eq!(c.http.listen.port(), 8080);
    }

    #[test]
    fn file_overrides_merge_over_default() {
        let dir = std::env::temp_dir().join(format!("sb-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, "[sip]\nlisten = [\"127.0.0.1:5070\"]\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(c.sip.listen[0].port(), 5070);
        assert_eq!(c.sip.realm, "switchboard");
        std::fs::write(&p, "[sip]\nlisen = 1\n").unwrap();
        assert!(Config::load(Some(&p)).is_err(), "unknown keys are errors");
    }

    #[test]
    fn ivr_test_clock_pins_the_call_start_time_and_is_validated() {
        let real: DateTime<Utc> = "2026-12-07T01:00:00Z".parse().unwrap();
        let c = Config::load(None).unwrap();
        assert_eq!(
            c.ivr.call_start_time(real),
            real.fixed_offset(),
            "unset: real time"
        );
        let dir = std::env::temp_dir().join(format!("sb-cfg-clock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, "[ivr]\ntest_clock = \"2026-01-05T12:00:00+03:00\"\n").unwrap();
        let c = Config::load(Some(&p)).unwrap();
        assert_eq!(
            c.ivr.call_start_time(real).to_rfc3339(),
            "2026-01-05T12:00:00+03:00"
        );
        std::fs::write(&p, "[ivr]\ntest_clock = \"noon\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(
            err.contains("ivr.test_clock") && err.contains("test/demo only"),
            "{err}"
        );
    }

    #[test]
    fn queue_strategies_are_parsed_at_load_and_unknown_ones_list_the_valid_names() {
        let c = Config::load(None).unwrap();
        let support = c.queues.iter().find(|q| q.name == "support").unwrap();
        assert_eq!(support.strategy, switchboard_acd::Strategy::SkillsBest);
        let dir = std::env::temp_dir().join(format!("sb-cfg-strategy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, "[[queues]]\nname = \"q\"\nstrategy = \"fastest\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&p)).unwrap_err());
        assert!(
            err.contains("\"fastest\"") && err.contains("round-robin, fewest-calls"),
            "{err}"
        );
    }

    #[test]
    fn statistics_settings_have_defaults_and_bad_values_are_refused_by_name() {
        let c = Config::load(None).unwrap();
        assert_eq!((c.acd.stats_interval, c.acd.tz()), (30, chrono_tz::UTC));
        let sales = c.queues.iter().find(|q| q.name == "sales").unwrap();
        assert_eq!(
            (sales.sl_threshold, sales.sl_target, sales.short_abandon),
            (20, 0.8, 0)
        );
        assert_eq!(sales.dispositions, ["sale", "no-sale", "callback"]);
        assert_eq!(c.acd.rona_unpause_after, 60);
        let dir = std::env::temp_dir().join(format!("sb-cfg-stats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        let load = |text: &str| {
            std::fs::write(&p, text).unwrap();
            Config::load(Some(&p)).map_err(|e| format!("{e:#}"))
        };
        let c = load("[acd]\nrona_unpause_after = 0\n").unwrap();
        assert_eq!(c.acd.rona_unpause_after, 0);
        let c = load("[acd]\nstats_interval = 15\ntimezone = \"Europe/Moscow\"\n").unwrap();
        assert_eq!(
            (c.acd.stats_interval, c.acd.tz()),
            (15, chrono_tz::Europe::Moscow)
        );
        for (text, key) in [
            ("[acd]\nstats_interval = 20\n", "acd.stats_interval"),
            ("[acd]\ntimezone = \"Mars/Olympus\"\n", "acd.timezone"),
            ("[[queues]]\nname = \"q\"\nsl_target = 1.5\n", "sl_target"),
            ("[[queues]]\nname = \"q\"\nsl_target = 0.0\n", "sl_target"),
            (
                "[[queues]]\nname = \"q\"\nsl_threshold = 100000\n",
                "sl_threshold",
            ),
            (
                "[[queues]]\nname = \"q\"\ndispositions = [\"no sale\"]\n",
                "dispositions",
            ),
            (
                "[[queues]]\nname = \"q\"\ndispositions = [\"sale\", \"sale\"]\n",
                "dispositions",
            ),
        ] {
            let err = load(text).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
