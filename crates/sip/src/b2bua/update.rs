//! UPDATE from a peer (RFC 3311) on a confirmed leg. Without a body it is a session
//! refresh (RFC 4028 §7.4) or a target refresh: answered 200 here, with our
//! `Session-Expires` when the leg has a session timer and our Contact; the application
//! never sees it. With an offer it changes the session like a re-INVITE: the application
//! gets it as [`CallEvent::InDialogRequest`] and answers it with SDP (200) or 488 through
//! [`B2bua::respond`], unless an offer is already in flight on the leg: our re-INVITE
//! unanswered gets 491, the peer's own re-INVITE unanswered 500 with `Retry-After`
//! (§5.2). An UPDATE in an early dialog finds no dialog (the B2BUA keeps a leg's dialog
//! from its 2xx on) and is answered 481 by the dialog layer.

use super::*;

impl B2bua {
    pub(super) fn on_update(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallKey,
        leg: Leg,
        req: Request,
    ) {
        let pending = self
            .leg_route(call, leg)
            .and_then(|(dk, ..)| self.dialogs.get(dk))
            .map(|d| (d.invite_out_pending, d.invite_in_pending));
        let offer = !req.body.is_empty();
        if offer {
            let refused = match pending {
                Some((true, _)) => Some(StatusCode(491)),
                Some((_, true)) => Some(StatusCode::SERVER_INTERNAL_ERROR),
                _ => None,
            };
            if let Some(status) = refused {
                let mut r = Response::for_request(&req, status);
                if status == StatusCode::SERVER_INTERNAL_ERROR {
                    // §5.2: a value in 0..=10 s; from the CSeq (no randomness in the core).
                    let seq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
                    r.headers
                        .push(HeaderName::RetryAfter, (seq % 11).to_string());
                }
                let _ = self.respond_raw(now, key, r);
                return;
            }
        }
        self.session_refreshed(now, call, leg, &req);
        if offer {
            self.emit(CallEvent::InDialogRequest {
                call,
                leg,
                tx: key,
                req,
            });
        } else {
            let _ = self.respond(now, key, StatusCode::OK, None);
        }
    }
}
