//! The `[dial_policy]` section and the gate every call we originate passes: the number
//! rules of `switchboard-outbound` checked when a caller asks for a callback (so a caller
//! whose number may not be dialled hears so and keeps their place) and again, with the
//! dial caps, just before a callback is placed. A refusal is a `call.refused` event and a
//! count in `switchboard_dial_refused_total{reason}`.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use serde::Deserialize;
use switchboard_outbound::{
    DialCaps, DialCapsConfig, NumberRules, NumberRulesConfig, Pattern, Refusal,
};

use crate::event_log::NewEvent;

/// `[dial_policy]`: which numbers calls we originate may reach, and how often.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DialPolicyConfig {
    pub(crate) home_prefix: String,
    pub(crate) international_prefixes: Vec<String>,
    pub(crate) allow_international: bool,
    pub(crate) premium_prefixes: Vec<String>,
    pub(crate) allow: Vec<String>,
    pub(crate) deny: Vec<String>,
    pub(crate) max_per_number_per_day: u32,
    pub(crate) max_per_hour: u32,
}

impl Default for DialPolicyConfig {
    fn default() -> DialPolicyConfig {
        let r = NumberRulesConfig::default();
        let c = DialCapsConfig::default();
        DialPolicyConfig {
            home_prefix: r.home_prefix,
            international_prefixes: r.international_prefixes,
            allow_international: r.allow_international,
            premium_prefixes: r.premium_prefixes,
            allow: Vec::new(),
            deny: Vec::new(),
            max_per_number_per_day: c.max_per_number_per_day,
            max_per_hour: c.max_per_hour,
        }
    }
}

impl DialPolicyConfig {
    /// The number rules; a bad pattern is an error naming its key.
    pub(crate) fn rules(&self) -> anyhow::Result<NumberRules> {
        let patterns = |key: &str, v: &[String]| -> anyhow::Result<Vec<Pattern>> {
            v.iter()
                .map(|p| p.parse::<Pattern>())
                .collect::<Result<_, _>>()
                .with_context(|| format!("dial_policy.{key}"))
        };
        for p in self
            .premium_prefixes
            .iter()
            .chain(&self.international_prefixes)
        {
            if p.is_empty()
                || !p
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            {
                anyhow::bail!("dial_policy: bad prefix {p:?} (digits with an optional leading +)");
            }
        }
        Ok(NumberRules::new(NumberRulesConfig {
            home_prefix: self.home_prefix.clone(),
            international_prefixes: self.international_prefixes.clone(),
            allow_international: self.allow_international,
            premium_prefixes: self.premium_prefixes.clone(),
            allow: patterns("allow", &self.allow)?,
            deny: patterns("deny", &self.deny)?,
        }))
    }

    fn caps(&self) -> DialCaps {
        DialCaps::new(DialCapsConfig {
            max_per_number_per_day: self.max_per_number_per_day,
            max_per_hour: self.max_per_hour,
        })
    }
}

/// Refusals by reason, for the metrics endpoint.
#[derive(Default)]
pub(crate) struct RefusalCounters([AtomicU64; Refusal::ALL.len()]);

impl RefusalCounters {
    pub(crate) fn count(&self, r: Refusal) {
        let i = Refusal::ALL.iter().position(|x| *x == r).unwrap_or(0);
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// `(reason, count)` for every reason, zeros included.
    pub(crate) fn snapshot(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Refusal::ALL
            .iter()
            .zip(&self.0)
            .map(|(r, c)| (r.as_str(), c.load(Ordering::Relaxed)))
    }
}

/// The `call.refused` event for a call we would have originated for `call`.
pub(crate) fn refused_event(
    call: u64,
    purpose: switchboard_events::OriginatePurpose,
    number: &str,
    r: Refusal,
) -> NewEvent {
    use switchboard_events::DialRefusal as D;
    let reason = match r {
        Refusal::InvalidNumber => D::InvalidNumber,
        Refusal::Denied => D::DeniedPattern,
        Refusal::NotAllowed => D::NotAllowed,
        Refusal::International => D::International,
        Refusal::PremiumRate => D::PremiumRate,
        Refusal::NumberDailyCap => D::NumberDailyCap,
        Refusal::HourlyCap => D::HourlyCap,
        Refusal::UserHourlyCap => D::UserHourlyCap,
    };
    NewEvent::call(
        &call.to_string(),
        switchboard_events::Event::CallRefused {
            reason,
            purpose,
            number: number.to_string(),
        },
    )
}

/// The one owner of the dial caps: a task ([`DialGate::spawn`]) that every originator
/// (callbacks, campaigns) asks before each call through a [`GateHandle`].
pub(crate) struct DialGate {
    rules: NumberRules,
    caps: DialCaps,
}

impl DialGate {
    pub(crate) fn new(cfg: &DialPolicyConfig) -> anyhow::Result<DialGate> {
        Ok(DialGate {
            rules: cfg.rules()?,
            caps: cfg.caps(),
        })
    }

    /// The number to dial at `now_unix_s`, counted against the caps; or why not.
    pub(crate) fn admit(&mut self, now_unix_s: i64, raw: &str) -> Result<String, Refusal> {
        let n = self.rules.check(raw)?;
        self.caps.admit(now_unix_s, &n)?;
        Ok(n)
    }
    /// Runs the gate as a task; the handle asks it.
    pub(crate) fn spawn(mut self) -> GateHandle {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<GateAsk>();
        tokio::spawn(async move {
            while let Some((raw, reply)) = rx.recv().await {
                let now_s = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let _ = reply.send(self.admit(now_s, &raw));
            }
        });
        GateHandle(tx)
    }
}

type GateAsk = (
    String,
    tokio::sync::oneshot::Sender<Result<String, Refusal>>,
);

/// Asks the dial gate task whether a number may be dialled now (and counts it).
#[derive(Clone)]
pub(crate) struct GateHandle(tokio::sync::mpsc::UnboundedSender<GateAsk>);

impl GateHandle {
    /// The canonical number to dial, counted against the caps; or why not. A gate that is
    /// gone (shutdown) refuses as if the hourly cap were reached.
    pub(crate) async fn admit(&self, raw: &str) -> Result<String, Refusal> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.0.send((raw.to_string(), tx)).is_err() {
            return Err(Refusal::HourlyCap);
        }
        rx.await.unwrap_or(Err(Refusal::HourlyCap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_patterns_name_their_key() {
        let cfg = DialPolicyConfig {
            deny: vec!["+7 495".into()],
            ..DialPolicyConfig::default()
        };
        let e = format!("{:#}", cfg.rules().unwrap_err());
        assert!(e.contains("dial_policy.deny"), "{e}");
        let cfg = DialPolicyConfig {
            premium_prefixes: vec!["+7x".into()],
            ..DialPolicyConfig::default()
        };
        assert!(cfg.rules().is_err());
    }

    #[test]
    fn the_gate_checks_rules_then_caps() {
        let mut g = DialGate::new(&DialPolicyConfig {
            max_per_number_per_day: 1,
            ..DialPolicyConfig::default()
        })
        .unwrap();
        assert_eq!(g.admit(0, "+78095550000"), Err(Refusal::PremiumRate));
        assert_eq!(g.admit(0, "+7 916 111 22 33"), Ok("+79161112233".into()));
        assert_eq!(g.admit(10, "+79161112233"), Err(Refusal::NumberDailyCap));
    }
}
