//! RFC 4028 session timers on leg A, driven by `crate::session_timer`: the caller's
//! `Session-Expires` is negotiated when its INVITE arrives (422 with our Min-SE when too
//! small), confirmed in our 2xx, refreshed by each re-INVITE or UPDATE it sends, and a
//! caller that stops refreshing gets [`CallEvent::SessionExpired`].
//!
//! When the negotiation makes us the refresher (the caller names `refresher=uas`, or
//! offers `Session-Expires` without supporting `timer`), the core refreshes at half the
//! interval on its own: an UPDATE without a body when A's INVITE allowed UPDATE, else a
//! re-INVITE with the SDP we last sent A, both carrying `Session-Expires: N;refresher=uac`.
//! Its 2xx restarts the timer; a 408, a 481 or no answer at all reports
//! [`CallEvent::SessionExpired`] at once; any other failure (a 491 glare, a 500) leaves the
//! session to expire at its deadline unless a later refresh from either side succeeds. The
//! refresh's responses are the core's own: the application never sees them. A caller that
//! sends no `Session-Expires` runs no timer.

use super::*;
use crate::session_timer::{negotiate_as_uac, negotiate_as_uas, TimerAction};

impl B2bua {
    /// A new INVITE on A: `Ok` with the timer to run once answered (if any), or `Err` if
    /// its interval was too small and it was answered 422 here (no call is made).
    pub(super) fn check_session_expires(
        &mut self,
        now: Instant,
        key: TxKey,
        req: &Request,
    ) -> Result<Option<crate::session_timer::Negotiated>, ()> {
        let Some(cfg) = self.config.session_timers else {
            return Ok(None);
        };
        let se = req.headers.session_expires().ok().flatten();
        let min_se = req.headers.min_se().ok().flatten();
        let supports = req
            .headers
            .tokens(&HeaderName::Supported)
            .iter()
            .any(|t| t.eq_ignore_ascii_case("timer"));
        match negotiate_as_uas(cfg, se.as_ref(), min_se, supports) {
            Err(too_small) => {
                let mut r = Response::for_request(req, StatusCode(422));
                r.headers
                    .push(HeaderName::MinSe, too_small.min_se.to_string());
                let _ = self.tl.send_response(now, key, r);
                Err(())
            }
            Ok(n) if se.is_some() => Ok(Some(n)),
            Ok(_) => Ok(None),
        }
    }

    /// Headers for A's 2xx (to the INVITE or a refresh) while a timer runs.
    pub(super) fn session_headers(&self, call: CallKey) -> Vec<(HeaderName, String)> {
        let Some(n) = self.call(call).and_then(|c| c.a.as_ref()?.session) else {
            return Vec::new();
        };
        let mut h = vec![(HeaderName::SessionExpires, n.response_session_expires())];
        if n.requires_timer_as_uas() {
            h.push((HeaderName::Require, "timer".to_string()));
        }
        h
    }

    /// A answered: its session timer starts.
    pub(super) fn start_session_timer(&mut self, now: Instant, call: CallKey) {
        if let Some(a) = self.call_mut(call).and_then(|c| c.a.as_mut()) {
            if let Some(n) = a.session {
                a.timer = Some(crate::session_timer::SessionTimer::new(now, n));
            }
        }
    }

    /// A re-INVITE or UPDATE from A refreshes its session (at its arrival), with the
    /// interval it asks for if that is acceptable.
    pub(super) fn session_refreshed(&mut self, now: Instant, call: CallKey, req: &Request) {
        let Some(cfg) = self.config.session_timers else {
            return;
        };
        let se = req.headers.session_expires().ok().flatten();
        let min_se = req.headers.min_se().ok().flatten();
        let Some(a) = self.call_mut(call).and_then(|c| c.a.as_mut()) else {
            return;
        };
        let Some(timer) = a.timer.as_mut() else {
            return;
        };
        let n = match negotiate_as_uas(cfg, se.as_ref(), min_se, true) {
            Ok(n) if se.is_some() => n,
            _ => timer.negotiated(),
        };
        timer.refreshed(now, n);
        a.session = Some(n);
    }

    /// Remembers the SDP we sent A last (the body of our refresh re-INVITE).
    pub(super) fn remember_a_sdp(&mut self, call: CallKey, sdp: &Bytes) {
        if let Some(a) = self.call_mut(call).and_then(|c| c.a.as_mut()) {
            a.sdp = Some(sdp.clone());
        }
    }

    /// Runs the session timers due at `now`: refreshes ours, reports expired ones.
    pub(super) fn session_timeouts(&mut self, now: Instant) {
        let mut due: Vec<(CallKey, TimerAction)> = Vec::new();
        for (index, c) in self.calls.iter_mut() {
            if c.ended {
                continue;
            }
            let Some(t) = c.a.as_mut().and_then(|a| a.timer.as_mut()) else {
                continue;
            };
            if let Some(action) = t.handle_timeout(now) {
                let call = CallKey {
                    index: index as u32,
                    generation: c.generation,
                };
                due.push((call, action));
            }
        }
        for (call, action) in due {
            match action {
                TimerAction::Expire => self.emit(CallEvent::SessionExpired { call }),
                TimerAction::Refresh => {
                    if self.send_session_refresh(now, call).is_err() {
                        self.emit(CallEvent::SessionExpired { call });
                    }
                }
            }
        }
    }

    /// Sends our refresh on A: UPDATE without a body if A allows UPDATE, else a re-INVITE
    /// with the SDP we last sent it.
    fn send_session_refresh(&mut self, now: Instant, call: CallKey) -> Result<(), B2buaError> {
        let a = self
            .call(call)
            .and_then(|c| c.a.as_ref())
            .ok_or(B2buaError::NoSuchCall)?;
        let interval = a
            .timer
            .as_ref()
            .map(|t| t.negotiated().interval)
            .ok_or(B2buaError::InvalidState("no session timer"))?;
        let update = a
            .invite
            .headers
            .tokens(&HeaderName::Allow)
            .iter()
            .any(|t| t.eq_ignore_ascii_case("UPDATE"));
        let sdp = a.sdp.clone();
        let (dk, dest, transport) = self
            .leg_route(call, Leg::A)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
        let d = self
            .dialogs
            .get_mut(dk)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
        if d.state == DialogState::Terminating {
            return Err(B2buaError::InvalidState("leg is hanging up"));
        }
        let mut req = if update {
            d.request(Method::Update)
        } else {
            let mut r = d.request(Method::Invite);
            if let Some(b) = sdp.filter(|b| !b.is_empty()) {
                set_body(&mut r.headers, &b);
                r.body = b;
            }
            r
        };
        req.headers.push(
            HeaderName::SessionExpires,
            format!("{interval};refresher=uac"),
        );
        req.headers.push(HeaderName::Supported, "timer");
        let tx = self.tl.send_request(now, dest, transport, req)?;
        self.track(tx, call, Purpose::SessionRefresh);
        Ok(())
    }

    /// A final response to our refresh: a 2xx (ACKed here for a re-INVITE) restarts the
    /// timer with what it says; 408 and 481 end the session; other failures leave it to
    /// its deadline.
    pub(super) fn on_refresh_response(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallKey,
        resp: &Response,
    ) {
        if resp.status.is_provisional() {
            return;
        }
        let Some(req) = self.tl.request(key) else {
            return;
        };
        let is_invite = req.method == Method::Invite;
        let seq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
        if is_invite {
            if let Some((dk, dest, transport)) = self.leg_route(call, Leg::A) {
                if let Some(d) = self.dialogs.get_mut(dk) {
                    d.invite_done(true);
                    if resp.status.is_success() {
                        let ack = d.ack(seq);
                        let _ = self.tl.send_ack_for_2xx(now, key, dest, transport, ack);
                    }
                }
            }
        }
        if resp.status.is_success() {
            let se = resp.headers.session_expires().ok().flatten();
            if let Some(t) = self
                .call_mut(call)
                .and_then(|c| c.a.as_mut())
                .and_then(|a| a.timer.as_mut())
            {
                let n = negotiate_as_uac(t.negotiated().interval, se.as_ref());
                t.refreshed(now, n);
            }
        } else if resp.status == StatusCode::REQUEST_TIMEOUT
            || resp.status == StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST
        {
            self.refresh_failed(call);
        }
    }

    /// Our refresh got no answer (timeout, transport error), a 408 or a 481: the session is
    /// gone (RFC 4028 §10; RFC 5057 for 481).
    /// Reported once: not again when the timer already expired (or the call ended).
    pub(super) fn refresh_failed(&mut self, call: CallKey) {
        let Some(c) = self.call_mut(call).filter(|c| !c.ended) else {
            return;
        };
        let first =
            c.a.as_mut()
                .and_then(|a| a.timer.as_mut())
                .is_some_and(|t| t.expire());
        if first {
            self.emit(CallEvent::SessionExpired { call });
        }
    }
}
