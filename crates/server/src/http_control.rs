//! Agent control over the HTTP API: pause with a reason code from `[acd] pause_reasons`
//! and unpause. The ACD actor applies the change and answers, so the HTTP answer says
//! what really happened (409 when the agent is not logged in).

use std::sync::Arc;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::acd_actor::{AcdCommand, AgentControlError};
use crate::http_auth::Principal;
use crate::http_error::ApiError;
use crate::http_serve::JsonBody;

/// What the control endpoints need: the ACD actor, the agents and the reason codes.
pub(crate) struct AgentControl {
    pub(crate) acd: mpsc::UnboundedSender<AcdCommand>,
    pub(crate) agents: Vec<String>,
    pub(crate) pause_reasons: Vec<String>,
    /// Each queue's disposition codes (`[[queues]] dispositions`), in config order.
    pub(crate) dispositions: Vec<(String, Vec<String>)>,
}

/// `POST /api/v1/agents/{user}/pause` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PauseBody {
    reason: String,
}

impl AgentControl {
    fn known(&self, agent: &str) -> Result<(), ApiError> {
        if self.agents.iter().any(|a| a == agent) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("no agent {agent:?}")))
        }
    }

    async fn apply(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), AgentControlError>>) -> AcdCommand,
    ) -> Result<(), ApiError> {
        let (tx, rx) = oneshot::channel();
        self.acd.send(make(tx)).map_err(|_| unavailable())?;
        rx.await.map_err(|_| unavailable())?.map_err(ApiError::from)
    }
}

impl From<AgentControlError> for ApiError {
    fn from(e: AgentControlError) -> ApiError {
        match e {
            AgentControlError::NotLoggedIn => ApiError::new(
                StatusCode::CONFLICT,
                "agent_not_logged_in",
                "the agent is not logged in (its phone is not registered)",
            ),
            AgentControlError::Refused(why) => {
                ApiError::new(StatusCode::CONFLICT, "agent_state_conflict", why)
            }
            AgentControlError::UnknownAgent => ApiError::not_found("no such agent"),
            AgentControlError::UnknownQueue(q) => ApiError::not_found(format!("no queue {q:?}")),
            AgentControlError::NotMember(q) => ApiError::not_found(format!(
                "the agent is not a configured member of queue {q:?}"
            )),
            AgentControlError::NoCall => ApiError::new(
                StatusCode::CONFLICT,
                "no_call",
                "the agent has had no queue call to set a disposition on",
            ),
            AgentControlError::UnknownDisposition {
                code,
                queue,
                allowed,
            } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "unknown_disposition",
                if allowed.is_empty() {
                    format!("unknown disposition {code:?}: queue {queue} has no dispositions configured")
                } else {
                    format!(
                        "unknown disposition {code:?} for queue {queue}; allowed: {}",
                        allowed.join(", ")
                    )
                },
            ),
        }
    }
}

pub(crate) fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "acd_unavailable",
        "the ACD is shutting down",
    )
}

pub(crate) async fn pause(
    p: Principal,
    Path(agent): Path<String>,
    Extension(c): Extension<Arc<AgentControl>>,
    JsonBody(body): JsonBody<PauseBody>,
) -> Result<Json<Value>, ApiError> {
    c.known(&agent)?;
    p.require_agent_or_staff(&agent)?;
    if !c.pause_reasons.contains(&body.reason) {
        return Err(ApiError::bad_request(format!(
            "unknown pause reason {:?}; configured: {}",
            body.reason,
            c.pause_reasons.join(", ")
        )));
    }
    let reason = body.reason.clone();
    let a = agent.clone();
    c.apply(|reply| AcdCommand::Pause {
        agent: a,
        reason,
        reply,
    })
    .await?;
    tracing::info!(agent = %agent, reason = %body.reason, by = %p.name, role = p.role.as_str(), "agent paused over the API");
    Ok(Json(
        json!({"agent": agent, "paused": true, "reason": body.reason}),
    ))
}

pub(crate) async fn unpause(
    p: Principal,
    Path(agent): Path<String>,
    Extension(c): Extension<Arc<AgentControl>>,
) -> Result<Json<Value>, ApiError> {
    c.known(&agent)?;
    p.require_agent_or_staff(&agent)?;
    let a = agent.clone();
    c.apply(|reply| AcdCommand::Unpause { agent: a, reply })
        .await?;
    tracing::info!(agent = %agent, by = %p.name, role = p.role.as_str(), "agent unpaused over the API");
    Ok(Json(json!({"agent": agent, "paused": false})))
}
