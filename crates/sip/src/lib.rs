//! SIP transactions (RFC 3261 §17, RFC 6026), dialogs (§12), UAS request validation (§8.2),
//! response routing (§18.2, RFC 3581) and a B2BUA core, as state machines that do no I/O.
//!
//! Feed parsed messages (from `switchboard-sip-message`) and `now`; drain messages to send
//! and events for the application; ask for the next deadline. Nothing here reads a clock,
//! opens a socket or spawns a task, and every random token (branch, tag, Call-ID) comes from
//! an RNG seeded at construction, so whole calls replay exactly in simulation.
//!
//! Not a parser (see `switchboard-sip-message`), not a transport or DNS resolver (see
//! `switchboard-transport`; the driver resolves hostnames), not a registrar (see
//! `switchboard-registrar`), and not SDP: bodies are carried, never read.
//!
//! Layers, bottom up: [`timer`] (timer kinds and the deadline table), [`transaction`]
//! ([`TransactionLayer`]), [`routing`] (`received`/`rport`), [`policy`] ([`check_request`]),
//! [`dialog`] ([`Dialogs`]), [`b2bua`] ([`B2bua`]); beside them [`session_timer`] (RFC 4028
//! negotiation and per-dialog refresh/expiry deadlines).

//!
//! # Driving it
//!
//! One driver task owns one [`B2bua`] (or a bare [`TransactionLayer`]) and does only this:
//!
//! ```text
//! // UDP: one datagram is one message.
//! match switchboard_sip_message::parse_datagram(&buf[..n], &limits) {
//!     Ok(msg) => core.handle_message(now, src, Transport::Udp, msg),
//!     Err(_) => if let Some(r) = reject_malformed(&buf[..n]) { sock.send_to(&r, src) },
//! }                                            // (stateless 400; responses are dropped)
//! // TCP/TLS: per connection, parse_stream until Incomplete; any other error closes it.
//! while let Ok((msg, used)) = parse_stream(&conn.buf, &limits) {
//!     conn.buf.advance(used);
//!     core.handle_message(now, conn.peer, Transport::Tcp, msg);
//! }
//! // After every handle_* / application call:
//! while let Some(out) = core.poll_output() {
//!     match out {
//!         // UDP: send_to(to). TCP/TLS: write on the connection whose peer is `to` (responses
//!         // always name the connection the request came on); open one for a new request.
//!         // If the send fails and the transmit names a transaction, call
//!         // core.handle_transport_error(now, tx).
//!         B2buaOutput::Transmit { to, transport, bytes, tx } => send(to, transport, bytes, tx),
//!         B2buaOutput::Event(ev) => app.handle(ev),  // app answers with route/answer_a/...
//!     }
//! }
//! // Then sleep until core.poll_timeout() and call core.handle_timeout(now).
//! ```

#![warn(missing_docs)]

pub mod b2bua;
pub mod dialog;
pub mod policy;
pub mod routing;
pub mod session_timer;
pub mod timer;
pub mod transaction;
pub mod transport;

pub use b2bua::{
    B2bua, B2buaConfig, B2buaError, B2buaOutput, Call, CallEvent, CallKey, ChallengeResponder,
    EndReason, Leg, OriginateOptions,
};
pub use dialog::{Dialog, DialogError, DialogId, DialogKey, DialogRole, DialogState, Dialogs};
pub use policy::{check_request, options_response, reject_malformed, UasPolicy};
pub use routing::{response_destination, stamp_via};
pub use timer::{Timer, TimerConfig, TimerTable};
pub use transaction::{
    build_ack, Output, SourceCaps, TransactionLayer, TxConfig, TxError, TxEvent, TxKey, TxRole,
    TxState, TxStats,
};
pub use transport::Transport;

/// A fixed `Instant` for unit tests (a fake clock's origin; cores never read the clock).
#[cfg(test)]
pub(crate) fn test_epoch() -> std::time::Instant {
    switchboard_test_support::epoch()
}
