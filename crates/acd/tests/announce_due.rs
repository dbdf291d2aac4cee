//! Each announcement says when it was due, so the driver can measure how late it played:
//! the join time for the announcement on joining, the timer's deadline for the periodic
//! ones, however late the engine is told the time.

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
    // The next one is armed a period after it actually played, and says so.
    acd.handle_timeout(ms(122_499));
    assert_eq!(announcements(&mut acd), vec![]);
    acd.handle_timeout(ms(122_500));
    assert_eq!(announcements(&mut acd), vec![(CallId(2), ms(122_500))]);
}
