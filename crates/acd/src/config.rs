//! Configuration of queues and agents, and the join request a caller brings.

use std::time::Duration;

use crate::ids::{AgentId, CallId, PhoneNumber, QueueId, SkillId, TenantId};

/// How a queue picks among several available agents for one call.
///
/// Whatever the strategy, an agent who becomes available takes the first waiting call
/// (priority, then join order) that they qualify for: strategies only matter when more than
/// one agent could take the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Offer the call to every qualified available agent at once; the first to answer wins.
    RingAll,
    /// The agent idle for the longest time.
    LongestIdle,
    /// The next member after the last one offered, in membership order (the queue remembers).
    RoundRobin,
    /// The member who answered the fewest calls from this queue.
    FewestCalls,
    /// A uniformly random qualified agent (from the engine's seeded RNG).
    Random,
    /// Skills-based: the highest total proficiency over the call's skills; ties by longest idle.
    SkillsBest,
    /// Skills-based: the longest idle among agents who qualify for the call's skills.
    SkillsLongestIdle,
}

impl Strategy {
    /// Every strategy as written in configuration (`skills` is also accepted for
    /// `skills-best`).
    pub const NAMES: [&'static str; 7] = [
        "ring-all",
        "longest-idle",
        "round-robin",
        "fewest-calls",
        "random",
        "skills-best",
        "skills-longest-idle",
    ];

    /// The name configuration uses for this strategy.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RingAll => "ring-all",
            Strategy::LongestIdle => "longest-idle",
            Strategy::RoundRobin => "round-robin",
            Strategy::FewestCalls => "fewest-calls",
            Strategy::Random => "random",
            Strategy::SkillsBest => "skills-best",
            Strategy::SkillsLongestIdle => "skills-longest-idle",
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A queue strategy name that is not one of [`Strategy::NAMES`] (or `skills`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown queue strategy {name:?}; use one of: {names} (`skills` means skills-best)",
    name = .0,
    names = Strategy::NAMES.join(", ")
)]
pub struct StrategyParseError(pub String);

impl std::str::FromStr for Strategy {
    type Err = StrategyParseError;

    /// Parse a strategy by its configuration name, exactly as written (lower case, hyphens).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ring-all" => Strategy::RingAll,
            "longest-idle" => Strategy::LongestIdle,
            "round-robin" => Strategy::RoundRobin,
            "fewest-calls" => Strategy::FewestCalls,
            "random" => Strategy::Random,
            "skills" | "skills-best" => Strategy::SkillsBest,
            "skills-longest-idle" => Strategy::SkillsLongestIdle,
            _ => return Err(StrategyParseError(s.chars().take(32).collect())),
        })
    }
}

/// A skill a call needs, with the minimum proficiency (1–10) an agent must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkillReq {
    /// The skill.
    pub skill: SkillId,
    /// Minimum proficiency, 1–10, before widening.
    pub min: u8,
}

/// One step of skill widening. The tier with the largest `after` not above a call's wait
/// applies: every minimum proficiency the call itself requires (its [`Join::skills`]) is
/// lowered by `relax` (never below 1), and the tier's own `skills` are required on top
/// (absolute minimums for every caller of the queue, e.g. english 3 at first, english 1
/// after a minute). Before the first tier applies, neither does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkillTier {
    /// Waiting time at which this tier applies.
    pub after: Duration,
    /// How many proficiency levels to give up on the call's own requirements.
    pub relax: u8,
    /// Skills every caller of the queue needs while this tier applies.
    pub skills: Vec<SkillReq>,
}

impl SkillTier {
    /// A tier that only relaxes the call's own requirements.
    pub fn relax(after: Duration, relax: u8) -> Self {
        SkillTier {
            after,
            relax,
            skills: Vec::new(),
        }
    }
}

/// A service-level target such as 80/20: `share` of calls answered within `within`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ServiceLevel {
    /// Target share, 0–1.
    pub share: f64,
    /// Answer-time threshold.
    pub within: Duration,
}

/// A malformed service-level target (expected `share/seconds`, e.g. `80/20`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("service level must look like 80/20 (percent answered / within seconds), got {0:?}")]
pub struct ServiceLevelParseError(pub String);

impl std::str::FromStr for ServiceLevel {
    type Err = ServiceLevelParseError;

    /// Parse `80/20`: 80% of calls answered within 20 seconds. Percent in (0, 100], seconds
    /// a non-negative number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ServiceLevelParseError(s.chars().take(32).collect());
        let (pct, secs) = s.trim().split_once('/').ok_or_else(err)?;
        let pct: f64 = pct
            .trim()
            .trim_end_matches('%')
            .parse()
            .map_err(|_| err())?;
        let secs: f64 = secs
            .trim()
            .trim_end_matches('s')
            .parse()
            .map_err(|_| err())?;
        let valid = pct > 0.0 && pct <= 100.0 && (0.0..=86_400.0).contains(&secs);
        if !valid {
            return Err(err());
        }
        Ok(ServiceLevel {
            share: pct / 100.0,
            within: Duration::from_secs_f64(secs),
        })
    }
}

/// Where a queue sends calls it cannot serve well enough. A call that overflowed stays
/// eligible for the original queue's agents too: it is offered to whichever agent frees
/// first, original or reserve (in its place by priority and join order).
#[derive(Clone, Debug, PartialEq)]
pub struct OverflowRule {
    /// The reserve queues (other queues of the same engine), in order of preference: the
    /// call moves to the first with an available agent qualified for it, else to the first.
    pub to: Vec<QueueId>,
    /// Move any call that has waited this long.
    pub after_wait: Option<Duration>,
    /// Move a joining call at once when its predicted chance of being answered within the
    /// queue's service-level threshold (from the wait model) is below this share, e.g. 0.7.
    /// `None`: no prediction is made for overflow.
    pub predicted_sl_below: Option<f64>,
}

/// Where a caller goes when they have waited too long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxWait {
    /// The longest wait.
    pub after: Duration,
    /// The dialplan target the server routes the caller to.
    pub target: String,
}

/// Which leg the server dials first for a callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackOrder {
    /// Ring the reserved agent, then dial the caller.
    AgentFirst,
    /// Dial the caller, then bridge the reserved agent.
    CallerFirst,
}

/// How callbacks are placed and retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// Dialling order.
    pub order: CallbackOrder,
    /// Attempts before giving up (at least 1).
    pub max_attempts: u32,
    /// Pause between failed attempts; the entry keeps its place meanwhile.
    pub retry_after: Duration,
}

/// Everything a queue needs to know. Build with [`QueueConfig::new`] and adjust fields.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    /// Agent selection strategy.
    pub strategy: Strategy,
    /// Tenant owning this queue; calls and agents of other tenants never meet here.
    pub tenant: Option<TenantId>,
    /// Wrap-up time after each call from this queue.
    pub wrap_up: Duration,
    /// Ring-no-answer timeout: after it the agent is paused with reason `rona`.
    pub ring_timeout: Duration,
    /// Maximum wait and where to send the caller afterwards.
    pub max_wait: Option<MaxWait>,
    /// DTMF key that lets a caller leave the queue.
    pub exit_key: Option<char>,
    /// Maximum number of waiting callers (callbacks included); joins beyond are refused.
    pub max_len: Option<usize>,
    /// Accept callers when no member is logged in.
    pub join_when_empty: bool,
    /// Send waiting callers out when the last member logs out or becomes unreachable.
    pub leave_when_empty: bool,
    /// Announce position and estimated wait when a caller joins and has to wait.
    pub announce_at_join: bool,
    /// Period of further announcements.
    pub announce_every: Option<Duration>,
    /// Service-level target.
    pub service_level: ServiceLevel,
    /// Overflow rule.
    pub overflow: Option<OverflowRule>,
    /// Skill widening tiers, in increasing `after` order.
    pub skill_tiers: Vec<SkillTier>,
    /// Callback placement and retries.
    pub callback: CallbackPolicy,
    /// A caller who abandons and rejoins within this window gets the old place back.
    pub resume_window: Duration,
    /// Handle time assumed before the queue has seen enough calls.
    pub prior_handle_time: Duration,
}

impl QueueConfig {
    /// A queue with the given strategy and conservative defaults: 10 s wrap-up, 15 s ring
    /// timeout, announcements at join and every 60 s, 80/20 target, callbacks agent-first
    /// with 3 attempts 120 s apart, 60 s resume window, 180 s prior handle time.
    pub fn new(strategy: Strategy) -> Self {
        QueueConfig {
            strategy,
            tenant: None,
            wrap_up: Duration::from_secs(10),
            ring_timeout: Duration::from_secs(15),
            max_wait: None,
            exit_key: None,
            max_len: None,
            join_when_empty: true,
            leave_when_empty: false,
            announce_at_join: true,
            announce_every: Some(Duration::from_secs(60)),
            service_level: ServiceLevel {
                share: 0.8,
                within: Duration::from_secs(20),
            },
            overflow: None,
            skill_tiers: Vec::new(),
            callback: CallbackPolicy {
                order: CallbackOrder::AgentFirst,
                max_attempts: 3,
                retry_after: Duration::from_secs(120),
            },
            resume_window: Duration::from_secs(60),
            prior_handle_time: Duration::from_secs(180),
        }
    }
}

/// An agent's static description: identity, tenant, skills and queue memberships.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// The agent.
    pub id: AgentId,
    /// Tenants the agent works for (an outsourcing agent may serve several clients);
    /// empty when tenants are not used. A call or queue of a tenant is offered only to
    /// agents that list it.
    pub tenants: Vec<TenantId>,
    /// Skills with proficiency 1–10.
    pub skills: Vec<(SkillId, u8)>,
    /// Queues this agent serves.
    pub queues: Vec<QueueId>,
}

impl AgentConfig {
    /// An agent with no tenant and no skills serving `queues`.
    pub fn new(id: AgentId, queues: Vec<QueueId>) -> Self {
        AgentConfig {
            id,
            tenants: Vec::new(),
            skills: Vec::new(),
            queues,
        }
    }
}

/// A caller joining a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Join {
    /// The call.
    pub call: CallId,
    /// The queue.
    pub queue: QueueId,
    /// Priority; higher is served first, FIFO within a priority.
    pub priority: u8,
    /// Skills the call needs.
    pub skills: Vec<SkillReq>,
    /// Tenant of the call.
    pub tenant: Option<TenantId>,
    /// Caller's number, used for abandoned-resume and callbacks (never logged).
    pub caller: Option<PhoneNumber>,
    /// Opaque data for the agent's screen pop.
    pub data: Vec<(String, String)>,
    /// This caller's announcement period, overriding the queue's (the dialplan's
    /// `announce` option); `None` uses the queue's.
    pub announce_every: Option<Duration>,
}

impl Join {
    /// A plain join: priority 0, no skills, no tenant, no number, no data.
    pub fn new(call: CallId, queue: QueueId) -> Self {
        Join {
            call,
            queue,
            priority: 0,
            skills: Vec::new(),
            tenant: None,
            caller: None,
            data: Vec::new(),
            announce_every: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_level_parses_like_the_cli_writes_it() {
        let sl: ServiceLevel = "80/20".parse().unwrap();
        assert_eq!(sl.share, 0.8);
        assert_eq!(sl.within, Duration::from_secs(20));
        let sl: ServiceLevel = " 90% / 15s ".parse().unwrap();
        assert_eq!((sl.share, sl.within), (0.9, Duration::from_secs(15)));
        for bad in [
            "", "80", "80/", "/20", "0/20", "101/20", "80/-1", "x/y", "80/20/5", "NaN/20",
        ] {
            assert!(bad.parse::<ServiceLevel>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_strategy_name_parses_back_and_unknown_names_list_the_valid_ones() {
        for name in Strategy::NAMES {
            let st: Strategy = name.parse().unwrap();
            assert_eq!(st.name(), name);
            assert_eq!(st.to_string(), name);
        }
        assert_eq!("skills".parse::<Strategy>(), Ok(Strategy::SkillsBest));
        for bad in ["", "Longest-Idle", "longest_idle", " random", "ringall"] {
            let err = bad.parse::<Strategy>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
            for name in Strategy::NAMES {
                assert!(msg.contains(name), "{msg} lacks {name}");
            }
        }
    }
}
