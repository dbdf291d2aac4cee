//! `[[trunks]]`: the carriers outbound calls go through (see `docs/outbound.md`), checked
//! at load and resolved into [`TrunkSpec`]s. The old `sip.outbound_trunk = "host:port"`
//! still works: it becomes an implicit trunk named `default` (UDP, no credentials, no
//! registration, no limits).

use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context};
use serde::Deserialize;
use switchboard_sip::Transport;
use switchboard_trunk::{CallerIdPolicy, ClientCredentials, NumberFormat, TrunkLimits};

/// One `[[trunks]]` table as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrunkConfig {
    pub(crate) name: String,
    /// `"host:port"` of the carrier's SBC (a name is resolved once at start).
    pub(crate) address: String,
    /// `udp`, `tcp` or `tls`.
    #[serde(default = "default_transport")]
    pub(crate) transport: String,
    /// TLS: PEM CA certificates the carrier's certificate must chain to (default: the
    /// public web roots).
    #[serde(default)]
    pub(crate) tls_ca_file: Option<std::path::PathBuf>,
    /// TLS: the name the carrier's certificate must carry (default: the address's host).
    #[serde(default)]
    pub(crate) tls_server_name: Option<String>,
    /// SHA-256 fingerprint of the certificate the carrier presents when it connects to our
    /// TLS listener: INVITEs on such a connection are this trunk's calls, from any address.
    #[serde(default)]
    pub(crate) tls_client_cert_fingerprint: Option<String>,
    /// The carrier's domain for Request-URI, From and To; default: the address's host.
    #[serde(default)]
    pub(crate) domain: Option<String>,
    #[serde(default)]
    pub(crate) username: Option<String>,
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// Register `username` with the carrier.
    #[serde(default)]
    pub(crate) register: bool,
    /// Lifetime asked for, seconds.
    #[serde(default = "default_register_expires")]
    pub(crate) register_expires: u32,
    /// `"pass-through"` or a fixed number.
    #[serde(default = "default_caller_id")]
    pub(crate) caller_id: String,
    /// Also send the caller ID in P-Asserted-Identity (RFC 3325).
    #[serde(default)]
    pub(crate) p_asserted_identity: bool,
    #[serde(default)]
    pub(crate) strip_plus: bool,
    #[serde(default)]
    pub(crate) dial_prefix: String,
    /// Concurrent calls; 0 = unlimited.
    #[serde(default)]
    pub(crate) max_calls: u32,
    /// New calls per second; 0 = unlimited.
    #[serde(default)]
    pub(crate) calls_per_second: f64,
    /// Lower goes first; equal priorities keep the file's order.
    #[serde(default = "default_priority")]
    pub(crate) priority: u32,
    /// Accept INVITEs from this trunk's address (IP) over its transport as trunk calls,
    /// without digest (as a `[[sip.trunk_trust]]` entry would).
    #[serde(default)]
    pub(crate) inbound: bool,
    /// Offer RFC 4028 session timers (`[sip] session_expires`) on calls we place through
    /// this trunk; false for a carrier that mishandles them.
    #[serde(default = "default_session_timers")]
    pub(crate) session_timers: bool,
    /// SRTP on this trunk's media legs: `off` (default), `optional` or `required`
    /// (srtp_leg.rs, docs/decisions/0033-srtp-sdes.md).
    #[serde(default)]
    pub(crate) srtp: crate::srtp_leg::SrtpPolicy,
    /// Live server transactions from this trunk's address (its own cap instead of
    /// `limits.transactions_per_source`); default sized from `calls_per_second`
    /// (`trunk_caps`).
    #[serde(default)]
    pub(crate) max_transactions: Option<usize>,
    /// Estimated bytes those transactions may hold (instead of
    /// `limits.transaction_bytes_per_source`).
    #[serde(default)]
    pub(crate) transaction_bytes: Option<usize>,
}

fn default_session_timers() -> bool {
    true
}

fn default_transport() -> String {
    "udp".into()
}
fn default_register_expires() -> u32 {
    600
}
fn default_caller_id() -> String {
    "pass-through".into()
}
fn default_priority() -> u32 {
    100
}

/// A trunk ready for the SIP driver.
#[derive(Clone, Debug)]
pub(crate) struct TrunkSpec {
    pub(crate) name: String,
    pub(crate) address: SocketAddr,
    pub(crate) transport: Transport,
    /// Host part of the Request-URI, From and To.
    pub(crate) domain: String,
    pub(crate) credentials: Option<ClientCredentials>,
    pub(crate) register: bool,
    pub(crate) register_expires: u32,
    pub(crate) caller_id: CallerIdPolicy,
    pub(crate) p_asserted_identity: bool,
    pub(crate) format: NumberFormat,
    pub(crate) limits: TrunkLimits,
    pub(crate) priority: u32,
    /// Inbound INVITEs from `address`'s IP over `transport` are trunk calls.
    pub(crate) inbound: bool,
    /// Offer session timers on the calls we place through it.
    pub(crate) session_timers: bool,
    /// TLS trunks: trust roots file (None: the public web roots).
    pub(crate) tls_ca_file: Option<std::path::PathBuf>,
    /// TLS trunks: the name verified in the carrier's certificate.
    pub(crate) tls_server_name: String,
    /// Pinned client certificate (lowercase hex SHA-256) of the carrier's TLS connections.
    pub(crate) tls_client_cert_sha256: Option<String>,
    /// SRTP policy of the trunk's media legs (ours and its inbound calls).
    pub(crate) srtp: crate::srtp_leg::SrtpPolicy,
    /// Its address's own transaction caps as configured (`trunk_caps` fills in defaults).
    pub(crate) max_transactions: Option<usize>,
    pub(crate) transaction_bytes: Option<usize>,
}

impl TrunkSpec {
    /// The From user part when the call supplies no caller ID under pass-through.
    pub(crate) fn fallback_caller(&self) -> &str {
        self.credentials
            .as_ref()
            .map_or("switchboard", |c| c.username.as_str())
    }
}

/// The configured trunks, or the implicit `default` one from `sip.outbound_trunk`.
pub(crate) fn resolve(
    trunks: &[TrunkConfig],
    legacy: Option<SocketAddr>,
) -> anyhow::Result<Vec<TrunkSpec>> {
    if let Some(addr) = legacy {
        if !trunks.is_empty() {
            bail!("sip.outbound_trunk and [[trunks]] are both set: move {addr} into [[trunks]] (address = \"{addr}\") and remove sip.outbound_trunk");
        }
        return Ok(vec![TrunkSpec {
            name: "default".into(),
            address: addr,
            transport: Transport::Udp,
            domain: addr.ip().to_string(),
            credentials: None,
            register: false,
            register_expires: default_register_expires(),
            caller_id: CallerIdPolicy::PassThrough,
            p_asserted_identity: false,
            format: NumberFormat::default(),
            limits: TrunkLimits::default(),
            priority: default_priority(),
            inbound: false,
            session_timers: true,
            tls_ca_file: None,
            tls_server_name: addr.ip().to_string(),
            tls_client_cert_sha256: None,
            srtp: crate::srtp_leg::SrtpPolicy::Off,
            max_transactions: None,
            transaction_bytes: None,
        }]);
    }
    let mut out: Vec<TrunkSpec> = Vec::with_capacity(trunks.len());
    for t in trunks {
        let at = || format!("trunk {:?}", t.name);
        if t.name.is_empty()
            || !t
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            bail!("[[trunks]] name {:?}: use letters, digits, - and _", t.name);
        }
        if out.iter().any(|o| o.name == t.name) {
            bail!("[[trunks]] name {:?} is used twice", t.name);
        }
        let address = parse_address(&t.address).with_context(at)?;
        let transport = match t.transport.to_ascii_lowercase().as_str() {
            "udp" => Transport::Udp,
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            other => bail!("{}: transport {other:?} is not udp, tcp or tls", at()),
        };
        if transport != Transport::Tls && (t.tls_ca_file.is_some() || t.tls_server_name.is_some()) {
            bail!(
                "{}: tls_ca_file and tls_server_name need transport = \"tls\"",
                at()
            );
        }
        let tls_client_cert_sha256 = match &t.tls_client_cert_fingerprint {
            None => None,
            Some(f) => Some(crate::sip_tls::normalise_fingerprint(f).with_context(at)?),
        };
        let credentials = match (&t.username, &t.password) {
            (Some(u), Some(p)) if !u.is_empty() => Some(ClientCredentials {
                username: u.clone(),
                password: p.clone(),
            }),
            (None, None) => None,
            _ => bail!("{}: username and password go together", at()),
        };
        if t.register && credentials.is_none() {
            bail!("{}: register = true needs username and password", at());
        }
        if t.register && !(10..=86_400).contains(&t.register_expires) {
            bail!("{}: register_expires must be 10..=86400 seconds", at());
        }
        let caller_id = if t.caller_id == "pass-through" {
            CallerIdPolicy::PassThrough
        } else if is_number(&t.caller_id) {
            CallerIdPolicy::Fixed(t.caller_id.clone())
        } else {
            bail!(
                "{}: caller_id {:?} is neither \"pass-through\" nor a number (digits, optional leading +)",
                at(),
                t.caller_id
            );
        };
        if !t
            .dial_prefix
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
        {
            bail!("{}: dial_prefix may hold only digits, * and #", at());
        }
        if !(t.calls_per_second >= 0.0 && t.calls_per_second.is_finite()) {
            bail!("{}: calls_per_second must be 0 (unlimited) or more", at());
        }
        crate::trunk_caps::validate(t.max_transactions, t.transaction_bytes).with_context(at)?;
        let domain = match &t.domain {
            Some(d) if !d.is_empty() => d.clone(),
            _ => host_of(&t.address),
        };
        switchboard_sip_message::Host::parse(&domain)
            .map_err(|_| anyhow::anyhow!("{}: domain {domain:?} is not a host name", at()))?;
        out.push(TrunkSpec {
            name: t.name.clone(),
            address,
            transport,
            domain,
            credentials,
            register: t.register,
            register_expires: t.register_expires,
            caller_id,
            p_asserted_identity: t.p_asserted_identity,
            format: NumberFormat {
                strip_plus: t.strip_plus,
                dial_prefix: t.dial_prefix.clone(),
            },
            limits: TrunkLimits {
                max_calls: (t.max_calls > 0).then_some(t.max_calls),
                calls_per_second: (t.calls_per_second > 0.0).then_some(t.calls_per_second),
            },
            priority: t.priority,
            inbound: t.inbound,
            session_timers: t.session_timers,
            tls_ca_file: t.tls_ca_file.clone(),
            tls_server_name: t
                .tls_server_name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| host_of(&t.address)),
            tls_client_cert_sha256,
            srtp: t.srtp,
            max_transactions: t.max_transactions,
            transaction_bytes: t.transaction_bytes,
        });
    }
    Ok(out)
}

/// `[[sip.trunk_trust]]` entries for the trunks with `inbound = true`: their address's IP
/// over their transport.
pub(crate) fn inbound_trust(specs: &[TrunkSpec]) -> Vec<crate::trunk_trust::TrunkTrustEntry> {
    use crate::trunk_trust::{TrunkTransport, TrunkTrustEntry};
    specs
        .iter()
        .filter(|s| s.inbound)
        .map(|s| TrunkTrustEntry {
            address: s.address.ip(),
            transport: match s.transport {
                Transport::Tcp => TrunkTransport::Tcp,
                Transport::Tls => TrunkTransport::Tls,
                Transport::Udp => TrunkTransport::Udp,
            },
        })
        .collect()
}

/// The pinned client certificates of TLS trunks: (trunk name, SHA-256 hex).
pub(crate) fn pinned_certs(specs: &[TrunkSpec]) -> Vec<(String, String)> {
    specs
        .iter()
        .filter_map(|s| Some((s.name.clone(), s.tls_client_cert_sha256.clone()?)))
        .collect()
}

/// A caller ID number: digits with an optional leading `+`.
pub(crate) fn is_number(s: &str) -> bool {
    let d = s.strip_prefix('+').unwrap_or(s);
    !d.is_empty() && d.len() <= 32 && d.bytes().all(|b| b.is_ascii_digit())
}

fn parse_address(s: &str) -> anyhow::Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !s.contains(':') {
        bail!("address {s:?} needs a port (\"host:port\")");
    }
    s.to_socket_addrs()
        .with_context(|| format!("address {s:?} does not resolve"))?
        .next()
        .with_context(|| format!("address {s:?} does not resolve"))
}

fn host_of(address: &str) -> String {
    match address.parse::<SocketAddr>() {
        Ok(a) => a.ip().to_string(),
        Err(_) => address
            .rsplit_once(':')
            .map_or(address, |(h, _)| h)
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<TrunkConfig> {
        #[derive(Deserialize)]
        struct W {
            trunks: Vec<TrunkConfig>,
        }
        toml::from_str::<W>(s).unwrap().trunks
    }

    #[test]
    fn legacy_outbound_trunk_becomes_default() {
        let t = resolve(&[], Some("127.0.0.1:5080".parse().unwrap())).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].name, "default");
        assert_eq!(t[0].transport, Transport::Udp);
        assert!(t[0].credentials.is_none());
        let both = parse("[[trunks]]\nname = \"a\"\naddress = \"127.0.0.1:5090\"\n");
        let e = resolve(&both, Some("127.0.0.1:5080".parse().unwrap())).unwrap_err();
        assert!(e.to_string().contains("both set"), "{e}");
        assert!(resolve(&[], None).unwrap().is_empty());
    }

    #[test]
    fn a_full_trunk_resolves() {
        let t = parse(
            r#"[[trunks]]
name = "carrier-a"
address = "127.0.0.1:5090"
transport = "tcp"
username = "acct"
password = "pw"
register = true
register_expires = 120
caller_id = "+74951230000"
p_asserted_identity = true
strip_plus = true
dial_prefix = "9"
max_calls = 10
calls_per_second = 2.5
priority = 5
"#,
        );
        let s = &resolve(&t, None).unwrap()[0];
        assert_eq!(s.transport, Transport::Tcp);
        assert_eq!(s.domain, "127.0.0.1");
        assert_eq!(s.caller_id, CallerIdPolicy::Fixed("+74951230000".into()));
        assert_eq!(s.format.apply("+74951234567"), "974951234567");
        assert_eq!(s.limits.max_calls, Some(10));
        assert_eq!(s.limits.calls_per_second, Some(2.5));
        assert_eq!(s.fallback_caller(), "acct");
        assert!(!s.inbound);
        let trust = inbound_trust(std::slice::from_ref(s));
        assert!(trust.is_empty());
        let mut open = s.clone();
        open.inbound = true;
        let trust = inbound_trust(&[open]);
        assert_eq!(trust.len(), 1);
        assert_eq!(
            trust[0].address,
            "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
        );
        assert_eq!(trust[0].transport, crate::trunk_trust::TrunkTransport::Tcp);
    }

    #[test]
    fn bad_trunks_say_which_and_why() {
        for (body, want) in [
            ("name = \"a b\"\naddress = \"127.0.0.1:1\"", "letters"),
            ("name = \"a\"\naddress = \"127.0.0.1\"", "port"),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\ntransport = \"sctp\"",
                "udp, tcp or tls",
            ),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\ntls_server_name = \"x\"",
                "need transport = \"tls\"",
            ),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\ntls_client_cert_fingerprint = \"ab\"",
                "SHA-256",
            ),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\nusername = \"u\"",
                "go together",
            ),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\nregister = true",
                "needs username",
            ),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\ncaller_id = \"bob\"",
                "pass-through",
            ),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\ndial_prefix = \"x\"",
                "dial_prefix",
            ),
            (
                "name = \"a\"\naddress = \"127.0.0.1:1\"\ncalls_per_second = -1.0",
                "calls_per_second",
            ),
        ] {
            let e = resolve(&parse(&format!("[[trunks]]\n{body}\n")), None).unwrap_err();
            let msg = format!("{e:#}");
            assert!(msg.contains(want), "{body}: {msg}");
        }
        let twice = parse("[[trunks]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n[[trunks]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n");
        assert!(resolve(&twice, None)
            .unwrap_err()
            .to_string()
            .contains("twice"));
    }
}
