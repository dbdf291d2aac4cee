//! RTP/RTCP packets (RFC 3550), RFC 4733 telephone events, receiver statistics, the
//! per-leg RTP session and the jitter buffer, as sans-IO cores. No sockets, no clock,
//! no codecs: the driver passes datagrams, their source address and `now: Instant` in,
//! and drains datagrams to send and events out. Not SRTP, not a mixer, not SDP.
#![warn(missing_docs)]

pub mod packet;

pub use packet::{looks_like_rtcp, CsrcList, RtpError, RtpExtension, RtpHeader, RtpPacket};
pub mod rtcp;

pub use rtcp::{
    parse_compound, write_compound, Bye, ReceiverReport, ReportBlock, RtcpError, RtcpPacket,
    SdesChunk, SdesItem, SenderReport,
};
pub mod dtmf;

pub use dtmf::{
    char_for_event, event_for_char, DigitEnd, DigitEvent, DtmfError, DtmfPacket, DtmfReceiver,
    DtmfSender, TelephoneEvent,
};

/// Base of the fake clock used by unit tests: any fixed instant will do, time then only
/// moves by explicit additions.
#[cfg(test)]
#[allow(clippy::disallowed_methods)]
pub(crate) fn test_epoch() -> std::time::Instant {
    std::time::Instant::now()
}
pub mod stats;

pub use stats::{
    ntp_middle32, rtt_from_report, NtpClock, ReceiverStats, ReceptionState, SeqVerdict,
};
pub mod jitter;

pub use jitter::{JitterBuffer, JitterConfig, JitterStats, Playout, PushOutcome};
pub mod session;

pub use session::{
    Channel, Latching, Rejected, RtpSession, RtpSessionConfig, SessionEvent, SessionOutput,
    SessionStats,
};
