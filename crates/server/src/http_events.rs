//! `GET /api/v1/events`: the event log as a WebSocket stream. Each text frame is one
//! committed event in the stored row's shape (`id`, `ts_ms`, `call`, `call_seq`, `queue`,
//! `agent`, `kind`, `data`), in id order. `?since=<id>` first replays the stored events
//! after that id from the event store, page by page, then goes live without a gap or a
//! duplicate (see [`crate::event_stream::Seam`]); filters are `queue`, `agent` and `kind`
//! prefixes (`event_stream.rs`). The token comes in `Authorization: Bearer` or, for
//! browsers, as the subprotocol `bearer.<token>` beside `switchboard.v1`.
//!
//! A client never slows the server: the live events come from a bounded broadcast the
//! event-log writer never waits on; a client that falls behind it, or whose socket does
//! not take a frame within [`SEND_TIMEOUT`], is closed with 1013 and counted
//! (`switchboard_ws_clients_dropped_total`). docs/api.md describes the protocol.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::event_log::{EventLog, LiveEvent};
use crate::event_store::{EventStore, StoreLocation, StoredEvent};
use crate::event_stream::{parse_kinds, Seam, View};
use crate::http_auth::{Principal, Role, TokenTable};
use crate::http_error::ApiError;
use crate::metrics::Metrics;

/// The subprotocol a client offers (and is answered with).
pub(crate) const PROTOCOL: &str = "switchboard.v1";
/// Prefix of the subprotocol that carries the token.
const BEARER_PROTOCOL: &str = "bearer.";
/// Stored events read per page of a replay.
const PAGE: usize = 500;
/// A frame the socket does not take within this closes the client (too slow).
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// A ping this often; no pong by the next ping closes the client.
const PING_EVERY: Duration = Duration::from_secs(30);
/// Largest message accepted from a client (it is not meant to send any).
const MAX_CLIENT_MESSAGE: usize = 4096;

/// What the stream endpoint needs: the live broadcast, a way to open the store for
/// replays, and the client cap.
pub(crate) struct EventStream {
    pub(crate) log: EventLog,
    pub(crate) store_at: StoreLocation,
    pub(crate) data_dir: PathBuf,
    pub(crate) max_clients: usize,
    pub(crate) clients: Arc<Semaphore>,
    pub(crate) metrics: Arc<Metrics>,
}

impl EventStream {
    pub(crate) fn new(
        log: EventLog,
        store_at: StoreLocation,
        data_dir: PathBuf,
        max_clients: usize,
        metrics: Arc<Metrics>,
    ) -> EventStream {
        EventStream {
            log,
            store_at,
            data_dir,
            max_clients,
            clients: Arc::new(Semaphore::new(max_clients)),
            metrics,
        }
    }
}

/// Counters of the stream, rendered into `/metrics`.
#[derive(Default)]
pub(crate) struct WsMetrics {
    pub(crate) clients: AtomicI64,
    pub(crate) accepted: AtomicU64,
    pub(crate) refused_full: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

impl WsMetrics {
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let c = |v: &AtomicU64| v.load(Ordering::Relaxed);
        let rows: [(&str, &str, &str, i64); 4] = [
            (
                "switchboard_ws_clients",
                "gauge",
                "Event-stream WebSocket clients connected now.",
                self.clients.load(Ordering::Relaxed),
            ),
            (
                "switchboard_ws_clients_accepted_total",
                "counter",
                "Event-stream WebSocket clients accepted.",
                c(&self.accepted) as i64,
            ),
            (
                "switchboard_ws_clients_refused_total",
                "counter",
                "Event-stream upgrades refused with 503: http.max_ws_clients were connected.",
                c(&self.refused_full) as i64,
            ),
            (
                "switchboard_ws_clients_dropped_total",
                "counter",
                "Event-stream clients closed for being too slow (fell behind the live broadcast or a write timed out).",
                c(&self.dropped) as i64,
            ),
        ];
        for (name, kind, help, v) in rows {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            );
        }
    }
}

/// Query parameters of `GET /api/v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StreamQuery {
    since: Option<i64>,
    queue: Option<String>,
    agent: Option<String>,
    kind: Option<String>,
}

/// The token of an upgrade request: `Authorization: Bearer <token>`, else the subprotocol
/// `bearer.<token>` (which must come with `switchboard.v1`, the protocol we answer with).
fn presented_token(headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(h) = headers.get(axum::http::header::AUTHORIZATION) {
        let h = h.to_str().map_err(|_| ApiError::unauthorized())?;
        return match h.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Ok(token.trim().to_string())
            }
            _ => Err(ApiError::unauthorized()),
        };
    }
    let offered: Vec<&str> = headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let token = offered
        .iter()
        .find_map(|p| p.strip_prefix(BEARER_PROTOCOL))
        .ok_or_else(ApiError::unauthorized)?;
    if !offered.contains(&PROTOCOL) {
        return Err(ApiError::bad_request(format!(
            "offer the subprotocol {PROTOCOL} beside {BEARER_PROTOCOL}<token>"
        )));
    }
    Ok(token.to_string())
}

fn authenticate(headers: &HeaderMap, tokens: &TokenTable) -> Result<Principal, ApiError> {
    let token = presented_token(headers)?;
    tokens
        .find(&token)
        .cloned()
        .ok_or_else(ApiError::unauthorized)
}

/// The upgrade: token, parameters, the client cap and `since` are checked before the
/// socket is opened, so each failure is a plain JSON error.
pub(crate) async fn events(
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    query: Result<Query<StreamQuery>, QueryRejection>,
    headers: HeaderMap,
    Extension(tokens): Extension<Arc<TokenTable>>,
    Extension(stream): Extension<Arc<EventStream>>,
) -> Result<Response, ApiError> {
    let who = authenticate(&headers, &tokens)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let own_agent = match who.role {
        Role::Agent => who.agent.clone(),
        Role::Admin | Role::Supervisor => None,
    };
    if let (Some(own), Some(asked)) = (&own_agent, &q.agent) {
        if own != asked {
            return Err(ApiError::forbidden(format!(
                "an agent token streams only its own agent's events, not {asked}"
            )));
        }
    }
    for (name, v) in [("queue", &q.queue), ("agent", &q.agent)] {
        if v.as_ref().is_some_and(|v| v.is_empty() || v.len() > 128) {
            return Err(ApiError::bad_request(format!(
                "{name}: 1 to 128 characters"
            )));
        }
    }
    let kinds = parse_kinds(q.kind.as_deref()).map_err(ApiError::bad_request)?;
    if q.since.is_some_and(|s| s < 0) {
        return Err(ApiError::bad_request("since: an event id, 0 or more"));
    }
    let ws = ws.map_err(|e| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            format!("this endpoint is a WebSocket ({})", e.body_text()),
        )
    })?;
    let Ok(permit) = stream.clients.clone().try_acquire_owned() else {
        Metrics::add(&stream.metrics.ws.refused_full, 1);
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_clients",
            format!(
                "{} event-stream clients are connected (http.max_ws_clients); try again later",
                stream.max_clients
            ),
        ));
    };
    // Live only: subscribed before the 101 answer, so a client that has seen the
    // upgrade complete gets every event committed after that.
    let start = match q.since {
        Some(since) => Start::Replay(since, open_for_replay(&stream, since).await?),
        None => Start::Live(stream.log.subscribe()),
    };
    // Numbers as GET /api/v1/calls shows them: whole for admins and for an agent (who
    // sees only its own calls), masked for supervisors.
    let view = View::new(
        q.queue.as_deref(),
        q.agent.as_deref(),
        kinds,
        own_agent.as_deref(),
        who.role == Role::Supervisor,
    );
    let view = match who.scope.clone() {
        Some(scope) => view.for_tenant(scope),
        None => view,
    };
    tracing::info!(token = %who.name, role = who.role.as_str(), since = ?q.since, "event stream client");
    Ok(ws
        .protocols([PROTOCOL])
        .max_message_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| client(socket, stream, view, start, permit)))
}

/// Opens a reader on the store and checks that `since` is not ahead of the log (a client
/// of another server's log would otherwise wait silently for ids that may never come).
async fn open_for_replay(
    stream: &EventStream,
    since: i64,
) -> Result<Box<dyn EventStore>, ApiError> {
    let at = stream.store_at.clone();
    let dir = stream.data_dir.clone();
    let opened = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut store = at.open_existing(&dir)?;
        let last = store.last_id()?;
        Ok((store, last))
    })
    .await;
    let (store, last) = match opened {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::error!(error = %format!("{e:#}"), "event stream: the event store could not be read");
            return Err(store_unavailable());
        }
        Err(e) => {
            tracing::error!(error = %e, "event stream: the store reader failed");
            return Err(store_unavailable());
        }
    };
    if since > last {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "since_ahead",
            format!("since={since} is beyond the last stored event ({last}); reconnect without since, or with since=0 for the whole log"),
        ));
    }
    Ok(store)
}

fn store_unavailable() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "event_store_unavailable",
        "the event store cannot be read now; try again",
    )
}

/// Where a client's stream starts.
enum Start {
    /// Live events from this subscription on.
    Live(Receiver<LiveEvent>),
    /// Stored events after this id (read from this store), then live.
    Replay(i64, Box<dyn EventStore>),
}

/// How a client's stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client closed or the connection broke: nothing more to send.
    Gone,
    /// We close with this code and reason.
    Close(u16, String),
    /// Too slow: close 1013 and count it.
    TooSlow(String),
}

fn too_slow(last: i64) -> End {
    End::TooSlow(format!("too slow, reconnect with since={last}"))
}

/// Counts the client while it is connected.
struct Connected(Arc<EventStream>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.metrics.ws.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn client(
    mut socket: WebSocket,
    stream: Arc<EventStream>,
    mut view: View,
    start: Start,
    _permit: OwnedSemaphorePermit,
) {
    stream.metrics.ws.clients.fetch_add(1, Ordering::Relaxed);
    Metrics::add(&stream.metrics.ws.accepted, 1);
    let _connected = Connected(stream.clone());
    let end = pump(&mut socket, &stream.log, &mut view, start).await;
    let (code, reason) = match end {
        End::Gone => return,
        End::Close(code, reason) => (code, reason),
        End::TooSlow(reason) => {
            Metrics::add(&stream.metrics.ws.dropped, 1);
            tracing::warn!(%reason, "event stream client dropped");
            (1013, reason)
        }
    };
    let close = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    // A client too slow to take frames may not take this one either: bounded.
    let _ = tokio::time::timeout(Duration::from_secs(1), socket.send(close)).await;
}

/// Sends one message within [`SEND_TIMEOUT`].
/// The client's socket as the stream uses it; a trait so the tests can run the whole
/// stream (replay, seam, live) against a recording peer.
trait Peer {
    async fn send(&mut self, msg: Message) -> Result<(), axum::Error>;
    async fn recv(&mut self) -> Option<Result<Message, axum::Error>>;
}

impl Peer for WebSocket {
    async fn send(&mut self, msg: Message) -> Result<(), axum::Error> {
        WebSocket::send(self, msg).await
    }
    async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        WebSocket::recv(self).await
    }
}

async fn send(socket: &mut impl Peer, msg: Message, seam: &Seam) -> Result<(), End> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err(End::Gone),
        Err(_) => Err(too_slow(seam.last())),
    }
}

/// Sends the stored events after `seam` page by page until a short page; returns the
/// store back.
async fn replay_pages(
    socket: &mut impl Peer,
    mut store: Box<dyn EventStore>,
    seam: &mut Seam,
    view: &mut View,
) -> Result<Box<dyn EventStore>, End> {
    loop {
        let after = seam.last();
        let (s, page) = tokio::task::spawn_blocking(move || {
            let page = store.read_after(after, PAGE);
            (store, page)
        })
        .await
        .map_err(|_| End::Close(1011, "event store reader failed".into()))?;
        store = s;
        let page: Vec<StoredEvent> = page.map_err(|e| {
            tracing::error!(error = %format!("{e:#}"), "event stream: replay read failed");
            End::Close(
                1011,
                format!("event store read failed; reconnect with since={after}"),
            )
        })?;
        let full = page.len() == PAGE;
        for ev in &page {
            if seam.take(ev.id) && view.admits(ev) {
                send(socket, Message::Text(view.frame(ev)), seam).await?;
            }
        }
        if !full {
            return Ok(store);
        }
    }
}

/// The whole stream of one client: the replay (if asked), then live events.
async fn pump(socket: &mut impl Peer, log: &EventLog, view: &mut View, start: Start) -> End {
    let (mut seam, rx) = match start {
        Start::Live(rx) => (Seam::after(0), rx),
        Start::Replay(since, store) => {
            let mut seam = Seam::after(since);
            // Catch up first without a subscription (a long replay would overflow it),
            // then subscribe and read the store once more: whatever was committed before
            // the subscription is in that read, whatever after it is broadcast.
            let store = match replay_pages(socket, store, &mut seam, view).await {
                Ok(s) => s,
                Err(end) => return end,
            };
            let rx = log.subscribe();
            if let Err(end) = replay_pages(socket, store, &mut seam, view).await {
                return end;
            }
            (seam, rx)
        }
    };
    match live(socket, rx, &mut seam, view).await {
        Ok(()) => End::Gone,
        Err(end) => end,
    }
}

async fn live(
    socket: &mut impl Peer,
    mut rx: Receiver<LiveEvent>,
    seam: &mut Seam,
    view: &mut View,
) -> Result<(), End> {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut awaiting_pong = false;
    loop {
        tokio::select! {
            r = rx.recv() => match r {
                Ok(ev) => {
                    // The first live events may already have come from the store.
                    if seam.take(ev.id) && view.admits(&ev) {
                        send(socket, Message::Text(view.frame(&ev)), seam).await?;
                    }
                }
                Err(RecvError::Lagged(_)) => return Err(too_slow(seam.last())),
                Err(RecvError::Closed) => {
                    return Err(End::Close(1001, "server stopping".into()))
                }
            },
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Err(End::Gone),
                Some(Ok(Message::Pong(_))) => awaiting_pong = false,
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_))) => {}
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    return Err(End::Close(
                        1003,
                        "this stream takes no messages; filters and since go in the URL".into(),
                    ))
                }
            },
            _ = ping.tick() => {
                if awaiting_pong {
                    return Err(End::Close(1008, "no pong to the last ping".into()));
                }
                awaiting_pong = true;
                send(socket, Message::Ping(b"sb".to_vec()), seam).await?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_subprotocol() {
        assert_eq!(
            presented_token(&headers(&[("authorization", "Bearer tok")])).unwrap(),
            "tok"
        );
        assert_eq!(
            presented_token(&headers(&[(
                "sec-websocket-protocol",
                "switchboard.v1, bearer.tok-2"
            )]))
            .unwrap(),
            "tok-2"
        );
        let no_v1 = presented_token(&headers(&[("sec-websocket-protocol", "bearer.tok")]));
        assert_eq!(no_v1.unwrap_err().status, StatusCode::BAD_REQUEST);
        for bad in [
            headers(&[]),
            headers(&[("authorization", "Basic dG9r")]),
            headers(&[("sec-websocket-protocol", "switchboard.v1")]),
        ] {
            assert_eq!(
                presented_token(&bad).unwrap_err().status,
                StatusCode::UNAUTHORIZED
            );
        }
    }

    /// A client that records the ids it is sent and leaves once it has `until`.
    struct Recorder {
        ids: Vec<i64>,
        until: i64,
    }

    impl Peer for Recorder {
        async fn send(&mut self, msg: Message) -> Result<(), axum::Error> {
            if let Message::Text(t) = msg {
                let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                self.ids.push(v["id"].as_i64().unwrap());
            }
            Ok(())
        }
        async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
            if self.ids.last().is_some_and(|l| *l >= self.until) {
                return None;
            }
            std::future::pending().await
        }
    }

    fn event(i: u32) -> crate::event_log::NewEvent {
        crate::event_log::NewEvent::call(
            &format!("c{}", i % 7),
            switchboard_events::Event::QueueJoin {
                position: u64::from(i),
                resumed: false,
            },
        )
        .queue("sales")
    }

    fn temp_log(name: &str) -> (PathBuf, EventLog) {
        let dir = std::env::temp_dir().join(format!("sb-ws-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let log = EventLog::start(Box::new(store), Arc::new(Metrics::default())).unwrap();
        (dir, log)
    }

    /// Replay over several pages while the writer keeps appending, then live: every id
    /// after `since` exactly once, in order (SQLite ids have no gaps).
    #[tokio::test]
    async fn a_replay_racing_the_writer_switches_to_live_without_gap_or_duplicate() {
        let (dir, log) = temp_log("seam");
        for i in 0..1200 {
            log.append(event(i));
        }
        log.flush();
        let writer = log.clone();
        let more = std::thread::spawn(move || {
            for i in 0..2000 {
                writer.append(event(i));
                if i % 50 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        let store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let mut peer = Recorder {
            ids: Vec::new(),
            until: 3200,
        };
        let mut view = View::new(None, None, Vec::new(), None, false);
        let end = tokio::time::timeout(
            Duration::from_secs(60),
            pump(
                &mut peer,
                &log,
                &mut view,
                Start::Replay(100, Box::new(store)),
            ),
        )
        .await
        .expect("the stream reached the last event");
        more.join().unwrap();
        assert_eq!(end, End::Gone);
        assert_eq!(peer.ids, (101..=3200).collect::<Vec<i64>>());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A subscriber that falls a whole broadcast behind is told to reconnect from the last
    /// id it was sent.
    #[tokio::test]
    async fn a_client_that_falls_behind_the_broadcast_is_closed_as_too_slow() {
        let (dir, log) = temp_log("lag");
        let rx = log.subscribe();
        for i in 0..(crate::event_log::LIVE_CAPACITY as u32 + 10) {
            log.append(event(i));
        }
        log.flush();
        let mut peer = Recorder {
            ids: Vec::new(),
            until: i64::MAX,
        };
        let mut view = View::new(None, None, Vec::new(), None, false);
        let end = pump(&mut peer, &log, &mut view, Start::Live(rx)).await;
        assert_eq!(end, too_slow(0));
        assert!(peer.ids.is_empty());
        assert_eq!(
            too_slow(41),
            End::TooSlow("too slow, reconnect with since=41".into())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Replay rate through the stream (store pages, filter, JSON frames) and the event
    /// writer's rate with and without 64 live subscribers.
    /// `cargo test -p switchboard --release -- --ignored --nocapture stream_rates`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement, not a check"]
    async fn stream_rates() {
        const N: u32 = 50_000;
        let (dir, log) = temp_log("rates");
        let t = std::time::Instant::now();
        for i in 0..N {
            log.append(event(i));
        }
        log.flush();
        let plain = f64::from(N) / t.elapsed().as_secs_f64();
        let store = crate::event_store::SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let mut peer = Recorder {
            ids: Vec::new(),
            until: i64::from(N),
        };
        let mut view = View::new(None, None, Vec::new(), None, false);
        let t = std::time::Instant::now();
        pump(
            &mut peer,
            &log,
            &mut view,
            Start::Replay(0, Box::new(store)),
        )
        .await;
        let replay = f64::from(N) / t.elapsed().as_secs_f64();
        assert_eq!(peer.ids.len(), N as usize);
        let subs: Vec<_> = (0..64).map(|_| log.subscribe()).collect();
        let t = std::time::Instant::now();
        for i in 0..N {
            log.append(event(i));
        }
        log.flush();
        let with_subs = f64::from(N) / t.elapsed().as_secs_f64();
        drop(subs);
        println!(
            "writer: {plain:.0} events/s alone, {with_subs:.0} with 64 subscribers; \
             replay: {replay:.0} events/s to one client"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn metrics_render_every_counter() {
        let m = WsMetrics::default();
        Metrics::add(&m.dropped, 2);
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("switchboard_ws_clients_dropped_total 2\n"));
        assert!(out.contains("# TYPE switchboard_ws_clients gauge\n"));
    }
}
