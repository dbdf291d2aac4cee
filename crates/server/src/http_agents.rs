//! Agent control over the HTTP API beyond pause/unpause (`http_control.rs`): log in and
//! out of queues, end wrap-up, set a disposition code on the last call. An agent token acts
//! only for its own agent; supervisors and admins for any. The ACD actor applies each
//! command (`acd_actor/control.rs`) and answers once the live view shows it.

use std::sync::Arc;

use axum::extract::Path;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::acd_actor::{AcdCommand, AgentCommand, ControlAnswer, MAX_NOTES_CHARS};
use crate::http_auth::Principal;
use crate::http_control::{unavailable, AgentControl};
use crate::http_error::ApiError;
use crate::http_serve::JsonBody;

/// The most queue names one login/logout may list.
const MAX_QUEUES: usize = 64;

/// A JSON body that may be left out entirely (`Content-Length: 0`, or no length and no
/// chunked body): `None`, whatever the `Content-Type`. A body that is sent is read as
/// strictly as [`JsonBody`] (unknown fields are 400).
pub(crate) struct MaybeJson<T>(pub(crate) Option<T>);

#[axum::async_trait]
impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S>
    for MaybeJson<T>
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, s: &S) -> Result<MaybeJson<T>, ApiError> {
        let h = req.headers();
        let empty = h
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.trim() == "0")
            && !h.contains_key(axum::http::header::TRANSFER_ENCODING);
        if empty {
            return Ok(MaybeJson(None));
        }
        let JsonBody(v) = JsonBody::<T>::from_request(req, s).await?;
        Ok(MaybeJson(Some(v)))
    }
}

/// `POST /api/v1/agents/{user}/login` and `/logout` body (the whole body may be absent).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueuesBody {
    /// Queue names; absent: every configured queue (login) or all (logout).
    #[serde(default)]
    queues: Option<Vec<String>>,
}

/// `POST /api/v1/agents/{user}/disposition` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DispositionBody {
    code: String,
    #[serde(default)]
    notes: String,
}

async fn ask(
    c: &AgentControl,
    make: impl FnOnce(oneshot::Sender<ControlAnswer>) -> AgentCommand,
) -> Result<Json<Value>, ApiError> {
    let (tx, rx) = oneshot::channel();
    c.acd
        .send(AcdCommand::Agent(make(tx)))
        .map_err(|_| unavailable())?;
    let v = rx.await.map_err(|_| unavailable())??;
    Ok(Json(v))
}

fn check(p: &Principal, c: &AgentControl, agent: &str) -> Result<(), ApiError> {
    if !c.agents.iter().any(|a| a == agent) {
        return Err(ApiError::not_found(format!("no agent {agent:?}")));
    }
    p.require_agent_or_staff(agent)
}

fn queue_list(body: Option<QueuesBody>) -> Result<Option<Vec<String>>, ApiError> {
    let queues = body.unwrap_or_default().queues;
    if queues.as_ref().is_some_and(|q| q.len() > MAX_QUEUES) {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_QUEUES} queues at once"
        )));
    }
    Ok(queues)
}

/// `POST /api/v1/agents/{user}/login`: the agent takes calls from these queues again.
pub(crate) async fn login(
    p: Principal,
    Path(agent): Path<String>,
    Extension(c): Extension<Arc<AgentControl>>,
    MaybeJson(body): MaybeJson<QueuesBody>,
) -> Result<Json<Value>, ApiError> {
    set_membership(p, agent, c, body, true).await
}

/// `POST /api/v1/agents/{user}/logout`: no more offers from these queues.
pub(crate) async fn logout(
    p: Principal,
    Path(agent): Path<String>,
    Extension(c): Extension<Arc<AgentControl>>,
    MaybeJson(body): MaybeJson<QueuesBody>,
) -> Result<Json<Value>, ApiError> {
    set_membership(p, agent, c, body, false).await
}

/// Login (`active`) or logout of the listed queues (all of the agent's when none are listed).
async fn set_membership(
    p: Principal,
    agent: String,
    c: Arc<AgentControl>,
    body: Option<QueuesBody>,
    active: bool,
) -> Result<Json<Value>, ApiError> {
    check(&p, &c, &agent)?;
    let queues = queue_list(body)?;
    let a = agent.clone();
    let r = ask(&c, |reply| {
        if active {
            AgentCommand::LoginQueues {
                agent: a,
                queues,
                reply,
            }
        } else {
            AgentCommand::LogoutQueues {
                agent: a,
                queues,
                reply,
            }
        }
    })
    .await?;
    let verb = if active { "login" } else { "logout" };
    tracing::info!(agent = %agent, by = %p.name, queues = %r.0["queues"], verb, "agent queue membership changed over the API");
    Ok(r)
}

/// `POST /api/v1/agents/{user}/wrapup/end`: wrap-up ends now.
pub(crate) async fn end_wrap_up(
    p: Principal,
    Path(agent): Path<String>,
    Extension(c): Extension<Arc<AgentControl>>,
) -> Result<Json<Value>, ApiError> {
    check(&p, &c, &agent)?;
    let a = agent.clone();
    ask(&c, |reply| AgentCommand::EndWrapUp { agent: a, reply }).await
}

/// `POST /api/v1/agents/{user}/disposition`: a code (and notes) on the agent's last call.
pub(crate) async fn disposition(
    p: Principal,
    Path(agent): Path<String>,
    Extension(c): Extension<Arc<AgentControl>>,
    JsonBody(body): JsonBody<DispositionBody>,
) -> Result<Json<Value>, ApiError> {
    check(&p, &c, &agent)?;
    if body.notes.chars().count() > MAX_NOTES_CHARS {
        return Err(ApiError::bad_request(format!(
            "notes are at most {MAX_NOTES_CHARS} characters"
        )));
    }
    let a = agent.clone();
    let by = p.name.clone();
    ask(&c, |reply| AgentCommand::Disposition {
        agent: a,
        code: body.code,
        notes: body.notes,
        by,
        reply,
    })
    .await
}
