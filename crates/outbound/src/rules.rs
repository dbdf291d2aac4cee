//! Number rules: is this number one we may dial at all?

use crate::Refusal;

/// Longest number accepted, in digits (E.164 allows 15; dial prefixes add a few).
const MAX_DIGITS: usize = 20;

/// A number pattern: digits with an optional leading `+`, `X` for any one digit, and an
/// optional trailing `*` for "anything after" (`+7495*`, `8800XXXXXXX`, `+15550100`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    prefix: bool,
}

/// A pattern that is not digits, `+`, `X` and a final `*`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad number pattern {pattern:?}: use digits, an optional leading +, X for any digit and an optional final *")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
}

impl std::str::FromStr for Pattern {
    type Err = PatternError;

    fn from_str(s: &str) -> Result<Pattern, PatternError> {
        let err = || PatternError {
            pattern: s.to_string(),
        };
        let (body, prefix) = match s.strip_suffix('*') {
            Some(b) => (b, true),
            None => (s, false),
        };
        let digits = body.strip_prefix('+').unwrap_or(body);
        if (digits.is_empty() && !prefix)
            || digits.len() > MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'X')
        {
            return Err(err());
        }
        Ok(Pattern {
            text: body.to_string(),
            prefix,
        })
    }
}

impl Pattern {
    /// Whether a normalised number matches.
    pub fn matches(&self, number: &str) -> bool {
        let (p, n) = (self.text.as_bytes(), number.as_bytes());
        if n.len() < p.len() || (!self.prefix && n.len() != p.len()) {
            return false;
        }
        p.iter()
            .zip(n)
            .all(|(&pc, &nc)| pc == nc || (pc == b'X' && nc.is_ascii_digit()))
    }
}

/// The configuration of [`NumberRules`] (the server's `[dial_policy]`).
#[derive(Clone, Debug)]
pub struct NumberRulesConfig {
    /// The home country code with its `+` (`"+7"`): `+` numbers outside it are
    /// international. Empty: no `+` number counts as international.
    pub home_prefix: String,
    /// Prefixes that dial abroad from the national network (`00`, `810` in Russia).
    pub international_prefixes: Vec<String>,
    /// Whether international numbers may be dialled without an `allow` pattern.
    pub allow_international: bool,
    /// Premium-rate prefixes, never dialled (even when an allow pattern matches).
    pub premium_prefixes: Vec<String>,
    /// If not empty, only numbers matching one of these are dialled.
    pub allow: Vec<Pattern>,
    /// Numbers matching one of these are never dialled.
    pub deny: Vec<Pattern>,
}

impl Default for NumberRulesConfig {
    /// Russia as home; international calls refused; well-known premium-rate ranges
    /// refused: Russia 809, North America 900/976, UK 09, Germany 0900, France 089,
    /// and the international networks +870, +881, +882, +883, +979.
    fn default() -> NumberRulesConfig {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
        NumberRulesConfig {
            home_prefix: "+7".into(),
            international_prefixes: s(&["00", "810"]),
            allow_international: false,
            premium_prefixes: s(&[
                "+7809", "8809", "+1900", "+1976", "+449", "+49900", "+3389", "+870", "+881",
                "+882", "+883", "+979",
            ]),
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

/// Decides whether a number may be dialled. Stateless: see [`crate::DialCaps`] for limits
/// over time.
#[derive(Clone, Debug)]
pub struct NumberRules {
    cfg: NumberRulesConfig,
}

impl NumberRules {
    /// Rules from their configuration.
    pub fn new(cfg: NumberRulesConfig) -> NumberRules {
        NumberRules { cfg }
    }

    /// Removes visual separators (spaces, `-`, `.`, `(`, `)`) and checks what is left is
    /// an optional `+` and 2..=20 digits.
    pub fn normalise(raw: &str) -> Result<String, Refusal> {
        let mut out = String::with_capacity(raw.len().min(MAX_DIGITS + 1));
        for (i, c) in raw.chars().enumerate() {
            match c {
                '+' if i == 0 => out.push('+'),
                '0'..='9' => out.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(Refusal::InvalidNumber),
            }
            if out.len() > MAX_DIGITS + 1 {
                return Err(Refusal::InvalidNumber);
            }
        }
        let digits = out.strip_prefix('+').unwrap_or(&out).len();
        if !(2..=MAX_DIGITS).contains(&digits) {
            return Err(Refusal::InvalidNumber);
        }
        Ok(out)
    }

    /// The normalised number if it may be dialled, or why not. Order: invalid, deny,
    /// premium rate, then allow patterns (when configured, a match allows an
    /// international number), then international.
    pub fn check(&self, raw: &str) -> Result<String, Refusal> {
        let n = NumberRules::normalise(raw)?;
        if self.cfg.deny.iter().any(|p| p.matches(&n)) {
            return Err(Refusal::Denied);
        }
        if self
            .cfg
            .premium_prefixes
            .iter()
            .any(|p| n.starts_with(p.as_str()))
        {
            return Err(Refusal::PremiumRate);
        }
        if !self.cfg.allow.is_empty() {
            return if self.cfg.allow.iter().any(|p| p.matches(&n)) {
                Ok(n)
            } else {
                Err(Refusal::NotAllowed)
            };
        }
        if !self.cfg.allow_international && self.is_international(&n) {
            return Err(Refusal::International);
        }
        Ok(n)
    }

    fn is_international(&self, n: &str) -> bool {
        let plus_abroad = n.starts_with('+')
            && !self.cfg.home_prefix.is_empty()
            && !n.starts_with(self.cfg.home_prefix.as_str());
        plus_abroad
            || self
                .cfg
                .international_prefixes
                .iter()
                .any(|p| !p.is_empty() && n.starts_with(p.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(f: impl FnOnce(&mut NumberRulesConfig)) -> NumberRules {
        let mut c = NumberRulesConfig::default();
        f(&mut c);
        NumberRules::new(c)
    }

    fn pat(s: &str) -> Pattern {
        s.parse().expect("pattern")
    }

    #[test]
    fn defaults_refuse_premium_and_international_and_allow_home_numbers() {
        let r = rules(|_| {});
        assert_eq!(r.check("+7 (916) 111-22-33"), Ok("+79161112233".into()));
        assert_eq!(r.check("84951234567"), Ok("84951234567".into()));
        assert_eq!(r.check("+78095551234"), Err(Refusal::PremiumRate));
        assert_eq!(r.check("88095551234"), Err(Refusal::PremiumRate));
        assert_eq!(r.check("+88213456789"), Err(Refusal::PremiumRate));
        assert_eq!(r.check("+19005550100"), Err(Refusal::PremiumRate));
        assert_eq!(r.check("+442071234567"), Err(Refusal::International));
        assert_eq!(r.check("0044207123456"), Err(Refusal::International));
        assert_eq!(r.check("810442071234567"), Err(Refusal::International));
    }

    #[test]
    fn junk_is_not_a_number() {
        let r = rules(|_| {});
        for bad in [
            "",
            "+",
            "1",
            "abc",
            "+7999&phone=1",
            "7+99",
            "123456789012345678901",
            "*67",
            "+7 999;x",
        ] {
            assert_eq!(r.check(bad), Err(Refusal::InvalidNumber), "{bad:?}");
        }
    }

    #[test]
    fn deny_wins_over_allow_and_allow_admits_chosen_international_numbers() {
        let r = rules(|c| {
            c.allow = vec![pat("+7495*"), pat("+44XXXXXXXXXX")];
            c.deny = vec![pat("+74951112233")];
        });
        assert_eq!(r.check("+74950000000"), Ok("+74950000000".into()));
        assert_eq!(r.check("+74951112233"), Err(Refusal::Denied));
        assert_eq!(r.check("+79161112233"), Err(Refusal::NotAllowed));
        assert_eq!(r.check("+442071234567"), Ok("+442071234567".into()));
        assert_eq!(r.check("+4420712345678"), Err(Refusal::NotAllowed));
        // Premium stays refused even when allowed by a pattern.
        let r = rules(|c| c.allow = vec![pat("*")]);
        assert_eq!(r.check("+78095551234"), Err(Refusal::PremiumRate));
    }

    #[test]
    fn international_allowed_when_configured() {
        let r = rules(|c| c.allow_international = true);
        assert_eq!(r.check("+442071234567"), Ok("+442071234567".into()));
        let r = rules(|c| c.home_prefix.clear());
        assert_eq!(r.check("+442071234567"), Ok("+442071234567".into()));
    }

    #[test]
    fn patterns_parse_strictly() {
        for good in ["+7495*", "8800XXXXXXX", "*", "+*", "112"] {
            assert!(good.parse::<Pattern>().is_ok(), "{good}");
        }
        for bad in ["", "+", "74*5", "+7 495", "x", "**", "+7495**"] {
            assert!(bad.parse::<Pattern>().is_err(), "{bad}");
        }
        assert!(pat("+7495*").matches("+7495"));
        assert!(!pat("+7495*").matches("+749"));
        assert!(!pat("8800XXXXXXX").matches("8800123456"));
        assert!(pat("8800XXXXXXX").matches("88001234567"));
    }

    proptest::proptest! {
        #[test]
        fn any_input_gives_a_verdict_and_accepted_numbers_are_clean(s in ".{0,40}") {
            let r = rules(|c| c.allow_international = true);
            if let Ok(n) = r.check(&s) {
                let digits = n.strip_prefix('+').unwrap_or(&n);
                proptest::prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                proptest::prop_assert!((2..=MAX_DIGITS).contains(&digits.len()));
            }
            let _ = s.parse::<Pattern>();
        }
    }
}
