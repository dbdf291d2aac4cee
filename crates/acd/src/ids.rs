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

/// A caller's phone number. `Debug` and `Display` print `<redacted>` so a number never lands
/// in a log line by accident; read it with [`PhoneNumber::as_str`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Wrap a number.
    pub fn new(number: impl Into<String>) -> Self {
        PhoneNumber(number.into())
    }

    /// The number itself, for dialling and matching.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for PhoneNumber {
    fn from(s: &str) -> Self {
        PhoneNumber(s.to_string())
    }
}

impl From<String> for PhoneNumber {
    fn from(s: String) -> Self {
        PhoneNumber(s)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(<redacted>)")
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::PhoneNumber;

    #[test]
    fn numbers_are_redacted_in_logs() {
        let n = PhoneNumber::from("+15551234567");
        assert_eq!(format!("{n:?} {n}"), "PhoneNumber(<redacted>) <redacted>");
        assert_eq!(n.as_str(), "+15551234567");
    }
}
