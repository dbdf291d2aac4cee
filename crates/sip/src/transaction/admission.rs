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
    Memory,
}

impl TransactionLayer {
    /// Admission counters and current server-transaction memory.
    pub fn stats(&self) -> TxStats {
        TxStats {
            sources: self.per_source.len(),
            ..self.stats.clone()
        }
    }

    /// Why a new server transaction for a request of `cost` bytes from `ip` may not
    /// start, if it may not.
    pub(super) fn admission_refusal(&self, ip: IpAddr, cost: usize) -> Option<Refusal> {
        let c = &self.config;
        if self.txs.len() >= c.max_transactions {
            return Some(Refusal::Full);
        }
        if self.stats.server_bytes + cost > c.max_bytes {
            return Some(Refusal::Memory);
        }
        let (n, bytes) = self.per_source.get(&ip).copied().unwrap_or((0, 0));
        if n >= c.max_server_per_source || bytes + cost > c.max_bytes_per_source {
            return Some(Refusal::SourceShare);
        }
        None
    }

    /// Adds `delta` bytes (may be negative via `sub`) to a server transaction's charge.
    pub(super) fn recharge(&mut self, key: TxKey, new_cost: usize) {
        let Some(tx) = self
            .txs
            .get_mut(key.index as usize)
            .filter(|t| t.generation == key.generation)
        else {
            return;
        };
        let Some((ip, old)) = tx.charge else {
            return;
        };
        tx.charge = Some((ip, new_cost));
        self.stats.server_bytes = self.stats.server_bytes - old + new_cost;
        if let Some(e) = self.per_source.get_mut(&ip) {
            e.1 = e.1 - old + new_cost;
        }
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
}
