//! Calling windows: the local hours a callee may be called, in the callee's time zone.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Local hours `start..end` (a window whose end is before its start runs past midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    start: NaiveTime,
    end: NaiveTime,
}

/// A window that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("calling window {0:?}: expected HH:MM-HH:MM (e.g. 09:00-20:00, 00:00-24:00 for every hour) with different times")]
pub struct WindowError(pub String);

impl std::str::FromStr for Window {
    type Err = WindowError;

    fn from_str(s: &str) -> Result<Window, WindowError> {
        let bad = || WindowError(s.to_string());
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let t = |x: &str| NaiveTime::parse_from_str(x.trim(), "%H:%M").map_err(|_| bad());
        let start = t(a)?;
        // `24:00` is the end of the day; `00:00-24:00` is every hour.
        let end = if b.trim() == "24:00" {
            NaiveTime::MIN
        } else {
            t(b)?
        };
        if start == end && b.trim() != "24:00" {
            return Err(bad());
        }
        Ok(Window { start, end })
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = if self.end == NaiveTime::MIN {
            "24:00".to_string()
        } else {
            self.end.format("%H:%M").to_string()
        };
        write!(f, "{}-{end}", self.start.format("%H:%M"))
    }
}

impl Window {
    /// Every hour of the day.
    pub const ALWAYS: Window = Window {
        start: NaiveTime::MIN,
        end: NaiveTime::MIN,
    };

    fn is_always(&self) -> bool {
        self.start == self.end
    }

    /// Is `now` inside the window in time zone `tz`?
    pub fn contains(&self, now: DateTime<Utc>, tz: Tz) -> bool {
        if self.is_always() {
            return true;
        }
        let t = now.with_timezone(&tz).time();
        if self.start < self.end {
            t >= self.start && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }

    /// The next moment at or after `now` that is inside the window in `tz`.
    pub fn next_open(&self, now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        if self.contains(now, tz) {
            return now;
        }
        let local = now.with_timezone(&tz);
        // Today's opening if it is still ahead, else tomorrow's (or the day after, across a
        // DST gap that swallows the opening time).
        for days in 0..3 {
            let date = local.date_naive() + Duration::days(days);
            if let Some(open) = tz
                .from_local_datetime(&date.and_time(self.start))
                .earliest()
            {
                let open = open.with_timezone(&Utc);
                if open > now {
                    return open;
                }
            }
        }
        now + Duration::hours(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn windows_are_read_in_the_callees_time_zone() {
        let w: Window = "09:00-20:00".parse().unwrap();
        let moscow: Tz = "Europe/Moscow".parse().unwrap();
        // 07:00 UTC is 10:00 in Moscow (inside) and 07:00 in London (outside).
        assert!(w.contains(at("2026-12-07T07:00:00Z"), moscow));
        assert!(!w.contains(at("2026-12-07T07:00:00Z"), chrono_tz::Europe::London));
        assert_eq!(
            w.next_open(at("2026-12-07T07:00:00Z"), chrono_tz::Europe::London),
            at("2026-12-07T09:00:00Z")
        );
        // After the window closes, the next opening is tomorrow morning.
        assert_eq!(
            w.next_open(at("2026-12-07T18:30:00Z"), moscow),
            at("2026-12-08T06:00:00Z")
        );
    }

    #[test]
    fn a_window_may_run_past_midnight_and_bad_ones_are_refused() {
        let w: Window = "22:00-02:00".parse().unwrap();
        assert!(w.contains(at("2026-12-07T23:30:00Z"), Tz::UTC));
        assert!(w.contains(at("2026-12-07T01:30:00Z"), Tz::UTC));
        assert!(!w.contains(at("2026-12-07T12:00:00Z"), Tz::UTC));
        for bad in ["9-20", "09:00", "09:00-09:00", "25:00-26:00", ""] {
            assert!(bad.parse::<Window>().is_err(), "{bad}");
        }
        assert_eq!(w.to_string(), "22:00-02:00");
        let all: Window = "00:00-24:00".parse().unwrap();
        assert_eq!(all, Window::ALWAYS);
        let evening: Window = "18:00-24:00".parse().unwrap();
        assert!(evening.contains(at("2026-12-07T23:59:30Z"), Tz::UTC));
        assert!(!evening.contains(at("2026-12-07T00:00:30Z"), Tz::UTC));
    }
}
