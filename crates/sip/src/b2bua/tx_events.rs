//! The transaction layer's events turned into call state: new requests (INVITE, CANCEL, ACK,
//! BYE, in-dialog requests), responses on leg B, sent responses on leg A, timeouts and
//! transport errors.

use super::*;

impl B2bua {
    pub(super) fn on_tx_event(&mut self, now: Instant, e: TxEvent) {
        if !self.probes.is_empty() && self.on_probe_event(&e) {
            return;
        }
        if !self.requests.is_empty() && self.on_request_event(&e) {
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
                    if let Purpose::SessionRefresh(leg) = p {
                        self.refresh_failed(call, leg);
                    } else if p == Purpose::BInvite {
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
    pub(super) fn on_stray_response(&mut self, resp: Response, from: SocketAddr) {
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

    pub(super) fn on_request(
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
            // A call that has ended lingers only for its last transactions: a new request
            // in its dialogs (a re-INVITE racing the BYE) finds no call (RFC 3261 §12.2.2).
            let ended = self.call(call).is_none_or(|c| c.ended);
            if ended && !matches!(req.method, Method::Bye | Method::Ack) {
                let r = Response::for_request(&req, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
                let _ = self.tl.send_response(now, key, r);
                return;
            }
            self.track(key, call, Purpose::InDialog(leg));
            match req.method {
                Method::Bye => {
                    let _ = self.tl.send_response(
                        now,
                        key,
                        Response::for_request(&req, StatusCode::OK),
                    );
                    let keep_a = leg == Leg::B
                        && self.call(call).is_some_and(|c| {
                            (self.config.keep_a_when_b_hangs_up || c.keep_a)
                                && !c.ended
                                && c.a_answered()
                        });
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
                    self.session_refreshed(now, call, leg, &req);
                    let sdp = req.body.clone();
                    self.emit(CallEvent::Reinvite {
                        call,
                        leg,
                        tx: key,
                        sdp,
                    });
                }
                Method::Update => self.on_update(now, key, call, leg, req),
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
                let Ok(session) = self.check_session_expires(now, key, &req) else {
                    return;
                };
                let call = self.new_call(req.clone(), key, from, transport);
                if let Some(a) = self.call_mut(call).and_then(|c| c.a.as_mut()) {
                    a.session = session;
                }
                self.track(key, call, Purpose::AInvite);
                self.emit(CallEvent::Incoming {
                    call,
                    invite: req,
                    from,
                    transport,
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

    /// B's INVITE failed with `status`. `why` is the end reason of an originated call (which
    /// has nothing left once B is gone).
    pub(super) fn b_failed(
        &mut self,
        now: Instant,
        call: CallKey,
        status: StatusCode,
        why: EndReason,
    ) {
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

    pub(super) fn on_response(&mut self, now: Instant, key: TxKey, resp: Response) {
        let Some(&(call, purpose)) = self.txs.get(&key) else {
            return;
        };
        if let Purpose::Sent(leg) = purpose {
            self.on_sent_response(now, key, call, leg, resp);
            return;
        }
        if let Purpose::SessionRefresh(leg) = purpose {
            self.on_refresh_response(now, key, call, leg, &resp);
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
            let challenge = status == StatusCode::UNAUTHORIZED
                || status == StatusCode::PROXY_AUTHENTICATION_REQUIRED;
            if challenge && self.answer_b_challenge(now, key, call, &resp) {
                return;
            }
            if status == StatusCode(422) && self.retry_b_after_422(now, key, call, &resp) {
                return;
            }
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
        self.start_b_session(now, call, &resp);
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
    pub(super) fn on_sent_response(
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
        let refreshes = resp.status.is_success()
            && matches!(req.method, Method::Invite | Method::Update)
            && req.headers.get(&HeaderName::SessionExpires).is_some();
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
        if refreshes {
            self.app_request_refreshed(now, call, leg, &resp);
        }
        self.emit(CallEvent::InDialogResponse {
            call,
            leg,
            tx: key,
            resp,
        });
    }

    pub(super) fn on_timeout(&mut self, now: Instant, key: TxKey, timer: Timer) {
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
            Purpose::SessionRefresh(leg) => self.refresh_failed(call, leg),
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
