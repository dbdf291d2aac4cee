//! A back-to-back user agent core (sans-IO): each [`Call`] links an inbound leg A (we are its
//! UAS) to an optional outbound leg B (we are its UAC), with independent Call-IDs, tags and
//! CSeqs; an originated call ([`B2bua::originate`]) has leg B only. It owns a [`TransactionLayer`] and a [`Dialogs`] store, so a driver feeds it every
//! SIP message and timeout and drains [`B2buaOutput`]s, exactly as for the transaction layer.
//!
//! Media is anchored: each leg's SDP ends here. The core never reads a body; it hands offers
//! and answers to the application ([`CallEvent::Incoming`], [`CallEvent::AnswerFromB`],
//! [`CallEvent::Reinvite`]) and waits for the SDP to send on the other leg
//! ([`B2bua::route`], [`B2bua::answer_a`], [`B2bua::respond`]). A call answered locally (IVR)
//! and bridged later is the same flow: `answer_a` first, `route` later.
//!
//! What the core does by itself: validates new requests ([`check_request`]), answers OPTIONS,
//! relays B's provisional and (by default) failure responses to A, ACKs B's 2xx, turns A's
//! CANCEL into a CANCEL of B (487 to A), passes BYE across, and BYEs a B that answers after A
//! cancelled (CANCEL racing 200).
//!
//! # Originated calls
//!
//! [`B2bua::originate`] starts a call with no A leg: its only leg is an outbound INVITE,
//! reported as leg [`Leg::B`] with the same events as a routed B (`Progress`,
//! `LegConfirmed { leg: B }` then `AnswerFromB`, `Reinvite`/`InDialogRequest` with
//! `leg: B`). Because nothing is left once that leg goes, a final failure is reported as
//! [`CallEvent::BFailed`] immediately followed by [`CallEvent::Ended`], and a far-end BYE as
//! `Ended { reason: Bye(B) }`; [`B2bua::hangup`] CANCELs or BYEs it silently. Calls that
//! need the A-leg ([`B2bua::answer_a`], [`B2bua::progress_a`], [`B2bua::reject`],
//! [`B2bua::release_b`], [`B2bua::route`]) answer [`B2buaError::InvalidState`]. Connecting two
//! originated calls (callback customer and agent) is the application's job: media is
//! anchored, so it bridges the two calls' SDP itself.
//!
//! # Attended transfer
//!
//! An agent on call X (customer on A, agent on B) consults a colleague with a second call Y
//! (the agent's INVITE is Y's A, the colleague Y's B), then REFERs X's B with a Replaces
//! naming Y's A (RFC 5589, RFC 3891). The application answers the REFER (`respond` 202,
//! [`B2bua::send_refer_notify`]), looks Y up with [`B2bua::find_call_by_a_dialog`], releases
//! X's B ([`B2bua::release_b`]) and moves Y's B into X with [`B2bua::transplant_b`], which
//! BYEs Y's A. Customer and colleague stay on their dialogs untouched; the moved leg then
//! reports as X's leg B.
//!
//! # Layout
//!
//! This module holds the public types, the call table, the driver interface, leg A's response
//! builder, detaching a leg B and [`B2bua::hangup`]; the rest is split by concern: `inbound`
//! (routing leg A to B, answering and rejecting A), `originate`, `in_dialog` (requests and
//! responses inside established legs, ending legs and calls), `transfer` (finding calls by
//! dialog, transplanting a leg, REFER NOTIFYs), `keepalive` (OPTIONS probes), `tx_events`
//! (what the transaction layer reports) and `headers`. Calls between them run one way,
//! never back: `inbound` uses `originate` and `in_dialog`; `tx_events` uses `in_dialog` and
//! `keepalive`; `transfer` uses `in_dialog`; `in_dialog` and `originate` use `headers`.

mod client_requests;
mod headers;
mod in_dialog;
mod inbound;
mod keepalive;
mod originate;
pub use originate::OriginateOptions;
mod session;
mod session_schedule;
mod session_uac;
mod transfer;
mod tx_events;
mod update;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use slab::Slab;
use switchboard_sip_message::{
    HeaderName, Message, Method, NameAddr, Request, Response, StatusCode, Uri,
};

use crate::dialog::{Dialog, DialogKey, DialogState, Dialogs};
use crate::policy::{check_request, options_response, UasPolicy};
use crate::timer::Timer;
use crate::transaction::{Output, TransactionLayer, TxConfig, TxEvent, TxKey};
use crate::transport::Transport;

use headers::{push_extra, set_body};

/// Handle to one call in a [`B2bua`]; carries a generation against slot reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallKey {
    index: u32,
    generation: u32,
}

/// One side of a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The inbound leg (the caller; we are its UAS).
    A,
    /// The outbound leg (the callee the application routed to, or the only leg of an
    /// originated call; we are its UAC).
    B,
}

/// Why a call ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// A cancelled before being answered.
    Cancelled,
    /// This leg sent BYE.
    Bye(Leg),
    /// B answered with this failure and it was relayed to A.
    Rejected(StatusCode),
    /// A transaction timed out (no answer from B, or A never ACKed our 2xx).
    Timeout(Leg),
    /// The transport failed on this leg.
    TransportError(Leg),
}

/// What the application must learn or decide.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallEvent {
    /// A new INVITE on leg A (already checked against the policy, 100 Trying sent). The body
    /// is A's offer. Decide with `route`, `answer_a` or `reject`.
    Incoming {
        /// The new call.
        call: CallKey,
        /// The INVITE.
        invite: Request,
        /// Where it came from.
        from: SocketAddr,
        /// The transport it arrived on (not what its Via claims): trunk trust and
        /// authentication decisions depend on it.
        transport: Transport,
    },
    /// B sent a provisional response (already relayed to A, without body, when A is
    /// unanswered). A non-empty `sdp` is B's early-media answer: to anchor early media, give
    /// A an SDP with [`B2bua::progress_a`].
    Progress {
        /// The call.
        call: CallKey,
        /// 180, 183, ...
        status: StatusCode,
        /// B's early SDP (empty when none).
        sdp: Bytes,
    },
    /// B answered (already ACKed). Its SDP is the answer to the offer passed to `route`;
    /// supply the SDP for A with `answer_a` if A is not answered yet.
    AnswerFromB {
        /// The call.
        call: CallKey,
        /// B's answer.
        sdp: Bytes,
    },
    /// B failed with this status. With `relay_failures` it was relayed to A and the call ends;
    /// otherwise A is still waiting and the application may `route` again or `reject`. On an
    /// originated call [`CallEvent::Ended`] follows at once (unless the application hung up).
    BFailed {
        /// The call.
        call: CallKey,
        /// B's final status (408 for a timeout).
        status: StatusCode,
    },
    /// A leg's dialog is confirmed (A: its ACK for our 2xx arrived; B: we sent the ACK).
    LegConfirmed {
        /// The call.
        call: CallKey,
        /// Which leg.
        leg: Leg,
    },
    /// A re-INVITE arrived on a confirmed leg (hold/resume/codec change). Answer it with
    /// `respond(now, tx, status, Some(sdp))`; the body is the new offer (may be empty).
    Reinvite {
        /// The call.
        call: CallKey,
        /// The leg it came on.
        leg: Leg,
        /// Its server transaction.
        tx: TxKey,
        /// The offer.
        sdp: Bytes,
    },
    /// Another in-dialog request (INFO, REFER, NOTIFY, ...). Answer with `respond`.
    InDialogRequest {
        /// The call.
        call: CallKey,
        /// The leg it came on.
        leg: Leg,
        /// Its server transaction.
        tx: TxKey,
        /// The request.
        req: Request,
    },
    /// An out-of-dialog request other than INVITE/OPTIONS (REGISTER, MESSAGE, ...), checked
    /// against the policy. Answer with `respond_raw`.
    OtherRequest {
        /// Its server transaction.
        tx: TxKey,
        /// The request.
        req: Request,
        /// Where it came from.
        from: SocketAddr,
        /// Transport it came on.
        transport: Transport,
    },
    /// A response to a request sent with [`B2bua::send_in_dialog`] (a re-INVITE's 2xx is
    /// already ACKed).
    InDialogResponse {
        /// The call.
        call: CallKey,
        /// The leg.
        leg: Leg,
        /// The client transaction `send_in_dialog` returned.
        tx: TxKey,
        /// The response (its body is the peer's SDP answer for a re-INVITE).
        resp: Response,
    },
    /// B hung up and A stays (with `keep_a_when_b_hangs_up`); `route` may call another target.
    BHungUp {
        /// The call.
        call: CallKey,
    },
    /// The call ended; BYE/CANCEL to the other leg is already under way.
    Ended {
        /// The call.
        call: CallKey,
        /// Why.
        reason: EndReason,
    },
    /// A leg's session timer ran out (RFC 4028): the peer was to refresh the session and
    /// did not, or our own refresh failed (408, 481, no answer). The application ends the
    /// call (`hangup`).
    SessionExpired {
        /// The call.
        call: CallKey,
        /// The leg whose session expired (B: a leg we originated, see
        /// [`B2buaConfig::session_timers`]).
        leg: Leg,
    },
    /// The final answer to a keepalive probe sent with [`B2bua::send_options`]: any
    /// response means the device is alive; 408 (timer F) or 503 (transport error) that it
    /// is unreachable.
    OptionsResult {
        /// The probe's transaction.
        tx: TxKey,
        /// The final status (408 when nothing came back).
        status: StatusCode,
    },
    /// The final outcome of a request sent with [`B2bua::send_request`] (a REGISTER to a
    /// carrier): the response, or `None` with status 408 (no answer) or 503 (transport
    /// error).
    RequestResult {
        /// The request's transaction.
        tx: TxKey,
        /// The final status.
        status: StatusCode,
        /// The final response, when one came.
        resp: Option<Response>,
    },
}

/// Output of [`B2bua::poll_output`].
// Events carry whole requests and are moved out once; boxing would cost an allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum B2buaOutput {
    /// Send these bytes (see [`Output::Transmit`]).
    Transmit {
        /// Destination.
        to: SocketAddr,
        /// Transport.
        transport: Transport,
        /// Serialized message.
        bytes: Bytes,
        /// The transaction that sent it: on a send failure call `handle_transport_error`.
        tx: Option<TxKey>,
    },
    /// Tell the application.
    Event(CallEvent),
}

/// Errors from application calls.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum B2buaError {
    /// The call key is dead.
    #[error("no such call")]
    NoSuchCall,
    /// The call is not in a state that allows this.
    #[error("not allowed now: {0}")]
    InvalidState(&'static str),
    /// The transaction layer refused.
    #[error(transparent)]
    Transaction(#[from] crate::transaction::TxError),
}

/// Configuration of a [`B2bua`].
#[derive(Clone, Debug)]
pub struct B2buaConfig {
    /// Transaction layer configuration (timers, Via sent-by).
    pub tx: TxConfig,
    /// Our Contact on both legs (on TLS legs, [`B2bua::set_tls_contact`]'s instead).
    pub contact: NameAddr,
    /// Checks for new requests.
    pub policy: UasPolicy,
    /// Relay B's failure responses to A and end the call (true), or report `BFailed` and let
    /// the application try another target (false).
    pub relay_failures: bool,
    /// When B sends BYE on an answered call, keep A up and report [`CallEvent::BHungUp`]
    /// (post-call survey, back to the queue) instead of ending the call.
    pub keep_a_when_b_hangs_up: bool,
    /// RFC 4028 session timers (`None`: off), on both legs.
    ///
    /// Leg A: when the caller offers a timer, the 2xx confirms it; with the caller as
    /// refresher, a caller that stops refreshing gets [`CallEvent::SessionExpired`]; with
    /// us as refresher (`refresher=uas`, or a caller without `timer` support), the core
    /// sends the refreshes itself (UPDATE when A allows it, else a re-INVITE with our last
    /// SDP) and a failed one (408, 481, no answer) also reports
    /// [`CallEvent::SessionExpired`]. An interval below our Min-SE gets 422.
    ///
    /// Leg B (routed or originated, unless [`OriginateOptions::without_session_timer`]):
    /// our INVITE offers `Session-Expires`, `Min-SE` and `Supported: timer`; a 422 is
    /// answered once by re-sending it with the larger interval its `Min-SE` asks for; the
    /// 2xx's `Session-Expires` says who refreshes (without one, we do, with the interval we
    /// asked for); then the same rules as on A, reported with `leg: B`.
    pub session_timers: Option<crate::session_timer::SessionTimerConfig>,
}

#[derive(Debug)]
struct ALeg {
    /// The session timer agreed with A's INVITE (running once answered).
    session: Option<crate::session_timer::Negotiated>,
    timer: Option<crate::session_timer::SessionTimer>,
    /// The SDP we last sent A (our 2xx, or a re-INVITE/UPDATE the application sent): the
    /// body of our session refresh re-INVITE.
    sdp: Option<Bytes>,
    invite: Request,
    invite_tx: Option<TxKey>,
    from: SocketAddr,
    transport: Transport,
    tag: String,
    answered: bool,
    finished: bool,
    dialog: Option<DialogKey>,
}

#[derive(Debug)]
struct BLeg {
    invite_tx: Option<TxKey>,
    dest: SocketAddr,
    transport: Transport,
    answered: bool,
    dialog: Option<DialogKey>,
    /// The application cancelled this attempt: its 487 is not relayed to A.
    cancelled: bool,
    /// Answers a 401/407 to this leg's INVITE (originated calls through a carrier).
    auth: Option<Box<dyn ChallengeResponder>>,
    /// The RFC 4028 session timer offered in this leg's INVITE (running once answered).
    session: Option<session_uac::LegSession>,
}

impl BLeg {
    fn new(invite_tx: TxKey, dest: SocketAddr, transport: Transport) -> BLeg {
        BLeg {
            invite_tx: Some(invite_tx),
            dest,
            transport,
            answered: false,
            dialog: None,
            cancelled: false,
            auth: None,
            session: None,
        }
    }
}

/// Supplies credentials when an originated INVITE is challenged (401/407): the header to
/// add to the INVITE, which the core re-sends with the next CSeq, the same Call-ID and From
/// tag (RFC 3261 §22.2). `None` gives up: the challenge then ends the attempt as any other
/// failure would. Implementations answer each nonce once, so wrong credentials end the
/// attempt instead of looping.
pub trait ChallengeResponder: std::fmt::Debug + Send {
    /// The header (`Authorization` or `Proxy-Authorization`) answering `challenge`, a 401
    /// or 407 to `invite` (as sent, Via included).
    fn respond(&mut self, invite: &Request, challenge: &Response) -> Option<(HeaderName, String)>;
}

/// One call: leg A (absent for an originated call), optional leg B.
#[derive(Debug)]
pub struct Call {
    generation: u32,
    a: Option<ALeg>,
    b: Option<BLeg>,
    ended: bool,
    live_txs: u32,
    /// Keep A up when B sends BYE ([`B2bua::keep_a_when_b_hangs_up`]).
    keep_a: bool,
    /// Changed since the session-timer schedule was last brought up to date.
    touched: bool,
    /// The deadline this call is filed under in the session-timer schedule.
    timer_filed: Option<Instant>,
}

impl Call {
    /// True once A has been answered with a 2xx (never for an originated call).
    pub fn a_answered(&self) -> bool {
        self.a.as_ref().is_some_and(|a| a.answered)
    }
    /// True for a call made with [`B2bua::originate`]: it has no A leg.
    pub fn is_originated(&self) -> bool {
        self.a.is_none()
    }
    /// True once B has answered with a 2xx.
    pub fn b_answered(&self) -> bool {
        self.b.as_ref().is_some_and(|b| b.answered)
    }
    /// True after the call ended (it is removed once its last transaction ends).
    pub fn is_ended(&self) -> bool {
        self.ended
    }
    /// A's dialog, once answered.
    pub fn a_dialog(&self) -> Option<DialogKey> {
        self.a.as_ref().and_then(|a| a.dialog)
    }
    /// B's dialog, once answered.
    pub fn b_dialog(&self) -> Option<DialogKey> {
        self.b.as_ref().and_then(|b| b.dialog)
    }
    /// True while an A leg exists and still waits for a final response.
    fn a_waiting(&self) -> bool {
        self.a.as_ref().is_some_and(|a| !a.answered && !a.finished)
    }
    fn set_a_finished(&mut self) {
        if let Some(a) = self.a.as_mut() {
            a.finished = true;
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// A request the application sent with `send_in_dialog`.
    Sent(Leg),
    AInvite,
    BInvite,
    InDialog(Leg),
    /// Our RFC 4028 session refresh (re-INVITE or UPDATE) on this leg.
    SessionRefresh(Leg),
    /// A request the application sent on a B leg that has since been released or moved
    /// away: its response is still reported, its failure no longer ends the call.
    SentDetached,
    Other,
}

/// The B2BUA: calls in a slab behind [`CallKey`]s, over one transaction layer.
pub struct B2bua {
    config: B2buaConfig,
    tl: TransactionLayer,
    dialogs: Dialogs,
    calls: Slab<Call>,
    /// Calls in `calls` not yet ended: kept as calls are inserted, end and are removed
    /// ([`B2bua::live_len`] is read while draining at shutdown).
    live_calls: usize,
    next_generation: u32,
    txs: HashMap<TxKey, (CallKey, Purpose)>,
    dialog_calls: HashMap<DialogKey, (CallKey, Leg)>,
    out: VecDeque<B2buaOutput>,
    probes: HashMap<TxKey, bool>,
    /// Requests sent with `send_request`; true once their outcome was reported.
    requests: HashMap<TxKey, bool>,
    /// Our Contact on legs over TLS (`;transport=tls`, the TLS port); `None`: `contact`.
    tls_contact: Option<NameAddr>,
    /// The calls' session-timer deadlines (`session_schedule`).
    sessions: session_schedule::SessionSchedule,
}

impl B2bua {
    /// A B2BUA with no calls; `seed` drives tags, Call-IDs and branches.
    pub fn new(config: B2buaConfig, seed: u64) -> B2bua {
        let tl = TransactionLayer::new(config.tx.clone(), seed);
        B2bua {
            config,
            tl,
            dialogs: Dialogs::new(),
            calls: Slab::new(),
            live_calls: 0,
            next_generation: 0,
            txs: HashMap::new(),
            dialog_calls: HashMap::new(),
            out: VecDeque::new(),
            probes: HashMap::new(),
            requests: HashMap::new(),
            tls_contact: None,
            sessions: session_schedule::SessionSchedule::default(),
        }
    }

    /// The Contact written on legs over TLS (RFC 3261 §26.2: peers must reach us over TLS
    /// again, e.g. `sip:switchboard@192.0.2.1:5061;transport=tls`). Without it TLS legs
    /// carry the ordinary contact.
    pub fn set_tls_contact(&mut self, contact: NameAddr) {
        self.tls_contact = Some(contact);
    }

    /// Our Contact for a leg over `transport`.
    fn contact_for(&self, transport: Transport) -> &NameAddr {
        match (&self.tls_contact, transport) {
            (Some(c), Transport::Tls) => c,
            _ => &self.config.contact,
        }
    }

    /// The call behind `key`.
    pub fn call(&self, key: CallKey) -> Option<&Call> {
        self.calls
            .get(key.index as usize)
            .filter(|c| c.generation == key.generation)
    }

    /// Number of live calls.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is live.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    /// Number of calls not yet ended. An ended call is still counted by [`B2bua::len`]
    /// until its last transaction finishes (e.g. the 32 s a BYE's server transaction
    /// absorbs retransmissions). O(1): a counter kept on every insert, end and removal.
    pub fn live_len(&self) -> usize {
        self.live_calls
    }

    /// Marks `call` ended, once: the live count drops the first time only. Returns whether
    /// this call ended it.
    fn mark_ended(&mut self, call: CallKey) -> bool {
        let Some(c) = self.call_mut(call) else {
            return false;
        };
        if c.ended {
            return false;
        }
        c.ended = true;
        self.live_calls -= 1;
        true
    }

    /// The dialog store (read-only), e.g. to inspect a leg's route set.
    pub fn dialogs(&self) -> &Dialogs {
        &self.dialogs
    }

    /// The transaction layer (read-only).
    pub fn transactions(&self) -> &TransactionLayer {
        &self.tl
    }

    /// Feeds a parsed message from the transport.
    pub fn handle_message(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        msg: Message,
    ) {
        self.tl.handle_message(now, from, transport, msg);
        self.pump(now);
    }

    /// Fires due timers. Call when `poll_timeout` passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tl.handle_timeout(now);
        self.session_timeouts(now);
        self.pump(now);
    }

    /// Reports a send failure for a message that carried `tx`.
    pub fn handle_transport_error(&mut self, now: Instant, tx: TxKey) {
        self.tl.handle_transport_error(now, tx);
        self.pump(now);
    }

    /// The earliest deadline. Call after draining `poll_output`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self.session_poll_timeout();
        match (self.tl.poll_timeout(), sessions) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message to send or event for the application. Drain after every call.
    pub fn poll_output(&mut self) -> Option<B2buaOutput> {
        self.out.pop_front()
    }

    fn track(&mut self, tx: TxKey, call: CallKey, p: Purpose) {
        self.txs.insert(tx, (call, p));
        if let Some(c) = self.call_mut(call) {
            c.live_txs += 1;
        }
    }

    fn emit(&mut self, e: CallEvent) {
        self.out.push_back(B2buaOutput::Event(e));
    }

    fn pump(&mut self, now: Instant) {
        while let Some(o) = self.tl.poll_output() {
            match o {
                Output::Transmit {
                    to,
                    transport,
                    bytes,
                    tx,
                } => self.out.push_back(B2buaOutput::Transmit {
                    to,
                    transport,
                    bytes,
                    tx,
                }),
                Output::Event(e) => self.on_tx_event(now, e),
            }
        }
        self.flush_session_schedule();
    }

    /// Removes an ended call that has no transaction left to wait for.
    fn remove_if_idle(&mut self, call: CallKey) {
        if self.call(call).is_some_and(|c| c.ended && c.live_txs == 0) {
            self.remove_call(call);
        }
    }

    fn new_call(
        &mut self,
        invite: Request,
        tx: TxKey,
        from: SocketAddr,
        transport: Transport,
    ) -> CallKey {
        let tag = self.tl.new_tag();
        let a = ALeg {
            session: None,
            timer: None,
            sdp: None,
            invite,
            invite_tx: Some(tx),
            from,
            transport,
            tag,
            answered: false,
            finished: false,
            dialog: None,
        };
        self.insert_call(Some(a), None)
    }

    fn insert_call(&mut self, a: Option<ALeg>, b: Option<BLeg>) -> CallKey {
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let index = self.calls.insert(Call {
            generation,
            a,
            b,
            ended: false,
            live_txs: 0,
            keep_a: false,
            touched: false,
            timer_filed: None,
        }) as u32;
        self.live_calls += 1;
        CallKey { index, generation }
    }

    fn remove_call(&mut self, call: CallKey) {
        if self.call(call).is_none() {
            return;
        }
        let c = self.calls.remove(call.index as usize);
        if !c.ended {
            self.live_calls -= 1;
        }
        self.unfile_session(call, c.timer_filed);
        for dk in [c.a.and_then(|a| a.dialog), c.b.and_then(|b| b.dialog)]
            .into_iter()
            .flatten()
        {
            self.dialogs.remove(dk);
            self.dialog_calls.remove(&dk);
        }
    }

    fn a_response(
        &mut self,
        call: CallKey,
        status: StatusCode,
        sdp: Option<Bytes>,
    ) -> Option<(TxKey, Response)> {
        let a = self.call(call)?.a.as_ref()?;
        let contact = self.contact_for(a.transport).to_string();
        let tx = a.invite_tx?;
        let mut r = Response::for_request(&a.invite, status);
        if let Ok(mut to) = r.headers.to() {
            to.set_tag(&a.tag);
            r.headers.set(HeaderName::To, to.to_string());
        }
        if status.0 > 100 && status.0 < 300 {
            r.headers.push(HeaderName::Contact, contact);
        }
        if let Some(b) = sdp {
            set_body(&mut r.headers, &b);
            r.body = b;
        }
        Some((tx, r))
    }

    /// Forgets an answered B leg: its dialog goes (late requests on it get 481). Its
    /// transactions still in flight (our BYE, a NOTIFY, its INVITE) stay counted on the call
    /// but are re-tagged so that they can no longer touch a B leg routed or moved in later
    /// (a timeout of the BYE to the released leg must not end the call).
    fn detach_b(&mut self, call: CallKey) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let Some(b) = c.b.take() else {
            return;
        };
        if let Some(dk) = b.dialog {
            self.dialogs.remove(dk);
            self.dialog_calls.remove(&dk);
        }
        for (k, (c, p)) in self.txs.iter_mut() {
            if *c != call {
                continue;
            }
            match *p {
                Purpose::Sent(Leg::B) => *p = Purpose::SentDetached,
                Purpose::InDialog(Leg::B) | Purpose::SessionRefresh(Leg::B) => *p = Purpose::Other,
                Purpose::BInvite if b.invite_tx == Some(*k) => *p = Purpose::Other,
                _ => {}
            }
        }
    }

    /// On this call, when B sends BYE, keep A up and report [`CallEvent::BHungUp`] (a
    /// post-call survey), as [`B2buaConfig::keep_a_when_b_hangs_up`] does for every call.
    pub fn keep_a_when_b_hangs_up(&mut self, call: CallKey) -> Result<(), B2buaError> {
        let c = self.call_mut(call).ok_or(B2buaError::NoSuchCall)?;
        c.keep_a = true;
        Ok(())
    }

    /// Hangs up the whole call: BYE on confirmed legs, CANCEL to a ringing B, 480 to an
    /// unanswered A. No `Ended` event follows (the application asked for it). For an
    /// originated call: CANCEL while ringing (a `BFailed` for the 487 may still be reported),
    /// BYE once answered.
    pub fn hangup(&mut self, now: Instant, call: CallKey) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if c.a_waiting() {
            return self.reject(now, call, StatusCode::TEMPORARILY_UNAVAILABLE);
        }
        self.mark_ended(call);
        self.bye(now, call, Leg::A);
        self.end_b(now, call);
        self.remove_if_idle(call);
        self.pump(now);
        Ok(())
    }
}
