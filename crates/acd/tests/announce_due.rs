//! Each announcement says when it was due, so the driver can measure how late it played:
//! the join time for the announcement on joining, the timer's deadline for the periodic
//! ones, however late the engine is told the time; and a late wakeup does not move the
//! caller's schedule (the next one is due a whole number of periods after the first).

use std::time::Duration;

use switchboard_acd::*;

const Q: QueueId = QueueId(1);

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// (call, due) of every announcement in the engine's output.
fn announcements(acd: &mut Acd) -> Vec<(CallId, Duration)> {
    std::iter::from_fn(|| acd.poll_output())
        .filter_map(|o| match o {
            Output::Announce { call, due, .. } => Some((call, due)),
            _ => None,
        })
        .collect()
}

#[test]
fn periodic_announcements_carry_their_timer_deadline() {
    let mut acd = Acd::new(AcdConfig {
        seed: 1,
        ..AcdConfig::default()
    });
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.announce_every = Some(Duration::from_secs(60));
    acd.add_queue(Q, qc).unwrap();
    acd.add_agent(AgentConfig::new(AgentId(1), vec![Q]))
        .unwrap();
    acd.handle_login(ms(0), AgentId(1)).unwrap();
    // The one agent takes call 1, so call 2 waits and hears the announcements.
    acd.handle_join(ms(0), Join::new(CallId(1), Q)).unwrap();
    let offered = std::iter::from_fn(|| acd.poll_output()).any(|o| {
        matches!(
            o,
            Output::Offer {
                call: CallId(1),
                ..
            }
        )
    });
    assert!(offered);
    acd.handle_offer_answered(ms(0), CallId(1), AgentId(1))
        .unwrap();
    acd.handle_join(ms(1_000), Join::new(CallId(2), Q)).unwrap();
    let at_join = announcements(&mut acd);
    assert!(
        at_join
            .iter()
            .all(|&(c, due)| c == CallId(2) && due == ms(1_000)),
        "{at_join:?}"
    );
    // The engine hears of the time 1.5 s after the timer was due: the announcement says
    // it was due at 61 s, not 62.5 s.
    acd.handle_timeout(ms(62_500));
    assert_eq!(announcements(&mut acd), vec![(CallId(2), ms(61_000))]);
    // The next one stays on the caller's schedule (61 s + 60 s), not a period after the
    // late one played.
    acd.handle_timeout(ms(120_999));
    assert_eq!(announcements(&mut acd), vec![]);
    acd.handle_timeout(ms(121_000));
    assert_eq!(announcements(&mut acd), vec![(CallId(2), ms(121_000))]);
}

/// A queue with one busy agent and `callers` waiting (joined at 1 s, 2 s, ...), announcing
/// every 60 s.
fn storm(callers: u64) -> Acd {
    let mut acd = Acd::new(AcdConfig {
        seed: 7,
        ..AcdConfig::default()
    });
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.announce_every = Some(Duration::from_secs(60));
    acd.add_queue(Q, qc).unwrap();
    acd.add_agent(AgentConfig::new(AgentId(1), vec![Q]))
        .unwrap();
    acd.handle_login(ms(0), AgentId(1)).unwrap();
    acd.handle_join(ms(0), Join::new(CallId(100), Q)).unwrap();
    acd.handle_offer_answered(ms(0), CallId(100), AgentId(1))
        .unwrap();
    for c in 1..=callers {
        acd.handle_join(ms(1_000 * c), Join::new(CallId(c), Q))
            .unwrap();
    }
    announcements(&mut acd);
    acd
}

/// (call, due, how late it was handled) of the announcements when the engine is woken at
/// `now`.
fn wake(acd: &mut Acd, now: Duration) -> Vec<(CallId, Duration, Duration)> {
    acd.handle_timeout(now);
    announcements(acd)
        .into_iter()
        .map(|(c, due)| (c, due, now - due))
        .collect()
}

#[test]
fn a_late_wakeup_does_not_shift_later_announcements() {
    let mut acd = storm(3);
    // Due at 61, 62 and 63 s; the engine is woken 3 s late for the first, at 64 s: all
    // three play then, each saying how late it really is.
    assert_eq!(
        wake(&mut acd, ms(64_000)),
        vec![
            (CallId(1), ms(61_000), ms(3_000)),
            (CallId(2), ms(62_000), ms(2_000)),
            (CallId(3), ms(63_000), ms(1_000)),
        ]
    );
    // The next round is on the callers' own schedule: 121, 122, 123 s, on time.
    assert_eq!(acd.poll_timeout(), Some(ms(121_000)));
    for c in 1..=3u64 {
        let due = ms(60_000 + 1_000 * c) + ms(60_000);
        assert_eq!(wake(&mut acd, due), vec![(CallId(c), due, ms(0))]);
    }
}

#[test]
fn a_wakeup_periods_late_plays_once_and_skips_the_missed_periods() {
    let mut acd = storm(1);
    // Due at 61 s, woken at 200 s (121 and 181 s missed too): one announcement, late by
    // 139 s, not three in a burst.
    assert_eq!(
        wake(&mut acd, ms(200_000)),
        vec![(CallId(1), ms(61_000), ms(139_000))]
    );
    // Back on schedule: the next one is due at 241 s.
    assert_eq!(acd.poll_timeout(), Some(ms(241_000)));
    assert_eq!(
        wake(&mut acd, ms(241_000)),
        vec![(CallId(1), ms(241_000), ms(0))]
    );
}
