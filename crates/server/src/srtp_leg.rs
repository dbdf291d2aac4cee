//! SRTP on a media leg: the per-user and per-trunk `srtp` switch (`off`, `optional`,
//! `required`), the fresh master key each leg offers or answers with, and the two
//! `switchboard_srtp` contexts (what we send, what we receive) of a leg whose SDP
//! negotiated SDES keys. Packets are protected and unprotected in place on the leg's
//! buffers. It knows nothing of calls; `MediaLeg` owns one when its stream is SRTP.
//! Decision record: docs/decisions/0033-srtp-sdes.md.

use bytes::BytesMut;
use rand::RngCore;
use serde::Deserialize;
use switchboard_sdp::{MasterKey, SrtpKeys, SrtpMode, KEY_SALT_LEN};
use switchboard_srtp::{SrtpContext, SrtpError};

/// The `srtp` setting of a user or trunk.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SrtpPolicy {
    /// Plain RTP: SAVP offers get 488, our offers carry no keys.
    #[default]
    Off,
    /// SRTP when the peer offers it (SAVP, or `a=crypto` on AVP); our offers are RTP/AVP
    /// with `a=crypto`, so a peer without SRTP answers plain.
    Optional,
    /// SRTP only: offers without a crypto line we support get 488; our offers are
    /// RTP/SAVP and a plain answer fails the leg.
    Required,
}

impl SrtpPolicy {
    /// The SDP mode for a new leg under this policy, with a fresh random master key from
    /// the OS RNG (one per leg; the other direction's key is the peer's own).
    pub(crate) fn fresh_mode(self) -> SrtpMode {
        match self {
            SrtpPolicy::Off => SrtpMode::Off,
            SrtpPolicy::Optional => SrtpMode::Optional(fresh_key()),
            SrtpPolicy::Required => SrtpMode::Required(fresh_key()),
        }
    }
}

/// The `srtp` setting of user `name` (off for names that are not `[[users]]`).
pub(crate) fn user_policy(cfg: &crate::config::Config, name: &str) -> SrtpPolicy {
    cfg.users
        .iter()
        .find(|u| u.name == name)
        .map_or(SrtpPolicy::Off, |u| u.srtp)
}

/// The policy of an inbound call's leg: its user's when a registered user placed it,
/// else that of the `[[trunks]]` entry whose address has the call's source IP, else off.
pub(crate) fn inbound_policy(
    cfg: &crate::config::Config,
    user: Option<&str>,
    source: std::net::IpAddr,
) -> SrtpPolicy {
    match user {
        Some(name) => user_policy(cfg, name),
        None => cfg
            .trunk_specs
            .iter()
            .find(|t| t.address.ip() == source)
            .map_or(SrtpPolicy::Off, |t| t.srtp),
    }
}

fn fresh_key() -> MasterKey {
    let mut bytes = [0u8; KEY_SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = MasterKey::from_concatenated(&bytes).unwrap_or_else(|| unreachable!());
    bytes.fill(0);
    key
}

/// Largest RTCP compound packet we protect (the session's reports are far smaller).
const RTCP_SCRATCH: usize = 1500;

/// The SRTP state of one leg.
pub(crate) struct SrtpLeg {
    keys: SrtpKeys,
    tx: SrtpContext,
    rx: SrtpContext,
    /// Where outgoing RTCP is copied and protected (allocated once per leg).
    rtcp_out: BytesMut,
    /// Packets refused on receive (authentication, replay, too old).
    pub(crate) rejected: u64,
    /// The first refusal was logged (later ones are only counted).
    pub(crate) logged: bool,
}

impl SrtpLeg {
    pub(crate) fn new(keys: &SrtpKeys) -> SrtpLeg {
        SrtpLeg {
            tx: SrtpContext::new(keys.suite, &keys.send),
            rx: SrtpContext::new(keys.suite, &keys.receive),
            keys: keys.clone(),
            rtcp_out: BytesMut::with_capacity(RTCP_SCRATCH + 64),
            rejected: 0,
            logged: false,
        }
    }

    /// The mode to answer a re-INVITE on this leg with: SRTP required, with the key we
    /// already send with (the suite stays the one negotiated).
    pub(crate) fn answer_mode(&self) -> SrtpMode {
        SrtpMode::Required(self.keys.send.clone())
    }

    /// A re-INVITE's keys: a new receive key (the peer re-keyed) restarts the receive
    /// context; our send key never changes within a leg.
    pub(crate) fn update(&mut self, keys: &SrtpKeys) {
        if keys.receive != self.keys.receive || keys.suite != self.keys.suite {
            self.rx = SrtpContext::new(keys.suite, &keys.receive);
            self.keys.receive = keys.receive.clone();
            self.keys.suite = keys.suite;
        }
    }

    /// Unprotects a received SRTP packet in place (truncated to the RTP packet).
    pub(crate) fn unprotect_rtp(&mut self, buf: &mut BytesMut) -> Result<(), SrtpError> {
        let n = self.rx.unprotect_rtp(buf)?;
        buf.truncate(n);
        Ok(())
    }

    /// Unprotects a received SRTCP packet in place.
    pub(crate) fn unprotect_rtcp(&mut self, buf: &mut BytesMut) -> Result<(), SrtpError> {
        let n = self.rx.unprotect_rtcp(buf)?;
        buf.truncate(n);
        Ok(())
    }

    /// Protects the RTP packet in `out` in place (`out` has the capacity for the tag, so
    /// this does not allocate).
    pub(crate) fn protect_rtp(&mut self, out: &mut BytesMut) -> Result<(), SrtpError> {
        let len = out.len();
        out.resize(len + self.tx.rtp_overhead(), 0);
        match self.tx.protect_rtp(out, len) {
            Ok(n) => {
                out.truncate(n);
                Ok(())
            }
            Err(e) => {
                out.truncate(len);
                Err(e)
            }
        }
    }

    /// Protects a copy of an RTCP datagram from the session: the bytes to send.
    pub(crate) fn protect_rtcp(&mut self, datagram: &[u8]) -> Result<&[u8], SrtpError> {
        if datagram.len() > RTCP_SCRATCH {
            return Err(SrtpError::BufferTooSmall);
        }
        self.rtcp_out.clear();
        self.rtcp_out.extend_from_slice(datagram);
        self.rtcp_out
            .resize(datagram.len() + self.tx.rtcp_overhead(), 0);
        let n = self.tx.protect_rtcp(&mut self.rtcp_out, datagram.len())?;
        Ok(self.rtcp_out.get(..n).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_make_fresh_keys() {
        #[derive(Deserialize)]
        struct T {
            srtp: SrtpPolicy,
        }
        let t: T = toml::from_str("srtp = \"required\"").expect("parses");
        assert_eq!(t.srtp, SrtpPolicy::Required);
        assert!(toml::from_str::<T>("srtp = \"maybe\"").is_err());
        assert_eq!(SrtpPolicy::Off.fresh_mode(), SrtpMode::Off);
        let (a, b) = (
            SrtpPolicy::Optional.fresh_mode(),
            SrtpPolicy::Optional.fresh_mode(),
        );
        assert!(a.key().is_some());
        assert_ne!(a.key(), b.key(), "a fresh key per leg");
    }

    #[test]
    fn the_srtp_state_is_too_big_to_carry_inline_in_every_leg() {
        // 4,176 bytes when measured: MediaLeg boxes it, so plain legs do not pay for it.
        let size = std::mem::size_of::<SrtpLeg>();
        assert!(size > 512, "{size} bytes");
    }

    #[test]
    fn two_legs_with_crossed_keys_talk_without_allocating_per_packet() {
        let (k1, k2) = (fresh_key(), fresh_key());
        let suite = switchboard_sdp::Suite::AesCm128HmacSha1_80;
        let mut ours = SrtpLeg::new(&SrtpKeys {
            suite,
            send: k1.clone(),
            receive: k2.clone(),
        });
        let mut theirs = SrtpLeg::new(&SrtpKeys {
            suite,
            send: k2,
            receive: k1,
        });
        let mut out = BytesMut::with_capacity(2048);
        out.extend_from_slice(&[0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9]);
        out.extend_from_slice(&[0xff; 160]);
        let plain = out.clone();
        let cap = out.capacity();
        ours.protect_rtp(&mut out).expect("protect");
        assert_eq!(out.capacity(), cap, "no reallocation");
        assert_eq!(out.len(), plain.len() + 10);
        theirs.unprotect_rtp(&mut out).expect("unprotect");
        assert_eq!(out, plain);
        let rr = [0x81, 201, 0, 1, 0, 0, 0, 9];
        let mut sealed = BytesMut::from(ours.protect_rtcp(&rr).expect("rtcp"));
        theirs.unprotect_rtcp(&mut sealed).expect("srtcp");
        assert_eq!(&sealed[..], &rr[..]);
    }
}
