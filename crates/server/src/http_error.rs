//! Errors of the HTTP API: every one is JSON `{"error": "...", "code": "..."}` with the
//! status that says what went wrong (401 no token, 403 wrong role, 421 foreign Host, ...).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An error answer of the API.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    /// A stable snake_case code for programs.
    pub(crate) code: &'static str,
    /// A sentence for people.
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is required: Authorization: Bearer <token>",
        )
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"error": self.message, "code": self.code})),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"switchboard\""),
            );
        }
        r
    }
}

/// The code of an error answer made by the router or an extractor rather than by a handler.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UPGRADE_REQUIRED => "upgrade_required",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Middleware: an error answer that is not JSON already (axum's own rejections: a path
/// segment that is not UTF-8, a query that does not parse, a method a route does not take,
/// a failed WebSocket upgrade) becomes `{"error", "code"}` like every other, keeping its
/// status and headers (`Allow` on a 405). The rejection's text, at most 1 KiB, is the message.
pub(crate) async fn json_errors(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let r = next.run(req).await;
    let status = r.status();
    let is_json = r
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let (mut parts, body) = r.into_parts();
    let text = match axum::body::to_bytes(body, 1024).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase(),
    };
    let json = ApiError::new(status, code_of(status), text).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    for (k, v) in json_parts.headers.iter() {
        parts.headers.insert(k, v.clone());
    }
    Response::from_parts(parts, json_body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn ask(
        method: &str,
        uri: &str,
    ) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
        #[derive(serde::Deserialize)]
        struct Q {
            #[allow(dead_code)]
            n: u32,
        }
        let app = Router::new()
            .route(
                "/a/:name",
                get(|axum::extract::Path(_n): axum::extract::Path<String>| async { "ok" }),
            )
            .route(
                "/q",
                get(|axum::extract::Query(_q): axum::extract::Query<Q>| async { "ok" }),
            )
            .layer(axum::middleware::from_fn(json_errors));
        let req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let r = app.oneshot(req).await.unwrap();
        let (parts, body) = r.into_parts();
        let b = axum::body::to_bytes(body, 1 << 16).await.unwrap();
        (
            parts.status,
            parts.headers,
            serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null),
        )
    }

    #[tokio::test]
    async fn rejections_of_the_router_and_extractors_are_json() {
        let (s, _, v) = ask("GET", "/a/%D0%FF").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["code"], "bad_request");
        assert!(v["error"].as_str().unwrap().contains("UTF-8"), "{v}");

        let (s, h, v) = ask("DELETE", "/a/x").await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(v["code"], "method_not_allowed");
        assert_eq!(v["error"], "method not allowed");
        assert!(h.get(axum::http::header::ALLOW).is_some(), "Allow kept");

        let (s, _, v) = ask("GET", "/q?n=minus").await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(v["code"], "bad_request");
    }

    #[tokio::test]
    async fn answers_that_are_not_errors_pass_unchanged() {
        let (s, _, v) = ask("GET", "/a/x").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            v,
            serde_json::Value::Null,
            "the plain text body is left alone"
        );
    }
}
