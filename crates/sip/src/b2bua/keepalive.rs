//! Keep-alive probes: out-of-dialog OPTIONS sent on the application's behalf, and turning
//! their transaction's outcome into a [`CallEvent`] verdict for the application.

use super::*;

impl B2bua {
    /// Sends an out-of-dialog OPTIONS to `target` at `dest` (a keepalive probe of a
    /// registered device). Its outcome comes back as [`CallEvent::OptionsResult`].
    pub fn send_options(
        &mut self,
        now: Instant,
        target: Uri,
        dest: SocketAddr,
        transport: Transport,
    ) -> Result<TxKey, B2buaError> {
        let mut from = self.config.contact.clone();
        from.params.clear();
        let tag = self.tl.new_tag();
        from.set_tag(&tag);
        let mut req = Request::new(Method::Options, target.clone());
        req.headers.push(HeaderName::From, from.to_string());
        req.headers.push(HeaderName::To, format!("<{target}>"));
        req.headers.push(HeaderName::CallId, self.tl.new_call_id());
        req.headers.push(HeaderName::CSeq, "1 OPTIONS");
        req.headers.push(HeaderName::MaxForwards, "70");
        let tx = self.tl.send_request(now, dest, transport, req)?;
        self.probes.insert(tx, false);
        self.pump(now);
        Ok(tx)
    }

    /// Handles transaction events of keepalive probes; true if `e` was one.
    pub(super) fn on_probe_event(&mut self, e: &TxEvent) -> bool {
        let (key, status) = match e {
            TxEvent::Response { key, resp } if !resp.status.is_provisional() => (*key, resp.status),
            TxEvent::Response { key, .. } => return self.probes.contains_key(key),
            TxEvent::Timeout { key, .. } => (*key, StatusCode::REQUEST_TIMEOUT),
            TxEvent::TransportError { key } => (*key, StatusCode::SERVICE_UNAVAILABLE),
            TxEvent::Terminated { key, .. } => return self.probes.remove(key).is_some(),
            _ => return false,
        };
        match self.probes.get_mut(&key) {
            Some(done) => {
                if !*done {
                    *done = true;
                    self.emit(CallEvent::OptionsResult { tx: key, status });
                }
                true
            }
            None => false,
        }
    }
}
