//! The HTTP admin API: health, Prometheus metrics, registrations, agents, queues, calls.
//! Errors are JSON `{ "error": "..." }` with a 4xx/5xx status.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::run::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/api/v1/registrations", get(registrations))
        .route("/api/v1/queues", get(queues))
        .route("/api/v1/agents", get(agents))
        .route("/demo/crm/balance", get(demo_balance))
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such endpoint; see docs/operations.md"})),
    )
        .into_response()
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
            Json(json!({"error": "query parameter `phone` is required"})),
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

/// Queues with waiting callers and their counters since the server started (the
/// wallboard's source).
async fn queues(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    board_part(&s, "queues")
}

/// Every configured agent with their one ACD state.
async fn agents(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    board_part(&s, "agents")
}

async fn registrations(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(s.registrations_json())
}
