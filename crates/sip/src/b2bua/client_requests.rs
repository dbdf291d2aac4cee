//! Out-of-dialog requests the application sends on its own behalf (a REGISTER to a
//! carrier), outside any call: one client transaction each, its final outcome reported as
//! [`CallEvent::RequestResult`].

use super::*;

impl B2bua {
    /// Sends `req` (complete but for Via, which the transaction layer adds; Max-Forwards is
    /// added when missing) to `dest`. Its final response, timeout (408) or transport error
    /// (503) comes back once as [`CallEvent::RequestResult`]; provisional responses are not
    /// reported.
    pub fn send_request(
        &mut self,
        now: Instant,
        dest: SocketAddr,
        transport: Transport,
        req: Request,
    ) -> Result<TxKey, B2buaError> {
        let tx = self.tl.send_request(now, dest, transport, req)?;
        self.requests.insert(tx, false);
        self.pump(now);
        Ok(tx)
    }

    /// Handles transaction events of requests sent with `send_request`; true if `e` was one.
    pub(super) fn on_request_event(&mut self, e: &TxEvent) -> bool {
        let (key, status, resp) = match e {
            TxEvent::Response { key, resp } if !resp.status.is_provisional() => {
                (*key, resp.status, Some(resp))
            }
            TxEvent::Response { key, .. } => return self.requests.contains_key(key),
            TxEvent::Timeout { key, .. } => (*key, StatusCode::REQUEST_TIMEOUT, None),
            TxEvent::TransportError { key } => (*key, StatusCode::SERVICE_UNAVAILABLE, None),
            TxEvent::Terminated { key, .. } => return self.requests.remove(key).is_some(),
            _ => return false,
        };
        match self.requests.get_mut(&key) {
            Some(done) => {
                if !*done {
                    *done = true;
                    self.emit(CallEvent::RequestResult {
                        tx: key,
                        status,
                        resp: resp.cloned(),
                    });
                }
                true
            }
            None => false,
        }
    }
}
