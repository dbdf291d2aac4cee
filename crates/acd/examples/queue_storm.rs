//! The cost of the ACD engine in a queue storm: `WAITING` callers wait in one queue with
//! a position-and-wait announcement every `PERIOD` seconds (each one computes the caller's
//! estimated wait), while `AGENTS` agents take calls of exponential handle time (mean
//! `AHT` s, no wrap-up) and new callers arrive as fast as they are served, so the queue
//! stays at its size. Simulated time, real CPU: it reports the engine's CPU per simulated
//! second as a share of one core, split into announcement timers (the estimates) and the
//! rest (joins with their announcement, answers, call ends). Since decision 0044 the
//! estimates are read from one queue-wide forecast per change of the queue: it prints how
//! many forecasts were made. Announcement lateness in the engine: the simulation wakes the
//! engine exactly when a timer is due, so the lateness it reports (`now - due`) is the
//! engine's own, 0 unless it mis-schedules; the wall time of one timer batch (all the
//! announcements due at that instant) is the delay the engine adds to the last of them.
//!
//! With `QUEUES` > 1 the agents serve that many queues, every agent all of them, and the
//! callers join them in turn (decision 0049: one forecast per group of queues sharing
//! agents). It also prints what the forecasts hold in memory at the end.
//!
//! `REUSE` is `EwtConfig::reuse_for`; 0 makes (nearly) every estimate the caller's own, the
//! cost before the forecasts.
//!
//! `SKILLED` is the share of callers who need a skill (`ru`) that a quarter of the agents
//! have (decision 0051: the estimates then play who may take whom); 0 by default.
//!
//! `cargo run --release -p switchboard-acd --example queue_storm -- [WAITING] [AGENTS] [PERIOD] [AHT] [SECONDS] [QUEUES] [REUSE] [SKILLED]`
//! (defaults 10000 200 60 180 120 1 5 0; the first PERIOD seconds fill the queue and are not measured).
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Exp};
use switchboard_acd::*;
use switchboard_test_support::Stopwatch;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut arg = |d: f64| args.next().and_then(|a| a.parse().ok()).unwrap_or(d);
    let waiting = arg(10_000.0) as u64;
    let agents = arg(200.0) as u32;
    let period = arg(60.0);
    let aht = arg(180.0);
    let seconds = arg(120.0);
    let n_queues = (arg(1.0) as u16).clamp(1, 64);
    let queues: Vec<QueueId> = (1..=n_queues).map(QueueId).collect();
    // 0: a forecast serves only the instant it was made in, i.e. (nearly) every estimate
    // is the caller's own Monte Carlo, as before decisions 0044/0049.
    let reuse_for = arg(EwtConfig::default().reuse_for);
    let skilled = arg(0.0).clamp(0.0, 1.0);
    const RU: SkillId = SkillId(1);
    // Its own generator, so the storm without skills draws what it always drew.
    let mut skill_rng = rand::rngs::SmallRng::seed_from_u64(51);
    let queue_of = |call: u64| queues[(call % u64::from(n_queues)) as usize];

    let mut acd = Acd::new(AcdConfig {
        seed: 16,
        ewt: EwtConfig {
            reuse_for,
            ..EwtConfig::default()
        },
        ..AcdConfig::default()
    });
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.announce_every = Some(Duration::from_secs_f64(period));
    qc.announce_at_join = true;
    qc.prior_handle_time = Duration::from_secs_f64(aht);
    qc.wrap_up = Duration::ZERO;
    qc.max_len = None;
    for q in &queues {
        acd.add_queue(*q, qc.clone()).expect("queue");
    }
    let t0 = Duration::from_secs(1);
    for a in 1..=agents {
        let mut cfg = AgentConfig::new(AgentId(a), queues.clone());
        if a % 4 == 1 {
            cfg.skills.push((RU, 5));
        }
        acd.add_agent(cfg).expect("agent");
        acd.handle_login(t0, AgentId(a)).expect("login");
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(16);
    let hold = Exp::new(1.0 / aht).expect("aht > 0");
    // Talking calls' ends, (end, call), kept sorted by end.
    let mut ends: Vec<(Duration, CallId)> = Vec::new();
    let mut next_call = 1u64;
    let mut stats = Tally::default();

    // Fill: the agents' calls first, then the waiting callers spread over one period
    // (so their announcements are spread too).
    let fill_end = t0 + Duration::from_secs_f64(period);
    let total_fill = u64::from(agents) + waiting;
    let mut joins: Vec<Duration> = (0..total_fill)
        .map(|i| t0 + Duration::from_secs_f64(period * i as f64 / total_fill as f64))
        .collect();
    // Steady state: arrivals at the service rate.
    let rate = f64::from(agents) / aht;
    let mut t = fill_end;
    let end = fill_end + Duration::from_secs_f64(seconds);
    while t < end {
        t += Duration::from_secs_f64(-rng.gen::<f64>().max(1e-12).ln() / rate);
        joins.push(t);
    }
    joins.reverse(); // pop() takes the earliest

    let mut now = t0;
    let mut cpu_at_fill: Option<f64> = None;
    let mut forecasts_at_fill = 0u64;
    // Wall time of each timer batch, and the largest lateness the engine reported.
    let mut batches: Vec<Duration> = Vec::new();
    let mut max_late = Duration::ZERO;
    loop {
        let next_join = joins.last().copied();
        let next_end = ends.first().map(|e| e.0);
        let next_timer = acd.poll_timeout();
        let Some(at) = [next_join, next_end, next_timer]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        if at >= end {
            break;
        }
        now = now.max(at);
        let measured = now >= fill_end;
        if measured && cpu_at_fill.is_none() {
            cpu_at_fill = process_cpu_s();
            forecasts_at_fill = acd.forecasts_made();
        }
        if next_join == Some(at) {
            joins.pop();
            let call = CallId(next_call);
            next_call += 1;
            let sw = Stopwatch::start();
            let mut join = Join::new(call, queue_of(call.0));
            if skilled > 0.0 && skill_rng.gen_bool(skilled) {
                join.skills.push(SkillReq { skill: RU, min: 1 });
            }
            acd.handle_join(now, join).expect("join");
            stats.add(measured, Part::Join, sw.elapsed());
        } else if next_end == Some(at) {
            let (_, call) = ends.remove(0);
            let sw = Stopwatch::start();
            acd.handle_call_ended(now, call).expect("end");
            stats.add(measured, Part::Other, sw.elapsed());
        } else {
            let sw = Stopwatch::start();
            acd.handle_timeout(now);
            let took = sw.elapsed();
            stats.add(measured, Part::Timer, took);
            if measured {
                batches.push(took);
            }
        }
        // Agents answer every offer at once; count what was announced.
        while let Some(o) = acd.poll_output() {
            match o {
                Output::Offer { call, agent, .. } => {
                    let sw = Stopwatch::start();
                    acd.handle_offer_answered(now, call, agent).expect("answer");
                    stats.add(measured, Part::Other, sw.elapsed());
                    let until = now + Duration::from_secs_f64(hold.sample(&mut rng));
                    let i = ends.partition_point(|e| e.0 <= until);
                    ends.insert(i, (until, call));
                    stats.answered_all += 1;
                    if measured {
                        stats.answered += 1;
                    }
                }
                Output::Announce { due, .. } if measured => {
                    stats.announced += 1;
                    max_late = max_late.max(now.saturating_sub(due));
                }
                _ => {}
            }
        }
    }
    let queued = next_call - 1 - stats.answered_all;
    println!(
        "queue storm: {waiting} waiting (about {queued} at the end) in {n_queues} queue(s), {agents} agents (each in every queue), announcement every {period} s, AHT {aht} s; measured {seconds} s of simulated time after a {period} s fill; {:.0} % of callers need a skill a quarter of the agents have",
        100.0 * skilled
    );
    let per_s = |d: Duration| d.as_secs_f64() / seconds;
    println!(
        "announcements: {} ({:.0}/s), {:.1} us each with its estimate; timers {:.3} s CPU = {:.2} % of a core",
        stats.announced,
        stats.announced as f64 / seconds,
        1e6 * stats.timer.as_secs_f64() / stats.announced.max(1) as f64,
        stats.timer.as_secs_f64(),
        100.0 * per_s(stats.timer)
    );
    println!(
        "joins (each with its announcement): {:.3} s = {:.2} % of a core; answers and call ends ({} answered): {:.3} s = {:.2} % of a core",
        stats.join.as_secs_f64(),
        100.0 * per_s(stats.join),
        stats.answered,
        stats.other.as_secs_f64(),
        100.0 * per_s(stats.other)
    );
    batches.sort();
    let pct = |p: f64| {
        batches
            .get(((batches.len() as f64 * p) as usize).min(batches.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "wait forecasts made: {} ({:.2}/s); timer batches: {}, wall time per batch p50 {:.0} us, p99 {:.0} us, max {:.0} us; largest lateness reported by the engine: {} ms",
        acd.forecasts_made() - forecasts_at_fill,
        (acd.forecasts_made() - forecasts_at_fill) as f64 / seconds,
        batches.len(),
        1e6 * pct(0.5).as_secs_f64(),
        1e6 * pct(0.99).as_secs_f64(),
        1e6 * batches.last().copied().unwrap_or_default().as_secs_f64(),
        max_late.as_millis()
    );
    println!(
        "forecasts hold {:.0} KiB at the end",
        acd.forecast_bytes() as f64 / 1024.0
    );
    let wall = stats.timer + stats.join + stats.other;
    println!(
        "engine total: {:.2} % of a core by the wall time of the engine calls (the machine's other load inflates it)",
        100.0 * per_s(wall)
    );
    if let (Some(c0), Some(c1)) = (cpu_at_fill, process_cpu_s()) {
        let cpu = c1 - c0;
        println!(
            "process CPU over the measured window: {cpu:.2} s = {:.2} % of a core; scaled by CPU/wall, announcement timers {:.2} % of a core, {:.0} us per announcement",
            100.0 * cpu / seconds,
            100.0 * per_s(stats.timer) * cpu / wall.as_secs_f64().max(1e-9),
            1e6 * stats.timer.as_secs_f64() * cpu
                / wall.as_secs_f64().max(1e-9)
                / stats.announced.max(1) as f64,
        );
    }
}

/// This process's user + system CPU seconds from `/proc/self/stat` (100 ticks per second,
/// Linux's USER_HZ); `None` where it cannot be read.
fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

#[derive(Clone, Copy)]
enum Part {
    Join,
    Timer,
    Other,
}

#[derive(Default)]
struct Tally {
    join: Duration,
    timer: Duration,
    other: Duration,
    announced: u64,
    answered: u64,
    /// Answered over the whole run, fill included.
    answered_all: u64,
}

impl Tally {
    fn add(&mut self, measured: bool, part: Part, d: Duration) {
        if !measured {
            return;
        }
        match part {
            Part::Join => self.join += d,
            Part::Timer => self.timer += d,
            Part::Other => self.other += d,
        }
    }
}
