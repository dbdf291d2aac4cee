//! TCP limits over loopback: per-source and global connection caps close the excess at
//! once without stalling the listener for other sources, and a connection that does not
//! complete a message in time is closed. Each is counted.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchboard_transport::{InboundReceiver, SipTransport, TransportConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const OPTIONS: &str = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKt1\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: lim-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

async fn bind(cfg: TransportConfig) -> (SipTransport, InboundReceiver, SocketAddr) {
    let (t, rx) = SipTransport::bind(&["127.0.0.1:0".parse().unwrap()], cfg)
        .await
        .unwrap();
    let addr = t.local_addrs()[0];
    (t, rx, addr)
}

async fn connect_from(ip: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    s.connect(to).await.unwrap()
}

/// Whether the server closed `s` (EOF or reset) within 10 s.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// A connection from `ip` delivers a message.
async fn delivers(ip: &str, to: SocketAddr, rx: &mut InboundReceiver) -> bool {
    let mut s = connect_from(ip, to).await;
    s.write_all(OPTIONS.as_bytes()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    matches!(got, Ok(Some(m)) if m.from == s.local_addr().unwrap())
}

#[tokio::test]
async fn per_source_cap_closes_the_excess_and_other_sources_still_connect() {
    let cfg = TransportConfig {
        max_tcp_per_source: 3,
        ..TransportConfig::default()
    };
    let (t, mut rx, addr) = bind(cfg).await;
    let mut conns = Vec::new();
    for _ in 0..10 {
        conns.push(connect_from("127.0.0.2", addr).await);
    }
    let mut closed = 0;
    for c in conns.iter_mut().skip(3) {
        closed += usize::from(closed_by_server(c).await);
    }
    assert_eq!(closed, 7);
    assert_eq!(t.stats().tcp_refused_per_source.load(Ordering::Relaxed), 7);
    assert!(delivers("127.0.0.3", addr, &mut rx).await);
    // The three admitted ones are still usable.
    conns[0].write_all(OPTIONS.as_bytes()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(matches!(got, Ok(Some(_))));
    // Closing one frees a slot for that source.
    drop(conns.remove(1));
    let freed = wait_until(|| t.stats().tcp_open.load(Ordering::Relaxed) <= 3).await;
    assert!(freed);
    assert!(delivers("127.0.0.2", addr, &mut rx).await);
}

/// Polls `f` every 20 ms for up to 10 s.
async fn wait_until(f: impl Fn() -> bool) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn global_cap_closes_the_excess_without_stalling_the_listener() {
    let cfg = TransportConfig {
        max_tcp_connections: 4,
        max_tcp_per_source: 100,
        ..TransportConfig::default()
    };
    let (t, mut rx, addr) = bind(cfg).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from("127.0.0.2", addr).await);
    }
    let mut extra = connect_from("127.0.0.4", addr).await;
    assert!(closed_by_server(&mut extra).await);
    assert_eq!(t.stats().tcp_refused_global.load(Ordering::Relaxed), 1);
    // Room again once one goes away: the listener kept accepting meanwhile.
    drop(held.pop());
    assert!(wait_until(|| t.stats().tcp_open.load(Ordering::Relaxed) <= 3).await);
    assert!(delivers("127.0.0.4", addr, &mut rx).await);
}

#[tokio::test]
async fn silent_and_slow_connections_are_closed_at_the_message_deadline() {
    let cfg = TransportConfig {
        tcp_message_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    };
    let (t, _rx, addr) = bind(cfg).await;
    let mut silent = connect_from("127.0.0.2", addr).await;
    let mut slow = connect_from("127.0.0.2", addr).await;
    slow.write_all(&OPTIONS.as_bytes()[..40]).await.unwrap();
    assert!(closed_by_server(&mut silent).await);
    assert!(closed_by_server(&mut slow).await);
    assert_eq!(t.stats().tcp_message_timeouts.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn keepalive_pings_get_a_pong_and_do_not_count_as_a_slow_message() {
    let cfg = TransportConfig {
        tcp_message_timeout: Duration::from_millis(300),
        ..TransportConfig::default()
    };
    let (t, mut rx, addr) = bind(cfg).await;
    let mut phone = connect_from("127.0.0.2", addr).await;
    phone.write_all(OPTIONS.as_bytes()).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .is_ok_and(|m| m.is_some()));
    // Pings, each answered, across several message deadlines.
    for _ in 0..4 {
        phone.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), phone.read_exact(&mut pong))
            .await
            .expect("pong in time")
            .expect("pong");
        assert_eq!(&pong, b"\r\n");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Still open: the next message is delivered.
    phone
        .write_all(OPTIONS.replace("lim-1", "lim-2").as_bytes())
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
    assert!(matches!(got, Ok(Some(_))));
    assert_eq!(t.stats().tcp_message_timeouts.load(Ordering::Relaxed), 0);
}
