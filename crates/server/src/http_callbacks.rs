//! Web callbacks over the HTTP API: `POST /api/v1/callbacks` asks for one (number policy
//! first), `GET` lists the pending ones, `DELETE /api/v1/callbacks/{id}` cancels one. The
//! ACD actor owns them (`web_callbacks.rs`); these handlers check, ask it and say what it
//! answered.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, FixedOffset, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::acd_actor::AcdCommand;
use crate::acd_actor::StartError;
use crate::call::CallContext;
use crate::http_auth::{Principal, Role};
use crate::http_error::ApiError;
use crate::http_serve::JsonBody;
use crate::http_state::Shared;
use crate::live_calls::mask_number;
use crate::web_callbacks::{CancelError, ScheduleError, WebCallback};

/// The furthest ahead a callback may be scheduled.
const MAX_AHEAD_DAYS: i64 = 90;
/// The longest `name` accepted, characters.
const MAX_NAME: usize = 200;

/// `POST /api/v1/callbacks` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewCallback {
    queue: String,
    number: String,
    at: Option<String>,
    name: Option<String>,
    data: Option<Value>,
}

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "acd_unavailable",
        "the ACD is shutting down",
    )
}

/// `POST /api/v1/callbacks`: staff only. 201 with the callback's id; 403 with the reason
/// when the number policy refuses the number (and a `call.refused` event); 503 when
/// `[acd] max_pending_callbacks` are pending.
pub(crate) async fn create(
    p: Principal,
    Extension(ctx): Extension<Arc<CallContext>>,
    JsonBody(body): JsonBody<NewCallback>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    if !p.sees_queue(&body.queue) || !ctx.cfg.queues.iter().any(|q| q.name == body.queue) {
        return Err(ApiError::not_found(format!("no queue '{}'", body.queue)));
    }
    if ctx.cfg.trunk_specs.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_outbound_trunk",
            "no outbound trunk is configured ([[trunks]] or sip.outbound_trunk): callbacks cannot be placed",
        ));
    }
    let at = body.at.as_deref().map(parse_at).transpose()?;
    if body
        .name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME)
    {
        return Err(ApiError::bad_request(format!(
            "`name` is longer than {MAX_NAME} characters"
        )));
    }
    if body.data.as_ref().is_some_and(|d| !d.is_object()) {
        return Err(ApiError::bad_request("`data` must be a JSON object"));
    }
    let id = ctx.next_call_id();
    let number = match ctx.number_rules.check(&body.number) {
        Ok(n) => n,
        Err(r) => {
            tracing::warn!(reason = r.as_str(), by = %p.name, "web callback refused by the dial policy");
            ctx.metrics.dial_refused.count(r);
            ctx.events.append(
                crate::dial_policy::refused_event(
                    id,
                    switchboard_events::OriginatePurpose::WebCallback,
                    &body.number,
                    r,
                )
                .queue(&body.queue),
            );
            return Ok((
                StatusCode::FORBIDDEN,
                Json(json!({
                    "error": format!("the number policy refuses this number: {}", r.as_str()),
                    "code": "number_refused",
                    "reason": r.as_str(),
                })),
            )
                .into_response());
        }
    };
    let cb = WebCallback {
        id,
        queue: body.queue.clone(),
        number,
        at,
        name: body.name,
        data: body.data,
        by: p.name.clone(),
        created_ms: crate::event_store::now_ms(),
    };
    let (tx, rx) = oneshot::channel();
    ctx.acd
        .send(AcdCommand::WebCallback(
            crate::acd_actor::WebCallbackCommand::Schedule {
                cb: cb.clone(),
                restored: false,
                reply: Some(tx),
            },
        ))
        .map_err(|_| unavailable())?;
    match rx.await.map_err(|_| unavailable())? {
        Ok(()) => {}
        Err(ScheduleError::Full(n)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "callbacks_full",
                format!("{n} callbacks are pending already (acd.max_pending_callbacks)"),
            ))
        }
        Err(ScheduleError::UnknownQueue) => {
            return Err(ApiError::not_found(format!("no queue '{}'", cb.queue)))
        }
    }
    tracing::info!(callback = id, queue = %cb.queue, by = %p.name, "web callback scheduled");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id.to_string(),
            "queue": cb.queue,
            "number": cb.number,
            "at": cb.at.map(|a| a.to_rfc3339()),
        })),
    )
        .into_response())
}

/// An RFC 3339 time no more than [`MAX_AHEAD_DAYS`] ahead (a past time means now).
fn parse_at(s: &str) -> Result<DateTime<FixedOffset>, ApiError> {
    let at = DateTime::parse_from_rfc3339(s).map_err(|e| {
        ApiError::bad_request(format!(
            "`at` is not an RFC 3339 time ({e}); e.g. 2026-12-07T15:00:00+03:00"
        ))
    })?;
    if at.with_timezone(&Utc) > Utc::now() + chrono::Duration::days(MAX_AHEAD_DAYS) {
        return Err(ApiError::bad_request(format!(
            "`at` is more than {MAX_AHEAD_DAYS} days ahead"
        )));
    }
    Ok(at)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    queue: Option<String>,
}

/// The queues an agent token's agent is logged into (the board's `queues`).
fn agent_queues(p: &Principal, shared: &Shared) -> Vec<String> {
    shared
        .board
        .read()
        .ok()
        .and_then(|b| {
            b["agents"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| {
                    a["agent"]
                        .as_str()
                        .is_some_and(|n| Some(n) == p.agent.as_deref())
                })
                .map(|a| {
                    a["queues"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|q| q.as_str().map(str::to_string))
                        .collect()
                })
        })
        .unwrap_or_default()
}

/// `GET /api/v1/callbacks[?queue=sales]`: staff, or an agent token for the queues its
/// agent is logged into (the agent desktop's list); numbers masked but for admins.
pub(crate) async fn list(
    p: Principal,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Arc<CallContext>>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let mine = (p.role == Role::Agent).then(|| agent_queues(&p, &shared));
    let (tx, rx) = oneshot::channel();
    ctx.acd
        .send(AcdCommand::WebCallback(
            crate::acd_actor::WebCallbackCommand::List {
                queue: q.queue,
                reply: tx,
            },
        ))
        .map_err(|_| unavailable())?;
    let mut all = rx.await.map_err(|_| unavailable())?;
    all.retain(|cb| p.sees_queue(&cb.queue));
    if let Some(mine) = mine {
        all.retain(|cb| mine.contains(&cb.queue));
    }
    if p.role != Role::Admin {
        for cb in &mut all {
            cb.number = mask_number(&cb.number);
        }
    }
    Ok(Json(json!(all)))
}

/// `POST /api/v1/callbacks/{id}/start` body (may be left out by an agent token).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartBody {
    agent: Option<String>,
}

/// `POST /api/v1/callbacks/{id}/start`: an agent takes a pending web callback now
/// (click-to-call on the agent desktop); placed through the usual callback path. An
/// agent token starts it for itself (and only in a queue it is logged into); staff name
/// the agent. 409 with the reason when the agent is not available or not a member of the
/// queue, or the callback is being placed already.
pub(crate) async fn start(
    p: Principal,
    Path(id): Path<String>,
    State(shared): State<Arc<Shared>>,
    Extension(ctx): Extension<Arc<CallContext>>,
    crate::http_agents::MaybeJson(body): crate::http_agents::MaybeJson<StartBody>,
) -> Result<Json<Value>, ApiError> {
    let unknown = || ApiError::not_found(format!("no pending callback '{id}'"));
    let asked = body.and_then(|b| b.agent);
    let agent = match p.role {
        Role::Agent => {
            let me = p.agent.clone().unwrap_or_default();
            if asked.as_ref().is_some_and(|a| *a != me) {
                return Err(ApiError::forbidden(
                    "an agent token starts callbacks for its own agent only",
                ));
            }
            me
        }
        _ => asked.ok_or_else(|| ApiError::bad_request("`agent` is required"))?,
    };
    if !p.sees_agent(&agent) {
        return Err(ApiError::not_found(format!("no agent '{agent}'")));
    }
    let num: u64 = id.parse().map_err(|_| unknown())?;
    // The callback must be one this token may see (its tenant's queues; an agent's own).
    let (tx, rx) = oneshot::channel();
    ctx.acd
        .send(AcdCommand::WebCallback(
            crate::acd_actor::WebCallbackCommand::List {
                queue: None,
                reply: tx,
            },
        ))
        .map_err(|_| unavailable())?;
    let all = rx.await.map_err(|_| unavailable())?;
    let mine = (p.role == Role::Agent).then(|| agent_queues(&p, &shared));
    let visible = all.iter().any(|cb| {
        cb.id == id
            && p.sees_queue(&cb.queue)
            && mine.as_ref().is_none_or(|m| m.contains(&cb.queue))
    });
    if !visible {
        return Err(unknown());
    }
    let (tx, rx) = oneshot::channel();
    ctx.acd
        .send(AcdCommand::WebCallback(
            crate::acd_actor::WebCallbackCommand::StartNow {
                id: num,
                agent: agent.clone(),
                reply: tx,
            },
        ))
        .map_err(|_| unavailable())?;
    match rx.await.map_err(|_| unavailable())? {
        Ok(()) => {
            tracing::info!(callback = num, agent = %agent, by = %p.name, "web callback started now");
            Ok(Json(json!({"id": id, "agent": agent, "started": true})))
        }
        Err(StartError::Unknown) => Err(unknown()),
        Err(StartError::Refused(why)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "callback_not_started",
            why,
        )),
    }
}

/// `DELETE /api/v1/callbacks/{id}`: staff only; 409 while it is being placed.
pub(crate) async fn cancel(
    p: Principal,
    Path(id): Path<String>,
    Extension(ctx): Extension<Arc<CallContext>>,
) -> Result<Json<Value>, ApiError> {
    p.require_staff()?;
    let unknown = || ApiError::not_found(format!("no pending callback '{id}'"));
    let num: u64 = id.parse().map_err(|_| unknown())?;
    if p.scope.is_some() {
        // A tenant's token cancels only callbacks of its own queues.
        let (tx, rx) = oneshot::channel();
        ctx.acd
            .send(AcdCommand::WebCallback(
                crate::acd_actor::WebCallbackCommand::List {
                    queue: None,
                    reply: tx,
                },
            ))
            .map_err(|_| unavailable())?;
        let all = rx.await.map_err(|_| unavailable())?;
        if !all.iter().any(|cb| cb.id == id && p.sees_queue(&cb.queue)) {
            return Err(unknown());
        }
    }
    let (tx, rx) = oneshot::channel();
    ctx.acd
        .send(AcdCommand::WebCallback(
            crate::acd_actor::WebCallbackCommand::Cancel {
                id: num,
                by: p.name.clone(),
                reply: tx,
            },
        ))
        .map_err(|_| unavailable())?;
    match rx.await.map_err(|_| unavailable())? {
        Ok(()) => Ok(Json(json!({"id": id, "cancelled": true}))),
        Err(CancelError::Unknown) => Err(unknown()),
        Err(CancelError::Dialing) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "callback_in_progress",
            "the callback is being placed now",
        )),
    }
}
