use super::*;
use crate::config::{AgentConfig, Join, QueueConfig, Strategy};
use crate::engine::AcdConfig;

const Q: QueueId = QueueId(0);
const A1: AgentId = AgentId(1);
const A2: AgentId = AgentId(2);

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An engine and its statistics driven together, the way a driver does: every input
/// at time `now`, then drain outputs into the statistics with the same `now`.
struct Rig {
    acd: Acd,
    stats: Statistics,
    offers: Vec<(CallId, AgentId)>,
    announced: Vec<(CallId, Option<Duration>)>,
}

impl Rig {
    fn new(wrap: u64, short_abandon: u64, announce: bool) -> Rig {
        let mut acd = Acd::new(AcdConfig::default());
        let mut qc = QueueConfig::new(Strategy::LongestIdle);
        qc.wrap_up = s(wrap);
        qc.announce_at_join = announce;
        qc.announce_every = None;
        qc.ring_timeout = s(600);
        acd.add_queue(Q, qc.clone()).unwrap();
        let mut stats = Statistics::new();
        stats.add_queue(
            Q,
            StatsConfig {
                service_level: qc.service_level,
                short_abandon: s(short_abandon),
            },
        );
        for a in [A1, A2] {
            acd.add_agent(AgentConfig::new(a, vec![Q])).unwrap();
            stats.add_agent(a, &[Q]);
        }
        let mut rig = Rig {
            acd,
            stats,
            offers: Vec::new(),
            announced: Vec::new(),
        };
        rig.roll(s(0), 0, 0);
        rig
    }
    fn roll(&mut self, now: Duration, interval: u64, day: u64) {
        self.stats.roll(
            now,
            Windows {
                interval_start: s(interval),
                day_start: s(day),
            },
        );
    }
    fn drain(&mut self, now: Duration) {
        self.acd.handle_timeout(now);
        while let Some(o) = self.acd.poll_output() {
            self.stats.observe(now, &o);
            match o {
                Output::Offer { call, agent, .. } => self.offers.push((call, agent)),
                Output::Announce {
                    call, ewt_bound, ..
                } => self.announced.push((call, ewt_bound)),
                _ => {}
            }
        }
    }
    fn at(&mut self, t: u64, f: impl FnOnce(&mut Acd, Duration)) {
        f(&mut self.acd, s(t));
        self.drain(s(t));
    }
    fn join(&mut self, t: u64, call: u64) {
        self.at(t, |a, now| {
            a.handle_join(now, Join::new(CallId(call), Q)).unwrap()
        });
    }
    fn answer(&mut self, t: u64, call: u64, agent: AgentId) {
        assert!(self.offers.contains(&(CallId(call), agent)), "not offered");
        self.at(t, |a, now| {
            a.handle_offer_answered(now, CallId(call), agent).unwrap()
        });
    }
    fn end(&mut self, t: u64, call: u64) {
        self.at(t, |a, now| a.handle_call_ended(now, CallId(call)).unwrap());
    }
    fn snap(&self, t: u64) -> QueueSnapshot {
        self.stats.snapshot(Q, s(t), &self.acd).unwrap()
    }
}

/// Two agents, wrap-up 10 s, threshold 20 s, short abandon 5 s:
///
/// ```text
/// t=0   both agents log in
/// t=0   c1 joins -> A1 rings; t=4 A1 answers (wait 4)   talk 4..64, wrap 64..74
/// t=0   c2 joins -> A2 rings; t=6 A2 answers (wait 6)   talk 6..36, wrap 36..46
/// t=10  c3 joins, waits; t=13 hangs up                 short abandon (3 < 5)
/// t=20  c4 joins, waits; t=45 hangs up                 abandon (25)
/// t=40  c5 joins, waits; A2 free at 46 -> rings; t=70 answers (wait 30 > 20)
///       talk 70..100, wrap 100..110
/// ```
///
/// At t=110: offered 5, answered 3 (2 within 20 s), abandoned 2 (1 short); SL base 4 ->
/// SL 2/4 = 0.5, abandon rate 1/4; ASA (4+6+30)/3 = 13.33 s; AHT: c1 60+10, c2 30+10,
/// c5 30+10 -> 150/3 = 50 s. Occupancy (ringing counts as idle): A1 idle 0..4 (4), busy
/// 4..74 (70), idle 74..110 (36); A2 idle 0..6 (6) and 46..70 (24), busy 6..46 (40) and
/// 70..110 (40) -> busy 150, idle 70 -> 150/220.
#[test]
fn a_hand_computed_scenario_gives_the_hand_computed_figures() {
    let mut r = Rig::new(10, 5, false);
    r.at(0, |a, now| {
        a.handle_login(now, A1).unwrap();
        a.handle_login(now, A2).unwrap();
    });
    r.join(0, 1);
    r.join(0, 2);
    let first = r.offers.clone();
    assert_eq!(first.len(), 2);
    let (c1_agent, c2_agent) = if first[0] == (CallId(1), A1) {
        (A1, A2)
    } else {
        (A2, A1)
    };
    assert_eq!((c1_agent, c2_agent), (A1, A2), "longest idle tie by id");
    r.answer(4, 1, A1);
    r.answer(6, 2, A2);
    r.join(10, 3);
    let mid = r.snap(12);
    assert_eq!((mid.waiting, mid.longest_wait), (1, s(2)));
    assert_eq!(mid.agents.busy, 2);
    r.end(13, 3);
    r.join(20, 4);
    r.end(36, 2); // A2 to wrap-up until 46
    r.join(40, 5);
    let mid = r.snap(41);
    assert_eq!((mid.waiting, mid.longest_wait), (2, s(21)));
    assert_eq!((mid.agents.busy, mid.agents.wrap_up), (1, 1));
    r.end(45, 4);
    r.drain(s(46)); // A2's wrap-up ends; c5 is offered to A2
    assert!(r.offers.contains(&(CallId(5), A2)));
    r.end(64, 1); // A1 to wrap-up until 74
    r.answer(70, 5, A2);
    r.drain(s(74));
    r.end(100, 5);
    r.drain(s(110));
    let snap = r.snap(110);
    for t in [snap.interval, snap.today] {
        assert_eq!(t.offered, 5);
        assert_eq!((t.answered, t.answered_within), (3, 2));
        assert_eq!((t.abandoned, t.short_abandoned), (2, 1));
        assert_eq!(t.sl_base(), 4);
        assert_eq!(t.service_level(), Some(0.5));
        assert_eq!(t.abandon_rate(), Some(0.25));
        assert_eq!(t.answer_wait, s(40));
        assert_eq!(t.max_wait, s(30));
        assert!((t.asa().unwrap().as_secs_f64() - 40.0 / 3.0).abs() < 1e-6);
        assert_eq!(t.handled, 3);
        assert_eq!((t.talk, t.wrap_up), (s(120), s(30)));
        assert_eq!(t.aht(), Some(s(50)));
        assert_eq!((t.agent_busy, t.agent_idle), (s(150), s(70)));
        assert!((t.occupancy().unwrap() - 150.0 / 220.0).abs() < 1e-9);
    }
    assert_eq!((snap.waiting, snap.longest_wait), (0, Duration::ZERO));
    assert_eq!(snap.agents.available, 2);
    assert!(r.acd.audit().clean());
}

/// The interval rolls at t=60 (a 1-minute interval for the test), the day does not:
/// the interval keeps only what happened after 60, agent time is split at the boundary.
#[test]
fn a_new_interval_starts_empty_and_the_day_keeps_counting() {
    let mut r = Rig::new(0, 0, false);
    r.at(0, |a, now| a.handle_login(now, A1).unwrap());
    r.join(0, 1);
    r.answer(10, 1, A1);
    r.end(50, 1); // handled 40 s, A1 available (wrap 0)
    r.join(55, 2); // A1 rings at 55
    r.roll(s(65), 60, 0);
    r.answer(65, 2, A1);
    r.end(95, 2);
    let snap = r.snap(100);
    let (i, d) = (snap.interval, snap.today);
    assert_eq!(i.since, s(60));
    assert_eq!((i.offered, d.offered), (0, 2));
    assert_eq!((i.answered, d.answered), (1, 2));
    assert_eq!((i.answer_wait, d.answer_wait), (s(10), s(20)));
    assert_eq!((i.handled, d.handled), (1, 2));
    assert_eq!((i.aht(), d.aht()), (Some(s(30)), Some(s(35))));
    // A1: idle 0..10, busy 10..50, idle 50..65 (split at 60), busy 65..95, idle 95..100.
    assert_eq!((i.agent_busy, i.agent_idle), (s(30), s(10)));
    assert_eq!((d.agent_busy, d.agent_idle), (s(70), s(30)));
    assert_eq!(
        (i.service_level(), d.service_level()),
        (Some(1.0), Some(1.0))
    );
    // A2 never logged in: no time at all.
    assert_eq!(snap.agents.logged_out, 1);
}

/// Announced bounds are scored against the remaining wait of answered calls only.
#[test]
fn ewt_accuracy_scores_announcements_of_answered_calls() {
    let mut r = Rig::new(0, 0, true);
    r.at(0, |a, now| a.handle_login(now, A1).unwrap());
    r.join(0, 1);
    r.answer(1, 1, A1); // no announcement: offered at once
    r.join(5, 2); // waits behind A1's call: announced
    r.join(6, 3); // announced too, later abandons
    let b2 = r
        .announced
        .iter()
        .find(|(c, _)| *c == CallId(2))
        .and_then(|(_, b)| *b)
        .expect("call 2 announced with a bound");
    assert!(r.announced.iter().any(|(c, _)| *c == CallId(3)));
    r.end(30, 1); // A1 free: c2 offered
    r.answer(32, 2, A1); // c2 waited 27
    r.end(40, 3);
    let t = r.snap(40).today;
    assert_eq!(
        t.ewt_resolved, 1,
        "the abandoned call's announcement is not scored"
    );
    assert_eq!(t.ewt_covered, u64::from(s(27) <= b2));
    assert_eq!(t.ewt_abs_error, s(27).abs_diff(b2));
    assert_eq!(t.ewt_mae(), Some(s(27).abs_diff(b2)));
    assert_eq!(t.abandon_rate(), Some(1.0 / 3.0));
}

/// A callback entry whose only attempt fails leaves with an `Exit` and no `Waited`:
/// counted as exited, and forgotten.
#[test]
fn a_failed_callback_is_counted_as_exited_and_forgotten() {
    let mut acd = Acd::new(AcdConfig::default());
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.callback.max_attempts = 1;
    acd.add_queue(Q, qc.clone()).unwrap();
    acd.add_agent(AgentConfig::new(A1, vec![Q])).unwrap();
    let mut stats = Statistics::new();
    stats.add_queue(Q, StatsConfig::default());
    stats.add_agent(A1, &[Q]);
    stats.roll(
        s(0),
        Windows {
            interval_start: s(0),
            day_start: s(0),
        },
    );
    let drain = |acd: &mut Acd, stats: &mut Statistics, now: Duration| {
        let mut callbacks = Vec::new();
        while let Some(o) = acd.poll_output() {
            stats.observe(now, &o);
            if let Output::Callback { call, .. } = o {
                callbacks.push(call);
            }
        }
        callbacks
    };
    acd.handle_join(s(0), Join::new(CallId(1), Q)).unwrap();
    acd.handle_callback_request(s(5), CallId(1), "+15550100".into())
        .unwrap();
    drain(&mut acd, &mut stats, s(5));
    acd.handle_login(s(10), A1).unwrap();
    assert_eq!(drain(&mut acd, &mut stats, s(10)), vec![CallId(1)]);
    acd.handle_callback_result(s(20), CallId(1), crate::output::CallbackResult::Failed)
        .unwrap();
    drain(&mut acd, &mut stats, s(20));
    let t = stats.snapshot(Q, s(20), &acd).unwrap().today;
    assert_eq!((t.offered, t.answered, t.abandoned, t.exited), (1, 0, 0, 1));
    assert!(stats.calls.is_empty() && stats.predictions.is_empty());
}

/// Random joins, answers, hang-ups and RONAs on a fake clock: the statistics' counts
/// always equal the engine's own counters, the live figures its queue, and once every
/// call is over and wrap-ups have ended, every answered call has been handled.
#[test]
fn random_traffic_keeps_the_statistics_equal_to_the_engines_counters() {
    use rand::{Rng, SeedableRng};
    let mut seen = (0, 0, 0);
    for seed in 0..6u64 {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut r = Rig::new(3, 2, true);
        r.at(0, |a, now| {
            a.handle_login(now, A1).unwrap();
            a.handle_login(now, A2).unwrap();
        });
        let mut t = 0u64;
        let mut next_call = 1u64;
        let mut live: Vec<u64> = Vec::new();
        for _ in 0..300 {
            t += rng.gen_range(0..4u64);
            r.drain(s(t));
            match rng.gen_range(0..10u32) {
                0..=1 => {
                    r.join(t, next_call);
                    live.push(next_call);
                    next_call += 1;
                }
                2..=4 => {
                    // Answer an offer still ringing.
                    let ringing: Vec<(CallId, AgentId)> = [A1, A2]
                        .into_iter()
                        .filter_map(|a| match r.acd.agent_state(a) {
                            Some(AgentState::Ringing { call }) => Some((*call, a)),
                            _ => None,
                        })
                        .collect();
                    if let Some((c, a)) = ringing.first().copied() {
                        r.at(t, |acd, now| acd.handle_offer_answered(now, c, a).unwrap());
                    }
                }
                5..=7 if !live.is_empty() => {
                    let c = live.swap_remove(rng.gen_range(0..live.len()));
                    r.end(t, c);
                }
                8 => {
                    // An agent back from a RONA pause.
                    for a in [A1, A2] {
                        if matches!(r.acd.agent_state(a), Some(AgentState::Paused { .. })) {
                            r.at(t, |acd, now| acd.handle_unpause(now, a).unwrap());
                        }
                    }
                }
                _ => {}
            }
            let snap = r.snap(t);
            let qs = r.acd.queue_stats(Q).unwrap();
            let d = snap.today;
            assert_eq!(
                (d.offered, d.answered, d.abandoned),
                (qs.joined, qs.answered, qs.abandoned),
                "seed {seed} t {t}"
            );
            assert_eq!(snap.waiting, qs.waiting);
            let on_line = r.stats.queues[&Q].on_line.len() as u64;
            assert_eq!(on_line, qs.waiting, "seed {seed} t {t}");
            assert!(d.handled <= d.answered && d.answered_within <= d.answered);
            assert!(d.short_abandoned <= d.abandoned);
            // One window that never rolled: the interval is the day.
            assert_eq!(snap.interval, d);
        }
        // Everyone hangs up; answer what rings until nobody is left, then let wrap-ups end.
        for c in live.drain(..) {
            t += 1;
            r.end(t, c);
        }
        t += 100;
        r.drain(s(t));
        let d = r.snap(t).today;
        assert_eq!(d.handled, d.answered, "seed {seed}");
        seen = (
            seen.0 + d.answered,
            seen.1 + d.abandoned,
            seen.2 + d.ewt_resolved,
        );
        assert!(r.stats.calls.is_empty(), "seed {seed}: {:?}", r.stats.calls);
        assert!(r.stats.predictions.is_empty(), "seed {seed}");
        assert!(r.acd.audit().clean());
    }
    assert!(
        seen.0 > 50 && seen.1 > 10 && seen.2 > 10,
        "the traffic answered, abandoned and scored announcements: {seen:?}"
    );
}

#[test]
fn empty_windows_have_no_ratios() {
    let r = Rig::new(0, 0, false);
    let t = r.snap(10).interval;
    assert_eq!(t.service_level(), None);
    assert_eq!(t.abandon_rate(), None);
    assert_eq!(t.asa(), None);
    assert_eq!(t.aht(), None);
    assert_eq!(t.occupancy(), None);
    assert_eq!(t.ewt_coverage(), None);
}
