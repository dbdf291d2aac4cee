//! Serving the HTTP API with limits a public-facing listener needs: a cap on live
//! connections (the accept loop waits for a free slot, as mini-redis does), a deadline
//! for each request's headers, a Host allow-list (so a DNS-rebinding page cannot read
//! the API through a victim's browser), a body size cap and a body deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, Semaphore};

use crate::http_error::ApiError;

/// Limits of the HTTP listener (`[http]`).
#[derive(Clone, Debug)]
pub(crate) struct HttpLimits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
    pub(crate) body_timeout: Duration,
    pub(crate) max_body_bytes: usize,
}

/// Host header values the API answers: the listen address, `localhost` (with and
/// without the port), loopback spellings when listening on loopback, and `extra`.
#[derive(Clone, Debug)]
pub(crate) struct AllowedHosts(Vec<String>);

impl AllowedHosts {
    pub(crate) fn new(listen: SocketAddr, extra: &[String]) -> AllowedHosts {
        let port = listen.port();
        let mut v = vec![
            listen.to_string(),
            "localhost".to_string(),
            format!("localhost:{port}"),
        ];
        if listen.ip().is_loopback() {
            v.push(format!("127.0.0.1:{port}"));
            v.push(format!("[::1]:{port}"));
        }
        v.extend(extra.iter().map(|h| h.to_ascii_lowercase()));
        AllowedHosts(v)
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.0.contains(&host)
    }
}

/// Middleware: a request whose Host is not ours gets 421 (Misdirected Request).
pub(crate) async fn check_host(
    axum::Extension(allowed): axum::Extension<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !allowed.allows(host) {
        return Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!("Host {host:?} is not served here (see http.allowed_hosts)"),
        ));
    }
    Ok(next.run(req).await)
}

/// A JSON request body: at most `max_body_bytes`, read within `body_timeout`, every
/// field known (the types deny unknown fields); any failure is a 4xx JSON error.
pub(crate) struct JsonBody<T>(pub(crate) T);

#[axum::async_trait]
impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<JsonBody<T>, ApiError> {
        let limits = req
            .extensions()
            .get::<Arc<HttpLimits>>()
            .cloned()
            .ok_or_else(|| ApiError::bad_request("no limits configured"))?;
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as Content-Type: application/json",
            ));
        }
        let body: Body = req.into_body();
        let read = axum::body::to_bytes(body, limits.max_body_bytes);
        let bytes = match tokio::time::timeout(limits.body_timeout, read).await {
            Err(_) => {
                return Err(ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "body_timeout",
                    "the request body did not arrive in time",
                ))
            }
            Ok(Err(_)) => {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!("the body is over {} bytes", limits.max_body_bytes),
                ))
            }
            Ok(Ok(b)) => b,
        };
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
    }
}

/// Accepts connections until `shutdown`, at most `max_connections` at once; each gets
/// HTTP/1.1 with a header deadline (keep-alive and WebSocket upgrades allowed).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Arc<HttpLimits>,
    mut shutdown: broadcast::Receiver<()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shutdown.recv() => return,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.recv() => return,
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_allowed_are_ours_only() {
        let a = AllowedHosts::new("127.0.0.1:8080".parse().unwrap(), &["ops.example".into()]);
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "ops.example",
            "[::1]:8080",
        ] {
            assert!(a.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.1:8081",
            "",
            "attacker.example:8080",
        ] {
            assert!(!a.allows(bad), "{bad}");
        }
    }
}
