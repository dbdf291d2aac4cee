//! A small HTTP/1.1 client for the dialplan's `http` lookups (CRM self-service) and the
//! screen-pop webhook: `http://` and `https://` URLs, JSON in and out, one request per
//! connection, a hard timeout and a 1 MiB response cap. It never blocks the call: the call
//! task spawns it and gets the result as an event. TLS is rustls (ring provider) with the
//! URL's host as the server name (SNI and certificate check, never skipped); the trust
//! roots are the Mozilla bundle of `webpki-roots` plus an optional `[ivr] http_ca_file`,
//! read once at start (docs/decisions/0021-https-client.md). It is not a general HTTP
//! client: no redirects, no chunked answers, no keep-alive, no proxies.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use switchboard_ivr::ast::HttpMethod;
use switchboard_ivr::HttpError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const MAX_RESPONSE: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Http,
    Https,
}

#[derive(Debug)]
struct Url {
    scheme: Scheme,
    /// As written in the URL (IPv6 literals keep their brackets): the `Host` header.
    host: String,
    port: u16,
    path: String,
}

impl Url {
    /// The host to connect to and to name in TLS: IPv6 literals without brackets.
    fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

fn parse_url(url: &str) -> Result<Url, HttpError> {
    let (scheme, rest) = if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else {
        return Err(HttpError::Network(
            "only http:// and https:// URLs are supported".into(),
        ));
    };
    let default_port = match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err(HttpError::Network(
            "credentials in URLs are not supported".into(),
        ));
    }
    let (host, port) = if authority.starts_with('[') {
        // IPv6 literal: `[::1]` or `[::1]:8443`.
        let close = authority
            .find(']')
            .ok_or_else(|| HttpError::Network("bad URL: unclosed [".into()))?;
        let host = &authority[..=close];
        match &authority[close + 1..] {
            "" => (host, default_port),
            p => (
                host,
                p.strip_prefix(':')
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| HttpError::Network("bad URL: port".into()))?,
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse()
                    .map_err(|_| HttpError::Network("bad URL: port".into()))?,
            ),
            None => (authority, default_port),
        }
    };
    if host.is_empty() || host == "[]" || port == 0 || path.contains(['\r', '\n', ' ']) {
        return Err(HttpError::Network("bad URL".into()));
    }
    Ok(Url {
        scheme,
        host: host.to_string(),
        port,
        path,
    })
}

/// The client of dialplan lookups and screen pops: its TLS settings, built once at start.
#[derive(Clone)]
pub(crate) struct HttpClient {
    tls: TlsConnector,
}

impl HttpClient {
    /// Trust roots: the `webpki-roots` bundle plus every certificate in `ca_file` (PEM).
    pub(crate) fn new(ca_file: Option<&Path>) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            let mut added = 0;
            for cert in CertificateDer::pem_file_iter(path)
                .with_context(|| format!("ivr.http_ca_file {}", path.display()))?
            {
                let cert =
                    cert.with_context(|| format!("ivr.http_ca_file {}: bad PEM", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("ivr.http_ca_file {}", path.display()))?;
                added += 1;
            }
            if added == 0 {
                bail!(
                    "ivr.http_ca_file {}: no CERTIFICATE in the file",
                    path.display()
                );
            }
        }
        // ring, not aws-lc-rs (no cmake/C build step on CI). rustls 0.23.48 marks ring's
        // provider deprecated only because it lacks post-quantum key exchange (0021).
        #[allow(deprecated)]
        let provider = rustls::crypto::ring::default_provider();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
        })
    }

    /// GET or POST `url`, expecting a JSON answer within `timeout`.
    pub(crate) async fn fetch_json(
        &self,
        method: HttpMethod,
        url: &str,
        body: Option<serde_json::Value>,
        timeout: Duration,
    ) -> Result<serde_json::Value, HttpError> {
        match tokio::time::timeout(timeout, self.fetch(method, url, body)).await {
            Ok(r) => r,
            Err(_) => Err(HttpError::Timeout),
        }
    }

    async fn fetch(
        &self,
        method: HttpMethod,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, HttpError> {
        let (status, body) = self.request(method, url, body).await?;
        if !(200..300).contains(&status) {
            return Err(HttpError::Status(status));
        }
        serde_json::from_slice(&body).map_err(|_| HttpError::BadJson)
    }

    /// POSTs `body` (the screen-pop webhook); success is any 2xx, whatever the answer's body.
    pub(crate) async fn post_json(
        &self,
        url: &str,
        body: serde_json::Value,
        timeout: Duration,
    ) -> Result<u16, HttpError> {
        match tokio::time::timeout(timeout, self.request(HttpMethod::Post, url, Some(body))).await {
            Ok(Ok((status, _))) if (200..300).contains(&status) => Ok(status),
            Ok(Ok((status, _))) => Err(HttpError::Status(status)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HttpError::Timeout),
        }
    }

    async fn request(
        &self,
        method: HttpMethod,
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let u = parse_url(url)?;
        let tcp = TcpStream::connect((u.bare_host(), u.port))
            .await
            .map_err(|e| HttpError::Network(e.to_string()))?;
        match u.scheme {
            Scheme::Http => exchange(tcp, &u, method, body).await,
            Scheme::Https => {
                let name = ServerName::try_from(u.bare_host().to_string())
                    .map_err(|_| HttpError::Network("bad TLS server name".into()))?;
                let tls = self.tls.connect(name, tcp).await.map_err(|e| {
                    tracing::warn!(host = %u.host, port = u.port, error = %e, "https lookup: TLS handshake failed");
                    HttpError::Network(format!("TLS: {e}"))
                })?;
                exchange(tls, &u, method, body).await
            }
        }
    }
}

/// Writes the request and reads the whole answer (the server closes the connection).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    u: &Url,
    method: HttpMethod,
    body: Option<serde_json::Value>,
) -> Result<(u16, Vec<u8>), HttpError> {
    let (verb, payload) = match method {
        HttpMethod::Get => ("GET", String::new()),
        HttpMethod::Post => (
            "POST",
            body.map(|b| b.to_string()).unwrap_or_else(|| "{}".into()),
        ),
    };
    let default_port = matches!(
        (u.scheme, u.port),
        (Scheme::Http, 80) | (Scheme::Https, 443)
    );
    let host = if default_port {
        u.host.clone()
    } else {
        format!("{}:{}", u.host, u.port)
    };
    let req = format!(
        "{verb} {} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: switchboard\r\n\r\n{payload}",
        u.path,
        payload.len()
    );
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| HttpError::Network(e.to_string()))?;
    s.flush()
        .await
        .map_err(|e| HttpError::Network(e.to_string()))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // Once the head is in: where the body starts and the length it announces.
    let mut framing: Option<(usize, Option<usize>)> = None;
    loop {
        if let Some((start, Some(len))) = framing {
            if buf.len() >= start + len {
                break;
            }
        }
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            // A peer that closes with a reset (or, over TLS, without close_notify) after
            // answering still answered.
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
        if framing.is_none() {
            if let Some(split) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let len = content_length(&String::from_utf8_lossy(&buf[..split]))?;
                framing = Some((split + 4, len));
            }
        }
    }
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| HttpError::Network("no HTTP header".into()))?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    // A body shorter than its Content-Length was cut off (a connection reset, or TLS
    // closed without close_notify): not an answer.
    if let Some(len) = content_length(&head)? {
        let got = buf.len() - (split + 4);
        if got < len {
            return Err(HttpError::Network(format!(
                "response cut short: {got} of {len} bytes"
            )));
        }
        buf.truncate(split + 4 + len);
    }
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

/// The `Content-Length` of a response head, if it has one (a malformed one is an error).
fn content_length(head: &str) -> Result<Option<usize>, HttpError> {
    for line in head.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("content-length") {
            return value
                .trim()
                .parse::<usize>()
                .map(Some)
                .map_err(|_| HttpError::Network("bad Content-Length".into()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8081/balance?acct=1").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Http, "127.0.0.1", 8081, "/balance?acct=1")
        );
        let u = parse_url("http://crm.example").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/"));
        let u = parse_url("https://crm.example/a?b=1").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.path.as_str()),
            (Scheme::Https, "crm.example", 443, "/a?b=1")
        );
        let u = parse_url("https://crm.example:8443?q=1").unwrap();
        assert_eq!((u.port, u.path.as_str()), (8443, "/?q=1"));
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("https://x:port/").is_err());
        assert!(parse_url("https://user:pw@x/").is_err());
        assert!(parse_url("https:///a").is_err());
    }

    #[test]
    fn ipv6_literals() {
        let u = parse_url("https://[::1]/crm").unwrap();
        assert_eq!(
            (u.host.as_str(), u.bare_host(), u.port, u.path.as_str()),
            ("[::1]", "::1", 443, "/crm")
        );
        let u = parse_url("http://[2001:db8::7]:8080/x").unwrap();
        assert_eq!((u.bare_host(), u.port), ("2001:db8::7", 8080));
        assert!(parse_url("http://[::1/x").is_err());
        assert!(parse_url("http://[::1]x/").is_err());
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_at_start() {
        let dir = std::env::temp_dir().join(format!("sb-http-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("empty.pem");
        std::fs::write(&p, "not a certificate\n").unwrap();
        let err = HttpClient::new(Some(&p)).err().unwrap().to_string();
        assert!(err.contains("http_ca_file"), "{err}");
        assert!(HttpClient::new(Some(&dir.join("missing.pem"))).is_err());
        assert!(HttpClient::new(None).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_tls_failure_is_a_network_error() {
        // A server that is not speaking TLS: the handshake fails, the lookup reports it.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1024];
            let _ = c.read(&mut b).await;
            let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let client = HttpClient::new(None).unwrap();
        let r = client
            .fetch_json(
                HttpMethod::Get,
                &format!("https://{addr}/b"),
                None,
                Duration::from_secs(5),
            )
            .await;
        match r {
            Err(HttpError::Network(m)) => assert!(m.starts_with("TLS"), "{m}"),
            other => panic!("expected a TLS network error, got {other:?}"),
        }
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
        let client = HttpClient::new(None).unwrap();
        let v = client
            .fetch_json(HttpMethod::Get, &url, None, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(v["balance"], 12.5);
        let e = client
            .fetch_json(
                HttpMethod::Post,
                &url,
                Some(serde_json::json!({})),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(e, Err(HttpError::Status(404)));
    }

    #[tokio::test]
    async fn a_body_shorter_than_its_content_length_is_an_error_and_a_whole_one_ends_the_read() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (keep_tx, keep_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            // Cut off: announces 40 bytes, sends 10, closes.
            let (mut c, _) = l.accept().await.unwrap();
            let mut b = [0u8; 1024];
            let _ = c.read(&mut b).await;
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"a\": 1234")
                .await
                .unwrap();
            drop(c);
            // Whole body, connection kept open: the client must not wait for the close.
            let (mut c, _) = l.accept().await.unwrap();
            let _ = c.read(&mut b).await;
            c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"a\": 1}")
                .await
                .unwrap();
            let _ = keep_rx.await;
        });
        let url = format!("http://{addr}/b");
        let client = HttpClient::new(None).unwrap();
        let cut = client
            .fetch_json(HttpMethod::Get, &url, None, Duration::from_secs(5))
            .await;
        assert!(
            matches!(&cut, Err(HttpError::Network(m)) if m.contains("cut short")),
            "{cut:?}"
        );
        let whole = client
            .fetch_json(HttpMethod::Get, &url, None, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(whole["a"], 1);
        let _ = keep_tx.send(());
    }

    #[test]
    fn content_length_is_read_case_blind_and_checked() {
        assert_eq!(
            content_length("HTTP/1.1 200 OK\r\ncontent-LENGTH: 7"),
            Ok(Some(7))
        );
        assert_eq!(content_length("HTTP/1.1 200 OK\r\nX: y"), Ok(None));
        assert!(content_length("HTTP/1.1 200 OK\r\nContent-Length: -1").is_err());
    }
}
