//! Admission of new server transactions: the table's size limit, the total byte budget and
//! each source IP's share (count and bytes), with the per-request memory estimate they charge
//! and the counters they keep.

use super::*;

/// Fixed per-transaction overhead in the byte estimate (indexes, timers, keys).
pub(super) const TX_OVERHEAD: usize = 512;

/// Estimated memory of a parsed request: what it owns (header text, URI, body).
pub(super) fn request_cost(req: &Request) -> usize {
    let headers: usize = req.headers.0.iter().map(|h| h.value.len() + 48).sum();
    TX_OVERHEAD + headers + req.body.len() + 64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    Full,
    SourceShare,
    /// A source with caps of its own (a trunk) holds them.
    OwnCaps,
    Memory,
}

/// Caps of their own for one source IP's live server transactions (a configured trunk's
/// address): they replace `max_server_per_source` / `max_bytes_per_source`, and what such a
/// source holds is bounded by them alone, outside `max_transactions` and `max_bytes` (so a
/// busy carrier neither meets the caps sized for unknown sources nor fills the budget they
/// share). The table then holds at most `max_transactions` plus every source's own
/// `max_transactions`, and server transactions at most `max_bytes` plus every source's own
/// `max_bytes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceCaps {
    /// Live server transactions from this source.
    pub max_transactions: usize,
    /// Estimated bytes they hold.
    pub max_bytes: usize,
}

/// What a live transaction counts against, with its estimated bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Charge {
    /// A server transaction: its source IP's share; `own_caps` when that source has
    /// [`SourceCaps`] (then it is outside the shared table and byte budgets).
    Source {
        ip: IpAddr,
        own_caps: bool,
        cost: usize,
    },
    /// A client transaction (a request we sent): the client budget.
    Client { cost: usize },
}

impl Charge {
    fn cost(self) -> usize {
        match self {
            Charge::Source { cost, .. } | Charge::Client { cost } => cost,
        }
    }

    fn with_cost(self, new: usize) -> Charge {
        match self {
            Charge::Source { ip, own_caps, .. } => Charge::Source {
                ip,
                own_caps,
                cost: new,
            },
            Charge::Client { .. } => Charge::Client { cost: new },
        }
    }
}

/// Estimated memory of a client transaction: the parsed request and its wire bytes.
pub(super) fn client_cost(req: &Request, bytes: &Bytes) -> usize {
    request_cost(req) + bytes.len()
}

impl TransactionLayer {
    /// Admission counters and current transaction memory.
    pub fn stats(&self) -> TxStats {
        TxStats {
            sources: self.per_source.len(),
            ..self.stats.clone()
        }
    }

    /// Live transactions that count against `max_transactions`: all but those of sources
    /// with caps of their own.
    fn shared_len(&self) -> usize {
        self.txs.len() - self.own_caps_txs
    }

    /// Why a new server transaction for a request of `cost` bytes from `ip` may not
    /// start, if it may not.
    pub(super) fn admission_refusal(&self, ip: IpAddr, cost: usize) -> Option<Refusal> {
        let c = &self.config;
        let (n, bytes) = self.per_source.get(&ip).copied().unwrap_or((0, 0));
        if let Some(own) = c.source_caps.get(&ip) {
            if n >= own.max_transactions || bytes + cost > own.max_bytes {
                return Some(Refusal::OwnCaps);
            }
            return None;
        }
        if self.shared_len() >= c.max_transactions {
            return Some(Refusal::Full);
        }
        if self.stats.server_bytes - self.stats.own_caps_bytes + cost > c.max_bytes {
            return Some(Refusal::Memory);
        }
        if n >= c.max_server_per_source || bytes + cost > c.max_bytes_per_source {
            return Some(Refusal::SourceShare);
        }
        None
    }

    /// Why a new client transaction for `req` (`cost` bytes) may not start, if it may
    /// not: the table is full, or the request starts something new (no To tag: a call, a
    /// registration, a probe) while client transactions hold `max_client_bytes`. Requests
    /// inside a dialog (BYE, re-INVITE, NOTIFY) always go: they are bounded by the dialogs,
    /// and refusing a BYE would leave a call up at the far end.
    pub(super) fn client_refusal(&self, req: &Request, cost: usize) -> Option<TxError> {
        if self.shared_len() >= self.config.max_transactions {
            return Some(TxError::Overloaded);
        }
        let in_dialog = req.headers.to().ok().is_some_and(|to| to.tag().is_some());
        if !in_dialog && self.stats.client_bytes + cost > self.config.max_client_bytes {
            return Some(TxError::Overloaded);
        }
        None
    }

    /// The source share and counters a new charge takes (`count`: one more transaction).
    pub(super) fn take(&mut self, ch: Charge, count: bool) {
        match ch {
            Charge::Source { ip, own_caps, cost } => {
                self.stats.server_bytes += cost;
                if own_caps {
                    self.stats.own_caps_bytes += cost;
                    self.own_caps_txs += usize::from(count);
                }
                let e = self.per_source.entry(ip).or_insert((0, 0));
                e.0 += usize::from(count);
                e.1 += cost;
            }
            Charge::Client { cost } => self.stats.client_bytes += cost,
        }
    }

    /// Gives a charge back (`count`: the transaction ends).
    pub(super) fn give_back(&mut self, ch: Charge, count: bool) {
        match ch {
            Charge::Source { ip, own_caps, cost } => {
                self.stats.server_bytes -= cost;
                if own_caps {
                    self.stats.own_caps_bytes -= cost;
                    self.own_caps_txs -= usize::from(count);
                }
                if let Some(e) = self.per_source.get_mut(&ip) {
                    e.0 -= usize::from(count);
                    e.1 -= cost;
                    if e.0 == 0 {
                        self.per_source.remove(&ip);
                    }
                }
            }
            Charge::Client { cost } => self.stats.client_bytes -= cost,
        }
    }

    /// Sets a live transaction's estimated bytes to `new_cost`.
    pub(super) fn recharge(&mut self, key: TxKey, new_cost: usize) {
        let Some(tx) = self
            .txs
            .get_mut(key.index as usize)
            .filter(|t| t.generation == key.generation)
        else {
            return;
        };
        let Some(old) = tx.charge else {
            return;
        };
        let new = old.with_cost(new_cost);
        tx.charge = Some(new);
        self.give_back(old, false);
        self.take(new, false);
    }

    /// The estimated bytes a live transaction is charged.
    pub(super) fn charged(&self, key: TxKey) -> Option<usize> {
        self.get(key).and_then(|t| t.charge).map(Charge::cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sip_message::Uri;

    fn layer(f: impl FnOnce(&mut TxConfig)) -> TransactionLayer {
        let mut c = TxConfig::new("192.0.2.1:5060".parse().expect("addr"));
        f(&mut c);
        TransactionLayer::new(c, 3)
    }

    /// An INVITE from `from` with a unique branch and a body of `body` bytes.
    fn invite(n: u32, from: SocketAddr, body: usize) -> Request {
        let mut r = Request::new(
            Method::Invite,
            Uri::parse("sip:100@192.0.2.1").expect("uri"),
        );
        r.headers.push(
            HeaderName::Via,
            format!("SIP/2.0/UDP {from};branch=z9hG4bK-adm-{n}"),
        );
        r.headers
            .push(HeaderName::From, format!("<sip:a@{}>;tag=f{n}", from.ip()));
        r.headers.push(HeaderName::To, "<sip:100@192.0.2.1>");
        r.headers.push(HeaderName::CallId, format!("adm-{n}"));
        r.headers.push(HeaderName::CSeq, "1 INVITE");
        r.body = Bytes::from(vec![b'x'; body]);
        r
    }

    /// Feeds the request; returns the statuses transmitted and whether a transaction
    /// started.
    fn feed(l: &mut TransactionLayer, req: Request, from: SocketAddr) -> (Vec<u16>, bool) {
        let (statuses, key) = feed_key(l, req, from);
        (statuses, key.is_some())
    }

    fn feed_key(
        l: &mut TransactionLayer,
        req: Request,
        from: SocketAddr,
    ) -> (Vec<u16>, Option<TxKey>) {
        l.handle_message(
            crate::test_epoch(),
            from,
            Transport::Udp,
            Message::Request(req),
        );
        let mut statuses = Vec::new();
        let mut started = None;
        while let Some(o) = l.poll_output() {
            match o {
                Output::Transmit { bytes, .. } => {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    if let Some(code) = text.get(8..11).and_then(|c| c.parse().ok()) {
                        statuses.push(code);
                    }
                }
                Output::Event(TxEvent::NewRequest { key, .. }) => started = Some(key),
                Output::Event(_) => {}
            }
        }
        (statuses, started)
    }

    #[test]
    fn one_source_gets_its_share_and_others_still_get_in() {
        let mut l = layer(|c| c.max_server_per_source = 3);
        let flood: SocketAddr = "203.0.113.9:5060".parse().expect("addr");
        for n in 0..3 {
            assert!(feed(&mut l, invite(n, flood, 0), flood).1);
        }
        let (statuses, started) = feed(&mut l, invite(3, flood, 0), flood);
        assert!(!started);
        assert_eq!(statuses, vec![503]);
        assert_eq!(l.stats().refused_source_share, 1);
        let other: SocketAddr = "198.51.100.1:5060".parse().expect("addr");
        assert!(feed(&mut l, invite(4, other, 0), other).1);
        assert_eq!(l.stats().sources, 2);
    }

    #[test]
    fn byte_budgets_per_source_and_in_total_bound_what_live_transactions_hold() {
        let mut l = layer(|c| {
            c.max_bytes_per_source = 200_000;
            c.max_bytes = 300_000;
        });
        let a: SocketAddr = "203.0.113.9:5060".parse().expect("addr");
        let b: SocketAddr = "203.0.113.10:5060".parse().expect("addr");
        let c: SocketAddr = "203.0.113.11:5060".parse().expect("addr");
        // 60 kB INVITEs: three fit a's 200 kB share, the fourth does not.
        let mut keys = Vec::new();
        for n in 0..4 {
            keys.extend(feed_key(&mut l, invite(n, a, 60_000), a).1);
        }
        assert_eq!(keys.len(), 3);
        assert_eq!(l.stats().refused_source_share, 1);
        // b gets one in; then the 300 kB total is reached and c is refused for memory.
        keys.extend(feed_key(&mut l, invite(10, b, 60_000), b).1);
        assert_eq!(keys.len(), 4);
        assert!(!feed(&mut l, invite(11, c, 60_000), c).1);
        assert_eq!(l.stats().refused_memory, 1);
        assert!(l.stats().server_bytes <= 300_000);
        // When transactions end (final response, then timer H), their bytes are released.
        let t0 = crate::test_epoch();
        for k in keys {
            let req = l.request(k).expect("live").clone();
            l.send_response(t0, k, Response::for_request(&req, StatusCode::BUSY_HERE))
                .expect("respond");
        }
        while let Some(t) = l.poll_timeout() {
            l.handle_timeout(t);
            while l.poll_output().is_some() {}
        }
        assert_eq!(l.stats().server_bytes, 0);
        assert_eq!(l.stats().sources, 0);
        assert!(feed(&mut l, invite(12, c, 60_000), c).1);
    }

    #[test]
    fn a_source_with_caps_of_its_own_is_held_to_them_and_outside_the_shared_budget() {
        let trunk: SocketAddr = "198.51.100.7:5060".parse().expect("addr");
        let mut l = layer(|c| {
            c.max_server_per_source = 3;
            c.max_bytes = 200_000;
            c.source_caps.insert(
                trunk.ip(),
                SourceCaps {
                    max_transactions: 10,
                    max_bytes: 1_000_000,
                },
            );
        });
        // The trunk holds far more than an unknown source's share, and more bytes than
        // the shared budget...
        for n in 0..10 {
            assert!(feed(&mut l, invite(n, trunk, 30_000), trunk).1, "trunk {n}");
        }
        let held = l.stats().server_bytes;
        assert!(held > 200_000, "{held}");
        assert_eq!(l.stats().own_caps_bytes, held);
        // ...until its own cap.
        let (statuses, started) = feed(&mut l, invite(10, trunk, 0), trunk);
        assert!(!started);
        assert_eq!(statuses, vec![503]);
        assert_eq!(l.stats().refused_own_caps, 1);
        assert_eq!(l.stats().refused_source_share, 0);
        // An unknown source still gets its own (shared-budget) share, and no more.
        let other: SocketAddr = "203.0.113.9:5060".parse().expect("addr");
        for n in 20..23 {
            assert!(feed(&mut l, invite(n, other, 1_000), other).1);
        }
        assert!(!feed(&mut l, invite(23, other, 0), other).1);
        assert_eq!(l.stats().refused_source_share, 1);
        assert_eq!(l.stats().refused_own_caps, 1);
        assert_eq!(l.stats().refused_memory, 0);
        assert_eq!(l.stats().own_caps_bytes, held);
    }

    #[test]
    fn a_trunk_does_not_fill_the_shared_table_for_strangers_or_for_us() {
        let trunk: SocketAddr = "198.51.100.7:5060".parse().expect("addr");
        let mut l = layer(|c| {
            c.max_transactions = 5;
            c.source_caps.insert(
                trunk.ip(),
                SourceCaps {
                    max_transactions: 10,
                    max_bytes: 1 << 20,
                },
            );
        });
        for n in 0..10 {
            assert!(feed(&mut l, invite(n, trunk, 0), trunk).1, "trunk {n}");
        }
        // The table holds 10, over its shared size of 5: a stranger still gets in, and so
        // does a request of ours, until the shared 5 are taken.
        let other: SocketAddr = "203.0.113.9:5060".parse().expect("addr");
        for n in 20..24 {
            assert!(feed(&mut l, invite(n, other, 0), other).1, "stranger {n}");
        }
        let t0 = crate::test_epoch();
        assert!(l
            .send_request(t0, trunk, Transport::Udp, ours(1, 0, None))
            .is_ok());
        while l.poll_output().is_some() {}
        assert_eq!(l.len(), 15);
        assert!(!feed(&mut l, invite(24, other, 0), other).1);
        assert_eq!(l.stats().refused_full, 1);
        assert_eq!(
            l.send_request(t0, trunk, Transport::Udp, ours(2, 0, None)),
            Err(TxError::Overloaded)
        );
    }

    /// An out-of-dialog request of ours (`to_tag` None) or one inside a dialog.
    fn ours(n: u32, body: usize, to_tag: Option<&str>) -> Request {
        let method = if to_tag.is_some() {
            Method::Bye
        } else {
            Method::Invite
        };
        let mut r = Request::new(
            method.clone(),
            Uri::parse("sip:+15550100@198.51.100.7").expect("uri"),
        );
        r.headers
            .push(HeaderName::From, format!("<sip:sb@192.0.2.1>;tag=o{n}"));
        let to = match to_tag {
            Some(t) => format!("<sip:+15550100@198.51.100.7>;tag={t}"),
            None => "<sip:+15550100@198.51.100.7>".to_string(),
        };
        r.headers.push(HeaderName::To, to);
        r.headers.push(HeaderName::CallId, format!("out-{n}"));
        r.headers
            .push(HeaderName::CSeq, format!("1 {}", method.as_str()));
        r.body = Bytes::from(vec![b'x'; body]);
        r
    }

    #[test]
    fn client_transactions_are_counted_and_new_ones_bounded() {
        let mut l = layer(|c| c.max_client_bytes = 40_000);
        let carrier: SocketAddr = "198.51.100.7:5060".parse().expect("addr");
        let t0 = crate::test_epoch();
        let mut sent = 0;
        let mut refused = 0;
        for n in 0..10 {
            match l.send_request(t0, carrier, Transport::Udp, ours(n, 5_000, None)) {
                Ok(_) => sent += 1,
                Err(TxError::Overloaded) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        while l.poll_output().is_some() {}
        let st = l.stats();
        assert!(sent >= 2 && refused > 0, "sent {sent}, refused {refused}");
        assert_eq!(st.refused_client, refused);
        assert!(st.client_bytes > sent as usize * 10_000, "{st:?}");
        assert!(st.client_bytes <= 40_000, "{st:?}");
        assert_eq!(st.server_bytes, 0);
        // A request inside a dialog (a BYE) still goes over the budget: refusing it would
        // leave the call up at the far end.
        assert!(l
            .send_request(t0, carrier, Transport::Udp, ours(99, 5_000, Some("far")))
            .is_ok());
        assert!(l.stats().client_bytes > st.client_bytes);
        // Unanswered, they time out (timer B, F) and give their bytes back.
        while let Some(t) = l.poll_timeout() {
            l.handle_timeout(t);
            while l.poll_output().is_some() {}
        }
        assert_eq!(l.stats().client_bytes, 0);
        assert!(l
            .send_request(t0, carrier, Transport::Udp, ours(100, 5_000, None))
            .is_ok());
    }

    #[test]
    fn a_client_invite_keeps_its_ack_in_its_charge() {
        let mut l = layer(|_| {});
        let carrier: SocketAddr = "198.51.100.7:5060".parse().expect("addr");
        let t0 = crate::test_epoch();
        let key = l
            .send_request(t0, carrier, Transport::Udp, ours(1, 200, None))
            .expect("send");
        while l.poll_output().is_some() {}
        let before = l.stats().client_bytes;
        assert_eq!(l.charged(key), Some(before));
        let req = l.request(key).expect("live").clone();
        let mut busy = Response::for_request(&req, StatusCode::BUSY_HERE);
        busy.headers.set(
            HeaderName::To,
            "<sip:+15550100@198.51.100.7>;tag=far".to_string(),
        );
        l.handle_message(t0, carrier, Transport::Udp, Message::Response(busy));
        while l.poll_output().is_some() {}
        assert!(
            l.stats().client_bytes > before,
            "the ACK it re-sends is counted"
        );
        while let Some(t) = l.poll_timeout() {
            l.handle_timeout(t);
            while l.poll_output().is_some() {}
        }
        assert_eq!(l.stats().client_bytes, 0);
    }
}
