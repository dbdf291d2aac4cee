//! Who may register: the [`UserDirectory`] a registrar is built from (plain passwords or
//! precomputed HA1s, and trunk accounts that may authenticate INVITEs only), and the HA1
//! set each user is reduced to.

use crate::digest::{Ha1, HashKind};
use std::collections::{HashMap, HashSet};
use std::fmt;

#[derive(Clone)]
pub(super) enum Secret {
    Password(String),
    Ha1(Option<Ha1>, Option<Ha1>),
}

/// Who may register, with what secret. Passwords are turned into HA1s for the realm when
/// the registrar is built and then dropped; precomputed HA1s can be given instead.
#[derive(Clone, Default)]
pub struct UserDirectory {
    pub(super) users: HashMap<String, Secret>,
    /// Users whose credentials authenticate requests (a carrier's INVITEs) but never a
    /// REGISTER: trunk digest accounts.
    pub(super) invite_only: HashSet<String>,
}

impl fmt::Debug for UserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserDirectory({} users)", self.users.len())
    }
}

impl UserDirectory {
    /// No users.
    pub fn new() -> UserDirectory {
        UserDirectory::default()
    }

    /// Adds or replaces `user` with a plain password.
    pub fn insert_password(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.users
            .insert(user.into(), Secret::Password(password.into()));
    }

    /// Adds a user whose credentials authenticate INVITEs only (a trunk's inbound digest
    /// account): a REGISTER that authenticates as it gets 403
    /// ([`Disposition::InviteOnlyCredentials`](super::Disposition::InviteOnlyCredentials)),
    /// so a carrier's password never becomes a phone's binding.
    pub fn insert_invite_only_password(
        &mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) {
        let user = user.into();
        self.invite_only.insert(user.clone());
        self.insert_password(user, password);
    }

    /// Builder form of [`insert_password`](Self::insert_password).
    pub fn with_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.insert_password(user, password);
        self
    }

    /// Adds a precomputed HA1 for `user` (computed with the registrar's realm). One MD5 and
    /// one SHA-256 HA1 may be given; an algorithm without an HA1 never authenticates.
    pub fn insert_ha1(&mut self, user: impl Into<String>, ha1: Ha1) {
        let e = self
            .users
            .entry(user.into())
            .or_insert(Secret::Ha1(None, None));
        if let Secret::Password(_) = e {
            *e = Secret::Ha1(None, None);
        }
        if let Secret::Ha1(md5, sha) = e {
            match ha1.kind() {
                HashKind::Md5 => *md5 = Some(ha1),
                HashKind::Sha256 => *sha = Some(ha1),
            }
        }
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl<U: Into<String>, P: Into<String>> FromIterator<(U, P)> for UserDirectory {
    fn from_iter<I: IntoIterator<Item = (U, P)>>(iter: I) -> Self {
        let mut d = UserDirectory::new();
        for (u, p) in iter {
            d.insert_password(u, p);
        }
        d
    }
}

#[derive(Clone)]
pub(super) struct Ha1Set {
    pub(super) md5: Option<Ha1>,
    pub(super) sha256: Option<Ha1>,
}

impl Ha1Set {
    pub(super) fn get(&self, kind: HashKind) -> Option<&Ha1> {
        match kind {
            HashKind::Md5 => self.md5.as_ref(),
            HashKind::Sha256 => self.sha256.as_ref(),
        }
    }
}
