//! Dial caps: how many calls we originate, per number per day and in all per hour.

use std::collections::{HashMap, VecDeque};

use crate::Refusal;

/// Numbers tracked per day at most; past it every new number is refused for the day
/// (a bound on memory whatever the hourly cap is set to).
const MAX_TRACKED_NUMBERS: usize = 100_000;

/// The configuration of [`DialCaps`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DialCapsConfig {
    /// Calls to one number per UTC day.
    pub max_per_number_per_day: u32,
    /// Calls in any sliding hour, all numbers together.
    pub max_per_hour: u32,
}

impl Default for DialCapsConfig {
    fn default() -> DialCapsConfig {
        DialCapsConfig {
            max_per_number_per_day: 3,
            max_per_hour: 120,
        }
    }
}

/// Counts originated calls and refuses those over a cap. One owner (the ACD actor) holds
/// it; time is an input in Unix seconds.
#[derive(Debug)]
pub struct DialCaps {
    cfg: DialCapsConfig,
    /// Start times of the calls admitted in the last hour, oldest first.
    hour: VecDeque<i64>,
    /// The UTC day `per_number` counts.
    day: i64,
    per_number: HashMap<String, u32>,
}

impl DialCaps {
    /// Empty counters.
    pub fn new(cfg: DialCapsConfig) -> DialCaps {
        DialCaps {
            cfg,
            hour: VecDeque::new(),
            day: i64::MIN,
            per_number: HashMap::new(),
        }
    }

    /// Admits (and counts) one call to `number` at `now_unix_s`, or says which cap it
    /// would break (and counts nothing).
    pub fn admit(&mut self, now_unix_s: i64, number: &str) -> Result<(), Refusal> {
        let day = now_unix_s.div_euclid(86_400);
        if day != self.day {
            self.day = day;
            self.per_number.clear();
        }
        while self.hour.front().is_some_and(|&t| t <= now_unix_s - 3_600) {
            self.hour.pop_front();
        }
        let today = self.per_number.get(number).copied().unwrap_or(0);
        if today >= self.cfg.max_per_number_per_day
            || (today == 0 && self.per_number.len() >= MAX_TRACKED_NUMBERS)
        {
            return Err(Refusal::NumberDailyCap);
        }
        if self.hour.len() >= self.cfg.max_per_hour as usize {
            return Err(Refusal::HourlyCap);
        }
        self.hour.push_back(now_unix_s);
        *self.per_number.entry(number.to_string()).or_insert(0) += 1;
        Ok(())
    }

    /// Calls admitted in the last hour as of the last [`DialCaps::admit`].
    pub fn last_hour(&self) -> usize {
        self.hour.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 20_000 * 86_400;

    #[test]
    fn per_number_cap_resets_at_the_utc_day() {
        let mut c = DialCaps::new(DialCapsConfig {
            max_per_number_per_day: 2,
            max_per_hour: 100,
        });
        assert_eq!(c.admit(DAY + 10, "+79161112233"), Ok(()));
        assert_eq!(c.admit(DAY + 5_000, "+79161112233"), Ok(()));
        assert_eq!(
            c.admit(DAY + 9_000, "+79161112233"),
            Err(Refusal::NumberDailyCap)
        );
        assert_eq!(c.admit(DAY + 9_000, "+79160000000"), Ok(()));
        assert_eq!(c.admit(DAY + 86_400, "+79161112233"), Ok(()));
    }

    #[test]
    fn hourly_cap_is_a_sliding_hour() {
        let mut c = DialCaps::new(DialCapsConfig {
            max_per_number_per_day: 10,
            max_per_hour: 3,
        });
        for (t, n) in [(0, "+71"), (100, "+72"), (200, "+73")] {
            assert_eq!(c.admit(DAY + t, n), Ok(()));
        }
        assert_eq!(c.admit(DAY + 3_599, "+74"), Err(Refusal::HourlyCap));
        // A refusal counts nothing: the first call leaves the window at 3,600 s.
        assert_eq!(c.admit(DAY + 3_600, "+74"), Ok(()));
        assert_eq!(c.admit(DAY + 3_601, "+75"), Err(Refusal::HourlyCap));
        assert_eq!(c.last_hour(), 3);
    }
}
