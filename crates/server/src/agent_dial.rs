//! Agents' dial permissions: which outside numbers an agent's own phone may call and how
//! often. The `[dial_permissions]` section sets the defaults, `[[users]]` keys
//! (`dial_allow`, `dial_international`, `dial_max_per_hour`) override them per user; the
//! `[dial_policy]` number plan (home prefix, international and premium-rate prefixes,
//! `deny`) applies on top, so premium-rate numbers are never dialled and international
//! ones only where allowed. [`AgentDialGate`] is the one owner of the hourly caps.

use std::collections::HashMap;

use anyhow::Context;
use serde::Deserialize;
use switchboard_outbound::{NumberRules, NumberRulesConfig, Pattern, Refusal, UserCaps};

use crate::config::UserConfig;
use crate::dial_policy::DialPolicyConfig;

/// `[dial_permissions]`: the defaults for agents' own outbound calls.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DialPermissionsConfig {
    /// Agents may call outside numbers at all (false: such INVITEs get 404, as before).
    pub(crate) enabled: bool,
    /// If not empty, agents without their own `dial_allow` may call only numbers that
    /// match one of these patterns.
    pub(crate) allow: Vec<String>,
    /// Never called by agents (besides `[dial_policy] deny`).
    pub(crate) deny: Vec<String>,
    /// International numbers without an allow pattern.
    pub(crate) allow_international: bool,
    /// Calls one agent may place in any sliding hour.
    pub(crate) max_per_user_per_hour: u32,
    /// Calls all agents together may place in any sliding hour.
    pub(crate) max_per_hour: u32,
    /// Seconds the far end may ring before the call is given up (the agent gets 480).
    pub(crate) ring_timeout: u64,
    /// The caller ID agents' calls ask the trunk to present, unless the user has their own
    /// `caller_id` (a trunk with a fixed `caller_id` overrides both).
    pub(crate) caller_id: Option<String>,
    /// Record agents' outbound calls, unless the user's `record_outbound` says otherwise.
    pub(crate) record: bool,
}

impl Default for DialPermissionsConfig {
    fn default() -> DialPermissionsConfig {
        DialPermissionsConfig {
            enabled: true,
            allow: Vec::new(),
            deny: Vec::new(),
            allow_international: false,
            max_per_user_per_hour: 30,
            max_per_hour: 300,
            ring_timeout: 60,
            caller_id: None,
            record: false,
        }
    }
}

fn patterns(key: &str, v: &[String]) -> anyhow::Result<Vec<Pattern>> {
    v.iter()
        .map(|p| p.parse::<Pattern>())
        .collect::<Result<_, _>>()
        .with_context(|| key.to_string())
}

/// Which numbers `user` may call: the number plan of `[dial_policy]` with the user's (or
/// the section's) allow patterns and international switch. A bad pattern names its key.
pub(crate) fn user_rules(
    policy: &DialPolicyConfig,
    perms: &DialPermissionsConfig,
    user: &UserConfig,
) -> anyhow::Result<NumberRules> {
    let allow = match &user.dial_allow {
        Some(a) => patterns(&format!("users.{}.dial_allow", user.name), a)?,
        None => patterns("dial_permissions.allow", &perms.allow)?,
    };
    let mut deny = patterns("dial_policy.deny", &policy.deny)?;
    deny.extend(patterns("dial_permissions.deny", &perms.deny)?);
    Ok(NumberRules::new(NumberRulesConfig {
        home_prefix: policy.home_prefix.clone(),
        international_prefixes: policy.international_prefixes.clone(),
        allow_international: user.dial_international.unwrap_or(perms.allow_international),
        premium_prefixes: policy.premium_prefixes.clone(),
        allow,
        deny,
    }))
}

/// The gate every agent's outbound call passes: the user's number rules, then the
/// per-user and global hourly caps. Held behind one mutex in the call context, locked
/// only for the check (never across an await).
pub(crate) struct AgentDialGate {
    users: HashMap<String, (NumberRules, u32)>,
    caps: UserCaps,
}

impl AgentDialGate {
    pub(crate) fn new(
        policy: &DialPolicyConfig,
        perms: &DialPermissionsConfig,
        users: &[UserConfig],
    ) -> anyhow::Result<AgentDialGate> {
        let mut map = HashMap::new();
        for u in users {
            let rules = user_rules(policy, perms, u)?;
            let max = u.dial_max_per_hour.unwrap_or(perms.max_per_user_per_hour);
            map.insert(u.name.clone(), (rules, max));
        }
        Ok(AgentDialGate {
            users: map,
            caps: UserCaps::new(perms.max_per_hour),
        })
    }

    /// The normalised number `user` may call at `now_unix_s` (counted against the caps),
    /// or why not. An unknown user may call nothing.
    pub(crate) fn admit(
        &mut self,
        now_unix_s: i64,
        user: &str,
        raw: &str,
    ) -> Result<String, Refusal> {
        let Some((rules, max)) = self.users.get(user) else {
            return Err(Refusal::NotAllowed);
        };
        let n = rules.check(raw)?;
        self.caps.admit(now_unix_s, user, *max)?;
        Ok(n)
    }
}

/// The caller ID `user`'s outbound calls ask for, and whether they are recorded.
pub(crate) fn caller_id_and_recording(
    perms: &DialPermissionsConfig,
    user: Option<&UserConfig>,
) -> (Option<String>, bool) {
    let caller_id = user
        .and_then(|u| u.caller_id.clone())
        .or_else(|| perms.caller_id.clone());
    let record = user.and_then(|u| u.record_outbound).unwrap_or(perms.record);
    (caller_id, record)
}

/// Whether a dialled user part looks like a phone number (digits, an optional leading
/// `+`, visual separators) rather than a queue or a feature code.
pub(crate) fn looks_like_number(dialled: &str) -> bool {
    let digits = dialled.strip_prefix('+').unwrap_or(dialled);
    digits.bytes().filter(u8::is_ascii_digit).count() >= 3
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'(' | b')' | b' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserConfig {
        toml::from_str(&format!("name = \"{name}\"\npassword = \"p\"")).unwrap()
    }

    #[test]
    fn users_get_the_section_defaults_or_their_own_rules() {
        let policy = DialPolicyConfig::default();
        let perms = DialPermissionsConfig {
            max_per_user_per_hour: 2,
            ..DialPermissionsConfig::default()
        };
        let mut narrow = user("1002");
        narrow.dial_allow = Some(vec!["+7495*".into()]);
        narrow.dial_max_per_hour = Some(5);
        let mut abroad = user("1003");
        abroad.dial_international = Some(true);
        let mut g = AgentDialGate::new(&policy, &perms, &[user("1001"), narrow, abroad]).unwrap();
        // Premium-rate and international numbers are refused by default.
        assert_eq!(g.admit(0, "1001", "+88299123"), Err(Refusal::PremiumRate));
        assert_eq!(
            g.admit(0, "1001", "+4420794600"),
            Err(Refusal::International)
        );
        assert_eq!(g.admit(0, "1003", "+4420794600"), Ok("+4420794600".into()));
        // Premium stays refused even for a user allowed abroad.
        assert_eq!(g.admit(0, "1003", "+88299123"), Err(Refusal::PremiumRate));
        assert_eq!(g.admit(0, "1002", "+79161112233"), Err(Refusal::NotAllowed));
        assert_eq!(
            g.admit(0, "1002", "+7 495 123-45-67"),
            Ok("+74951234567".into())
        );
        // 1001's own cap is the section's 2 an hour.
        assert_eq!(
            g.admit(1, "1001", "+74951234567"),
            Ok("+74951234567".into())
        );
        assert_eq!(
            g.admit(2, "1001", "+74951234567"),
            Ok("+74951234567".into())
        );
        assert_eq!(
            g.admit(3, "1001", "+74951234567"),
            Err(Refusal::UserHourlyCap)
        );
        assert_eq!(g.admit(3, "9999", "+74951234567"), Err(Refusal::NotAllowed));
    }

    #[test]
    fn bad_user_patterns_name_the_user() {
        let mut u = user("1001");
        u.dial_allow = Some(vec!["+7 495".into()]);
        let e = user_rules(
            &DialPolicyConfig::default(),
            &DialPermissionsConfig::default(),
            &u,
        )
        .map(|_| ())
        .unwrap_err();
        assert!(format!("{e:#}").contains("users.1001.dial_allow"), "{e:#}");
    }

    #[test]
    fn numbers_are_told_from_queues() {
        assert!(looks_like_number("+74951234567"));
        assert!(looks_like_number("8-800-555-35-35"));
        assert!(!looks_like_number("support"));
        assert!(!looks_like_number("listen-1001"));
        assert!(!looks_like_number("12"));
        assert!(!looks_like_number("+"));
    }
}
