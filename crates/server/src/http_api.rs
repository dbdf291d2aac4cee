//! The HTTP admin API: health, Prometheus metrics, registrations, agents, queues, agent
//! control. `/healthz`, `/metrics` and the demo CRM are open; everything under `/api/v1`
//! needs a bearer token (`http_auth.rs`). Errors are JSON `{"error", "code"}` with a
//! 4xx/5xx status (`http_error.rs`); limits and the Host check live in `http_serve.rs`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::json;

use crate::agent_desk::redact_for;
use crate::http_auth::{Principal, Role, TokenTable};
use crate::http_control::AgentControl;
use crate::http_error::ApiError;
use crate::http_serve::{AllowedHosts, HttpLimits};
use crate::http_state::Shared;

/// What the API needs besides [`Shared`]: who may call it and its limits.
pub(crate) struct ApiSetup {
    pub(crate) tokens: Arc<TokenTable>,
    pub(crate) hosts: Arc<AllowedHosts>,
    pub(crate) limits: Arc<HttpLimits>,
    pub(crate) control: Arc<AgentControl>,
    /// The call path: live calls, the ACD, the SIP driver (calls and callbacks endpoints).
    pub(crate) calls: Arc<crate::call::CallContext>,
    pub(crate) events: Arc<crate::http_events::EventStream>,
}

pub(crate) fn router(shared: Arc<Shared>, setup: ApiSetup) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(crate::http_openapi::serve))
        .route("/api/v1/registrations", get(registrations))
        .route("/api/v1/trunks", get(trunks))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/queues/:queue", get(queue))
        .route("/api/v1/agents", get(agents))
        .route("/api/v1/agents/:agent", get(agent))
        .route(
            "/api/v1/agents/:agent/pause",
            post(crate::http_control::pause),
        )
        .route(
            "/api/v1/agents/:agent/unpause",
            post(crate::http_control::unpause),
        )
        .route("/api/v1/calls", get(crate::http_calls::list))
        .route("/api/v1/calls/:call", get(crate::http_calls::one))
        .route(
            "/api/v1/calls/:call/history",
            get(crate::caller_history::serve),
        )
        .route(
            "/api/v1/calls/:call/hangup",
            post(crate::http_calls::hangup),
        )
        .route(
            "/api/v1/calls/:call/transfer",
            post(crate::http_calls::transfer),
        )
        .route(
            "/api/v1/calls/:call/listen",
            post(crate::http_calls::listen),
        )
        .route(
            "/api/v1/calls/:call/whisper",
            post(crate::http_calls::whisper),
        )
        .route("/api/v1/calls/:call/barge", post(crate::http_calls::barge))
        .route("/api/v1/reports/:kind", get(crate::report::http::report))
        .route(
            "/api/v1/agents/:agent/login",
            post(crate::http_agents::login),
        )
        .route(
            "/api/v1/agents/:agent/logout",
            post(crate::http_agents::logout),
        )
        .route(
            "/api/v1/agents/:agent/wrapup/end",
            post(crate::http_agents::end_wrap_up),
        )
        .route(
            "/api/v1/agents/:agent/disposition",
            post(crate::http_agents::disposition),
        )
        .route("/api/v1/events", get(crate::http_events::events))
        .route(
            "/api/v1/callbacks",
            get(crate::http_callbacks::list).post(crate::http_callbacks::create),
        )
        .route(
            "/api/v1/callbacks/:callback",
            axum::routing::delete(crate::http_callbacks::cancel),
        )
        .route(
            "/api/v1/callbacks/:callback/start",
            post(crate::http_callbacks::start),
        )
        .route("/demo/crm/balance", get(demo_balance))
        .route("/api/v1/session", get(crate::web_pages::session))
        .route(
            "/api/v1/campaigns",
            get(crate::http_campaigns::list).post(crate::http_campaigns::create),
        )
        .route("/api/v1/campaigns/:name", get(crate::http_campaigns::one))
        .route(
            "/api/v1/campaigns/:name/start",
            post(crate::http_campaigns::start),
        )
        .route(
            "/api/v1/campaigns/:name/pause",
            post(crate::http_campaigns::pause),
        )
        .route(
            "/api/v1/campaigns/:name/stop",
            post(crate::http_campaigns::stop),
        )
        .route(
            "/api/v1/scripts/:name",
            get(crate::conversation_script::serve),
        )
        .merge(crate::web_pages::routes())
        .fallback(not_found)
        .with_state(shared)
        .layer(axum::middleware::from_fn(crate::http_serve::check_host))
        .layer(Extension(setup.hosts))
        .layer(Extension(setup.tokens))
        .layer(Extension(setup.limits))
        .layer(Extension(setup.control))
        .layer(Extension(setup.calls))
        .layer(Extension(setup.events))
        .layer(axum::middleware::from_fn(crate::http_error::json_errors))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see docs/api.md")
}

async fn metrics(State(s): State<Arc<Shared>>) -> String {
    s.metrics_text()
}

#[derive(serde::Deserialize)]
struct BalanceQuery {
    phone: Option<String>,
}

/// A stand-in CRM for the embedded demo (dialplans/demo.ivr, option 3): a made-up but
/// stable balance per phone number, in the shape a real CRM lookup would return.
async fn demo_balance(axum::extract::Query(q): axum::extract::Query<BalanceQuery>) -> Response {
    let Some(phone) = q.phone.filter(|p| !p.is_empty() && p.len() <= 32) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "query parameter `phone` is required", "code": "bad_request"})),
        )
            .into_response();
    };
    let cents: u64 = phone
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(7u64, |acc, d| (acc * 31 + u64::from(d - b'0')) % 1_000_000);
    Json(json!({"account": {"phone": phone, "balance": cents as f64 / 100.0, "currency": "USD"}}))
        .into_response()
}

fn board_part(s: &Shared, key: &str) -> Json<serde_json::Value> {
    let v = s
        .board
        .read()
        .map(|b| b.get(key).cloned().unwrap_or_default())
        .unwrap_or_default();
    Json(if v.is_null() { json!([]) } else { v })
}

/// The entries of a board list (`queues`, `agents`) that `p` may see: `key` names the
/// field holding the queue's or agent's name.
pub(crate) fn scoped_list(
    p: &Principal,
    all: serde_json::Value,
    key: &str,
    sees: fn(&Principal, &str) -> bool,
) -> serde_json::Value {
    match all {
        serde_json::Value::Array(items) if p.scope.is_some() => serde_json::Value::Array(
            items
                .into_iter()
                .filter(|i| i[key].as_str().is_some_and(|n| sees(p, n)))
                .collect(),
        ),
        other => other,
    }
}

/// Queues with waiting callers, their counters since the server started and their
/// statistics (the wallboard's source). Any role; a tenant's token sees its queues only.
async fn queues(p: Principal, State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let Json(all) = board_part(&s, "queues");
    Json(scoped_list(&p, all, "queue", Principal::sees_queue))
}

/// One queue with its live statistics (`stats`, docs/api.md). Any role; another
/// tenant's queue is 404 for a tenant's token.
async fn queue(
    p: Principal,
    Path(name): Path<String>,
    State(s): State<Arc<Shared>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(all) = board_part(&s, "queues");
    all.as_array()
        .into_iter()
        .flatten()
        .find(|q| q["queue"].as_str() == Some(name.as_str()) && p.sees_queue(&name))
        .cloned()
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no queue '{name}'")))
}

/// Every configured agent with their one ACD state; an agent token sees only its own, a
/// tenant's token the agents serving the tenant.
async fn agents(p: Principal, State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let Json(all) = board_part(&s, "agents");
    let all = scoped_list(&p, all, "agent", Principal::sees_agent);
    let seen: Vec<serde_json::Value> = all
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| p.role != Role::Agent || a["agent"].as_str() == p.agent.as_deref())
        .map(|a| redact_for(&p, a.clone()))
        .collect();
    Json(serde_json::Value::Array(seen))
}

/// One agent: staff, or the agent's own token.
async fn agent(
    p: Principal,
    Path(name): Path<String>,
    State(s): State<Arc<Shared>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if !p.sees_agent(&name) {
        return Err(ApiError::not_found(format!("no agent '{name}'")));
    }
    p.require_agent_or_staff(&name)?;
    let Json(all) = board_part(&s, "agents");
    all.as_array()
        .into_iter()
        .flatten()
        .find(|a| a["agent"].as_str() == Some(name.as_str()))
        .map(|a| Json(redact_for(&p, a.clone())))
        .ok_or_else(|| ApiError::not_found(format!("no agent '{name}'")))
}

/// The carrier trunks: registration state, calls, refusals (never credentials): staff only.
async fn trunks(
    p: Principal,
    State(s): State<Arc<Shared>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    p.require_staff()?;
    Ok(Json(s.metrics.trunks.json(std::time::Instant::now())))
}

/// Registered contacts with their addresses: staff only; a tenant's token sees the
/// contacts of its agents only.
async fn registrations(
    p: Principal,
    State(s): State<Arc<Shared>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    p.require_staff()?;
    Ok(Json(scoped_list(
        &p,
        s.registrations_json(),
        "user",
        Principal::sees_agent,
    )))
}
