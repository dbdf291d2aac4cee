//! Where a transfer goes: the one reading of a target name shared by the dialplan's
//! `transfer agent|extension|external`, an agent's REFER (the Refer-To user part) and the
//! HTTP API. Names come first, numbers last: a configured queue or user keeps its name even
//! when it is all digits, and only what names neither is read as a phone number, which
//! must then pass the number rules of `[dial_policy]` (docs/decisions/0022).

use switchboard_outbound::{NumberRules, Refusal};

/// What the asker said the target is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asked {
    /// `transfer agent "<user>"`: a configured user only.
    Agent,
    /// `transfer extension "<x>"`: a queue name, else a configured user.
    Extension,
    /// `transfer external "<number>"`: a number, under the dial policy.
    External,
    /// A REFER's Refer-To user part: a queue, a user, else a number.
    Any,
}

/// A resolved transfer target (a queue, a user, a canonical number admitted by the number
/// rules): the call flow's own type, since the flow decides what each means.
pub(crate) use switchboard_callflow::Destination;

/// Why a target does not resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// Names no queue or user, and is no number (or a number where none is allowed).
    Unknown,
    /// A number the dial policy refuses.
    Refused(Refusal),
}

/// The names a target is looked up among.
pub(crate) struct Targets<'a> {
    pub(crate) is_queue: &'a dyn Fn(&str) -> bool,
    pub(crate) is_user: &'a dyn Fn(&str) -> bool,
    pub(crate) rules: &'a NumberRules,
}

/// True for what a caller could dial as a number: an optional `+`, then digits and the
/// visual separators the number rules strip (at least one digit).
fn looks_like_number(s: &str) -> bool {
    let body = s.strip_prefix('+').unwrap_or(s);
    body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')'))
}

impl Targets<'_> {
    /// Resolves `target` as `asked` says.
    pub(crate) fn resolve(&self, asked: Asked, target: &str) -> Result<Destination, Unresolved> {
        let queue = (self.is_queue)(target).then(|| Destination::Queue(target.to_string()));
        let user = (self.is_user)(target).then(|| Destination::User(target.to_string()));
        let number = || {
            self.rules
                .check(target)
                .map(Destination::Number)
                .map_err(Unresolved::Refused)
        };
        match asked {
            Asked::Agent => user.ok_or(Unresolved::Unknown),
            Asked::Extension => queue.or(user).ok_or(Unresolved::Unknown),
            Asked::External => number(),
            Asked::Any => match queue.or(user) {
                Some(d) => Ok(d),
                None if looks_like_number(target) => number(),
                None => Err(Unresolved::Unknown),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_outbound::NumberRulesConfig;

    fn with<T>(f: impl FnOnce(&Targets) -> T) -> T {
        let rules = NumberRules::new(NumberRulesConfig::default());
        let is_queue = |n: &str| matches!(n, "sales" | "2000");
        let is_user = |n: &str| matches!(n, "1001" | "2000" | "alice");
        f(&Targets {
            is_queue: &is_queue,
            is_user: &is_user,
            rules: &rules,
        })
    }

    #[test]
    fn names_win_over_numbers_and_queues_over_users() {
        with(|t| {
            use Destination::*;
            assert_eq!(t.resolve(Asked::Any, "sales"), Ok(Queue("sales".into())));
            assert_eq!(t.resolve(Asked::Any, "1001"), Ok(User("1001".into())));
            // A name that is both: the queue, as `transfer extension` always did.
            assert_eq!(t.resolve(Asked::Any, "2000"), Ok(Queue("2000".into())));
            assert_eq!(
                t.resolve(Asked::Extension, "2000"),
                Ok(Queue("2000".into()))
            );
            assert_eq!(
                t.resolve(Asked::Extension, "alice"),
                Ok(User("alice".into()))
            );
            assert_eq!(t.resolve(Asked::Agent, "2000"), Ok(User("2000".into())));
            assert_eq!(
                t.resolve(Asked::Any, "+7 495 123-45-67"),
                Ok(Number("+74951234567".into()))
            );
        });
    }

    #[test]
    fn what_names_nothing_is_unknown_and_numbers_meet_the_dial_policy() {
        with(|t| {
            assert_eq!(t.resolve(Asked::Agent, "sales"), Err(Unresolved::Unknown));
            assert_eq!(t.resolve(Asked::Agent, "bob"), Err(Unresolved::Unknown));
            assert_eq!(
                t.resolve(Asked::Extension, "+74951234567"),
                Err(Unresolved::Unknown),
                "an extension is never dialled out"
            );
            assert_eq!(t.resolve(Asked::Any, "bob"), Err(Unresolved::Unknown));
            assert_eq!(
                t.resolve(Asked::External, "+78095550000"),
                Err(Unresolved::Refused(Refusal::PremiumRate))
            );
            assert_eq!(
                t.resolve(Asked::Any, "+78095550000"),
                Err(Unresolved::Refused(Refusal::PremiumRate))
            );
            assert_eq!(
                t.resolve(Asked::External, "sales"),
                Err(Unresolved::Refused(Refusal::InvalidNumber))
            );
        });
    }
}
