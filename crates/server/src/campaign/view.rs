//! The JSON the API shows for a campaign: a summary (list) and the rows (one).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use switchboard_campaign::{Campaign, RowId, RowStatus};

use super::{CampaignDef, Source};
use crate::live_calls::mask_number;

/// `GET /api/v1/campaigns` entries.
pub(super) fn summary(def: &CampaignDef, core: &Campaign, source: Source) -> Value {
    let p = core.progress();
    json!({
        "name": def.name,
        "kind": def.kind.as_str(),
        "tenant": def.tenant,
        "state": core.state().as_str(),
        "source": match source { Source::Config => "config", Source::Api => "api" },
        "window": def.window,
        "queue": def.queue,
        "dialplan": def.dialplan,
        "max_concurrent": def.max_concurrent,
        "max_attempts": def.max_attempts,
        "in_flight": core.in_flight(),
        "progress": {
            "rows": p.rows,
            "pending": p.pending,
            "dialling": p.dialling,
            "done": p.done,
            "exhausted": p.exhausted,
            "do_not_call": p.do_not_call,
            "dialled": p.dialled,
            "outcomes": p.outcomes,
        },
    })
}

/// A predictive campaign's pacer: what it estimates and whether it dials ahead now.
pub(super) fn pacing(p: &switchboard_outbound::pacing::PredictivePacer) -> Value {
    let s = p.snapshot();
    json!({
        "abandon_cap": p.config().abandon_cap,
        "answer_rate": s.answer_rate,
        "mean_handle_s": s.mean_handle.map(|d| d.as_secs_f64()),
        "mean_dial_s": s.mean_dial_time.map(|d| d.as_secs_f64()),
        "busy_agents": s.busy_agents,
        "window_answered": s.window_answered,
        "window_abandoned": s.window_abandoned,
        "window_abandon_rate": s.window_abandon_rate,
        "safety": s.safety,
        "predictive": s.predictive,
    })
}

/// `GET /api/v1/campaigns/{name}`: the summary plus every row (numbers masked).
pub(super) fn detail(
    def: &CampaignDef,
    core: &Campaign,
    source: Source,
    now: DateTime<Utc>,
) -> Value {
    let mut v = summary(def, core, source);
    let rows: Vec<Value> = (0..core.rows() as u32)
        .filter_map(|i| {
            let r = core.row(RowId(i))?;
            let s = core.row_state(RowId(i))?;
            let outcome = match s.status {
                RowStatus::Done(o) | RowStatus::Exhausted(o) => Some(o.as_str()),
                _ => None,
            };
            Some(json!({
                "row": i,
                "number": mask_number(&r.number),
                "name": r.name,
                "status": s.status.as_str(),
                "outcome": outcome,
                "attempts": s.attempts,
                "last": s.last.map(|o| o.as_str()),
                "next_at": s.next_at.filter(|t| *t > now).map(|t| t.to_rfc3339()),
            }))
        })
        .collect();
    v["rows"] = json!(rows);
    v
}
