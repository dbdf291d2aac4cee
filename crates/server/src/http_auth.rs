//! Who is calling the HTTP API: bearer tokens with a role (`admin`, `supervisor`, `agent`
//! bound to one agent), configured as `[[http.tokens]]` with the token's SHA-256, never
//! the token itself. A handler takes a [`Principal`] argument to require a valid token,
//! then asks it for the role the action needs. A token with a `tenant` sees only that
//! tenant's queues, agents and calls ([`Principal::sees_queue`] and friends); anything of
//! another tenant is answered as if it did not exist (404, no oracle).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::http_error::ApiError;
use crate::tenants::{TenantScope, TenantScopes};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// Everything.
    Admin,
    /// Read everything; control any agent.
    Supervisor,
    /// Read queues; read and control only its own agent.
    Agent,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
        }
    }
}

/// One `[[http.tokens]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TokenConfig {
    /// A label for logs and events (not secret).
    pub(crate) name: String,
    /// Hex SHA-256 of the token (`switchboard token new` prints both).
    pub(crate) sha256: String,
    pub(crate) role: Role,
    /// For `role = "agent"`: the agent (user name) this token acts for.
    #[serde(default)]
    pub(crate) agent: Option<String>,
    /// A `[[tenants]]` name: the token sees only that tenant's queues, agents, calls,
    /// callbacks, events and reports.
    #[serde(default)]
    pub(crate) tenant: Option<String>,
}

/// The demo tokens of the embedded config; `switchboard run` refuses to listen beyond
/// loopback while any is configured.
pub(crate) const DEMO_TOKENS: [&str; 9] = [
    "demo-admin",
    "demo-supervisor",
    "demo-supervisor-acme",
    "demo-supervisor-globex",
    "demo-agent-1001",
    "demo-agent-1002",
    "demo-agent-1003",
    "demo-agent-1004",
    "demo-agent-1005",
];

/// Hex SHA-256 of a token, as `[[http.tokens]] sha256` stores it.
pub(crate) fn token_sha256(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A caller the API recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) name: String,
    pub(crate) role: Role,
    pub(crate) agent: Option<String>,
    /// Set for a tenant-scoped token: what it may see.
    pub(crate) scope: Option<Arc<TenantScope>>,
}

impl Principal {
    /// The tenant the token is scoped to, if any.
    pub(crate) fn tenant(&self) -> Option<&str> {
        self.scope.as_deref().map(|s| s.tenant.as_str())
    }

    /// Whether this token may see the queue (unscoped tokens see every queue).
    pub(crate) fn sees_queue(&self, queue: &str) -> bool {
        self.scope.as_deref().is_none_or(|s| s.sees_queue(queue))
    }

    /// Whether this token may see the agent.
    pub(crate) fn sees_agent(&self, agent: &str) -> bool {
        self.scope.as_deref().is_none_or(|s| s.sees_agent(agent))
    }

    /// Whether this token may see a call tagged with `tenant`, in `queue`.
    pub(crate) fn sees_call(&self, tenant: Option<&str>, queue: Option<&str>) -> bool {
        self.scope
            .as_deref()
            .is_none_or(|s| s.sees_call(tenant, queue))
    }

    /// Admins and supervisors.
    pub(crate) fn require_staff(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Supervisor => Ok(()),
            Role::Agent => Err(ApiError::forbidden(
                "this needs a supervisor or admin token",
            )),
        }
    }

    /// Staff, or the agent token of `agent` itself.
    pub(crate) fn require_agent_or_staff(&self, agent: &str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin | Role::Supervisor => Ok(()),
            Role::Agent if self.agent.as_deref() == Some(agent) => Ok(()),
            Role::Agent => Err(ApiError::forbidden(format!(
                "an agent token acts only for its own agent, not {agent}"
            ))),
        }
    }
}

/// The configured tokens, by hash.
#[derive(Debug, Default)]
pub(crate) struct TokenTable {
    entries: Vec<([u8; 32], Principal)>,
}

impl TokenTable {
    /// Validates `[[http.tokens]]`: hashes are 64 hex digits, agent tokens name a
    /// configured user, staff tokens name none, a `tenant` is a configured one, names and
    /// hashes are unique.
    pub(crate) fn from_config(
        tokens: &[TokenConfig],
        users: &[String],
        tenants: &TenantScopes,
    ) -> anyhow::Result<Self> {
        let mut entries: Vec<([u8; 32], Principal)> = Vec::new();
        for t in tokens {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(t.sha256.trim(), &mut digest).map_err(|_| {
                anyhow::anyhow!(
                    "http.tokens {:?}: sha256 must be 64 hex digits (`switchboard token new` prints one)",
                    t.name
                )
            })?;
            match (t.role, &t.agent) {
                (Role::Agent, Some(a)) if users.contains(a) => {}
                (Role::Agent, Some(a)) => anyhow::bail!(
                    "http.tokens {:?}: agent {a:?} is not a configured user",
                    t.name
                ),
                (Role::Agent, None) => anyhow::bail!(
                    "http.tokens {:?}: role \"agent\" needs `agent = \"<user>\"`",
                    t.name
                ),
                (_, Some(_)) => anyhow::bail!(
                    "http.tokens {:?}: only role \"agent\" takes an `agent`",
                    t.name
                ),
                (_, None) => {}
            }
            let scope = match &t.tenant {
                None => None,
                Some(name) => Some(tenants.get(name).cloned().ok_or_else(|| {
                    let demo = if DEMO_TOKENS.contains(&t.name.as_str()) {
                        " (a demo token of the embedded config: a config with its own \
                         [[tenants]] defines its own [[http.tokens]] too)"
                    } else {
                        ""
                    };
                    anyhow::anyhow!(
                        "http.tokens {:?}: tenant {name:?} is not a configured [[tenants]] name{demo}",
                        t.name
                    )
                })?),
            };
            if let (Some(s), Some(a)) = (&scope, &t.agent) {
                if !s.sees_agent(a) {
                    anyhow::bail!(
                        "http.tokens {:?}: agent {a:?} does not serve tenant {:?}",
                        t.name,
                        s.tenant
                    );
                }
            }
            if entries
                .iter()
                .any(|(d, p)| *d == digest || p.name == t.name)
            {
                anyhow::bail!("http.tokens {:?}: duplicate name or token", t.name);
            }
            entries.push((
                digest,
                Principal {
                    name: t.name.clone(),
                    role: t.role,
                    agent: t.agent.clone(),
                    scope,
                },
            ));
        }
        Ok(TokenTable { entries })
    }

    /// The principal a presented token belongs to. Every entry is compared in full, in
    /// constant time per entry.
    pub(crate) fn find(&self, token: &str) -> Option<&Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (d, p) in &self.entries {
            let diff = d.iter().zip(&digest).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(p);
            }
        }
        found
    }

    /// Whether one of the embedded demo tokens is configured.
    pub(crate) fn has_demo_token(&self) -> bool {
        DEMO_TOKENS.iter().any(|t| self.find(t).is_some())
    }
}

#[axum::async_trait]
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Principal, ApiError> {
        let table = parts
            .extensions
            .get::<Arc<TokenTable>>()
            .ok_or_else(ApiError::unauthorized)?;
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let (scheme, token) = header.split_once(' ').ok_or_else(ApiError::unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::unauthorized());
        }
        table
            .find(token.trim())
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(name: &str, token: &str, role: Role, agent: Option<&str>) -> TokenConfig {
        TokenConfig {
            name: name.into(),
            sha256: token_sha256(token),
            role,
            agent: agent.map(str::to_string),
            tenant: None,
        }
    }

    #[test]
    fn tokens_are_found_by_hash_and_validated() {
        let users = vec!["1001".to_string()];
        let t = TokenTable::from_config(
            &[
                cfg("a", "tok-a", Role::Admin, None),
                cfg("x", "tok-x", Role::Agent, Some("1001")),
            ],
            &users,
            &TenantScopes::default(),
        )
        .unwrap();
        assert_eq!(t.find("tok-a").map(|p| p.role), Some(Role::Admin));
        assert_eq!(
            t.find("tok-x").and_then(|p| p.agent.clone()),
            Some("1001".into())
        );
        assert!(t.find("tok-b").is_none());
        assert!(!t.has_demo_token());
        for bad in [
            vec![cfg("x", "t", Role::Agent, None)],
            vec![cfg("x", "t", Role::Agent, Some("9999"))],
            vec![cfg("x", "t", Role::Admin, Some("1001"))],
            vec![
                cfg("a", "t", Role::Admin, None),
                cfg("a", "u", Role::Admin, None),
            ],
            vec![TokenConfig {
                sha256: "zz".into(),
                ..cfg("x", "t", Role::Admin, None)
            }],
        ] {
            assert!(TokenTable::from_config(&bad, &users, &TenantScopes::default()).is_err());
        }
    }

    #[test]
    fn roles_gate_actions() {
        let agent = Principal {
            name: "x".into(),
            role: Role::Agent,
            agent: Some("1001".into()),
            scope: None,
        };
        assert!(agent.require_agent_or_staff("1001").is_ok());
        assert!(agent.require_agent_or_staff("1002").is_err());
        assert!(agent.require_staff().is_err());
        let sup = Principal {
            role: Role::Supervisor,
            agent: None,
            ..agent
        };
        assert!(sup.require_agent_or_staff("1002").is_ok());
        assert!(sup.require_staff().is_ok());
    }
}
