//! Where the ACD statistics' windows fall in wall-clock time: the engine's clock (time
//! since the actor started) mapped onto local midnight and the reporting interval.

use std::time::Duration;

/// Maps the engine's time onto wall-clock time to place the statistics' interval and day
/// boundaries (local midnight in the configured zone, then every `interval` from it).
pub(crate) struct StatsCalendar {
    /// Wall-clock time at the engine's time zero.
    pub(super) epoch: chrono::DateTime<chrono::Utc>,
    tz: chrono_tz::Tz,
    pub(super) interval: Duration,
    /// The engine time the actor started at: windows never begin before it.
    origin: Duration,
}

impl StatsCalendar {
    pub(crate) fn new(
        epoch: chrono::DateTime<chrono::Utc>,
        tz: chrono_tz::Tz,
        interval_minutes: u32,
    ) -> StatsCalendar {
        StatsCalendar {
            epoch,
            tz,
            interval: Duration::from_secs(u64::from(interval_minutes.max(1)) * 60),
            origin: Duration::ZERO,
        }
    }

    /// The engine starts at `origin` rather than zero (`epoch` is still the wall-clock
    /// time at engine time zero).
    pub(crate) fn starting_at(mut self, origin: Duration) -> StatsCalendar {
        self.origin = origin;
        self
    }

    /// The engine time `at` as wall-clock time in the configured zone.
    pub(crate) fn wall(&self, at: Duration) -> chrono::DateTime<chrono_tz::Tz> {
        let d = chrono::Duration::from_std(at).unwrap_or_default();
        (self.epoch + d).with_timezone(&self.tz)
    }

    /// The current interval's and day's starts at engine time `now`, in engine time
    /// (clamped at the engine's start when they fall before it).
    pub(crate) fn windows(&self, now: Duration) -> switchboard_acd::Windows {
        use chrono::TimeZone;
        let local = self.wall(now);
        let midnight = local.date_naive().and_time(chrono::NaiveTime::MIN);
        // A zone whose midnight is skipped by a DST change starts the day at its first instant.
        let day = self
            .tz
            .from_local_datetime(&midnight)
            .earliest()
            .map(|d| d.with_timezone(&chrono::Utc))
            .unwrap_or_else(|| local.with_timezone(&chrono::Utc));
        let into_day = (local.with_timezone(&chrono::Utc) - day)
            .to_std()
            .unwrap_or_default();
        let n = into_day.as_secs() / self.interval.as_secs().max(1);
        let interval =
            day + chrono::Duration::from_std(self.interval * n as u32).unwrap_or_default();
        let engine = |t: chrono::DateTime<chrono::Utc>| {
            (t - self.epoch)
                .to_std()
                .unwrap_or_default()
                .max(self.origin)
        };
        switchboard_acd::Windows {
            interval_start: engine(interval),
            day_start: engine(day),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_windows_start_at_local_midnight_and_every_interval_after_it() {
        use chrono::TimeZone;
        // Engine time zero is 2026-03-10 20:50 UTC = 23:50 in Moscow (UTC+3).
        let epoch = chrono::Utc
            .with_ymd_and_hms(2026, 3, 10, 20, 50, 0)
            .unwrap();
        let cal = StatsCalendar::new(epoch, chrono_tz::Europe::Moscow, 15);
        let w = cal.windows(Duration::ZERO);
        // Day and interval began before the engine did: clamped to zero.
        assert_eq!(
            (w.interval_start, w.day_start),
            (Duration::ZERO, Duration::ZERO)
        );
        // 23:59:59 local: still the interval that began at 23:45.
        assert_eq!(
            cal.windows(Duration::from_secs(599)).interval_start,
            Duration::ZERO
        );
        // 00:07 local on the 11th: a new day at 00:00 (600 s in), interval 00:00.
        let w = cal.windows(Duration::from_secs(17 * 60));
        assert_eq!(w.day_start, Duration::from_secs(600));
        assert_eq!(w.interval_start, Duration::from_secs(600));
        // 00:31 local: the 00:30 interval.
        let w = cal.windows(Duration::from_secs(41 * 60));
        assert_eq!(w.interval_start, Duration::from_secs(40 * 60));
        assert_eq!(w.day_start, Duration::from_secs(600));
        assert_eq!(
            cal.wall(w.interval_start).to_rfc3339(),
            "2026-03-11T00:30:00+03:00"
        );
        // UTC, 60-minute intervals: 21:10 UTC is in the 21:00 interval.
        let cal = StatsCalendar::new(epoch, chrono_tz::UTC, 60);
        let w = cal.windows(Duration::from_secs(20 * 60));
        assert_eq!(w.interval_start, Duration::from_secs(10 * 60));
        assert_eq!(w.day_start, Duration::ZERO);
        // An engine clock starting at 1000 s: windows are clamped there, not at zero.
        let origin = Duration::from_secs(1000);
        let cal = StatsCalendar::new(epoch - chrono::Duration::seconds(1000), chrono_tz::UTC, 60)
            .starting_at(origin);
        let w = cal.windows(origin + Duration::from_secs(20 * 60));
        assert_eq!(w.interval_start, origin + Duration::from_secs(10 * 60));
        assert_eq!(w.day_start, origin);
    }
}
