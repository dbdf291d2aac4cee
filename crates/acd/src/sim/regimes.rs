//! The announced-wait matrix in harder regimes than the base matrix's flat Poisson traffic
//! with instant answers: agents who answer after a delay and sometimes let an offer ring
//! out, a daily peak, heavy-tailed handle times, priority callers jumping the line, and
//! agents logging out mid-day. Each regime starts from the base cell (one queue,
//! longest-idle, lognormal handle times with mean 180 s, 10 s wrap-up, exponential
//! patience with mean 300 s, offered occupancy 0.85) and changes one thing.

use std::fmt::Write as _;
use std::time::Duration;

use super::{matrix_config, run, EwtScores, SimConfig};
use crate::config::SkillReq;
use crate::ewt::EwtConfig;
use crate::ids::{SkillId, TenantId};

/// The skill of the mixed-skills regime.
const RUSSIAN: SkillId = SkillId(1);
/// The tenants of the two-tenant regime.
const FIRST: TenantId = TenantId(1);
const SECOND: TenantId = TenantId(2);

/// One way traffic or agents depart from the base cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Regime {
    /// The base cell itself.
    Base,
    /// Agents pick up 6 s after the ring starts; 5% of offers ring out (15 s ring timeout,
    /// the agent is paused for 30 s and the caller re-offered).
    AnswerDelayRingOut,
    /// Arrivals follow a daily curve: a night at 10% of the mean rate, a midday peak at
    /// 150%, with the offered occupancy at the peak 1.05 (the queue overloads for a few hours).
    DailyPeak,
    /// Lognormal handle times with a coefficient of variation of 2.5 (the base has 0.8):
    /// most calls short, a few very long.
    HeavyTail,
    /// A fifth of the callers have priority 1 and are served before everyone waiting.
    Priority,
    /// 30% of the agents work only from midnight to 13:00 every day: at 13:00 they log out
    /// (after their current call), so the same arrivals meet 70% of the team (offered
    /// occupancy 0.6 on the whole team, 0.86 on the afternoon team).
    MidDayLogout,
    /// 30% of the callers need a skill (Russian) that a quarter of the agents have (rounded
    /// up); offered occupancy 0.7 (at 0.85 the Russian speakers could not keep up).
    MixedSkills,
    /// Two tenants, half the callers each; 40% of the agents serve only the first, 40%
    /// only the second, 20% both.
    TwoTenants,
}

impl Regime {
    /// Every regime, in table order.
    pub const ALL: [Regime; 8] = [
        Regime::Base,
        Regime::AnswerDelayRingOut,
        Regime::DailyPeak,
        Regime::HeavyTail,
        Regime::Priority,
        Regime::MidDayLogout,
        Regime::MixedSkills,
        Regime::TwoTenants,
    ];

    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Base => "base (flat, instant answer)",
            Regime::AnswerDelayRingOut => "answer after 6 s, 5% ring out",
            Regime::DailyPeak => "daily peak (0.1x..1.5x)",
            Regime::HeavyTail => "heavy-tailed handle (CV 2.5)",
            Regime::Priority => "20% priority callers",
            Regime::MidDayLogout => "30% log out at 13:00",
            Regime::MixedSkills => "30% need a skill 1/4 of agents have",
            Regime::TwoTenants => "two tenants, 20% of agents shared",
        }
    }
}

/// One cell: a regime at a team size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegimeCell {
    /// The regime.
    pub regime: Regime,
    /// Agents (the whole team).
    pub agents: u32,
    /// Scores of the join announcements.
    pub scores: EwtScores,
}

/// The simulation of one regime cell.
pub fn regime_config(regime: Regime, agents: u32, horizon: Duration, seed: u64) -> SimConfig {
    let occupancy = match regime {
        Regime::DailyPeak => 1.05 / 1.5,
        Regime::MidDayLogout => 0.6,
        Regime::MixedSkills => 0.7,
        _ => 0.85,
    };
    let mut cfg = matrix_config(agents, occupancy, 300, horizon, seed);
    match regime {
        Regime::Base => {}
        Regime::AnswerDelayRingOut => {
            cfg.answer_delay = Duration::from_secs(6);
            cfg.no_answer_prob = 0.05;
            cfg.rona_unpause_after = Duration::from_secs(30);
            // The engine ends the RONA pause itself ([acd] rona_unpause_after), so it knows
            // how long a ring-out takes an agent away.
            cfg.acd.rona_unpause_after = Some(Duration::from_secs(30));
            for q in &mut cfg.queues {
                q.config.ring_timeout = Duration::from_secs(15);
            }
        }
        Regime::DailyPeak => {
            for q in &mut cfg.queues {
                q.daily_curve = vec![
                    0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.7, 1.0, 1.3, 1.5, 1.5, 1.4, 1.2, 1.3, 1.5, 1.5,
                    1.4, 1.2, 1.0, 0.8, 0.6, 0.4, 0.2, 0.1,
                ];
                // The curve averages 0.85: keep the daily volume of the base occupancy.
                let mean = q.daily_curve.iter().sum::<f64>() / 24.0;
                q.calls_per_hour /= mean;
            }
        }
        Regime::HeavyTail => {
            for q in &mut cfg.queues {
                q.handle_cv = 2.5;
            }
        }
        Regime::Priority => {
            for q in &mut cfg.queues {
                q.high_priority_share = 0.2;
            }
        }
        Regime::MidDayLogout => {
            let leaving = (f64::from(agents) * 0.3).round() as usize;
            for a in cfg.agents.iter_mut().take(leaving) {
                a.shift = Some((Duration::ZERO, Duration::from_secs(13 * 3600)));
            }
            cfg.shift_period = Some(Duration::from_secs(86_400));
        }
        Regime::MixedSkills => {
            let speakers = (f64::from(agents) / 4.0).ceil() as usize;
            for a in cfg.agents.iter_mut().take(speakers) {
                a.config.skills.push((RUSSIAN, 5));
            }
            for q in &mut cfg.queues {
                q.extra_skills = vec![SkillReq {
                    skill: RUSSIAN,
                    min: 1,
                }];
                q.extra_skills_share = 0.3;
            }
        }
        Regime::TwoTenants => {
            let n = cfg.agents.len();
            let only_first = (n as f64 * 0.4).round() as usize;
            let shared = (n as f64 * 0.2).round() as usize;
            for (i, a) in cfg.agents.iter_mut().enumerate() {
                a.config.tenants = if i < only_first {
                    vec![FIRST]
                } else if i < only_first + shared {
                    vec![FIRST, SECOND]
                } else {
                    vec![SECOND]
                };
            }
            for q in &mut cfg.queues {
                q.tenant_shares = vec![(FIRST, 0.5), (SECOND, 0.5)];
            }
        }
    }
    cfg
}

/// Runs every regime at 5, 10 and 30 agents.
pub fn regime_matrix(horizon: Duration, seed: u64, ewt: EwtConfig) -> Vec<RegimeCell> {
    regime_matrix_of(&Regime::ALL, horizon, seed, ewt)
}

/// Runs `regimes` at 5, 10 and 30 agents (each cell with the seed it has in the whole
/// matrix).
pub fn regime_matrix_of(
    regimes: &[Regime],
    horizon: Duration,
    seed: u64,
    ewt: EwtConfig,
) -> Vec<RegimeCell> {
    let mut cells = Vec::new();
    for (i, regime) in Regime::ALL.into_iter().enumerate() {
        if !regimes.contains(&regime) {
            continue;
        }
        for agents in [5u32, 10, 30] {
            let s = seed ^ ((i as u64) << 40) ^ (u64::from(agents) << 32);
            let mut cfg = regime_config(regime, agents, horizon, s);
            cfg.acd.ewt = ewt;
            let report = run(cfg);
            cells.push(RegimeCell {
                regime,
                agents,
                scores: report.ewt_scores(None),
            });
        }
    }
    cells
}

/// The regime matrix as a Markdown table.
pub fn regime_markdown(cells: &[RegimeCell]) -> String {
    let mut s = String::new();
    s.push_str("| regime | agents | n | ours cov. | ours MAE | position-only cov. | position-only MAE | MAE ours/pos | Asterisk cov. | Asterisk MAE |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for c in cells {
        let e = &c.scores;
        let ratio = if e.position_mae > 0.0 {
            e.mae / e.position_mae
        } else {
            f64::NAN
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1}% | {:.1} s | {:.1}% | {:.1} s | {:.2} | {:.1}% | {:.1} s |",
            c.regime.name(),
            c.agents,
            e.n,
            e.coverage * 100.0,
            e.mae,
            e.position_coverage * 100.0,
            e.position_mae,
            ratio,
            e.asterisk_coverage * 100.0,
            e.asterisk_mae,
        );
    }
    s
}
