//! RFC 4028 session timers, as data: what to put in an INVITE and its 2xx, whether a
//! requested interval is too small (422 with Min-SE), who refreshes, and when a dialog must
//! be refreshed or has expired. No clock is read: `now` comes in, deadlines go out.
//!
//! Negotiation is a pair of pure functions, one per role ([`negotiate_as_uas`] for an
//! INVITE we answer, [`negotiate_as_uac`] for the 2xx to an INVITE we sent); the result, a
//! [`Negotiated`], drives one [`SessionTimer`] per dialog. The timer's one deadline
//! ([`SessionTimer::poll_timeout`]) is half the interval after the last refresh when we
//! refresh (then [`TimerAction::Refresh`]: send a re-INVITE or UPDATE, and call
//! [`SessionTimer::refreshed`] on its 2xx), and the interval minus min(32 s, interval/3)
//! when the peer refreshes (then [`TimerAction::Expire`]: the peer stopped refreshing, send
//! BYE), as RFC 4028 §10 says. A refresh of ours that gets no 2xx by that same point
//! expires the dialog too.
//!
//! Not here: building or sending the requests (the B2BUA core does that), and SDP.

use std::time::{Duration, Instant};

use switchboard_sip_message::{Refresher, SessionExpires};

/// The smallest session interval anyone may ask for (RFC 4028 §4: Min-SE is at least 90).
pub const MIN_SE_FLOOR: u32 = 90;

/// Our session-timer settings (`[sip] session_expires` in the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTimerConfig {
    /// The interval we ask for and the longest we accept, in seconds (default 1800).
    pub session_expires: u32,
    /// The shortest interval we accept, in seconds (our Min-SE; at least 90).
    pub min_se: u32,
}

impl Default for SessionTimerConfig {
    fn default() -> Self {
        SessionTimerConfig {
            session_expires: 1800,
            min_se: MIN_SE_FLOOR,
        }
    }
}

impl SessionTimerConfig {
    /// The config with its bounds enforced: Min-SE at least 90, the interval at least Min-SE.
    pub fn checked(self) -> SessionTimerConfig {
        let min_se = self.min_se.max(MIN_SE_FLOOR);
        SessionTimerConfig {
            session_expires: self.session_expires.max(min_se),
            min_se,
        }
    }
}

/// Which side of a dialog refreshes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// We send the refreshes.
    Us,
    /// The peer sends them; we end the dialog if they stop.
    Peer,
}

/// The outcome of a negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The session interval, in seconds.
    pub interval: u32,
    /// Who refreshes.
    pub refresher: Side,
}

/// An INVITE asked for a session interval below our Min-SE: answer 422 with
/// `Min-SE: min_se` (RFC 4028 §8.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooSmall {
    /// Our Min-SE, for the 422's Min-SE header.
    pub min_se: u32,
}

/// As UAS: an INVITE (initial or a refresh) with this `Session-Expires` (if any) and
/// `Min-SE` (if any); `peer_supports_timer`: its Supported lists `timer`. Returns the
/// negotiated timer (answer it with [`Negotiated::response_session_expires`], and
/// `Require: timer` when [`Negotiated::requires_timer_as_uas`]), or a 422 to send.
///
/// Without `Session-Expires` we still run a timer with our interval (RFC 4028 §9): the
/// peer refreshes if it supports `timer`, we do otherwise.
pub fn negotiate_as_uas(
    cfg: SessionTimerConfig,
    se: Option<&SessionExpires>,
    min_se: Option<u32>,
    peer_supports_timer: bool,
) -> Result<Negotiated, TooSmall> {
    let cfg = cfg.checked();
    let Some(se) = se else {
        // Respect a Min-SE the peer insists on even without a Session-Expires.
        let interval = cfg.session_expires.max(min_se.unwrap_or(0));
        return Ok(Negotiated {
            interval,
            refresher: if peer_supports_timer {
                Side::Peer
            } else {
                Side::Us
            },
        });
    };
    if se.delta < cfg.min_se {
        return Err(TooSmall { min_se: cfg.min_se });
    }
    // We may shorten the interval, never below what either side's Min-SE allows.
    let floor = cfg.min_se.max(min_se.unwrap_or(0));
    let interval = se.delta.min(cfg.session_expires.max(floor));
    let refresher = match se.refresher {
        Some(Refresher::Uac) => Side::Peer,
        Some(Refresher::Uas) => Side::Us,
        None if peer_supports_timer => Side::Peer,
        None => Side::Us,
    };
    Ok(Negotiated {
        interval,
        refresher,
    })
}

/// As UAC: the headers for an INVITE we send (`Session-Expires`, `Min-SE`, `Supported`).
/// `session_expires` is our interval, or the larger one a 422 asked for
/// ([`interval_after_422`]).
pub fn uac_request_headers(
    cfg: SessionTimerConfig,
    session_expires: u32,
) -> [(&'static str, String); 3] {
    let cfg = cfg.checked();
    [
        (
            "Session-Expires",
            session_expires.max(cfg.min_se).to_string(),
        ),
        ("Min-SE", cfg.min_se.to_string()),
        ("Supported", "timer".to_string()),
    ]
}

/// As UAC: the interval to retry with after a 422 whose `Min-SE` is `their_min_se`
/// (RFC 4028 §7.4), or `None` if the 422 names none or asks for more than an hour (we
/// give up rather than loop).
pub fn interval_after_422(cfg: SessionTimerConfig, their_min_se: Option<u32>) -> Option<u32> {
    let cfg = cfg.checked();
    let theirs = their_min_se?;
    (theirs <= 3600).then(|| theirs.max(cfg.session_expires))
}

/// As UAC: the 2xx to our INVITE carried this `Session-Expires` (if any). Without one the
/// peer does not do timers; we refresh with the interval we asked for (RFC 4028 §7.2).
pub fn negotiate_as_uac(asked: u32, se: Option<&SessionExpires>) -> Negotiated {
    match se {
        Some(se) => Negotiated {
            interval: se.delta.max(MIN_SE_FLOOR),
            refresher: match se.refresher {
                Some(Refresher::Uas) => Side::Peer,
                // `uac`, or absent (the UAS must name one; if it does not, we refresh).
                _ => Side::Us,
            },
        },
        None => Negotiated {
            interval: asked.max(MIN_SE_FLOOR),
            refresher: Side::Us,
        },
    }
}

impl Negotiated {
    /// The `Session-Expires` value for our 2xx as UAS: `interval;refresher=uac|uas`.
    pub fn response_session_expires(&self) -> String {
        let who = match self.refresher {
            Side::Peer => "uac",
            Side::Us => "uas",
        };
        format!("{};refresher={who}", self.interval)
    }

    /// As UAS, whether our 2xx must carry `Require: timer` (the peer, our UAC, refreshes).
    pub fn requires_timer_as_uas(&self) -> bool {
        self.refresher == Side::Peer
    }
}

/// What a session timer asks for when its deadline passes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerAction {
    /// Send a refresh (re-INVITE with the same SDP, or UPDATE) now.
    Refresh,
    /// The session expired: nobody refreshed it in time. End the dialog (BYE).
    Expire,
}

/// One dialog's session timer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTimer {
    negotiated: Negotiated,
    refreshed_at: Instant,
    /// Our refresh is out, waiting for its 2xx.
    refreshing: bool,
    /// Our refresh got 491 (glare) or had to wait for another re-INVITE: send it again
    /// then (RFC 3261 §14.1), unless the session expires first.
    retry_at: Option<Instant>,
    expired: bool,
}

impl SessionTimer {
    /// A timer for a dialog whose session was (re)negotiated at `now`.
    pub fn new(now: Instant, negotiated: Negotiated) -> SessionTimer {
        SessionTimer {
            negotiated,
            refreshed_at: now,
            refreshing: false,
            retry_at: None,
            expired: false,
        }
    }

    /// The negotiated interval and refresher.
    pub fn negotiated(&self) -> Negotiated {
        self.negotiated
    }

    /// A refresh succeeded at `now` (our refresh got its 2xx, or we answered the peer's
    /// with 2xx), possibly with a new interval or refresher.
    pub fn refreshed(&mut self, now: Instant, negotiated: Negotiated) {
        self.negotiated = negotiated;
        self.refreshed_at = now;
        self.refreshing = false;
        self.retry_at = None;
    }

    /// Our refresh got 491 Request Pending (its re-INVITE crossed one from the peer), or
    /// could not go out because another re-INVITE of ours is pending: try again at `at`
    /// (RFC 3261 §14.1 picks the delay). The session still expires at its deadline if no
    /// refresh succeeds by then. Ignored unless a refresh of ours is due or out.
    pub fn retry(&mut self, at: Instant) {
        if self.refreshing {
            self.retry_at = Some(at);
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.negotiated.interval))
    }

    /// When the session expires unless refreshed: the interval minus min(32 s, interval/3)
    /// after the last refresh (RFC 4028 §10).
    pub fn expires_at(&self) -> Instant {
        let i = self.interval();
        self.refreshed_at + i - (i / 3).min(Duration::from_secs(32))
    }

    /// The next deadline (`None` once expired).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.expired {
            return None;
        }
        Some(
            match (self.negotiated.refresher, self.refreshing, self.retry_at) {
                (Side::Us, false, _) => self.refreshed_at + self.interval() / 2,
                (_, true, Some(retry)) => retry.min(self.expires_at()),
                _ => self.expires_at(),
            },
        )
    }

    /// Our refresh failed for good (408, 481, no answer): the session is over. True the
    /// first time (report it then), false once expired already.
    pub fn expire(&mut self) -> bool {
        !std::mem::replace(&mut self.expired, true)
    }

    /// The clock reached `now`: what to do, if anything. A `Refresh` is asked for once per
    /// interval; an `Expire` once.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        let due = self.poll_timeout()?;
        if now < due {
            return None;
        }
        match (self.negotiated.refresher, self.refreshing) {
            (Side::Us, false) => {
                self.refreshing = true;
                Some(TimerAction::Refresh)
            }
            (_, true) if self.retry_at.is_some() && now < self.expires_at() => {
                self.retry_at = None;
                Some(TimerAction::Refresh)
            }
            _ => {
                self.expired = true;
                Some(TimerAction::Expire)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_epoch;

    fn se(delta: u32, refresher: Option<Refresher>) -> SessionExpires {
        SessionExpires {
            delta,
            refresher,
            params: Vec::new(),
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn an_interval_below_our_min_se_gets_422_with_min_se() {
        let cfg = SessionTimerConfig::default();
        assert_eq!(
            negotiate_as_uas(cfg, Some(&se(60, None)), None, true),
            Err(TooSmall { min_se: 90 })
        );
        let strict = SessionTimerConfig {
            session_expires: 1800,
            min_se: 300,
        };
        assert_eq!(
            negotiate_as_uas(strict, Some(&se(120, Some(Refresher::Uac))), None, true),
            Err(TooSmall { min_se: 300 })
        );
        // A config below the RFC's floor is raised to it.
        let low = SessionTimerConfig {
            session_expires: 30,
            min_se: 10,
        };
        assert_eq!(
            low.checked(),
            SessionTimerConfig {
                session_expires: 90,
                min_se: 90
            }
        );
    }

    #[test]
    fn the_uas_copies_the_refresher_or_picks_one_and_may_shorten_the_interval() {
        let cfg = SessionTimerConfig::default();
        let n = negotiate_as_uas(cfg, Some(&se(90, Some(Refresher::Uac))), None, true).unwrap();
        assert_eq!(
            n,
            Negotiated {
                interval: 90,
                refresher: Side::Peer
            }
        );
        assert_eq!(n.response_session_expires(), "90;refresher=uac");
        assert!(n.requires_timer_as_uas());
        let n = negotiate_as_uas(cfg, Some(&se(7200, Some(Refresher::Uas))), None, true).unwrap();
        assert_eq!(
            (n.interval, n.refresher),
            (1800, Side::Us),
            "shortened to ours"
        );
        assert_eq!(n.response_session_expires(), "1800;refresher=uas");
        assert!(!n.requires_timer_as_uas());
        // No refresher named: the UAC refreshes if it supports timer, else we do.
        let n = negotiate_as_uas(cfg, Some(&se(600, None)), None, false).unwrap();
        assert_eq!(n.refresher, Side::Us);
        let n = negotiate_as_uas(cfg, Some(&se(600, None)), None, true).unwrap();
        assert_eq!(n.refresher, Side::Peer);
        // No Session-Expires at all: our interval.
        let n = negotiate_as_uas(cfg, None, None, false).unwrap();
        assert_eq!((n.interval, n.refresher), (1800, Side::Us));
        // Never shortened below the peer's Min-SE.
        let n = negotiate_as_uas(cfg, Some(&se(4000, None)), Some(2400), true).unwrap();
        assert_eq!(n.interval, 2400);
    }

    #[test]
    fn the_uac_side_asks_retries_after_422_and_reads_the_2xx() {
        let cfg = SessionTimerConfig::default();
        let h = uac_request_headers(cfg, 1800);
        assert_eq!(h[0], ("Session-Expires", "1800".to_string()));
        assert_eq!(h[1], ("Min-SE", "90".to_string()));
        assert_eq!(h[2], ("Supported", "timer".to_string()));
        assert_eq!(interval_after_422(cfg, Some(3000)), Some(3000));
        assert_eq!(interval_after_422(cfg, Some(120)), Some(1800));
        assert_eq!(interval_after_422(cfg, None), None);
        assert_eq!(interval_after_422(cfg, Some(86_400)), None);
        let n = negotiate_as_uac(1800, Some(&se(900, Some(Refresher::Uas))));
        assert_eq!((n.interval, n.refresher), (900, Side::Peer));
        let n = negotiate_as_uac(1800, Some(&se(900, Some(Refresher::Uac))));
        assert_eq!(n.refresher, Side::Us);
        let n = negotiate_as_uac(1800, None);
        assert_eq!((n.interval, n.refresher), (1800, Side::Us));
    }

    #[test]
    fn we_refresh_at_half_the_interval_and_expire_if_the_refresh_fails() {
        let t0 = test_epoch();
        let n = Negotiated {
            interval: 90,
            refresher: Side::Us,
        };
        let mut timer = SessionTimer::new(t0, n);
        assert_eq!(timer.poll_timeout(), Some(t0 + secs(45)));
        assert_eq!(timer.handle_timeout(t0 + secs(44)), None);
        assert_eq!(
            timer.handle_timeout(t0 + secs(45)),
            Some(TimerAction::Refresh)
        );
        // One refresh per interval: the next deadline is the expiry.
        assert_eq!(timer.poll_timeout(), Some(t0 + secs(60)));
        assert_eq!(timer.handle_timeout(t0 + secs(50)), None);
        // Its 2xx came at 46 s: the next refresh is at 91 s.
        timer.refreshed(t0 + secs(46), n);
        assert_eq!(timer.poll_timeout(), Some(t0 + secs(91)));
        assert_eq!(
            timer.handle_timeout(t0 + secs(91)),
            Some(TimerAction::Refresh)
        );
        // This one never gets a 2xx: at 46 + 90 - 30 = 106 s the session is gone.
        assert_eq!(timer.handle_timeout(t0 + secs(105)), None);
        assert_eq!(
            timer.handle_timeout(t0 + secs(106)),
            Some(TimerAction::Expire)
        );
        assert_eq!(timer.poll_timeout(), None);
        assert_eq!(timer.handle_timeout(t0 + secs(500)), None, "expires once");
    }

    #[test]
    fn a_refresh_that_met_glare_is_sent_again_after_the_delay_but_not_past_expiry() {
        let t0 = test_epoch();
        let n = Negotiated {
            interval: 90,
            refresher: Side::Us,
        };
        let mut timer = SessionTimer::new(t0, n);
        assert_eq!(
            timer.handle_timeout(t0 + secs(45)),
            Some(TimerAction::Refresh)
        );
        // 491 at 45.1 s: retry 3 s later.
        let retry = t0 + Duration::from_millis(48_100);
        timer.retry(retry);
        assert_eq!(timer.poll_timeout(), Some(retry));
        assert_eq!(timer.handle_timeout(t0 + secs(48)), None);
        assert_eq!(timer.handle_timeout(retry), Some(TimerAction::Refresh));
        // The retry is out; its 2xx restarts the cycle.
        assert_eq!(timer.poll_timeout(), Some(t0 + secs(60)));
        timer.refreshed(t0 + secs(49), n);
        assert_eq!(timer.poll_timeout(), Some(t0 + secs(94)));
        // A retry asked for after the expiry: the session expires first.
        assert_eq!(
            timer.handle_timeout(t0 + secs(94)),
            Some(TimerAction::Refresh)
        );
        timer.retry(t0 + secs(200));
        assert_eq!(timer.poll_timeout(), Some(t0 + secs(109)));
        assert_eq!(
            timer.handle_timeout(t0 + secs(109)),
            Some(TimerAction::Expire)
        );
        // Without a refresh of ours out, a retry means nothing.
        let mut peer = SessionTimer::new(
            t0,
            Negotiated {
                interval: 90,
                refresher: Side::Peer,
            },
        );
        peer.retry(t0 + secs(1));
        assert_eq!(peer.poll_timeout(), Some(t0 + secs(60)));
    }

    #[test]
    fn a_peer_that_refreshes_keeps_the_session_and_one_that_stops_loses_it() {
        let t0 = test_epoch();
        // SIPp's offer: Session-Expires: 90;refresher=uac.
        let n = negotiate_as_uas(
            SessionTimerConfig::default(),
            Some(&se(90, Some(Refresher::Uac))),
            None,
            true,
        )
        .unwrap();
        let mut timer = SessionTimer::new(t0, n);
        // Expiry: 90 - min(32, 30) = 60 s after each refresh.
        assert_eq!(timer.poll_timeout(), Some(t0 + secs(60)));
        // It refreshes once at 45 s ...
        assert_eq!(timer.handle_timeout(t0 + secs(45)), None);
        timer.refreshed(t0 + secs(45), n);
        assert_eq!(
            timer.handle_timeout(t0 + secs(60)),
            None,
            "refreshed in time"
        );
        // ... and then goes silent: the session ends at 105 s, not before.
        assert_eq!(timer.handle_timeout(t0 + secs(104)), None);
        assert_eq!(
            timer.handle_timeout(t0 + secs(105)),
            Some(TimerAction::Expire)
        );
        // A long interval: 32 s before the end (1800 - 32).
        let long = SessionTimer::new(
            t0,
            Negotiated {
                interval: 1800,
                refresher: Side::Peer,
            },
        );
        assert_eq!(long.poll_timeout(), Some(t0 + secs(1768)));
    }
}
