//! Client transactions (RFC 3261 §17.1, RFC 6026): sending a request, CANCEL, the ACK for a
//! 2xx (and for a non-2xx final, [`build_ack`]), stateless sends, and matching and acting on
//! the responses that come back.

use super::*;

pub(super) fn to_tag_of(resp: &Response) -> String {
    resp.headers
        .to()
        .ok()
        .and_then(|to| to.tag().map(str::to_string))
        .unwrap_or_default()
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID,
/// From, CSeq number and top Via as the INVITE, the To of the response, and the INVITE's Route.
pub fn build_ack(invite: &Request, resp: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(v) = invite.headers.get(&HeaderName::Via) {
        ack.headers.push(HeaderName::Via, v);
    }
    for name in [HeaderName::From, HeaderName::CallId] {
        if let Some(v) = invite.headers.get(&name) {
            ack.headers.push(name, v);
        }
    }
    if let Some(v) = resp.headers.get(&HeaderName::To) {
        ack.headers.push(HeaderName::To, v);
    }
    if let Ok(c) = invite.headers.cseq() {
        ack.headers.push(HeaderName::CSeq, format!("{} ACK", c.seq));
    }
    for r in invite.headers.get_all(&HeaderName::Route) {
        ack.headers.push(HeaderName::Route, r);
    }
    ack.headers.push(HeaderName::MaxForwards, "70");
    ack
}

impl TransactionLayer {
    /// Starts a client transaction: adds our Via (fresh branch, `rport`) on top, a
    /// `Max-Forwards: 70` if missing, and sends. Responses come back as [`TxEvent::Response`];
    /// no final response in 64*T1 gives [`TxEvent::Timeout`].
    pub fn send_request(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        transport: Transport,
        mut req: Request,
    ) -> Result<TxKey, TxError> {
        if matches!(req.method, Method::Ack | Method::Cancel) {
            return Err(TxError::WrongMethod(req.method.clone()));
        }
        if req.headers.cseq().is_err() || req.headers.call_id().is_err() {
            return Err(TxError::BadMessage("request needs CSeq and Call-ID"));
        }
        // Our Via is not there yet: the estimate counts it as a header of ~100 bytes.
        let estimate = request_cost(&req) * 2 + 160;
        if let Some(e) = self.client_refusal(&req, estimate) {
            self.stats.refused_client += 1;
            return Err(e);
        }
        let branch = self.new_branch();
        let via = self.our_via(transport, &branch);
        req.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: via.to_string(),
            },
        );
        if req.headers.get(&HeaderName::MaxForwards).is_none() {
            req.headers.push(HeaderName::MaxForwards, "70");
        }
        Ok(self.start_client(now, dest, transport, req, branch, false))
    }

    pub(super) fn start_client(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        transport: Transport,
        req: Request,
        branch: String,
        silent: bool,
    ) -> TxKey {
        let bytes = req.to_bytes();
        let method = method_key(&req.method);
        let charge = Charge::Client {
            cost: client_cost(&req, &bytes),
        };
        let mut tx = self.new_tx(TxRole::Client, transport, dest, req, bytes.clone());
        tx.silent = silent;
        tx.charge = Some(charge);
        self.take(charge, true);
        let t = self.config.timers;
        if tx.invite {
            if !transport.is_reliable() {
                tx.timers.arm(Timer::A, now + t.t1);
            }
            tx.timers.arm(Timer::B, now + t.timeout());
        } else {
            if !transport.is_reliable() {
                tx.timers.arm(Timer::E, now + t.t1);
            }
            tx.timers.arm(Timer::F, now + t.timeout());
        }
        let ck = (branch, method);
        tx.client_key = Some(ck.clone());
        let key = self.insert(tx);
        self.client_index.insert(ck, key);
        self.transmit(dest, transport, bytes, Some(key));
        self.flush_schedule();
        key
    }

    /// Cancels a client INVITE transaction (RFC 3261 §9.1). Before any provisional response
    /// the CANCEL is held back until one arrives. The CANCEL's own responses are absorbed;
    /// the TU sees the INVITE's 487 (or a 2xx that raced it) as usual. If no final response
    /// to the INVITE comes within 64*T1 of the CANCEL, the INVITE times out (timer B).
    pub fn cancel(&mut self, now: Instant, invite: TxKey) -> Result<(), TxError> {
        let tx = self.get_mut(invite).ok_or(TxError::NoSuchTransaction)?;
        if tx.role != TxRole::Client || !tx.invite {
            return Err(TxError::InvalidState(Some(tx.state)));
        }
        match tx.state {
            TxState::Calling => {
                tx.cancel_pending = true;
                Ok(())
            }
            TxState::Proceeding => {
                self.send_cancel(now, invite);
                self.flush_schedule();
                Ok(())
            }
            s => Err(TxError::InvalidState(Some(s))),
        }
    }

    pub(super) fn send_cancel(&mut self, now: Instant, invite: TxKey) {
        let timeout = self.config.timers.timeout();
        let Some(tx) = self.get_mut(invite) else {
            return;
        };
        tx.cancel_pending = false;
        tx.cancel_sent = true;
        tx.timers.arm(Timer::B, now + timeout);
        let inv = &tx.request;
        let (dest, transport) = (tx.peer, tx.transport);
        let mut c = Request::new(Method::Cancel, inv.uri.clone());
        let mut branch = String::new();
        if let Some(v) = inv.headers.get(&HeaderName::Via) {
            // Our Via is always a line of its own, first.
            c.headers.push(HeaderName::Via, v);
            if let Ok(via) = inv.headers.top_via() {
                branch = via.branch().unwrap_or("").to_string();
            }
        }
        for name in [HeaderName::From, HeaderName::To, HeaderName::CallId] {
            if let Some(v) = inv.headers.get(&name) {
                c.headers.push(name, v);
            }
        }
        if let Ok(cseq) = inv.headers.cseq() {
            c.headers
                .push(HeaderName::CSeq, format!("{} CANCEL", cseq.seq));
        }
        for r in inv.headers.get_all(&HeaderName::Route) {
            c.headers.push(HeaderName::Route, r);
        }
        c.headers.push(HeaderName::MaxForwards, "70");
        self.start_client(now, dest, transport, c, branch, true);
    }

    /// Sends the ACK for a 2xx received on client INVITE transaction `invite` (the dialog layer
    /// builds it, §13.2.2.4). The layer adds a Via with a fresh branch, sends it, and resends
    /// it by itself whenever the same 2xx is retransmitted while the transaction lives (timer M).
    pub fn send_ack_for_2xx(
        &mut self,
        _now: Instant,
        invite: TxKey,
        dest: SocketAddr,
        transport: Transport,
        mut ack: Request,
    ) -> Result<(), TxError> {
        if ack.method != Method::Ack {
            return Err(TxError::WrongMethod(ack.method.clone()));
        }
        let branch = self.new_branch();
        let via = self.our_via(transport, &branch);
        ack.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: via.to_string(),
            },
        );
        if ack.headers.get(&HeaderName::MaxForwards).is_none() {
            ack.headers.push(HeaderName::MaxForwards, "70");
        }
        let bytes = ack.to_bytes();
        let to_tag = ack
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag().map(str::to_string))
            .unwrap_or_default();
        let mut kept = 0;
        if let Some(tx) = self.get_mut(invite) {
            if tx.role == TxRole::Client && tx.state == TxState::Accepted {
                match tx.acks_2xx.iter_mut().find(|(t, _)| *t == to_tag) {
                    Some((_, slot)) => {
                        if slot.is_none() {
                            kept = bytes.len();
                        }
                        *slot = Some(bytes.clone());
                    }
                    None => {
                        kept = bytes.len();
                        tx.acks_2xx.push((to_tag, Some(bytes.clone())));
                    }
                }
            }
        }
        if let Some(cost) = self.charged(invite).filter(|_| kept > 0) {
            self.recharge(invite, cost + kept);
        }
        self.transmit(dest, transport, bytes, None);
        Ok(())
    }

    /// Sends a request outside any transaction (e.g. an ACK for a 2xx whose INVITE transaction
    /// is gone). Adds our Via with a fresh branch.
    pub fn send_stateless(&mut self, dest: SocketAddr, transport: Transport, mut req: Request) {
        let branch = self.new_branch();
        let via = self.our_via(transport, &branch);
        req.headers.0.insert(
            0,
            Header {
                name: HeaderName::Via,
                value: via.to_string(),
            },
        );
        if req.headers.get(&HeaderName::MaxForwards).is_none() {
            req.headers.push(HeaderName::MaxForwards, "70");
        }
        let bytes = req.to_bytes();
        self.transmit(dest, transport, bytes, None);
    }

    pub(super) fn handle_response(&mut self, now: Instant, from: SocketAddr, resp: Response) {
        let Ok(via) = resp.headers.top_via() else {
            return;
        };
        let Ok(cseq) = resp.headers.cseq() else {
            return;
        };
        let ck = (
            via.branch().unwrap_or("").to_string(),
            method_key(&cseq.method),
        );
        let Some(&key) = self.client_index.get(&ck) else {
            self.event(TxEvent::StrayResponse { resp, from });
            return;
        };
        let t = self.config.timers;
        let Some(tx) = self.get_mut(key) else {
            return;
        };
        let status = resp.status;
        let reliable = tx.transport.is_reliable();
        let silent = tx.silent;
        let mut report = !silent;
        let mut send_cancel = false;
        let mut resend: Option<Bytes> = None;
        // Bytes the transaction keeps from now on (the ACK for a non-2xx final).
        let mut kept = 0;
        if tx.invite {
            match tx.state {
                TxState::Calling | TxState::Proceeding => {
                    if status.is_provisional() {
                        tx.state = TxState::Proceeding;
                        tx.timers.disarm(Timer::A);
                        // Timer B only runs in Calling, or after we sent a CANCEL (§9.1).
                        if !tx.cancel_sent {
                            tx.timers.disarm(Timer::B);
                        }
                        send_cancel = tx.cancel_pending;
                    } else if status.is_success() {
                        tx.state = TxState::Accepted;
                        tx.timers.clear();
                        tx.timers.arm(Timer::M, now + t.timeout());
                        tx.acks_2xx.push((to_tag_of(&resp), None));
                    } else {
                        tx.state = TxState::Completed;
                        tx.timers.clear();
                        let ack = build_ack(&tx.request, &resp);
                        let b = ack.to_bytes();
                        kept = b.len();
                        tx.ack_bytes = Some(b.clone());
                        resend = Some(b);
                        let d = if reliable {
                            Duration::ZERO
                        } else {
                            t.timer_d()
                        };
                        tx.timers.arm(Timer::D, now + d);
                    }
                }
                TxState::Completed => {
                    report = false;
                    if !status.is_provisional() && !status.is_success() {
                        resend = tx.ack_bytes.clone();
                    }
                }
                TxState::Accepted => {
                    if status.is_success() {
                        // A retransmission of a 2xx already reported is answered with the
                        // TU's ACK (once it sent one) and not reported again; a new To tag
                        // is a new fork and is reported.
                        let to_tag = to_tag_of(&resp);
                        match tx.acks_2xx.iter().find(|(t, _)| *t == to_tag) {
                            Some((_, ack)) => {
                                resend = ack.clone();
                                report = false;
                            }
                            None => tx.acks_2xx.push((to_tag, None)),
                        }
                    } else {
                        report = false;
                    }
                }
                _ => report = false,
            }
        } else {
            match tx.state {
                TxState::Trying | TxState::Proceeding => {
                    if status.is_provisional() {
                        tx.state = TxState::Proceeding;
                    } else {
                        tx.state = TxState::Completed;
                        tx.timers.clear();
                        let k = if reliable { Duration::ZERO } else { t.t4 };
                        tx.timers.arm(Timer::K, now + k);
                    }
                }
                _ => report = false,
            }
        }
        let (peer, transport) = (tx.peer, tx.transport);
        if let Some(cost) = self.charged(key).filter(|_| kept > 0) {
            self.recharge(key, cost + kept);
        }
        if let Some(b) = resend {
            self.transmit(peer, transport, b, Some(key));
        }
        if report {
            self.event(TxEvent::Response { key, resp });
        }
        if send_cancel {
            self.send_cancel(now, key);
        }
    }
}
