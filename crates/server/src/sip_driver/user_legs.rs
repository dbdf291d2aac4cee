//! Outbound legs to registered users: originating a call to a user's contact (a
//! callback's agent leg, a ring-all leg) and routing a call's leg B to a user (queue offers).

use super::*;

impl SipDriver {
    pub(super) fn originate(
        &mut self,
        now: Instant,
        to: OriginateTarget,
        sdp: Bytes,
    ) -> Option<CallKey> {
        let OriginateTarget::User(user) = to;
        self.originate_user(now, &user, sdp, &[])
    }

    /// Calls `user`'s most recent registered contact from "switchboard" with these extra
    /// headers (callbacks' agent leg, ring-all legs).
    pub(super) fn originate_user(
        &mut self,
        now: Instant,
        user: &str,
        sdp: Bytes,
        headers: &[(String, String)],
    ) -> Option<CallKey> {
        let b = self
            .location
            .lookup_active(user, SystemTime::now())
            .into_iter()
            .max_by_key(|b| b.expires_at)?;
        let transport = Transport::from_token(&b.transport).unwrap_or(Transport::Udp);
        let (target, dest) = (b.contact.uri, b.source);
        let from = NameAddr {
            display: Some("switchboard".into()),
            uri: Uri::Sip(SipUri {
                secure: false,
                user: Some("switchboard".into()),
                password: None,
                host: self.contact_host.clone(),
                port: None,
                params: Vec::new(),
                headers: Vec::new(),
            }),
            params: Vec::new(),
        };
        match self
            .b2bua
            .originate(now, target, dest, transport, from, sdp, headers)
        {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::info!(error = %e, "originate refused");
                None
            }
        }
    }

    pub(super) fn route_to_user(
        &mut self,
        now: Instant,
        call: CallKey,
        user: &str,
        sdp: Bytes,
        headers: Vec<(String, String)>,
    ) {
        let bindings = self.location.lookup_active(user, SystemTime::now());
        let Some(b) = bindings.into_iter().max_by_key(|b| b.expires_at) else {
            if let Some(tx) = self.calls.get(&call) {
                let _ = tx.send(CallSignal::BFailed(StatusCode::TEMPORARILY_UNAVAILABLE));
            }
            return;
        };
        let transport = Transport::from_token(&b.transport).unwrap_or(Transport::Udp);
        if let Err(e) = self.b2bua.route_with_headers(
            now,
            call,
            b.contact.uri.clone(),
            b.source,
            transport,
            sdp,
            &headers,
        ) {
            tracing::debug!(error = %e, "route refused");
            if let Some(tx) = self.calls.get(&call) {
                let _ = tx.send(CallSignal::BFailed(StatusCode::SERVER_INTERNAL_ERROR));
            }
        }
    }
}
