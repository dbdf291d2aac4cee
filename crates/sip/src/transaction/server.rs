//! Server transactions (RFC 3261 §17.2, RFC 6026): taking a new request in (admission,
//! `100 Trying`, merged-request 482, retransmission absorption, CANCEL handling) and sending
//! the TU's responses, including the UAS 2xx kept for retransmission until the ACK.

use super::*;

impl TransactionLayer {
    /// Sends a response on server transaction `key`. A response above 100 without a To tag
    /// gets the transaction's tag (generated once, so 180, 200 and a 487 agree).
    pub fn send_response(
        &mut self,
        now: Instant,
        key: TxKey,
        mut resp: Response,
    ) -> Result<(), TxError> {
        let t = self.config.timers;
        let needs_tag = resp.status.0 > 100
            && resp
                .headers
                .to()
                .map(|to| to.tag().is_none())
                .unwrap_or(false);
        let fresh_tag = if needs_tag && self.get(key).is_some_and(|tx| tx.local_tag.is_none()) {
            Some(self.new_tag())
        } else {
            None
        };
        let tx = self.get_mut(key).ok_or(TxError::NoSuchTransaction)?;
        if tx.role != TxRole::Server {
            return Err(TxError::InvalidState(Some(tx.state)));
        }
        let status = resp.status;
        let allowed = match (tx.invite, tx.state) {
            (_, TxState::Trying | TxState::Proceeding) => true,
            (true, TxState::Accepted) => status.is_success(),
            _ => false,
        };
        if !allowed {
            return Err(TxError::InvalidState(Some(tx.state)));
        }
        if let Some(tag) = fresh_tag {
            tx.local_tag = Some(tag);
        }
        if needs_tag {
            if let (Ok(mut to), Some(tag)) = (resp.headers.to(), tx.local_tag.as_deref()) {
                to.set_tag(tag);
                resp.headers.set(HeaderName::To, to.to_string());
            }
        } else if tx.local_tag.is_none() {
            tx.local_tag = resp
                .headers
                .to()
                .ok()
                .and_then(|to| to.tag().map(str::to_string));
        }
        let bytes = resp.to_bytes();
        let reliable = tx.transport.is_reliable();
        let mut accepted = None;
        if status.is_provisional() {
            if tx.state == TxState::Trying {
                tx.state = TxState::Proceeding;
            }
        } else if tx.invite && status.is_success() {
            if tx.state != TxState::Accepted {
                tx.state = TxState::Accepted;
                tx.timers.arm(Timer::L, now + t.timeout());
                accepted = tx
                    .local_tag
                    .as_deref()
                    .and_then(|tag| invite_ack_key(&tx.request, tag));
                tx.ack_key = accepted.clone();
            }
            if !reliable {
                tx.interval = t.t1;
                tx.timers.arm(Timer::Retransmit2xx, now + t.t1);
            }
        } else if tx.invite {
            tx.state = TxState::Completed;
            if !reliable {
                tx.interval = t.t1;
                tx.timers.arm(Timer::G, now + t.t1);
            }
            tx.timers.arm(Timer::H, now + t.timeout());
        } else {
            tx.state = TxState::Completed;
            let j = if reliable {
                Duration::ZERO
            } else {
                t.timeout()
            };
            tx.timers.arm(Timer::J, now + j);
        }
        let old_len = tx.last_response.as_ref().map_or(0, Bytes::len);
        tx.last_response = Some(bytes.clone());
        let (peer, transport) = (tx.peer, tx.transport);
        if let Some(cost) = self.charged(key) {
            self.recharge(key, cost - old_len + bytes.len());
        }
        if let Some(ak) = accepted {
            self.ack_index.insert(ak, key);
        }
        // Answered for good (a 2xx to an INVITE waits for its ACK first): only
        // retransmissions are left to absorb (`retention`).
        let invite = self.get(key).is_some_and(|tx| tx.invite);
        if status.is_final() && !(invite && status.is_success()) {
            self.shrink_answered(key, false);
        }
        self.transmit(peer, transport, bytes, Some(key));
        self.flush_schedule();
        Ok(())
    }

    pub(super) fn handle_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        req: Request,
    ) {
        let Some(skey) = server_key(&req) else {
            // Missing From/To/Call-ID (RFC 4475 `insuf`): no transaction can be keyed, but
            // the client still deserves a stateless 400 (never for ACK).
            if req.method != Method::Ack && req.headers.top_via().is_ok() {
                let mut r = Response::for_request(&req, StatusCode::BAD_REQUEST);
                r.reason = "Missing Required Header Fields".into();
                let to = self.response_peer(&req, from, transport);
                self.transmit(to, transport, r.to_bytes(), None);
            }
            return;
        };
        let mut req = req;
        if stamp_via(&mut req, from).is_err() {
            return;
        }
        if let Some(&key) = self.server_index.get(&skey) {
            self.server_retransmission(now, key, req);
            return;
        }
        match req.method {
            Method::Ack => {
                if let Some(&key) = ack_key(&req).as_ref().and_then(|k| self.ack_index.get(k)) {
                    if let Some(tx) = self.get_mut(key) {
                        if tx.state == TxState::Accepted && !tx.acked {
                            tx.acked = true;
                            tx.timers.disarm(Timer::Retransmit2xx);
                            self.event(TxEvent::AckFor2xx { key, ack: req });
                            self.shrink_answered(key, true);
                        }
                        return;
                    }
                }
                // No INVITE of ours took a 2xx with this Call-ID, CSeq, From tag and To
                // tag: a late retransmission, or a blind/forged ACK. Dropped, counted.
                self.stats.stray_acks += 1;
                self.event(TxEvent::StrayAck { ack: req, from });
            }
            Method::Cancel => self.handle_cancel(now, from, transport, req, skey),
            _ => {
                let cost = request_cost(&req);
                if let Some(why) = self.admission_refusal(from.ip(), cost) {
                    match why {
                        Refusal::Full => self.stats.refused_full += 1,
                        Refusal::SourceShare => self.stats.refused_source_share += 1,
                        Refusal::OwnCaps => self.stats.refused_own_caps += 1,
                        Refusal::Memory => self.stats.refused_memory += 1,
                    }
                    let mut r = Response::for_request(&req, StatusCode::SERVICE_UNAVAILABLE);
                    r.headers.push(HeaderName::RetryAfter, "5");
                    let to = self.response_peer(&req, from, transport);
                    self.transmit(to, transport, r.to_bytes(), None);
                    return;
                }
                let mk = merge_key(&req);
                let merged = mk
                    .as_ref()
                    .is_some_and(|k| self.merge_index.contains_key(k));
                let invite = req.method == Method::Invite;
                let key = self.start_server(from, transport, req.clone(), skey);
                if merged {
                    let r = Response::for_request(&req, StatusCode::LOOP_DETECTED);
                    let _ = self.send_response(now, key, r);
                    return;
                }
                if let Some(mk) = mk {
                    self.merge_index.insert(mk.clone(), key);
                    if let Some(tx) = self.get_mut(key) {
                        tx.merge_key = Some(mk);
                    }
                }
                if invite {
                    let trying = Response::for_request(&req, StatusCode::TRYING);
                    let _ = self.send_response(now, key, trying);
                }
                self.event(TxEvent::NewRequest {
                    key,
                    req,
                    from,
                    transport,
                });
            }
        }
    }

    pub(super) fn response_peer(
        &self,
        req: &Request,
        from: SocketAddr,
        transport: Transport,
    ) -> SocketAddr {
        if transport.is_reliable() {
            return from;
        }
        req.headers
            .top_via()
            .ok()
            .and_then(|v| response_destination(&v, transport))
            .unwrap_or(from)
    }

    pub(super) fn start_server(
        &mut self,
        from: SocketAddr,
        transport: Transport,
        req: Request,
        skey: ServerKey,
    ) -> TxKey {
        let peer = self.response_peer(&req, from, transport);
        let cost = request_cost(&req);
        let mut tx = self.new_tx(TxRole::Server, transport, peer, req, Bytes::new());
        tx.server_key = Some(skey.clone());
        let charge = Charge::Source {
            ip: from.ip(),
            own_caps: self.config.source_caps.contains_key(&from.ip()),
            cost,
        };
        tx.charge = Some(charge);
        self.take(charge, true);
        let key = self.insert(tx);
        self.server_index.insert(skey, key);
        key
    }

    pub(super) fn server_retransmission(&mut self, now: Instant, key: TxKey, req: Request) {
        let t = self.config.timers;
        let Some(tx) = self.get_mut(key) else {
            return;
        };
        if req.method == Method::Ack {
            if !tx.invite {
                return;
            }
            match tx.state {
                TxState::Completed => {
                    tx.state = TxState::Confirmed;
                    tx.timers.disarm(Timer::G);
                    tx.timers.disarm(Timer::H);
                    let i = if tx.transport.is_reliable() {
                        Duration::ZERO
                    } else {
                        t.t4
                    };
                    tx.timers.arm(Timer::I, now + i);
                    self.shrink_answered(key, true);
                }
                TxState::Accepted if !tx.acked => {
                    // RFC 2543 peer: its ACK for our 2xx reuses the INVITE's Via. It must
                    // still name our To tag and the INVITE's CSeq: the branch alone is known
                    // to whoever sent (or forged) the INVITE.
                    if !ack_matches_invite(&req, &tx.request, tx.local_tag.as_deref()) {
                        self.stats.stray_acks += 1;
                        return;
                    }
                    tx.acked = true;
                    tx.timers.disarm(Timer::Retransmit2xx);
                    self.event(TxEvent::AckFor2xx { key, ack: req });
                    self.shrink_answered(key, true);
                }
                _ => {}
            }
            return;
        }
        // A retransmitted request: resend the last response, if any (§17.2.1, §17.2.2).
        let resend = match tx.state {
            TxState::Proceeding | TxState::Completed => tx.last_response.clone(),
            _ => None,
        };
        if let Some(b) = resend {
            let (peer, transport) = (tx.peer, tx.transport);
            self.transmit(peer, transport, b, Some(key));
        }
    }

    pub(super) fn handle_cancel(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        req: Request,
        skey: ServerKey,
    ) {
        let invite_key = self
            .server_index
            .get(&with_method(&skey, "INVITE"))
            .copied();
        let key = self.start_server(from, transport, req.clone(), skey);
        let Some(ik) = invite_key else {
            let r = Response::for_request(&req, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST);
            let _ = self.send_response(now, key, r);
            return;
        };
        let _ = self.send_response(now, key, Response::for_request(&req, StatusCode::OK));
        let proceeding = self
            .get(ik)
            .is_some_and(|tx| tx.state == TxState::Proceeding);
        if proceeding {
            if let Some(inv) = self.get(ik).map(|tx| tx.request.clone()) {
                let r = Response::for_request(&inv, StatusCode::REQUEST_TERMINATED);
                let _ = self.send_response(now, ik, r);
            }
            self.event(TxEvent::Cancelled {
                key: ik,
                cancel: req,
            });
        }
    }
}
