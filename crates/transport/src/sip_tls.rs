//! SIP over TLS (RFC 3261 §26.2, RFC 5630): a TLS listener with the same per-source
//! connection caps, first-message deadline and idle timeout as TCP, and outbound TLS
//! connections to peers whose server name and trust roots the caller registered (carrier
//! trunks). The TLS settings themselves (certificates, client-certificate policy) are the
//! caller's: this module takes finished rustls configurations.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::sip_transport::{SipTransport, SourceSlot, TransportError, TransportKind};

/// The TLS listener's settings, part of [`TransportConfig`](crate::TransportConfig).
#[derive(Clone, Debug)]
pub struct TlsListen {
    /// Addresses to accept SIP over TLS on (port 0 picks a free one).
    pub addrs: Vec<SocketAddr>,
    /// Our certificate chain, key and client-certificate policy.
    pub server: Arc<ServerConfig>,
}

/// Who to expect at an outbound TLS destination: the name its certificate must carry and
/// the roots it must chain to.
#[derive(Clone, Debug)]
pub struct TlsPeer {
    /// Checked against the peer certificate's subject alternative names.
    pub server_name: ServerName<'static>,
    /// Trust roots (and our client certificate, if the peer wants one).
    pub client: Arc<ClientConfig>,
}

/// The lowercase hex SHA-256 of a DER certificate: how a pinned client certificate is
/// named in configuration (`openssl x509 -noout -fingerprint -sha256`, colons and case
/// ignored).
pub fn cert_sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

pub(crate) async fn bind_tls(
    addrs: &[SocketAddr],
) -> Result<Vec<(TcpListener, SocketAddr)>, TransportError> {
    let mut out = Vec::new();
    for addr in addrs {
        let l = TcpListener::bind(addr)
            .await
            .map_err(|error| TransportError::Bind {
                kind: TransportKind::Tls,
                addr: *addr,
                error,
            })?;
        let local = l.local_addr()?;
        out.push((l, local));
    }
    Ok(out)
}

/// Accepts TCP connections for TLS: the same caps as plain TCP, checked before any
/// handshake work; the handshake runs on the connection's own task, bounded by the
/// first-message deadline, so a peer that never finishes it blocks nobody.
pub(crate) async fn tls_acceptor(
    t: SipTransport,
    listener: TcpListener,
    server: Arc<ServerConfig>,
) {
    let acceptor = TlsAcceptor::from(server);
    let mut backoff = std::time::Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = std::time::Duration::from_millis(10);
                let Some((permit, slot)) = t.admit_inbound(peer) else {
                    drop(stream);
                    continue;
                };
                let t = t.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let deadline = tokio::time::Instant::now() + t.config().tcp_message_timeout;
                    let _ = stream.set_nodelay(true);
                    let local = stream.local_addr().unwrap_or(peer);
                    let tls = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            t.stats()
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(error = %e, "SIP TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            t.stats()
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            t.stats()
                                .tcp_message_timeouts
                                .fetch_add(1, Ordering::Relaxed);
                            tracing::debug!("SIP TLS handshake not complete in time");
                            return;
                        }
                    };
                    t.stats().tls_handshakes.fetch_add(1, Ordering::Relaxed);
                    let cert = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| Arc::<str>::from(cert_sha256_hex(c.as_ref())));
                    t.start_connection(
                        tls,
                        TransportKind::Tls,
                        peer,
                        local,
                        permit,
                        Some(slot),
                        cert,
                    );
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP TLS accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
            }
        }
    }
}

/// Opens a TLS connection to `to` as `peer` describes (server name verified) and starts
/// its connection task; returns the connection's send queue.
pub(crate) async fn connect_tls(
    t: &SipTransport,
    to: SocketAddr,
    peer: TlsPeer,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<tokio::sync::mpsc::Sender<bytes::Bytes>, TransportError> {
    let deadline = tokio::time::Instant::now() + t.config().tcp_message_timeout;
    let stream = tokio::time::timeout_at(deadline, TcpStream::connect(to))
        .await
        .map_err(|_| TransportError::Io(std::io::ErrorKind::TimedOut.into()))??;
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().unwrap_or(to);
    let connector = TlsConnector::from(peer.client);
    let tls = match tokio::time::timeout_at(deadline, connector.connect(peer.server_name, stream))
        .await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            t.stats()
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(TransportError::Tls(e.to_string()));
        }
        Err(_) => {
            t.stats()
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(TransportError::Tls("handshake timed out".into()));
        }
    };
    t.stats().tls_handshakes.fetch_add(1, Ordering::Relaxed);
    Ok(t.start_connection(tls, TransportKind::Tls, to, local, permit, None, None))
}

/// The slot a refused inbound connection would have needed; kept here so the TLS and TCP
/// acceptors share one admission rule.
pub(crate) type Admitted = (tokio::sync::OwnedSemaphorePermit, SourceSlot);
