//! Hourly caps on calls people place themselves (agents' own outbound calls): per user
//! and for all users together, each over a sliding hour.

use std::collections::{HashMap, VecDeque};

use crate::Refusal;

/// Users tracked at most (a bound on memory; users come from the configuration, so a
/// deployment never gets near it). Past it a new user is refused as over their cap.
const MAX_TRACKED_USERS: usize = 10_000;

/// Counts the calls each user placed in the last hour and refuses those over a cap. One
/// owner holds it; time is an input in Unix seconds.
#[derive(Debug)]
pub struct UserCaps {
    /// Calls in any sliding hour, all users together.
    max_per_hour: u32,
    hour: VecDeque<i64>,
    per_user: HashMap<String, VecDeque<i64>>,
}

impl UserCaps {
    /// Empty counters; `max_per_hour` caps all users together.
    pub fn new(max_per_hour: u32) -> UserCaps {
        UserCaps {
            max_per_hour,
            hour: VecDeque::new(),
            per_user: HashMap::new(),
        }
    }

    /// Admits (and counts) one call by `user`, whose own cap is `user_max_per_hour`, at
    /// `now_unix_s`; or says which cap it would break (and counts nothing).
    pub fn admit(
        &mut self,
        now_unix_s: i64,
        user: &str,
        user_max_per_hour: u32,
    ) -> Result<(), Refusal> {
        let cutoff = now_unix_s - 3_600;
        let expire = |q: &mut VecDeque<i64>| {
            while q.front().is_some_and(|&t| t <= cutoff) {
                q.pop_front();
            }
        };
        expire(&mut self.hour);
        self.per_user.retain(|_, q| {
            expire(q);
            !q.is_empty()
        });
        let mine = self.per_user.get(user).map_or(0, VecDeque::len);
        if mine >= user_max_per_hour as usize
            || (mine == 0 && self.per_user.len() >= MAX_TRACKED_USERS)
        {
            return Err(Refusal::UserHourlyCap);
        }
        if self.hour.len() >= self.max_per_hour as usize {
            return Err(Refusal::HourlyCap);
        }
        self.hour.push_back(now_unix_s);
        self.per_user
            .entry(user.to_string())
            .or_default()
            .push_back(now_unix_s);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000;

    #[test]
    fn each_user_has_a_sliding_hour_and_all_share_one() {
        let mut c = UserCaps::new(3);
        assert_eq!(c.admit(T, "1001", 2), Ok(()));
        assert_eq!(c.admit(T + 10, "1001", 2), Ok(()));
        assert_eq!(c.admit(T + 20, "1001", 2), Err(Refusal::UserHourlyCap));
        assert_eq!(c.admit(T + 30, "1002", 5), Ok(()));
        // The global cap (3) is spent: 1003 is refused though under their own cap.
        assert_eq!(c.admit(T + 40, "1003", 5), Err(Refusal::HourlyCap));
        // An hour after 1001's first call, one place frees for them and for everyone.
        assert_eq!(c.admit(T + 3_600, "1001", 2), Ok(()));
        assert_eq!(c.admit(T + 3_601, "1003", 5), Err(Refusal::HourlyCap));
        assert_eq!(c.admit(T + 3_610, "1003", 5), Ok(()));
    }

    #[test]
    fn a_zero_cap_refuses_everything() {
        let mut c = UserCaps::new(10);
        assert_eq!(c.admit(T, "1001", 0), Err(Refusal::UserHourlyCap));
        let mut c = UserCaps::new(0);
        assert_eq!(c.admit(T, "1001", 1), Err(Refusal::HourlyCap));
    }
}
