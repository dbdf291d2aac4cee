//! Typed identifiers. The server maps SIP dialogs, users and dialplan names onto these.

use std::fmt;

/// An agent (a person who answers calls), known to the engine by this number only.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct AgentId(pub u32);

/// A queue (a group of waiting callers served by member agents).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct QueueId(pub u16);

/// A caller's call as the engine sees it; the server owns the mapping to the SIP dialog.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// A skill such as "language: French" or "product: billing".
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct SkillId(pub u16);

/// A tenant: calls of one tenant are only ever offered to agents of the same tenant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct TenantId(pub u32);

macro_rules! display_id {
    ($t:ty, $p:literal) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($p, "{}"), self.0)
            }
        }
    };
}
display_id!(AgentId, "agent-");
display_id!(QueueId, "queue-");
display_id!(CallId, "call-");
display_id!(SkillId, "skill-");
display_id!(TenantId, "tenant-");
