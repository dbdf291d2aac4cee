//! The policy for every call switchboard originates (ACD callbacks, web callbacks,
//! dialplan callbacks, agents' own outbound calls; campaigns as they arrive): which
//! numbers may be dialled ([`NumberRules`]: allow/deny patterns, international and
//! premium-rate prefixes denied by default) and how often ([`DialCaps`]: per number per
//! day, all numbers per hour; [`UserCaps`]: per user per hour for calls people place).
//!
//! It exists because a caller chooses the number a callback dials (the caller ID), and a
//! hostile caller chooses a premium-rate or international number: toll fraud. Every
//! refusal is a typed [`Refusal`] with a stable snake_case name for events and metrics.
//!
//! [`pacing`] decides how many numbers a predictive campaign dials at once
//! ([`PredictivePacer`]: estimates from what it observes, an abandon-rate cap over a
//! sliding 24 h window), and [`pacing::sim`] simulates campaigns to measure it.
//!
//! This crate is sans-IO: no SIP, no sockets, no clock. Time comes in as Unix seconds
//! (caps) or as a `Duration` since an origin the caller picks (pacing).
//! It does not normalise national dialling formats (trunk prefixes, E.164 conversion per
//! carrier); that belongs to the trunks' number normalisation.

mod caps;
pub mod pacing;
mod rules;
mod user_caps;

pub use caps::{DialCaps, DialCapsConfig};
pub use pacing::{PacingConfig, PacingSnapshot, PredictivePacer};
pub use rules::{NumberRules, NumberRulesConfig, Pattern, PatternError};
pub use user_caps::UserCaps;

/// Why a number may not be dialled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Refusal {
    /// Not a dialable number: empty, too long, or characters other than digits after an
    /// optional leading `+` (visual separators aside).
    #[error("not a dialable number")]
    InvalidNumber,
    /// Matches a `deny` pattern.
    #[error("the number matches a deny pattern")]
    Denied,
    /// `allow` patterns are configured and the number matches none.
    #[error("the number matches no allow pattern")]
    NotAllowed,
    /// International (outside `home_prefix`, or dialled with `00`) while international
    /// calls are not allowed.
    #[error("international numbers are not allowed")]
    International,
    /// Starts with a premium-rate prefix.
    #[error("premium-rate numbers are not allowed")]
    PremiumRate,
    /// This number was dialled `max_per_number_per_day` times today (UTC).
    #[error("the daily limit for this number is reached")]
    NumberDailyCap,
    /// `max_per_hour` calls were originated in the last hour.
    #[error("the hourly limit of originated calls is reached")]
    HourlyCap,
    /// The user placing the call reached their own hourly cap.
    #[error("the user's hourly limit of calls is reached")]
    UserHourlyCap,
}

impl Refusal {
    /// Every refusal, for metrics that list each label from the start.
    pub const ALL: [Refusal; 8] = [
        Refusal::InvalidNumber,
        Refusal::Denied,
        Refusal::NotAllowed,
        Refusal::International,
        Refusal::PremiumRate,
        Refusal::NumberDailyCap,
        Refusal::HourlyCap,
        Refusal::UserHourlyCap,
    ];

    /// The stable name used in events (`call.refused`'s `reason`) and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::InvalidNumber => "invalid_number",
            Refusal::Denied => "denied_pattern",
            Refusal::NotAllowed => "not_allowed",
            Refusal::International => "international",
            Refusal::PremiumRate => "premium_rate",
            Refusal::NumberDailyCap => "number_daily_cap",
            Refusal::HourlyCap => "hourly_cap",
            Refusal::UserHourlyCap => "user_hourly_cap",
        }
    }
}
