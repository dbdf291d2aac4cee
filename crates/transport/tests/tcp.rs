//! The SIP TCP transport over loopback: a message from a peer's connection is delivered
//! with its source, a reply to that peer reuses the same connection (no new connect), and
//! a connection with no traffic is closed after the idle timeout.

use std::time::Duration;

use bytes::Bytes;
use switchboard_transport::{SipTransport, TransportConfig, TransportKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKt1\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: tcp-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

#[tokio::test]
async fn replies_reuse_the_peers_connection_and_idle_connections_close() {
    let cfg = TransportConfig {
        tcp_idle_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    };
    let (t, mut inbound) = SipTransport::bind(&["127.0.0.1:0".parse().unwrap()], cfg)
        .await
        .unwrap();
    let addr = t.local_addrs()[0];
    let mut peer = TcpStream::connect(addr).await.unwrap();
    // Two messages in one write, split across the framing: both arrive, in order.
    peer.write_all(format!("{OPTIONS}{}", OPTIONS.replace("tcp-1", "tcp-2")).as_bytes())
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), inbound.recv())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), inbound.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.kind, TransportKind::Tcp);
    assert_eq!(first.from, peer.local_addr().unwrap());
    let id = |m: &switchboard_transport::Inbound| {
        m.msg
            .as_ref()
            .unwrap()
            .headers()
            .call_id()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        (id(&first), id(&second)),
        ("tcp-1".to_string(), "tcp-2".to_string())
    );
    // The reply goes back on the same connection.
    t.send(
        TransportKind::Tcp,
        first.from,
        Bytes::from_static(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
    )
    .await
    .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), peer.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200 OK"));
    assert_eq!(
        t.stats()
            .tcp_connections
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "no second connection"
    );
    // Then silence: the server closes the connection after the idle timeout.
    let closed = tokio::time::timeout(Duration::from_secs(5), peer.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed, 0, "EOF after the idle timeout");
}
