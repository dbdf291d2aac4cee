//! Carrier trunks, sans-IO: everything switchboard decides about the carrier side of a call
//! it originates, with no sockets, tasks or clock (time comes in as `Instant`, randomness
//! as a seed).
//!
//! - [`digest_client`]: reading a 401/407 challenge and writing the credentials that answer
//!   it (RFC 2617/7616 MD5 and SHA-256, `qop=auth`, `nc`, `cnonce`), each nonce once.
//! - [`registration`]: the outbound REGISTER client: challenge, refresh at 85 % of the
//!   granted lifetime, exponential back-off after failures, un-register.
//! - [`selection`]: trunks in priority order with per-trunk concurrent-call and
//!   calls-per-second limits, and which failures fail over to the next trunk.
//! - [`numbering`]: the number format a trunk wants and the caller ID it presents.
//! - [`InviteCredentials`]: a [`switchboard_sip::ChallengeResponder`] that lets the B2BUA
//!   core answer a carrier's challenge to an originated INVITE.
//!
//! It is not a transport or a transaction layer: the server crate sends what these state
//! machines ask for through `switchboard-sip` and feeds back what comes in. It does not
//! decide whether a number may be dialled at all (that is `switchboard-outbound`).

#![warn(missing_docs)]

pub mod digest_client;
pub mod numbering;
pub mod registration;
pub mod selection;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use switchboard_sip_message::{HeaderName, Request, Response};

pub use digest_client::{ClientCredentials, DigestSession};
pub use numbering::{CallerIdPolicy, NumberFormat};
pub use registration::{
    RegistrationClient, RegistrationConfig, RegistrationState, RegistrationStatus,
};
pub use selection::{fails_over, Acquired, LimitRefusal, TrunkId, TrunkLimits, TrunkSet};

/// Challenges answered on one originated INVITE before giving up (a changed nonce plus a
/// `stale=true` refresh; more means the carrier does not accept the credentials).
pub const MAX_INVITE_CHALLENGES: u32 = 2;

/// Answers a carrier's 401/407 to one originated INVITE with digest credentials.
#[derive(Debug)]
pub struct InviteCredentials {
    session: DigestSession,
    rng: ChaCha8Rng,
    answered: u32,
}

impl InviteCredentials {
    /// Credentials for one call; `seed` drives the cnonce.
    pub fn new(creds: ClientCredentials, seed: u64) -> InviteCredentials {
        InviteCredentials {
            session: DigestSession::new(creds),
            rng: ChaCha8Rng::seed_from_u64(seed),
            answered: 0,
        }
    }
}

impl switchboard_sip::ChallengeResponder for InviteCredentials {
    fn respond(&mut self, invite: &Request, challenge: &Response) -> Option<(HeaderName, String)> {
        if self.answered >= MAX_INVITE_CHALLENGES {
            return None;
        }
        let cnonce = format!("{:016x}", self.rng.gen::<u64>());
        let answer = self.session.answer(invite, challenge, &cnonce).ok()?;
        self.answered += 1;
        Some(answer)
    }
}
