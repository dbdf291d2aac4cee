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
    /// The final answer to a keepalive probe sent with [`B2bua::send_options`]: any
    /// response means the device is alive; 408 (timer F) or 503 (transport error) that it
    /// is unreachable.
    OptionsResult {
        /// The probe's transaction.
        tx: TxKey,
        /// The final status (408 when nothing came back).
        status: StatusCode,
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
    /// Our Contact on both legs.
    pub contact: NameAddr,
    /// Checks for new requests.
    pub policy: UasPolicy,
    /// Relay B's failure responses to A and end the call (true), or report `BFailed` and let
    /// the application try another target (false).
    pub relay_failures: bool,
    /// When B sends BYE on an answered call, keep A up and report [`CallEvent::BHungUp`]
    /// (post-call survey, back to the queue) instead of ending the call.
    pub keep_a_when_b_hangs_up: bool,
}

/// Header names the core writes itself; `extra` headers with these names are dropped.
const MANAGED_HEADERS: &[HeaderName] = &[
    HeaderName::Via,
    HeaderName::From,
    HeaderName::To,
    HeaderName::CallId,
    HeaderName::CSeq,
    HeaderName::Contact,
    HeaderName::MaxForwards,
    HeaderName::ContentLength,
    HeaderName::ContentType,
    HeaderName::Route,
    HeaderName::RecordRoute,
];

/// True for an RFC 3261 `token` (a header name must be one).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
}

/// Appends application headers, skipping invalid names and the ones the core manages.
fn push_extra(headers: &mut switchboard_sip_message::Headers, extra: &[(String, String)]) {
    for (name, value) in extra {
        let h = HeaderName::parse(name);
        if is_token(name) && !MANAGED_HEADERS.contains(&h) {
            headers.push(h, value.clone());
        }
    }
}

#[derive(Debug)]
struct ALeg {
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
        }
    }
}

/// One call: leg A (absent for an originated call), optional leg B.
#[derive(Debug)]
pub struct Call {
    generation: u32,
    a: Option<ALeg>,
    b: Option<BLeg>,
    ended: bool,
    live_txs: u32,
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
    next_generation: u32,
    txs: HashMap<TxKey, (CallKey, Purpose)>,
    dialog_calls: HashMap<DialogKey, (CallKey, Leg)>,
    out: VecDeque<B2buaOutput>,
    probes: HashMap<TxKey, bool>,
}

fn set_body(headers: &mut switchboard_sip_message::Headers, body: &Bytes) {
    if body.is_empty() {
        headers.remove(&HeaderName::ContentType);
    } else {
        headers.set(HeaderName::ContentType, "application/sdp");
    }
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
            next_generation: 0,
            txs: HashMap::new(),
            dialog_calls: HashMap::new(),
            out: VecDeque::new(),
            probes: HashMap::new(),
        }
    }

    /// Sends an out-of-dialog OPTIONS to `target` at `dest` (a keepalive probe of a
    /// registered device). Its outcome comes back as [`CallEvent::OptionsResult`].
    pub fn send_options(
        &mut self,
        now: Instant,
        target: Uri,
        dest: SocketAddr,
        transport: Transport,
    ) -> Result<TxKey, B2buaError> {
        let mut from = self.config.contact.clone();
        from.params.clear();
        let tag = self.tl.new_tag();
        from.set_tag(&tag);
        let mut req = Request::new(Method::Options, target.clone());
        req.headers.push(HeaderName::From, from.to_string());
        req.headers.push(HeaderName::To, format!("<{target}>"));
        req.headers.push(HeaderName::CallId, self.tl.new_call_id());
        req.headers.push(HeaderName::CSeq, "1 OPTIONS");
        req.headers.push(HeaderName::MaxForwards, "70");
        let tx = self.tl.send_request(now, dest, transport, req)?;
        self.probes.insert(tx, false);
        self.pump(now);
        Ok(tx)
    }

    /// Handles transaction events of keepalive probes; true if `e` was one.
    fn on_probe_event(&mut self, e: &TxEvent) -> bool {
        let (key, status) = match e {
            TxEvent::Response { key, resp } if !resp.status.is_provisional() => (*key, resp.status),
            TxEvent::Response { key, .. } => return self.probes.contains_key(key),
            TxEvent::Timeout { key, .. } => (*key, StatusCode::REQUEST_TIMEOUT),
            TxEvent::TransportError { key } => (*key, StatusCode::SERVICE_UNAVAILABLE),
            TxEvent::Terminated { key, .. } => return self.probes.remove(key).is_some(),
            _ => return false,
        };
        match self.probes.get_mut(&key) {
            Some(done) => {
                if !*done {
                    *done = true;
                    self.emit(CallEvent::OptionsResult { tx: key, status });
                }
                true
            }
            None => false,
        }
    }

    /// The call behind `key`.
    pub fn call(&self, key: CallKey) -> Option<&Call> {
        self.calls
            .get(key.index as usize)
            .filter(|c| c.generation == key.generation)
    }

    fn call_mut(&mut self, key: CallKey) -> Option<&mut Call> {
        self.calls
            .get_mut(key.index as usize)
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
    /// absorbs retransmissions).
    pub fn live_len(&self) -> usize {
        self.calls.iter().filter(|(_, c)| !c.ended).count()
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
        self.pump(now);
    }

    /// Reports a send failure for a message that carried `tx`.
    pub fn handle_transport_error(&mut self, now: Instant, tx: TxKey) {
        self.tl.handle_transport_error(now, tx);
        self.pump(now);
    }

    /// The earliest deadline. Call after draining `poll_output`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.tl.poll_timeout()
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
    }

    /// Sends B an INVITE to `target` at `dest` carrying `sdp` (the offer the media layer built
    /// from A's). B's From copies A's From URI and display name with a new tag; Call-ID, tag
    /// and CSeq are B's own. Allowed once per call while no B leg is pending or up.
    pub fn route(
        &mut self,
        now: Instant,
        call: CallKey,
        target: Uri,
        dest: SocketAddr,
        transport: Transport,
        sdp: Bytes,
    ) -> Result<(), B2buaError> {
        self.route_with_headers(now, call, target, dest, transport, sdp, &[])
    }

    /// Like [`route`](Self::route), adding `extra` headers (e.g. `X-Switchboard-Queue`
    /// for the agent's screen pop) to B's INVITE. Names must be extension headers; CR/LF in
    /// values is neutralised by the printer.
    #[allow(clippy::too_many_arguments)]
    pub fn route_with_headers(
        &mut self,
        now: Instant,
        call: CallKey,
        target: Uri,
        dest: SocketAddr,
        transport: Transport,
        sdp: Bytes,
        extra: &[(String, String)],
    ) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if c.ended {
            return Err(B2buaError::InvalidState("call ended"));
        }
        if c.b
            .as_ref()
            .is_some_and(|b| b.invite_tx.is_some() || b.answered)
        {
            return Err(B2buaError::InvalidState("B leg already routed"));
        }
        let a =
            c.a.as_ref()
                .ok_or(B2buaError::InvalidState("originated call has no A leg"))?;
        let from = a
            .invite
            .headers
            .from()
            .map_err(|_| B2buaError::InvalidState("A has no From"))?;
        let mut inv = self.new_invite(from, &target, sdp);
        for (name, value) in extra {
            if let HeaderName::Other(_) = HeaderName::parse(name) {
                inv.headers.push(HeaderName::parse(name), value.clone());
            }
        }
        let tx = self.tl.send_request(now, dest, transport, inv)?;
        if let Some(c) = self.call_mut(call) {
            c.b = Some(BLeg::new(tx, dest, transport));
        }
        self.track(tx, call, Purpose::BInvite);
        self.pump(now);
        Ok(())
    }

    /// An out-of-dialog INVITE to `target`: `from` with a fresh tag, a new Call-ID, CSeq 1,
    /// our Contact, `sdp` as the body.
    fn new_invite(&mut self, mut from: NameAddr, target: &Uri, sdp: Bytes) -> Request {
        from.params.retain(|p| !p.name.eq_ignore_ascii_case("tag"));
        let tag = self.tl.new_tag();
        from.set_tag(&tag);
        let call_id = self.tl.new_call_id();
        let mut inv = Request::new(Method::Invite, target.clone());
        inv.headers.push(HeaderName::From, from.to_string());
        inv.headers.push(HeaderName::To, format!("<{target}>"));
        inv.headers.push(HeaderName::CallId, call_id);
        inv.headers.push(HeaderName::CSeq, "1 INVITE");
        inv.headers
            .push(HeaderName::Contact, self.config.contact.to_string());
        set_body(&mut inv.headers, &sdp);
        inv.body = sdp;
        inv
    }

    /// Starts a call with no A leg (ACD callback, outbound agent call): sends an INVITE to
    /// `target` at `dest` offering `sdp`, From `from` (any tag replaced by a fresh one), with
    /// its own Call-ID and CSeq, Contact = the configured contact, plus `extra` headers (any
    /// valid name except the ones the core writes: Via, From, To, Call-ID, CSeq, Contact,
    /// Max-Forwards, Content-*, Route, Record-Route).
    ///
    /// The leg is reported as [`Leg::B`]. Events, in order: [`CallEvent::Progress`] per
    /// provisional (not 100); on a 2xx (already ACKed) [`CallEvent::LegConfirmed`] `{ leg: B }`
    /// then [`CallEvent::AnswerFromB`]; afterwards `Reinvite`/`InDialogRequest` with `leg: B`,
    /// and `Ended { reason: Bye(B) }` when the far end hangs up. On a final failure,
    /// [`CallEvent::BFailed`] then [`CallEvent::Ended`] with `Rejected(status)` (a response),
    /// `Timeout(B)` (no answer, status 408), `TransportError(B)` (status 503) or `Cancelled`
    /// (after [`B2bua::cancel_b`]). After [`B2bua::hangup`] no `Ended` follows (a `BFailed`
    /// for the CANCEL's 487 may). Nothing is emitted for the call before this returns.
    ///
    /// `sdp` should be a complete offer: delayed offer (an empty INVITE, the offer in the
    /// 2xx) is not supported, since the ACK sent here carries no answer.
    #[allow(clippy::too_many_arguments)]
    pub fn originate(
        &mut self,
        now: Instant,
        target: Uri,
        dest: SocketAddr,
        transport: Transport,
        from: NameAddr,
        sdp: Bytes,
        extra: &[(String, String)],
    ) -> Result<CallKey, B2buaError> {
        let mut inv = self.new_invite(from, &target, sdp);
        push_extra(&mut inv.headers, extra);
        let tx = self.tl.send_request(now, dest, transport, inv)?;
        let call = self.insert_call(None, Some(BLeg::new(tx, dest, transport)));
        self.track(tx, call, Purpose::BInvite);
        self.pump(now);
        Ok(call)
    }

    fn a_response(
        &mut self,
        call: CallKey,
        status: StatusCode,
        sdp: Option<Bytes>,
    ) -> Option<(TxKey, Response)> {
        let contact = self.config.contact.to_string();
        let a = self.call(call)?.a.as_ref()?;
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

    /// Answers A with 200 and `sdp` (the answer the media layer built for A). A's dialog
    /// starts; [`CallEvent::LegConfirmed`] follows when A's ACK arrives.
    pub fn answer_a(&mut self, now: Instant, call: CallKey, sdp: Bytes) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if c.a.is_none() {
            return Err(B2buaError::InvalidState("originated call has no A leg"));
        }
        if !c.a_waiting() || c.ended {
            return Err(B2buaError::InvalidState("A already answered or gone"));
        }
        let (tx, resp) = self
            .a_response(call, StatusCode::OK, Some(sdp))
            .ok_or(B2buaError::InvalidState("A transaction gone"))?;
        self.tl.send_response(now, tx, resp)?;
        let contact = self.config.contact.clone();
        let Some(a) = self.call(call).and_then(|c| c.a.as_ref()) else {
            return Err(B2buaError::NoSuchCall);
        };
        let dialog = Dialog::uas(&a.invite, &a.tag, Some(contact), 0).ok();
        let mut dk = None;
        if let Some(mut d) = dialog {
            d.confirm(None);
            let k = self.dialogs.insert(d);
            self.dialog_calls.insert(k, (call, Leg::A));
            dk = Some(k);
        }
        if let Some(a) = self.call_mut(call).and_then(|c| c.a.as_mut()) {
            a.dialog = dk;
            a.answered = true;
        }
        self.pump(now);
        Ok(())
    }

    /// Sends A a provisional response (e.g. 183 with the SDP the media layer built for early
    /// media, or 180 while the application plays its own ringback). A must be unanswered.
    pub fn progress_a(
        &mut self,
        now: Instant,
        call: CallKey,
        status: StatusCode,
        sdp: Option<Bytes>,
    ) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if !status.is_provisional() || !c.a_waiting() || c.ended {
            return Err(B2buaError::InvalidState("A is not ringing"));
        }
        let (tx, r) = self
            .a_response(call, status, sdp)
            .ok_or(B2buaError::InvalidState("A transaction gone"))?;
        self.tl.send_response(now, tx, r)?;
        self.pump(now);
        Ok(())
    }

    /// Cancels a ringing B while keeping A (an agent did not answer in time). A
    /// [`CallEvent::BFailed`] with B's final status (normally 487) follows and is not relayed
    /// to A; then `route` may try another target. If B's 200 crossed the CANCEL,
    /// [`CallEvent::AnswerFromB`] follows instead and the application keeps or hangs up.
    pub fn cancel_b(&mut self, now: Instant, call: CallKey) -> Result<(), B2buaError> {
        let c = self.call_mut(call).ok_or(B2buaError::NoSuchCall)?;
        let b =
            c.b.as_mut()
                .filter(|b| !b.answered)
                .ok_or(B2buaError::InvalidState("no ringing B leg"))?;
        let tx = b
            .invite_tx
            .ok_or(B2buaError::InvalidState("no ringing B leg"))?;
        b.cancelled = true;
        self.tl.cancel(now, tx)?;
        self.pump(now);
        Ok(())
    }

    /// Hangs up an answered B (BYE) and keeps A, e.g. before a transfer or to take A back to
    /// the IVR; `route` may then call another target. A ringing B is cancelled with
    /// [`B2bua::cancel_b`] instead. An originated call has no A to keep: use
    /// [`B2bua::hangup`].
    pub fn release_b(&mut self, now: Instant, call: CallKey) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if c.a.is_none() {
            return Err(B2buaError::InvalidState("originated call has no A leg"));
        }
        if !c.b.as_ref().is_some_and(|b| b.answered) {
            return Err(B2buaError::InvalidState("no answered B leg"));
        }
        self.bye(now, call, Leg::B);
        self.detach_b(call);
        self.pump(now);
        Ok(())
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
                Purpose::InDialog(Leg::B) => *p = Purpose::Other,
                Purpose::BInvite if b.invite_tx == Some(*k) => *p = Purpose::Other,
                _ => {}
            }
        }
    }

    /// The live call whose leg A has the dialog named by a `Replaces` header (RFC 3891):
    /// `call_id`, `local_tag` = OUR tag on that dialog (the to-tag of a Replaces sent by
    /// the peer that called us), `remote_tag` = the peer's tag (its from-tag). The tags are
    /// also tried the other way round, so a Replaces written from either side's point of
    /// view matches. Only A legs match; ended calls do not.
    pub fn find_call_by_a_dialog(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<CallKey> {
        match self.find_call_by_dialog(call_id, local_tag, remote_tag) {
            Some((call, Leg::A)) => Some(call),
            _ => None,
        }
    }

    /// Like [`find_call_by_a_dialog`](Self::find_call_by_a_dialog) for either leg: the live
    /// call and leg whose dialog has this Call-ID and tags (ours first, either order
    /// accepted). Useful when the transferor REFERs its consultation call instead, so the
    /// Replaces names the original call's leg B.
    pub fn find_call_by_dialog(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<(CallKey, Leg)> {
        [(local_tag, remote_tag), (remote_tag, local_tag)]
            .into_iter()
            .find_map(|(l, r)| {
                let dk = self.dialogs.find(&crate::dialog::DialogId {
                    call_id: call_id.to_string(),
                    local_tag: l.to_string(),
                    remote_tag: r.to_string(),
                })?;
                let &(call, leg) = self.dialog_calls.get(&dk)?;
                self.call(call)
                    .is_some_and(|c| !c.ended)
                    .then_some((call, leg))
            })
    }

    /// Attended transfer done by an anchoring B2BUA (RFC 5589 with RFC 3891 Replaces):
    /// moves `from`'s answered B leg into call `to`, then hangs up `from`'s A leg.
    ///
    /// The moved leg keeps its dialog (Call-ID, tags, CSeqs, route set, remote target),
    /// destination and transport, and its transactions in flight (a pending re-INVITE or
    /// INFO, B's INVITE transaction) now report under `to`. Nothing is sent on the moved
    /// leg: media is anchored, so the application re-bridges the two legs' media itself
    /// (re-INVITE either leg with [`B2bua::send_in_dialog`] if their codecs differ).
    /// `to` must not have a B leg pending or up: release it first with
    /// [`B2bua::release_b`] (or [`B2bua::cancel_b`] and wait for its `BFailed`).
    ///
    /// Afterwards, for the moved leg: its BYE is `Ended { call: to, reason: Bye(B) }` (or
    /// `BHungUp { call: to }` with `keep_a_when_b_hangs_up`) and BYE goes to `to`'s A;
    /// re-INVITE, INFO, etc. come as `Reinvite`/`InDialogRequest { call: to, leg: B }`;
    /// `send_in_dialog(to, B, ..)` and [`B2bua::hangup`]`(to)` reach it.
    ///
    /// `from` is finished: its A leg gets BYE (487 if still unanswered), no `Ended` event
    /// follows for it (the application asked), later requests on its A dialog are answered
    /// without events, and it is removed once its transactions end.
    ///
    /// Errors: [`B2buaError::NoSuchCall`] if either key is dead;
    /// [`B2buaError::InvalidState`] if `from == to`, either call has ended, `from` has no
    /// answered B leg (or it is already hanging up), or `to` has a B leg pending or up.
    pub fn transplant_b(
        &mut self,
        now: Instant,
        from: CallKey,
        to: CallKey,
    ) -> Result<(), B2buaError> {
        let f = self.call(from).ok_or(B2buaError::NoSuchCall)?;
        let t = self.call(to).ok_or(B2buaError::NoSuchCall)?;
        if from == to {
            return Err(B2buaError::InvalidState(
                "cannot move a B leg into its own call",
            ));
        }
        if f.ended || t.ended {
            return Err(B2buaError::InvalidState("call ended"));
        }
        let (dk, invite_tx) =
            f.b.as_ref()
                .filter(|b| b.answered)
                .and_then(|b| Some((b.dialog?, b.invite_tx)))
                .ok_or(B2buaError::InvalidState("no answered B leg to move"))?;
        if t.b
            .as_ref()
            .is_some_and(|b| b.invite_tx.is_some() || b.answered)
        {
            return Err(B2buaError::InvalidState("target already has a B leg"));
        }
        if self
            .dialogs
            .get(dk)
            .is_none_or(|d| d.state == DialogState::Terminating)
        {
            return Err(B2buaError::InvalidState("B leg is hanging up"));
        }
        let Some(b) = self.call_mut(from).and_then(|c| c.b.take()) else {
            return Err(B2buaError::NoSuchCall);
        };
        if let Some(t) = self.call_mut(to) {
            t.b = Some(b);
        }
        self.dialog_calls.insert(dk, (to, Leg::B));
        let mut moved = 0u32;
        for (k, (c, p)) in self.txs.iter_mut() {
            if *c != from {
                continue;
            }
            let belongs = match *p {
                Purpose::InDialog(Leg::B) | Purpose::Sent(Leg::B) => true,
                Purpose::BInvite => invite_tx == Some(*k),
                _ => false,
            };
            if belongs {
                *c = to;
                moved += 1;
            }
        }
        if let Some(c) = self.call_mut(from) {
            c.live_txs = c.live_txs.saturating_sub(moved);
            c.ended = true;
        }
        if let Some(c) = self.call_mut(to) {
            c.live_txs += moved;
        }
        self.end_a(now, from);
        self.remove_if_idle(from);
        self.pump(now);
        Ok(())
    }

    /// Rejects an unanswered A with `status` (and cancels a pending B). No `Ended` event
    /// follows (the application asked for it); the call is removed once its transactions end.
    /// An originated call has no A to reject: use [`B2bua::hangup`].
    pub fn reject(
        &mut self,
        now: Instant,
        call: CallKey,
        status: StatusCode,
    ) -> Result<(), B2buaError> {
        self.reject_with_retry_after(now, call, status, None)
    }

    /// [`B2bua::reject`] with a `Retry-After: secs` header when `retry_after` is set
    /// (RFC 3261 §20.33: overload, 503).
    pub fn reject_with_retry_after(
        &mut self,
        now: Instant,
        call: CallKey,
        status: StatusCode,
        retry_after: Option<u32>,
    ) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if c.a.is_none() {
            return Err(B2buaError::InvalidState("originated call has no A leg"));
        }
        if !c.a_waiting() {
            return Err(B2buaError::InvalidState("A already answered"));
        }
        if let Some((tx, mut r)) = self.a_response(call, status, None) {
            if let Some(secs) = retry_after {
                r.headers.push(HeaderName::RetryAfter, secs.to_string());
            }
            self.tl.send_response(now, tx, r)?;
        }
        if let Some(c) = self.call_mut(call) {
            c.set_a_finished();
            c.ended = true;
        }
        self.end_b(now, call);
        self.pump(now);
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
        if let Some(c) = self.call_mut(call) {
            c.ended = true;
        }
        self.bye(now, call, Leg::A);
        self.end_b(now, call);
        self.remove_if_idle(call);
        self.pump(now);
        Ok(())
    }

    /// Removes an ended call that has no transaction left to wait for.
    fn remove_if_idle(&mut self, call: CallKey) {
        if self.call(call).is_some_and(|c| c.ended && c.live_txs == 0) {
            self.remove_call(call);
        }
    }

    /// Answers an in-dialog request reported by [`CallEvent::Reinvite`] or
    /// [`CallEvent::InDialogRequest`]; `sdp` becomes the body (application/sdp).
    pub fn respond(
        &mut self,
        now: Instant,
        tx: TxKey,
        status: StatusCode,
        sdp: Option<Bytes>,
    ) -> Result<(), B2buaError> {
        let req = self
            .tl
            .request(tx)
            .ok_or(crate::transaction::TxError::NoSuchTransaction)?;
        if req.method == Method::Invite && !status.is_provisional() {
            if let Some(&(call, Purpose::InDialog(leg))) = self.txs.get(&tx) {
                if let Some(d) = self
                    .leg_route(call, leg)
                    .and_then(|(dk, ..)| self.dialogs.get_mut(dk))
                {
                    d.invite_done(false);
                }
            }
        }
        let Some(req) = self.tl.request(tx) else {
            return Err(crate::transaction::TxError::NoSuchTransaction.into());
        };
        let mut r = Response::for_request(req, status);
        if req.method == Method::Invite && status.is_success() {
            r.headers
                .push(HeaderName::Contact, self.config.contact.to_string());
        }
        if let Some(b) = sdp {
            set_body(&mut r.headers, &b);
            r.body = b;
        }
        self.respond_raw(now, tx, r)
    }

    /// Sends a response the application built (e.g. the registrar's answer to REGISTER).
    pub fn respond_raw(
        &mut self,
        now: Instant,
        tx: TxKey,
        resp: Response,
    ) -> Result<(), B2buaError> {
        self.tl.send_response(now, tx, resp)?;
        self.pump(now);
        Ok(())
    }

    /// Sends an in-dialog request on a confirmed leg (re-INVITE, INFO, REFER...). The request
    /// is built by the leg's dialog; `sdp` becomes its body. Responses come back as
    /// [`CallEvent::InDialogResponse`]; a re-INVITE's 2xx is ACKed here.
    pub fn send_in_dialog(
        &mut self,
        now: Instant,
        call: CallKey,
        leg: Leg,
        method: Method,
        sdp: Option<Bytes>,
    ) -> Result<TxKey, B2buaError> {
        let body = sdp.map(|b| (b, "application/sdp"));
        self.send_in_dialog_with(now, call, leg, method, body, &[])
    }

    /// Sends an in-dialog request with any body and extra headers, e.g. the NOTIFY that
    /// reports a REFER's outcome (RFC 3515 §2.4.5): `Event: refer`, `Subscription-State:
    /// terminated;reason=noresource` and a `message/sipfrag;version=2.0` body
    /// `SIP/2.0 200 OK`. `body` is `(bytes, content type)`; an empty body carries no
    /// Content-Type. `extra` headers with names the dialog writes (Via, From, To, Call-ID,
    /// CSeq, Contact, Max-Forwards, Content-*, Route, Record-Route) or invalid names are
    /// dropped. Responses come back as [`CallEvent::InDialogResponse`]; a 2xx to a
    /// re-INVITE is ACKed here.
    pub fn send_in_dialog_with(
        &mut self,
        now: Instant,
        call: CallKey,
        leg: Leg,
        method: Method,
        body: Option<(Bytes, &str)>,
        extra: &[(String, String)],
    ) -> Result<TxKey, B2buaError> {
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(B2buaError::InvalidState(
                "ACK and CANCEL are sent by the core",
            ));
        }
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if c.ended {
            return Err(B2buaError::InvalidState("call ended"));
        }
        let (dk, dest, transport) = self
            .leg_route(call, leg)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
        let d = self
            .dialogs
            .get_mut(dk)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
        if d.state == DialogState::Terminating {
            return Err(B2buaError::InvalidState("leg is hanging up"));
        }
        let mut req = d.request(method);
        push_extra(&mut req.headers, extra);
        if let Some((b, content_type)) = body {
            if b.is_empty() {
                req.headers.remove(&HeaderName::ContentType);
            } else {
                req.headers.set(HeaderName::ContentType, content_type);
            }
            req.body = b;
        }
        let tx = self.tl.send_request(now, dest, transport, req)?;
        self.track(tx, call, Purpose::Sent(leg));
        self.pump(now);
        Ok(tx)
    }

    /// Reports a REFER's progress on `leg` (RFC 3515 §2.4.4-2.4.5): a NOTIFY with
    /// `Event: refer`, a `message/sipfrag;version=2.0` body holding `status`'s status line,
    /// and `Subscription-State: terminated;reason=noresource` when `terminated` (the final
    /// report) or `active;expires=60` (e.g. for a 100 Trying first). Send it after answering
    /// the REFER with `respond(now, tx, StatusCode(202), None)`.
    pub fn send_refer_notify(
        &mut self,
        now: Instant,
        call: CallKey,
        leg: Leg,
        status: StatusCode,
        terminated: bool,
    ) -> Result<TxKey, B2buaError> {
        let frag = format!("SIP/2.0 {} {}\r\n", status.0, status.default_reason());
        let state = if terminated {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let extra = [
            ("Event".to_string(), "refer".to_string()),
            ("Subscription-State".to_string(), state.to_string()),
        ];
        let body = (Bytes::from(frag), "message/sipfrag;version=2.0");
        self.send_in_dialog_with(now, call, leg, Method::Notify, Some(body), &extra)
    }

    fn leg_route(&self, call: CallKey, leg: Leg) -> Option<(DialogKey, SocketAddr, Transport)> {
        let c = self.call(call)?;
        match leg {
            Leg::A => {
                let a = c.a.as_ref()?;
                Some((a.dialog?, a.from, a.transport))
            }
            Leg::B => {
                let b = c.b.as_ref()?;
                Some((b.dialog?, b.dest, b.transport))
            }
        }
    }

    /// Sends BYE on `leg` if its dialog is up and not already terminating.
    fn bye(&mut self, now: Instant, call: CallKey, leg: Leg) {
        let Some((dk, dest, transport)) = self.leg_route(call, leg) else {
            return;
        };
        let Some(d) = self.dialogs.get_mut(dk) else {
            return;
        };
        if d.state == DialogState::Terminating {
            return;
        }
        d.state = DialogState::Terminating;
        let bye = d.request(Method::Bye);
        if let Ok(tx) = self.tl.send_request(now, dest, transport, bye) {
            self.track(tx, call, Purpose::InDialog(leg));
        }
    }

    /// Ends leg B: BYE if answered, CANCEL if ringing.
    fn end_b(&mut self, now: Instant, call: CallKey) {
        let Some(c) = self.call(call) else {
            return;
        };
        let Some(b) = c.b.as_ref() else {
            return;
        };
        if b.answered {
            self.bye(now, call, Leg::B);
        } else if let Some(tx) = b.invite_tx {
            let _ = self.tl.cancel(now, tx);
        }
    }

    fn end(&mut self, call: CallKey, reason: EndReason) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        if c.ended {
            return;
        }
        c.ended = true;
        self.emit(CallEvent::Ended { call, reason });
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
        }) as u32;
        CallKey { index, generation }
    }

    fn on_tx_event(&mut self, now: Instant, e: TxEvent) {
        if !self.probes.is_empty() && self.on_probe_event(&e) {
            return;
        }
        match e {
            TxEvent::NewRequest {
                key,
                req,
                from,
                transport,
            } => self.on_request(now, key, req, from, transport),
            TxEvent::Response { key, resp } => self.on_response(now, key, resp),
            TxEvent::Timeout { key, timer } => self.on_timeout(now, key, timer),
            TxEvent::TransportError { key } => {
                if let Some(&(call, p)) = self.txs.get(&key) {
                    let leg = match p {
                        Purpose::BInvite | Purpose::InDialog(Leg::B) | Purpose::Sent(Leg::B) => {
                            Leg::B
                        }
                        _ => Leg::A,
                    };
                    let detached = leg == Leg::B && self.call(call).is_some_and(|c| c.b.is_none());
                    if p == Purpose::BInvite {
                        self.b_failed(
                            now,
                            call,
                            StatusCode::SERVICE_UNAVAILABLE,
                            EndReason::TransportError(Leg::B),
                        );
                    } else if matches!(p, Purpose::Other | Purpose::SentDetached) {
                        // A BYE to a stray fork of B, or a request to a released B leg:
                        // nothing of the call depends on it.
                    } else if !detached {
                        // The leg is unreachable: end the call and release the other leg.
                        self.end(call, EndReason::TransportError(leg));
                        match leg {
                            Leg::A => self.end_b(now, call),
                            Leg::B => self.end_a(now, call),
                        }
                    }
                }
            }
            TxEvent::AckFor2xx { key, .. } => {
                if let Some(&(call, Purpose::AInvite)) = self.txs.get(&key) {
                    self.emit(CallEvent::LegConfirmed { call, leg: Leg::A });
                }
            }
            TxEvent::Cancelled { key, .. } => {
                if let Some(&(call, Purpose::AInvite)) = self.txs.get(&key) {
                    if let Some(c) = self.call_mut(call) {
                        c.set_a_finished();
                    }
                    self.end(call, EndReason::Cancelled);
                    self.end_b(now, call);
                }
            }
            TxEvent::Terminated { key, .. } => {
                if let Some((call, p)) = self.txs.remove(&key) {
                    let mut remove = false;
                    if let Some(c) = self.call_mut(call) {
                        c.live_txs = c.live_txs.saturating_sub(1);
                        match p {
                            Purpose::AInvite => {
                                if let Some(a) = c.a.as_mut() {
                                    a.invite_tx = None;
                                }
                            }
                            Purpose::BInvite => {
                                // Only if it is still the current B attempt (the application
                                // may have routed again after a failure).
                                if let Some(b) = c.b.as_mut().filter(|b| b.invite_tx == Some(key)) {
                                    b.invite_tx = None;
                                }
                            }
                            _ => {}
                        }
                        remove = c.ended && c.live_txs == 0;
                    }
                    if remove {
                        self.remove_call(call);
                    }
                }
            }
            TxEvent::StrayResponse { resp, from } => self.on_stray_response(resp, from),
            TxEvent::StrayAck { .. } => {}
        }
    }

    /// A 2xx retransmitted by B after our INVITE transaction ended (our ACK was lost and timer
    /// M ran out): ACK it again from the dialog so B stops retransmitting.
    fn on_stray_response(&mut self, resp: Response, from: SocketAddr) {
        let is_invite_2xx = resp.status.is_success()
            && resp
                .headers
                .cseq()
                .is_ok_and(|c| c.method == Method::Invite);
        if !is_invite_2xx {
            return;
        }
        let Some(dk) = self.dialogs.find_for_response(&resp) else {
            return;
        };
        let Some(&(call, leg)) = self.dialog_calls.get(&dk) else {
            return;
        };
        let Some((_, _, transport)) = self.leg_route(call, leg) else {
            return;
        };
        let (Some(d), Ok(cseq)) = (self.dialogs.get(dk), resp.headers.cseq()) else {
            return;
        };
        let ack = d.ack(cseq.seq);
        self.tl.send_stateless(from, transport, ack);
    }

    fn remove_call(&mut self, call: CallKey) {
        if self.call(call).is_none() {
            return;
        }
        let c = self.calls.remove(call.index as usize);
        for dk in [c.a.and_then(|a| a.dialog), c.b.and_then(|b| b.dialog)]
            .into_iter()
            .flatten()
        {
            self.dialogs.remove(dk);
            self.dialog_calls.remove(&dk);
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        key: TxKey,
        req: Request,
        from: SocketAddr,
        transport: Transport,
    ) {
        // §8.2 checks come before dialog matching (§12.2.2), for in-dialog requests too.
        if let Err(resp) = check_request(&req, &self.config.policy) {
            let _ = self.tl.send_response(now, key, resp);
            return;
        }
        let in_dialog = req.headers.to().map(|t| t.tag().is_some()).unwrap_or(false);
        if in_dialog {
            let dk = match self.dialogs.handle_request(&req) {
                Ok(Some(dk)) => dk,
                Ok(None) => return,
                Err(resp) => {
                    let _ = self.tl.send_response(now, key, resp);
                    return;
                }
            };
            let Some(&(call, leg)) = self.dialog_calls.get(&dk) else {
                let r = Response::for_request(&req, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
                let _ = self.tl.send_response(now, key, r);
                return;
            };
            self.track(key, call, Purpose::InDialog(leg));
            match req.method {
                Method::Bye => {
                    let _ = self.tl.send_response(
                        now,
                        key,
                        Response::for_request(&req, StatusCode::OK),
                    );
                    let keep_a = leg == Leg::B
                        && self.config.keep_a_when_b_hangs_up
                        && self.call(call).is_some_and(|c| !c.ended && c.a_answered());
                    if keep_a {
                        self.detach_b(call);
                        self.emit(CallEvent::BHungUp { call });
                        return;
                    }
                    let already = self.call(call).is_some_and(|c| c.ended);
                    self.end(call, EndReason::Bye(leg));
                    if !already {
                        match leg {
                            Leg::A => self.end_b(now, call),
                            Leg::B => self.end_a(now, call),
                        }
                    }
                }
                Method::Invite => {
                    let sdp = req.body.clone();
                    self.emit(CallEvent::Reinvite {
                        call,
                        leg,
                        tx: key,
                        sdp,
                    });
                }
                _ => self.emit(CallEvent::InDialogRequest {
                    call,
                    leg,
                    tx: key,
                    req,
                }),
            }
            return;
        }
        match req.method {
            Method::Invite => {
                let call = self.new_call(req.clone(), key, from, transport);
                self.track(key, call, Purpose::AInvite);
                self.emit(CallEvent::Incoming {
                    call,
                    invite: req,
                    from,
                });
            }
            Method::Options => {
                let r = options_response(&req, &self.config.policy);
                let _ = self.tl.send_response(now, key, r);
            }
            _ => self.emit(CallEvent::OtherRequest {
                tx: key,
                req,
                from,
                transport,
            }),
        }
    }

    /// Ends leg A: BYE if answered, 487-like final if still ringing.
    fn end_a(&mut self, now: Instant, call: CallKey) {
        let Some(c) = self.call(call) else {
            return;
        };
        if c.a_answered() {
            self.bye(now, call, Leg::A);
        } else if c.a_waiting() {
            if let Some((tx, r)) = self.a_response(call, StatusCode::REQUEST_TERMINATED, None) {
                let _ = self.tl.send_response(now, tx, r);
            }
            if let Some(c) = self.call_mut(call) {
                c.set_a_finished();
            }
        }
    }

    /// B's INVITE failed with `status`. `why` is the end reason of an originated call (which
    /// has nothing left once B is gone).
    fn b_failed(&mut self, now: Instant, call: CallKey, status: StatusCode, why: EndReason) {
        self.emit(CallEvent::BFailed { call, status });
        let Some(c) = self.call_mut(call) else {
            return;
        };
        let mut app_cancelled = false;
        if let Some(b) = c.b.as_mut() {
            b.invite_tx = None;
            app_cancelled = b.cancelled;
        }
        if c.a.is_none() {
            let why = if app_cancelled {
                EndReason::Cancelled
            } else {
                why
            };
            self.end(call, why);
            return;
        }
        if c.ended || !c.a_waiting() || app_cancelled || !self.config.relay_failures {
            return;
        }
        if let Some((tx, r)) = self.a_response(call, status, None) {
            let _ = self.tl.send_response(now, tx, r);
        }
        if let Some(c) = self.call_mut(call) {
            c.set_a_finished();
        }
        self.end(call, EndReason::Rejected(status));
    }

    fn on_response(&mut self, now: Instant, key: TxKey, resp: Response) {
        let Some(&(call, purpose)) = self.txs.get(&key) else {
            return;
        };
        if let Purpose::Sent(leg) = purpose {
            self.on_sent_response(now, key, call, leg, resp);
            return;
        }
        if purpose == Purpose::SentDetached {
            // The leg is gone: no dialog to update, only the report.
            self.emit(CallEvent::InDialogResponse {
                call,
                leg: Leg::B,
                tx: key,
                resp,
            });
            return;
        }
        if purpose != Purpose::BInvite {
            return; // responses to our BYEs: nothing to relay
        }
        let status = resp.status;
        if status.is_provisional() {
            if status == StatusCode::TRYING {
                return;
            }
            let relay = self.call(call).is_some_and(|c| !c.ended && c.a_waiting());
            if relay {
                if let Some((tx, r)) = self.a_response(call, status, None) {
                    let _ = self.tl.send_response(now, tx, r);
                }
            }
            self.emit(CallEvent::Progress {
                call,
                status,
                sdp: resp.body,
            });
            return;
        }
        if !status.is_success() {
            self.b_failed(now, call, status, EndReason::Rejected(status));
            return;
        }
        // 2xx: dialog, ACK, then decide.
        let Some(invite) = self.tl.request(key).cloned() else {
            return;
        };
        let Ok(mut d) = Dialog::uac(&invite, &resp) else {
            return;
        };
        let Some((dest, transport, existing)) = self
            .call(call)
            .and_then(|c| c.b.as_ref())
            .map(|b| (b.dest, b.transport, b.dialog))
        else {
            return;
        };
        let invite_seq = invite.headers.cseq().map(|c| c.seq).unwrap_or(1);
        let ack = d.ack(invite_seq);
        let _ = self.tl.send_ack_for_2xx(now, key, dest, transport, ack);
        if let Some(dk) = existing {
            // A second 2xx: same dialog is a retransmission; another fork gets a BYE.
            if self.dialogs.get(dk).is_some_and(|x| x.id == d.id) {
                return;
            }
            let bye = d.request(Method::Bye);
            if let Ok(tx) = self.tl.send_request(now, dest, transport, bye) {
                self.track(tx, call, Purpose::Other);
            }
            return;
        }
        d.confirm(None);
        let dk = self.dialogs.insert(d);
        self.dialog_calls.insert(dk, (call, Leg::B));
        let ended = if let Some(c) = self.call_mut(call) {
            if let Some(b) = c.b.as_mut() {
                b.dialog = Some(dk);
                b.answered = true;
            }
            c.ended
        } else {
            return;
        };
        self.emit(CallEvent::LegConfirmed { call, leg: Leg::B });
        if ended {
            // A cancelled (or hung up) while B was answering: CANCEL lost the race.
            self.bye(now, call, Leg::B);
            return;
        }
        self.emit(CallEvent::AnswerFromB {
            call,
            sdp: resp.body,
        });
    }

    /// A response to a request the application sent in a dialog: ACK a re-INVITE's 2xx,
    /// clear the pending re-INVITE, and report it.
    fn on_sent_response(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallKey,
        leg: Leg,
        resp: Response,
    ) {
        let Some(req) = self.tl.request(key) else {
            return;
        };
        let is_invite = req.method == Method::Invite;
        let seq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        if is_invite && !resp.status.is_provisional() {
            if let Some((dk, dest, transport)) = self.leg_route(call, leg) {
                if let Some(d) = self.dialogs.get_mut(dk) {
                    d.invite_done(true);
                    if resp.status.is_success() {
                        if let Some(c) = crate::dialog::first_contact_uri(&resp) {
                            d.remote_target = c;
                        }
                        let ack = d.ack(seq);
                        let _ = self.tl.send_ack_for_2xx(now, key, dest, transport, ack);
                    }
                }
            }
        }
        self.emit(CallEvent::InDialogResponse {
            call,
            leg,
            tx: key,
            resp,
        });
    }

    fn on_timeout(&mut self, now: Instant, key: TxKey, timer: Timer) {
        let Some(&(call, purpose)) = self.txs.get(&key) else {
            return;
        };
        match purpose {
            Purpose::BInvite => self.b_failed(
                now,
                call,
                StatusCode::REQUEST_TIMEOUT,
                EndReason::Timeout(Leg::B),
            ),
            Purpose::AInvite if timer == Timer::L => {
                // A never ACKed our 2xx (§13.3.1.4): end both legs.
                self.end(call, EndReason::Timeout(Leg::A));
                self.bye(now, call, Leg::A);
                self.end_b(now, call);
            }
            Purpose::InDialog(leg) | Purpose::Sent(leg) => {
                // A B leg the application released (or that hung up) no longer ends the call.
                let detached = leg == Leg::B && self.call(call).is_some_and(|c| c.b.is_none());
                let ended = detached || self.call(call).is_some_and(|c| c.ended);
                if !ended {
                    self.end(call, EndReason::Timeout(leg));
                    self.end_a(now, call);
                    self.end_b(now, call);
                }
            }
            _ => {}
        }
    }
}
