//! The event writer's memory of calls: each call's last `call_seq` and its tenant, so the
//! next event of the call gets the next number and carries the tenant an earlier event
//! named.
//!
//! It is bounded. A call is remembered while it lives and for a grace after its
//! `call.end` ([`END_GRACE_MS`] of the log's own timestamps, and at most [`MAX_ENDED`]
//! ended calls): events that follow a call's end (the agent's wrap-up `agent.state`, a
//! `queue.waited` that raced the end, a survey, a recording) find it there. Forgetting is
//! never wrong, only slower: a call the book does not know (and whose event is not its
//! `call.start`, the first event of every call) is looked up in the store
//! (its highest stored `call_seq` and last tenant) before its event is numbered, so an
//! event arriving an hour after its call ended, or after a restart, still continues its
//! call's sequence with the right tenant. The writer forgets only between batches, after
//! a commit, so everything the book forgets is in the store.

use std::collections::{HashMap, VecDeque};

use switchboard_events::Event;

use super::NewEvent;

/// How long (log time) an ended call is remembered.
pub(crate) const END_GRACE_MS: i64 = 10 * 60 * 1000;

/// At most this many ended calls are remembered, however busy the last grace was.
pub(crate) const MAX_ENDED: usize = 10_000;

/// What the store holds of a call: its highest `call_seq` (0: no rows) and the tenant its
/// latest tenanted row carries (empty: none).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StoredTail {
    pub(crate) seq: i64,
    pub(crate) tenant: String,
}

struct Entry {
    seq: i64,
    tenant: String,
    /// When this entry may be forgotten from (log time): set by `call.end`, or when the
    /// entry was read back from the store (a call that has rows the book had forgotten).
    retire_from: Option<i64>,
}

/// Per-call sequence numbers and tenants (see the module text).
pub(crate) struct CallBook {
    calls: HashMap<String, Entry>,
    /// Calls that may be forgotten, oldest first, with the time their entry says.
    retirable: VecDeque<(i64, String)>,
    grace_ms: i64,
    max_retirable: usize,
}

impl CallBook {
    pub(crate) fn new(grace_ms: i64, max_retirable: usize) -> CallBook {
        CallBook {
            calls: HashMap::new(),
            retirable: VecDeque::new(),
            grace_ms,
            max_retirable,
        }
    }

    /// The `call_seq` (0 outside a call) and the tenant to store with `ev`, written at
    /// log time `ts`. `stored` reads what the store holds of a call the book does not know.
    pub(crate) fn stamp(
        &mut self,
        ts: i64,
        ev: &NewEvent,
        stored: &mut dyn FnMut(&str) -> StoredTail,
    ) -> (i64, String) {
        if ev.call.is_empty() {
            if !ev.tenant.is_empty() {
                return (0, ev.tenant.clone());
            }
            // An agent's state about a call carries the call's tenant.
            let tenant = match &ev.event {
                Event::AgentState {
                    call: Some(call), ..
                } if !call.is_empty() => self.entry(ts, call, false, stored).tenant.clone(),
                _ => String::new(),
            };
            return (0, tenant);
        }
        // A call's `call.start` is its first event (nothing to read back): no store read
        // for the common case of a new call.
        let first = matches!(ev.event, Event::CallStart(_));
        let entry = self.entry(ts, &ev.call, first, stored);
        entry.seq += 1;
        let seq = entry.seq;
        if !ev.tenant.is_empty() && entry.tenant != ev.tenant {
            entry.tenant.clone_from(&ev.tenant);
        }
        let tenant = entry.tenant.clone();
        if matches!(ev.event, Event::CallEnd(_)) {
            entry.retire_from = Some(ts);
            self.retirable.push_back((ts, ev.call.clone()));
        }
        (seq, tenant)
    }

    fn entry(
        &mut self,
        ts: i64,
        call: &str,
        first: bool,
        stored: &mut dyn FnMut(&str) -> StoredTail,
    ) -> &mut Entry {
        if !self.calls.contains_key(call) {
            let tail = if first {
                StoredTail::default()
            } else {
                stored(call)
            };
            // A call with rows the book does not know ended before it was forgotten (or
            // before a restart): it may be forgotten again after a grace. A call without
            // rows is new and lives until its `call.end`.
            let retire_from = (tail.seq > 0).then_some(ts);
            if retire_from.is_some() {
                self.retirable.push_back((ts, call.to_string()));
            }
            self.calls.insert(
                call.to_string(),
                Entry {
                    seq: tail.seq,
                    tenant: tail.tenant,
                    retire_from,
                },
            );
        }
        self.calls.get_mut(call).expect("inserted above")
    }

    /// Forgets the calls whose grace is over at log time `now_ms`, and the oldest ended
    /// ones beyond the cap. Call only when everything stamped so far is committed.
    pub(crate) fn retire(&mut self, now_ms: i64) {
        while let Some((from, _)) = self.retirable.front() {
            let over = self.retirable.len() > self.max_retirable
                || from.saturating_add(self.grace_ms) <= now_ms;
            if !over {
                break;
            }
            let (from, call) = self.retirable.pop_front().expect("front exists");
            // An entry queued twice (read back, then ended) goes with its latest time.
            if self.calls.get(&call).and_then(|e| e.retire_from) == Some(from) {
                self.calls.remove(&call);
            }
        }
    }

    /// Calls remembered now (live ones and ended ones in their grace).
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_events::{CallEnd, CallStart, Disposition, EndReason};

    fn start(call: &str) -> NewEvent {
        NewEvent::call(call, Event::CallStart(CallStart::default()))
    }
    fn end(call: &str) -> NewEvent {
        NewEvent::call(
            call,
            Event::CallEnd(CallEnd::new(EndReason::CallerHangup, Disposition::Ivr)),
        )
    }
    fn offer(call: &str) -> NewEvent {
        NewEvent::call(call, Event::QueueOffer {}).agent("1001")
    }
    fn wrap_up(call: &str) -> NewEvent {
        NewEvent::system(Event::AgentState {
            state: switchboard_events::AgentStateName::WrapUp,
            pause_reason: None,
            busy_kind: None,
            call: Some(call.into()),
        })
        .agent("1001")
    }

    /// A store as the book sees it: what was stamped, per call (everything commits).
    #[derive(Default)]
    struct Stored {
        calls: HashMap<String, StoredTail>,
        lookups: usize,
    }

    impl Stored {
        fn stamp(&mut self, book: &mut CallBook, ts: i64, ev: NewEvent) -> (i64, String) {
            let calls = &self.calls;
            let mut lookups = 0;
            let r = book.stamp(ts, &ev, &mut |c| {
                lookups += 1;
                calls.get(c).cloned().unwrap_or_default()
            });
            self.lookups += lookups;
            if !ev.call.is_empty() {
                let t = self.calls.entry(ev.call.clone()).or_default();
                t.seq = r.0;
                if !r.1.is_empty() {
                    t.tenant.clone_from(&r.1);
                }
            }
            r
        }
    }

    #[test]
    fn a_hundred_thousand_calls_leave_the_book_bounded() {
        let mut book = CallBook::new(END_GRACE_MS, MAX_ENDED);
        let mut store = Stored::default();
        let mut peak = 0;
        for i in 0..100_000i64 {
            // A call every 10 ms of log time, three events each, a tenant on every other.
            let ts = i * 10;
            let c = format!("c{i}");
            let tenant = (i % 2 == 0).then_some("acme");
            assert_eq!(store.stamp(&mut book, ts, start(&c)).0, 1);
            let (seq, t) = store.stamp(&mut book, ts, start(&c).tenant(tenant));
            assert_eq!((seq, t.as_str()), (2, tenant.unwrap_or("")));
            assert_eq!(store.stamp(&mut book, ts + 5, end(&c)).0, 3);
            book.retire(ts + 5);
            peak = peak.max(book.len());
        }
        assert!(peak <= MAX_ENDED + 1, "peak {peak}");
        // Every call began with its `call.start`: nothing was read back.
        assert_eq!(store.lookups, 0);
    }

    #[test]
    fn late_events_of_an_ended_call_keep_its_sequence_and_tenant() {
        let mut book = CallBook::new(1_000, 2);
        let mut store = Stored::default();
        store.stamp(&mut book, 0, start("c1").tenant(Some("acme")));
        store.stamp(&mut book, 10, end("c1"));
        book.retire(10);
        // In the grace: from the book, no look-up.
        let lookups = store.lookups;
        assert_eq!(store.stamp(&mut book, 500, wrap_up("c1")).1, "acme");
        assert_eq!(store.stamp(&mut book, 600, offer("c1")), (3, "acme".into()));
        assert_eq!(store.lookups, lookups);
        // Past the grace: forgotten, read back from the store.
        book.retire(1_010);
        assert_eq!(book.len(), 0);
        assert_eq!(store.stamp(&mut book, 5_000, wrap_up("c1")).1, "acme");
        assert_eq!(
            store.stamp(&mut book, 5_000, offer("c1")),
            (4, "acme".into())
        );
        assert_eq!(store.lookups, lookups + 1);
        // Read back, it is forgotten again after a grace.
        book.retire(6_000);
        assert_eq!(book.len(), 0);
        // The cap: three ended calls in one instant, two remembered.
        for c in ["a", "b", "d"] {
            store.stamp(&mut book, 7_000, start(c));
            store.stamp(&mut book, 7_000, end(c));
        }
        book.retire(7_000);
        assert_eq!(book.len(), 2);
        assert_eq!(store.stamp(&mut book, 7_001, offer("a")).0, 3);
    }

    #[test]
    fn a_live_call_is_never_forgotten() {
        let mut book = CallBook::new(1_000, 0);
        let mut store = Stored::default();
        store.stamp(&mut book, 0, start("live").tenant(Some("acme")));
        book.retire(i64::MAX);
        assert_eq!(book.len(), 1);
        let lookups = store.lookups;
        assert_eq!(
            store.stamp(&mut book, 10_000_000, start("live")),
            (2, "acme".into())
        );
        assert_eq!(store.lookups, lookups);
    }
}
