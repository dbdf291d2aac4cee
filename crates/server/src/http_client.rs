//! A small HTTP/1.1 client for the dialplan's `http` lookups (CRM self-service): plain
//! `http://` URLs, JSON in and out, one request per connection, a hard timeout and a
//! 1 MiB response cap. It never blocks the call: the call task spawns it and gets the
//! result as an event.

use std::time::Duration;

use switchboard_ivr::ast::HttpMethod;
use switchboard_ivr::HttpError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_RESPONSE: usize = 1 << 20;

struct Url {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, HttpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::Network("only http:// URLs are supported".into()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => (authority.to_string(), 80),
        },
        _ => (authority.to_string(), 80),
    };
    if host.is_empty() || path.contains(['\r', '\n', ' ']) {
        return Err(HttpError::Network("bad URL".into()));
    }
    Ok(Url {
        host,
        port,
        path: path.to_string(),
    })
}

/// GET or POST `url`, expecting a JSON answer within `timeout`.
pub(crate) async fn fetch_json(
    method: HttpMethod,
    url: &str,
    body: Option<serde_json::Value>,
    timeout: Duration,
) -> Result<serde_json::Value, HttpError> {
    match tokio::time::timeout(timeout, fetch(method, url, body)).await {
        Ok(r) => r,
        Err(_) => Err(HttpError::Timeout),
    }
}

async fn fetch(
    method: HttpMethod,
    url: &str,
    body: Option<serde_json::Value>,
) -> Result<serde_json::Value, HttpError> {
    let (status, body) = request(method, url, body).await?;
    if !(200..300).contains(&status) {
        return Err(HttpError::Status(status));
    }
    serde_json::from_slice(&body).map_err(|_| HttpError::BadJson)
}

/// POSTs `body` (the screen-pop webhook); success is any 2xx, whatever the answer's body.
pub(crate) async fn post_json(
    url: &str,
    body: serde_json::Value,
    timeout: Duration,
) -> Result<u16, HttpError> {
    match tokio::time::timeout(timeout, request(HttpMethod::Post, url, Some(body))).await {
        Ok(Ok((status, _))) if (200..300).contains(&status) => Ok(status),
        Ok(Ok((status, _))) => Err(HttpError::Status(status)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(HttpError::Timeout),
    }
}

async fn request(
    method: HttpMethod,
    url: &str,
    body: Option<serde_json::Value>,
) -> Result<(u16, Vec<u8>), HttpError> {
    let u = parse_url(url)?;
    let host = u
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let mut s = TcpStream::connect((host.as_str(), u.port))
        .await
        .map_err(|e| HttpError::Network(e.to_string()))?;
    let (verb, payload) = match method {
        HttpMethod::Get => ("GET", String::new()),
        HttpMethod::Post => (
            "POST",
            body.map(|b| b.to_string()).unwrap_or_else(|| "{}".into()),
        ),
    };
    let req = format!(
        "{verb} {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: switchboard\r\n\r\n{payload}",
        u.path,
        u.host,
        payload.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| HttpError::Network(e.to_string()))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            // A peer that closes with a reset after answering still answered.
            Err(_) if buf.windows(4).any(|w| w == b"\r\n\r\n") => 0,
            Err(e) => return Err(HttpError::Network(e.to_string())),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > MAX_RESPONSE {
            return Err(HttpError::Network("response too large".into()));
        }
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| HttpError::Network("no HTTP header".into()))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| HttpError::Network("bad status line".into()))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Err(HttpError::Network(
            "chunked responses are not supported".into(),
        ));
    }
    Ok((status, buf.split_off(split + 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8081/balance?acct=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8081, "/balance?acct=1")
        );
        let u = parse_url("http://crm.example").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        assert!(parse_url("https://x").is_err());
    }

    #[tokio::test]
    async fn fetches_json_and_reports_status_and_timeout() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            for body in [
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"balance\": 12.5}",
                "HTTP/1.1 404 Not Found\r\n\r\n",
            ] {
                let (mut c, _) = l.accept().await.unwrap();
                let mut b = [0u8; 1024];
                let _ = c.read(&mut b).await;
                c.write_all(body.as_bytes()).await.unwrap();
            }
        });
        let url = format!("http://{addr}/b");
        let v = fetch_json(HttpMethod::Get, &url, None, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(v["balance"], 12.5);
        let e = fetch_json(
            HttpMethod::Post,
            &url,
            Some(serde_json::json!({})),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(e, Err(HttpError::Status(404)));
    }
}
