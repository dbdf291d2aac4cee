//! `[[queues]]`: one ACD queue as the operator writes it, its validation (errors name the
//! queue and the key), and its translation into the ACD core's `QueueConfig`. Every queue
//! feature of the core has a key here; README's configuration reference and docs/acd.md
//! document each with an example.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use switchboard_acd::{
    CallbackOrder, CallbackPolicy, MaxWait, OverflowRule, QueueId, ServiceLevel, SkillId, SkillReq,
    SkillTier, Strategy, TenantId,
};

use crate::config::UserConfig;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueueConfig {
    pub(crate) name: String,
    #[serde(default = "default_strategy", deserialize_with = "strategy_by_name")]
    pub(crate) strategy: Strategy,
    #[serde(default)]
    pub(crate) members: Vec<String>,
    #[serde(default = "default_announce")]
    pub(crate) announce_period: u64,
    /// Announce position and estimated wait when a caller joins and has to wait.
    #[serde(default = "yes")]
    pub(crate) announce_at_join: bool,
    #[serde(default = "default_ring")]
    pub(crate) ring_timeout: u64,
    #[serde(default = "default_wrap")]
    pub(crate) wrap_up: u64,
    #[serde(default)]
    pub(crate) record: bool,
    #[serde(default = "default_handle_time")]
    pub(crate) expected_handle_time: u64,
    /// Service-level threshold, seconds: answered within it counts as in service level.
    #[serde(default = "default_sl_threshold")]
    pub(crate) sl_threshold: u64,
    /// Service-level target, a share in (0, 1].
    #[serde(default = "default_sl_target")]
    pub(crate) sl_target: f64,
    /// Abandons after a shorter wait, seconds, are left out of service level and abandon rate.
    #[serde(default)]
    pub(crate) short_abandon: u64,
    /// Disposition codes an agent may set on a call of this queue (empty: none accepted).
    #[serde(default)]
    pub(crate) dispositions: Vec<String>,
    /// Post-call survey: when the agent hangs up first, the caller stays and this dialplan
    /// runs (entered with the queue's name as the dialled number).
    #[serde(default)]
    pub(crate) post_call_survey: Option<String>,
    /// The post-call survey's variables whose collected values are `survey.answer` events.
    #[serde(default)]
    pub(crate) survey_questions: Vec<String>,
    /// The caller ID this queue's outbound calls (callbacks) ask for; a trunk with a fixed
    /// `caller_id` overrides it.
    #[serde(default)]
    pub(crate) caller_id: Option<String>,
    /// Waiting callers at most (callbacks included); the next caller is refused
    /// (`queue_full`) and the dialplan goes on after its `queue` statement.
    #[serde(default)]
    pub(crate) max_len: Option<usize>,
    /// Longest wait in this queue, seconds; then the caller leaves as with the dialplan's
    /// `max_wait` (its branch, or the statement after `queue`).
    #[serde(default)]
    pub(crate) max_wait: Option<u64>,
    /// Accept callers while no member is logged in.
    #[serde(default = "yes")]
    pub(crate) join_when_empty: bool,
    /// Send waiting callers out (`no_agents`) when the last member logs out.
    #[serde(default)]
    pub(crate) leave_when_empty: bool,
    /// Tenant owning the queue: only members of the same tenant are offered its calls.
    #[serde(default)]
    pub(crate) tenant: Option<String>,
    /// Where calls go when this queue cannot serve them well enough.
    #[serde(default)]
    pub(crate) overflow: Option<OverflowConfig>,
    /// Skills every caller needs, widening with the wait.
    #[serde(default)]
    pub(crate) skill_tiers: Vec<SkillTierConfig>,
    /// How callbacks are placed and retried.
    #[serde(default)]
    pub(crate) callback: CallbackConfig,
    /// A caller who hangs up and calls back within this many seconds gets the old place.
    #[serde(default = "default_resume")]
    pub(crate) resume_window: u64,
    /// Prompt looped while callers wait (the music-on-hold class), `<lang>/<name>.wav`.
    #[serde(default = "default_moh")]
    pub(crate) moh: String,
    /// Prompt played once when a caller joins, before the music.
    #[serde(default)]
    pub(crate) join_prompt: Option<String>,
    /// Prompt played before each position and wait announcement.
    #[serde(default)]
    pub(crate) announce_prompt: Option<String>,
}

/// `overflow = { to = ["reserve"], predicted_sl_below = 0.7, wait_over = 120 }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverflowConfig {
    /// The reserve queues, in order of preference: a caller moves to the first with an
    /// available agent qualified for them, else to the first. The original queue's agents
    /// may still take a caller who moved.
    pub(crate) to: Vec<String>,
    /// Move a joining caller whose predicted chance of an answer within `sl_threshold` is
    /// below this share.
    #[serde(default)]
    pub(crate) predicted_sl_below: Option<f64>,
    /// Move any caller that has waited this many seconds.
    #[serde(default)]
    pub(crate) wait_over: Option<u64>,
}

/// `{ after = 60, skills = { english = 1 }, relax = 0 }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkillTierConfig {
    /// Seconds of waiting from which this tier applies.
    pub(crate) after: u64,
    /// Skills (with minimum proficiency 1-10) every caller of the queue needs meanwhile.
    #[serde(default)]
    pub(crate) skills: BTreeMap<String, u8>,
    /// Proficiency levels given up on the skills the dialplan asked for.
    #[serde(default)]
    pub(crate) relax: u8,
}

/// `callback = { order = "agent-first", max_attempts = 3, retry_after = 120 }`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct CallbackConfig {
    /// `agent-first` (ring the reserved agent, then dial the customer) or `caller-first`.
    pub(crate) order: String,
    /// Attempts before giving up.
    pub(crate) max_attempts: u32,
    /// Seconds between failed attempts (the entry keeps its place).
    pub(crate) retry_after: u64,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            order: "agent-first".into(),
            max_attempts: 3,
            retry_after: 120,
        }
    }
}

fn yes() -> bool {
    true
}
fn default_sl_threshold() -> u64 {
    20
}
fn default_sl_target() -> f64 {
    0.8
}
fn default_strategy() -> Strategy {
    Strategy::LongestIdle
}
/// A queue strategy, parsed once here by its name (`FromStr` in the ACD core).
fn strategy_by_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Strategy, D::Error> {
    let name = String::deserialize(d)?;
    name.parse().map_err(serde::de::Error::custom)
}
fn default_announce() -> u64 {
    30
}
fn default_ring() -> u64 {
    15
}
fn default_wrap() -> u64 {
    5
}
fn default_handle_time() -> u64 {
    180
}
fn default_resume() -> u64 {
    60
}
fn default_moh() -> String {
    "moh".into()
}

/// Names of skills, tenants and queues, interned to the core's ids.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(crate) queues: Vec<String>,
    pub(crate) skills: Vec<String>,
    pub(crate) tenants: Vec<String>,
}

impl Names {
    /// Queues in configuration order; skills any user has and tenants any user or queue
    /// names, sorted.
    pub(crate) fn new(queues: &[QueueConfig], users: &[UserConfig]) -> Names {
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v.dedup();
            v
        };
        Names {
            queues: queues.iter().map(|q| q.name.clone()).collect(),
            skills: sorted(
                users
                    .iter()
                    .flat_map(|u| u.skills.keys().cloned())
                    .collect(),
            ),
            tenants: sorted(
                users
                    .iter()
                    .flat_map(|u| u.tenants.iter().cloned())
                    .chain(queues.iter().filter_map(|q| q.tenant.clone()))
                    .collect(),
            ),
        }
    }
    pub(crate) fn queue(&self, name: &str) -> Option<QueueId> {
        self.queues
            .iter()
            .position(|q| q == name)
            .map(|i| QueueId(i as u16))
    }
    pub(crate) fn skill(&self, name: &str) -> Option<SkillId> {
        self.skills
            .iter()
            .position(|s| s == name)
            .map(|i| SkillId(i as u16))
    }
    pub(crate) fn tenant(&self, name: &str) -> Option<TenantId> {
        self.tenants
            .iter()
            .position(|t| t == name)
            .map(|i| TenantId(i as u32))
    }
}

impl QueueConfig {
    /// The core's configuration of this queue (validated names resolve; see [`validate`]).
    pub(crate) fn to_core(&self, names: &Names) -> switchboard_acd::QueueConfig {
        let secs = Duration::from_secs;
        let mut qc = switchboard_acd::QueueConfig::new(self.strategy);
        qc.service_level = ServiceLevel {
            share: self.sl_target,
            within: secs(self.sl_threshold),
        };
        qc.wrap_up = secs(self.wrap_up);
        qc.ring_timeout = secs(self.ring_timeout);
        qc.prior_handle_time = secs(self.expected_handle_time.max(1));
        qc.announce_every = (self.announce_period > 0).then(|| secs(self.announce_period));
        qc.announce_at_join = self.announce_at_join;
        qc.max_len = self.max_len;
        qc.max_wait = self.max_wait.map(|w| MaxWait {
            after: secs(w),
            target: String::new(),
        });
        qc.join_when_empty = self.join_when_empty;
        qc.leave_when_empty = self.leave_when_empty;
        qc.tenant = self.tenant.as_deref().and_then(|t| names.tenant(t));
        qc.overflow = self.overflow.as_ref().map(|o| OverflowRule {
            to: o.to.iter().filter_map(|t| names.queue(t)).collect(),
            after_wait: o.wait_over.map(secs),
            predicted_sl_below: o.predicted_sl_below,
        });
        qc.skill_tiers = self
            .skill_tiers
            .iter()
            .map(|t| SkillTier {
                after: secs(t.after),
                relax: t.relax,
                skills: t
                    .skills
                    .iter()
                    .filter_map(|(name, min)| {
                        Some(SkillReq {
                            skill: names.skill(name)?,
                            min: *min,
                        })
                    })
                    .collect(),
            })
            .collect();
        qc.callback = CallbackPolicy {
            order: if self.callback.order == "caller-first" {
                CallbackOrder::CallerFirst
            } else {
                CallbackOrder::AgentFirst
            },
            max_attempts: self.callback.max_attempts.max(1),
            retry_after: secs(self.callback.retry_after),
        };
        qc.resume_window = secs(self.resume_window);
        qc
    }
}

/// Just the `[[queues]]` of a configuration file, everything else ignored.
#[derive(Deserialize)]
struct QueuesOnly {
    #[serde(default)]
    #[allow(dead_code)] // Read for its errors only.
    queues: Vec<QueueConfig>,
}

/// Deserializes the `[[queues]]` of a file's text on their own, so that an unknown key or a
/// wrong type is reported with its line and column.
pub(crate) fn check_spans(text: &str) -> anyhow::Result<()> {
    toml::from_str::<QueuesOnly>(text)?;
    Ok(())
}

/// A `[[queues]]` entry's bad value: which queue, which top-level key, and what is wrong.
#[derive(Debug)]
pub(crate) struct QueueKeyError {
    pub(crate) queue: String,
    pub(crate) key: String,
    message: String,
}

impl std::fmt::Display for QueueKeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueueKeyError {}

/// Returns a [`QueueKeyError`] for queue `$q`, key `$key`, message formatted from the rest.
macro_rules! bad {
    ($q:expr, $key:expr, $($fmt:tt)+) => {
        return Err(QueueKeyError {
            queue: $q.to_string(),
            key: $key.to_string(),
            message: format!($($fmt)+),
        }
        .into())
    };
}

/// The line (1-based) of `key` in the `[[queues]]` entry named `queue` of a file's text:
/// the entry starts at its `name = "<queue>"` line and ends at the next `[` header.
pub(crate) fn locate(text: &str, queue: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let is_name = |l: &str| {
        l.trim()
            .strip_prefix("name")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('='))
            .is_some_and(|r| r.trim().trim_matches('"') == queue)
    };
    let start = lines.iter().position(|l| is_name(l))?;
    // The entry's header is above its name line; the entry ends at the next header.
    let header = lines[..start]
        .iter()
        .rposition(|l| l.trim_start().starts_with('['))?;
    let end = lines[start..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + i);
    let starts_key = |l: &str| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|r| r.trim_start().starts_with('='))
    };
    (header..end)
        .find(|&i| starts_key(lines[i]))
        .or(Some(start))
        .map(|i| i + 1)
}

/// The longest duration any queue key takes, seconds (a day).
const DAY: u64 = 86_400;

/// Checks every queue; the error names the queue and the key (`queue sales: overflow.to`).
pub(crate) fn validate(queues: &[QueueConfig], users: &[UserConfig]) -> anyhow::Result<()> {
    let names = Names::new(queues, users);
    for (i, q) in queues.iter().enumerate() {
        let n = &q.name;
        if queues[..i].iter().any(|o| &o.name == n) {
            bad!(
                n,
                "name",
                "queue {n}: name: another [[queues]] entry has the same name"
            );
        }
        if !(q.sl_target > 0.0 && q.sl_target <= 1.0) {
            bad!(
                n,
                "sl_target",
                "queue {n}: sl_target {} must be a share in (0, 1], e.g. 0.8",
                q.sl_target
            );
        }
        if q.sl_threshold > DAY || q.short_abandon > DAY {
            bad!(
                n,
                "sl_threshold",
                "queue {n}: sl_threshold and short_abandon are seconds, at most 86400"
            );
        }
        crate::acd_actor::check_dispositions(n, &q.dispositions)?;
        if let Some(c) = q.caller_id.as_deref() {
            if !crate::trunk_config::is_number(c) {
                bad!(
                    n,
                    "caller_id",
                    "queue {n}: caller_id {c:?} is not a number (digits, optional leading +)"
                );
            }
        }
        for m in &q.members {
            if !users.iter().any(|u| &u.name == m) {
                bad!(n, "members", "queue {n}: members: {m} is not in [[users]]");
            }
        }
        if q.max_len == Some(0) {
            bad!(
                n,
                "max_len",
                "queue {n}: max_len must be at least 1 (leave it out for no limit)"
            );
        }
        if q.max_wait.is_some_and(|w| w == 0 || w > DAY) {
            bad!(n, "max_wait", "queue {n}: max_wait is seconds, 1 to 86400");
        }
        if q.resume_window > DAY {
            bad!(
                n,
                "resume_window",
                "queue {n}: resume_window is seconds, at most 86400"
            );
        }
        if let Some(t) = &q.tenant {
            if let Some(m) = q.members.iter().find(|m| {
                users
                    .iter()
                    .find(|u| &&u.name == m)
                    .is_some_and(|u| !u.tenants.contains(t))
            }) {
                bad!(
                    n,
                    "tenant",
                    "queue {n}: tenant {t:?}: member {m} does not serve it; \
                     add {t:?} to its [[users]] tenant list or leave it out of members"
                );
            }
        }
        if let Some(o) = &q.overflow {
            if o.to.is_empty() {
                bad!(n, "overflow", "queue {n}: overflow.to: name one or more reserve queues, e.g. to = [\"reserve\"]");
            }
            for (i, to) in o.to.iter().enumerate() {
                if to == n {
                    bad!(
                        n,
                        "overflow",
                        "queue {n}: overflow.to: a queue cannot overflow to itself"
                    );
                }
                if names.queue(to).is_none() {
                    bad!(
                        n,
                        "overflow",
                        "queue {n}: overflow.to: {to:?} is not a [[queues]] name"
                    );
                }
                if o.to[..i].contains(to) {
                    bad!(
                        n,
                        "overflow",
                        "queue {n}: overflow.to: {to:?} is named twice"
                    );
                }
            }
            if o.predicted_sl_below.is_none() && o.wait_over.is_none() {
                bad!(
                    n,
                    "overflow",
                    "queue {n}: overflow: set predicted_sl_below, wait_over or both"
                );
            }
            if let Some(p) = o.predicted_sl_below {
                if !(p > 0.0 && p <= 1.0) {
                    bad!(n, "overflow", "queue {n}: overflow.predicted_sl_below {p} must be a share in (0, 1], e.g. 0.7");
                }
            }
            if o.wait_over.is_some_and(|w| w == 0 || w > DAY) {
                bad!(
                    n,
                    "overflow",
                    "queue {n}: overflow.wait_over is seconds, 1 to 86400"
                );
            }
        }
        let mut last: Option<u64> = None;
        for (k, t) in q.skill_tiers.iter().enumerate() {
            if last.is_some_and(|l| t.after <= l) {
                bad!(
                    n,
                    "skill_tiers",
                    "queue {n}: skill_tiers[{k}].after: tiers must be in increasing `after` order"
                );
            }
            last = Some(t.after);
            if t.after > DAY {
                bad!(
                    n,
                    "skill_tiers",
                    "queue {n}: skill_tiers[{k}].after is seconds, at most 86400"
                );
            }
            if t.relax > 9 {
                bad!(
                    n,
                    "skill_tiers",
                    "queue {n}: skill_tiers[{k}].relax: at most 9 levels"
                );
            }
            for (skill, min) in &t.skills {
                if !(1..=10).contains(min) {
                    bad!(n, "skill_tiers", "queue {n}: skill_tiers[{k}].skills.{skill}: proficiency {min}; use 1 to 10");
                }
                let able = q.members.iter().any(|m| {
                    users
                        .iter()
                        .any(|u| &u.name == m && u.skills.get(skill).is_some_and(|p| p >= min))
                });
                if !able {
                    bad!(
                        n,
                        "skill_tiers",
                        "queue {n}: skill_tiers[{k}].skills.{skill}: no member has {skill} at \
                         {min} or more, so callers in this tier could never be served"
                    );
                }
            }
        }
        if !["agent-first", "caller-first"].contains(&q.callback.order.as_str()) {
            bad!(
                n,
                "callback",
                "queue {n}: callback.order: {:?}; use \"agent-first\" or \"caller-first\"",
                q.callback.order.chars().take(32).collect::<String>()
            );
        }
        if q.callback.max_attempts == 0 || q.callback.max_attempts > 20 {
            bad!(n, "callback", "queue {n}: callback.max_attempts: 1 to 20");
        }
        if q.callback.retry_after > DAY {
            bad!(
                n,
                "callback",
                "queue {n}: callback.retry_after is seconds, at most 86400"
            );
        }
        for (key, p) in [
            ("moh", Some(&q.moh)),
            ("join_prompt", q.join_prompt.as_ref()),
            ("announce_prompt", q.announce_prompt.as_ref()),
        ] {
            let Some(p) = p else { continue };
            let word = !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !word {
                bad!(
                    n,
                    key,
                    "queue {n}: {key}: {p:?} is not a prompt name (letters, digits, _ and -)"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    /// Loads the default configuration with `text` merged over it.
    fn load(text: &str) -> Result<Config, String> {
        let dir = std::env::temp_dir().join(format!(
            "sb-queue-cfg-{}-{}",
            std::process::id(),
            text.len()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("c.toml");
        std::fs::write(&p, text).unwrap();
        let r = Config::load(Some(&p)).map_err(|e| format!("{e:#}"));
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    const USERS: &str = r#"
tenants = [{ name = "acme" },
  { name = "globex" }]
[[users]]
name = "1001"
password = "p1"
skills = { english = 5 }
[[users]]
name = "1002"
password = "p2"
skills = { english = 1 }
tenant = "acme"
[[users]]
name = "1003"
password = "p3"
[[users]]
name = "1004"
password = "p4"
[[users]]
name = "1005"
password = "p5"
"#;

    #[test]
    fn every_queue_key_reaches_the_core() {
        let text = format!(
            r#"{USERS}
[[queues]]
name = "sales"
members = ["1001", "1003"]
max_len = 5
max_wait = 600
join_when_empty = false
leave_when_empty = true
announce_at_join = false
resume_window = 30
sl_threshold = 30
sl_target = 0.9
moh = "moh-sales"
join_prompt = "sales-welcome"
announce_prompt = "sales-thanks"
overflow = {{ to = ["reserve", "spare"], predicted_sl_below = 0.7, wait_over = 120 }}
skill_tiers = [{{ after = 0, skills = {{ english = 3 }} }}, {{ after = 60, skills = {{ english = 1 }}, relax = 2 }}]
callback = {{ order = "caller-first", max_attempts = 5, retry_after = 300 }}

[[queues]]
name = "reserve"
members = ["1002"]
tenant = "acme"

[[queues]]
name = "spare"
members = ["1003"]
"#
        );
        let cfg = load(&text).unwrap();
        let names = super::Names::new(&cfg.queues, &cfg.users);
        let sales = cfg.queues.iter().find(|q| q.name == "sales").unwrap();
        let core = sales.to_core(&names);
        let s = std::time::Duration::from_secs;
        assert_eq!(core.max_len, Some(5));
        assert_eq!(core.max_wait.map(|m| m.after), Some(s(600)));
        assert!(!core.join_when_empty && core.leave_when_empty && !core.announce_at_join);
        assert_eq!(core.resume_window, s(30));
        assert_eq!(
            (core.service_level.share, core.service_level.within),
            (0.9, s(30))
        );
        let o = core.overflow.unwrap();
        assert_eq!(
            o.to,
            vec![
                names.queue("reserve").unwrap(),
                names.queue("spare").unwrap()
            ]
        );
        assert_eq!(
            (o.after_wait, o.predicted_sl_below),
            (Some(s(120)), Some(0.7))
        );
        let english = names.skill("english").unwrap();
        assert_eq!(core.skill_tiers.len(), 2);
        assert_eq!(core.skill_tiers[0].skills[0].skill, english);
        assert_eq!(core.skill_tiers[0].skills[0].min, 3);
        assert_eq!(
            (core.skill_tiers[1].after, core.skill_tiers[1].relax),
            (s(60), 2)
        );
        assert_eq!(
            core.callback.order,
            switchboard_acd::CallbackOrder::CallerFirst
        );
        assert_eq!(
            (core.callback.max_attempts, core.callback.retry_after),
            (5, s(300))
        );
        assert_eq!(core.tenant, None);
        let reserve = cfg.queues.iter().find(|q| q.name == "reserve").unwrap();
        assert_eq!(reserve.to_core(&names).tenant, names.tenant("acme"));
        assert!(names.tenant("acme").is_some());
        assert_eq!(
            (sales.moh.as_str(), sales.join_prompt.as_deref()),
            ("moh-sales", Some("sales-welcome"))
        );
    }

    #[test]
    fn bad_queue_keys_are_refused_naming_the_queue_and_the_key() {
        let q = |body: &str| {
            format!(
                "{USERS}\n[[queues]]\nname = \"operator\"\n\n[[queues]]\nname = \"sales\"\n\
                 members = [\"1001\"]\n{body}\n"
            )
        };
        for (body, want) in [
            ("max_lenght = 3", "max_lenght"),
            ("max_len = 0", "queue sales: max_len"),
            ("max_wait = 0", "queue sales: max_wait"),
            (
                "overflow = { to = [\"nowhere\"], wait_over = 60 }",
                "queue sales: overflow.to",
            ),
            (
                "overflow = { to = [\"sales\"], wait_over = 60 }",
                "queue sales: overflow.to",
            ),
            (
                "overflow = { to = [], wait_over = 60 }",
                "queue sales: overflow.to",
            ),
            (
                "overflow = { to = [\"operator\", \"operator\"], wait_over = 60 }",
                "queue sales: overflow.to: \"operator\" is named twice",
            ),
            (
                "overflow = { to = [\"operator\"] }",
                "queue sales: overflow: set predicted_sl_below",
            ),
            (
                "overflow = { to = [\"operator\"], predicted_sl_below = 1.5 }",
                "overflow.predicted_sl_below",
            ),
            (
                "overflow = { to = [\"operator\"], predicted = 0.7 }",
                "predicted",
            ),
            (
                "skill_tiers = [{ after = 0, skills = { french = 1 } }]",
                "queue sales: skill_tiers[0].skills.french",
            ),
            (
                "skill_tiers = [{ after = 0, skills = { english = 6 } }]",
                "queue sales: skill_tiers[0].skills.english",
            ),
            (
                "skill_tiers = [{ after = 0, skills = { english = 11 } }]",
                "skill_tiers[0].skills.english: proficiency 11",
            ),
            (
                "skill_tiers = [{ after = 60 }, { after = 30 }]",
                "queue sales: skill_tiers[1].after",
            ),
            (
                "skill_tiers = [{ after = 0, skill = { english = 1 } }]",
                "skill",
            ),
            (
                "callback = { order = \"whenever\" }",
                "queue sales: callback.order",
            ),
            (
                "callback = { max_attempts = 0 }",
                "queue sales: callback.max_attempts",
            ),
            ("callback = { retries = 2 }", "retries"),
            (
                "tenant = \"acme\"",
                "queue sales: tenant \"acme\": member 1001",
            ),
            ("moh = \"../etc/passwd\"", "queue sales: moh"),
            ("sl_target = 0.0", "queue sales: sl_target"),
            ("strategy = \"ring-al\"", "ring-al"),
        ] {
            let err = load(&q(body)).expect_err(body);
            assert!(err.contains(want), "{body}: {err}");
            if body.starts_with("overflow = { to = [\"nowhere\"]") {
                assert!(err.contains("c.toml:29: queue sales: overflow.to"), "{err}");
            }
            if body.starts_with("max_lenght") {
                assert!(err.contains("line 29, column 1"), "{err}");
            }
        }
    }
}
