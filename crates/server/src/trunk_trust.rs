//! Which sources are trunks: INVITEs from them are accepted as trunk calls without digest
//! authentication. A trunk is trusted by source address and, when configured, the
//! transport it must use. `sip.trusted_trunks = ["198.51.100.7"]` trusts the address over
//! any transport, UDP included, whose source address anyone on the path can forge: the
//! weakest option, kept for old configs. `[[sip.trunk_trust]]` entries name the transport
//! (`tcp`, `tls`; `udp` or `any` only when the trunk can do nothing better).
//! `[[sip.trunk_auth]]` entries trust a trunk by digest instead: its INVITEs answer our 407
//! with a username and password of their own, from any address. A `[[trunks]]` entry
//! with `tls_client_cert_fingerprint` trusts a TLS connection whose client certificate
//! has that SHA-256, from any address: the strongest option (see `sip_tls`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use switchboard_sip::Transport;

/// The transport a trusted trunk must use.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TrunkTransport {
    /// Any transport (what `sip.trusted_trunks` means): UDP sources are forgeable.
    Any,
    /// UDP only.
    Udp,
    /// TCP only: the handshake proves the source address.
    Tcp,
    /// TLS only.
    Tls,
}

impl TrunkTransport {
    fn allows(self, t: Transport) -> bool {
        match self {
            TrunkTransport::Any => true,
            TrunkTransport::Udp => t == Transport::Udp,
            TrunkTransport::Tcp => t == Transport::Tcp,
            TrunkTransport::Tls => t == Transport::Tls,
        }
    }
}

/// One `[[sip.trunk_trust]]` entry.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrunkTrustEntry {
    /// The trunk's signalling source address.
    pub(crate) address: IpAddr,
    /// The transport its INVITEs must arrive on.
    pub(crate) transport: TrunkTransport,
}

/// One `[[sip.trunk_auth]]` entry: a trunk that authenticates its INVITEs by digest.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrunkAuthEntry {
    /// Digest username (must not be a `[[users]]` name).
    pub(crate) username: String,
    /// Digest password.
    pub(crate) password: String,
}

impl std::fmt::Debug for TrunkAuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrunkAuthEntry({}, <redacted>)", self.username)
    }
}

/// Most remembered pinned-certificate connections (see [`TrunkTrust::note_tls_peer`]).
const MAX_PINNED_SOURCES: usize = 4096;

/// The trusted trunks, old and new form together.
#[derive(Clone, Debug, Default)]
pub(crate) struct TrunkTrust {
    entries: Vec<TrunkTrustEntry>,
    /// Digest usernames whose authenticated INVITEs are trunk calls.
    users: Vec<String>,
    /// (trunk name, client certificate SHA-256) pins.
    pins: Vec<(String, String)>,
    /// TLS connections (peer addresses) whose last message came with a pinned
    /// certificate, with the index of the pin. Updated on every TLS message, so a reused
    /// address never inherits it.
    pinned_sources: HashMap<SocketAddr, usize>,
}

impl TrunkTrust {
    /// The trusted trunks' source addresses (any transport and per-entry ones).
    pub(crate) fn addresses(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.entries.iter().map(|e| e.address)
    }

    /// `trusted_trunks` (any transport) plus the `[[sip.trunk_trust]]` entries and the
    /// `[[sip.trunk_auth]]` usernames.
    pub(crate) fn new(
        any_transport: &[IpAddr],
        entries: &[TrunkTrustEntry],
        auth: &[TrunkAuthEntry],
        pins: &[(String, String)],
    ) -> TrunkTrust {
        let mut all: Vec<TrunkTrustEntry> = any_transport
            .iter()
            .map(|&address| TrunkTrustEntry {
                address,
                transport: TrunkTransport::Any,
            })
            .collect();
        all.extend(entries.iter().cloned());
        TrunkTrust {
            entries: all,
            users: auth.iter().map(|a| a.username.clone()).collect(),
            pins: pins.to_vec(),
            pinned_sources: HashMap::new(),
        }
    }

    /// Records the client certificate (SHA-256 hex) of the TLS connection at `from` as its
    /// message arrives; returns the trunk it pins, if any.
    pub(crate) fn note_tls_peer(&mut self, from: SocketAddr, cert: Option<&str>) -> Option<&str> {
        let pin = cert.and_then(|c| self.pins.iter().position(|(_, pin)| pin == c));
        if let Some(i) = pin {
            // Bounded: past the cap start over; every TLS message notes its connection
            // again before it is judged, so live trunk connections lose nothing.
            if self.pinned_sources.len() >= MAX_PINNED_SOURCES {
                self.pinned_sources.clear();
            }
            self.pinned_sources.insert(from, i);
        } else {
            self.pinned_sources.remove(&from);
        }
        pin.and_then(|i| self.pins.get(i))
            .map(|(name, _)| name.as_str())
    }

    /// The `[[trunks]]` name whose pinned certificate the TLS connection at `from`
    /// presented.
    pub(crate) fn pinned_trunk(&self, from: SocketAddr, transport: Transport) -> Option<&str> {
        if transport != Transport::Tls {
            return None;
        }
        let i = *self.pinned_sources.get(&from)?;
        self.pins.get(i).map(|(name, _)| name.as_str())
    }

    /// Whether `user`, once its digest credentials verified, is a trunk.
    pub(crate) fn is_trunk_user(&self, user: &str) -> bool {
        self.users.iter().any(|u| u == user)
    }

    /// Whether a request from `from` over `transport` comes from a trusted trunk.
    pub(crate) fn trusts(&self, from: SocketAddr, transport: Transport) -> bool {
        self.pinned_trunk(from, transport).is_some()
            || self
                .entries
                .iter()
                .any(|e| e.address == from.ip() && e.transport.allows(transport))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_entries_trust_any_transport_new_ones_only_theirs() {
        let old: IpAddr = "127.0.0.1".parse().expect("ip");
        let at = |ip: IpAddr| SocketAddr::new(ip, 5060);
        let tcp: IpAddr = "10.0.0.1".parse().expect("ip");
        let t = TrunkTrust::new(
            &[old],
            &[TrunkTrustEntry {
                address: tcp,
                transport: TrunkTransport::Tcp,
            }],
            &[TrunkAuthEntry {
                username: "carrier".into(),
                password: "pw".into(),
            }],
            &[],
        );
        assert!(t.is_trunk_user("carrier") && !t.is_trunk_user("1001"));
        assert!(t.trusts(at(old), Transport::Udp));
        assert!(t.trusts(at(old), Transport::Tcp));
        assert!(t.trusts(at(tcp), Transport::Tcp));
        assert!(
            !t.trusts(at(tcp), Transport::Udp),
            "a forged UDP source is not the trunk"
        );
        assert!(!t.trusts(at(tcp), Transport::Tls));
        assert!(!t.trusts(at("10.0.0.2".parse().expect("ip")), Transport::Tcp));
    }

    #[test]
    fn a_pinned_certificate_trusts_its_connection_only_while_it_presents_it() {
        let mut t = TrunkTrust::new(&[], &[], &[], &[("carrier".into(), "ab".repeat(32))]);
        let a: SocketAddr = "192.0.2.7:40000".parse().expect("addr");
        assert!(!t.trusts(a, Transport::Tls));
        assert_eq!(t.note_tls_peer(a, Some(&"ab".repeat(32))), Some("carrier"));
        assert!(t.trusts(a, Transport::Tls));
        assert_eq!(t.pinned_trunk(a, Transport::Tls), Some("carrier"));
        assert!(!t.trusts(a, Transport::Tcp), "the pin is for TLS only");
        // The same address later without the certificate (a new connection) is not trusted.
        assert_eq!(t.note_tls_peer(a, None), None);
        assert!(!t.trusts(a, Transport::Tls));
        assert_eq!(t.note_tls_peer(a, Some(&"cd".repeat(32))), None);
        assert!(!t.trusts(a, Transport::Tls));
    }

    #[test]
    fn entries_parse_from_toml() {
        #[derive(Deserialize)]
        struct Sip {
            trunk_trust: Vec<TrunkTrustEntry>,
        }
        let s: Sip = toml::from_str(
            "[[trunk_trust]]\naddress = \"10.0.0.1\"\ntransport = \"tcp\"\n\
             [[trunk_trust]]\naddress = \"::1\"\ntransport = \"any\"\n",
        )
        .expect("parses");
        assert_eq!(s.trunk_trust[0].transport, TrunkTransport::Tcp);
        assert_eq!(s.trunk_trust[1].transport, TrunkTransport::Any);
        assert!(toml::from_str::<Sip>(
            "[[trunk_trust]]\naddress = \"10.0.0.1\"\ntransport = \"sctp\"\n"
        )
        .is_err());
    }
}
