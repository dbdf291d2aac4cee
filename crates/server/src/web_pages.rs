//! The browser pages the binary serves itself: the wallboard at `/` and the agent desktop
//! at `/agent`, plain HTML/CSS/JS from `crates/server/assets/` compiled into the binary
//! (no build step, no CDN). Every page and asset goes out with a strict
//! Content-Security-Policy (`default-src 'self'`: no inline script or style, no other
//! host), `nosniff` and no caching beyond revalidation. The pages read the API with the
//! token the user signs in with; [`session`] tells them who that is.
//!
//! This module holds no state and no API logic beyond `GET /api/v1/session`.

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;

use crate::http_auth::Principal;
use crate::http_control::AgentControl;
use crate::http_error::ApiError;

/// The policy every page and asset carries: only this origin, nothing inline, no frames.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'; object-src 'none'";

/// An asset: its URL name, media type and bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media_type:literal) => {
        Asset {
            name: $name,
            media_type: $media_type,
            bytes: include_bytes!(concat!("../assets/", $name)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("wallboard.html", "text/html; charset=utf-8"),
    asset!("agent.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("common.js", "text/javascript; charset=utf-8"),
    asset!("wallboard.js", "text/javascript; charset=utf-8"),
    asset!("agent.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

/// Routes: `/`, `/agent`, `/assets/{name}`, `/favicon.ico`. They need no token (the
/// pages hold no data); the API calls the pages make do.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { serve("wallboard.html") }))
        .route("/agent", get(|| async { serve("agent.html") }))
        .route("/favicon.ico", get(|| async { serve("icon.svg") }))
        .route(
            "/assets/:name",
            get(|Path(name): Path<String>| async move { serve(&name) }),
        )
}

fn serve(name: &str) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == name) else {
        return ApiError::not_found(format!("no asset '{name}'")).into_response();
    };
    let mut r = (StatusCode::OK, a.bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.media_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /api/v1/session`: who the token is (`name`, `role`, `agent`), the pause reason
/// codes and each queue's disposition codes the desktop offers, and whether the server has the live event stream
/// (`events_stream`; the pages poll the REST API when it does not, or when it fails).
pub(crate) async fn session(
    p: Principal,
    Extension(control): Extension<Arc<AgentControl>>,
) -> Json<serde_json::Value> {
    Json(json!({
        "name": p.name,
        "role": p.role.as_str(),
        "agent": p.agent,
        "tenant": p.tenant(),
        "pause_reasons": control.pause_reasons,
        // A tenant's token learns the dispositions of its own queues only.
        "dispositions": control
            .dispositions
            .iter()
            .filter(|(q, _)| p.sees_queue(q))
            .map(|(q, codes)| (q.clone(), json!(codes)))
            .collect::<serde_json::Map<_, _>>(),
        "events_stream": true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_served_with_its_type_and_the_policy() {
        for a in ASSETS {
            let r = serve(a.name);
            assert_eq!(r.status(), StatusCode::OK, "{}", a.name);
            assert_eq!(r.headers()[header::CONTENT_TYPE], a.media_type);
            assert_eq!(
                r.headers()[header::CONTENT_SECURITY_POLICY],
                CONTENT_SECURITY_POLICY
            );
            assert!(!a.bytes.is_empty());
        }
        assert_eq!(serve("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("nope.js").status(), StatusCode::NOT_FOUND);
    }

    /// Every phase the live calls API can report has words in English and in Russian on the
    /// wallboard (an untranslated phase would show its code, e.g. `dialing`).
    #[test]
    fn every_call_phase_has_words_in_both_languages() {
        use crate::live_calls::CallPhase;
        let phases = [
            CallPhase::Answering,
            CallPhase::Dialing,
            CallPhase::Ivr,
            CallPhase::Queued,
            CallPhase::Ringing,
            CallPhase::Bridged,
            CallPhase::CallbackLeaving,
            CallPhase::Ending,
        ];
        // A new variant fails to compile here until it is listed above.
        for p in phases {
            match p {
                CallPhase::Answering
                | CallPhase::Dialing
                | CallPhase::Ivr
                | CallPhase::Queued
                | CallPhase::Ringing
                | CallPhase::Bridged
                | CallPhase::CallbackLeaving
                | CallPhase::Ending => {}
            }
        }
        let js = std::str::from_utf8(ASSETS.iter().find(|a| a.name == "common.js").unwrap().bytes)
            .unwrap();
        let (en, ru) = js
            .split_once("\n    ru: {")
            .expect("an `ru` table after `en`");
        for p in phases {
            let code = serde_json::to_value(p).unwrap();
            let key = format!("ph_{}:", code.as_str().unwrap());
            assert!(en.contains(&key), "English words for {key}");
            assert!(ru.contains(&key), "Russian words for {key}");
        }
    }

    #[test]
    fn pages_load_only_their_own_assets() {
        for page in ["wallboard.html", "agent.html"] {
            let html =
                std::str::from_utf8(ASSETS.iter().find(|a| a.name == page).unwrap().bytes).unwrap();
            // Nothing inline that the policy would block, no other host.
            assert!(!html.contains("style="), "{page}");
            assert!(!html.contains("<style"), "{page}");
            assert!(
                !html.contains("http://") && !html.contains("https://"),
                "{page}"
            );
            for src in html
                .split("src=\"")
                .skip(1)
                .chain(html.split("href=\"").skip(1))
            {
                let url = src.split('"').next().unwrap();
                let name = url
                    .strip_prefix("/assets/")
                    .unwrap_or_else(|| panic!("{url}"));
                assert!(ASSETS.iter().any(|a| a.name == name), "{page}: {url}");
            }
            for script in html.split("<script").skip(1) {
                assert!(
                    script.trim_start().starts_with("src="),
                    "{page}: inline script"
                );
            }
        }
    }
}
