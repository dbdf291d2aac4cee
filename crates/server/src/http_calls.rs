//! Live calls over the HTTP API: list and read them (the caller's number masked by role,
//! `live_calls.rs`), hang one up, blind-transfer one to another queue. Each request goes
//! to the call's own task through the live-call index; the answer says what the call did.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::call::CallContext;
use crate::http_auth::Principal;
use crate::http_error::ApiError;
use crate::http_serve::JsonBody;
use crate::http_state::Shared;
use crate::live_calls::{CallControl, ControlRefusal, LiveCallId, LiveCalls, TransferTarget};
use switchboard_media::SupervisorMode;

/// How long a call task may take to describe itself before the list skips it.
const DESCRIBE_LIMIT: Duration = Duration::from_millis(500);

fn parse_id(id: &str) -> Result<LiveCallId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no live call '{id}'")))
}

fn lane(ctx: &CallContext, id: &str) -> Result<(LiveCallId, mpsc::Sender<CallControl>), ApiError> {
    let id = parse_id(id)?;
    ctx.live
        .get(id)
        .map(|l| (id, l))
        .ok_or_else(|| ApiError::not_found(format!("no live call {id}")))
}

/// [`lane`] for a control request: a tenant's token finds only its tenant's calls (404
/// for another's, as if it did not exist).
async fn lane_for(
    p: &Principal,
    ctx: &CallContext,
    id: &str,
) -> Result<(LiveCallId, mpsc::Sender<CallControl>), ApiError> {
    let (id, lane) = lane(ctx, id)?;
    if p.scope.is_some() {
        let visible = LiveCalls::describe(&lane, DESCRIBE_LIMIT)
            .await
            .is_some_and(|v| p.sees_call(v.tenant.as_deref(), v.queue.as_deref()));
        if !visible {
            return Err(ApiError::not_found(format!("no live call {id}")));
        }
    }
    Ok((id, lane))
}

/// `GET /api/v1/calls`: every live call this token may see (inbound calls, and calls we
/// placed that are listed: campaign calls, agents' own calls).
pub(crate) async fn list(p: Principal, Extension(ctx): Extension<Arc<CallContext>>) -> Json<Value> {
    let mut out = Vec::new();
    for (_, lane) in ctx.live.all() {
        if let Some(v) = LiveCalls::describe(&lane, DESCRIBE_LIMIT).await {
            if !p.sees_call(v.tenant.as_deref(), v.queue.as_deref()) {
                continue;
            }
            if let Some(v) = v.for_principal(p.role, p.agent.as_deref()) {
                out.push(v);
            }
        }
    }
    Json(json!(out))
}

/// `GET /api/v1/calls/{id}`.
pub(crate) async fn one(
    p: Principal,
    Path(id): Path<String>,
    Extension(ctx): Extension<Arc<CallContext>>,
) -> Result<Json<Value>, ApiError> {
    let (id, lane) = lane(&ctx, &id)?;
    let view = LiveCalls::describe(&lane, DESCRIBE_LIMIT)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no live call {id}")))?;
    // An agent asking for someone else's call, or a tenant's token asking for another
    // tenant's, learns nothing about it.
    let view = Some(view)
        .filter(|v| p.sees_call(v.tenant.as_deref(), v.queue.as_deref()))
        .and_then(|v| v.for_principal(p.role, p.agent.as_deref()))
        .ok_or_else(|| ApiError::not_found(format!("no live call {id}")))?;
    Ok(Json(json!(view)))
}

async fn ask(
    lane: &mpsc::Sender<CallControl>,
    make: impl FnOnce(oneshot::Sender<Result<(), ControlRefusal>>) -> CallControl,
) -> Result<(), ApiError> {
    let gone = || ApiError::not_found("the call ended");
    let (tx, rx) = oneshot::channel();
    lane.try_send(make(tx)).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "call_busy",
            "the call has too many requests waiting; try again",
        ),
        mpsc::error::TrySendError::Closed(_) => gone(),
    })?;
    match rx.await.map_err(|_| gone())? {
        Ok(()) => Ok(()),
        Err(ControlRefusal::Conflict(why)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "call_state_conflict",
            why,
        )),
        Err(ControlRefusal::NotFound(why)) => Err(ApiError::not_found(why)),
    }
}

/// `POST /api/v1/calls/{id}/hangup`: staff only. Both legs get a BYE; the call's
/// `call.end` has `end_reason` `api_hangup` and `by` the token's name.
pub(crate) async fn hangup(
    p: Principal,
    Path(id): Path<String>,
    Extension(ctx): Extension<Arc<CallContext>>,
) -> Result<Json<Value>, ApiError> {
    p.require_staff()?;
    let (id, lane) = lane_for(&p, &ctx, &id).await?;
    let by = p.name.clone();
    ask(&lane, |reply| CallControl::Hangup { by, reply }).await?;
    Ok(Json(json!({"call": id.to_string(), "hung_up": true})))
}

/// `POST /api/v1/calls/{id}/transfer` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferBody {
    queue: Option<String>,
    agent: Option<String>,
}

/// `POST /api/v1/calls/{id}/transfer`: staff only; a bridged call's caller leaves the
/// agent and joins another queue, or another agent's phone rings (the blind transfer an
/// agent's REFER does). An agent who does not answer (or is busy, or not registered)
/// sends the caller back to the call's queue, logged as `transfer.fail`. A caller still
/// waiting in a queue moves to another queue (`call/control.rs`, `move_waiting`).
pub(crate) async fn transfer(
    p: Principal,
    Path(id): Path<String>,
    Extension(ctx): Extension<Arc<CallContext>>,
    JsonBody(body): JsonBody<TransferBody>,
) -> Result<Json<Value>, ApiError> {
    p.require_staff()?;
    let to = match (body.queue, body.agent) {
        (Some(q), None) => TransferTarget::Queue(q),
        (None, Some(a)) => TransferTarget::Agent(a),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `queue` or `agent`",
            ))
        }
    };
    let (id, lane) = lane_for(&p, &ctx, &id).await?;
    let by = p.name.clone();
    let answer = match &to {
        TransferTarget::Queue(q) if !p.sees_queue(q) => {
            return Err(ApiError::not_found(format!("no queue '{q}'")))
        }
        TransferTarget::Agent(a) if !p.sees_agent(a) => {
            return Err(ApiError::not_found(format!("no agent '{a}'")))
        }
        TransferTarget::Queue(q) => json!({"queue": q}),
        TransferTarget::Agent(a) => json!({"agent": a}),
    };
    ask(&lane, |reply| CallControl::Transfer { to, by, reply }).await?;
    Ok(Json(
        json!({"call": id.to_string(), "transferred_to": answer}),
    ))
}

/// `POST /api/v1/calls/{id}/listen|whisper|barge` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SuperviseBody {
    supervisor: String,
}

pub(crate) async fn listen(
    p: Principal,
    Path(id): Path<String>,
    State(s): State<Arc<Shared>>,
    Extension(ctx): Extension<Arc<CallContext>>,
    JsonBody(body): JsonBody<SuperviseBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    supervise(p, id, s, ctx, body, SupervisorMode::Listen).await
}

pub(crate) async fn whisper(
    p: Principal,
    Path(id): Path<String>,
    State(s): State<Arc<Shared>>,
    Extension(ctx): Extension<Arc<CallContext>>,
    JsonBody(body): JsonBody<SuperviseBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    supervise(p, id, s, ctx, body, SupervisorMode::Whisper).await
}

pub(crate) async fn barge(
    p: Principal,
    Path(id): Path<String>,
    State(s): State<Arc<Shared>>,
    Extension(ctx): Extension<Arc<CallContext>>,
    JsonBody(body): JsonBody<SuperviseBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    supervise(p, id, s, ctx, body, SupervisorMode::Barge).await
}

/// Staff only. The engine calls the supervisor's registered phone and joins it to the
/// bridged call in `mode` when it answers: 202 with the supervisor call's id. 409 when the
/// supervisor's phone is not registered, they are on a call (as an agent, or already
/// supervising), or the call is not bridged to an agent (an agent's own outbound call is
/// supervised as a queue call is: `placed_supervision.rs`).
async fn supervise(
    p: Principal,
    id: String,
    shared: Arc<Shared>,
    ctx: Arc<CallContext>,
    body: SuperviseBody,
    mode: SupervisorMode,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    p.require_staff()?;
    let who = body.supervisor;
    if !ctx.cfg.users.iter().any(|u| u.name == who && u.supervisor) {
        return Err(ApiError::bad_request(format!(
            "'{who}' is not a supervisor (users.supervisor = true)"
        )));
    }
    let (call, lane) = lane_for(&p, &ctx, &id).await?;
    let conflict = |code: &'static str, why: String| ApiError::new(StatusCode::CONFLICT, code, why);
    if ctx
        .sip
        .location
        .lookup_active(&who, std::time::SystemTime::now())
        .is_empty()
    {
        return Err(conflict(
            "supervisor_not_registered",
            format!("{who}'s phone is not registered"),
        ));
    }
    let on_a_call = shared.board.read().ok().is_some_and(|b| {
        b["agents"].as_array().into_iter().flatten().any(|a| {
            a["agent"].as_str() == Some(who.as_str())
                && matches!(a["state"].as_str(), Some("ringing" | "reserved" | "busy"))
        })
    });
    if on_a_call {
        return Err(conflict("supervisor_busy", format!("{who} is on a call")));
    }
    let view = LiveCalls::describe(&lane, DESCRIBE_LIMIT)
        .await
        .ok_or_else(|| ApiError::not_found(format!("no live call {call}")))?;
    let target = view
        .agent
        .as_deref()
        .filter(|_| view.phase == crate::live_calls::CallPhase::Bridged)
        .and_then(|agent| ctx.supervisable.get(agent).map(|r| r.clone()))
        .ok_or_else(|| {
            conflict(
                "call_state_conflict",
                "only a call bridged to an agent can be supervised".into(),
            )
        })?;
    if !ctx.live.start_supervising(&who, call) {
        return Err(conflict(
            "supervisor_busy",
            format!("{who} is already supervising a call"),
        ));
    }
    let sup_call = ctx.next_call_id();
    tracing::info!(call = %call, supervisor = %who, mode = ?mode, by = %p.name, "supervision over the API");
    let task_ctx = ctx.clone();
    let name = who.clone();
    let by = p.name.clone();
    tokio::spawn(async move {
        crate::call::run_api_supervision(
            task_ctx.clone(),
            sup_call,
            mode,
            target,
            name.clone(),
            by,
        )
        .await;
        task_ctx.live.stop_supervising(&name);
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "call": call.to_string(),
            "supervisor": who,
            "mode": crate::core_events::supervision_mode(mode).as_str(),
            "supervisor_call": sup_call.to_string(),
        })),
    ))
}
