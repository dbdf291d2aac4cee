//! Our SDP offers for a leg placed through the trunks. Which trunk takes the call is
//! decided in the SIP driver (priority, limits, failover), so each trunk gets its own
//! offer under its own `srtp` policy (with its own fresh key when SRTP is on), and the
//! answer is negotiated against the offer of the trunk that answered.

use bytes::Bytes;
use switchboard_sdp::{LocalCaps, LocalMedia, Negotiated, SessionDescription};

pub(crate) struct TrunkOffers {
    /// One per `trunk_specs` entry, in order.
    offers: Vec<(SessionDescription, LocalCaps)>,
}

impl TrunkOffers {
    /// Offers for every configured trunk, from `caps` (codecs) and `local` (our address).
    pub(crate) fn new(
        cfg: &crate::config::Config,
        caps: &LocalCaps,
        local: &LocalMedia,
    ) -> TrunkOffers {
        let offers = cfg
            .trunk_specs
            .iter()
            .map(|t| {
                let caps = LocalCaps {
                    srtp: t.srtp.fresh_mode(),
                    ..caps.clone()
                };
                (switchboard_sdp::offer(&caps, local), caps)
            })
            .collect();
        TrunkOffers { offers }
    }

    /// The SDP bodies, indexed like `trunk_specs` (what `dial_number` sends).
    pub(crate) fn bodies(&self) -> Vec<Bytes> {
        self.offers
            .iter()
            .map(|(o, _)| Bytes::from(o.to_string()))
            .collect()
    }

    /// Negotiates the answer that trunk number `trunk` returned to its offer; `None` when
    /// it does not parse or does not match (no common codec, SRTP policy not met).
    pub(crate) fn negotiate(&self, trunk: usize, answer: &[u8]) -> Option<Negotiated> {
        let (offer, caps) = self.offers.get(trunk)?;
        let ans = SessionDescription::parse(answer).ok()?;
        match switchboard_sdp::process_answer(offer, &ans, caps) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::info!(error = %e, trunk, "trunk answer refused");
                None
            }
        }
    }
}
