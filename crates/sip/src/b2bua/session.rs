//! RFC 4028 session timers on leg A, driven by `crate::session_timer`: the caller's
//! `Session-Expires` is negotiated when its INVITE arrives (422 with our Min-SE when too
//! small), confirmed in our 2xx, refreshed by each re-INVITE or UPDATE it sends, and a
//! caller that stops refreshing gets [`CallEvent::SessionExpired`].
//!
//! Only the caller-as-refresher case runs a timer: when the negotiation makes us the
//! refresher (the caller does not support `timer`, or names `refresher=uas`), no
//! `Session-Expires` is sent and no timer runs (refreshing ourselves is not built yet,
//! docs/decisions/0029-session-timers.md).

use super::*;
use crate::session_timer::{negotiate_as_uas, Side, TimerAction};

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
            Ok(n) if n.refresher == Side::Peer && se.is_some() => Ok(Some(n)),
            Ok(_) => Ok(None),
        }
    }

    /// Headers for A's 2xx (to the INVITE or a refresh) while a timer runs.
    pub(super) fn session_headers(&self, call: CallKey) -> Vec<(HeaderName, String)> {
        let Some(n) = self.call(call).and_then(|c| c.a.as_ref()?.session) else {
            return Vec::new();
        };
        vec![
            (HeaderName::SessionExpires, n.response_session_expires()),
            (HeaderName::Require, "timer".to_string()),
        ]
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
            Ok(n) if n.refresher == Side::Peer && se.is_some() => n,
            _ => timer.negotiated(),
        };
        timer.refreshed(now, n);
        a.session = Some(n);
    }

    /// Runs the session timers due at `now`.
    pub(super) fn session_timeouts(&mut self, now: Instant) {
        let expired: Vec<CallKey> = self
            .calls
            .iter_mut()
            .filter_map(|(index, c)| {
                let t = c.a.as_mut()?.timer.as_mut()?;
                (t.handle_timeout(now) == Some(TimerAction::Expire) && !c.ended).then_some(
                    CallKey {
                        index: index as u32,
                        generation: c.generation,
                    },
                )
            })
            .collect();
        for call in expired {
            self.emit(CallEvent::SessionExpired { call });
        }
    }
}
