//! Outbound campaigns over the HTTP API (staff: admin or supervisor tokens):
//! `GET /api/v1/campaigns`, `POST /api/v1/campaigns` (a definition with its rows),
//! `GET /api/v1/campaigns/{name}`, and `POST .../{name}/start|pause|stop`. The campaign
//! runner (`campaign/`) owns the campaigns; these handlers ask it and say what it answered.
//! A tenant-scoped token sees and controls only its tenant's campaigns (another tenant's
//! is "not found", as if it did not exist) and creates campaigns for its tenant only.

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

/// Whether `p` may see the campaign whose summary is `v` (unscoped tokens see all).
fn visible(p: &Principal, v: &serde_json::Value) -> bool {
    p.tenant().is_none_or(|t| v["tenant"].as_str() == Some(t))
}

/// The campaign `name` as `p` may see it: its JSON, or 404.
async fn get_visible(
    p: &Principal,
    name: &str,
    h: &CampaignHandle,
) -> Result<serde_json::Value, ApiError> {
    h.ask(|reply| CampaignCommand::Get {
        name: name.to_string(),
        reply,
    })
    .await
    .ok_or_else(unavailable)?
    .filter(|v| visible(p, v))
    .ok_or_else(|| ApiError::not_found(format!("no campaign '{name}'")))
}

/// `GET /api/v1/campaigns`.
pub(crate) async fn list(
    p: Principal,
    Extension(h): Extension<CampaignHandle>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    let mut v = h
        .ask(|reply| CampaignCommand::List { reply })
        .await
        .ok_or_else(unavailable)?;
    if let Some(list) = v["campaigns"].as_array_mut() {
        list.retain(|c| visible(&p, c));
    }
    Ok(Json(v).into_response())
}

/// `GET /api/v1/campaigns/{name}`: progress and every row (numbers masked).
pub(crate) async fn one(
    p: Principal,
    Path(name): Path<String>,
    Extension(h): Extension<CampaignHandle>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    let v = get_visible(&p, &name, &h).await?;
    Ok(Json(v).into_response())
}

/// `POST /api/v1/campaigns`: 201 with the campaign's summary; 400 for a bad or unknown
/// field (the message names it), 409 when the name is taken.
pub(crate) async fn create(
    p: Principal,
    Extension(h): Extension<CampaignHandle>,
    JsonBody(mut def): JsonBody<CampaignDef>,
) -> Result<Response, ApiError> {
    p.require_staff()?;
    if let Some(t) = p.tenant() {
        match def.tenant.as_deref() {
            None => def.tenant = Some(t.to_string()),
            Some(own) if own == t => {}
            Some(other) => {
                return Err(ApiError::forbidden(format!(
                    "this token creates campaigns for tenant '{t}' only, not '{other}'"
                )))
            }
        }
    }
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
    get_visible(&p, &name, &h).await?;
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
