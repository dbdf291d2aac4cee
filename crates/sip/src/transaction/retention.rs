//! What a server transaction keeps once only retransmission absorption is left (issue #16
//! item 3). After its final response a transaction lingers up to 32 s (timer J for a
//! non-INVITE, L for an INVITE's 2xx, H/I for its failure) to absorb retransmitted requests
//! and ACKs; for that it needs its match keys and, while a retransmitted request must be
//! answered again, its last response's bytes; it never needs the request's body or most of
//! its headers. So:
//!
//! - a non-INVITE answered, or an INVITE answered with a failure: the request shrinks to its
//!   identity headers (Via, From, To, Call-ID, CSeq, what `request()` callers read); the
//!   response bytes stay (a retransmitted request is answered with them);
//! - an INVITE whose 2xx was ACKed, or whose failure was ACKed: the response bytes go too
//!   (nothing is re-sent in Accepted after the ACK, nor in Confirmed).
//!
//! The byte estimate charged to the source (`admission`) follows, so
//! `TxStats::server_bytes` (the `switchboard_sip_transaction_bytes` gauge) is what the
//! lingering transactions really keep.

use super::*;

/// The headers a lingering server transaction's request keeps.
fn identity(name: &HeaderName) -> bool {
    matches!(
        name,
        HeaderName::Via | HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq
    )
}

impl TransactionLayer {
    /// Shrinks server transaction `key` to what absorbing retransmissions needs; with
    /// `drop_response`, its last response's bytes go too.
    pub(super) fn shrink_answered(&mut self, key: TxKey, drop_response: bool) {
        let Some(tx) = self.get_mut(key) else {
            return;
        };
        if tx.role != TxRole::Server {
            return;
        }
        tx.request.headers.0.retain(|h| identity(&h.name));
        tx.request.headers.0.shrink_to_fit();
        tx.request.body = Bytes::new();
        tx.request_bytes = Bytes::new();
        if drop_response {
            tx.last_response = None;
        }
        let cost = request_cost(&tx.request) + tx.last_response.as_ref().map_or(0, Bytes::len);
        if tx.charge.is_some() {
            self.recharge(key, cost);
        }
    }
}
