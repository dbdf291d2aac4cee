//! Tenants: the clients an outsourcing centre answers for. `[[tenants]]` names each client
//! with what agents are told about it (display name, description, products), where its own
//! prompts override the shared ones and where its calls' recordings go. Users (agents, who
//! may serve several clients) and queues refer to tenants by name; a dialplan's `tenant`
//! (or an `entry … tenant`) tags a call. This module validates those references and builds
//! the [`TenantScope`] a tenant-scoped API token sees through.
//!
//! It is not the matching of calls to agents (the ACD core does that with `TenantId`s), nor
//! the filtering of each endpoint's JSON (that is beside each endpoint, using the scope).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use serde::{Deserialize, Deserializer};

/// One `[[tenants]]` entry.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TenantConfig {
    /// The name users, queues, tokens and dialplans use: letters, digits, `_` and `-`.
    pub(crate) name: String,
    /// What agents see on the offer card (default: `name`).
    #[serde(default)]
    pub(crate) display_name: Option<String>,
    /// A line or two for the agent about the client.
    #[serde(default)]
    pub(crate) description: String,
    /// The client's products, shown on the offer card.
    #[serde(default)]
    pub(crate) products: Vec<String>,
    /// The tenant's own prompts (`<lang>/<name>.wav`, like `ivr.prompts`); a prompt not
    /// there falls back to the shared one.
    #[serde(default)]
    pub(crate) prompts_dir: Option<PathBuf>,
    /// Where recordings of the tenant's calls go (default: the shared recordings directory).
    #[serde(default)]
    pub(crate) recordings_dir: Option<PathBuf>,
}

impl TenantConfig {
    pub(crate) fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }
}

/// `tenant = "acme"` or `tenant = ["acme", "globex"]` (also spelled `tenants`).
pub(crate) fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks `[[tenants]]` and every reference to a tenant from users and queues: names are
/// words and unique, display names are short, every referenced tenant is configured.
pub(crate) fn validate(
    tenants: &[TenantConfig],
    users: &[crate::config::UserConfig],
    queues: &[crate::queue_config::QueueConfig],
) -> anyhow::Result<()> {
    let mut seen = BTreeSet::new();
    for t in tenants {
        if !is_name(&t.name) {
            bail!(
                "tenants.name: {:?} is not a tenant name (1-64 letters, digits, _ and -)",
                t.name.chars().take(64).collect::<String>()
            );
        }
        if !seen.insert(t.name.as_str()) {
            bail!("tenants.name: {:?} is configured twice", t.name);
        }
        if t.display_name
            .as_ref()
            .is_some_and(|d| d.trim().is_empty() || d.len() > 200)
        {
            bail!("tenants {}: display_name must be 1-200 characters", t.name);
        }
        if t.description.len() > 2000 {
            bail!("tenants {}: description is at most 2000 bytes", t.name);
        }
        if t.products.len() > 100 || t.products.iter().any(|p| p.len() > 200) {
            bail!(
                "tenants {}: products are at most 100 names of at most 200 bytes",
                t.name
            );
        }
    }
    for u in users {
        if let Some(t) = u.tenants.iter().find(|t| !seen.contains(t.as_str())) {
            bail!(
                "users {}: tenant {t:?} is not configured; add [[tenants]] name = {t:?}",
                u.name
            );
        }
    }
    for q in queues {
        if let Some(t) = q.tenant.as_ref().filter(|t| !seen.contains(t.as_str())) {
            bail!(
                "queues {}: tenant {t:?} is not configured; add [[tenants]] name = {t:?}",
                q.name
            );
        }
    }
    Ok(())
}

/// What a tenant-scoped API token may see: the tenant's queues (those with its `tenant`),
/// its agents (users that serve it) and the calls tagged with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TenantScope {
    pub(crate) tenant: String,
    queues: BTreeSet<String>,
    agents: BTreeSet<String>,
    /// Queues without a `tenant` (shared between clients): a report shows the tenant its
    /// own calls in them.
    shared: BTreeSet<String>,
}

impl TenantScope {
    #[cfg(test)]
    pub(crate) fn for_test(tenant: &str, queues: &[&str], agents: &[&str]) -> TenantScope {
        TenantScope {
            tenant: tenant.into(),
            queues: queues.iter().map(|q| q.to_string()).collect(),
            agents: agents.iter().map(|a| a.to_string()).collect(),
            shared: BTreeSet::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_shared(mut self, queues: &[&str]) -> TenantScope {
        self.shared = queues.iter().map(|q| q.to_string()).collect();
        self
    }

    /// A queue no tenant owns (its report rows count only this tenant's calls).
    pub(crate) fn is_shared_queue(&self, queue: &str) -> bool {
        self.shared.contains(queue)
    }

    pub(crate) fn sees_queue(&self, queue: &str) -> bool {
        self.queues.contains(queue)
    }
    pub(crate) fn sees_agent(&self, agent: &str) -> bool {
        self.agents.contains(agent)
    }
    /// A call tagged with a tenant is the tenant's; an untagged one is when it is in one
    /// of the tenant's queues.
    pub(crate) fn sees_call(&self, tenant: Option<&str>, queue: Option<&str>) -> bool {
        match tenant {
            Some(t) => t == self.tenant,
            None => queue.is_some_and(|q| self.sees_queue(q)),
        }
    }
}

/// Every configured tenant's scope, by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct TenantScopes(BTreeMap<String, Arc<TenantScope>>);

impl TenantScopes {
    pub(crate) fn new(
        tenants: &[TenantConfig],
        users: &[crate::config::UserConfig],
        queues: &[crate::queue_config::QueueConfig],
    ) -> TenantScopes {
        TenantScopes(
            tenants
                .iter()
                .map(|t| {
                    let scope = TenantScope {
                        tenant: t.name.clone(),
                        queues: queues
                            .iter()
                            .filter(|q| q.tenant.as_deref() == Some(t.name.as_str()))
                            .map(|q| q.name.clone())
                            .collect(),
                        agents: users
                            .iter()
                            .filter(|u| u.tenants.contains(&t.name))
                            .map(|u| u.name.clone())
                            .collect(),
                        shared: queues
                            .iter()
                            .filter(|q| q.tenant.is_none())
                            .map(|q| q.name.clone())
                            .collect(),
                    };
                    (t.name.clone(), Arc::new(scope))
                })
                .collect(),
        )
    }

    pub(crate) fn get(&self, tenant: &str) -> Option<&Arc<TenantScope>> {
        self.0.get(tenant)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(text: &str) -> Result<Config, String> {
        let dir =
            std::env::temp_dir().join(format!("sb-tenants-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, text).unwrap();
        let r = Config::load(Some(&p)).map_err(|e| format!("{e:#}"));
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    const TENANTS: &str = r#"
[[tenants]]
name = "acme"
display_name = "ACME Corp"
description = "Rockets and anvils"
products = ["rocket", "anvil"]
recordings_dir = "/tmp/acme-rec"
[[tenants]]
name = "globex"
"#;

    #[test]
    fn tenants_load_and_agents_serve_one_or_several() {
        let cfg = load(&format!(
            "{TENANTS}
[[users]]
name = \"a1\"
password = \"p\"
tenant = \"acme\"
[[users]]
name = \"a2\"
password = \"p\"
tenant = [\"acme\", \"globex\"]
[[users]]
name = \"a3\"
password = \"p\"
tenants = [\"globex\"]
[[queues]]
name = \"acme-q\"
tenant = \"acme\"
members = [\"a1\", \"a2\"]
[[http.tokens]]
name = \"acme-sup\"
sha256 = \"{}\"
role = \"supervisor\"
tenant = \"acme\"
[[http.tokens]]
name = \"admin\"
sha256 = \"{}\"
role = \"admin\"
",
            crate::http_auth::token_sha256("acme-token"),
            crate::http_auth::token_sha256("admin-token"),
        ))
        .unwrap();
        let users: Vec<String> = cfg.users.iter().map(|u| u.name.clone()).collect();
        let tokens = crate::http_auth::TokenTable::from_config(
            &cfg.http.tokens,
            &users,
            &cfg.tenant_scopes(),
        )
        .unwrap();
        let sup = tokens.find("acme-token").unwrap();
        assert_eq!(sup.tenant(), Some("acme"));
        assert!(sup.sees_queue("acme-q") && !sup.sees_queue("sales"));
        assert!(sup.sees_agent("a2") && !sup.sees_agent("a3"));
        let admin = tokens.find("admin-token").unwrap();
        assert_eq!(admin.tenant(), None);
        assert!(admin.sees_queue("sales") && admin.sees_agent("a3") && admin.sees_call(None, None));
        let acme = &cfg.tenants[0];
        assert_eq!(acme.display_name(), "ACME Corp");
        assert_eq!(acme.products, ["rocket", "anvil"]);
        assert_eq!(cfg.tenants[1].display_name(), "globex");
        let tenants_of = |n: &str| {
            cfg.users
                .iter()
                .find(|u| u.name == n)
                .map(|u| u.tenants.clone())
                .unwrap()
        };
        assert_eq!(tenants_of("a1"), ["acme"]);
        assert_eq!(tenants_of("a2"), ["acme", "globex"]);
        assert_eq!(tenants_of("a3"), ["globex"]);
        let scopes = cfg.tenant_scopes();
        let acme = scopes.get("acme").unwrap();
        assert!(acme.sees_queue("acme-q") && !acme.sees_queue("sales"));
        assert!(acme.sees_agent("a1") && acme.sees_agent("a2") && !acme.sees_agent("a3"));
        assert!(acme.sees_call(Some("acme"), Some("sales")));
        assert!(!acme.sees_call(Some("globex"), Some("acme-q")));
        assert!(acme.sees_call(None, Some("acme-q")));
        assert!(!acme.sees_call(None, Some("sales")) && !acme.sees_call(None, None));
        // Recordings: acme's in its own directory, globex's (none configured) shared.
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        let file = |t| crate::recorder::recording_file(&cfg, t, day, 42).unwrap();
        assert_eq!(
            file(Some("acme")),
            std::path::PathBuf::from("/tmp/acme-rec/2026/12/07/42.wav")
        );
        assert_eq!(
            file(Some("globex")),
            cfg.data.dir.join("recordings/2026/12/07/42.wav")
        );
        assert_eq!(file(None), file(Some("globex")));
        let globex = scopes.get("globex").unwrap();
        assert!(globex.sees_agent("a2") && globex.sees_agent("a3") && !globex.sees_agent("a1"));
    }

    #[test]
    fn bad_tenant_config_is_refused_naming_the_key() {
        for (text, key) in [
            ("[[tenants]]\nname = \"a b\"\n", "tenants.name"),
            (
                "[[tenants]]\nname = \"a\"\n[[tenants]]\nname = \"a\"\n",
                "tenants.name: \"a\" is configured twice",
            ),
            (
                "[[tenants]]\nname = \"a\"\ndisplay_name = \" \"\n",
                "tenants a: display_name",
            ),
            ("[[tenants]]\nname = \"a\"\nlogo = \"x\"\n", "logo"),
            (
                "[[users]]\nname = \"u\"\npassword = \"p\"\ntenant = \"nope\"\n",
                "users u: tenant \"nope\" is not configured",
            ),
            (
                "[[users]]\nname = \"u\"\npassword = \"p\"\ntenant = \"a\"\ntenants = [\"a\"]\n",
                "tenant",
            ),
            (
                "[[queues]]\nname = \"q\"\ntenant = \"nope\"\n",
                "queues q: tenant \"nope\" is not configured",
            ),
            (
                "[[http.tokens]]\nname = \"t\"\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nrole = \"supervisor\"\ntenant = \"nope\"\n",
                "http.tokens \"t\": tenant \"nope\"",
            ),
        ] {
            let err = load(text).expect_err(text);
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
