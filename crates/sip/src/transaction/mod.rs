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
//!
//! Split by concern: this module holds the types, the table and its plumbing; `client`
//! and `server` hold the two sides, `matching` the match keys, `admission` the limits on
//! new server transactions, and `timers` the schedule and what each timer does. Calls
//! between them run one way: `client` and `server` use `matching` and `timers`, `server` uses
//! `admission`, and neither side uses the other.

mod admission;
mod client;
mod matching;
mod retention;
mod server;
#[cfg(test)]
mod tests;
mod timers;

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

pub use admission::SourceCaps;
use admission::{client_cost, request_cost, Charge, Refusal};
pub use client::build_ack;
use matching::{
    ack_key, ack_matches_invite, invite_ack_key, merge_key, method_key, server_key, with_method,
    AckKey, MergeKey, ServerKey,
};

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
    /// Port in the sent-by of our Via headers on TLS (our TLS listener); `None`:
    /// `via_port`.
    pub tls_via_port: Option<u16>,
    /// Maximum number of live transactions; new requests beyond it get a stateless 503.
    pub max_transactions: usize,
    /// Most live server transactions created by requests from one source IP; more get a
    /// stateless 503 (so one source cannot take the whole table).
    pub max_server_per_source: usize,
    /// Most bytes (estimated: request plus last response) held by live server transactions
    /// of one source IP; more get a stateless 503.
    pub max_bytes_per_source: usize,
    /// Most bytes held by all live server transactions of sources without caps of their
    /// own; more get a stateless 503.
    pub max_bytes: usize,
    /// Sources with caps of their own (the configured trunks' addresses; see
    /// [`SourceCaps`]). Fixed for the layer's life.
    pub source_caps: HashMap<IpAddr, SourceCaps>,
    /// Most bytes held by live client transactions (the requests we send: an INVITE's
    /// lingers 32 s after its answer); a new request outside a dialog beyond it is refused
    /// with [`TxError::Overloaded`]. Requests inside a dialog are always sent.
    pub max_client_bytes: usize,
}

/// What the layer's admission limits did. Totals since construction, plus current values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Requests refused (503) because the table was full (`max_transactions`).
    pub refused_full: u64,
    /// Requests refused because their source had `max_server_per_source` transactions or
    /// `max_bytes_per_source` bytes.
    pub refused_source_share: u64,
    /// Requests refused because their source, one with caps of its own
    /// ([`TxConfig::source_caps`]), held them.
    pub refused_own_caps: u64,
    /// Requests refused because all server transactions held `max_bytes`.
    pub refused_memory: u64,
    /// Requests of ours refused ([`TxError::Overloaded`]) because client transactions held
    /// `max_client_bytes` (or the table was full).
    pub refused_client: u64,
    /// Estimated bytes held by live server transactions now.
    pub server_bytes: usize,
    /// The part of `server_bytes` held by sources with caps of their own.
    pub own_caps_bytes: usize,
    /// Estimated bytes held by live client transactions now.
    pub client_bytes: usize,
    /// Sources with live server transactions now.
    pub sources: usize,
    /// ACKs dropped because they acknowledge no 2xx of ours: no INVITE with their Call-ID,
    /// CSeq and From tag got our 2xx with their To tag (blind or forged ACKs, or late
    /// retransmissions).
    pub stray_acks: u64,
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
            tls_via_port: None,
            max_transactions: 65_536,
            max_server_per_source: 2048,
            max_bytes_per_source: 8 << 20,
            max_bytes: 64 << 20,
            source_caps: HashMap::new(),
            max_client_bytes: 64 << 20,
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
    /// What this transaction counts against (its source IP's share, or the client
    /// budget) and its estimated bytes.
    charge: Option<Charge>,
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
    /// Live server transactions of sources with caps of their own.
    own_caps_txs: usize,
    stats: TxStats,
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
            own_caps_txs: 0,
            stats: TxStats::default(),
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

    /// A number in `lo..=hi` from the seeded RNG (RFC 3261 §14.1's glare delays).
    pub fn random_between(&mut self, lo: u32, hi: u32) -> u32 {
        self.rng.gen_range(lo..=hi.max(lo))
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
            port: match (transport, self.config.tls_via_port) {
                (Transport::Tls, Some(p)) => Some(p),
                _ => self.config.via_port,
            },
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

    fn terminate(&mut self, key: TxKey) {
        if self.get(key).is_none() {
            return;
        }
        let tx = self.txs.remove(key.index as usize);
        if let Some(at) = tx.scheduled {
            self.schedule.remove(&(at, key));
        }
        if let Some(ch) = tx.charge {
            self.give_back(ch, true);
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
