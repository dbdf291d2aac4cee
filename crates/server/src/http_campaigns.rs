//! Outbound campaigns over the HTTP API (staff: admin or supervisor tokens):
//! `GET /api/v1/campaigns`, `POST /api/v1/campaigns` (a definition with its rows),
//! `GET /api/v1/campaigns/{name}`, and `POST .../{name}/start|pause|stop`. The campaign
//! runner (`campaign/`) owns the campaigns; these handlers ask it and say what it answered.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use switchboard_campaign::RunState;

use crate::campaign::{CampaignCommand, CampaignDef, CampaignError, CampaignHandle};
use crate::http_auth::Principal;
use crate::http_error::ApiError;
use crate::http_serve::JsonBody;

fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "campaigns_unavailable",
        "the campaign runner is shutting down",
    )
}

fn refused(e: CampaignError) -> ApiError {
    match e {
        CampaignError::NotFound(n) => ApiError::not_found(format!("no campaign '{n}'")),
        CampaignError::Exists(n) => ApiError::new(
            StatusCode::CONFLICT,
            "campaign_exists",
            format!("a campaign named '{n}' exists already"),
        ),
        CampaignError::Invalid(m) => ApiError::bad_request(m),
        CampaignError::State(m) => ApiError::new(StatusCode::CONFLICT, "campaign_state", m),
        CampaignError::Gone => unavailable(),
    }
}

/// `GET /api/v1/campaigns`.
pub(crate) async fn list(
    p: Principal,
    Extension(h): Extension<CampaignHandle>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    let v = h
        .ask(|reply| CampaignCommand::List { reply })
        .await
        .ok_or_else(unavailable)?;
    Ok(Json(v).into_response())
}

/// `GET /api/v1/campaigns/{name}`: progress and every row (numbers masked).
pub(crate) async fn one(
    p: Principal,
    Path(name): Path<String>,
    Extension(h): Extension<CampaignHandle>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    let v = h
        .ask(|reply| CampaignCommand::Get {
            name: name.clone(),
            reply,
        })
        .await
        .ok_or_else(unavailable)?
        .ok_or_else(|| ApiError::not_found(format!("no campaign '{name}'")))?;
    Ok(Json(v).into_response())
}

/// `POST /api/v1/campaigns`: 201 with the campaign's summary; 400 for a bad or unknown
/// field (the message names it), 409 when the name is taken.
pub(crate) async fn create(
    p: Principal,
    Extension(h): Extension<CampaignHandle>,
    JsonBody(def): JsonBody<CampaignDef>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    if def.list.is_some() || def.do_not_call_file.is_some() {
        return Err(ApiError::bad_request(
            "`list` and `do_not_call_file` name files on the server: over the API, send `rows` and `do_not_call`",
        ));
    }
    if def.autostart {
        return Err(ApiError::bad_request(
            "`autostart` is for [[campaigns]] in the config: over the API, POST .../start",
        ));
    }
    let by = p.name.clone();
    let v = h
        .ask(|reply| CampaignCommand::Create {
            def: Box::new(def),
            by,
            reply,
        })
        .await
        .ok_or_else(unavailable)?
        .map_err(refused)?;
    tracing::info!(campaign = %v["name"].as_str().unwrap_or(""), by = %p.name, "campaign defined over the API");
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn control(
    p: Principal,
    name: String,
    h: CampaignHandle,
    to: RunState,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    let by = p.name.clone();
    let v = h
        .ask(|reply| CampaignCommand::Control {
            name,
            to,
            by,
            reply,
        })
        .await
        .ok_or_else(unavailable)?
        .map_err(refused)?;
    Ok(Json(v).into_response())
}

/// `POST /api/v1/campaigns/{name}/start`: start or resume (409 once finished).
pub(crate) async fn start(
    p: Principal,
    Path(name): Path<String>,
    Extension(h): Extension<CampaignHandle>,
) -> Result<Response, ApiError> {
    control(p, name, h, RunState::Running).await
}

/// `POST /api/v1/campaigns/{name}/pause`: no new calls until started again (409 unless running).
pub(crate) async fn pause(
    p: Principal,
    Path(name): Path<String>,
    Extension(h): Extension<CampaignHandle>,
) -> Result<Response, ApiError> {
    control(p, name, h, RunState::Paused).await
}

/// `POST /api/v1/campaigns/{name}/stop`: no new calls; calls in progress finish.
pub(crate) async fn stop(
    p: Principal,
    Path(name): Path<String>,
    Extension(h): Extension<CampaignHandle>,
) -> Result<Response, ApiError> {
    control(p, name, h, RunState::Stopped).await
}
