//! The replay: recorded arrivals offered again to the real ACD engine configured from a
//! candidate configuration, on a simulated clock (a `Duration` since `from`).
//!
//! What comes from the record: when each caller joined which queue; for a caller who was
//! answered, how long the agent's phone rang and how long they talked; for a caller who
//! hung up (or pressed the exit key, or took a callback), after how long; when each agent
//! was logged in. What is simulated: everything the candidate configuration decides
//! (routing, wrap-up, ring timeout, overflow, maximum wait, announcements) and what the
//! record cannot know for the new situation: a caller answered sooner or later than in
//! reality keeps the recorded talk time; a caller who is now answered but gave up in reality
//! gets a talk time drawn from the queue's recorded ones; a caller who was answered in
//! reality but now waits longer has a patience drawn as the recorded wait plus an
//! exponential remainder with the queue's estimated mean patience (none when nobody gave
//! up); each offer rings out with the queue's recorded ring-out share. Pure and
//! deterministic for a given seed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::Duration;

use anyhow::{bail, Context};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use switchboard_acd::{
    Acd, AcdConfig, AgentConfig, AgentId, CallId, Event, Join, Outcome, Output, QueueId,
};
use switchboard_events::WaitOutcome;

use super::trace::{QueueTraffic, Trace};
use super::{BusySpan, PresentSpan, WaitEnd, WaitRecord};
use crate::config::Config;
use crate::queue_config::Names;
use crate::report::ReportSpec;

/// What the operator changes on top of the candidate configuration.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ReplayOptions {
    /// Arrivals multiplied by this (1.0: as recorded).
    pub(crate) scale: f64,
    /// Agents added to a queue, logged in for the whole range (copies of the queue's first
    /// configured member: same skills and tenant).
    pub(crate) extra_agents: Vec<(String, u32)>,
    pub(crate) seed: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            scale: 1.0,
            extra_agents: Vec::new(),
            seed: 1,
        }
    }
}

/// Parses `--agents sales=+3` (also `sales=3`).
pub(crate) fn parse_extra_agents(s: &str) -> anyhow::Result<(String, u32)> {
    let (q, n) = s
        .split_once('=')
        .with_context(|| format!("--agents {s:?}: expected QUEUE=+N, e.g. sales=+3"))?;
    let n: u32 = n
        .trim()
        .trim_start_matches('+')
        .parse()
        .with_context(|| format!("--agents {s:?}: N is a whole number of agents"))?;
    if q.trim().is_empty() || n == 0 || n > 10_000 {
        bail!("--agents {s:?}: expected QUEUE=+N with N in 1..=10000");
    }
    Ok((q.trim().to_string(), n))
}

/// The replay's outcome, in the same shapes as the record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Replayed {
    pub(crate) waits: Vec<WaitRecord>,
    pub(crate) busy: Vec<BusySpan>,
    pub(crate) present: Vec<PresentSpan>,
    /// Agents serving each queue (configured members and added agents).
    pub(crate) members: BTreeMap<String, Vec<String>>,
    pub(crate) offers: u64,
    pub(crate) ronas: u64,
    /// Recorded arrivals to a queue the candidate configuration does not have.
    pub(crate) unknown_queue: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrive(usize),
    Abandon(CallId),
    Answer(CallId, AgentId),
    Hangup(CallId),
    Login(AgentId),
    Logout(AgentId),
}

/// One caller to offer: a recorded arrival (`source`) or an extra copy of one (`--scale`).
struct Planned {
    at_ms: i64,
    queue: String,
    source: Option<usize>,
}

struct SimCall {
    source: Option<usize>,
    queue: String,
    /// Index of the current wait in `Replayed::waits`.
    wait: usize,
    answered: Option<(AgentId, i64)>,
    /// The recorded ring time has been used (by the first offer).
    ring_used: bool,
}

struct Runner<'a> {
    acd: Acd,
    rng: SmallRng,
    trace: &'a Trace,
    from_ms: i64,
    to_ms: i64,
    names: Names,
    agent_names: Vec<String>,
    wrap_up_ms: Vec<i64>,
    prior_talk_s: Vec<f64>,
    heap: BinaryHeap<Reverse<(Duration, u64, Ev)>>,
    seq: u64,
    plan: Vec<Planned>,
    calls: HashMap<CallId, SimCall>,
    /// Calls that left; removed once the outputs naming them are drained.
    finished: Vec<CallId>,
    out: Replayed,
    empty: QueueTraffic,
}

/// Replays `trace` over `spec`'s range through an engine built from `cfg`.
pub(crate) fn replay(
    cfg: &Config,
    trace: &Trace,
    spec: &ReportSpec,
    opts: &ReplayOptions,
    progress: &mut dyn FnMut(f64),
) -> anyhow::Result<Replayed> {
    if !(opts.scale.is_finite() && opts.scale > 0.0 && opts.scale <= 100.0) {
        bail!("--scale must be in (0, 100]");
    }
    let names = Names::new(&cfg.queues, &cfg.users);
    let mut acd = Acd::new(AcdConfig {
        seed: opts.seed ^ 0xacd,
        rona_unpause_after: (cfg.acd.rona_unpause_after > 0)
            .then(|| Duration::from_secs(cfg.acd.rona_unpause_after)),
        ..AcdConfig::default()
    });
    let mut wrap_up_ms = Vec::new();
    let mut prior_talk_s = Vec::new();
    for q in &cfg.queues {
        let id = names.queue(&q.name).context("queue id")?;
        acd.add_queue(id, q.to_core(&names))
            .map_err(|e| anyhow::anyhow!("queue {}: {e}", q.name))?;
        wrap_up_ms.push(q.wrap_up as i64 * 1000);
        prior_talk_s.push(q.expected_handle_time.max(1) as f64);
    }
    let mut out = Replayed::default();
    let mut agent_names = Vec::new();
    for u in &cfg.users {
        let queues: Vec<QueueId> = cfg
            .queues
            .iter()
            .filter(|q| q.members.contains(&u.name))
            .filter_map(|q| names.queue(&q.name))
            .collect();
        for q in cfg.queues.iter().filter(|q| q.members.contains(&u.name)) {
            out.members
                .entry(q.name.clone())
                .or_default()
                .push(u.name.clone());
        }
        let mut ac = AgentConfig::new(AgentId(agent_names.len() as u32), queues);
        ac.skills = u
            .skills
            .iter()
            .filter_map(|(name, p)| names.skill(name).map(|s| (s, *p)))
            .collect();
        ac.tenants = u.tenants.iter().filter_map(|t| names.tenant(t)).collect();
        acd.add_agent(ac)
            .map_err(|e| anyhow::anyhow!("agent {}: {e}", u.name))?;
        agent_names.push(u.name.clone());
    }
    let mut extra = Vec::new();
    for (queue, n) in &opts.extra_agents {
        let Some(qid) = names.queue(queue) else {
            bail!("--agents {queue}=+{n}: the candidate configuration has no queue {queue:?}");
        };
        let model = cfg
            .queues
            .iter()
            .find(|q| q.name == *queue)
            .and_then(|q| q.members.first())
            .and_then(|m| cfg.users.iter().find(|u| u.name == *m));
        for i in 1..=*n {
            let name = format!("sim-{queue}-{i}");
            let mut ac = AgentConfig::new(AgentId(agent_names.len() as u32), vec![qid]);
            if let Some(u) = model {
                ac.skills = u
                    .skills
                    .iter()
                    .filter_map(|(name, p)| names.skill(name).map(|s| (s, *p)))
                    .collect();
                ac.tenants = u.tenants.iter().filter_map(|t| names.tenant(t)).collect();
            }
            acd.add_agent(ac)
                .map_err(|e| anyhow::anyhow!("agent {name}: {e}"))?;
            out.members
                .entry(queue.clone())
                .or_default()
                .push(name.clone());
            extra.push(AgentId(agent_names.len() as u32));
            agent_names.push(name);
        }
    }
    let mut r = Runner {
        acd,
        rng: SmallRng::seed_from_u64(opts.seed),
        trace,
        from_ms: spec.from_ms,
        to_ms: spec.to_ms,
        names,
        agent_names,
        wrap_up_ms,
        prior_talk_s,
        heap: BinaryHeap::new(),
        seq: 0,
        plan: Vec::new(),
        calls: HashMap::new(),
        finished: Vec::new(),
        out,
        empty: QueueTraffic::default(),
    };
    r.plan_arrivals(spec, opts.scale);
    r.plan_presence(spec, &extra);
    r.run(spec, progress);
    Ok(r.out)
}

impl Runner<'_> {
    fn push(&mut self, at_ms: i64, ev: Ev) {
        self.seq += 1;
        let at = Duration::from_millis((at_ms - self.from_ms).max(0) as u64);
        self.heap.push(Reverse((at, self.seq, ev)));
    }

    fn ms(&self, now: Duration) -> i64 {
        self.from_ms + now.as_millis() as i64
    }

    fn exp(&mut self, mean: f64) -> f64 {
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        -mean * u.ln()
    }

    fn traffic(&self, queue: &str) -> &QueueTraffic {
        self.trace.queues.get(queue).unwrap_or(&self.empty)
    }

    fn sample(&mut self, of: fn(&QueueTraffic) -> &Vec<f64>, queue: &str) -> Option<f64> {
        let v = of(self.trace.queues.get(queue)?);
        if v.is_empty() {
            return None;
        }
        let i = self.rng.gen_range(0..v.len());
        Some(v[i])
    }

    fn plan_arrivals(&mut self, spec: &ReportSpec, scale: f64) {
        let jitter = spec.interval_ms / 2;
        for (i, a) in self.trace.arrivals.iter().enumerate() {
            let whole = scale.floor() as u64;
            let frac = scale - scale.floor();
            let copies = whole + u64::from(frac > 0.0 && self.rng.gen_bool(frac));
            for k in 0..copies {
                let at_ms = if k == 0 {
                    a.joined_ms
                } else {
                    let d = self.rng.gen_range(-jitter..=jitter);
                    (a.joined_ms + d).clamp(spec.from_ms, spec.to_ms - 1)
                };
                self.plan.push(Planned {
                    at_ms,
                    queue: a.queue.clone(),
                    source: (k == 0).then_some(i),
                });
            }
        }
        for i in 0..self.plan.len() {
            self.push(self.plan[i].at_ms, Ev::Arrive(i));
        }
    }

    fn plan_presence(&mut self, spec: &ReportSpec, extra: &[AgentId]) {
        let spans: Vec<PresentSpan> = self
            .trace
            .present
            .iter()
            .filter(|s| s.to_ms > spec.from_ms && s.from_ms < spec.to_ms)
            .cloned()
            .collect();
        for s in spans {
            let Some(i) = self.agent_names.iter().position(|n| *n == s.agent) else {
                continue;
            };
            let id = AgentId(i as u32);
            let (from, to) = (s.from_ms.max(spec.from_ms), s.to_ms.min(spec.to_ms));
            self.push(from, Ev::Login(id));
            if s.to_ms < spec.to_ms {
                self.push(to, Ev::Logout(id));
            }
            self.out.present.push(PresentSpan {
                agent: s.agent.clone(),
                from_ms: from,
                to_ms: to,
            });
        }
        for id in extra {
            self.push(spec.from_ms, Ev::Login(*id));
            self.out.present.push(PresentSpan {
                agent: self.agent_names[id.0 as usize].clone(),
                from_ms: spec.from_ms,
                to_ms: spec.to_ms,
            });
        }
    }

    fn run(&mut self, spec: &ReportSpec, progress: &mut dyn FnMut(f64)) {
        let horizon = Duration::from_millis((spec.to_ms - spec.from_ms).max(0) as u64);
        let mut shown = -1i64;
        loop {
            let next_ev = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let next_acd = self.acd.poll_timeout();
            let now = match (next_ev, next_acd) {
                (None, None) => break,
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (Some(a), Some(b)) => a.min(b),
            };
            if now >= horizon {
                break;
            }
            if next_acd.is_some_and(|t| t <= now) {
                self.acd.handle_timeout(now);
            } else if let Some(Reverse((_, _, ev))) = self.heap.pop() {
                self.handle(now, ev);
            }
            self.drain(now);
            let pct = (now.as_millis() * 100 / horizon.as_millis().max(1)) as i64;
            if pct != shown {
                shown = pct;
                progress(pct as f64 / 100.0);
            }
        }
        // Calls still talking at the end keep their agent busy to the end.
        let open: Vec<(AgentId, i64)> = self.calls.values().filter_map(|c| c.answered).collect();
        for (agent, from_ms) in open {
            self.out.busy.push(BusySpan {
                agent: self.agent_names[agent.0 as usize].clone(),
                from_ms,
                to_ms: spec.to_ms,
            });
        }
        progress(1.0);
    }

    fn handle(&mut self, now: Duration, ev: Ev) {
        let now_ms = self.ms(now);
        match ev {
            Ev::Arrive(i) => self.arrive(now, i),
            Ev::Abandon(call) => {
                if self.calls.get(&call).is_some_and(|c| c.answered.is_none()) {
                    let _ = self.acd.handle_call_ended(now, call);
                    // Forgotten after the engine's outputs (its `Waited`) are drained.
                    self.finished.push(call);
                }
            }
            Ev::Answer(call, agent) => {
                if self.acd.handle_offer_answered(now, call, agent).is_err() {
                    return; // cancelled meanwhile (the caller left, RONA)
                }
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                c.answered = Some((agent, now_ms));
                let (source, queue) = (c.source, c.queue.clone());
                let recorded = source.and_then(|i| self.trace.arrivals[i].talk_s);
                let talk = match recorded {
                    Some(t) => t,
                    None => match self.sample(|q| &q.talks, &queue) {
                        Some(t) => t,
                        None => self
                            .names
                            .queue(&queue)
                            .and_then(|q| self.prior_talk_s.get(q.0 as usize).copied())
                            .unwrap_or(180.0),
                    },
                };
                self.push(now_ms + (talk * 1000.0) as i64, Ev::Hangup(call));
            }
            Ev::Hangup(call) => {
                let Some(c) = self.calls.remove(&call) else {
                    return;
                };
                let _ = self.acd.handle_call_ended(now, call);
                if let Some((agent, from_ms)) = c.answered {
                    let wrap = self
                        .names
                        .queue(&c.queue)
                        .and_then(|q| self.wrap_up_ms.get(q.0 as usize).copied())
                        .unwrap_or(0);
                    self.out.busy.push(BusySpan {
                        agent: self.agent_names[agent.0 as usize].clone(),
                        from_ms,
                        to_ms: now_ms + wrap,
                    });
                }
            }
            Ev::Login(agent) => {
                let _ = self.acd.handle_login(now, agent);
            }
            Ev::Logout(agent) => {
                let _ = self.acd.handle_logout(now, agent);
            }
        }
    }

    fn arrive(&mut self, now: Duration, i: usize) {
        let now_ms = self.ms(now);
        let (queue, source) = (self.plan[i].queue.clone(), self.plan[i].source);
        let Some(qid) = self.names.queue(&queue) else {
            self.out.unknown_queue += 1;
            return;
        };
        let call = CallId(i as u64 + 1);
        self.out.waits.push(WaitRecord {
            queue: queue.clone(),
            joined_ms: now_ms,
            end: None,
            predictions: Vec::new(),
        });
        self.calls.insert(
            call,
            SimCall {
                source,
                queue: queue.clone(),
                wait: self.out.waits.len() - 1,
                answered: None,
                ring_used: false,
            },
        );
        // Patience: the recorded decision to leave, or a draw beyond the recorded wait.
        let mean = self.traffic(&queue).mean_patience_s();
        let recorded = source.map(|s| {
            let a = &self.trace.arrivals[s];
            let stayed = match a.end {
                Some(e) => e.waited_s,
                None => (self.to_ms - now_ms).max(0) as f64 / 1000.0,
            };
            (a.left_after_s(self.trace.exit_reasons[s]), stayed)
        });
        let patience = match (recorded, mean) {
            (Some((Some(left), _)), _) => Some(left),
            (Some((None, stayed)), Some(m)) => Some(stayed + self.exp(m)),
            (None, Some(m)) => Some(self.exp(m)),
            (_, None) => None,
        };
        if let Some(p) = patience {
            self.push(now_ms + (p * 1000.0) as i64, Ev::Abandon(call));
        }
        if self.acd.handle_join(now, Join::new(call, qid)).is_err() {
            self.calls.remove(&call);
        }
    }

    fn wait_of(&mut self, call: CallId) -> Option<&mut WaitRecord> {
        let i = self.calls.get(&call)?.wait;
        self.out.waits.get_mut(i)
    }

    fn drain(&mut self, now: Duration) {
        let now_ms = self.ms(now);
        while let Some(o) = self.acd.poll_output() {
            match o {
                Output::Offer { call, agent, .. } => {
                    self.out.offers += 1;
                    let Some(c) = self.calls.get_mut(&call) else {
                        continue;
                    };
                    let recorded = match c.source {
                        Some(s) if !c.ring_used => self.trace.arrivals[s].ring_s,
                        _ => None,
                    };
                    c.ring_used = true;
                    let queue = c.queue.clone();
                    let share = self.traffic(&queue).ring_out_share();
                    if share > 0.0 && self.rng.gen_bool(share) {
                        continue; // rings out: the engine's ring timeout fires
                    }
                    let ring = match recorded {
                        Some(r) => r,
                        None => self.sample(|q| &q.rings, &queue).unwrap_or(0.0),
                    };
                    self.push(now_ms + (ring * 1000.0) as i64, Ev::Answer(call, agent));
                }
                Output::Overflow { call, to, .. } => {
                    let Some(name) = self.names.queues.get(to.0 as usize).cloned() else {
                        continue;
                    };
                    self.out.waits.push(WaitRecord {
                        queue: name.clone(),
                        joined_ms: now_ms,
                        end: None,
                        predictions: Vec::new(),
                    });
                    let i = self.out.waits.len() - 1;
                    if let Some(c) = self.calls.get_mut(&call) {
                        c.wait = i;
                        c.queue = name;
                    }
                }
                Output::Exit { call, .. } => self.finished.push(call),
                Output::Log(Event::Predicted {
                    call,
                    bound: Some(b),
                    waited,
                    ..
                }) => {
                    if let Some(w) = self.wait_of(call) {
                        w.predictions.push((waited.as_secs_f64(), b.as_secs_f64()));
                    }
                }
                Output::Log(Event::Waited {
                    call,
                    waited,
                    outcome,
                    ..
                }) => {
                    let outcome = match outcome {
                        Outcome::Answered => WaitOutcome::Answered,
                        Outcome::Abandoned => WaitOutcome::Abandoned,
                        Outcome::Exited(_) => WaitOutcome::Exited,
                        Outcome::Overflowed(_) => WaitOutcome::Overflowed,
                        Outcome::CallbackRequested => WaitOutcome::CallbackRequested,
                    };
                    if let Some(w) = self.wait_of(call) {
                        if w.end.is_none() {
                            w.end = Some(WaitEnd {
                                at_ms: now_ms,
                                waited_s: waited.as_secs_f64(),
                                outcome,
                            });
                        }
                    }
                }
                Output::Log(Event::Rona { .. }) => self.out.ronas += 1,
                Output::Callback { call, .. } => {
                    // No callback is requested in a replay; a scheduled one cannot come.
                    let _ = self.acd.handle_callback_result(
                        now,
                        call,
                        switchboard_acd::CallbackResult::Failed,
                    );
                }
                Output::CancelOffer { .. } | Output::Announce { .. } | Output::Log(_) => {}
            }
        }
        for call in std::mem::take(&mut self.finished) {
            self.calls.remove(&call);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::report::test_events::{at, spec, Log, T0};
    use crate::simulate::tally;
    use crate::simulate::trace::TraceFold;

    fn trace_of(log: &Log, spec: &ReportSpec) -> Trace {
        let mut fold = TraceFold::default();
        for ev in &log.events {
            fold.apply(spec, ev);
        }
        fold.finish(spec)
    }

    fn run(log: &Log, opts: &ReplayOptions) -> (Trace, Replayed) {
        let spec = spec(T0, T0 + 3_600_000, 3_600_000);
        let cfg = Config::load(None).unwrap();
        let trace = trace_of(log, &spec);
        let r = replay(&cfg, &trace, &spec, opts, &mut |_| {}).unwrap();
        (trace, r)
    }

    fn answered_waits(r: &Replayed) -> Vec<f64> {
        r.waits
            .iter()
            .filter_map(|w| w.end)
            .filter(|e| e.outcome == WaitOutcome::Answered)
            .map(|e| e.waited_s)
            .collect()
    }

    #[test]
    fn a_free_agent_answers_after_the_recorded_ring_and_talks_the_recorded_time() {
        let mut log = Log::default();
        log.agent_state(at(-100.0), "1001", "available", json!({}));
        for i in 0..10 {
            log.answered(
                i as f64 * 100.0,
                &i.to_string(),
                "+1",
                "1001",
                2.0,
                30.0,
                5.0,
            );
        }
        let (_, r) = run(&log, &ReplayOptions::default());
        assert_eq!(r.waits.len(), 10);
        // Rang 0.5 s each time, as recorded.
        assert_eq!(answered_waits(&r), vec![0.5; 10]);
        // Talk 30 s + the candidate's wrap-up.
        let cfg = Config::load(None).unwrap();
        let wrap = cfg.queues[0].wrap_up as i64 * 1000;
        assert_eq!(r.busy.len(), 10);
        assert!(r.busy.iter().all(|b| b.to_ms - b.from_ms == 30_000 + wrap));
        assert_eq!(r.present.len(), 1, "{:?}", r.present);
        assert_eq!(r.offers, 10);
    }

    #[test]
    fn callers_who_gave_up_give_up_again_unless_an_added_agent_takes_them() {
        let mut log = Log::default();
        log.agent_state(at(-100.0), "1001", "available", json!({}));
        // 1001 is on a 10-minute call while three callers come and give up after 40 s.
        log.answered(0.0, "long", "+1", "1001", 0.0, 600.0, 5.0);
        for i in 0..3 {
            log.abandoned(10.0 + i as f64 * 60.0, &format!("gone{i}"), "+2", 40.0);
        }
        let spec = spec(T0, T0 + 3_600_000, 3_600_000);
        let (trace, same) = run(&log, &ReplayOptions::default());
        let members = same.members.clone();
        let actual = tally(&spec, &trace.waits, &trace.busy, &trace.present, &members);
        let replayed = tally(&spec, &same.waits, &same.busy, &same.present, &members);
        let key = (0, "sales".to_string());
        assert_eq!(actual[&key].abandoned, 3);
        assert_eq!(replayed[&key].abandoned, 3);
        assert_eq!(replayed[&key].service_level(), actual[&key].service_level());
        let gave_up: Vec<f64> = same
            .waits
            .iter()
            .filter_map(|w| w.end)
            .filter(|e| e.outcome == WaitOutcome::Abandoned)
            .map(|e| e.waited_s)
            .collect();
        assert_eq!(gave_up, vec![40.0; 3]);

        let more = ReplayOptions {
            extra_agents: vec![("sales".into(), 3)],
            ..ReplayOptions::default()
        };
        // Each added agent takes one caller (and talks the one recorded talk time, 600 s).
        let (_, r) = run(&log, &more);
        let replayed = tally(&spec, &r.waits, &r.busy, &r.present, &r.members);
        assert_eq!(replayed[&key].abandoned, 0, "{:?}", r.waits);
        assert_eq!(replayed[&key].answered, 4);
        assert!(r.members["sales"].contains(&"sim-sales-3".to_string()));
        // The added agent answers at once (no ring time recorded for those callers is
        // drawn from the queue's one recorded ring: 0.5 s).
        assert!(answered_waits(&r).iter().all(|w| *w <= 0.5));
    }

    #[test]
    fn scale_multiplies_arrivals_and_the_replay_is_deterministic() {
        let mut log = Log::default();
        log.agent_state(at(-100.0), "1001", "available", json!({}));
        for i in 0..20 {
            log.answered(
                i as f64 * 150.0,
                &i.to_string(),
                "+1",
                "1001",
                1.0,
                60.0,
                5.0,
            );
        }
        let twice = ReplayOptions {
            scale: 2.0,
            ..ReplayOptions::default()
        };
        let (_, a) = run(&log, &twice);
        let (_, b) = run(&log, &twice);
        assert_eq!(a.waits.len(), 40);
        assert_eq!(a.waits, b.waits);
        let half = ReplayOptions {
            scale: 0.5,
            ..ReplayOptions::default()
        };
        let (_, h) = run(&log, &half);
        assert!((3..=17).contains(&h.waits.len()), "{}", h.waits.len());
        let bad = ReplayOptions {
            scale: 0.0,
            ..ReplayOptions::default()
        };
        let spec = spec(T0, T0 + 3_600_000, 3_600_000);
        let cfg = Config::load(None).unwrap();
        assert!(replay(&cfg, &Trace::default(), &spec, &bad, &mut |_| {}).is_err());
        let unknown = ReplayOptions {
            extra_agents: vec![("nope".into(), 1)],
            ..ReplayOptions::default()
        };
        assert!(replay(&cfg, &Trace::default(), &spec, &unknown, &mut |_| {}).is_err());
    }

    #[test]
    fn extra_agents_parse() {
        assert_eq!(parse_extra_agents("sales=+3").unwrap(), ("sales".into(), 3));
        assert_eq!(
            parse_extra_agents(" support = 2").unwrap(),
            ("support".into(), 2)
        );
        for bad in [
            "sales",
            "sales=+0",
            "=+1",
            "sales=lots",
            "sales=-1",
            "sales=+99999",
        ] {
            assert!(parse_extra_agents(bad).is_err(), "{bad}");
        }
    }
}
