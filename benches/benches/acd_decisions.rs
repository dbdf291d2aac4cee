//! ACD engine decisions per second with 10,000 waiting callers and 1,000 agents.
//!
//! `cargo bench -p switchboard-benches --bench acd_decisions`
//!
//! One iteration of `dispatch_cycle` is a full decision round on a saturated centre: a call
//! ends, the freed agent is offered the head of the queue, the agent answers, and a new caller
//! joins behind 10,000 others. `announce_at_depth` measures one join with a position/EWT
//! announcement at the back of that queue (then the caller hangs up).
use std::collections::VecDeque;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchboard_acd::{
    Acd, AcdConfig, AgentConfig, AgentId, CallId, Join, Output, QueueConfig, QueueId, Strategy,
};

const AGENTS: u32 = 1_000;
const WAITING: u64 = 10_000;

struct Centre {
    acd: Acd,
    now: Duration,
    next_call: u64,
    queues: u16,
    connected: VecDeque<CallId>,
}

impl Centre {
    fn new(queues: u16, announce: bool) -> Centre {
        let mut acd = Acd::new(AcdConfig::default());
        for q in 0..queues {
            let mut qc = QueueConfig::new(Strategy::LongestIdle);
            qc.wrap_up = Duration::ZERO;
            qc.announce_at_join = announce;
            qc.announce_every = None;
            acd.add_queue(QueueId(q), qc).expect("fresh queue");
        }
        for a in 0..AGENTS {
            // Each agent serves two queues when there are several.
            let q1 = QueueId((a % u32::from(queues)) as u16);
            let q2 = QueueId(((a + 1) % u32::from(queues)) as u16);
            let mut qs = vec![q1];
            if q2 != q1 {
                qs.push(q2);
            }
            acd.add_agent(AgentConfig::new(AgentId(a), qs))
                .expect("fresh agent");
            acd.handle_login(Duration::ZERO, AgentId(a))
                .expect("known agent");
        }
        let mut c = Centre {
            acd,
            now: Duration::from_secs(1),
            next_call: 0,
            queues,
            connected: VecDeque::new(),
        };
        for _ in 0..(u64::from(AGENTS) + WAITING) {
            c.join();
            c.answer_offers();
        }
        c
    }

    fn join(&mut self) {
        let call = CallId(self.next_call);
        let q = QueueId((self.next_call % u64::from(self.queues)) as u16);
        self.next_call += 1;
        self.acd
            .handle_join(self.now, Join::new(call, q))
            .expect("fresh call");
    }

    fn answer_offers(&mut self) {
        let mut offers = Vec::new();
        while let Some(o) = self.acd.poll_output() {
            if let Output::Offer { call, agent, .. } = o {
                offers.push((call, agent));
            }
        }
        for (call, agent) in offers {
            self.acd
                .handle_offer_answered(self.now, call, agent)
                .expect("live offer");
            self.connected.push_back(call);
        }
        while self.acd.poll_output().is_some() {}
    }

    fn cycle(&mut self) {
        self.now += Duration::from_millis(1);
        self.acd.handle_timeout(self.now);
        if let Some(call) = self.connected.pop_front() {
            self.acd
                .handle_call_ended(self.now, call)
                .expect("connected");
        }
        self.answer_offers();
        self.join();
        while self.acd.poll_output().is_some() {}
    }
}

fn dispatch(c: &mut Criterion) {
    let mut g = c.benchmark_group("acd");
    g.throughput(Throughput::Elements(1));
    for queues in [1u16, 10] {
        let mut centre = Centre::new(queues, false);
        g.bench_function(format!("dispatch_cycle/{queues}q"), |b| {
            b.iter(|| {
                centre.cycle();
                black_box(centre.acd.live_calls())
            })
        });
    }
    let mut centre = Centre::new(1, true);
    g.bench_function("announce_at_depth", |b| {
        b.iter(|| {
            let call = CallId(u64::MAX - centre.next_call);
            centre.next_call += 1;
            centre
                .acd
                .handle_join(centre.now, Join::new(call, QueueId(0)))
                .expect("fresh call");
            centre
                .acd
                .handle_call_ended(centre.now, call)
                .expect("waiting");
            while let Some(o) = centre.acd.poll_output() {
                black_box(o);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
