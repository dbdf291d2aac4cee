//! RFC 4028 session timers on leg A, driven by `crate::session_timer`, and the refresh
//! machinery both legs share (leg B's negotiation is in `session_uac`): the caller's
//! `Session-Expires` is negotiated when its INVITE arrives (422 with our Min-SE when too
//! small), confirmed in our 2xx, refreshed by each re-INVITE or UPDATE it sends, and a
//! caller that stops refreshing gets [`CallEvent::SessionExpired`].
//!
//! When the negotiation makes us the refresher (the caller names `refresher=uas`, or
//! offers `Session-Expires` without supporting `timer`), the core refreshes at half the
//! interval on its own: an UPDATE without a body when A's INVITE allowed UPDATE, else a
//! re-INVITE with the SDP we last sent A, both carrying `Session-Expires: N;refresher=uac`.
//! Its 2xx restarts the timer; a 408, a 481 or no answer at all reports
//! [`CallEvent::SessionExpired`] at once; any other failure (a 500) leaves the session to
//! expire at its deadline unless a later refresh from either side succeeds. The
//! refresh's responses are the core's own: the application never sees them. A caller that
//! sends no `Session-Expires` runs no timer.
//!
//! A refresh re-INVITE that meets glare (491 Request Pending, RFC 3261 §14.1) is sent again
//! after a random delay, a timer of the session (2.1 to 4 s on leg B, whose Call-ID we
//! chose; up to 2 s on leg A); one due while another re-INVITE of the dialog is in
//! progress (the application's hold, or one from the peer) waits the same way instead of
//! colliding. The session still expires at its deadline if no refresh gets through.

use super::*;
use crate::session_timer::{negotiate_as_uac, negotiate_as_uas, SessionTimer, TimerAction};

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

    /// The running session timer of `leg`.
    fn leg_timer(&self, call: CallKey, leg: Leg) -> Option<&SessionTimer> {
        let c = self.call(call)?;
        match leg {
            Leg::A => c.a.as_ref()?.timer.as_ref(),
            Leg::B => c.b.as_ref()?.session.as_ref()?.timer.as_ref(),
        }
    }

    fn leg_timer_mut(&mut self, call: CallKey, leg: Leg) -> Option<&mut SessionTimer> {
        let c = self.call_mut(call)?;
        match leg {
            Leg::A => c.a.as_mut()?.timer.as_mut(),
            Leg::B => c.b.as_mut()?.session.as_mut()?.timer.as_mut(),
        }
    }

    /// Headers for our 2xx to `leg`'s INVITE or refresh while a timer runs.
    pub(super) fn session_headers(&self, call: CallKey, leg: Leg) -> Vec<(HeaderName, String)> {
        let n = match leg {
            Leg::A => self.call(call).and_then(|c| c.a.as_ref()?.session),
            Leg::B => self.leg_timer(call, Leg::B).map(|t| t.negotiated()),
        };
        let Some(n) = n else {
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
                a.timer = Some(SessionTimer::new(now, n));
            }
        }
    }

    /// A re-INVITE or UPDATE from `leg` refreshes its session (at its arrival), with the
    /// interval it asks for if that is acceptable.
    pub(super) fn session_refreshed(
        &mut self,
        now: Instant,
        call: CallKey,
        leg: Leg,
        req: &Request,
    ) {
        let Some(cfg) = self.config.session_timers else {
            return;
        };
        let se = req.headers.session_expires().ok().flatten();
        let min_se = req.headers.min_se().ok().flatten();
        let Some(timer) = self.leg_timer_mut(call, leg) else {
            return;
        };
        let n = match negotiate_as_uas(cfg, se.as_ref(), min_se, true) {
            Ok(n) if se.is_some() => n,
            _ => timer.negotiated(),
        };
        timer.refreshed(now, n);
        if leg == Leg::A {
            if let Some(a) = self.call_mut(call).and_then(|c| c.a.as_mut()) {
                a.session = Some(n);
            }
        }
    }

    /// The `Session-Expires` an application re-INVITE or UPDATE on `leg` carries while the
    /// leg has a session timer: the negotiated interval and refresher as seen from us as UAC
    /// of this request (RFC 4028 §7.4: any session-modifying request refreshes the session;
    /// without the header the peer would answer as if timers were off).
    pub(super) fn app_request_session_expires(
        &self,
        call: CallKey,
        leg: Leg,
        method: &Method,
    ) -> Option<String> {
        if !matches!(method, Method::Invite | Method::Update) {
            return None;
        }
        let n = self.leg_timer(call, leg)?.negotiated();
        let who = match n.refresher {
            crate::session_timer::Side::Us => "uac",
            crate::session_timer::Side::Peer => "uas",
        };
        Some(format!("{};refresher={who}", n.interval))
    }

    /// A 2xx to the application's re-INVITE or UPDATE on `leg` refreshed its session at
    /// `now`, with what the 2xx says (RFC 4028 §7.2: none, and we refresh).
    pub(super) fn app_request_refreshed(
        &mut self,
        now: Instant,
        call: CallKey,
        leg: Leg,
        resp: &Response,
    ) {
        let se = resp.headers.session_expires().ok().flatten();
        if let Some(t) = self.leg_timer_mut(call, leg) {
            let n = negotiate_as_uac(t.negotiated().interval, se.as_ref());
            t.refreshed(now, n);
        }
    }

    /// Remembers the SDP we sent `leg` last (the body of our refresh re-INVITE).
    pub(super) fn remember_sdp(&mut self, call: CallKey, leg: Leg, sdp: &Bytes) {
        let Some(c) = self.call_mut(call) else {
            return;
        };
        match leg {
            Leg::A => {
                if let Some(a) = c.a.as_mut() {
                    a.sdp = Some(sdp.clone());
                }
            }
            Leg::B => {
                if let Some(s) = c.b.as_mut().and_then(|b| b.session.as_mut()) {
                    s.sdp = sdp.clone();
                }
            }
        }
    }

    /// Runs the session timers due at `now`: refreshes ours, reports expired ones.
    pub(super) fn session_timeouts(&mut self, now: Instant) {
        let mut due: Vec<(CallKey, Leg, TimerAction)> = Vec::new();
        for call in self.due_session_calls(now) {
            let Some(c) = self.call_mut(call).filter(|c| !c.ended) else {
                continue;
            };
            let a = c.a.as_mut().and_then(|a| a.timer.as_mut());
            let b =
                c.b.as_mut()
                    .and_then(|b| b.session.as_mut()?.timer.as_mut());
            for (leg, t) in [(Leg::A, a), (Leg::B, b)] {
                if let Some(action) = t.and_then(|t| t.handle_timeout(now)) {
                    due.push((call, leg, action));
                }
            }
        }
        for (call, leg, action) in due {
            match action {
                TimerAction::Expire => self.emit(CallEvent::SessionExpired { call, leg }),
                TimerAction::Refresh => {
                    if self.send_session_refresh(now, call, leg).is_err() {
                        self.emit(CallEvent::SessionExpired { call, leg });
                    }
                }
            }
        }
    }

    /// RFC 3261 §14.1: how long to wait before re-sending a re-INVITE that met glare on
    /// `leg`: 2.1 to 4 s when we chose the dialog's Call-ID (leg B), up to 2 s otherwise,
    /// in steps of 10 ms.
    fn glare_delay(&mut self, leg: Leg) -> std::time::Duration {
        let tens = match leg {
            Leg::A => self.tl.random_between(0, 200),
            Leg::B => self.tl.random_between(210, 400),
        };
        std::time::Duration::from_millis(u64::from(tens) * 10)
    }

    /// Sends our refresh on `leg`: UPDATE without a body if the peer allows UPDATE, else a
    /// re-INVITE with the SDP we last sent it. A re-INVITE due while another INVITE of the
    /// dialog is in progress waits (a glare delay) instead.
    fn send_session_refresh(
        &mut self,
        now: Instant,
        call: CallKey,
        leg: Leg,
    ) -> Result<(), B2buaError> {
        let c = self.call(call).ok_or(B2buaError::NoSuchCall)?;
        let (update, sdp) = match leg {
            Leg::A => {
                let a = c.a.as_ref().ok_or(B2buaError::NoSuchCall)?;
                let update = a
                    .invite
                    .headers
                    .tokens(&HeaderName::Allow)
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case("UPDATE"));
                (update, a.sdp.clone())
            }
            Leg::B => {
                let s =
                    c.b.as_ref()
                        .and_then(|b| b.session.as_ref())
                        .ok_or(B2buaError::NoSuchCall)?;
                (s.update, Some(s.sdp.clone()))
            }
        };
        let interval = self
            .leg_timer(call, leg)
            .map(|t| t.negotiated().interval)
            .ok_or(B2buaError::InvalidState("no session timer"))?;
        let (dk, dest, transport) = self
            .leg_route(call, leg)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
        let d = self
            .dialogs
            .get(dk)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
        if d.state == DialogState::Terminating {
            return Err(B2buaError::InvalidState("leg is hanging up"));
        }
        if !update && (d.invite_out_pending || d.invite_in_pending) {
            let at = now + self.glare_delay(leg);
            if let Some(t) = self.leg_timer_mut(call, leg) {
                t.retry(at);
            }
            return Ok(());
        }
        let d = self
            .dialogs
            .get_mut(dk)
            .ok_or(B2buaError::InvalidState("leg has no dialog"))?;
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
        self.track(tx, call, Purpose::SessionRefresh(leg));
        Ok(())
    }

    /// A final response to our refresh on `leg`: a 2xx (ACKed here for a re-INVITE)
    /// restarts the timer with what it says; 491 sends it again after a glare delay; 408
    /// and 481 end the session; other failures leave it to its deadline.
    pub(super) fn on_refresh_response(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallKey,
        leg: Leg,
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
            if let Some((dk, dest, transport)) = self.leg_route(call, leg) {
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
            if let Some(t) = self.leg_timer_mut(call, leg) {
                let n = negotiate_as_uac(t.negotiated().interval, se.as_ref());
                t.refreshed(now, n);
            }
        } else if resp.status == StatusCode(491) {
            let at = now + self.glare_delay(leg);
            if let Some(t) = self.leg_timer_mut(call, leg) {
                t.retry(at);
            }
        } else if resp.status == StatusCode::REQUEST_TIMEOUT
            || resp.status == StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST
        {
            self.refresh_failed(call, leg);
        }
    }

    /// Our refresh on `leg` got no answer (timeout, transport error), a 408 or a 481: the
    /// session is gone (RFC 4028 §10; RFC 5057 for 481).
    /// Reported once: not again when the timer already expired (or the call ended).
    pub(super) fn refresh_failed(&mut self, call: CallKey, leg: Leg) {
        if self.call(call).is_none_or(|c| c.ended) {
            return;
        }
        let first = self.leg_timer_mut(call, leg).is_some_and(|t| t.expire());
        if first {
            self.emit(CallEvent::SessionExpired { call, leg });
        }
    }
}
