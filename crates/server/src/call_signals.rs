//! The lane a call's SIP signals travel from the SIP driver to the task that runs the call.
//!
//! Control signals (the far end ringing, answering or failing, the ACK, the end of the call,
//! an attended-transfer hand-over) are never dropped: the lane is unbounded, and the
//! protocol bounds it (each happens once or a few times per call; repeated progress is
//! coalesced while one is waiting). In-dialog requests (INFO, re-INVITE, REFER) are the only
//! signals a peer can repeat at will: at most [`MAX_PENDING_IN_DIALOG`] wait per call, and
//! past that the driver answers the request itself (503 with `Retry-After`) and counts it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use bytes::Bytes;
use switchboard_sip::{Leg, TxKey};
use switchboard_sip_message::{Request, StatusCode};

/// What the SIP side tells a call task.
#[derive(Debug)]
pub(crate) enum CallSignal {
    /// B is ringing.
    BProgress,
    /// B answered with this SDP; the 200 reached our SIP socket at that instant.
    BAnswered(Bytes, std::time::Instant),
    /// B failed (busy, declined, timeout, not registered).
    BFailed(StatusCode),
    /// A ring-all leg won the race: it is now this call's leg B (see
    /// `sip_driver/forking.rs`); every other leg is being hung up.
    ForkAnswered {
        agent: String,
        sdp: Bytes,
        arrived: std::time::Instant,
    },
    /// A ring-all leg failed on its own (busy, declined, not registered, timed out).
    ForkFailed { agent: String, status: StatusCode },
    /// A's ACK arrived.
    AConfirmed,
    /// An in-dialog request (INFO with DTMF, re-INVITE for hold, REFER).
    InDialog {
        leg: Leg,
        tx: TxKey,
        req: Box<Request>,
    },
    /// The call ended on the SIP side: whose leg and how, or the server's own reason (the
    /// call flow decides the `end_reason`).
    Ended(switchboard_callflow::Hangup),
    /// The agent hung up and the caller stays (a post-call survey follows).
    AgentLeft,
    /// Another call takes over this call's agent leg (attended transfer): hand over the
    /// agent's media and stop without hanging up.
    HandOver(tokio::sync::oneshot::Sender<Option<crate::media_leg::HandOver>>),
}

/// How the lane treats a signal.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignalClass {
    /// Never dropped.
    Control,
    /// Coalesced while one waits.
    Progress,
    /// Bounded per call.
    InDialog,
}

/// Signals that travel a lane say which class they are.
pub(crate) trait Classify {
    fn class(&self) -> SignalClass;
}

impl Classify for CallSignal {
    fn class(&self) -> SignalClass {
        match self {
            CallSignal::InDialog { .. } => SignalClass::InDialog,
            CallSignal::BProgress => SignalClass::Progress,
            _ => SignalClass::Control,
        }
    }
}

/// In-dialog requests one call may have waiting for its task.
pub(crate) const MAX_PENDING_IN_DIALOG: u32 = 16;

#[derive(Default)]
struct Pending {
    in_dialog: AtomicU32,
    progress: AtomicBool,
}

/// The driver's end of a call's lane.
pub(crate) struct SignalSender<S = CallSignal> {
    tx: mpsc::UnboundedSender<S>,
    pending: Arc<Pending>,
}

impl<S> std::fmt::Debug for SignalSender<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalSender")
            .field("in_dialog", &self.pending.in_dialog.load(Ordering::Relaxed))
            .finish()
    }
}

impl<S> Clone for SignalSender<S> {
    fn clone(&self) -> Self {
        SignalSender {
            tx: self.tx.clone(),
            pending: self.pending.clone(),
        }
    }
}

/// The call task's end of its lane.
pub(crate) struct SignalReceiver<S = CallSignal> {
    rx: mpsc::UnboundedReceiver<S>,
    pending: Arc<Pending>,
}

/// Why a signal was not queued; the signal comes back so the driver can answer it.
#[derive(Debug)]
pub(crate) enum SendRefused<S = CallSignal> {
    /// The call's task has ended.
    Closed(S),
    /// An in-dialog request while [`MAX_PENDING_IN_DIALOG`] are already waiting.
    Busy(S),
}

/// A new lane.
pub(crate) fn lane<S: Classify>() -> (SignalSender<S>, SignalReceiver<S>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let pending = Arc::new(Pending::default());
    (
        SignalSender {
            tx,
            pending: pending.clone(),
        },
        SignalReceiver { rx, pending },
    )
}

impl<S: Classify> SignalSender<S> {
    /// Queues a signal for the call's task. A repeated progress signal while one waits is
    /// dropped on purpose (it says nothing new).
    pub(crate) fn send(&self, s: S) -> Result<(), SendRefused<S>> {
        match s.class() {
            SignalClass::InDialog => {
                let n = self.pending.in_dialog.fetch_add(1, Ordering::AcqRel);
                if n >= MAX_PENDING_IN_DIALOG {
                    self.pending.in_dialog.fetch_sub(1, Ordering::AcqRel);
                    return Err(SendRefused::Busy(s));
                }
            }
            SignalClass::Progress => {
                if self.pending.progress.swap(true, Ordering::AcqRel) {
                    return Ok(());
                }
            }
            SignalClass::Control => {}
        }
        self.tx.send(s).map_err(|e| {
            if e.0.class() == SignalClass::InDialog {
                self.pending.in_dialog.fetch_sub(1, Ordering::AcqRel);
            }
            SendRefused::Closed(e.0)
        })
    }
}

impl<S: Classify> SignalReceiver<S> {
    /// The next signal; None when the driver dropped the lane. Cancel-safe, like
    /// `mpsc::UnboundedReceiver::recv`.
    pub(crate) async fn recv(&mut self) -> Option<S> {
        let s = self.rx.recv().await;
        match s.as_ref().map(Classify::class) {
            Some(SignalClass::InDialog) => {
                self.pending.in_dialog.fetch_sub(1, Ordering::AcqRel);
            }
            Some(SignalClass::Progress) => self.pending.progress.store(false, Ordering::Release),
            _ => {}
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Sig {
        Info(u32),
        Progress,
        Confirmed,
        End,
    }

    impl Classify for Sig {
        fn class(&self) -> SignalClass {
            match self {
                Sig::Info(_) => SignalClass::InDialog,
                Sig::Progress => SignalClass::Progress,
                Sig::Confirmed | Sig::End => SignalClass::Control,
            }
        }
    }

    #[tokio::test]
    async fn control_signals_always_pass_and_in_dialog_requests_are_bounded() {
        let (tx, mut rx) = lane::<Sig>();
        for i in 0..MAX_PENDING_IN_DIALOG {
            tx.send(Sig::Info(i)).expect("within the limit");
        }
        assert!(matches!(
            tx.send(Sig::Info(99)),
            Err(SendRefused::Busy(Sig::Info(99)))
        ));
        // Control signals are never refused, however full the in-dialog share is.
        for _ in 0..1_000 {
            tx.send(Sig::Confirmed).expect("control passes");
        }
        tx.send(Sig::End).expect("end passes");
        // Taking one in-dialog request off the lane makes room for one more.
        assert_eq!(rx.recv().await, Some(Sig::Info(0)));
        tx.send(Sig::Info(100)).expect("room again");
        drop(rx);
        assert!(matches!(
            tx.send(Sig::Confirmed),
            Err(SendRefused::Closed(_))
        ));
        // Refused in-dialog requests never leak a slot.
        assert!(tx.send(Sig::Info(1)).is_err());
        let (tx2, rx2) = lane::<Sig>();
        drop(rx2);
        assert!(matches!(
            tx2.send(Sig::Info(1)),
            Err(SendRefused::Closed(_))
        ));
        assert_eq!(tx2.pending.in_dialog.load(Ordering::Acquire), 0);
        assert_eq!(
            tx.pending.in_dialog.load(Ordering::Acquire),
            MAX_PENDING_IN_DIALOG
        );
    }

    #[tokio::test]
    async fn repeated_progress_is_coalesced_while_one_waits() {
        let (tx, mut rx) = lane::<Sig>();
        for _ in 0..50 {
            tx.send(Sig::Progress).unwrap();
        }
        tx.send(Sig::Confirmed).unwrap();
        assert_eq!(rx.recv().await, Some(Sig::Progress));
        assert_eq!(rx.recv().await, Some(Sig::Confirmed));
        tx.send(Sig::Progress).unwrap();
        assert_eq!(rx.recv().await, Some(Sig::Progress));
    }
}
