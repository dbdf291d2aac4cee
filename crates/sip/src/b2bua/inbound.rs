//! The inbound side: routing a call's leg A to a new leg B (with the SDP and extra headers
//! the application chose), answering, progressing or rejecting leg A, and cancelling or
//! releasing leg B.

use super::*;

impl B2bua {
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
        let mut inv = self.new_invite(from, &target, sdp, transport);
        for (name, value) in extra {
            if let HeaderName::Other(_) = HeaderName::parse(name) {
                inv.headers.push(HeaderName::parse(name), value.clone());
            }
        }
        let session = self.offer_session_timer(&mut inv, true);
        let tx = self.tl.send_request(now, dest, transport, inv)?;
        if let Some(c) = self.call_mut(call) {
            let mut b = BLeg::new(tx, dest, transport);
            b.session = session;
            c.b = Some(b);
        }
        self.track(tx, call, Purpose::BInvite);
        self.pump(now);
        Ok(())
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
        if let Some(a) = self.call_mut(call).and_then(|c| c.a.as_mut()) {
            a.sdp = Some(sdp.clone());
        }
        let (tx, mut resp) = self
            .a_response(call, StatusCode::OK, Some(sdp))
            .ok_or(B2buaError::InvalidState("A transaction gone"))?;
        for (name, value) in self.session_headers(call, Leg::A) {
            resp.headers.push(name, value);
        }
        // RFC 3261 §13.3.1.4: the 2xx says what A may send in the dialog (UPDATE, say).
        resp.headers
            .push(HeaderName::Allow, self.config.policy.allow_header());
        self.tl.send_response(now, tx, resp)?;
        self.start_session_timer(now, call);
        let Some(a) = self.call(call).and_then(|c| c.a.as_ref()) else {
            return Err(B2buaError::NoSuchCall);
        };
        let contact = self.contact_for(a.transport).clone();
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
        let extra: Vec<(HeaderName, String)> = retry_after
            .map(|secs| (HeaderName::RetryAfter, secs.to_string()))
            .into_iter()
            .collect();
        self.reject_with_headers(now, call, status, &extra)
    }

    /// [`B2bua::reject`] with extra headers on the final response, e.g. the
    /// `Proxy-Authenticate` challenges of a 407 (RFC 3261 §22.3).
    pub fn reject_with_headers(
        &mut self,
        now: Instant,
        call: CallKey,
        status: StatusCode,
        headers: &[(HeaderName, String)],
    ) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        if c.a.is_none() {
            return Err(B2buaError::InvalidState("originated call has no A leg"));
        }
        if !c.a_waiting() {
            return Err(B2buaError::InvalidState("A already answered"));
        }
        if let Some((tx, mut r)) = self.a_response(call, status, None) {
            for (name, value) in headers {
                r.headers.push(name.clone(), value.clone());
            }
            self.tl.send_response(now, tx, r)?;
        }
        if let Some(c) = self.call_mut(call) {
            c.set_a_finished();
        }
        self.mark_ended(call);
        self.end_b(now, call);
        self.pump(now);
        Ok(())
    }
}
