//! UDP + TCP listeners for SIP.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use switchboard_sip_message::{
    keepalive_prefix, parse_datagram, parse_stream, Limits, Message, ParseError,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, Semaphore};

pub use crate::inbound_queue::PriorityClass;
use crate::inbound_queue::{Producers, Receiver, Refusal};
use crate::sip_tls::{TlsListen, TlsPeer};

/// Which transport a message came in on or goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// Unreliable datagrams: the transaction layer retransmits.
    Udp,
    /// A reliable stream: no retransmissions, Content-Length framing.
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2): framed as TCP.
    Tls,
}

impl TransportKind {
    /// The Via transport token.
    pub fn as_via_token(self) -> &'static str {
        match self {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
            TransportKind::Tls => "TLS",
        }
    }
    /// Whether the transport is reliable (RFC 3261 §17: no retransmission timers).
    pub fn is_reliable(self) -> bool {
        matches!(self, TransportKind::Tcp | TransportKind::Tls)
    }
}

/// Knobs for [`SipTransport::bind`].
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Message size bounds handed to the parser.
    pub limits: Limits,
    /// A TCP connection with no traffic for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// At most this many TCP connections at once (inbound and outbound). An inbound
    /// connection beyond it is accepted and closed at once (counted), so the listener
    /// never stalls: a full table does not stop the next accept. The last eighth is kept
    /// for sources that hold fewer than two connections.
    pub max_tcp_connections: usize,
    /// At most this many inbound TCP connections from one source IP; more are accepted
    /// and closed at once (counted).
    pub max_tcp_per_source: usize,
    /// An inbound connection must deliver its first complete message within this long,
    /// and any later message must complete within this long of its first byte; else the
    /// connection is closed (counted). Bounds slow senders that the idle timeout misses.
    pub tcp_message_timeout: Duration,
    /// Most messages waiting in the inbound queue (served round-robin per source, see
    /// [`InboundReceiver`]); when full, UDP datagrams are dropped (and counted) and stream
    /// messages wait, rather than queueing without bound.
    pub inbound_queue: usize,
    /// Most bytes of received messages waiting in the inbound queue (raw sizes); a UDP
    /// datagram that would exceed it is dropped and counted, so a flood of large
    /// messages cannot queue `inbound_queue` x 64 kB.
    pub inbound_queue_bytes: usize,
    /// Receive buffer asked of the kernel for each SIP UDP socket (the kernel caps it at
    /// `net.core.rmem_max`). While the reader is not scheduled (a busy machine), datagrams
    /// wait there; when it is full, the kernel drops them unseen, a quiet source's
    /// included, so a larger buffer turns a burst into a short wait instead of a loss
    /// (and a 500 ms retransmission).
    pub udp_recv_buffer: usize,
    /// SIP over TLS listeners; `None`: no TLS. TLS connections share the TCP caps
    /// (`max_tcp_connections`, `max_tcp_per_source`) and timeouts; the handshake must
    /// finish within `tcp_message_timeout`, and then the first message within another.
    pub tls: Option<TlsListen>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            limits: Limits::default(),
            tcp_idle_timeout: Duration::from_secs(600),
            max_tcp_connections: 4096,
            max_tcp_per_source: 32,
            tcp_message_timeout: Duration::from_secs(10),
            inbound_queue: 8192,
            inbound_queue_bytes: 16 << 20,
            udp_recv_buffer: 4 << 20,
            tls: None,
        }
    }
}

/// One received message (or a parse failure, with the raw bytes for a best-effort 400).
#[derive(Debug)]
pub struct Inbound {
    /// The transport it came in on.
    pub kind: TransportKind,
    /// The peer's address (the source of the datagram or the TCP peer).
    pub from: SocketAddr,
    /// Our local address it arrived at.
    pub local: SocketAddr,
    /// The parsed message or why it could not be parsed.
    pub msg: Result<Message, ParseError>,
    /// The raw bytes of the message (for diagnostics and best-effort error replies).
    pub raw: Bytes,
    /// Over TLS: the SHA-256 (lowercase hex) of the certificate the peer presented, if
    /// any (a pinned trunk certificate; see [`cert_sha256_hex`](crate::cert_sha256_hex)).
    pub client_cert_sha256: Option<Arc<str>>,
    /// When it was received: a datagram's return from the socket, a stream message's end
    /// of framing (what waited in the inbound queue and the driver's turns follows).
    pub received: Instant,
}

/// What waits in the inbound queue: a stream message, framed and parsed by its
/// connection's task, or a datagram, parsed only when the driver takes it. (Unboxed: the
/// queue's slots are reused, so a datagram's slot being as large as a message's costs
/// memory once, where a box would cost an allocation per stream message.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Queued {
    /// A message from a TCP or TLS connection.
    Stream(Inbound),
    /// A UDP datagram as received.
    Datagram {
        from: SocketAddr,
        local: SocketAddr,
        raw: Bytes,
        received: Instant,
    },
}

/// The SIP driver's end of the inbound queue: messages in round-robin order of their
/// sources (an IPv4 address, an IPv6 /64), each source's in the order received.
///
/// A datagram is parsed here, when the driver takes it, not by the socket's reader: the
/// reader is the stage in front of the kernel's first-in-first-out socket buffer, so its
/// cost per datagram decides how soon a quiet source's datagram gets past a flood into
/// the fair queue (decision 0046).
pub struct InboundReceiver {
    rx: Receiver<Queued>,
    limits: Limits,
    stats: Arc<TransportStats>,
}

impl InboundReceiver {
    /// The next message (waiting for one); `None` once the transport is gone and nothing
    /// is queued.
    pub async fn recv(&mut self) -> Option<Inbound> {
        let queued = self.rx.recv().await?;
        Some(match queued {
            Queued::Stream(m) => m,
            Queued::Datagram {
                from,
                local,
                raw,
                received,
            } => {
                let msg = parse_datagram(&raw, &self.limits);
                if msg.is_err() {
                    self.stats.udp_malformed.fetch_add(1, Ordering::Relaxed);
                }
                Inbound {
                    kind: TransportKind::Udp,
                    from,
                    local,
                    msg,
                    raw,
                    client_cert_sha256: None,
                    received,
                }
            }
        })
    }
}

/// Errors binding and sending.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// No listener of that kind for the destination's address family.
    #[error("no {0:?} socket for this address family")]
    NoSocket(TransportKind),
    /// An I/O error from the OS (its text is this error's own, not repeated as a source).
    #[error("i/o: {0}")]
    Io(std::io::Error),
    /// A listen address could not be bound (e.g. `AddrInUse`: another process has it).
    #[error("cannot listen for SIP over {} on {addr}: {error}", kind.as_via_token())]
    Bind {
        /// UDP or TCP.
        kind: TransportKind,
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        error: std::io::Error,
    },
    /// The TCP connection cap is reached.
    #[error("too many TCP connections")]
    TooManyConnections,
    /// No connection to this TLS destination and no [`TlsPeer`] registered for it (we
    /// open TLS only to peers whose certificate name we know, e.g. trunks; a phone's
    /// connection is its own).
    #[error("no TLS connection to {0} and no server name to open one")]
    NoTlsPeer(SocketAddr),
    /// The TLS handshake failed (certificate, name, protocol).
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection closed before the bytes could be queued.
    #[error("connection closed")]
    Closed,
}

impl From<std::io::Error> for TransportError {
    fn from(e: std::io::Error) -> Self {
        TransportError::Io(e)
    }
}

/// Counters, read by the metrics endpoint.
#[derive(Debug, Default)]
pub struct TransportStats {
    /// Datagrams received.
    pub udp_in: AtomicU64,
    /// Datagrams that failed to parse.
    pub udp_malformed: AtomicU64,
    /// Datagrams dropped because the inbound queue was full (those dropped because their
    /// source held its share of the queue included).
    pub udp_dropped: AtomicU64,
    /// Datagrams dropped before parsing because the inbound queue was over half full and
    /// their source already held its share (an eighth) of its messages or bytes; also
    /// counted in `udp_dropped`.
    pub udp_share_dropped: AtomicU64,
    /// Datagrams dropped because only the reserve for priority sources (registered phones,
    /// trunks) was left in the inbound queue and their source is not one (also counted in
    /// `udp_dropped`).
    pub udp_reserve_dropped: AtomicU64,
    /// TCP connections accepted or opened.
    pub tcp_connections: AtomicU64,
    /// TCP connections closed for framing errors.
    pub tcp_framing_errors: AtomicU64,
    /// Inbound TCP connections closed at once: the global cap was reached (or its last
    /// eighth, kept for sources with fewer than two connections).
    pub tcp_refused_global: AtomicU64,
    /// Inbound TCP connections closed at once: their source had `max_tcp_per_source`.
    pub tcp_refused_per_source: AtomicU64,
    /// TCP connections closed because a message did not complete in time.
    pub tcp_message_timeouts: AtomicU64,
    /// TCP connections closed by the idle timeout.
    pub tcp_idle_closed: AtomicU64,
    /// TCP connections open now (inbound and outbound, TLS included).
    pub tcp_open: AtomicU64,
    /// TLS handshakes completed (inbound and outbound).
    pub tls_handshakes: AtomicU64,
    /// TLS handshakes that failed or did not finish in time (a plain TCP client on the
    /// TLS port ends here).
    pub tls_handshake_failures: AtomicU64,
}

type ConnTable = Arc<Mutex<HashMap<(TransportKind, SocketAddr), mpsc::Sender<Bytes>>>>;
type SourceCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// When fewer than an eighth of the global TCP connection slots are left, a source may
/// take one only while it holds fewer than this many: the last slots go to new sources
/// (a phone needs one), not to whoever filled the rest.
const SCARCE_PER_SOURCE: usize = 2;

/// One inbound connection's place in its source's count; released on drop.
pub(crate) struct SourceSlot {
    counts: SourceCounts,
    ip: IpAddr,
}

impl SourceSlot {
    /// Takes a slot for `ip` unless it already holds `max` (or, when connections are
    /// `scarce`, already holds [`SCARCE_PER_SOURCE`]).
    fn take(counts: &SourceCounts, ip: IpAddr, max: usize, scarce: bool) -> Option<SourceSlot> {
        let mut c = counts.lock().ok()?;
        let n = c.entry(ip).or_insert(0);
        let max = if scarce {
            max.min(SCARCE_PER_SOURCE)
        } else {
            max
        };
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            counts: counts.clone(),
            ip,
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Ok(mut c) = self.counts.lock() {
            if let Some(n) = c.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.remove(&self.ip);
                }
            }
        }
    }
}

/// Handle to the bound SIP sockets; cheap to clone.
#[derive(Clone)]
pub struct SipTransport {
    udp: Arc<Vec<Arc<UdpSocket>>>,
    conns: ConnTable,
    permits: Arc<Semaphore>,
    per_source: SourceCounts,
    inbound: Arc<Producers<Queued>>,
    cfg: Arc<TransportConfig>,
    stats: Arc<TransportStats>,
    local: Arc<Vec<SocketAddr>>,
    tls_local: Arc<Vec<SocketAddr>>,
    tls_peers: Arc<Mutex<HashMap<SocketAddr, TlsPeer>>>,
}

impl SipTransport {
    /// Binds UDP and TCP on every address (port 0 picks a free port, the same for both
    /// when possible) and starts the receive tasks. Returns the handle and the inbound
    /// message stream.
    pub async fn bind(
        addrs: &[SocketAddr],
        cfg: TransportConfig,
    ) -> Result<(SipTransport, InboundReceiver), TransportError> {
        let (tx, rx) = crate::inbound_queue::channel(cfg.inbound_queue, cfg.inbound_queue_bytes);
        let cfg = Arc::new(cfg);
        let stats = Arc::new(TransportStats::default());
        let rx = InboundReceiver {
            rx,
            limits: cfg.limits.clone(),
            stats: stats.clone(),
        };
        let conns: ConnTable = Arc::new(Mutex::new(HashMap::new()));
        let permits = Arc::new(Semaphore::new(cfg.max_tcp_connections.max(1)));
        let mut udps = Vec::new();
        let mut locals = Vec::new();
        let mut listeners = Vec::new();
        for addr in addrs {
            let (udp, tcp) = bind_pair(*addr).await?;
            if let Err(e) = socket2::SockRef::from(&udp).set_recv_buffer_size(cfg.udp_recv_buffer) {
                tracing::warn!(error = %e, "cannot size the SIP UDP receive buffer");
            }
            locals.push(udp.local_addr()?);
            udps.push(Arc::new(udp));
            listeners.push(tcp);
        }
        let tls_listeners = match &cfg.tls {
            Some(tls) => crate::sip_tls::bind_tls(&tls.addrs).await?,
            None => Vec::new(),
        };
        let transport = SipTransport {
            udp: Arc::new(udps),
            conns,
            permits,
            per_source: Arc::default(),
            inbound: Arc::new(tx),
            cfg,
            stats,
            local: Arc::new(locals),
            tls_local: Arc::new(tls_listeners.iter().map(|(_, a)| *a).collect()),
            tls_peers: Arc::default(),
        };
        for sock in transport.udp.iter() {
            tokio::spawn(udp_reader(transport.clone(), sock.clone()));
        }
        for l in listeners {
            tokio::spawn(tcp_acceptor(transport.clone(), l));
        }
        if let Some(tls) = &transport.cfg.tls {
            for (l, _) in tls_listeners {
                tokio::spawn(crate::sip_tls::tls_acceptor(
                    transport.clone(),
                    l,
                    tls.server.clone(),
                ));
            }
        }
        Ok((transport, rx))
    }

    /// The bound local addresses (UDP and TCP share each one).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// The bound TLS listen addresses (empty without TLS).
    pub fn tls_local_addrs(&self) -> &[SocketAddr] {
        &self.tls_local
    }

    /// The counters.
    pub fn stats(&self) -> &TransportStats {
        &self.stats
    }

    /// Messages waiting in the inbound queue now.
    pub fn inbound_queued(&self) -> usize {
        self.inbound.len()
    }

    /// Replaces the list `class` of priority sources of the inbound queue: their messages
    /// are served before unknown sources' and may use the last quarter of the queue, which
    /// unknown sources may not (decision 0046, spoofed many-source floods).
    pub fn set_priority_sources(&self, class: PriorityClass, sources: Vec<IpAddr>) {
        self.inbound.set_priority_sources(class, sources);
    }

    pub(crate) fn config(&self) -> &TransportConfig {
        &self.cfg
    }

    /// Registers who to expect at outbound TLS destination `to` (a trunk): sends over TLS
    /// to `to` with no live connection open one and verify the certificate against it.
    pub fn set_tls_peer(&self, to: SocketAddr, peer: TlsPeer) {
        if let Ok(mut p) = self.tls_peers.lock() {
            p.insert(to, peer);
        }
    }

    /// Whether a connection of `kind` (TCP or TLS) to `to` is open now.
    pub fn has_connection(&self, kind: TransportKind, to: SocketAddr) -> bool {
        self.conns
            .lock()
            .map(|t| t.contains_key(&(kind, to)))
            .unwrap_or(false)
    }

    /// Sends bytes. UDP never blocks (a full socket buffer drops the datagram; the
    /// transaction layer retransmits). TCP reuses a connection to `to` if one exists
    /// (inbound or outbound), else connects.
    pub async fn send(
        &self,
        kind: TransportKind,
        to: SocketAddr,
        bytes: Bytes,
    ) -> Result<(), TransportError> {
        match kind {
            TransportKind::Udp => self.send_udp(to, &bytes),
            TransportKind::Tcp | TransportKind::Tls => {
                let existing = self
                    .conns
                    .lock()
                    .ok()
                    .and_then(|t| t.get(&(kind, to)).cloned());
                if let Some(tx) = existing {
                    if tx.send(bytes.clone()).await.is_ok() {
                        return Ok(());
                    }
                }
                let tls_peer = if kind == TransportKind::Tls {
                    let p = self.tls_peers.lock().ok().and_then(|p| p.get(&to).cloned());
                    Some(p.ok_or(TransportError::NoTlsPeer(to))?)
                } else {
                    None
                };
                let permit = self
                    .permits
                    .clone()
                    .try_acquire_owned()
                    .map_err(|_| TransportError::TooManyConnections)?;
                let tx = match tls_peer {
                    Some(peer) => crate::sip_tls::connect_tls(self, to, peer, permit).await?,
                    None => {
                        let stream = TcpStream::connect(to).await?;
                        let _ = stream.set_nodelay(true);
                        let local = stream.local_addr().unwrap_or(to);
                        self.start_connection(stream, kind, to, local, permit, None, None)
                    }
                };
                tx.send(bytes).await.map_err(|_| TransportError::Closed)
            }
        }
    }

    /// Sends without waiting: UDP at once; TCP on an existing connection if its queue has
    /// room, otherwise on a spawned task that connects first. Errors are counted, not
    /// returned (the transaction layer's timers cover losses).
    pub fn send_nowait(&self, kind: TransportKind, to: SocketAddr, bytes: Bytes) {
        if kind.is_reliable() {
            let existing = self
                .conns
                .lock()
                .ok()
                .and_then(|t| t.get(&(kind, to)).cloned());
            if let Some(tx) = existing {
                if tx.try_send(bytes.clone()).is_ok() {
                    return;
                }
            }
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(e) = this.send(kind, to, bytes).await {
                    tracing::debug!(error = %e, transport = kind.as_via_token(), "SIP send failed");
                }
            });
            return;
        }
        let _ = self.send_udp(to, &bytes);
    }

    fn send_udp(&self, to: SocketAddr, bytes: &[u8]) -> Result<(), TransportError> {
        let sock = self
            .udp
            .iter()
            .find(|s| {
                s.local_addr()
                    .map(|a| a.is_ipv4() == to.is_ipv4())
                    .unwrap_or(false)
            })
            .ok_or(TransportError::NoSocket(TransportKind::Udp))?;
        match sock.try_send_to(bytes, to) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Takes the global and per-source slots for a new inbound connection from `peer`,
    /// or counts the refusal (the caller closes the stream at once).
    pub(crate) fn admit_inbound(&self, peer: SocketAddr) -> Option<crate::sip_tls::Admitted> {
        let scarce = self.permits.available_permits() < self.cfg.max_tcp_connections.div_ceil(8);
        let Some(slot) = SourceSlot::take(
            &self.per_source,
            peer.ip(),
            self.cfg.max_tcp_per_source,
            scarce,
        ) else {
            if scarce {
                self.stats
                    .tcp_refused_global
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                self.stats
                    .tcp_refused_per_source
                    .fetch_add(1, Ordering::Relaxed);
            }
            return None;
        };
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            self.stats
                .tcp_refused_global
                .fetch_add(1, Ordering::Relaxed);
            return None;
        };
        Some((permit, slot))
    }

    /// Registers a connected stream (TCP or TLS) under `(kind, peer)` and spawns its
    /// reader/writer task. `slot` is set for inbound connections (their first message has
    /// a deadline); `cert` is the TLS peer certificate's fingerprint.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_connection<S>(
        &self,
        stream: S,
        kind: TransportKind,
        peer: SocketAddr,
        local: SocketAddr,
        permit: tokio::sync::OwnedSemaphorePermit,
        slot: Option<SourceSlot>,
        cert: Option<Arc<str>>,
    ) -> mpsc::Sender<Bytes>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        self.stats.tcp_connections.fetch_add(1, Ordering::Relaxed);
        self.stats.tcp_open.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Bytes>(256);
        if let Ok(mut t) = self.conns.lock() {
            t.insert((kind, peer), tx.clone());
        }
        let inbound = slot.is_some();
        tokio::spawn(stream_connection(
            self.clone(),
            stream,
            Peer {
                kind,
                addr: peer,
                local,
                cert,
            },
            rx,
            (permit, slot),
            inbound,
        ));
        tx
    }
}

/// Who is at the other end of a stream connection.
struct Peer {
    kind: TransportKind,
    addr: SocketAddr,
    local: SocketAddr,
    cert: Option<Arc<str>>,
}

async fn bind_pair(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), TransportError> {
    // With port 0, try a few times to get the same free port for UDP and TCP.
    let bind_err = |kind, error| TransportError::Bind { kind, addr, error };
    for _ in 0..16 {
        let udp = UdpSocket::bind(addr)
            .await
            .map_err(|e| bind_err(TransportKind::Udp, e))?;
        let port = udp.local_addr()?.port();
        let mut tcp_addr = addr;
        tcp_addr.set_port(port);
        match TcpListener::bind(tcp_addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() != 0 => return Err(bind_err(TransportKind::Tcp, e)),
            Err(_) => continue,
        }
    }
    Err(bind_err(
        TransportKind::Tcp,
        std::io::Error::new(std::io::ErrorKind::AddrInUse, "no common free UDP/TCP port"),
    ))
}

async fn udp_reader(t: SipTransport, sock: Arc<UdpSocket>) {
    let local = match sock.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let max = t.cfg.limits.max_message;
    // One receive buffer, reused: each datagram is copied out at its own size, so a queued
    // message holds its bytes, not a whole 64 kB buffer.
    let mut buf = vec![0u8; max + 1];
    loop {
        let (n, from) = match sock.recv_from(&mut buf[..]).await {
            Ok(v) => v,
            Err(e) => {
                // ICMP port unreachable on Linux surfaces as ConnectionRefused on UDP.
                if e.kind() == std::io::ErrorKind::ConnectionRefused
                    || e.kind() == std::io::ErrorKind::ConnectionReset
                {
                    continue;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let received = Instant::now();
        t.stats.udp_in.fetch_add(1, Ordering::Relaxed);
        let data = buf.get(..n).unwrap_or_default();
        // Keep-alive CRLFs (RFC 5626 §3.5.1) are not messages.
        if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
            continue;
        }
        // A datagram the queue would refuse (full, or its source past its share once
        // the queue is over half full) is dropped before the copy and the parse.
        if let Err(why) = t.inbound.check(from.ip(), n) {
            t.count_udp_drop(why);
            continue;
        }
        // Copied out and queued; parsed when the driver takes it (`InboundReceiver`).
        let raw = Bytes::copy_from_slice(data);
        let inbound = Queued::Datagram {
            from,
            local,
            raw,
            received,
        };
        // Another socket's reader may have filled the room since the check.
        if let Err(why) = t.inbound.push_datagram(from.ip(), n, inbound) {
            t.count_udp_drop(why);
        }
    }
}

impl SipTransport {
    fn count_udp_drop(&self, why: Refusal) {
        match why {
            Refusal::Share => {
                self.stats.udp_share_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Refusal::Reserved => {
                self.stats
                    .udp_reserve_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
            Refusal::Full => {}
        }
        self.stats.udp_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Accepts without waiting for room: a connection over the global or per-source cap is
/// closed at once and counted, so one source holding connections cannot stop the accept
/// loop for everyone else.
async fn tcp_acceptor(t: SipTransport, listener: TcpListener) {
    let mut backoff = Duration::from_millis(10);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(10);
                let Some((permit, slot)) = t.admit_inbound(peer) else {
                    refuse(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let local = stream.local_addr().unwrap_or(peer);
                t.start_connection(
                    stream,
                    TransportKind::Tcp,
                    peer,
                    local,
                    permit,
                    Some(slot),
                    None,
                );
            }
            Err(e) => {
                // Out of descriptors (EMFILE/ENFILE) or a transient error: back off.
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// Closes a refused connection at once (its descriptor is free again right away).
fn refuse(stream: TcpStream) {
    drop(stream);
}

async fn stream_connection<S>(
    t: SipTransport,
    stream: S,
    peer: Peer,
    mut outgoing: mpsc::Receiver<Bytes>,
    _held: (tokio::sync::OwnedSemaphorePermit, Option<SourceSlot>),
    inbound: bool,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Peer {
        kind,
        addr: peer,
        local,
        cert,
    } = peer;
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut buf = BytesMut::with_capacity(8192);
    let idle = t.cfg.tcp_idle_timeout;
    let max = t.cfg.limits.max_message;
    let msg_timeout = t.cfg.tcp_message_timeout;
    // When the message being received must be complete: from the accept for an inbound
    // connection's first message, else from the first byte of each message.
    let mut msg_deadline = inbound.then(|| tokio::time::Instant::now() + msg_timeout);
    let mut delivered = false;
    'conn: loop {
        let deadline = msg_deadline;
        tokio::select! {
            r = rd.read_buf(&mut buf) => {
                match r {
                    Ok(0) | Err(_) => break 'conn,
                    Ok(_) => {}
                }
                loop {
                    // RFC 5626 keep-alives between messages: drop them, answer a ping
                    // (CRLF CRLF) with a pong (CRLF). They start no message deadline.
                    let k = keepalive_prefix(&buf);
                    if k > 0 {
                        let ping = buf.get(..k).is_some_and(|p| p.windows(4).any(|w| w == b"\r\n\r\n"));
                        buf.advance(k);
                        // Never wait on a peer that does not read: no room, no pong.
                        if ping {
                            // A zero timeout polls the write once: room now, or no pong.
                            let _ = tokio::time::timeout(Duration::ZERO, wr.write(b"\r\n")).await;
                        }
                    }
                    if buf.is_empty() {
                        if delivered {
                            msg_deadline = None;
                        }
                        break;
                    }
                    if msg_deadline.is_none() {
                        msg_deadline = Some(tokio::time::Instant::now() + msg_timeout);
                    }
                    match parse_stream(&buf, &t.cfg.limits) {
                        Ok((msg, used)) => {
                            let raw = buf.split_to(used).freeze();
                            delivered = true;
                            msg_deadline = None;
                            // Waits while this source holds its share of the queue or
                            // the queue is full: only this connection is held back.
                            let n = raw.len();
                            let inbound = Inbound { kind, from: peer, local, msg: Ok(msg), raw, client_cert_sha256: cert.clone(), received: Instant::now() };
                            if t.inbound.push_stream(peer.ip(), n, Queued::Stream(inbound)).await.is_err() {
                                break 'conn;
                            }
                        }
                        Err(ParseError::Incomplete) => {
                            if buf.len() > max {
                                t.stats.tcp_framing_errors.fetch_add(1, Ordering::Relaxed);
                                break 'conn;
                            }
                            break;
                        }
                        Err(e) => {
                            // A framing error on a stream is unrecoverable (RFC 3261 §18.3):
                            // report it (for a best-effort 400) and close.
                            t.stats.tcp_framing_errors.fetch_add(1, Ordering::Relaxed);
                            let raw = buf.split().freeze();
                            let n = raw.len();
                            let _ = t.inbound.push_stream(peer.ip(), n, Queued::Stream(Inbound { kind, from: peer, local, msg: Err(e), raw, client_cert_sha256: cert.clone(), received: Instant::now() })).await;
                            break 'conn;
                        }
                    }
                }
            }
            out = outgoing.recv() => {
                match out {
                    Some(mut bytes) => {
                        while bytes.has_remaining() {
                            match wr.write(&bytes).await {
                                Ok(0) | Err(_) => break 'conn,
                                Ok(n) => bytes.advance(n),
                            }
                        }
                        // TLS holds records until flushed; for TCP this is a no-op.
                        if wr.flush().await.is_err() {
                            break 'conn;
                        }
                    }
                    None => break 'conn,
                }
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)), if deadline.is_some() => {
                t.stats.tcp_message_timeouts.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("SIP TCP connection closed: message not complete in time");
                break 'conn;
            }
            _ = tokio::time::sleep(idle) => {
                t.stats.tcp_idle_closed.fetch_add(1, Ordering::Relaxed);
                break 'conn;
            }
        }
    }
    t.stats.tcp_open.fetch_sub(1, Ordering::Relaxed);
    if let Ok(mut table) = t.conns.lock() {
        table.remove(&(kind, peer));
    }
    let _ = wr.shutdown().await;
}
