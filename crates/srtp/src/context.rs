//! One direction of SRTP/SRTCP: session keys, per-SSRC rollover and replay state, and
//! protect/unprotect in place.

use aes::cipher::{generic_array::GenericArray, KeyInit};
use aes::Aes128;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::keys::{apply_keystream, derive, Label, MasterKey, Suite, MASTER_SALT_LEN};
use crate::replay::{Refused, ReplayWindow};

type HmacSha1 = Hmac<Sha1>;

/// Why a packet could not be protected or unprotected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// Shorter than a header plus the trailer this suite needs.
    #[error("packet too short")]
    TooShort,
    /// Not RTP/RTCP version 2.
    #[error("not an RTP/RTCP version 2 packet")]
    NotRtp,
    /// The buffer has no room for the trailer (protect needs `len + overhead`).
    #[error("buffer has no room for the SRTP trailer")]
    BufferTooSmall,
    /// The authentication tag does not match: tampered, or a different key.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// This packet index was already received.
    #[error("replayed packet")]
    Replayed,
    /// The packet index is older than the replay window.
    #[error("packet older than the replay window")]
    TooOld,
    /// The index space of this master key is used up (2^48 RTP or 2^31 RTCP packets).
    #[error("SRTP index space of the master key exhausted")]
    IndexExhausted,
    /// The SSRC's stream was evicted (a fifth SSRC came along): its rollover counter and
    /// replay window are gone, so its packets are refused rather than replayed (receiving)
    /// or sent again under a keystream already used (sending).
    #[error("SSRC retired from this SRTP context")]
    RetiredStream,
}

impl From<Refused> for SrtpError {
    fn from(r: Refused) -> SrtpError {
        match r {
            Refused::Replayed => SrtpError::Replayed,
            Refused::TooOld => SrtpError::TooOld,
        }
    }
}

/// Session keys of RTP or of RTCP.
#[derive(Clone)]
struct SessionKeys {
    cipher: Aes128,
    salt: [u8; MASTER_SALT_LEN],
    mac: HmacSha1,
}

impl SessionKeys {
    fn derive(master: &MasterKey, enc: Label, auth: Label, salt: Label) -> SessionKeys {
        let mut k = [0u8; 16];
        derive(master, enc, &mut k);
        let mut a = [0u8; 20];
        derive(master, auth, &mut a);
        let mut s = [0u8; MASTER_SALT_LEN];
        derive(master, salt, &mut s);
        let mac = <HmacSha1 as Mac>::new_from_slice(&a).unwrap_or_else(|_| unreachable!());
        let cipher = Aes128::new(GenericArray::from_slice(&k));
        // The derived keys live on in the cipher and MAC states only.
        k.fill(0);
        a.fill(0);
        SessionKeys {
            cipher,
            salt: s,
            mac,
        }
    }

    /// IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16) (RFC 3711 §4.1.1).
    fn iv(&self, ssrc: u32, index: u64) -> [u8; 16] {
        let mut iv = [0u8; 16];
        for (d, s) in iv.iter_mut().zip(self.salt) {
            *d = s;
        }
        for (d, s) in iv.iter_mut().skip(4).zip(ssrc.to_be_bytes()) {
            *d ^= s;
        }
        for (d, s) in iv.iter_mut().skip(8).zip((index << 16).to_be_bytes()) {
            *d ^= s;
        }
        iv
    }

    fn tag(&self, authenticated: &[u8], trailer: &[u8]) -> [u8; 20] {
        let mut mac = self.mac.clone();
        mac.update(authenticated);
        mac.update(trailer);
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, authenticated: &[u8], trailer: &[u8], tag: &[u8]) -> Result<(), SrtpError> {
        let mut mac = self.mac.clone();
        mac.update(authenticated);
        mac.update(trailer);
        mac.verify_truncated_left(tag)
            .map_err(|_| SrtpError::AuthenticationFailed)
    }
}

/// Rollover, replay and SRTCP index state of one SSRC.
#[derive(Debug, Clone, Copy)]
struct Stream {
    ssrc: u32,
    /// Rollover counter and highest sequence number (`None` before the first RTP).
    rtp: Option<(u32, u16)>,
    rtp_replay: ReplayWindow,
    /// Next SRTCP index to send.
    rtcp_next: u32,
    rtcp_replay: ReplayWindow,
}

impl Stream {
    fn new(ssrc: u32) -> Stream {
        Stream {
            ssrc,
            rtp: None,
            rtp_replay: ReplayWindow::default(),
            rtcp_next: 0,
            rtcp_replay: ReplayWindow::default(),
        }
    }

    /// The rollover counter `seq` belongs to (RFC 3711 §3.3.1, Appendix A); `None`
    /// for a packet from before the first rollover counter (index below zero).
    fn estimate(&self, seq: u16) -> Option<u32> {
        let Some((roc, s_l)) = self.rtp else {
            return Some(0);
        };
        let (s, s_l) = (i32::from(seq), i32::from(s_l));
        if s_l < 32768 {
            if s - s_l > 32768 {
                roc.checked_sub(1)
            } else {
                Some(roc)
            }
        } else if s_l - 32768 > s {
            roc.checked_add(1)
        } else {
            Some(roc)
        }
    }

    /// Records a processed packet with rollover counter `v` (Appendix A update rule).
    fn update(&mut self, v: u32, seq: u16) {
        match self.rtp {
            None => self.rtp = Some((v, seq)),
            Some((roc, s_l)) => {
                if v > roc || (v == roc && seq > s_l) {
                    self.rtp = Some((v, seq));
                }
            }
        }
    }
}

/// How many SSRCs one context follows at once (a leg's peer normally has one; a few
/// more cover an SSRC change without evicting the live one at once).
const STREAMS: usize = 4;

/// One direction of an SRTP session: everything needed to protect what we send, or to
/// unprotect what we receive, under one master key.
#[derive(Clone)]
pub struct SrtpContext {
    suite: Suite,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    streams: [Option<Stream>; STREAMS],
    next_evict: usize,
    /// SSRCs whose stream was evicted, most recent [`RETIRED`] (a ring).
    retired: [Option<u32>; RETIRED],
    next_retired: usize,
}

/// How many evicted SSRCs a context remembers (and refuses).
const RETIRED: usize = 32;

impl std::fmt::Debug for SrtpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpContext")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

fn be32(buf: &[u8], at: usize) -> Result<u32, SrtpError> {
    let b = buf.get(at..at + 4).ok_or(SrtpError::TooShort)?;
    Ok(u32::from_be_bytes(
        b.try_into().map_err(|_| SrtpError::TooShort)?,
    ))
}

fn be16(buf: &[u8], at: usize) -> Result<u16, SrtpError> {
    let b = buf.get(at..at + 2).ok_or(SrtpError::TooShort)?;
    Ok(u16::from_be_bytes(
        b.try_into().map_err(|_| SrtpError::TooShort)?,
    ))
}

/// Length of the RTP header (fixed part, CSRCs and extension) of `pkt`.
fn rtp_header_len(pkt: &[u8]) -> Result<usize, SrtpError> {
    let first = *pkt.first().ok_or(SrtpError::TooShort)?;
    if first >> 6 != 2 {
        return Err(SrtpError::NotRtp);
    }
    let mut n = 12 + 4 * usize::from(first & 0x0f);
    if first & 0x10 != 0 {
        n += 4 + 4 * usize::from(be16(pkt, n + 2)?);
    }
    if n > pkt.len() {
        return Err(SrtpError::TooShort);
    }
    Ok(n)
}

fn rtcp_check(pkt: &[u8]) -> Result<(), SrtpError> {
    let first = *pkt.first().ok_or(SrtpError::TooShort)?;
    if first >> 6 != 2 {
        return Err(SrtpError::NotRtp);
    }
    if pkt.len() < 8 {
        return Err(SrtpError::TooShort);
    }
    Ok(())
}

/// The SRTCP E flag (the packet is encrypted).
const E_FLAG: u32 = 1 << 31;

impl SrtpContext {
    /// A context for `suite` under `master` (key derivation rate 0, no MKI).
    pub fn new(suite: Suite, master: &MasterKey) -> SrtpContext {
        SrtpContext {
            suite,
            rtp: SessionKeys::derive(
                master,
                Label::RtpEncryption,
                Label::RtpAuthentication,
                Label::RtpSalt,
            ),
            rtcp: SessionKeys::derive(
                master,
                Label::RtcpEncryption,
                Label::RtcpAuthentication,
                Label::RtcpSalt,
            ),
            streams: [None; STREAMS],
            next_evict: 0,
            retired: [None; RETIRED],
            next_retired: 0,
        }
    }

    /// The suite of this context.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// Bytes [`SrtpContext::protect_rtp`] appends to an RTP packet.
    pub fn rtp_overhead(&self) -> usize {
        self.suite.rtp_tag_len()
    }

    /// Bytes [`SrtpContext::protect_rtcp`] appends to an RTCP packet.
    pub fn rtcp_overhead(&self) -> usize {
        4 + self.suite.rtcp_tag_len()
    }

    fn is_retired(&self, ssrc: u32) -> bool {
        self.retired.contains(&Some(ssrc))
    }

    /// The stream of `ssrc`, made if new (evicting the oldest when all are taken); a
    /// retired SSRC gets [`SrtpError::RetiredStream`].
    fn stream(&mut self, ssrc: u32) -> Result<&mut Stream, SrtpError> {
        let slot = match self
            .streams
            .iter()
            .position(|s| s.is_some_and(|s| s.ssrc == ssrc))
        {
            Some(i) => i,
            None => {
                if self.is_retired(ssrc) {
                    return Err(SrtpError::RetiredStream);
                }
                let i = match self.streams.iter().position(Option::is_none) {
                    Some(i) => i,
                    None => {
                        let i = self.next_evict % STREAMS;
                        self.next_evict = self.next_evict.wrapping_add(1);
                        i
                    }
                };
                if let Some(old) = self.streams.get(i).copied().flatten() {
                    if let Some(r) = self.retired.get_mut(self.next_retired % RETIRED) {
                        *r = Some(old.ssrc);
                    }
                    self.next_retired = self.next_retired.wrapping_add(1);
                }
                if let Some(s) = self.streams.get_mut(i) {
                    *s = Some(Stream::new(ssrc));
                }
                i
            }
        };
        match self.streams.get_mut(slot) {
            Some(Some(s)) => Ok(s),
            _ => unreachable!("slot {slot} was just filled"),
        }
    }

    fn existing_stream(&self, ssrc: u32) -> Option<Stream> {
        self.streams
            .iter()
            .flatten()
            .find(|s| s.ssrc == ssrc)
            .copied()
    }

    /// Encrypts and authenticates the RTP packet `buf[..len]` in place, appending the tag:
    /// returns the SRTP packet's length. `buf` needs [`SrtpContext::rtp_overhead`] spare
    /// bytes after `len`.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtp_tag_len();
        let out_len = len + tag_len;
        if buf.len() < out_len {
            return Err(SrtpError::BufferTooSmall);
        }
        let pkt = buf.get(..len).ok_or(SrtpError::BufferTooSmall)?;
        let header = rtp_header_len(pkt)?;
        let seq = be16(pkt, 2)?;
        let ssrc = be32(pkt, 8)?;
        let stream = self.stream(ssrc)?;
        let roc = stream.estimate(seq).ok_or(SrtpError::TooOld)?;
        let index = (u64::from(roc) << 16) | u64::from(seq);
        stream.update(roc, seq);
        let iv = self.rtp.iv(ssrc, index);
        let (pkt, rest) = buf.split_at_mut(len);
        apply_keystream(
            &self.rtp.cipher,
            &iv,
            pkt.get_mut(header..).unwrap_or_default(),
        );
        let tag = self.rtp.tag(pkt, &roc.to_be_bytes());
        rest.get_mut(..tag_len)
            .ok_or(SrtpError::BufferTooSmall)?
            .copy_from_slice(tag.get(..tag_len).ok_or(SrtpError::BufferTooSmall)?);
        Ok(out_len)
    }

    /// Authenticates and decrypts the SRTP packet `buf` in place: returns the length of
    /// the RTP packet (at the start of `buf`). Replays, packets older than the window and
    /// failed authentication are refused and change no state.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtp_tag_len();
        let len = buf.len().checked_sub(tag_len).ok_or(SrtpError::TooShort)?;
        let (pkt, tag) = buf.split_at_mut(len);
        let header = rtp_header_len(pkt)?;
        let seq = be16(pkt, 2)?;
        let ssrc = be32(pkt, 8)?;
        if self.is_retired(ssrc) && self.existing_stream(ssrc).is_none() {
            return Err(SrtpError::RetiredStream);
        }
        let stream = self
            .existing_stream(ssrc)
            .unwrap_or_else(|| Stream::new(ssrc));
        let roc = stream.estimate(seq).ok_or(SrtpError::TooOld)?;
        let index = (u64::from(roc) << 16) | u64::from(seq);
        stream.rtp_replay.check(index)?;
        self.rtp.verify(pkt, &roc.to_be_bytes(), tag)?;
        let iv = self.rtp.iv(ssrc, index);
        apply_keystream(
            &self.rtp.cipher,
            &iv,
            pkt.get_mut(header..).unwrap_or_default(),
        );
        let stream = self.stream(ssrc)?;
        stream.update(roc, seq);
        stream.rtp_replay.accept(index);
        Ok(len)
    }

    /// Encrypts and authenticates the RTCP compound packet `buf[..len]` in place, appending
    /// the E flag, the SRTCP index and the tag: returns the SRTCP packet's length. `buf`
    /// needs [`SrtpContext::rtcp_overhead`] spare bytes after `len`.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtcp_tag_len();
        let out_len = len + 4 + tag_len;
        if buf.len() < out_len {
            return Err(SrtpError::BufferTooSmall);
        }
        let pkt = buf.get(..len).ok_or(SrtpError::BufferTooSmall)?;
        rtcp_check(pkt)?;
        let ssrc = be32(pkt, 4)?;
        let stream = self.stream(ssrc)?;
        let index = stream.rtcp_next;
        if index >= E_FLAG {
            return Err(SrtpError::IndexExhausted);
        }
        stream.rtcp_next += 1;
        let iv = self.rtcp.iv(ssrc, u64::from(index));
        let (pkt, rest) = buf.split_at_mut(len);
        apply_keystream(&self.rtcp.cipher, &iv, pkt.get_mut(8..).unwrap_or_default());
        let (trailer, rest) = rest.split_at_mut(4);
        trailer.copy_from_slice(&(index | E_FLAG).to_be_bytes());
        let tag = self.rtcp.tag(pkt, trailer);
        rest.get_mut(..tag_len)
            .ok_or(SrtpError::BufferTooSmall)?
            .copy_from_slice(tag.get(..tag_len).ok_or(SrtpError::BufferTooSmall)?);
        Ok(out_len)
    }

    /// Authenticates and (when its E flag says so) decrypts the SRTCP packet `buf` in
    /// place: returns the length of the RTCP compound packet at the start of `buf`.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.suite.rtcp_tag_len();
        let body = buf.len().checked_sub(tag_len).ok_or(SrtpError::TooShort)?;
        let len = body.checked_sub(4).ok_or(SrtpError::TooShort)?;
        let (authenticated, tag) = buf.split_at_mut(body);
        let (pkt, trailer) = authenticated.split_at_mut(len);
        rtcp_check(pkt)?;
        let ssrc = be32(pkt, 4)?;
        let word = be32(trailer, 0)?;
        let index = word & !E_FLAG;
        match self.existing_stream(ssrc) {
            Some(s) => s.rtcp_replay.check(u64::from(index))?,
            None if self.is_retired(ssrc) => return Err(SrtpError::RetiredStream),
            None => {}
        }
        self.rtcp.verify(pkt, trailer, tag)?;
        if word & E_FLAG != 0 {
            let iv = self.rtcp.iv(ssrc, u64::from(index));
            apply_keystream(&self.rtcp.cipher, &iv, pkt.get_mut(8..).unwrap_or_default());
        }
        self.stream(ssrc)?.rtcp_replay.accept(u64::from(index));
        Ok(len)
    }
}
