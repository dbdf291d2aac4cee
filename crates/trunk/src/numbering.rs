//! How a trunk wants numbers written (the Request-URI user part), and which caller ID it
//! presents. Input numbers are already canonical (the dial policy's
//! `NumberRules::normalise`: digits with an optional leading `+`).

/// Number format for one trunk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberFormat {
    /// Drop a leading `+` (carriers that want bare international digits).
    pub strip_plus: bool,
    /// Prepended after `strip_plus` (e.g. `"9"` for an outside line, `"00"`).
    pub dial_prefix: String,
}

impl NumberFormat {
    /// `number` as this trunk wants it.
    pub fn apply(&self, number: &str) -> String {
        let n = if self.strip_plus {
            number.strip_prefix('+').unwrap_or(number)
        } else {
            number
        };
        let mut out = String::with_capacity(self.dial_prefix.len() + n.len());
        out.push_str(&self.dial_prefix);
        out.push_str(n);
        out
    }
}

/// Which caller ID an outbound call presents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerIdPolicy {
    /// Always this number.
    Fixed(String),
    /// The caller ID the originator supplies (a callback: the number the customer had
    /// called); the trunk's user name when it supplies none.
    PassThrough,
}

impl CallerIdPolicy {
    /// The From user part: `supplied` (the originator's preference) or `fallback` (the
    /// trunk's user name) under this policy.
    pub fn resolve(&self, supplied: Option<&str>, fallback: &str) -> String {
        match self {
            CallerIdPolicy::Fixed(n) => n.clone(),
            CallerIdPolicy::PassThrough => supplied
                .filter(|s| !s.is_empty())
                .unwrap_or(fallback)
                .to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let keep = NumberFormat::default();
        assert_eq!(keep.apply("+74951234567"), "+74951234567");
        let strip = NumberFormat {
            strip_plus: true,
            dial_prefix: String::new(),
        };
        assert_eq!(strip.apply("+74951234567"), "74951234567");
        let pre = NumberFormat {
            strip_plus: true,
            dial_prefix: "00".into(),
        };
        assert_eq!(pre.apply("+74951234567"), "0074951234567");
        assert_eq!(pre.apply("84951234567"), "0084951234567");
    }

    #[test]
    fn caller_id() {
        let fixed = CallerIdPolicy::Fixed("+74950000000".into());
        assert_eq!(fixed.resolve(Some("+7999"), "acct"), "+74950000000");
        let pass = CallerIdPolicy::PassThrough;
        assert_eq!(pass.resolve(Some("+7999"), "acct"), "+7999");
        assert_eq!(pass.resolve(None, "acct"), "acct");
        assert_eq!(pass.resolve(Some(""), "acct"), "acct");
    }
}
