//! The location service: who is registered where. A read-mostly concurrent table shared by
//! the registrar (the writer) and call routing (readers).

use dashmap::DashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use switchboard_sip_message::{Host, NameAddr, Uri};

/// One registered contact of a user (RFC 3261 §10.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The Contact as registered, without its `expires` parameter.
    pub contact: NameAddr,
    /// Where the REGISTER came from (send requests here when behind NAT).
    pub source: SocketAddr,
    /// Transport the REGISTER arrived on (`"UDP"`, `"TCP"`, `"TLS"`, ...).
    pub transport: String,
    /// When the binding lapses unless refreshed.
    pub expires_at: SystemTime,
    /// Call-ID of the REGISTER that last refreshed it.
    pub call_id: String,
    /// CSeq of the REGISTER that last refreshed it.
    pub cseq: u32,
    /// `User-Agent` of that REGISTER, if any.
    pub user_agent: Option<String>,
}

impl Binding {
    /// Seconds left at `now`, rounded up; 0 once expired.
    pub fn remaining_secs(&self, now: SystemTime) -> u64 {
        let d = self
            .expires_at
            .duration_since(now)
            .unwrap_or(Duration::ZERO);
        d.as_secs() + u64::from(d.subsec_nanos() > 0)
    }

    /// The key contacts are matched by (see [`contact_key`]).
    pub fn key(&self) -> String {
        contact_key(&self.contact.uri)
    }
}

/// Why a user's last binding went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogoutReason {
    /// The user agent unregistered (`Expires: 0`, `Contact: *`).
    Unregistered,
    /// The binding was not refreshed in time.
    Expired,
    /// Keepalives failed ([`LocationTable::mark_unreachable`]).
    Unreachable,
}

/// Presence changes for the ACD: a user went from zero bindings to some, or back.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LocationEvent {
    /// First binding of `user` was added.
    LoggedIn {
        /// Username (the AOR's user part).
        user: String,
    },
    /// Last binding of `user` went away.
    LoggedOut {
        /// Username (the AOR's user part).
        user: String,
        /// Why.
        reason: LogoutReason,
    },
}

/// Matching key for contact URIs: a simplification of RFC 3261 §19.1.4 comparison.
/// Scheme, user (case-sensitive), host (case-insensitive), port, and the `transport`,
/// `user`, `maddr`, `ttl`, `method` parameters (case-insensitive) take part; other
/// parameters do not.
pub fn contact_key(uri: &Uri) -> String {
    match uri {
        Uri::Sip(s) => {
            let host = match &s.host {
                Host::Name(n) => n.to_ascii_lowercase(),
                Host::V4(a) => a.to_string(),
                Host::V6(a) => format!("[{a}]"),
            };
            let mut k = format!(
                "{}:{}@{}:{}",
                if s.secure { "sips" } else { "sip" },
                s.user.as_deref().unwrap_or(""),
                host,
                s.port.map(|p| p.to_string()).unwrap_or_default()
            );
            for name in ["transport", "user", "maddr", "ttl", "method"] {
                if let Some(v) = s.param(name) {
                    k.push(';');
                    k.push_str(name);
                    k.push('=');
                    k.push_str(&v.unwrap_or("").to_ascii_lowercase());
                }
            }
            k
        }
        Uri::Tel(t) => format!("tel:{}", t.number),
        Uri::Other(o) => o.clone(),
    }
}

/// The shared location table: username -> bindings. Cheap to clone (an `Arc` inside);
/// give one clone to the registrar owner and others to INVITE routing.
///
/// Readers get clones out, never references, so nothing is held across an `.await`.
/// Writes for one user are atomic (one DashMap shard lock).
#[derive(Clone, Debug, Default)]
pub struct LocationTable {
    map: Arc<DashMap<String, Vec<Binding>>>,
}

impl LocationTable {
    /// An empty table.
    pub fn new() -> LocationTable {
        LocationTable::default()
    }

    /// All bindings of `user` (possibly including ones that lapsed since the last
    /// [`expire`](Self::expire)), in registration order.
    pub fn lookup(&self, user: &str) -> Vec<Binding> {
        self.map.get(user).map(|b| b.clone()).unwrap_or_default()
    }

    /// Bindings of `user` still valid at `now`: what INVITE routing should fork to.
    pub fn lookup_active(&self, user: &str, now: SystemTime) -> Vec<Binding> {
        self.map
            .get(user)
            .map(|bs| bs.iter().filter(|b| b.expires_at > now).cloned().collect())
            .unwrap_or_default()
    }

    /// Whether `user` has at least one binding.
    pub fn is_registered(&self, user: &str) -> bool {
        self.map.get(user).is_some_and(|b| !b.is_empty())
    }

    /// Registered usernames, sorted.
    pub fn users(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .map
            .iter()
            .filter(|e| !e.value().is_empty())
            .map(|e| e.key().clone())
            .collect();
        v.sort();
        v
    }

    /// Total number of bindings.
    pub fn binding_count(&self) -> usize {
        self.map.iter().map(|e| e.value().len()).sum()
    }

    /// Removes bindings whose time is up (`expires_at <= now`); one `LoggedOut{Expired}`
    /// per user left with none, sorted by user. Call when [`next_expiry`](Self::next_expiry)
    /// is reached.
    pub fn expire(&self, now: SystemTime) -> Vec<LocationEvent> {
        let mut emptied = Vec::new();
        for mut e in self.map.iter_mut() {
            let before = e.value().len();
            e.value_mut().retain(|b| b.expires_at > now);
            if before > 0 && e.value().is_empty() {
                emptied.push(e.key().clone());
            }
        }
        emptied.sort();
        emptied
            .into_iter()
            .filter(|u| self.map.remove_if(u, |_, v| v.is_empty()).is_some())
            .map(|user| LocationEvent::LoggedOut {
                user,
                reason: LogoutReason::Expired,
            })
            .collect()
    }

    /// Earliest `expires_at` over all bindings: the driver's next timer. O(bindings).
    pub fn next_expiry(&self) -> Option<SystemTime> {
        self.map
            .iter()
            .filter_map(|e| e.value().iter().map(|b| b.expires_at).min())
            .min()
    }

    /// Drops the binding of `user` whose contact matches `contact` (e.g. OPTIONS keepalives
    /// failed). Returns `LoggedOut{Unreachable}` if it was the last one.
    pub fn mark_unreachable(&self, user: &str, contact: &Uri) -> Option<LocationEvent> {
        let key = contact_key(contact);
        let emptied = {
            let mut e = self.map.get_mut(user)?;
            let before = e.len();
            e.retain(|b| b.key() != key);
            before > 0 && e.is_empty()
        };
        if emptied && self.map.remove_if(user, |_, v| v.is_empty()).is_some() {
            return Some(LocationEvent::LoggedOut {
                user: user.to_owned(),
                reason: LogoutReason::Unreachable,
            });
        }
        None
    }

    /// Runs `f` on `user`'s bindings under the shard lock, after dropping lapsed ones.
    /// Emits `LoggedOut{Expired}` if lapsing emptied the list, then `LoggedIn` /
    /// `LoggedOut{reason}` for the change `f` made.
    pub(crate) fn update<R>(
        &self,
        user: &str,
        now: SystemTime,
        reason: LogoutReason,
        f: impl FnOnce(&mut Vec<Binding>) -> R,
    ) -> (R, Vec<LocationEvent>) {
        let mut events = Vec::new();
        let (r, now_empty) = {
            let mut e = self.map.entry(user.to_owned()).or_default();
            let before = e.len();
            e.retain(|b| b.expires_at > now);
            if before > 0 && e.is_empty() {
                events.push(LocationEvent::LoggedOut {
                    user: user.to_owned(),
                    reason: LogoutReason::Expired,
                });
            }
            let was_empty = e.is_empty();
            let r = f(&mut e);
            if was_empty && !e.is_empty() {
                events.push(LocationEvent::LoggedIn {
                    user: user.to_owned(),
                });
            } else if !was_empty && e.is_empty() {
                events.push(LocationEvent::LoggedOut {
                    user: user.to_owned(),
                    reason,
                });
            }
            (r, e.is_empty())
        };
        if now_empty {
            self.map.remove_if(user, |_, v| v.is_empty());
        }
        (r, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn uri(s: &str) -> Uri {
        Uri::parse(s).expect("test uri")
    }

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(2_000_000_000 + s)
    }

    fn binding(contact: &str, expires: u64) -> Binding {
        Binding {
            contact: NameAddr::parse(contact).expect("test contact"),
            source: "192.0.2.1:5060".parse().expect("addr"),
            transport: "UDP".into(),
            expires_at: t(expires),
            call_id: "c".into(),
            cseq: 1,
            user_agent: None,
        }
    }

    #[test]
    fn contact_key_follows_uri_comparison_rules() {
        let k = |s| contact_key(&uri(s));
        assert_eq!(k("sip:a@EXAMPLE.com"), k("sip:a@example.com"));
        assert_ne!(k("sip:A@example.com"), k("sip:a@example.com"));
        assert_ne!(k("sip:a@example.com"), k("sips:a@example.com"));
        assert_ne!(k("sip:a@example.com"), k("sip:a@example.com:5060"));
        assert_eq!(
            k("sip:a@example.com;transport=TCP"),
            k("sip:a@example.com;transport=tcp")
        );
        assert_ne!(k("sip:a@example.com;transport=tcp"), k("sip:a@example.com"));
        // Unknown params do not take part.
        assert_eq!(k("sip:a@example.com;ob"), k("sip:a@example.com"));
    }

    #[test]
    fn update_emits_login_and_logout_once() {
        let tab = LocationTable::new();
        let ((), ev) = tab.update("u", t(0), LogoutReason::Unregistered, |bs| {
            bs.push(binding("<sip:u@h1>", 100));
            bs.push(binding("<sip:u@h2>", 200));
        });
        assert_eq!(ev, vec![LocationEvent::LoggedIn { user: "u".into() }]);
        let ((), ev) = tab.update("u", t(1), LogoutReason::Unregistered, |bs| {
            bs.retain(|b| b.contact.uri != uri("sip:u@h1"));
        });
        assert!(ev.is_empty());
        let ((), ev) = tab.update("u", t(2), LogoutReason::Unregistered, Vec::clear);
        assert_eq!(
            ev,
            vec![LocationEvent::LoggedOut {
                user: "u".into(),
                reason: LogoutReason::Unregistered
            }]
        );
        assert!(tab.users().is_empty());
        assert_eq!(tab.binding_count(), 0);
        // A no-op update on an unknown user leaves no trace.
        let ((), ev) = tab.update("v", t(3), LogoutReason::Unregistered, |_| {});
        assert!(ev.is_empty());
        assert!(tab.map.is_empty());
    }

    #[test]
    fn expire_and_next_expiry() {
        let tab = LocationTable::new();
        assert_eq!(tab.next_expiry(), None);
        tab.update("a", t(0), LogoutReason::Unregistered, |bs| {
            bs.push(binding("<sip:a@h>", 50));
            bs.push(binding("<sip:a@h2>", 10));
        });
        tab.update("b", t(0), LogoutReason::Unregistered, |bs| {
            bs.push(binding("<sip:b@h>", 30));
        });
        assert_eq!(tab.next_expiry(), Some(t(10)));
        assert!(tab.expire(t(10)).is_empty());
        assert_eq!(tab.lookup("a").len(), 1);
        assert_eq!(tab.next_expiry(), Some(t(30)));
        assert_eq!(
            tab.expire(t(60)),
            vec![
                LocationEvent::LoggedOut {
                    user: "a".into(),
                    reason: LogoutReason::Expired
                },
                LocationEvent::LoggedOut {
                    user: "b".into(),
                    reason: LogoutReason::Expired
                }
            ]
        );
        assert_eq!(tab.next_expiry(), None);
    }

    #[test]
    fn remaining_secs_rounds_up() {
        let b = binding("<sip:a@h>", 10);
        assert_eq!(b.remaining_secs(t(0)), 10);
        assert_eq!(b.remaining_secs(t(9) + Duration::from_millis(1)), 1);
        assert_eq!(b.remaining_secs(t(11)), 0);
    }
}
