//! Whether the call task's other wake sources (its signal lane, timer, queue, API and
//! supervision channels, a transfer's answer) can have anything: polled only when one of
//! them woke the task since they were last polled, not on every relayed packet
//! (decision 0047).
//!
//! They are polled with a waker of their own, which sets a flag and wakes the task. A
//! channel or timer keeps the waker it was last polled with after the receive future is
//! dropped, so while the flag is down none of them has been woken and polling them again
//! would only find them empty: before this, every packet polled all eight (five channel
//! pops and waker registrations, the timer's registration), a tenth of the server's CPU
//! in a bridged, unrecorded load.
//!
//! The gate must be [opened](Gate::open) whenever a source may have been replaced or
//! re-armed without being polled since (a new receiver, a timer reset), so that it is
//! polled, and so registered, before the task sleeps: the task opens it after every
//! handler except the plain relay of a packet in a bridged call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// What the other sources' waker points to.
struct Flag {
    woken: AtomicBool,
    task: Waker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// See the module doc. Starts open.
pub(super) struct Gate {
    /// The flag and the waker built on it, for the task's waker they were made for.
    inner: Option<(Arc<Flag>, Waker)>,
    open: bool,
}

impl Default for Gate {
    fn default() -> Gate {
        Gate {
            inner: None,
            open: true,
        }
    }
}

impl Gate {
    /// The next poll polls the sources whether or not they woke the task.
    pub(super) fn open(&mut self) {
        self.open = true;
    }

    /// Polls the sources with `poll` when the gate is open or one of them woke the task;
    /// `Pending` otherwise (they are registered and empty).
    pub(super) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let current = self
            .inner
            .as_ref()
            .is_some_and(|(flag, _)| flag.task.will_wake(cx.waker()));
        if !current {
            // First poll, or the task is polled through another waker: a fresh flag, and
            // every source is registered with it below.
            let flag = Arc::new(Flag {
                woken: AtomicBool::new(false),
                task: cx.waker().clone(),
            });
            let waker = Waker::from(flag.clone());
            self.inner = Some((flag, waker));
            self.open = true;
        }
        let Some((flag, waker)) = self.inner.as_ref() else {
            return Poll::Pending;
        };
        // Lowered before polling: a wake-up during or after the poll raises it again.
        let woken = flag.woken.swap(false, Ordering::AcqRel);
        if !(woken || std::mem::take(&mut self.open)) {
            return Poll::Pending;
        }
        let r = poll(&mut Context::from_waker(waker));
        if r.is_ready() {
            // Only one source is taken per poll: the others may be ready too.
            self.open = true;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    /// One poll of the gate over `rx` (counting the source's polls in `polls`).
    async fn poll_once(
        gate: &mut Gate,
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<u32>,
        polls: &mut u32,
    ) -> Poll<Option<u32>> {
        std::future::poll_fn(|cx| {
            Poll::Ready(gate.poll(cx, |gcx| {
                *polls += 1;
                let fut = rx.recv();
                tokio::pin!(fut);
                fut.poll(gcx)
            }))
        })
        .await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sources_are_polled_only_when_open_or_woken() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let mut gate = Gate::default();
        let mut polls = 0;
        // Open at first: polled, empty, and now registered.
        assert!(poll_once(&mut gate, &mut rx, &mut polls).await.is_pending());
        assert_eq!(polls, 1);
        // Nothing woke it: not polled.
        assert!(poll_once(&mut gate, &mut rx, &mut polls).await.is_pending());
        assert_eq!(polls, 1);
        // A send wakes the source's waker: polled, and the value taken.
        tx.send(7).unwrap();
        assert_eq!(
            poll_once(&mut gate, &mut rx, &mut polls).await,
            Poll::Ready(Some(7))
        );
        assert_eq!(polls, 2);
        // After a value the gate stays open once (another source may be ready).
        assert!(poll_once(&mut gate, &mut rx, &mut polls).await.is_pending());
        assert_eq!(polls, 3);
        assert!(poll_once(&mut gate, &mut rx, &mut polls).await.is_pending());
        assert_eq!(polls, 3);
        // Opened by hand (a new receiver): polled.
        gate.open();
        assert!(poll_once(&mut gate, &mut rx, &mut polls).await.is_pending());
        assert_eq!(polls, 4);
    }

    /// The flag's waker wakes the task it was made for.
    #[tokio::test(flavor = "current_thread")]
    async fn a_source_wakes_the_sleeping_task() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let mut gate = Gate::default();
        let sender = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(9).unwrap();
        });
        let got = std::future::poll_fn(|cx| {
            gate.poll(cx, |gcx| {
                let fut = rx.recv();
                tokio::pin!(fut);
                fut.poll(gcx)
            })
        })
        .await;
        assert_eq!(got, Some(9));
        sender.await.unwrap();
    }
}
