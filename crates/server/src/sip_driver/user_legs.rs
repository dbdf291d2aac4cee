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
        let OriginateTarget::User { user, caller } = to;
        let caller = caller.filter(|c| presentable(c));
        let headers: Vec<(String, String)> = caller
            .iter()
            .map(|c| ("X-Switchboard-Caller".to_string(), c.clone()))
            .collect();
        self.originate_user(now, &user, sdp, &headers)
    }

    /// Calls `user`'s most recent registered contact with these extra headers (callbacks'
    /// agent leg, transfers to an agent, ring-all legs). The phone shows the caller named by
    /// an `X-Switchboard-Caller` header, as on a queue offer whose From is the caller's;
    /// without one (or with one that is not a plain number) it shows "switchboard".
    pub(super) fn originate_user(
        &mut self,
        now: Instant,
        user: &str,
        sdp: Bytes,
        headers: &[(String, String)],
    ) -> Option<CallKey> {
        let caller = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("X-Switchboard-Caller"))
            .map(|(_, value)| value.as_str())
            .filter(|c| presentable(c));
        let b = self
            .location
            .lookup_active(user, SystemTime::now())
            .into_iter()
            .max_by_key(|b| b.expires_at)?;
        let transport = Transport::from_token(&b.transport).unwrap_or(Transport::Udp);
        let (target, dest) = (b.contact.uri, b.source);
        let from = NameAddr {
            display: Some(caller.unwrap_or("switchboard").into()),
            uri: Uri::Sip(SipUri {
                secure: false,
                user: Some(caller.unwrap_or("switchboard").into()),
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

/// Whether a caller number can be shown as the From of a leg to a phone: a plain number
/// (digits, a leading `+`, `*` and `#`), at most 32 characters. Anything else (a name, a
/// SIP URI user with escapes, a caller ID a hostile trunk made up) is not put into a header.
fn presentable(caller: &str) -> bool {
    let digits = caller.strip_prefix('+').unwrap_or(caller);
    !digits.is_empty()
        && caller.len() <= 32
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

#[cfg(test)]
mod presentable_tests {
    use super::presentable;

    #[test]
    fn plain_numbers_are_shown_anything_else_is_not() {
        for ok in ["+79991234567", "1001", "*21#", "0"] {
            assert!(presentable(ok), "{ok}");
        }
        let long = "1".repeat(33);
        for bad in [
            "",
            "+",
            "anonymous",
            "1001;x=y",
            "10 01",
            "\"1\"",
            "%31",
            long.as_str(),
        ] {
            assert!(!presentable(bad), "{bad}");
        }
    }
}
