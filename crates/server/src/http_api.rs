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

async fn registrations(State(s): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(s.registrations_json())
}
