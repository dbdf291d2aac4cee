//! The wait estimate counts only the agents who can take the caller: a caller who needs a
//! skill only one of two busy agents has waits for that one.

use std::time::Duration;

use switchboard_acd::*;

const Q: QueueId = QueueId(1);
const VIP: SkillId = SkillId(3);

fn t(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Two agents (only agent 1 has `vip`), both busy on plain calls from t = 0; at t = 10 a
/// caller joins needing `skills`. The bound announced to them.
fn bound_for(skills: Vec<SkillReq>) -> Duration {
    let mut acd = Acd::new(AcdConfig {
        seed: 9,
        ..AcdConfig::default()
    });
    let mut qc = QueueConfig::new(Strategy::LongestIdle);
    qc.announce_every = None;
    qc.prior_handle_time = t(180);
    acd.add_queue(Q, qc).unwrap();
    for id in [1u32, 2] {
        let mut a = AgentConfig::new(AgentId(id), vec![Q]);
        if id == 1 {
            a.skills.push((VIP, 5));
        }
        acd.add_agent(a).unwrap();
        acd.handle_login(t(0), AgentId(id)).unwrap();
    }
    for c in [1u64, 2] {
        acd.handle_join(t(0), Join::new(CallId(c), Q)).unwrap();
    }
    let offers: Vec<(CallId, AgentId)> = std::iter::from_fn(|| acd.poll_output())
        .filter_map(|o| match o {
            Output::Offer { call, agent, .. } => Some((call, agent)),
            _ => None,
        })
        .collect();
    assert_eq!(offers.len(), 2, "both agents rung");
    for (call, agent) in offers {
        acd.handle_offer_answered(t(0), call, agent).unwrap();
    }
    let mut j = Join::new(CallId(3), Q);
    j.skills = skills;
    acd.handle_join(t(10), j).unwrap();
    std::iter::from_fn(|| acd.poll_output())
        .find_map(|o| match o {
            Output::Announce {
                call: CallId(3),
                ewt_bound,
                ..
            } => ewt_bound,
            _ => None,
        })
        .expect("the waiting caller hears a bound")
}

#[test]
fn only_agents_with_the_callers_skills_end_the_wait() {
    let plain = bound_for(Vec::new());
    let vip = bound_for(vec![SkillReq { skill: VIP, min: 1 }]);
    // The first of two exponential(180 s) calls to end, against one of them: the 80th
    // percentile is about 145 s against about 290 s.
    assert!(
        vip.as_secs_f64() > 1.5 * plain.as_secs_f64(),
        "vip caller {vip:?} vs plain {plain:?}"
    );
    // A skill nobody has: the tiers may widen, every member still counts.
    let nobody = bound_for(vec![SkillReq {
        skill: SkillId(99),
        min: 1,
    }]);
    // (The same law; played in lanes since the caller needs a skill, so other draws.)
    let (n, p) = (nobody.as_secs_f64(), plain.as_secs_f64());
    assert!(
        (n - p).abs() < 0.15 * p,
        "nobody {nobody:?} vs plain {plain:?}"
    );
}
