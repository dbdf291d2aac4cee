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

    /// The SDP bodies, indexed like `trunk_specs` (what `dial_number_until` sends).
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

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sdp::{Direction, MasterKey, Suite};

    fn config(trunks: &str) -> crate::config::Config {
        let dir = std::env::temp_dir().join(format!("sb-trunk-offer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("c.toml");
        std::fs::write(&p, trunks).expect("write");
        crate::config::Config::load(Some(&p)).expect("config loads")
    }

    fn local() -> LocalMedia {
        LocalMedia {
            address: "127.0.0.1".parse().expect("ip"),
            port: 20000,
            session_id: 1,
            session_version: 1,
            direction: Direction::SendRecv,
        }
    }

    fn answer(profile: &str, crypto: &str) -> String {
        format!(
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
             m=audio 4000 {profile} 0\r\n{crypto}"
        )
    }

    #[test]
    fn each_trunk_gets_an_offer_under_its_own_policy_and_its_answer_is_checked_against_it() {
        let cfg = config(
            "[[trunks]]\nname = \"plain\"\naddress = \"192.0.2.1:5060\"\n\n\
             [[trunks]]\nname = \"secure\"\naddress = \"192.0.2.2:5060\"\nsrtp = \"required\"\n\n\
             [[trunks]]\nname = \"maybe\"\naddress = \"192.0.2.3:5060\"\nsrtp = \"optional\"\n",
        );
        let offers = TrunkOffers::new(&cfg, &LocalCaps::default(), &local());
        let bodies: Vec<String> = offers
            .bodies()
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        assert!(bodies[0].contains("RTP/AVP") && !bodies[0].contains("a=crypto"));
        assert!(bodies[1].contains("RTP/SAVP") && bodies[1].contains("a=crypto:1 "));
        assert!(bodies[2].contains("RTP/AVP") && bodies[2].contains("a=crypto:1 "));
        let key = |b: &str| {
            SessionDescription::parse(b.as_bytes())
                .expect("parses")
                .media[0]
                .first_supported_crypto()
                .map(|c| c.key)
        };
        assert_ne!(key(&bodies[1]), key(&bodies[2]), "a fresh key per trunk");

        let theirs = switchboard_sdp::Crypto {
            tag: 1,
            suite: Suite::AesCm128HmacSha1_80,
            key: MasterKey::new([9; 16], [8; 14]),
        };
        let line = format!("a=crypto:{}\r\n", theirs.to_value());
        let plain = answer("RTP/AVP", "");
        let secure = answer("RTP/SAVP", &line);
        assert_eq!(
            offers.negotiate(0, plain.as_bytes()).map(|n| n.srtp),
            Some(None)
        );
        assert!(offers.negotiate(1, plain.as_bytes()).is_none(), "required");
        let keys = offers
            .negotiate(1, secure.as_bytes())
            .and_then(|n| n.srtp)
            .expect("srtp");
        assert_eq!(keys.receive, theirs.key);
        assert_eq!(Some(Some(keys.send)), Some(key(&bodies[1])));
        assert_eq!(
            offers.negotiate(2, plain.as_bytes()).map(|n| n.srtp),
            Some(None)
        );
        assert!(
            offers.negotiate(0, secure.as_bytes()).is_none(),
            "SAVP to a plain offer"
        );
    }
}
