//! Originated calls: a call whose only leg is an outbound INVITE (reported as leg B), and the
//! INVITE builder that routed calls use too.

use super::*;

/// Per-call choices for [`B2bua::originate_with_options`].
#[derive(Debug, Default)]
pub struct OriginateOptions {
    /// Answers a 401/407 to the INVITE (a carrier that challenges), as
    /// [`B2bua::originate_with_auth`] does.
    pub auth: Option<Box<dyn ChallengeResponder>>,
    /// Do not offer an RFC 4028 session timer on this leg even though
    /// [`B2buaConfig::session_timers`] is on (a trunk whose carrier mishandles them).
    pub without_session_timer: bool,
}

impl B2bua {
    /// An out-of-dialog INVITE to `target`: `from` with a fresh tag, a new Call-ID, CSeq 1,
    /// our Contact for `transport`, `sdp` as the body.
    pub(super) fn new_invite(
        &mut self,
        mut from: NameAddr,
        target: &Uri,
        sdp: Bytes,
        transport: Transport,
    ) -> Request {
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
            .push(HeaderName::Contact, self.contact_for(transport).to_string());
        // What the callee may send us in the dialog (UPDATE for its session refreshes).
        inv.headers
            .push(HeaderName::Allow, self.config.policy.allow_header());
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
        let options = OriginateOptions::default();
        self.originate_with_options(now, target, dest, transport, from, sdp, extra, options)
    }

    /// [`B2bua::originate`] through a peer that may challenge the INVITE (a carrier): a
    /// 401/407 is answered by `auth` and the INVITE re-sent (next CSeq, same Call-ID and
    /// tag, a new branch) as long as `auth` supplies credentials; the application sees
    /// only the final outcome of the last attempt.
    #[allow(clippy::too_many_arguments)]
    pub fn originate_with_auth(
        &mut self,
        now: Instant,
        target: Uri,
        dest: SocketAddr,
        transport: Transport,
        from: NameAddr,
        sdp: Bytes,
        extra: &[(String, String)],
        auth: Box<dyn ChallengeResponder>,
    ) -> Result<CallKey, B2buaError> {
        let options = OriginateOptions {
            auth: Some(auth),
            ..OriginateOptions::default()
        };
        self.originate_with_options(now, target, dest, transport, from, sdp, extra, options)
    }

    /// [`B2bua::originate`] with per-call [`OriginateOptions`]: credentials for a
    /// challenging peer, and whether to offer a session timer.
    #[allow(clippy::too_many_arguments)]
    pub fn originate_with_options(
        &mut self,
        now: Instant,
        target: Uri,
        dest: SocketAddr,
        transport: Transport,
        from: NameAddr,
        sdp: Bytes,
        extra: &[(String, String)],
        options: OriginateOptions,
    ) -> Result<CallKey, B2buaError> {
        let mut inv = self.new_invite(from, &target, sdp, transport);
        push_extra(&mut inv.headers, extra);
        let session = self.offer_session_timer(&mut inv, !options.without_session_timer);
        let tx = self.tl.send_request(now, dest, transport, inv)?;
        let mut b = BLeg::new(tx, dest, transport);
        b.auth = options.auth;
        b.session = session;
        let call = self.insert_call(None, Some(b));
        self.track(tx, call, Purpose::BInvite);
        self.pump(now);
        Ok(call)
    }

    /// B's INVITE `key` was challenged with `resp` (401/407): re-send it with credentials
    /// if the leg has a responder that supplies them. True when re-sent.
    pub(super) fn answer_b_challenge(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallKey,
        resp: &Response,
    ) -> bool {
        let Some(mut inv) = self.tl.request(key).cloned() else {
            return false;
        };
        let Some(b) = self.call_mut(call).and_then(|c| c.b.as_mut()) else {
            return false;
        };
        if b.cancelled || b.invite_tx != Some(key) {
            return false;
        }
        let Some((name, value)) = b.auth.as_mut().and_then(|a| a.respond(&inv, resp)) else {
            return false;
        };
        let (dest, transport) = (b.dest, b.transport);
        let Ok(cseq) = inv.headers.cseq() else {
            return false;
        };
        inv.headers.remove(&HeaderName::Via);
        inv.headers.remove(&HeaderName::Authorization);
        inv.headers.remove(&HeaderName::ProxyAuthorization);
        inv.headers.set(
            HeaderName::CSeq,
            format!("{} INVITE", cseq.seq.saturating_add(1)),
        );
        inv.headers.push(name, value);
        self.resend_b_invite(now, key, call, dest, transport, inv)
    }

    /// Sends `inv`, B's INVITE `key` re-built with the next CSeq, as a new transaction
    /// that drives leg B from now on; the old one still ends (its ACK is sent) but no
    /// longer drives B. True when sent.
    pub(super) fn resend_b_invite(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallKey,
        dest: SocketAddr,
        transport: Transport,
        inv: Request,
    ) -> bool {
        let Ok(tx) = self.tl.send_request(now, dest, transport, inv) else {
            return false;
        };
        if let Some(b) = self.call_mut(call).and_then(|c| c.b.as_mut()) {
            b.invite_tx = Some(tx);
        }
        if let Some(entry) = self.txs.get_mut(&key) {
            entry.1 = Purpose::Other;
        }
        self.track(tx, call, Purpose::BInvite);
        true
    }
}
