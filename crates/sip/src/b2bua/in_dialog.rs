//! Established dialogs: responses to in-dialog requests, requests sent within a leg's dialog
//! (re-INVITE, INFO, BYE, ...), their route sets, and ending legs and calls.

use super::*;

impl B2bua {
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
        let transport = match self.txs.get(&tx) {
            Some(&(call, Purpose::InDialog(leg))) => self.leg_route(call, leg).map(|r| r.2),
            _ => None,
        };
        let contact = self
            .contact_for(transport.unwrap_or(Transport::Udp))
            .to_string();
        let Some(req) = self.tl.request(tx) else {
            return Err(crate::transaction::TxError::NoSuchTransaction.into());
        };
        let mut r = Response::for_request(req, status);
        // A target refresh's 2xx carries our Contact (RFC 3311 §5.2 for UPDATE).
        if matches!(req.method, Method::Invite | Method::Update) && status.is_success() {
            r.headers.push(HeaderName::Contact, contact);
            r.headers
                .push(HeaderName::Allow, self.config.policy.allow_header());
        }
        if matches!(req.method, Method::Invite | Method::Update) && status.is_success() {
            if let Some(&(call, Purpose::InDialog(leg))) = self.txs.get(&tx) {
                for (name, value) in self.session_headers(call, leg) {
                    r.headers.push(name, value);
                }
            }
        }
        if let Some(b) = sdp {
            if status.is_success() {
                if let Some(&(call, Purpose::InDialog(leg))) = self.txs.get(&tx) {
                    self.remember_sdp(call, leg, &b);
                }
            }
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
        let session_expires = self.app_request_session_expires(call, leg, &method);
        let d = self
            .dialogs
            .get_mut(dk)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
        if d.state == DialogState::Terminating {
            return Err(B2buaError::InvalidState("leg is hanging up"));
        }
        let mut req = d.request(method);
        push_extra(&mut req.headers, extra);
        if let Some(se) = session_expires {
            // Our re-INVITE/UPDATE is a session refresh too (its 2xx restarts the timer).
            req.headers.set(HeaderName::SessionExpires, se);
            req.headers.push(HeaderName::Supported, "timer");
        }
        if let Some((b, content_type)) = body {
            if b.is_empty() {
                req.headers.remove(&HeaderName::ContentType);
            } else {
                req.headers.set(HeaderName::ContentType, content_type);
                if content_type == "application/sdp"
                    && matches!(req.method, Method::Invite | Method::Update)
                {
                    self.remember_sdp(call, leg, &b);
                }
            }
            req.body = b;
        }
        let tx = self.tl.send_request(now, dest, transport, req)?;
        self.track(tx, call, Purpose::Sent(leg));
        self.pump(now);
        Ok(tx)
    }

    pub(super) fn leg_route(
        &self,
        call: CallKey,
        leg: Leg,
    ) -> Option<(DialogKey, SocketAddr, Transport)> {
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
    pub(super) fn bye(&mut self, now: Instant, call: CallKey, leg: Leg) {
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
    pub(super) fn end_b(&mut self, now: Instant, call: CallKey) {
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

    pub(super) fn end(&mut self, call: CallKey, reason: EndReason) {
        if !self.mark_ended(call) {
            return;
        }
        self.emit(CallEvent::Ended { call, reason });
    }

    /// Ends leg A: BYE if answered, 487-like final if still ringing.
    pub(super) fn end_a(&mut self, now: Instant, call: CallKey) {
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
}
