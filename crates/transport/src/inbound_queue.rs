//! The queue between the SIP sockets and the SIP driver, served round-robin per source.
//!
//! The SIP driver is one task: when it falls behind (a flood, or a machine whose cores are
//! busy elsewhere), received messages wait here. A first-in-first-out queue makes a quiet
//! source's message wait behind everything a flooding source had queued before it: an
//! OPTIONS health probe waited 5 s behind a flood's backlog. So each source (an IPv4
//! address, or an IPv6 /64, which one host can fill) has its own first-in-first-out lane,
//! and the driver takes one message from each source with something queued in turn (plain
//! round-robin, one message per turn): a message from a source with nothing queued is
//! served after at most one message of each other source with a backlog, however long
//! that backlog is.
//!
//! Bounds: at most `max_messages` messages and `max_bytes` bytes (raw sizes) in all; once
//! the queue is more than half full (messages or bytes), one source may hold at most an
//! eighth of either. A datagram past those is dropped (counted by the caller; the UDP
//! reader checks before it copies or parses, so a flood stays cheap); a stream (TCP, TLS)
//! message waits for room instead, which holds back only that connection. Below half full
//! nothing is refused per source: a busy trunk may use the queue as before. A source is
//! tracked only while it has messages queued, so there are never more sources than
//! messages. Messages live in one arena of linked slots, sources in another, so once the
//! arenas have grown a push or pop allocates nothing and costs O(1) (one hash lookup).
//!
//! Spoofed many-source floods (issue 12): one attacker sending from a thousand forged
//! addresses is a thousand sources, each under its share, and round-robin alone would give
//! a registered phone one turn in a thousand, and no room at all once the flood fills the
//! queue. So sources the server knows — the addresses of current registrations and of
//! configured trunks, given by [`Shared::set_priority_sources`] — are a *priority class*:
//! their lanes are served before the others' (round-robin among themselves, shares as
//! above), except that after [`PRIORITY_BURST`] priority messages in a row one unknown
//! source gets a turn, so unknown sources are slowed by a busy priority class, never
//! stopped; and the last [`RESERVE_DIVISOR`]th of the queue (messages and bytes) is
//! reserved for them: unknown sources are refused ([`Refusal::Reserved`]) once the queue
//! holds the rest (while the set is not empty: with no priority source the whole queue is
//! open). A source's class is looked up when its lane is made (it has nothing
//! queued), so a change of the set applies from a source's next backlog.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// Once the queue is over half full, a source may hold at most `1 / SHARE_DIVISOR` of its
/// messages and of its bytes.
pub(crate) const SHARE_DIVISOR: usize = 8;

/// After this many priority messages in a row, an unknown source with a backlog gets one
/// turn.
pub(crate) const PRIORITY_BURST: u32 = 8;

/// The last `1 / RESERVE_DIVISOR` of the queue (messages and bytes) takes only messages
/// from priority sources.
pub(crate) const RESERVE_DIVISOR: usize = 4;

/// Which list of priority sources (each replaced whole by its owner).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriorityClass {
    /// Source addresses of current registrations.
    Registered,
    /// Configured trunks' addresses.
    Trunks,
}

/// End of a slot list.
const NIL: u32 = u32::MAX;

/// Why a message was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The queue is over half full and the source holds its share.
    Share,
    /// The queue has no room for the message (messages or bytes).
    Full,
    /// Only the reserve for priority sources is left, and the source is not one.
    Reserved,
}

/// One queued message, or a free slot.
struct Slot<T> {
    item: Option<T>,
    bytes: usize,
    next: u32,
}

/// One source with messages queued: its lane (a list of slots) and what it holds.
struct Lane {
    key: IpAddr,
    head: u32,
    tail: u32,
    messages: usize,
    bytes: usize,
    /// Served in the priority turns.
    priority: bool,
}

/// The queue itself, without locking or waking (sans-IO; see the module docs).
pub(crate) struct FairQueue<T> {
    max_messages: usize,
    max_bytes: usize,
    share_messages: usize,
    share_bytes: usize,
    slots: Vec<Slot<T>>,
    free_slot: u32,
    lanes: Vec<Lane>,
    free_lanes: Vec<u32>,
    by_source: HashMap<IpAddr, u32>,
    /// Unknown sources' lanes with messages, in the order they are served.
    turns: VecDeque<u32>,
    /// Priority sources' lanes with messages, served first.
    priority_turns: VecDeque<u32>,
    /// Priority messages served since an unknown source's last turn.
    priority_run: u32,
    /// The lists of priority sources (by [`source_key`]) and their union.
    priority_lists: [HashSet<IpAddr>; 2],
    priority: HashSet<IpAddr>,
    /// Messages and bytes unknown sources may fill (the rest is the reserve).
    open_messages: usize,
    open_bytes: usize,
    messages: usize,
    bytes: usize,
}

impl<T> FairQueue<T> {
    /// A queue of at most `max_messages` messages and `max_bytes` bytes.
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> FairQueue<T> {
        let max_messages = max_messages.clamp(1, (NIL - 1) as usize);
        let max_bytes = max_bytes.max(1);
        FairQueue {
            max_messages,
            max_bytes,
            share_messages: (max_messages / SHARE_DIVISOR).max(1),
            share_bytes: (max_bytes / SHARE_DIVISOR).max(1),
            slots: Vec::new(),
            free_slot: NIL,
            lanes: Vec::new(),
            free_lanes: Vec::new(),
            by_source: HashMap::new(),
            turns: VecDeque::new(),
            priority_turns: VecDeque::new(),
            priority_run: 0,
            priority_lists: [HashSet::new(), HashSet::new()],
            priority: HashSet::new(),
            open_messages: (max_messages - max_messages / RESERVE_DIVISOR).max(1),
            open_bytes: (max_bytes - max_bytes / RESERVE_DIVISOR).max(1),
            messages: 0,
            bytes: 0,
        }
    }

    /// Replaces the list `class` of priority sources.
    pub(crate) fn set_priority_sources(
        &mut self,
        class: PriorityClass,
        sources: impl IntoIterator<Item = IpAddr>,
    ) {
        let i = class as usize;
        self.priority_lists[i] = sources.into_iter().map(source_key).collect();
        self.priority = self.priority_lists.iter().flatten().copied().collect();
    }

    /// Whether `ip` is a priority source now.
    fn is_priority(&self, key: IpAddr) -> bool {
        !self.priority.is_empty() && self.priority.contains(&key)
    }

    /// Whether a message of `bytes` from `ip` would be queued now.
    pub(crate) fn check(&self, ip: IpAddr, bytes: usize) -> Result<(), Refusal> {
        let key = source_key(ip);
        let (held_messages, held_bytes, priority) = match self
            .by_source
            .get(&key)
            .and_then(|l| self.lanes.get(*l as usize))
        {
            Some(l) => (l.messages, l.bytes, l.priority),
            None => (0, 0, self.is_priority(key)),
        };
        let crowded = self.messages.saturating_mul(2) > self.max_messages
            || self.bytes.saturating_mul(2) > self.max_bytes;
        // A source with nothing queued is never refused its first message for its share
        // (even one larger than a share of the bytes); the global bounds still apply.
        if crowded
            && held_messages > 0
            && (held_messages >= self.share_messages
                || held_bytes.saturating_add(bytes) > self.share_bytes)
        {
            return Err(Refusal::Share);
        }
        // An empty queue takes any one message, so a stream never waits forever.
        if self.messages > 0
            && (self.messages >= self.max_messages
                || self.bytes.saturating_add(bytes) > self.max_bytes)
        {
            return Err(Refusal::Full);
        }
        // The reserve: what is left once the queue holds `open_*` is for priority sources.
        if !priority
            && !self.priority.is_empty()
            && self.messages > 0
            && (self.messages >= self.open_messages
                || self.bytes.saturating_add(bytes) > self.open_bytes)
        {
            return Err(Refusal::Reserved);
        }
        Ok(())
    }

    /// Queues `item` (`bytes` long) at the end of `ip`'s lane, or gives it back with why not.
    pub(crate) fn push(&mut self, ip: IpAddr, bytes: usize, item: T) -> Result<(), (Refusal, T)> {
        if let Err(r) = self.check(ip, bytes) {
            return Err((r, item));
        }
        let slot = self.take_slot(item, bytes);
        let key = source_key(ip);
        let lane = match self.by_source.get(&key) {
            Some(l) => *l,
            None => {
                let priority = self.is_priority(key);
                let l = self.take_lane(key, priority);
                self.by_source.insert(key, l);
                self.turns_of(priority).push_back(l);
                l
            }
        };
        let tail = {
            let lane = &mut self.lanes[lane as usize];
            lane.messages += 1;
            lane.bytes += bytes;
            let tail = lane.tail;
            lane.tail = slot;
            if tail == NIL {
                lane.head = slot;
            }
            tail
        };
        if tail != NIL {
            self.slots[tail as usize].next = slot;
        }
        self.messages += 1;
        self.bytes += bytes;
        Ok(())
    }

    /// The next message: the oldest of the source whose turn it is.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let unknown_turn = self.priority_turns.is_empty()
            || (self.priority_run >= PRIORITY_BURST && !self.turns.is_empty());
        let lane_id = if unknown_turn {
            self.priority_run = 0;
            self.turns.pop_front()?
        } else {
            self.priority_run += 1;
            self.priority_turns.pop_front()?
        };
        let (slot, empty, key, priority) = {
            let lane = &mut self.lanes[lane_id as usize];
            let slot = lane.head;
            let s = &mut self.slots[slot as usize];
            lane.head = s.next;
            if lane.head == NIL {
                lane.tail = NIL;
            }
            lane.messages -= 1;
            lane.bytes -= s.bytes;
            (slot, lane.head == NIL, lane.key, lane.priority)
        };
        let s = &mut self.slots[slot as usize];
        let item = s.item.take();
        self.messages -= 1;
        self.bytes -= s.bytes;
        s.bytes = 0;
        s.next = self.free_slot;
        self.free_slot = slot;
        if empty {
            self.by_source.remove(&key);
            self.free_lanes.push(lane_id);
        } else {
            self.turns_of(priority).push_back(lane_id);
        }
        item
    }

    fn turns_of(&mut self, priority: bool) -> &mut VecDeque<u32> {
        if priority {
            &mut self.priority_turns
        } else {
            &mut self.turns
        }
    }

    /// Messages queued now.
    pub(crate) fn len(&self) -> usize {
        self.messages
    }

    /// Sources with messages queued now.
    #[cfg(test)]
    fn sources(&self) -> usize {
        self.turns.len() + self.priority_turns.len()
    }

    fn take_slot(&mut self, item: T, bytes: usize) -> u32 {
        let slot = Slot {
            item: Some(item),
            bytes,
            next: NIL,
        };
        if self.free_slot != NIL {
            let id = self.free_slot;
            let s = &mut self.slots[id as usize];
            self.free_slot = s.next;
            *s = slot;
            return id;
        }
        // `check` bounds the live messages by `max_messages`, itself below NIL.
        self.slots.push(slot);
        (self.slots.len() - 1) as u32
    }

    fn take_lane(&mut self, key: IpAddr, priority: bool) -> u32 {
        let lane = Lane {
            key,
            head: NIL,
            tail: NIL,
            messages: 0,
            bytes: 0,
            priority,
        };
        if let Some(id) = self.free_lanes.pop() {
            self.lanes[id as usize] = lane;
            return id;
        }
        self.lanes.push(lane);
        (self.lanes.len() - 1) as u32
    }
}

/// An IPv4 address as is; an IPv6 address by its /64 (one host usually has a whole /64).
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

/// One stream producer counted as waiting for room while this lives (also when its
/// future is dropped mid-wait).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Waiting<'a> {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The queue shared by the socket tasks (producers) and the driver (the one consumer).
pub(crate) struct Shared<T> {
    queue: Mutex<FairQueue<T>>,
    /// Woken on each push (one permit is kept when the consumer is not waiting).
    ready: Notify,
    /// Woken on pops while stream producers wait for room.
    room: Notify,
    room_waiters: AtomicUsize,
    closed: AtomicBool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, FairQueue<T>> {
        // A panic while the lock is held leaves the queue consistent enough to go on.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a datagram of `bytes` from `ip` would be queued now (checked before the
    /// copy and the parse).
    pub(crate) fn check(&self, ip: IpAddr, bytes: usize) -> Result<(), Refusal> {
        self.lock().check(ip, bytes)
    }

    /// Queues a datagram, or says why it was dropped.
    pub(crate) fn push_datagram(&self, ip: IpAddr, bytes: usize, item: T) -> Result<(), Refusal> {
        let r = self.lock().push(ip, bytes, item).map_err(|(r, _)| r);
        if r.is_ok() {
            self.ready.notify_one();
        }
        r
    }

    /// Queues a stream message, waiting while its source holds its share or the queue is
    /// full. `Err` gives it back if the consumer is gone.
    pub(crate) async fn push_stream(&self, ip: IpAddr, bytes: usize, item: T) -> Result<(), T> {
        let mut item = item;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return Err(item);
            }
            // Registered (and counted) before the attempt, so a pop between a refusal
            // and the wait still wakes it.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            let _waiting = Waiting::new(&self.room_waiters);
            let pushed = self.lock().push(ip, bytes, item);
            match pushed {
                Ok(()) => {
                    self.ready.notify_one();
                    return Ok(());
                }
                Err((_, back)) => item = back,
            }
            room.await;
        }
    }

    fn pop(&self) -> Option<T> {
        let item = self.lock().pop();
        if item.is_some() && self.room_waiters.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
        item
    }

    /// Messages queued now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Replaces the list `class` of priority sources (see the module docs).
    pub(crate) fn set_priority_sources(&self, class: PriorityClass, sources: Vec<IpAddr>) {
        self.lock().set_priority_sources(class, sources);
    }
}

/// Makes a queue of `max_messages` messages and `max_bytes` bytes: the producers' side
/// (closed when dropped) and the consumer's.
pub(crate) fn channel<T>(max_messages: usize, max_bytes: usize) -> (Producers<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        queue: Mutex::new(FairQueue::new(max_messages, max_bytes)),
        ready: Notify::new(),
        room: Notify::new(),
        room_waiters: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
    });
    (
        Producers {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The producers' handle; when it is dropped the receiver sees the end after the last
/// queued message.
pub(crate) struct Producers<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::ops::Deref for Producers<T> {
    type Target = Shared<T>;
    fn deref(&self) -> &Shared<T> {
        &self.shared
    }
}

impl<T> Drop for Producers<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
        self.shared.ready.notify_one();
    }
}

/// The consumer's handle: takes messages in round-robin order of their sources.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// The next message (waiting for one); `None` once every producer is gone and the
    /// queue is empty.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        loop {
            if let Some(item) = self.shared.pop() {
                return Some(item);
            }
            if self.shared.closed.load(Ordering::Relaxed) {
                return self.shared.pop();
            }
            self.shared.ready.notified().await;
        }
    }

    /// Whether nothing is queued now.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.shared.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        // Stream producers waiting for room give up.
        self.shared.closed.store(true, Ordering::Relaxed);
        self.shared.room.notify_waiters();
    }
}

#[cfg(test)]
mod tests;
