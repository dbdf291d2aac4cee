//! The transaction layer (RFC 3261 §17, amended by RFC 6026): every client and server
//! transaction of one SIP endpoint, in a slab behind typed [`TxKey`]s.
//!
//! # Run loop
//!
//! ```text
//!  datagram/stream message ──parse──► handle_message(now, from, transport, msg)
//!  TU wants to send        ─────────► send_request / send_response / cancel / send_ack_for_2xx
//!  deadline reached        ─────────► handle_timeout(now)
//!  after any of the above: while let Some(o) = poll_output() { Transmit → socket, Event → TU }
//!  then sleep until poll_timeout()
//! ```
//!
//! The layer owns the top Via of everything it sends (it adds one with a fresh
//! `z9hG4bK` branch and `rport`), stamps `received`/`rport` on everything it receives, sends
//! `100 Trying` for every new INVITE at once, answers CANCEL (200 to the CANCEL, 487 to the
//! INVITE), answers merged requests with 482 (§8.2.2.2), and retransmits a UAS 2xx until the
//! ACK comes (§13.3.1.4). Matching follows §17.1.3 / §17.2.3, with the RFC 2543 fallback for
//! branches without the magic cookie.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::distributions::Alphanumeric;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slab::Slab;
use switchboard_sip_message::{
    Header, HeaderName, Host, Message, Method, Param, Request, Response, StatusCode, Via,
};

use crate::routing::{response_destination, stamp_via};
use crate::timer::{Timer, TimerConfig, TimerTable};
use crate::transport::Transport;

/// RFC 3261 §8.1.1.7 magic cookie that marks an RFC 3261 branch.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// Handle to one transaction in a [`TransactionLayer`]. Carries a generation so a key kept
/// after its transaction ended never addresses a newer one in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey {
    index: u32,
    generation: u32,
}

/// Transaction states (RFC 3261 figures 5-8, as amended by RFC 6026).
///
/// ```text
/// INVITE client (fig. 5 + RFC 6026):
///   INVITE sent --> Calling --1xx--> Proceeding --2xx--> Accepted --timer M--> Terminated
///                     |  timer A: resend    | 300-699 (send ACK)
///                     |  timer B: timeout   v
///                     +---300-699------> Completed --timer D--> Terminated
///
/// non-INVITE client (fig. 6):
///   request sent --> Trying --1xx--> Proceeding --final--> Completed --timer K--> Terminated
///                     | timer E: resend (doubling to T2)        ^
///                     | timer F: timeout         +---final------+
///
/// INVITE server (fig. 7 + RFC 6026):
///   INVITE --> Proceeding --2xx--> Accepted --timer L--> Terminated
///                 | 300-699                (2xx resent until ACK, §13.3.1.4)
///                 v
///             Completed --ACK--> Confirmed --timer I--> Terminated
///                 | timer G: resend final; timer H: no ACK --> Terminated
///
/// non-INVITE server (fig. 8):
///   request --> Trying --1xx--> Proceeding --final--> Completed --timer J--> Terminated
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxState {
    /// INVITE client: request sent, nothing heard.
    Calling,
    /// Non-INVITE client/server: request sent or received, no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A final response was received (client) or sent (server, non-2xx for INVITE).
    Completed,
    /// INVITE server: the ACK for a non-2xx arrived.
    Confirmed,
    /// INVITE (RFC 6026): a 2xx was received (client) or sent (server).
    Accepted,
}

/// Which side of a transaction this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxRole {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Configuration of a [`TransactionLayer`].
#[derive(Clone, Debug)]
pub struct TxConfig {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// Host written into the sent-by of our Via headers: the address peers reach us at
    /// (the advertised/public one, never an unspecified `0.0.0.0` bind address).
    pub via_host: Host,
    /// Port written into the sent-by of our Via headers (`None`: the transport default).
    pub via_port: Option<u16>,
    /// Maximum number of live transactions; new requests beyond it get a stateless 503.
    pub max_transactions: usize,
    /// Most live server transactions created by requests from one source IP; more get a
    /// stateless 503 (so one source cannot take the whole table).
    pub max_server_per_source: usize,
    /// Most bytes (estimated: request plus last response) held by live server transactions
    /// of one source IP; more get a stateless 503.
    pub max_bytes_per_source: usize,
    /// Most bytes held by all live server transactions; more get a stateless 503.
    pub max_bytes: usize,
}

/// What the layer's admission limits did. Totals since construction, plus current values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Requests refused (503) because the table was full (`max_transactions`).
    pub refused_full: u64,
    /// Requests refused because their source had `max_server_per_source` transactions or
    /// `max_bytes_per_source` bytes.
    pub refused_source_share: u64,
    /// Requests refused because all server transactions held `max_bytes`.
    pub refused_memory: u64,
    /// Estimated bytes held by live server transactions now.
    pub server_bytes: usize,
    /// Sources with live server transactions now.
    pub sources: usize,
}

/// Fixed per-transaction overhead in the byte estimate (indexes, timers, keys).
const TX_OVERHEAD: usize = 512;

/// Estimated memory of a parsed request: what it owns (header text, URI, body).
fn request_cost(req: &Request) -> usize {
    let headers: usize = req.headers.0.iter().map(|h| h.value.len() + 48).sum();
    TX_OVERHEAD + headers + req.body.len() + 64
}

impl TxConfig {
    /// A configuration with default timers for an endpoint whose Via sent-by is `addr`.
    pub fn new(addr: SocketAddr) -> TxConfig {
        let via_host = match addr.ip() {
            std::net::IpAddr::V4(a) => Host::V4(a),
            std::net::IpAddr::V6(a) => Host::V6(a),
        };
        TxConfig {
            timers: TimerConfig::default(),
            via_host,
            via_port: Some(addr.port()),
            max_transactions: 65_536,
            max_server_per_source: 2048,
            max_bytes_per_source: 8 << 20,
            max_bytes: 64 << 20,
        }
    }
}

/// Errors from the TU-facing calls of [`TransactionLayer`].
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxError {
    /// The key does not name a live transaction (it ended, or never existed).
    #[error("no such transaction")]
    NoSuchTransaction,
    /// The call does not fit the transaction's kind or state (e.g. a response on a client
    /// transaction, a second final response, CANCEL of a non-INVITE).
    #[error("operation not allowed in state {0:?}")]
    InvalidState(Option<TxState>),
    /// The message lacks a header the operation needs.
    #[error("bad message: {0}")]
    BadMessage(&'static str),
    /// ACK and CANCEL are not sent with `send_request`.
    #[error("use send_ack_for_2xx or cancel for {0}")]
    WrongMethod(Method),
    /// The layer holds `max_transactions` transactions already.
    #[error("too many transactions")]
    Overloaded,
}

/// Something the TU (dialog layer, B2BUA, registrar, application) must learn about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxEvent {
    /// A new request created a server transaction; answer it with `send_response(key, ..)`.
    /// The request's top Via is already stamped with `received`/`rport`.
    NewRequest {
        /// The new server transaction.
        key: TxKey,
        /// The request.
        req: Request,
        /// Source address (for a stream transport, identifies the connection).
        from: SocketAddr,
        /// Transport it came on.
        transport: Transport,
    },
    /// A response for a client transaction (every provisional, the final, and on INVITE every
    /// 2xx not already acknowledged through `send_ack_for_2xx`, e.g. from a new fork).
    Response {
        /// The client transaction.
        key: TxKey,
        /// The response.
        resp: Response,
    },
    /// A timer ended the transaction without the expected message: B or F (client, no final
    /// response: act as if 408 arrived), H (server, no ACK for a non-2xx), L (server, no ACK
    /// for a 2xx: the UAS should send BYE, §13.3.1.4).
    Timeout {
        /// The transaction.
        key: TxKey,
        /// Which timer fired.
        timer: Timer,
    },
    /// The driver reported that a message of this transaction could not be sent.
    TransportError {
        /// The transaction.
        key: TxKey,
    },
    /// The ACK for a 2xx we sent on this INVITE server transaction arrived.
    AckFor2xx {
        /// The INVITE server transaction.
        key: TxKey,
        /// The ACK (may carry the SDP answer when the INVITE had no offer).
        ack: Request,
    },
    /// An ACK that matches no transaction (e.g. for a 2xx after timer L).
    StrayAck {
        /// The ACK.
        ack: Request,
        /// Source address.
        from: SocketAddr,
    },
    /// A response that matches no client transaction (e.g. a 2xx retransmission after timer M).
    StrayResponse {
        /// The response.
        resp: Response,
        /// Source address.
        from: SocketAddr,
    },
    /// A CANCEL arrived for this INVITE server transaction while it was proceeding; the layer
    /// already answered 200 to the CANCEL and 487 to the INVITE.
    Cancelled {
        /// The INVITE server transaction.
        key: TxKey,
        /// The CANCEL.
        cancel: Request,
    },
    /// The transaction ended and its key is now dead.
    Terminated {
        /// The transaction.
        key: TxKey,
        /// Client or server.
        role: TxRole,
    },
}

/// Output of [`TransactionLayer::poll_output`].
// Events carry whole requests and are moved out once; boxing would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send these bytes. For a stream transport, `to` names the connection.
    Transmit {
        /// Destination (for responses, already chosen per §18.2.2 / RFC 3581).
        to: SocketAddr,
        /// Transport to use.
        transport: Transport,
        /// The serialized message.
        bytes: Bytes,
        /// The transaction that sent it (report a send failure with `handle_transport_error`).
        tx: Option<TxKey>,
    },
    /// Tell the TU.
    Event(TxEvent),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ServerKey {
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: String,
    },
    Rfc2543 {
        ruri: String,
        from_tag: String,
        to_tag: String,
        call_id: String,
        cseq: u32,
        method: String,
        via: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Full,
    SourceShare,
    Memory,
}

type MergeKey = (String, String, u32, String); // from tag, Call-ID, CSeq, method
type AckKey = (String, u32, String); // Call-ID, CSeq, from tag

struct Tx {
    generation: u32,
    role: TxRole,
    invite: bool,
    state: TxState,
    timers: TimerTable,
    transport: Transport,
    /// Client: destination. Server: where responses go.
    peer: SocketAddr,
    request: Request,
    request_bytes: Bytes,
    interval: Duration,
    last_response: Option<Bytes>,
    /// Client INVITE: ACK for the non-2xx final.
    ack_bytes: Option<Bytes>,
    /// Reported 2xx To tags, each with the ACK the TU sent for it (once it did).
    acks_2xx: Vec<(String, Option<Bytes>)>,
    /// Client INVITE: CANCEL requested before any provisional.
    cancel_pending: bool,
    /// Client INVITE: CANCEL sent (timer B then runs in Proceeding too).
    cancel_sent: bool,
    /// Client: responses are not reported (CANCEL sent by the layer).
    silent: bool,
    /// Server: To tag for responses without one.
    local_tag: Option<String>,
    /// Server INVITE, Accepted: the ACK arrived.
    acked: bool,
    client_key: Option<(String, String)>,
    server_key: Option<ServerKey>,
    merge_key: Option<MergeKey>,
    ack_key: Option<AckKey>,
    /// The deadline this transaction is filed under in `TransactionLayer::schedule`.
    scheduled: Option<Instant>,
    /// Server: the source IP whose share this transaction counts against, and its
    /// estimated bytes.
    charge: Option<(IpAddr, usize)>,
}

/// All transactions of one endpoint. See the module docs for the run loop.
pub struct TransactionLayer {
    config: TxConfig,
    txs: Slab<Tx>,
    next_generation: u32,
    client_index: HashMap<(String, String), TxKey>,
    server_index: HashMap<ServerKey, TxKey>,
    merge_index: HashMap<MergeKey, TxKey>,
    ack_index: HashMap<AckKey, TxKey>,
    out: VecDeque<Output>,
    rng: ChaCha8Rng,
    /// Each transaction's earliest deadline, ordered: O(log n) `poll_timeout`.
    schedule: BTreeSet<(Instant, TxKey)>,
    /// Transactions whose timers may have changed since the last `flush_schedule`.
    dirty: Vec<TxKey>,
    /// Live server transactions and their estimated bytes, per source IP.
    per_source: HashMap<IpAddr, (usize, usize)>,
    stats: TxStats,
}

fn method_key(m: &Method) -> String {
    m.as_str().to_string()
}

fn is_3261_branch(b: &str) -> bool {
    b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE)
}

fn sent_by(via: &Via) -> String {
    let host = via.host.to_string().to_ascii_lowercase();
    match via.port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// Server-side match key of a request (ACK maps to INVITE). `None` if core headers are bad.
fn server_key(req: &Request) -> Option<ServerKey> {
    let via = req.headers.top_via().ok()?;
    let method = if req.method == Method::Ack {
        "INVITE".to_string()
    } else {
        method_key(&req.method)
    };
    if let Some(b) = via.branch().filter(|b| is_3261_branch(b)) {
        return Some(ServerKey::Rfc3261 {
            branch: b.to_string(),
            sent_by: sent_by(&via),
            method,
        });
    }
    let cseq = req.headers.cseq().ok()?;
    let from_tag = req.headers.from().ok()?.tag().unwrap_or("").to_string();
    // The INVITE has no To tag and its ACK carries ours, so INVITE/ACK ignore the To tag.
    let to_tag = if method == "INVITE" {
        String::new()
    } else {
        req.headers.to().ok()?.tag().unwrap_or("").to_string()
    };
    Some(ServerKey::Rfc2543 {
        ruri: req.uri.to_string(),
        from_tag,
        to_tag,
        call_id: req.headers.call_id().ok()?.to_string(),
        cseq: cseq.seq,
        method,
        via: via.to_string(),
    })
}

fn with_method(key: &ServerKey, m: &str) -> ServerKey {
    let mut k = key.clone();
    match &mut k {
        ServerKey::Rfc3261 { method, .. } | ServerKey::Rfc2543 { method, .. } => {
            *method = m.to_string()
        }
    }
    if let ServerKey::Rfc2543 { to_tag, .. } = &mut k {
        if m == "INVITE" {
            to_tag.clear();
        }
    }
    k
}

fn merge_key(req: &Request) -> Option<MergeKey> {
    let to = req.headers.to().ok()?;
    if to.tag().is_some() {
        return None;
    }
    let from_tag = req.headers.from().ok()?.tag()?.to_string();
    let cseq = req.headers.cseq().ok()?;
    Some((
        from_tag,
        req.headers.call_id().ok()?.to_string(),
        cseq.seq,
        method_key(&req.method),
    ))
}

fn ack_key(req: &Request) -> Option<AckKey> {
    let cseq = req.headers.cseq().ok()?;
    Some((
        req.headers.call_id().ok()?.to_string(),
        cseq.seq,
        req.headers.from().ok()?.tag().unwrap_or("").to_string(),
    ))
}

impl TransactionLayer {
    /// An empty layer. `seed` drives every branch, tag and Call-ID it generates: use OS
    /// entropy in production and a fixed value in tests.
    pub fn new(config: TxConfig, seed: u64) -> TransactionLayer {
        TransactionLayer {
            config,
            txs: Slab::new(),
            next_generation: 0,
            client_index: HashMap::new(),
            server_index: HashMap::new(),
            merge_index: HashMap::new(),
            ack_index: HashMap::new(),
            out: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            schedule: BTreeSet::new(),
            dirty: Vec::new(),
            per_source: HashMap::new(),
            stats: TxStats::default(),
        }
    }

    /// Admission counters and current server-transaction memory.
    pub fn stats(&self) -> TxStats {
        TxStats {
            sources: self.per_source.len(),
            ..self.stats.clone()
        }
    }

    /// Why a new server transaction for a request of `cost` bytes from `ip` may not
    /// start, if it may not.
    fn admission_refusal(&self, ip: IpAddr, cost: usize) -> Option<Refusal> {
        let c = &self.config;
        if self.txs.len() >= c.max_transactions {
            return Some(Refusal::Full);
        }
        if self.stats.server_bytes + cost > c.max_bytes {
            return Some(Refusal::Memory);
        }
        let (n, bytes) = self.per_source.get(&ip).copied().unwrap_or((0, 0));
        if n >= c.max_server_per_source || bytes + cost > c.max_bytes_per_source {
            return Some(Refusal::SourceShare);
        }
        None
    }

    /// Adds `delta` bytes (may be negative via `sub`) to a server transaction's charge.
    fn recharge(&mut self, key: TxKey, new_cost: usize) {
        let Some(tx) = self
            .txs
            .get_mut(key.index as usize)
            .filter(|t| t.generation == key.generation)
        else {
            return;
        };
        let Some((ip, old)) = tx.charge else {
            return;
        };
        tx.charge = Some((ip, new_cost));
        self.stats.server_bytes = self.stats.server_bytes - old + new_cost;
        if let Some(e) = self.per_source.get_mut(&ip) {
            e.1 = e.1 - old + new_cost;
        }
    }

    /// The configuration.
    pub fn config(&self) -> &TxConfig {
        &self.config
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// A random token of `n` alphanumeric characters from the seeded RNG.
    pub fn random_token(&mut self, n: usize) -> String {
        (&mut self.rng)
            .sample_iter(&Alphanumeric)
            .take(n)
            .map(char::from)
            .collect()
    }

    /// A fresh From/To tag.
    pub fn new_tag(&mut self) -> String {
        self.random_token(10)
    }

    /// A fresh Call-ID (`<random>@<via host>`).
    pub fn new_call_id(&mut self) -> String {
        let r = self.random_token(20);
        format!("{r}@{}", self.config.via_host)
    }

    /// A fresh RFC 3261 branch.
    pub fn new_branch(&mut self) -> String {
        format!("{MAGIC_COOKIE}{}", self.random_token(16))
    }

    /// State of a live transaction.
    pub fn state(&self, key: TxKey) -> Option<TxState> {
        self.get(key).map(|t| t.state)
    }

    /// The request that created a live transaction (for a server transaction, as received and
    /// stamped; for a client one, as sent, with our Via on top).
    pub fn request(&self, key: TxKey) -> Option<&Request> {
        self.get(key).map(|t| &t.request)
    }

    /// The earliest deadline of any transaction. Call after draining `poll_output`; call
    /// `handle_timeout` when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Entries are refreshed at the end of every `&mut` call; the dirty list is empty then,
        // but folding it in keeps the answer right even if a path forgot to flush.
        let filed = self.schedule.first().map(|(t, _)| *t);
        let dirty = self
            .dirty
            .iter()
            .filter_map(|k| self.get(*k))
            .filter_map(|t| t.timers.earliest())
            .min();
        match (filed, dirty) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Re-files every transaction touched since the last call under its earliest deadline.
    fn flush_schedule(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            let Some(tx) = self
                .txs
                .get_mut(key.index as usize)
                .filter(|t| t.generation == key.generation)
            else {
                continue;
            };
            let next = tx.timers.earliest();
            if next == tx.scheduled {
                continue;
            }
            if let Some(old) = tx.scheduled {
                self.schedule.remove(&(old, key));
            }
            if let Some(new) = next {
                self.schedule.insert((new, key));
            }
            tx.scheduled = next;
        }
    }

    /// The next message to send or event to report. Drain after every `handle_*`/`send_*`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    fn get(&self, key: TxKey) -> Option<&Tx> {
        self.txs
            .get(key.index as usize)
            .filter(|t| t.generation == key.generation)
    }

    fn get_mut(&mut self, key: TxKey) -> Option<&mut Tx> {
        self.dirty.push(key);
        self.txs
            .get_mut(key.index as usize)
            .filter(|t| t.generation == key.generation)
    }

    fn transmit(&mut self, to: SocketAddr, transport: Transport, bytes: Bytes, tx: Option<TxKey>) {
        self.out.push_back(Output::Transmit {
            to,
            transport,
            bytes,
            tx,
        });
    }

    fn event(&mut self, e: TxEvent) {
        self.out.push_back(Output::Event(e));
    }

    fn insert(&mut self, tx: Tx) -> TxKey {
        let generation = tx.generation;
        let index = self.txs.insert(tx) as u32;
        let key = TxKey { index, generation };
        self.dirty.push(key);
        key
    }

    fn new_tx(
        &mut self,
        role: TxRole,
        transport: Transport,
        peer: SocketAddr,
        request: Request,
        request_bytes: Bytes,
    ) -> Tx {
        self.next_generation = self.next_generation.wrapping_add(1);
        let invite = request.method == Method::Invite;
        let state = match (role, invite) {
            (TxRole::Client, true) => TxState::Calling,
            (TxRole::Server, true) => TxState::Proceeding,
            (_, false) => TxState::Trying,
        };
        Tx {
            generation: self.next_generation,
            role,
            invite,
            state,
            timers: TimerTable::default(),
            transport,
            peer,
            request,
            request_bytes,
            interval: self.config.timers.t1,
            last_response: None,
            ack_bytes: None,
            acks_2xx: Vec::new(),
            cancel_pending: false,
            cancel_sent: false,
            silent: false,
            local_tag: None,
            acked: false,
            client_key: None,
            server_key: None,
            merge_key: None,
            ack_key: None,
            scheduled: None,
            charge: None,
        }
    }

    fn our_via(&mut self, transport: Transport, branch: &str) -> Via {
        Via {
            protocol: "SIP/2.0".to_string(),
            transport: transport.as_str().to_string(),
            host: self.config.via_host.clone(),
            port: self.config.via_port,
            params: vec![
                Param {
                    name: "branch".to_string(),
                    value: Some(branch.to_string()),
                },
                Param {
                    name: "rport".to_string(),
                    value: None,
                },
            ],
        }
    }

    /// Starts a client transaction: adds our Via (fresh branch, `rport`) on top, a
    /// `Max-Forwards: 70` if missing, and sends. Responses come back as [`TxEvent::Response`];
    /// no final response in 64*T1 gives [`TxEvent::Timeout`].
    pub fn send_request(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        transport: Transport,
        mut req: Request,
    ) -> Result<TxKey, TxError> {
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return Err(TxError::WrongMethod(req.method.clone()));
        }
        if self.txs.len() >= self.config.max_transactions {
            return Err(TxError::Overloaded);
        }
        if req.headers.cseq().is_err() || req.headers.call_id().is_err() {
            return Err(TxError::BadMessage("request needs CSeq and Call-ID"));
        }
        let branch = self.new_branch();
        let via = self.our_via(transport, &branch);
        req.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: via.to_string(),
            },
        );
        if req.headers.get(&HeaderName::MaxForwards).is_none() {
            req.headers.push(HeaderName::MaxForwards, "70");
        }
        Ok(self.start_client(now, dest, transport, req, branch, false))
    }

    fn start_client(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        transport: Transport,
        req: Request,
        branch: String,
        silent: bool,
    ) -> TxKey {
        let bytes = req.to_bytes();
        let method = method_key(&req.method);
        let mut tx = self.new_tx(TxRole::Client, transport, dest, req, bytes.clone());
        tx.silent = silent;
        let t = self.config.timers;
        if tx.invite {
            if !transport.is_reliable() {
                tx.timers.arm(Timer::A, now + t.t1);
            }
            tx.timers.arm(Timer::B, now + t.timeout());
        } else {
            if !transport.is_reliable() {
                tx.timers.arm(Timer::E, now + t.t1);
            }
            tx.timers.arm(Timer::F, now + t.timeout());
        }
        let ck = (branch, method);
        tx.client_key = Some(ck.clone());
        let key = self.insert(tx);
        self.client_index.insert(ck, key);
        self.transmit(dest, transport, bytes, Some(key));
        self.flush_schedule();
        key
    }

    /// Cancels a client INVITE transaction (RFC 3261 §9.1). Before any provisional response
    /// the CANCEL is held back until one arrives. The CANCEL's own responses are absorbed;
    /// the TU sees the INVITE's 487 (or a 2xx that raced it) as usual. If no final response
    /// to the INVITE comes within 64*T1 of the CANCEL, the INVITE times out (timer B).
    pub fn cancel(&mut self, now: Instant, invite: TxKey) -> Result<(), TxError> {
        let tx = self.get_mut(invite).ok_or(TxError::NoSuchTransaction)?;
        if tx.role != TxRole::Client || !tx.invite {
            return Err(TxError::InvalidState(Some(tx.state)));
        }
        match tx.state {
            TxState::Calling => {
                tx.cancel_pending = true;
                Ok(())
            }
            TxState::Proceeding => {
                self.send_cancel(now, invite);
                self.flush_schedule();
                Ok(())
            }
            s => Err(TxError::InvalidState(Some(s))),
        }
    }

    fn send_cancel(&mut self, now: Instant, invite: TxKey) {
        let timeout = self.config.timers.timeout();
        let Some(tx) = self.get_mut(invite) else {
            return;
        };
        tx.cancel_pending = false;
        tx.cancel_sent = true;
        tx.timers.arm(Timer::B, now + timeout);
        let inv = &tx.request;
        let (dest, transport) = (tx.peer, tx.transport);
        let mut c = Request::new(Method::Cancel, inv.uri.clone());
        let mut branch = String::new();
        if let Some(v) = inv.headers.get(&HeaderName::Via) {
            // Our Via is always a line of its own, first.
            c.headers.push(HeaderName::Via, v);
            if let Ok(via) = inv.headers.top_via() {
                branch = via.branch().unwrap_or("").to_string();
            }
        }
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = inv.headers.get(&name) {
                c.headers.push(name, v);
            }
        }
        if let Ok(cseq) = inv.headers.cseq() {
            c.headers
                .push(HeaderName::CSeq, format!("{} CANCEL", cseq.seq));
        }
        for r in inv.headers.get_all(&HeaderName::Route) {
            c.headers.push(HeaderName::Route, r);
        }
        c.headers.push(HeaderName::MaxForwards, "70");
        self.start_client(now, dest, transport, c, branch, true);
    }

    /// Sends the ACK for a 2xx received on client INVITE transaction `invite` (the dialog layer
    /// builds it, §13.2.2.4). The layer adds a Via with a fresh branch, sends it, and resends
    /// it by itself whenever the same 2xx is retransmitted while the transaction lives (timer M).
    pub fn send_ack_for_2xx(
        &mut self,
        _now: Instant,
        invite: TxKey,
        dest: SocketAddr,
        transport: Transport,
        mut ack: Request,
    ) -> Result<(), TxError> {
        if ack.method != Method::Ack {
            return Err(TxError::WrongMethod(ack.method.clone()));
        }
        let branch = self.new_branch();
        let via = self.our_via(transport, &branch);
        ack.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: via.to_string(),
            },
        );
        if ack.headers.get(&HeaderName::MaxForwards).is_none() {
            ack.headers.push(HeaderName::MaxForwards, "70");
        }
        let bytes = ack.to_bytes();
        let to_tag = ack
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_string))
            .unwrap_or_default();
        if let Some(tx) = self.get_mut(invite) {
            if tx.role == TxRole::Client && tx.state == TxState::Accepted {
                match tx.acks_2xx.iter_mut().find(|(t, _)| *t == to_tag) {
                    Some((_, slot)) => *slot = Some(bytes.clone()),
                    None => tx.acks_2xx.push((to_tag, Some(bytes.clone()))),
                }
            }
        }
        self.transmit(dest, transport, bytes, None);
        Ok(())
    }

    /// Sends a request outside any transaction (e.g. an ACK for a 2xx whose INVITE transaction
    /// is gone). Adds our Via with a fresh branch.
    pub fn send_stateless(&mut self, dest: SocketAddr, transport: Transport, mut req: Request) {
        let branch = self.new_branch();
        let via = self.our_via(transport, &branch);
        req.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: via.to_string(),
            },
        );
        if req.headers.get(&HeaderName::MaxForwards).is_none() {
            req.headers.push(HeaderName::MaxForwards, "70");
        }
        let bytes = req.to_bytes();
        self.transmit(dest, transport, bytes, None);
    }

    /// Sends a response on server transaction `key`. A response above 100 without a To tag
    /// gets the transaction's tag (generated once, so 180, 200 and a 487 agree).
    pub fn send_response(
        &mut self,
        now: Instant,
        key: TxKey,
        mut resp: Response,
    ) -> Result<(), TxError> {
        let t = self.config.timers;
        let needs_tag = resp.status.0 > 100
            && resp
                .headers
                .to()
                .map(|to| to.tag().is_none())
                .unwrap_or(false);
        let fresh_tag = if needs_tag && self.get(key).is_some_and(|tx| tx.local_tag.is_none()) {
            Some(self.new_tag())
        } else {
            None
        };
        let tx = self.get_mut(key).ok_or(TxError::NoSuchTransaction)?;
        if tx.role != TxRole::Server {
            return Err(TxError::InvalidState(Some(tx.state)));
        }
        let status = resp.status;
        let allowed = match (tx.invite, tx.state) {
            (_, TxState::Trying | TxState::Proceeding) => true,
            (true, TxState::Accepted) => status.is_success(),
            _ => false,
        };
        if !allowed {
            return Err(TxError::InvalidState(Some(tx.state)));
        }
        if let Some(tag) = fresh_tag {
            tx.local_tag = Some(tag);
        }
        if needs_tag {
            if let (Ok(mut to), Some(tag)) = (resp.headers.to(), tx.local_tag.as_deref()) {
                to.set_tag(tag);
                resp.headers.set(HeaderName::To, to.to_string());
            }
        } else if tx.local_tag.is_none() {
            tx.local_tag = resp
                .headers
                .to()
                .ok()
                .and_then(|to| to.tag().map(str::to_string));
        }
        let bytes = resp.to_bytes();
        let reliable = tx.transport.is_reliable();
        let mut accepted = None;
        if status.is_provisional() {
            if tx.state == TxState::Trying {
                tx.state = TxState::Proceeding;
            }
        } else if tx.invite && status.is_success() {
            if tx.state != TxState::Accepted {
                tx.state = TxState::Accepted;
                tx.timers.arm(Timer::L, now + t.timeout());
                accepted = ack_key(&tx.request);
                tx.ack_key = accepted.clone();
            }
            if !reliable {
                tx.interval = t.t1;
                tx.timers.arm(Timer::Retransmit2xx, now + t.t1);
            }
        } else if tx.invite {
            tx.state = TxState::Completed;
            if !reliable {
                tx.interval = t.t1;
                tx.timers.arm(Timer::G, now + t.t1);
            }
            tx.timers.arm(Timer::H, now + t.timeout());
        } else {
            tx.state = TxState::Completed;
            let j = if reliable {
                Duration::ZERO
            } else {
                t.timeout()
            };
            tx.timers.arm(Timer::J, now + j);
        }
        let old_len = tx.last_response.as_ref().map_or(0, Bytes::len);
        tx.last_response = Some(bytes.clone());
        let (peer, transport) = (tx.peer, tx.transport);
        if let Some((_, cost)) = tx.charge {
            self.recharge(key, cost - old_len + bytes.len());
        }
        if let Some(ak) = accepted {
            self.ack_index.insert(ak, key);
        }
        self.transmit(peer, transport, bytes, Some(key));
        self.flush_schedule();
        Ok(())
    }

    /// The driver could not send a message of transaction `key` (ICMP unreachable, TCP
    /// connect/write failure). Ends the transaction with [`TxEvent::TransportError`].
    pub fn handle_transport_error(&mut self, _now: Instant, key: TxKey) {
        if self.get(key).is_some() {
            self.event(TxEvent::TransportError { key });
            self.terminate(key);
        }
        self.flush_schedule();
    }

    /// Feeds a parsed message. Call for every message from the transport; `from` is the source
    /// address (the connection, for streams).
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        msg: Message,
    ) {
        match msg {
            Message::Request(r) => self.handle_request(now, from, transport, r),
            Message::Response(r) => self.handle_response(now, from, r),
        }
        self.flush_schedule();
    }

    fn handle_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        req: Request,
    ) {
        let Some(skey) = server_key(&req) else {
            // Missing From/To/Call-ID (RFC 4475 `insuf`): no transaction can be keyed, but
            // the client still deserves a stateless 400 (never for ACK).
            if req.method != Method::Ack && req.headers.top_via().is_ok() {
                let mut r = Response::for_request(&req, StatusCode::BAD_REQUEST);
                r.reason = "Missing Required Header Fields".into();
                let to = self.response_peer(&req, from, transport);
                self.transmit(to, transport, r.to_bytes(), None);
            }
            return;
        };
        let mut req = req;
        if stamp_via(&mut req, from).is_err() {
            return;
        }
        if let Some(&key) = self.server_index.get(&skey) {
            self.server_retransmission(now, key, req);
            return;
        }
        match req.method {
            Method::Ack => {
                if let Some(&key) = ack_key(&req).as_ref().and_then(|k| self.ack_index.get(k)) {
                    if let Some(tx) = self.get_mut(key) {
                        if tx.state == TxState::Accepted && !tx.acked {
                            tx.acked = true;
                            tx.timers.disarm(Timer::Retransmit2xx);
                            self.event(TxEvent::AckFor2xx { key, ack: req });
                        }
                        return;
                    }
                }
                self.event(TxEvent::StrayAck { ack: req, from });
            }
            Method::Cancel => self.handle_cancel(now, from, transport, req, skey),
            _ => {
                let cost = request_cost(&req);
                if let Some(why) = self.admission_refusal(from.ip(), cost) {
                    match why {
                        Refusal::Full => self.stats.refused_full += 1,
                        Refusal::SourceShare => self.stats.refused_source_share += 1,
                        Refusal::Memory => self.stats.refused_memory += 1,
                    }
                    let mut r = Response::for_request(&req, StatusCode::SERVICE_UNAVAILABLE);
                    r.headers.push(HeaderName::RetryAfter, "5");
                    let to = self.response_peer(&req, from, transport);
                    self.transmit(to, transport, r.to_bytes(), None);
                    return;
                }
                let mk = merge_key(&req);
                let merged = mk
                    .as_ref()
                    .is_some_and(|k| self.merge_index.contains_key(k));
                let invite = req.method == Method::Invite;
                let key = self.start_server(from, transport, req.clone(), skey);
                if merged {
                    let r = Response::for_request(&req, StatusCode::LOOP_DETECTED);
                    let _ = self.send_response(now, key, r);
                    return;
                }
                if let Some(mk) = mk {
                    self.merge_index.insert(mk.clone(), key);
                    if let Some(tx) = self.get_mut(key) {
                        tx.merge_key = Some(mk);
                    }
                }
                if invite {
                    let trying = Response::for_request(&req, StatusCode::TRYING);
                    let _ = self.send_response(now, key, trying);
                }
                self.event(TxEvent::NewRequest {
                    key,
                    req,
                    from,
                    transport,
                });
            }
        }
    }

    fn response_peer(&self, req: &Request, from: SocketAddr, transport: Transport) -> SocketAddr {
        if transport.is_reliable() {
            return from;
        }
        req.headers
            .top_via()
            .ok()
            .and_then(|v| response_destination(&v, transport))
            .unwrap_or(from)
    }

    fn start_server(
        &mut self,
        from: SocketAddr,
        transport: Transport,
        req: Request,
        skey: ServerKey,
    ) -> TxKey {
        let peer = self.response_peer(&req, from, transport);
        let cost = request_cost(&req);
        let mut tx = self.new_tx(TxRole::Server, transport, peer, req, Bytes::new());
        tx.server_key = Some(skey.clone());
        tx.charge = Some((from.ip(), cost));
        self.stats.server_bytes += cost;
        let e = self.per_source.entry(from.ip()).or_insert((0, 0));
        e.0 += 1;
        e.1 += cost;
        let key = self.insert(tx);
        self.server_index.insert(skey, key);
        key
    }

    fn server_retransmission(&mut self, now: Instant, key: TxKey, req: Request) {
        let t = self.config.timers;
        let Some(tx) = self.get_mut(key) else {
            return;
        };
        if req.method == Method::Ack {
            if !tx.invite {
                return;
            }
            match tx.state {
                TxState::Completed => {
                    tx.state = TxState::Confirmed;
                    tx.timers.disarm(Timer::G);
                    tx.timers.disarm(Timer::H);
                    let i = if tx.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        t.t4
                    };
                    tx.timers.arm(Timer::I, now + i);
                }
                TxState::Accepted if !tx.acked => {
                    // RFC 2543 peer: its ACK for our 2xx reuses the INVITE's Via.
                    tx.acked = true;
                    tx.timers.disarm(Timer::Retransmit2xx);
                    self.event(TxEvent::AckFor2xx { key, ack: req });
                }
                _ => {}
            }
            return;
        }
        // A retransmitted request: resend the last response, if any (§17.2.1, §17.2.2).
        let resend = match tx.state {
            TxState::Proceeding | TxState::Completed => tx.last_response.clone(),
            _ => None,
        };
        if let Some(b) = resend {
            let (peer, transport) = (tx.peer, tx.transport);
            self.transmit(peer, transport, b, Some(key));
        }
    }

    fn handle_cancel(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        req: Request,
        skey: ServerKey,
    ) {
        let invite_key = self
            .server_index
            .get(&with_method(&skey, "INVITE"))
            .copied();
        let key = self.start_server(from, transport, req.clone(), skey);
        let Some(ik) = invite_key else {
            let r = Response::for_request(&req, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
            let _ = self.send_response(now, key, r);
            return;
        };
        let _ = self.send_response(now, key, Response::for_request(&req, StatusCode::OK));
        let proceeding = self
            .get(ik)
            .is_some_and(|tx| tx.state == TxState::Proceeding);
        if proceeding {
            if let Some(inv) = self.get(ik).map(|tx| tx.request.clone()) {
                let r = Response::for_request(&inv, StatusCode::REQUEST_TERMINATED);
                let _ = self.send_response(now, ik, r);
            }
            self.event(TxEvent::Cancelled {
                key: ik,
                cancel: req,
            });
        }
    }

    fn handle_response(&mut self, now: Instant, from: SocketAddr, resp: Response) {
        let Ok(via) = resp.headers.top_via() else {
            return;
        };
        let Ok(cseq) = resp.headers.cseq() else {
            return;
        };
        let ck = (
            via.branch().unwrap_or("").to_string(),
            method_key(&cseq.method),
        );
        let Some(&key) = self.client_index.get(&ck) else {
            self.event(TxEvent::StrayResponse { resp, from });
            return;
        };
        let t = self.config.timers;
        let Some(tx) = self.get_mut(key) else {
            return;
        };
        let status = resp.status;
        let reliable = tx.transport.is_reliable();
        let silent = tx.silent;
        let mut report = !silent;
        let mut send_cancel = false;
        let mut resend: Option<Bytes> = None;
        if tx.invite {
            match tx.state {
                TxState::Calling | TxState::Proceeding => {
                    if status.is_provisional() {
                        tx.state = TxState::Proceeding;
                        tx.timers.disarm(Timer::A);
                        // Timer B only runs in Calling, or after we sent a CANCEL (§9.1).
                        if !tx.cancel_sent {
                            tx.timers.disarm(Timer::B);
                        }
                        send_cancel = tx.cancel_pending;
                    } else if status.is_success() {
                        tx.state = TxState::Accepted;
                        tx.timers.clear();
                        tx.timers.arm(Timer::M, now + t.timeout());
                        tx.acks_2xx.push((to_tag_of(&resp), None));
                    } else {
                        tx.state = TxState::Completed;
                        tx.timers.clear();
                        let ack = build_ack(&tx.request, &resp);
                        let b = ack.to_bytes();
                        tx.ack_bytes = Some(b.clone());
                        resend = Some(b);
                        let d = if reliable {
                            Duration::ZERO
                        } else {
                            t.timer_d()
                        };
                        tx.timers.arm(Timer::D, now + d);
                    }
                }
                TxState::Completed => {
                    report = false;
                    if !status.is_provisional() && !status.is_success() {
                        resend = tx.ack_bytes.clone();
                    }
                }
                TxState::Accepted => {
                    if status.is_success() {
                        // A retransmission of a 2xx already reported is answered with the
                        // TU's ACK (once it sent one) and not reported again; a new To tag
                        // is a new fork and is reported.
                        let to_tag = to_tag_of(&resp);
                        match tx.acks_2xx.iter().find(|(t, _)| *t == to_tag) {
                            Some((_, ack)) => {
                                resend = ack.clone();
                                report = false;
                            }
                            None => tx.acks_2xx.push((to_tag, None)),
                        }
                    } else {
                        report = false;
                    }
                }
                _ => report = false,
            }
        } else {
            match tx.state {
                TxState::Trying | TxState::Proceeding => {
                    if status.is_provisional() {
                        tx.state = TxState::Proceeding;
                    } else {
                        tx.state = TxState::Completed;
                        tx.timers.clear();
                        let k = if reliable { Duration::ZERO } else { t.t4 };
                        tx.timers.arm(Timer::K, now + k);
                    }
                }
                _ => report = false,
            }
        }
        let (peer, transport) = (tx.peer, tx.transport);
        if let Some(b) = resend {
            self.transmit(peer, transport, b, Some(key));
        }
        if report {
            self.event(TxEvent::Response { key, resp });
        }
        if send_cancel {
            self.send_cancel(now, key);
        }
    }

    /// Fires every timer whose deadline is not after `now`. Call when `poll_timeout` passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.flush_schedule();
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.schedule.first() {
            if at > now {
                break;
            }
            self.schedule.pop_first();
            if let Some(tx) = self.get_mut(key) {
                tx.scheduled = None;
            }
            due.push(key);
        }
        for key in due {
            while let Some(timer) = self.get_mut(key).and_then(|tx| tx.timers.take_expired(now)) {
                self.fire(now, key, timer);
            }
        }
        self.flush_schedule();
    }

    fn fire(&mut self, now: Instant, key: TxKey, timer: Timer) {
        let t = self.config.timers;
        let Some(tx) = self.get_mut(key) else {
            return;
        };
        let (peer, transport) = (tx.peer, tx.transport);
        match timer {
            Timer::A => {
                tx.interval = tx.interval.saturating_mul(2);
                tx.timers.arm(Timer::A, now + tx.interval);
                let b = tx.request_bytes.clone();
                self.transmit(peer, transport, b, Some(key));
            }
            Timer::E => {
                tx.interval = if tx.state == TxState::Proceeding {
                    t.t2
                } else {
                    t.backoff_capped(tx.interval)
                };
                tx.timers.arm(Timer::E, now + tx.interval);
                let b = tx.request_bytes.clone();
                self.transmit(peer, transport, b, Some(key));
            }
            Timer::G | Timer::Retransmit2xx => {
                tx.interval = t.backoff_capped(tx.interval);
                tx.timers.arm(timer, now + tx.interval);
                if let Some(b) = tx.last_response.clone() {
                    self.transmit(peer, transport, b, Some(key));
                }
            }
            Timer::B | Timer::F | Timer::H => {
                let silent = tx.silent;
                if !silent {
                    self.event(TxEvent::Timeout { key, timer });
                }
                self.terminate(key);
            }
            Timer::L => {
                if !tx.acked {
                    self.event(TxEvent::Timeout { key, timer });
                }
                self.terminate(key);
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::M => self.terminate(key),
        }
    }

    fn terminate(&mut self, key: TxKey) {
        if self.get(key).is_none() {
            return;
        }
        let tx = self.txs.remove(key.index as usize);
        if let Some(at) = tx.scheduled {
            self.schedule.remove(&(at, key));
        }
        if let Some((ip, cost)) = tx.charge {
            self.stats.server_bytes -= cost;
            if let Some(e) = self.per_source.get_mut(&ip) {
                e.0 -= 1;
                e.1 -= cost;
                if e.0 == 0 {
                    self.per_source.remove(&ip);
                }
            }
        }
        if let Some(k) = &tx.client_key {
            if self.client_index.get(k) == Some(&key) {
                self.client_index.remove(k);
            }
        }
        if let Some(k) = &tx.server_key {
            if self.server_index.get(k) == Some(&key) {
                self.server_index.remove(k);
            }
        }
        if let Some(k) = &tx.merge_key {
            if self.merge_index.get(k) == Some(&key) {
                self.merge_index.remove(k);
            }
        }
        if let Some(k) = &tx.ack_key {
            if self.ack_index.get(k) == Some(&key) {
                self.ack_index.remove(k);
            }
        }
        if !tx.silent {
            self.event(TxEvent::Terminated { key, role: tx.role });
        }
    }
}

fn to_tag_of(resp: &Response) -> String {
    resp.headers
        .to()
        .ok()
        .and_then(|to| to.tag().map(str::to_string))
        .unwrap_or_default()
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID,
/// From, CSeq number and top Via as the INVITE, the To of the response, and the INVITE's Route.
pub fn build_ack(invite: &Request, resp: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(v) = invite.headers.get(&HeaderName::Via) {
        ack.headers.push(HeaderName::Via, v);
    }
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(v) = invite.headers.get(&name) {
            ack.headers.push(name, v);
        }
    }
    if let Some(v) = resp.headers.get(&HeaderName::To) {
        ack.headers.push(HeaderName::To, v);
    }
    if let Ok(c) = invite.headers.cseq() {
        ack.headers.push(HeaderName::CSeq, format!("{} ACK", c.seq));
    }
    for r in invite.headers.get_all(&HeaderName::Route) {
        ack.headers.push(HeaderName::Route, r);
    }
    ack.headers.push(HeaderName::MaxForwards, "70");
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sip_message::Uri;

    fn layer(max: usize) -> TransactionLayer {
        let mut c = TxConfig::new("192.0.2.1:5060".parse().expect("addr"));
        c.max_transactions = max;
        TransactionLayer::new(c, 9)
    }

    fn options(l: &mut TransactionLayer) -> Request {
        let mut r = Request::new(Method::Options, Uri::parse("sip:x@192.0.2.2").expect("uri"));
        let tag = l.new_tag();
        r.headers
            .push(HeaderName::From, format!("<sip:a@192.0.2.1>;tag={tag}"));
        r.headers.push(HeaderName::To, "<sip:x@192.0.2.2>");
        r.headers.push(HeaderName::CallId, l.new_call_id());
        r.headers.push(HeaderName::CSeq, "1 OPTIONS");
        r
    }

    fn transmits(l: &mut TransactionLayer) -> Vec<Bytes> {
        let mut v = Vec::new();
        while let Some(o) = l.poll_output() {
            if let Output::Transmit { bytes, .. } = o {
                v.push(bytes);
            }
        }
        v
    }

    #[test]
    fn timer_e_runs_at_t2_once_proceeding() {
        let t0 = crate::test_epoch();
        let mut l = layer(10);
        let dest = "192.0.2.2:5060".parse().expect("addr");
        let req = options(&mut l);
        let k = l.send_request(t0, dest, Transport::Udp, req).expect("send");
        assert_eq!(transmits(&mut l).len(), 1);
        let sent = l.request(k).expect("req").clone();
        let trying = Response::for_request(&sent, StatusCode::TRYING);
        l.handle_message(
            t0 + Duration::from_millis(100),
            dest,
            Transport::Udp,
            Message::Response(trying),
        );
        assert_eq!(l.state(k), Some(TxState::Proceeding));
        // E was armed at T1 before the 100; it fires there, then every T2.
        let first = t0 + Duration::from_millis(500);
        assert_eq!(l.poll_timeout(), Some(first));
        l.handle_timeout(first);
        assert_eq!(transmits(&mut l).len(), 1);
        assert_eq!(l.poll_timeout(), Some(first + Duration::from_secs(4)));
    }

    #[test]
    fn custom_t1_scales_every_timer() {
        let t0 = crate::test_epoch();
        let mut c = TxConfig::new("192.0.2.1:5060".parse().expect("addr"));
        c.timers.t1 = Duration::from_millis(100);
        let mut l = TransactionLayer::new(c, 1);
        let dest = "192.0.2.2:5060".parse().expect("addr");
        let mut inv = options(&mut l);
        inv.method = Method::Invite;
        inv.headers.set(HeaderName::CSeq, "1 INVITE");
        let k = l.send_request(t0, dest, Transport::Udp, inv).expect("send");
        assert_eq!(
            l.poll_timeout(),
            Some(t0 + Duration::from_millis(100)),
            "timer A = T1"
        );
        let mut sends = 0;
        let mut timeout_at = None;
        let mut now = t0;
        while let Some(next) = l.poll_timeout() {
            now = next;
            l.handle_timeout(now);
            while let Some(o) = l.poll_output() {
                match o {
                    Output::Transmit { .. } => sends += 1,
                    Output::Event(TxEvent::Timeout {
                        key,
                        timer: Timer::B,
                    }) if key == k => timeout_at = Some(now),
                    Output::Event(_) => {}
                }
            }
        }
        assert_eq!(
            timeout_at,
            Some(t0 + Duration::from_millis(6400)),
            "timer B = 64*T1"
        );
        assert_eq!(
            sends, 7,
            "the INVITE, then A at 0.1, 0.3, 0.7, 1.5, 3.1, 6.3 s"
        );
        assert!(now >= t0 + Duration::from_millis(6400));
    }

    #[test]
    fn keys_go_stale_and_wrong_calls_are_refused() {
        let t0 = crate::test_epoch();
        let mut l = layer(10);
        let dest = "192.0.2.2:5060".parse().expect("addr");
        let req = options(&mut l);
        let k = l
            .send_request(t0, dest, Transport::Tcp, req.clone())
            .expect("send");
        let ok = Response::for_request(&req, StatusCode::OK);
        assert!(matches!(
            l.send_response(t0, k, ok),
            Err(TxError::InvalidState(_))
        ));
        let mut ack = req.clone();
        ack.method = Method::Ack;
        assert!(matches!(
            l.send_request(t0, dest, Transport::Udp, ack),
            Err(TxError::WrongMethod(Method::Ack))
        ));
        l.handle_timeout(t0 + Duration::from_secs(33)); // timer F
        assert_eq!(l.state(k), None);
        assert!(l.is_empty());
        // A new transaction may reuse the slot; the old key must not reach it.
        let again = options(&mut l);
        let k2 = l
            .send_request(t0, dest, Transport::Tcp, again)
            .expect("send");
        assert_ne!(k, k2);
        assert_eq!(l.cancel(t0, k), Err(TxError::NoSuchTransaction));
    }

    #[test]
    fn server_refuses_a_second_final_and_sheds_load_with_503() {
        let t0 = crate::test_epoch();
        let mut l = layer(1);
        let from: SocketAddr = "192.0.2.9:5060".parse().expect("addr");
        let mut req = options(&mut l);
        req.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKs1".into(),
            },
        );
        l.handle_message(t0, from, Transport::Udp, Message::Request(req.clone()));
        let key = match l.poll_output() {
            Some(Output::Event(TxEvent::NewRequest { key, .. })) => key,
            other => panic!("expected NewRequest, got {other:?}"),
        };
        let ok = Response::for_request(&req, StatusCode::OK);
        l.send_response(t0, key, ok.clone()).expect("first final");
        assert_eq!(transmits(&mut l).len(), 1);
        assert!(matches!(
            l.send_response(t0, key, ok),
            Err(TxError::InvalidState(Some(TxState::Completed)))
        ));
        // The layer is full: the next new request is answered 503 without a transaction.
        let mut other = options(&mut l);
        other.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: "SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKs2".into(),
            },
        );
        l.handle_message(t0, from, Transport::Udp, Message::Request(other));
        let sent = transmits(&mut l);
        assert_eq!(sent.len(), 1);
        assert!(sent[0].starts_with(b"SIP/2.0 503"));
        assert_eq!(l.len(), 1);
    }
}

#[cfg(test)]
mod admission_tests {
    use super::*;
    use switchboard_sip_message::Uri;

    fn layer(f: impl FnOnce(&mut TxConfig)) -> TransactionLayer {
        let mut c = TxConfig::new("192.0.2.1:5060".parse().expect("addr"));
        f(&mut c);
        TransactionLayer::new(c, 3)
    }

    /// An INVITE from `from` with a unique branch and a body of `body` bytes.
    fn invite(n: u32, from: SocketAddr, body: usize) -> Request {
        let mut r = Request::new(
            Method::Invite,
            Uri::parse("sip:100@192.0.2.1").expect("uri"),
        );
        r.headers.push(
            HeaderName::Via,
            format!("SIP/2.0/UDP {from};branch=z9hG4bK-adm-{n}"),
        );
        r.headers
            .push(HeaderName::From, format!("<sip:a@{}>;tag=f{n}", from.ip()));
        r.headers.push(HeaderName::To, "<sip:100@192.0.2.1>");
        r.headers.push(HeaderName::CallId, format!("adm-{n}"));
        r.headers.push(HeaderName::CSeq, "1 INVITE");
        r.body = Bytes::from(vec![b'x'; body]);
        r
    }

    /// Feeds the request; returns the statuses transmitted and whether a transaction
    /// started.
    fn feed(l: &mut TransactionLayer, req: Request, from: SocketAddr) -> (Vec<u16>, bool) {
        let (statuses, key) = feed_key(l, req, from);
        (statuses, key.is_some())
    }

    fn feed_key(
        l: &mut TransactionLayer,
        req: Request,
        from: SocketAddr,
    ) -> (Vec<u16>, Option<TxKey>) {
        l.handle_message(
            crate::test_epoch(),
            from,
            Transport::Udp,
            Message::Request(req),
        );
        let mut statuses = Vec::new();
        let mut started = None;
        while let Some(o) = l.poll_output() {
            match o {
                Output::Transmit { bytes, .. } => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if let Some(code) = text.get(8..11).and_then(|c| c.parse().ok()) {
                        statuses.push(code);
                    }
                }
                Output::Event(TxEvent::NewRequest { key, .. }) => started = Some(key),
                Output::Event(_) => {}
            }
        }
        (statuses, started)
    }

    #[test]
    fn one_source_gets_its_share_and_others_still_get_in() {
        let mut l = layer(|c| c.max_server_per_source = 3);
        let flood: SocketAddr = "203.0.113.9:5060".parse().expect("addr");
        for n in 0..3 {
            assert!(feed(&mut l, invite(n, flood, 0), flood).1);
        }
        let (statuses, started) = feed(&mut l, invite(3, flood, 0), flood);
        assert!(!started);
        assert_eq!(statuses, vec![503]);
        assert_eq!(l.stats().refused_source_share, 1);
        let other: SocketAddr = "198.51.100.1:5060".parse().expect("addr");
        assert!(feed(&mut l, invite(4, other, 0), other).1);
        assert_eq!(l.stats().sources, 2);
    }

    #[test]
    fn byte_budgets_per_source_and_in_total_bound_what_live_transactions_hold() {
        let mut l = layer(|c| {
            c.max_bytes_per_source = 200_000;
            c.max_bytes = 300_000;
        });
        let a: SocketAddr = "203.0.113.9:5060".parse().expect("addr");
        let b: SocketAddr = "203.0.113.10:5060".parse().expect("addr");
        let c: SocketAddr = "203.0.113.11:5060".parse().expect("addr");
        // 60 kB INVITEs: three fit a's 200 kB share, the fourth does not.
        let mut keys = Vec::new();
        for n in 0..4 {
            keys.extend(feed_key(&mut l, invite(n, a, 60_000), a).1);
        }
        assert_eq!(keys.len(), 3);
        assert_eq!(l.stats().refused_source_share, 1);
        // b gets one in; then the 300 kB total is reached and c is refused for memory.
        keys.extend(feed_key(&mut l, invite(10, b, 60_000), b).1);
        assert_eq!(keys.len(), 4);
        assert!(!feed(&mut l, invite(11, c, 60_000), c).1);
        assert_eq!(l.stats().refused_memory, 1);
        assert!(l.stats().server_bytes <= 300_000);
        // When transactions end (final response, then timer H), their bytes are released.
        let t0 = crate::test_epoch();
        for k in keys {
            let req = l.request(k).expect("live").clone();
            l.send_response(t0, k, Response::for_request(&req, StatusCode::BUSY_HERE))
                .expect("respond");
        }
        while let Some(t) = l.poll_timeout() {
            l.handle_timeout(t);
            while l.poll_output().is_some() {}
        }
        assert_eq!(l.stats().server_bytes, 0);
        assert_eq!(l.stats().sources, 0);
        assert!(feed(&mut l, invite(12, c, 60_000), c).1);
    }
}
