//! The ACD engine of switchboard: queues, agents, routing strategies, honest estimated-wait
//! announcements, callbacks that keep the caller's place, Erlang B/C/A staffing, and a
//! discrete-event simulator that proves the announcements. It is a sans-IO state machine: it
//! takes inputs with the current time (a [`std::time::Duration`] since an epoch the driver
//! picks) and queues outputs; it never reads a clock, spawns a task or touches a socket.
//! It knows nothing about SIP: it speaks in [`CallId`]s, [`AgentId`]s and intents
//! ([`Output::Offer`], [`Output::Announce`], [`Output::Callback`], ...) that the server turns
//! into dialog operations. It is not a dialplan, not a media player and not a CLI.
#![warn(missing_docs)]

mod config;
mod engine;
pub mod erlang;
pub mod ewt;
mod ids;
mod output;
pub mod sim;
pub mod statistics;

pub use config::{
    AgentConfig, CallbackOrder, CallbackPolicy, Join, MaxWait, OverflowRule, QueueConfig,
    ServiceLevel, ServiceLevelParseError, SkillReq, SkillTier, Strategy, StrategyParseError,
};
pub use engine::{Acd, AcdConfig, AcdError, Audit, QueueStats};
pub use erlang::{staffing, StaffingInput, StaffingPlan};
pub use ewt::EwtConfig;
pub use ids::{AgentId, CallId, PhoneNumber, QueueId, SkillId, TenantId};
pub use output::{
    AgentState, BusyKind, CallbackResult, Event, ExitReason, OfferFailure, Outcome, Output, Spoken,
};
pub use statistics::{AgentsByState, QueueSnapshot, Statistics, StatsConfig, Tally, Windows};
