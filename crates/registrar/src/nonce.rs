//! Stateless digest nonces with a bounded replay table (see
//! `docs/decisions/0007-stateless-nonces.md`).
//!
//! A nonce is 64 hex digits: `issued_ms` (16) `salt` (16) `mac` (32), where `mac` is the first
//! 16 bytes of HMAC-SHA256(secret, "sb-nonce-v1" | issued_ms | salt | realm). Verifying needs
//! only the secret. Replay protection needs state: the highest `nc` seen per nonce, kept in a
//! map bounded by `capacity`. When the map must drop a live nonce, every nonce issued at or
//! before the dropped one is treated as stale from then on, so eviction can cause extra
//! challenges but never lets a replay through. The same rule, with the construction time as
//! the floor, makes nonces issued by a previous process stale after a restart.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::digest::hmac_sha256;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NONCE_HEX_LEN: usize = 64;

/// Identity of a nonce that passed the MAC check: (issued at ms since epoch, salt).
pub(crate) type NonceId = (u64, u64);

/// Result of looking at a nonce the client returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NonceState {
    /// Not ours (bad MAC, bad shape).
    Invalid,
    /// Ours, but too old or no longer trackable: answer with `stale=true` if the response
    /// was otherwise right.
    Stale,
    /// Ours and current.
    Valid(NonceId),
}

/// Issues and checks nonces; tracks `nc` per nonce for replay protection.
pub(crate) struct NonceKeeper {
    secret: [u8; 32],
    realm: String,
    lifetime: Duration,
    rng: StdRng,
    /// Highest nc accepted per nonce, ordered by issue time so the oldest go first.
    seen: BTreeMap<NonceId, u32>,
    capacity: usize,
    /// Untracked nonces with `issued_ms <= floor_ms` are stale (restart, eviction).
    floor_ms: u64,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl NonceKeeper {
    /// `created` is the construction time: nonces issued before it (by an earlier process
    /// with the same secret) are stale.
    pub(crate) fn new(
        secret: [u8; 32],
        realm: &str,
        lifetime: Duration,
        capacity: usize,
        created: SystemTime,
    ) -> NonceKeeper {
        let seed = hmac_sha256(&secret, &[b"sb-nonce-salt-seed"]);
        NonceKeeper {
            secret,
            realm: realm.to_owned(),
            lifetime,
            rng: StdRng::from_seed(seed),
            seen: BTreeMap::new(),
            capacity: capacity.max(1),
            floor_ms: millis(created).saturating_sub(1),
        }
    }

    fn mac(&self, issued_ms: u64, salt: u64) -> [u8; 16] {
        let full = hmac_sha256(
            &self.secret,
            &[
                b"sb-nonce-v1",
                &issued_ms.to_be_bytes(),
                &salt.to_be_bytes(),
                self.realm.as_bytes(),
            ],
        );
        let mut out = [0u8; 16];
        for (d, s) in out.iter_mut().zip(full.iter()) {
            *d = *s;
        }
        out
    }

    /// A fresh nonce for a challenge sent at `now`.
    pub(crate) fn issue(&mut self, now: SystemTime) -> String {
        let issued_ms = millis(now);
        let salt = self.rng.next_u64();
        let mac = self.mac(issued_ms, salt);
        format!("{issued_ms:016x}{salt:016x}{}", hex::encode(mac))
    }

    /// Checks the MAC and age of a returned nonce. Does not touch the replay table.
    pub(crate) fn check(&self, nonce: &str, now: SystemTime) -> NonceState {
        if nonce.len() != NONCE_HEX_LEN || !nonce.is_ascii() {
            return NonceState::Invalid;
        }
        let (Some(ts), Some(salt), Some(mac)) =
            (nonce.get(..16), nonce.get(16..32), nonce.get(32..))
        else {
            return NonceState::Invalid;
        };
        let (Ok(ts), Ok(salt), Ok(mac)) = (
            u64::from_str_radix(ts, 16),
            u64::from_str_radix(salt, 16),
            hex::decode(mac),
        ) else {
            return NonceState::Invalid;
        };
        if !crate::digest::constant_time_eq(&mac, &self.mac(ts, salt)) {
            return NonceState::Invalid;
        }
        let age_ms = millis(now).saturating_sub(ts);
        if u128::from(age_ms) > self.lifetime.as_millis() {
            return NonceState::Stale;
        }
        let id = (ts, salt);
        if ts <= self.floor_ms && !self.seen.contains_key(&id) {
            return NonceState::Stale;
        }
        NonceState::Valid(id)
    }

    /// Records a use of nonce `id` with count `nc`. `false` means replay (nc not above the
    /// highest seen) or that the nonce can no longer be tracked; both are answered as stale.
    pub(crate) fn accept_nc(&mut self, id: NonceId, nc: u32, now: SystemTime) -> bool {
        self.prune(now);
        if let Some(last) = self.seen.get_mut(&id) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        if id.0 <= self.floor_ms {
            return false;
        }
        while self.seen.len() >= self.capacity {
            match self.seen.pop_first() {
                Some((old, _)) => self.floor_ms = self.floor_ms.max(old.0),
                None => break,
            }
        }
        if id.0 <= self.floor_ms {
            // We just evicted a nonce issued in the same millisecond or later.
            return false;
        }
        self.seen.insert(id, nc);
        true
    }

    /// Drops replay entries for nonces past their lifetime (they are stale by age anyway).
    pub(crate) fn prune(&mut self, now: SystemTime) {
        let life = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        let cutoff = millis(now).saturating_sub(life);
        while let Some((&(ts, _), _)) = self.seen.first_key_value() {
            if ts >= cutoff {
                break;
            }
            self.seen.pop_first();
            // Untracked nonces this old fail the age check, so raising the floor is free.
            self.floor_ms = self.floor_ms.max(ts);
        }
    }

    /// Number of nonces in the replay table.
    pub(crate) fn tracked(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn keeper(cap: usize) -> NonceKeeper {
        NonceKeeper::new([7; 32], "sb", Duration::from_secs(300), cap, t(0))
    }

    fn valid(k: &NonceKeeper, n: &str, now: SystemTime) -> NonceId {
        match k.check(n, now) {
            NonceState::Valid(id) => id,
            other => panic!("expected valid, got {other:?}"),
        }
    }

    #[test]
    fn issued_nonce_verifies_and_is_unique() {
        let mut k = keeper(16);
        let a = k.issue(t(1));
        let b = k.issue(t(1));
        assert_ne!(a, b);
        assert_eq!(a.len(), NONCE_HEX_LEN);
        valid(&k, &a, t(2));
        valid(&k, &b, t(2));
    }

    #[test]
    fn tampered_or_foreign_nonce_is_invalid() {
        let mut k = keeper(16);
        let n = k.issue(t(1));
        let mut bad = n.clone().into_bytes();
        bad[3] = if bad[3] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).expect("ascii");
        assert_eq!(k.check(&bad, t(2)), NonceState::Invalid);
        assert_eq!(k.check("xyz", t(2)), NonceState::Invalid);
        assert_eq!(k.check(&"é".repeat(32), t(2)), NonceState::Invalid);
        let mut other = NonceKeeper::new([8; 32], "sb", Duration::from_secs(300), 16, t(0));
        let foreign = other.issue(t(1));
        assert_eq!(k.check(&foreign, t(2)), NonceState::Invalid);
        let mut other_realm = NonceKeeper::new([7; 32], "x", Duration::from_secs(300), 16, t(0));
        let foreign = other_realm.issue(t(1));
        assert_eq!(k.check(&foreign, t(2)), NonceState::Invalid);
    }

    #[test]
    fn nonce_goes_stale_after_lifetime() {
        let mut k = keeper(16);
        let n = k.issue(t(10));
        valid(&k, &n, t(310));
        assert_eq!(k.check(&n, t(311)), NonceState::Stale);
    }

    #[test]
    fn nc_must_increase() {
        let mut k = keeper(16);
        let n = k.issue(t(1));
        let id = valid(&k, &n, t(1));
        assert!(k.accept_nc(id, 1, t(1)));
        assert!(!k.accept_nc(id, 1, t(2)));
        assert!(k.accept_nc(id, 3, t(2)));
        assert!(!k.accept_nc(id, 2, t(2)));
    }

    #[test]
    fn eviction_never_reopens_replay() {
        let mut k = keeper(2);
        let a = k.issue(t(1));
        let b = k.issue(t(2));
        let c = k.issue(t(3));
        let (ia, ib, ic) = (
            valid(&k, &a, t(3)),
            valid(&k, &b, t(3)),
            valid(&k, &c, t(3)),
        );
        assert!(k.accept_nc(ia, 1, t(3)));
        assert!(k.accept_nc(ib, 1, t(3)));
        assert!(k.accept_nc(ic, 1, t(3))); // evicts a
        assert_eq!(k.tracked(), 2);
        // a is no longer tracked: replaying it must not succeed; it reads as stale.
        assert_eq!(k.check(&a, t(4)), NonceState::Stale);
        assert!(!k.accept_nc(ia, 1, t(4)));
        // b, c still tracked and still protected.
        assert!(!k.accept_nc(ib, 1, t(4)));
        assert!(k.accept_nc(ic, 2, t(4)));
    }

    #[test]
    fn nonces_from_before_restart_are_stale() {
        let mut before = keeper(16);
        let n = before.issue(t(5));
        let after = NonceKeeper::new([7; 32], "sb", Duration::from_secs(300), 16, t(6));
        assert_eq!(after.check(&n, t(7)), NonceState::Stale);
        let mut after = after;
        let fresh = after.issue(t(6));
        valid(&after, &fresh, t(7));
    }

    #[test]
    fn prune_drops_old_entries() {
        let mut k = keeper(16);
        let n = k.issue(t(1));
        let id = valid(&k, &n, t(1));
        assert!(k.accept_nc(id, 1, t(1)));
        k.prune(t(400));
        assert_eq!(k.tracked(), 0);
        assert_eq!(k.check(&n, t(400)), NonceState::Stale);
    }
}
