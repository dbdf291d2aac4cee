//! RFC 4028 session timers on the legs we originate (leg B: an agent leg routed from a
//! caller, an originated callback, trunk or campaign leg), driven by `crate::session_timer`.
//!
//! Our INVITE offers `Session-Expires` (the configured interval), `Min-SE` and
//! `Supported: timer`. A 422 is answered once: the INVITE goes again (next CSeq, same
//! Call-ID and tag) asking for the interval the 422's `Min-SE` names, if it is at most an
//! hour. The 2xx's `Session-Expires` says who refreshes (`refresher=uac`, or none: we do;
//! `uas`: the callee does, and we end the call if it stops); a 2xx without one leaves the
//! refreshing to us with the interval we asked for (RFC 4028 §7.2). From then on the leg's
//! timer runs like leg A's (`session`): our refreshes are an UPDATE when the 2xx's `Allow`
//! lists UPDATE, else a re-INVITE with the SDP we last sent the leg.

use super::*;
use crate::session_timer::{
    interval_after_422, negotiate_as_uac, uac_request_headers, SessionTimer, SessionTimerConfig,
};

/// The session timer of a leg we originate.
#[derive(Debug)]
pub(super) struct LegSession {
    cfg: SessionTimerConfig,
    /// The interval our INVITE asks for (raised by a 422).
    asked: u32,
    /// A 422 was answered already (we retry once, never loop).
    retried_422: bool,
    /// Running once the leg answered.
    pub(super) timer: Option<SessionTimer>,
    /// The SDP we last sent the leg (our offer, or a later re-INVITE/UPDATE or answer):
    /// the body of our refresh re-INVITE.
    pub(super) sdp: Bytes,
    /// The 2xx's `Allow` lists UPDATE: refresh with an UPDATE without a body.
    pub(super) update: bool,
}

fn set_session_headers(inv: &mut Request, cfg: SessionTimerConfig, interval: u32) {
    inv.headers.remove(&HeaderName::SessionExpires);
    inv.headers.remove(&HeaderName::MinSe);
    for (name, value) in uac_request_headers(cfg, interval) {
        let name = HeaderName::parse(name);
        let already = name == HeaderName::Supported
            && inv
                .headers
                .tokens(&HeaderName::Supported)
                .iter()
                .any(|t| t.eq_ignore_ascii_case("timer"));
        if !already {
            inv.headers.push(name, value);
        }
    }
}

impl B2bua {
    /// Adds the session-timer offer to a leg-B INVITE (when timers are on and `offer`),
    /// returning the leg's session state.
    pub(super) fn offer_session_timer(&self, inv: &mut Request, offer: bool) -> Option<LegSession> {
        let cfg = self.config.session_timers.filter(|_| offer)?.checked();
        set_session_headers(inv, cfg, cfg.session_expires);
        Some(LegSession {
            cfg,
            asked: cfg.session_expires,
            retried_422: false,
            timer: None,
            sdp: inv.body.clone(),
            update: false,
        })
    }

    /// B's INVITE `key` got 422 (Session Interval Too Small): re-send it once asking for
    /// the interval the 422's `Min-SE` names (RFC 4028 §7.4). True when re-sent.
    pub(super) fn retry_b_after_422(
        &mut self,
        now: Instant,
        key: TxKey,
        call: CallKey,
        resp: &Response,
    ) -> bool {
        let Some(mut inv) = self.tl.request(key).cloned() else {
            return false;
        };
        let Ok(cseq) = inv.headers.cseq() else {
            return false;
        };
        let their_min_se = resp.headers.min_se().ok().flatten();
        let Some(b) = self.call_mut(call).and_then(|c| c.b.as_mut()) else {
            return false;
        };
        if b.cancelled || b.invite_tx != Some(key) {
            return false;
        }
        let (dest, transport) = (b.dest, b.transport);
        let Some(s) = b.session.as_mut().filter(|s| !s.retried_422) else {
            return false;
        };
        let Some(interval) = interval_after_422(s.cfg, their_min_se) else {
            return false;
        };
        s.retried_422 = true;
        s.asked = interval;
        let cfg = SessionTimerConfig {
            session_expires: interval,
            // The new request's Min-SE is the largest one a 422 named (§7.4).
            min_se: s.cfg.min_se.max(their_min_se.unwrap_or(0)),
        };
        inv.headers.remove(&HeaderName::Via);
        inv.headers.set(
            HeaderName::CSeq,
            format!("{} INVITE", cseq.seq.saturating_add(1)),
        );
        set_session_headers(&mut inv, cfg, interval);
        self.resend_b_invite(now, key, call, dest, transport, inv)
    }

    /// B answered with `resp`: its session timer starts as the 2xx says.
    pub(super) fn start_b_session(&mut self, now: Instant, call: CallKey, resp: &Response) {
        let Some(s) = self
            .call_mut(call)
            .and_then(|c| c.b.as_mut())
            .and_then(|b| b.session.as_mut())
        else {
            return;
        };
        let se = resp.headers.session_expires().ok().flatten();
        s.timer = Some(SessionTimer::new(
            now,
            negotiate_as_uac(s.asked, se.as_ref()),
        ));
        s.update = resp
            .headers
            .tokens(&HeaderName::Allow)
            .iter()
            .any(|t| t.eq_ignore_ascii_case("UPDATE"));
    }
}
