//! RTP/RTCP packets (RFC 3550), RFC 4733 telephone events, receiver statistics, the
//! per-leg RTP session and the adaptive jitter buffer, as sans-IO cores. No sockets, no
//! clock, no codecs: the driver passes datagrams, their source address and
//! `now: Instant` in, and drains datagrams to send and events out. Randomness (SSRC,
//! initial sequence number and timestamp) comes from a seeded RNG passed in.
//! Not SRTP, not a mixer or codec (see `switchboard-media`), not SDP (`switchboard-sdp`).
//!
//! Receive path, per leg: [`RtpSession::handle_rtp`] (latching, strict source, stats)
//! returns the accepted [`RtpPacket`]; telephone-event packets go to a
//! [`DtmfReceiver`], audio to a [`JitterBuffer`], which the playout clock drains with
//! [`JitterBuffer::pop`] every ptime.
#![warn(missing_docs)]

pub mod dtmf;
pub mod jitter;
pub mod packet;
pub mod rtcp;
pub mod session;
pub mod stats;

pub use dtmf::{
    char_for_event, event_for_char, DigitEnd, DigitEvent, DtmfError, DtmfPacket, DtmfReceiver,
    DtmfSender, TelephoneEvent,
};
pub use jitter::{Buffered, JitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub use packet::{looks_like_rtcp, CsrcList, RtpError, RtpExtension, RtpHeader, RtpPacket};
pub use rtcp::{
    parse_compound, write_compound, Bye, ReceiverReport, ReportBlock, RtcpError, RtcpPacket,
    SdesChunk, SdesItem, SenderReport,
};
pub use session::{
    Channel, Latching, Rejected, Relayed, RtpSession, RtpSessionConfig, SessionEvent,
    SessionOutput, SessionStats, NAT_LATCH_WINDOW, RELAY_MAX_JUMP,
};
pub use stats::{
    ntp_middle32, rtt_from_report, NtpClock, PeerReport, ReceiverStats, ReceptionState, SeqVerdict,
};

/// Base of the fake clock used by unit tests: any fixed instant will do, time then only
/// moves by explicit additions.
#[cfg(test)]
pub(crate) fn test_epoch() -> std::time::Instant {
    switchboard_test_support::epoch()
}
