//! The location service: who is registered where. A read-mostly concurrent table shared by
//! the registrar (the writer) and call routing (readers).

use dashmap::DashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Bumped by every write: a store persists the table when it moves.
    generation: Arc<AtomicU64>,
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
        let mut removed = false;
        for mut e in self.map.iter_mut() {
            let before = e.value().len();
            e.value_mut().retain(|b| b.expires_at > now);
            removed |= e.value().len() != before;
            if before > 0 && e.value().is_empty() {
                emptied.push(e.key().clone());
            }
        }
        if removed {
            self.bump();
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
            if e.len() != before {
                self.bump();
            }
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
        self.bump();
        (r, events)
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// A counter that every change to the table moves (a binding added, refreshed, removed,
    /// expired or imported). A store compares it with the value it last saved.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Every binding as `(user, binding)`, users sorted, each user's in registration order:
    /// what a store saves so registrations survive a restart. Bindings keep their absolute
    /// `expires_at`.
    pub fn export(&self) -> Vec<(String, Binding)> {
        let mut out: Vec<(String, Binding)> = self
            .map
            .iter()
            .flat_map(|e| {
                let user = e.key().clone();
                e.value()
                    .iter()
                    .map(move |b| (user.clone(), b.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Restores bindings saved by [`export`](Self::export) (at start, after a restart).
    /// Bindings that lapsed by `now` are dropped; one whose contact the user already has
    /// replaces it. Returns a `LoggedIn` per user who had no binding and now has one,
    /// sorted by user, for the ACD.
    pub fn import(
        &self,
        now: SystemTime,
        saved: impl IntoIterator<Item = (String, Binding)>,
    ) -> Vec<LocationEvent> {
        let mut by_user: std::collections::BTreeMap<String, Vec<Binding>> =
            std::collections::BTreeMap::new();
        for (user, b) in saved {
            if b.expires_at > now {
                by_user.entry(user).or_default().push(b);
            }
        }
        let mut events = Vec::new();
        for (user, bindings) in by_user {
            let ((), evs) = self.update(&user, now, LogoutReason::Expired, |bs| {
                for b in bindings {
                    let key = b.key();
                    bs.retain(|old| old.key() != key);
                    bs.push(b);
                }
            });
            events.extend(evs);
        }
        events
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
    fn export_then_import_restores_live_bindings_and_logs_their_users_in() {
        let tab = LocationTable::new();
        let g0 = tab.generation();
        tab.update("a", t(0), LogoutReason::Unregistered, |bs| {
            bs.push(binding("<sip:a@h>", 100));
            bs.push(binding("<sip:a@h2>", 10));
        });
        tab.update("b", t(0), LogoutReason::Unregistered, |bs| {
            bs.push(binding("<sip:b@h>", 30));
        });
        assert!(tab.generation() > g0, "writes move the generation");
        let saved = tab.export();
        assert_eq!(saved.len(), 3);
        assert_eq!(saved[0].0, "a");
        assert_eq!(saved[2].0, "b");

        // A restart 20 s later: a@h2 has lapsed, the others come back with their expiry.
        let fresh = LocationTable::new();
        let ev = fresh.import(t(20), saved.clone());
        assert_eq!(
            ev,
            vec![
                LocationEvent::LoggedIn { user: "a".into() },
                LocationEvent::LoggedIn { user: "b".into() }
            ]
        );
        assert_eq!(fresh.lookup("a"), vec![binding("<sip:a@h>", 100)]);
        assert_eq!(fresh.lookup("b"), vec![binding("<sip:b@h>", 30)]);
        assert_eq!(fresh.next_expiry(), Some(t(30)));

        // Much later everything has lapsed: nothing comes back, nobody logs in.
        let late = LocationTable::new();
        assert!(late.import(t(1000), saved).is_empty());
        assert_eq!(late.binding_count(), 0);
    }

    #[test]
    fn import_replaces_a_binding_with_the_same_contact() {
        let tab = LocationTable::new();
        tab.update("a", t(0), LogoutReason::Unregistered, |bs| {
            bs.push(binding("<sip:a@h>", 10));
        });
        let ev = tab.import(t(1), vec![("a".to_string(), binding("<sip:a@h>", 50))]);
        assert!(ev.is_empty(), "a was already logged in");
        assert_eq!(tab.lookup("a"), vec![binding("<sip:a@h>", 50)]);
    }

    #[test]
    fn remaining_secs_rounds_up() {
        let b = binding("<sip:a@h>", 10);
        assert_eq!(b.remaining_secs(t(0)), 10);
        assert_eq!(b.remaining_secs(t(9) + Duration::from_millis(1)), 1);
        assert_eq!(b.remaining_secs(t(11)), 0);
    }
}
