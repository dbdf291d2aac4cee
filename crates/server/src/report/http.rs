//! `GET /api/v1/reports/{kind}?from=&to=&interval=&format=` (supervisor or admin token):
//! the `switchboard report` tables over HTTP, computed on a blocking thread from a
//! connection of its own to the event store (the event-log writer is not disturbed). One
//! report runs at a time; a second request meanwhile gets 429. A tenant-scoped token gets
//! a report of its tenant's calls and rows only (`scope.rs`), and 403 for the ivr and
//! trunks reports.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use tokio::sync::Semaphore;

use super::{parse_interval, render, Format, ReportKind};
use crate::config::Config;
use crate::event_store::StoreLocation;
use crate::http_auth::Principal;
use crate::http_error::ApiError;

/// What the reports endpoint reads: the config's rules and where the store is.
pub(crate) struct ReportSource {
    cfg: Config,
    store: StoreLocation,
    data_dir: PathBuf,
    running: Arc<Semaphore>,
}

impl ReportSource {
    /// From the running server's config (its store location parsed already at start).
    pub(crate) fn new(cfg: &Config) -> Arc<ReportSource> {
        Arc::new(ReportSource {
            cfg: cfg.clone(),
            store: StoreLocation::parse(&cfg.data.event_store).unwrap_or(StoreLocation::Sqlite),
            data_dir: cfg.data.dir.clone(),
            running: Arc::new(Semaphore::new(1)),
        })
    }
}

const PARAMS: [&str; 4] = ["from", "to", "interval", "format"];

/// The handler.
pub(crate) async fn report(
    p: Principal,
    Path(kind): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Extension(src): Extension<Arc<ReportSource>>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    let kind = ReportKind::parse(&kind).map_err(|e| ApiError::not_found(e.to_string()))?;
    if p.scope.is_some() {
        super::scope::check(kind).map_err(|e| ApiError::forbidden(e.to_string()))?;
    }
    if let Some(k) = q.keys().find(|k| !PARAMS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "unknown query parameter {k:?}; use from, to, interval, format"
        )));
    }
    let arg = |name: &str| -> Result<i64, ApiError> {
        let v = q.get(name).ok_or_else(|| {
            ApiError::bad_request(format!("query parameter `{name}` is required"))
        })?;
        crate::export::parse_time_arg(v).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
    };
    let (from, to) = (arg("from")?, arg("to")?);
    let interval = parse_interval(q.get("interval").map_or("30m", String::as_str))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let format = Format::parse(q.get("format").map_or("json", String::as_str))
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let spec =
        super::cli::spec_from_config(&src.cfg, from, to, interval, crate::event_store::now_ms());
    spec.validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The permit moves into the blocking task: a client that goes away does not let a
    // second report start while the first still runs.
    let Ok(permit) = src.running.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "busy",
            "another report is being computed; retry when it is done",
        ));
    };
    let job = src.clone();
    let scope = p.scope.clone();
    let table = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let mut store = job.store.open_existing(&job.data_dir)?;
        super::run(store.as_mut(), kind, &spec, scope.as_deref(), &mut |_| {})
    })
    .await
    .map_err(|e| internal(format!("report task: {e}")))?
    .map_err(|e| internal(format!("{e:#}")))?;
    let body = render::render(&table, format);
    Ok(([(header::CONTENT_TYPE, format.content_type())], body).into_response())
}

fn internal(message: String) -> ApiError {
    tracing::warn!(error = %message, "report failed");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "report_failed", message)
}
