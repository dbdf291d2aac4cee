//! Live statistics across a restart: callbacks accepted before it are restored into their
//! line (`handle_callback_restore`) and must not be counted as offered a second time, while
//! they are back on the line (waiting, longest wait) and their outcome still counts.

use std::time::Duration;

use switchboard_acd::*;

const Q: QueueId = QueueId(1);

fn t(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An ACD with queue `Q` and nobody logged in, and statistics for it.
fn setup() -> (Acd, Statistics) {
    let mut acd = Acd::new(AcdConfig::default());
    acd.add_queue(Q, QueueConfig::new(Strategy::LongestIdle))
        .unwrap();
    acd.add_agent(AgentConfig::new(AgentId(1), vec![Q]))
        .unwrap();
    let mut stats = Statistics::new();
    stats.add_queue(Q, StatsConfig::default());
    stats.add_agent(AgentId(1), &[Q]);
    stats.roll(
        t(0),
        Windows {
            interval_start: t(0),
            day_start: t(0),
        },
    );
    (acd, stats)
}

/// Feeds the engine's outputs to the statistics as the server does: the join of a restored
/// entry with `observe_restored`, everything else with `observe`.
fn drain(acd: &mut Acd, stats: &mut Statistics, now: Duration, restored: &[CallId]) {
    while let Some(out) = acd.poll_output() {
        match &out {
            Output::Log(Event::Joined { call, .. }) if restored.contains(call) => {
                stats.observe_restored(now, &out)
            }
            _ => stats.observe(now, &out),
        }
    }
}

#[test]
fn callbacks_restored_after_a_restart_are_not_offered_again() {
    let (mut acd, mut stats) = setup();
    // One new callback and two restored ones (scheduled before the restart).
    acd.handle_callback_schedule(t(100), CallId(1), Q, "+74951230001".into(), t(0))
        .unwrap();
    for (id, first) in [(2, 10), (3, 20)] {
        acd.handle_callback_restore(t(100), CallId(id), Q, "+74951230002".into(), t(0), t(first))
            .unwrap();
    }
    drain(&mut acd, &mut stats, t(100), &[CallId(2), CallId(3)]);
    let snap = stats.snapshot(Q, t(100), &acd).unwrap();
    assert_eq!(
        snap.today.offered, 1,
        "only the new callback is a new offer"
    );
    assert_eq!(snap.interval.offered, 1);
    assert_eq!(snap.callbacks_pending, 3, "all three are in line");

    // Fed as plain joins (the bug), the restart inflates the day's offers.
    let (mut acd, mut stats) = setup();
    acd.handle_callback_restore(t(100), CallId(2), Q, "+74951230002".into(), t(0), t(10))
        .unwrap();
    drain(&mut acd, &mut stats, t(100), &[]);
    assert_eq!(stats.snapshot(Q, t(100), &acd).unwrap().today.offered, 1);
}
