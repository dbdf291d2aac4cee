//! Who a new INVITE acts as: a trusted trunk (by source address and transport, see
//! [`TrunkTrust`]) or a configured user whose digest credentials it carries. Everything
//! else gets 407 with a `Proxy-Authenticate` challenge (RFC 3261 §22.3), so agents'
//! internal, consultation and supervision calls act as the user who proved their
//! password, never as whatever registration shares the INVITE's source address (UDP
//! sources are forgeable). Failures count toward the registrar's per-source lockout, the
//! same one REGISTER guesses feed. The digest work is the registrar's
//! (`Registrar::authenticate_request`); this module decides when to ask for it, and
//! counts and logs what happened. See docs/decisions/0013-invite-authentication.md.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use switchboard_registrar::{Disposition, LocationTable, Registrar, RequestAuth};
use switchboard_sip::Transport;
use switchboard_sip_message::{HeaderName, Request, StatusCode};

use crate::metrics::Metrics;
use crate::pii::Pii;
use crate::trunk_trust::TrunkTrust;

/// What a new INVITE may do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InviteAdmission {
    /// A trunk call: the dialplan answers it.
    Trunk,
    /// Placed by this authenticated user (internal, consultation, supervision).
    User(String),
    /// Answer with this status and headers (407 + challenges, 403 locked, 400).
    Refuse {
        status: StatusCode,
        headers: Vec<(HeaderName, String)>,
    },
}

/// Counters of INVITE authentication (rendered into `/metrics`).
#[derive(Default)]
pub(crate) struct InviteAuthMetrics {
    pub(crate) challenges: AtomicU64,
    pub(crate) authenticated: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) locked_rejections: AtomicU64,
    pub(crate) stray_acks: AtomicU64,
}

impl InviteAuthMetrics {
    pub(crate) fn render(&self, out: &mut String) {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let rows = [
            (
                "switchboard_invite_auth_challenges_total",
                "INVITEs answered 407 (no, stale or wrong credentials).",
                g(&self.challenges),
            ),
            (
                "switchboard_invite_auth_accepted_total",
                "INVITEs whose Proxy-Authorization verified as a configured user.",
                g(&self.authenticated),
            ),
            (
                "switchboard_invite_auth_failures_total",
                "INVITEs with wrong credentials (unknown users included); they count toward the source's lockout.",
                g(&self.failures),
            ),
            (
                "switchboard_invite_auth_locked_rejections_total",
                "INVITEs refused with 403 because their source is locked out.",
                g(&self.locked_rejections),
            ),
            (
                "switchboard_sip_stray_acks_total",
                "ACKs dropped because they acknowledge no 2xx of ours (wrong Call-ID, tags or CSeq).",
                g(&self.stray_acks),
            ),
        ];
        for (name, help, v) in rows {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            );
        }
    }
}

/// Copies the registrar's digest and lockout counters (REGISTER and INVITE) into the
/// metrics.
pub(crate) fn publish_auth_stats(registrar: &Registrar, metrics: &Metrics, now: SystemTime) {
    let st = registrar.stats(now);
    let g = &metrics.guard;
    g.register_failures.store(st.failures, Ordering::Relaxed);
    g.register_lockouts
        .store(st.lockouts_started, Ordering::Relaxed);
    g.register_locked_rejections
        .store(st.locked_rejections, Ordering::Relaxed);
    g.register_lockout_exemptions
        .store(st.lockout_exemptions, Ordering::Relaxed);
    g.register_locked_sources
        .store(st.locked_ips as u64, Ordering::Relaxed);
}

/// Whether some registered user has a live binding at exactly `from` (address and port).
fn is_a_phone(location: &LocationTable, from: SocketAddr, now: SystemTime) -> bool {
    location.users().into_iter().any(|u| {
        location
            .lookup_active(&u, now)
            .iter()
            .any(|b| b.source == from)
    })
}

/// Decides what a new INVITE from `from` over `transport` may do.
///
/// A trusted trunk's INVITE is a trunk call, unless it carries credentials or comes from
/// exactly a registered phone's address (a phone on the trunk's host, or a forgery of one):
/// those must authenticate like any other. Never trusts a source address for a user.
pub(crate) fn admit_invite(
    now: SystemTime,
    trust: &TrunkTrust,
    registrar: &mut Registrar,
    from: SocketAddr,
    transport: Transport,
    invite: &Request,
    metrics: &InviteAuthMetrics,
) -> InviteAdmission {
    let has_credentials = invite
        .headers
        .get(&HeaderName::ProxyAuthorization)
        .is_some();
    if trust.trusts(from, transport)
        && !has_credentials
        && !is_a_phone(&registrar.location(), from, now)
    {
        return InviteAdmission::Trunk;
    }
    let out = registrar.authenticate_request(now, from, invite);
    if let Some(l) = &out.lockout {
        tracing::warn!(
            source = %Pii(l.source),
            cooldown_s = l.cooldown.as_secs(),
            strike = l.strike,
            "source locked out after repeated authentication failures (INVITE)"
        );
    }
    match &out.disposition {
        Disposition::AuthFailed => {
            metrics.failures.fetch_add(1, Ordering::Relaxed);
            tracing::info!(source = %Pii(from), "INVITE with wrong credentials: 407");
        }
        Disposition::LockedOut => {
            metrics.locked_rejections.fetch_add(1, Ordering::Relaxed);
            tracing::info!(source = %Pii(from), "INVITE from a locked-out source: 403");
        }
        _ => {}
    }
    match out.verdict {
        RequestAuth::Authenticated { user } if trust.is_trunk_user(&user) => {
            metrics.authenticated.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(trunk = %user, "trunk INVITE authenticated");
            InviteAdmission::Trunk
        }
        RequestAuth::Authenticated { user } => {
            metrics.authenticated.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(agent = %user, "INVITE authenticated");
            InviteAdmission::User(user)
        }
        RequestAuth::Challenge { proxy_authenticate } => {
            metrics.challenges.fetch_add(1, Ordering::Relaxed);
            InviteAdmission::Refuse {
                status: StatusCode(407),
                headers: proxy_authenticate
                    .into_iter()
                    .map(|v| (HeaderName::ProxyAuthenticate, v))
                    .collect(),
            }
        }
        RequestAuth::Refused { status } => InviteAdmission::Refuse {
            status,
            headers: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};
    use switchboard_registrar::{Algorithm, RegistrarConfig, UserDirectory};
    use switchboard_sip_message::{parse_datagram, Limits, Message};

    fn invite(auth: Option<&str>) -> Request {
        let mut text = "INVITE sip:listen-1001@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 10.0.0.9:5062;branch=z9hG4bK1\r\n\
             From: <sip:2001@127.0.0.1>;tag=f1\r\nTo: <sip:listen-1001@127.0.0.1>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\n"
            .to_string();
        if let Some(a) = auth {
            text.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match parse_datagram(text.as_bytes(), &Limits::default()) {
            Ok(Message::Request(r)) => r,
            other => panic!("test INVITE does not parse: {other:?}"),
        }
    }

    fn setup() -> (Registrar, LocationTable, TrunkTrust) {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut cfg = RegistrarConfig::new("switchboard");
        cfg.algorithms = vec![Algorithm::Md5];
        let users: UserDirectory = [("2001", "pw")].into_iter().collect();
        let location = LocationTable::new();
        let r = Registrar::with_location(now, cfg, users, [1; 32], location.clone());
        let trust = TrunkTrust::new(
            &[],
            &[crate::trunk_trust::TrunkTrustEntry {
                address: "10.0.0.1".parse().expect("ip"),
                transport: crate::trunk_trust::TrunkTransport::Tcp,
            }],
            &[],
            &[],
        );
        (r, location, trust)
    }

    #[test]
    fn a_trunk_over_its_transport_is_a_trunk_call_anything_else_is_challenged() {
        let (mut r, _loc, trust) = setup();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_001);
        let m = InviteAuthMetrics::default();
        let trunk: SocketAddr = "10.0.0.1:5060".parse().expect("addr");
        let inv = invite(None);
        assert_eq!(
            admit_invite(now, &trust, &mut r, trunk, Transport::Tcp, &inv, &m),
            InviteAdmission::Trunk
        );
        // The trunk's address over UDP (forgeable) is not the trunk.
        match admit_invite(now, &trust, &mut r, trunk, Transport::Udp, &inv, &m) {
            InviteAdmission::Refuse { status, headers } => {
                assert_eq!(status, StatusCode(407));
                assert_eq!(headers.len(), 1);
                assert_eq!(headers[0].0, HeaderName::ProxyAuthenticate);
                assert!(headers[0].1.starts_with("Digest realm=\"switchboard\""));
            }
            other => panic!("expected 407, got {other:?}"),
        }
        // Malformed credentials: 400, no challenge.
        let bad = invite(Some("Digest username="));
        let phone: SocketAddr = "10.0.0.9:5062".parse().expect("addr");
        assert_eq!(
            admit_invite(now, &trust, &mut r, phone, Transport::Udp, &bad, &m),
            InviteAdmission::Refuse {
                status: StatusCode::BAD_REQUEST,
                headers: Vec::new()
            }
        );
        assert_eq!(m.challenges.load(Ordering::Relaxed), 1);
    }
}
