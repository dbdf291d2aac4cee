//! The append-only event log: one ordered stream of every call, queue, agent and
//! announcement event, in an event store (SQLite by default, or PostgreSQL; see
//! `event_store`). CDRs, the Asterisk-style queue_log and the recordings index are derived
//! from it and only from it.
//!
//! Writers never block: events go over a channel to one blocking thread that owns the
//! store and commits in small batches. A batch that fails to commit is retried with
//! backoff; every failure is counted (`switchboard_event_write_failures_total`) and logged,
//! and a batch given up after [`MAX_ATTEMPTS`] is counted as lost
//! (`switchboard_events_lost_total`) and logged with its size: nothing goes silently.
//!
//! The writer also carries each call's tenant forward: once an event of a call names its
//! tenant (the call task knows it from the dialplan's `entry … tenant`/`tenant` or its
//! queue), every later event of that call is stored with it, whoever logs it (the ACD's
//! offers and waits, the bridge, `call.end`), and so is an `agent.state` about that call.
//! What it remembers per call (sequence number, tenant) is bounded: a call is forgotten a
//! grace after its `call.end`, and read back from the store if an event of it comes later
//! (`call_book`).
//!
//! After a batch commits, the writer hands its rows, with the ids the store gave them, to
//! a bounded tokio broadcast channel (the live event stream, `http_events.rs`). Only
//! committed rows are broadcast, in id order, so a subscriber that subscribes and then
//! reads the store sees every event exactly once across that seam. The broadcast never
//! waits: a subscriber that falls behind loses its place (and is dropped by its reader),
//! the writer does not slow down.

mod call_book;

use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use serde_json::Value;
use switchboard_events::{CallEnd, Disposition, EndReason, Event, SCHEMA_VERSION};
use tokio::sync::broadcast;

use crate::event_store::{now_ms, EventStore, Row, StoredEvent};
use crate::metrics::Metrics;
use call_book::{CallBook, StoredTail, END_GRACE_MS, MAX_ENDED};

/// An event to append: the typed event and the call, queue, agent and tenant it concerns.
#[derive(Clone, Debug)]
pub(crate) struct NewEvent {
    pub(crate) call: String,
    pub(crate) queue: String,
    pub(crate) agent: String,
    /// The call's tenant when the logger knows it; empty: the writer uses the tenant an
    /// earlier event of the call named, if any.
    pub(crate) tenant: String,
    pub(crate) event: Event,
}

impl NewEvent {
    /// An event of call `call` (empty for events outside a call).
    pub(crate) fn call(call: &str, event: Event) -> NewEvent {
        NewEvent {
            call: call.to_string(),
            queue: String::new(),
            agent: String::new(),
            tenant: String::new(),
            event,
        }
    }
    /// An event outside any call (agents, the dialplan, the process).
    pub(crate) fn system(event: Event) -> NewEvent {
        NewEvent::call("", event)
    }
    pub(crate) fn queue(mut self, q: &str) -> NewEvent {
        self.queue = q.to_string();
        self
    }
    pub(crate) fn agent(mut self, a: &str) -> NewEvent {
        self.agent = a.to_string();
        self
    }
    /// The call's tenant, when it has one.
    pub(crate) fn tenant(mut self, t: Option<&str>) -> NewEvent {
        if let Some(t) = t {
            self.tenant = t.to_string();
        }
        self
    }
}

enum Cmd {
    Append(i64, Box<NewEvent>),
    Flush(mpsc::Sender<()>),
}

/// Attempts to commit a batch before it is counted as lost.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// Committed events the live broadcast holds for its slowest subscriber before that
/// subscriber lags (`RecvError::Lagged`).
pub(crate) const LIVE_CAPACITY: usize = 4096;

/// A committed event as the live stream carries it: the stored row, id included.
pub(crate) type LiveEvent = Arc<StoredEvent>;

/// Handle for appending; cheap to clone.
#[derive(Clone)]
pub(crate) struct EventLog {
    tx: mpsc::Sender<Cmd>,
    metrics: Arc<Metrics>,
    live: broadcast::Sender<LiveEvent>,
}

impl EventLog {
    /// Takes the store and starts its writer thread. Before anything else is logged,
    /// calls left open by a crash are closed with `end_reason` `crash`.
    pub(crate) fn start(
        mut store: Box<dyn EventStore>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<EventLog> {
        close_crashed_calls(store.as_mut())?;
        // The writer starts knowing no call: a call of before the restart that logs again
        // is read back from the store (its numbering continues there).
        let (tx, rx) = mpsc::channel::<Cmd>();
        let (live, _) = broadcast::channel(LIVE_CAPACITY);
        let m = metrics.clone();
        let l = live.clone();
        std::thread::Builder::new()
            .name("event-log".into())
            .spawn(move || writer(store, rx, m, l))?;
        Ok(EventLog { tx, metrics, live })
    }

    /// Every event committed from now on, in id order. Subscribe before reading the store
    /// to replay without a gap; drop live events whose id was already read.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// Appends an event (never blocks the caller). If the writer is gone the event is
    /// counted as lost and logged, never dropped silently.
    pub(crate) fn append(&self, ev: NewEvent) {
        if let Err(mpsc::SendError(Cmd::Append(_, ev))) =
            self.tx.send(Cmd::Append(now_ms(), Box::new(ev)))
        {
            Metrics::add(&self.metrics.events_lost, 1);
            tracing::error!(kind = ev.event.kind(), call = %ev.call, "event log writer gone; event lost");
        }
    }

    /// Waits until everything appended so far is committed.
    pub(crate) fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        if self.tx.send(Cmd::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }
}

/// Writes a `call.end` with `end_reason` `crash` for every call that has a start and no
/// end: the server stopped (kill -9, power loss) while it was up. Returns how many. Reads
/// only those calls (the store's open-call markers, then each call by its index), however
/// long the log.
pub(crate) fn close_crashed_calls(store: &mut dyn EventStore) -> anyhow::Result<usize> {
    let open = store.open_calls()?;
    if open.is_empty() {
        return Ok(0);
    }
    let mut rows = Vec::with_capacity(open.len());
    for oc in &open {
        let mut end = CallEnd::new(EndReason::Crash, Disposition::Interrupted);
        end.duration_s = Some(oc.last_ts_ms.saturating_sub(oc.start_ts_ms).max(0) as f64 / 1000.0);
        let ev = Event::CallEnd(end);
        rows.push(Row {
            // The last moment the call is known to have been alive.
            ts_ms: oc.last_ts_ms,
            call: oc.call.clone(),
            call_seq: oc.last_seq + 1,
            queue: oc.queue.clone(),
            agent: oc.agent.clone(),
            tenant: oc.tenant.clone(),
            kind: ev.kind().to_string(),
            data: ev.data().to_string(),
            schema: SCHEMA_VERSION,
        });
    }
    store.append_batch(&rows)?;
    tracing::warn!(
        calls = open.len(),
        "calls left open by an unclean stop were closed in the event log (end_reason crash)"
    );
    Ok(open.len())
}

fn writer(
    mut store: Box<dyn EventStore>,
    rx: mpsc::Receiver<Cmd>,
    metrics: Arc<Metrics>,
    live: broadcast::Sender<LiveEvent>,
) {
    let mut book = CallBook::new(END_GRACE_MS, MAX_ENDED);
    // Producers (call tasks, the ACD actor) stamp an event when they append it, so two
    // appends racing can reach the channel in the other order than their stamps (seen under
    // load: `queue.waited` 1 ms after the `call.bridge` logged behind it). The log keeps
    // time monotonic in id (and call_seq) order: a stamp earlier than the last one written
    // is raised to it, an adjustment as large as the race (milliseconds).
    let mut last_ts = i64::MIN;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 512 {
                break;
            }
        }
        let mut flushes = Vec::new();
        let mut rows = Vec::with_capacity(batch.len());
        // The typed events beside their rows, for the live broadcast.
        let mut typed = Vec::with_capacity(batch.len());
        for cmd in batch {
            match cmd {
                Cmd::Append(ts, ev) => {
                    let ts = ts.max(last_ts);
                    last_ts = ts;
                    let (seq, tenant) =
                        book.stamp(ts, &ev, &mut |call| stored_tail(store.as_mut(), call));
                    let data = ev.event.data();
                    rows.push(Row {
                        ts_ms: ts,
                        call: ev.call,
                        call_seq: seq,
                        queue: ev.queue,
                        agent: ev.agent,
                        tenant,
                        kind: ev.event.kind().to_string(),
                        data: data.to_string(),
                        schema: SCHEMA_VERSION,
                    });
                    typed.push((data, ev.event));
                }
                Cmd::Flush(done) => flushes.push(done),
            }
        }
        if !rows.is_empty() {
            if let Some(ids) = commit_with_retry(store.as_mut(), &rows, &metrics, RETRY_BACKOFF) {
                broadcast_committed(&live, rows, typed, &ids);
            }
        }
        // Everything stamped so far is committed (or counted as lost): what the book
        // forgets now can be read back.
        book.retire(last_ts);
        metrics
            .event_log_calls
            .store(book.len() as i64, Ordering::Relaxed);
        for f in flushes {
            let _ = f.send(());
        }
    }
}

/// What the store holds of `call`; a read that fails is logged and taken as nothing
/// stored (the event is still written, numbered from 1).
fn stored_tail(store: &mut dyn EventStore, call: &str) -> StoredTail {
    match store.call_tail(call) {
        Ok((seq, tenant)) => StoredTail { seq, tenant },
        Err(e) => {
            tracing::error!(call, error = %format!("{e:#}"), "event log: cannot read a call's last sequence number");
            StoredTail::default()
        }
    }
}

/// Hands committed rows to the live stream's subscribers, if there are any (checked after
/// the commit: a subscriber that arrives later finds these rows in the store).
fn broadcast_committed(
    live: &broadcast::Sender<LiveEvent>,
    rows: Vec<Row>,
    typed: Vec<(Value, Event)>,
    ids: &[i64],
) {
    if live.receiver_count() == 0 {
        return;
    }
    for ((row, (data, event)), id) in rows.into_iter().zip(typed).zip(ids) {
        let ev = StoredEvent {
            id: *id,
            ts_ms: row.ts_ms,
            call: row.call,
            call_seq: row.call_seq,
            queue: row.queue,
            agent: row.agent,
            tenant: row.tenant,
            kind: row.kind,
            data,
            event: Some(event),
        };
        // Err only when every subscriber left meanwhile: nobody to tell.
        let _ = live.send(Arc::new(ev));
    }
}

/// First retry delay; it doubles per attempt (to 3.2 s).
const RETRY_BACKOFF: Duration = Duration::from_millis(50);

/// Commits `rows`, retrying with backoff; counts and logs each failure, and the rows if it
/// gives up. Returns the ids the store gave the rows (`None`: given up).
fn commit_with_retry(
    store: &mut dyn EventStore,
    rows: &[Row],
    metrics: &Metrics,
    backoff: Duration,
) -> Option<Vec<i64>> {
    for attempt in 1..=MAX_ATTEMPTS {
        match store.append_batch(rows) {
            Ok(ids) => {
                Metrics::add(&metrics.events_written, rows.len() as u64);
                if attempt > 1 {
                    tracing::info!(
                        attempt,
                        rows = rows.len(),
                        "event log write succeeded after retrying"
                    );
                }
                return Some(ids);
            }
            Err(e) => {
                Metrics::add(&metrics.event_write_failures, 1);
                tracing::error!(
                    error = %format!("{e:#}"),
                    attempt,
                    rows = rows.len(),
                    store = %store.describe(),
                    "event log write failed"
                );
                if attempt < MAX_ATTEMPTS {
                    std::thread::sleep(backoff * (1 << (attempt - 1).min(6)));
                }
            }
        }
    }
    metrics
        .events_lost
        .fetch_add(rows.len() as u64, Ordering::Relaxed);
    tracing::error!(
        rows = rows.len(),
        first_call = %rows.first().map(|r| r.call.as_str()).unwrap_or(""),
        "event log write given up; these events are lost"
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event_store::{SqliteStore, StoredEvent};
    use std::collections::HashMap;

    fn temp_store(name: &str) -> (std::path::PathBuf, Box<dyn EventStore>) {
        let dir = std::env::temp_dir().join(format!("sb-evlog-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        (dir, Box::new(s))
    }

    #[test]
    fn stamps_that_raced_are_kept_in_order() {
        let (dir, store) = temp_store("stamps");
        let log = EventLog::start(store, Arc::new(Metrics::default())).unwrap();
        let start = Event::CallStart(switchboard_events::CallStart::default());
        let join = Event::QueueJoin {
            position: 1,
            resumed: false,
        };
        // Stamped 1,000 then 999 ms, arriving in that order (the second producer stamped
        // first but was preempted before its send).
        for (ts, ev) in [(1_000, start), (999, join)] {
            let _ = log
                .tx
                .send(Cmd::Append(ts, Box::new(NewEvent::call("c1", ev))));
        }
        log.flush();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let ts: Vec<i64> = s
            .read_range(None, None)
            .unwrap()
            .iter()
            .map(|e| e.ts_ms)
            .collect();
        assert_eq!(ts, vec![1_000, 1_000]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn events_are_ordered_with_gap_free_call_sequences() {
        let (dir, store) = temp_store("order");
        let metrics = Arc::new(Metrics::default());
        let log = EventLog::start(store, metrics.clone()).unwrap();
        let start = Event::CallStart(switchboard_events::CallStart::default());
        log.append(NewEvent::call("c1", start.clone()));
        log.append(NewEvent::call("c2", start));
        log.append(
            NewEvent::call(
                "c1",
                Event::QueueJoin {
                    position: 1,
                    resumed: false,
                },
            )
            .queue("sales"),
        );
        log.append(NewEvent::call(
            "c1",
            Event::CallEnd(CallEnd::new(EndReason::CallerHangup, Disposition::Ivr)),
        ));
        log.flush();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let evs = s.read_range(None, None).unwrap();
        assert_eq!(evs.len(), 4);
        let c1: Vec<i64> = evs
            .iter()
            .filter(|e| e.call == "c1")
            .map(|e| e.call_seq)
            .collect();
        assert_eq!(c1, vec![1, 2, 3]);
        assert_eq!(evs[2].queue, "sales");
        assert!(evs.windows(2).all(|w| w[0].id < w[1].id));
        assert!(evs.iter().all(|e| e.event.is_some()));
        assert_eq!(metrics.events_written.load(Ordering::Relaxed), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Once an event of a call names its tenant, the call's later events (whoever logs
    /// them) and agent states about the call carry it; other calls and events do not.
    #[test]
    fn a_call_s_tenant_is_carried_to_its_later_events() {
        let (dir, store) = temp_store("tenant");
        let log = EventLog::start(store, Arc::new(Metrics::default())).unwrap();
        let start = Event::CallStart(switchboard_events::CallStart::default());
        log.append(NewEvent::call("c1", start.clone()));
        log.append(
            NewEvent::call(
                "c1",
                Event::IvrStart {
                    dialplan: "outsourcing".into(),
                    block: "acme".into(),
                },
            )
            .tenant(Some("acme")),
        );
        log.append(NewEvent::call("c2", start));
        log.append(NewEvent::call("c1", Event::QueueOffer {}).agent("1001"));
        log.append(
            NewEvent::system(Event::AgentState {
                state: switchboard_events::AgentStateName::Ringing,
                pause_reason: None,
                busy_kind: None,
                call: Some("c1".into()),
            })
            .agent("1001"),
        );
        log.append(NewEvent::system(Event::AgentLogin {}).agent("1002"));
        log.flush();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let tenants: Vec<(String, String)> = s
            .read_range(None, None)
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, e.tenant))
            .collect();
        let t = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            tenants,
            vec![
                t("call.start", ""),
                t("ivr.start", "acme"),
                t("call.start", ""),
                t("queue.offer", "acme"),
                t("agent.state", "acme"),
                t("agent.login", ""),
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn committed_events_are_broadcast_with_their_store_ids_in_order() {
        let (dir, store) = temp_store("live");
        let log = EventLog::start(store, Arc::new(Metrics::default())).unwrap();
        // Before anyone subscribes: stored, not broadcast.
        log.append(NewEvent::system(Event::SystemStart {
            version: "t".into(),
        }));
        log.flush();
        let mut rx = log.subscribe();
        for i in 0..3 {
            log.append(
                NewEvent::call(
                    "c1",
                    Event::QueueJoin {
                        position: i + 1,
                        resumed: false,
                    },
                )
                .queue("sales"),
            );
        }
        log.flush();
        let live: Vec<LiveEvent> = (0..3).map(|_| rx.try_recv().unwrap()).collect();
        assert!(rx.try_recv().is_err(), "nothing more was committed");
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let stored = s.read_range(None, None).unwrap();
        assert_eq!(stored.len(), 4);
        for (l, st) in live.iter().zip(&stored[1..]) {
            assert_eq!(**l, *st, "the live event is the stored row, id included");
            assert_eq!(l.event, st.event);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_call_left_open_is_closed_with_end_reason_crash_at_start() {
        let (dir, store) = temp_store("crash");
        let log = EventLog::start(store, Arc::new(Metrics::default())).unwrap();
        log.append(NewEvent::call(
            "c9",
            Event::CallStart(switchboard_events::CallStart::default()),
        ));
        log.append(
            NewEvent::call("c9", Event::CallBridge { wait_s: 1.0 })
                .queue("q")
                .agent("a"),
        );
        log.flush();
        drop(log);
        // "Restart": the new writer closes c9 before anything else.
        let store = Box::new(SqliteStore::open(&dir.join("events.sqlite")).unwrap());
        let log = EventLog::start(store, Arc::new(Metrics::default())).unwrap();
        log.flush();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let evs = s.read_call("c9").unwrap();
        let end = evs.last().unwrap();
        assert_eq!(end.kind, "call.end");
        assert_eq!(end.call_seq, 3);
        assert_eq!(end.data["end_reason"], "crash");
        assert_eq!((end.queue.as_str(), end.agent.as_str()), ("q", "a"));
        assert!(s.open_calls().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A store in memory that keeps each call's tail (what `call_tail` reads) and the rows
    /// of calls named `late*`, shared with the test.
    #[derive(Default)]
    struct Memory {
        tails: HashMap<String, (i64, String)>,
        late_rows: Arc<std::sync::Mutex<Vec<Row>>>,
        rows: i64,
    }

    impl EventStore for Memory {
        fn describe(&self) -> String {
            "memory".into()
        }
        fn schema_version(&mut self) -> anyhow::Result<u32> {
            Ok(2)
        }
        fn append_batch(&mut self, rows: &[Row]) -> anyhow::Result<Vec<i64>> {
            for r in rows {
                if !r.call.is_empty() {
                    let t = self.tails.entry(r.call.clone()).or_default();
                    t.0 = r.call_seq;
                    if !r.tenant.is_empty() {
                        t.1.clone_from(&r.tenant);
                    }
                }
                if r.call.starts_with("late") || r.kind == "agent.state" {
                    self.late_rows.lock().unwrap().push(r.clone());
                }
            }
            let first = self.rows + 1;
            self.rows += rows.len() as i64;
            Ok((first..=self.rows).collect())
        }
        fn call_tail(&mut self, call: &str) -> anyhow::Result<(i64, String)> {
            Ok(self.tails.get(call).cloned().unwrap_or_default())
        }
        fn read_after(&mut self, _: i64, _: usize) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn last_id(&mut self) -> anyhow::Result<i64> {
            Ok(self.rows)
        }
        fn read_range(
            &mut self,
            _: Option<i64>,
            _: Option<i64>,
        ) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn read_call(&mut self, _: &str) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn read_kind_prefix(&mut self, _: &str) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn max_call_seqs(&mut self) -> anyhow::Result<Vec<(String, i64)>> {
            Ok(Vec::new())
        }
    }

    /// A server that runs for weeks: 100,000 calls through the writer leave it remembering
    /// a bounded number of calls, and the late events of a call ended long ago (an agent's
    /// wrap-up, a survey answer) still continue its sequence with its tenant.
    #[test]
    fn a_hundred_thousand_calls_leave_the_writer_bounded_and_late_events_right() {
        let late_rows = Arc::new(std::sync::Mutex::new(Vec::new()));
        let store = Memory {
            late_rows: late_rows.clone(),
            ..Memory::default()
        };
        let metrics = Arc::new(Metrics::default());
        let log = EventLog::start(Box::new(store), metrics.clone()).unwrap();
        let send = |ts: i64, ev: NewEvent| {
            log.tx.send(Cmd::Append(ts, Box::new(ev))).unwrap();
        };
        let end = || Event::CallEnd(CallEnd::new(EndReason::CallerHangup, Disposition::Ivr));
        let start = || Event::CallStart(switchboard_events::CallStart::default());
        send(0, NewEvent::call("late-1", start()).tenant(Some("acme")));
        send(1, NewEvent::call("late-1", end()));
        let mut peak = 0;
        for i in 0..100_000i64 {
            // A call every 20 ms of log time (50 calls/s), each three events.
            let ts = 1_000 + i * 20;
            let c = format!("c{i}");
            send(ts, NewEvent::call(&c, start()).tenant(Some("acme")));
            send(ts, NewEvent::call(&c, Event::QueueOffer {}).agent("1001"));
            send(ts + 10, NewEvent::call(&c, end()));
            if i % 5_000 == 0 {
                log.flush();
                peak = peak.max(metrics.event_log_calls.load(Ordering::Relaxed));
            }
        }
        log.flush();
        let left = metrics.event_log_calls.load(Ordering::Relaxed);
        peak = peak.max(left);
        assert!(
            peak <= MAX_ENDED as i64 + 1,
            "the writer remembered {peak} calls at most"
        );
        assert!(left > 0, "recently ended calls are remembered");
        // 2,000 s of log time later, late events of the first call (forgotten long ago).
        let late = 1_000 + 100_000 * 20 + 1;
        send(
            late,
            NewEvent::system(Event::AgentState {
                state: switchboard_events::AgentStateName::Available,
                pause_reason: None,
                busy_kind: None,
                call: Some("late-1".into()),
            })
            .agent("1001"),
        );
        send(late, NewEvent::call("late-1", Event::QueueOffer {}));
        log.flush();
        let rows = late_rows.lock().unwrap();
        let got: Vec<(&str, i64, &str)> = rows
            .iter()
            .map(|r| (r.kind.as_str(), r.call_seq, r.tenant.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("call.start", 1, "acme"),
                ("call.end", 2, "acme"),
                ("agent.state", 0, "acme"),
                ("queue.offer", 3, "acme"),
            ]
        );
    }

    /// After a restart the writer knows no call: an event of a call from before continues
    /// the stored sequence and carries the stored tenant.
    #[test]
    fn a_call_from_before_a_restart_continues_its_sequence_and_tenant() {
        let (dir, store) = temp_store("restart");
        let log = EventLog::start(store, Arc::new(Metrics::default())).unwrap();
        let start = Event::CallStart(switchboard_events::CallStart::default());
        log.append(NewEvent::call("c7", start).tenant(Some("acme")));
        log.append(NewEvent::call(
            "c7",
            Event::CallEnd(CallEnd::new(EndReason::CallerHangup, Disposition::Ivr)),
        ));
        log.flush();
        drop(log);
        let store = Box::new(SqliteStore::open(&dir.join("events.sqlite")).unwrap());
        let log = EventLog::start(store, Arc::new(Metrics::default())).unwrap();
        log.append(NewEvent::call("c7", Event::QueueOffer {}).agent("1001"));
        log.flush();
        let mut s = SqliteStore::open(&dir.join("events.sqlite")).unwrap();
        let evs = s.read_call("c7").unwrap();
        let last = evs.last().unwrap();
        assert_eq!(
            (last.kind.as_str(), last.call_seq, last.tenant.as_str()),
            ("queue.offer", 3, "acme")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A store that fails its first `failures` commits.
    struct Flaky {
        failures: u32,
        rows: Vec<Row>,
    }

    impl EventStore for Flaky {
        fn describe(&self) -> String {
            "flaky".into()
        }
        fn schema_version(&mut self) -> anyhow::Result<u32> {
            Ok(2)
        }
        fn append_batch(&mut self, rows: &[Row]) -> anyhow::Result<Vec<i64>> {
            if self.failures > 0 {
                self.failures -= 1;
                anyhow::bail!("disk I/O error");
            }
            let first = self.rows.len() as i64 + 1;
            self.rows.extend_from_slice(rows);
            Ok((first..first + rows.len() as i64).collect())
        }
        fn read_after(&mut self, _: i64, _: usize) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn last_id(&mut self) -> anyhow::Result<i64> {
            Ok(self.rows.len() as i64)
        }
        fn read_range(
            &mut self,
            _: Option<i64>,
            _: Option<i64>,
        ) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn read_call(&mut self, _: &str) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn read_kind_prefix(&mut self, _: &str) -> anyhow::Result<Vec<StoredEvent>> {
            Ok(Vec::new())
        }
        fn max_call_seqs(&mut self) -> anyhow::Result<Vec<(String, i64)>> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn failed_writes_are_retried_and_counted_and_lost_ones_are_counted() {
        let m = Metrics::default();
        let row = Row {
            ts_ms: 1,
            call: "c".into(),
            call_seq: 1,
            queue: String::new(),
            agent: String::new(),
            tenant: String::new(),
            kind: "call.start".into(),
            data: "{}".into(),
            schema: SCHEMA_VERSION,
        };
        let mut s = Flaky {
            failures: 2,
            rows: Vec::new(),
        };
        let ids = commit_with_retry(&mut s, std::slice::from_ref(&row), &m, Duration::ZERO);
        assert_eq!(ids, Some(vec![1]));
        assert_eq!(s.rows.len(), 1);
        assert_eq!(m.event_write_failures.load(Ordering::Relaxed), 2);
        assert_eq!(m.events_lost.load(Ordering::Relaxed), 0);
        let mut s = Flaky {
            failures: MAX_ATTEMPTS,
            rows: Vec::new(),
        };
        let ids = commit_with_retry(&mut s, &[row.clone(), row], &m, Duration::ZERO);
        assert_eq!(ids, None);
        assert!(s.rows.is_empty());
        assert_eq!(m.events_lost.load(Ordering::Relaxed), 2);
    }
}
