//! The campaign report: per campaign, the calls placed in the range (`campaign.dial`), how
//! the attempts ended (`campaign.result` outcomes), the abandon rate of the calls a person
//! answered, and the survey answers per question (`survey.answer`, answer → count).
//!
//! One row per campaign with something in the range, whatever the interval: a campaign's
//! figures are totals. The `queue` column is the queue its answered calls joined (agent
//! campaigns), learned from the `queue.join` of a call the campaign placed. A
//! tenant-scoped report is computed from the tenant's events, which hold its campaigns'
//! calls only (`scope.rs`).

use std::collections::{BTreeMap, HashMap};

use switchboard_events::{CampaignOutcome, Event};

use super::{ratio, Cell, ReportFold, ReportSpec, Table};
use crate::event_store::StoredEvent;

#[derive(Debug, Default)]
struct CampaignTally {
    queue: Option<String>,
    dialled: u64,
    outcomes: BTreeMap<&'static str, u64>,
    /// question -> answer -> count.
    survey: BTreeMap<String, BTreeMap<String, u64>>,
    /// Something of this campaign happened in the range.
    seen: bool,
}

impl CampaignTally {
    fn outcome(&self, o: CampaignOutcome) -> u64 {
        self.outcomes.get(o.as_str()).copied().unwrap_or(0)
    }
}

#[derive(Default)]
pub(crate) struct CampaignsFold {
    /// Call id -> the campaign that placed it (look-back included).
    calls: HashMap<String, String>,
    tallies: BTreeMap<String, CampaignTally>,
}

/// `q1: 1=2, 2=1; q2: 9=3` (questions and answers in order).
fn survey_text(survey: &BTreeMap<String, BTreeMap<String, u64>>) -> String {
    survey
        .iter()
        .map(|(q, answers)| {
            let a: Vec<String> = answers.iter().map(|(a, n)| format!("{a}={n}")).collect();
            format!("{q}: {}", a.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl ReportFold for CampaignsFold {
    fn apply(&mut self, spec: &ReportSpec, ev: &StoredEvent) {
        let Some(event) = &ev.event else { return };
        let in_range = spec.bucket(ev.ts_ms).is_some();
        match event {
            Event::CampaignDial { campaign, .. } => {
                if !ev.call.is_empty() {
                    self.calls.insert(ev.call.clone(), campaign.clone());
                }
                if in_range {
                    let t = self.tallies.entry(campaign.clone()).or_default();
                    t.dialled += 1;
                    t.seen = true;
                }
            }
            Event::CampaignResult {
                campaign, outcome, ..
            } if in_range => {
                let t = self.tallies.entry(campaign.clone()).or_default();
                *t.outcomes.entry(outcome.as_str()).or_default() += 1;
                t.seen = true;
            }
            Event::SurveyAnswer {
                campaign,
                question,
                answer,
                ..
            } if in_range => {
                let t = self.tallies.entry(campaign.clone()).or_default();
                *t.survey
                    .entry(question.clone())
                    .or_default()
                    .entry(answer.clone())
                    .or_default() += 1;
                t.seen = true;
            }
            Event::QueueJoin { .. } if !ev.queue.is_empty() => {
                if let Some(c) = self.calls.get(&ev.call) {
                    let t = self.tallies.entry(c.clone()).or_default();
                    t.queue.get_or_insert_with(|| ev.queue.clone());
                }
            }
            _ => {}
        }
    }

    fn finish(self: Box<Self>, _spec: &ReportSpec) -> Table {
        use CampaignOutcome as O;
        let rows = self
            .tallies
            .iter()
            .filter(|(_, t)| t.seen)
            .map(|(name, t)| {
                let answered = t.outcome(O::Answered);
                let abandoned = t.outcome(O::Abandoned);
                let person = (answered + abandoned) as f64;
                vec![
                    Cell::Text(name.clone()),
                    Cell::Text(t.queue.clone().unwrap_or_default()),
                    Cell::Int(t.dialled),
                    Cell::Int(answered),
                    Cell::Int(t.outcome(O::Machine)),
                    Cell::Int(t.outcome(O::NoAnswer)),
                    Cell::Int(t.outcome(O::Busy)),
                    Cell::Int(t.outcome(O::Failed)),
                    Cell::Int(t.outcome(O::Refused)),
                    Cell::Int(t.outcome(O::NoTrunk) + t.outcome(O::Interrupted)),
                    Cell::Int(abandoned),
                    Cell::Num(ratio(abandoned as f64, person)),
                    Cell::Text(survey_text(&t.survey)),
                ]
            })
            .collect();
        Table {
            columns: vec![
                "campaign",
                "queue",
                "dialled",
                "answered",
                "machine",
                "no_answer",
                "busy",
                "failed",
                "refused",
                "not_placed",
                "abandoned",
                "abandon_rate",
                "survey",
            ],
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_events::*;
    use super::super::ReportKind;
    use super::*;

    fn dial(log: &mut Log, s: f64, call: &str, campaign: &str, row: u32) {
        log.push(
            at(s),
            call,
            "",
            "",
            "campaign.dial",
            json!({"campaign": campaign, "row": row, "attempt": 1}),
        );
    }

    fn result(log: &mut Log, s: f64, call: &str, campaign: &str, outcome: &str) {
        log.push(
            at(s),
            call,
            "",
            "",
            "campaign.result",
            json!({"campaign": campaign, "row": 0, "attempt": 1, "outcome": outcome,
                   "row_status": "done"}),
        );
    }

    fn answer(log: &mut Log, s: f64, call: &str, campaign: &str, q: &str, a: &str) {
        log.push(
            at(s),
            call,
            "",
            "",
            "survey.answer",
            json!({"campaign": campaign, "row": 0, "question": q, "answer": a}),
        );
    }

    #[test]
    fn outcomes_abandon_rate_and_survey_answers_per_campaign() {
        let mut log = Log::default();
        // Before the range: dialled then, its result inside; the dial is not counted.
        dial(&mut log, -100.0, "c0", "sales", 0);
        log.push(
            at(-90.0),
            "c0",
            "sales-q",
            "",
            "queue.join",
            json!({"position": 1, "resumed": false}),
        );
        result(&mut log, 10.0, "c0", "sales", "answered");
        for (i, outcome) in ["answered", "abandoned", "busy", "no_answer", "machine"]
            .iter()
            .enumerate()
        {
            let call = format!("s{i}");
            dial(&mut log, 20.0 + i as f64, &call, "sales", i as u32);
            result(&mut log, 60.0 + i as f64, &call, "sales", outcome);
        }
        for (i, (q1, q2)) in [("1", "5"), ("2", "5"), ("1", "4")].iter().enumerate() {
            let call = format!("v{i}");
            dial(&mut log, 100.0 + i as f64, &call, "poll", i as u32);
            answer(&mut log, 110.0 + i as f64, &call, "poll", "q1", q1);
            answer(&mut log, 111.0 + i as f64, &call, "poll", "q2", q2);
            result(&mut log, 120.0 + i as f64, &call, "poll", "answered");
        }
        dial(&mut log, 130.0, "v9", "poll", 9);
        result(&mut log, 131.0, "v9", "poll", "failed");
        // After the range: not counted.
        dial(&mut log, 7200.0, "late", "poll", 10);
        let spec = spec(T0, T0 + 3_600_000, 1_800_000);
        let t = log.report(ReportKind::Campaigns, &spec);
        assert_eq!(t.rows.len(), 2);
        // Campaigns in name order: poll, sales.
        assert_eq!(t.get(0, "campaign"), &Cell::Text("poll".into()));
        assert_eq!(num(t.get(0, "dialled")), Some(4.0));
        assert_eq!(num(t.get(0, "answered")), Some(3.0));
        assert_eq!(num(t.get(0, "failed")), Some(1.0));
        assert_eq!(num(t.get(0, "abandon_rate")), Some(0.0));
        assert_eq!(t.get(0, "queue"), &Cell::Text(String::new()));
        assert_eq!(
            t.get(0, "survey"),
            &Cell::Text("q1: 1=2, 2=1; q2: 4=1, 5=2".into())
        );
        assert_eq!(t.get(1, "campaign"), &Cell::Text("sales".into()));
        assert_eq!(t.get(1, "queue"), &Cell::Text("sales-q".into()));
        assert_eq!(num(t.get(1, "dialled")), Some(5.0));
        assert_eq!(num(t.get(1, "answered")), Some(2.0));
        assert_eq!(num(t.get(1, "abandoned")), Some(1.0));
        assert_eq!(num(t.get(1, "busy")), Some(1.0));
        assert_eq!(num(t.get(1, "no_answer")), Some(1.0));
        assert_eq!(num(t.get(1, "machine")), Some(1.0));
        // One abandoned of three answered by a person.
        assert!(close(num(t.get(1, "abandon_rate")), 1.0 / 3.0));
        assert_eq!(t.get(1, "survey"), &Cell::Text(String::new()));
    }

    #[test]
    fn no_person_answered_no_abandon_rate_and_quiet_campaigns_have_no_row() {
        let mut log = Log::default();
        dial(&mut log, 1.0, "b", "x", 0);
        result(&mut log, 2.0, "b", "x", "busy");
        dial(&mut log, -5000.0, "old", "quiet", 0);
        let t = log.report(ReportKind::Campaigns, &spec(T0, T0 + 3_600_000, 1_800_000));
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.get(0, "abandon_rate"), &Cell::Num(None));
    }
}
