//! tokio SIP transports: UDP and TCP on the same address, TLS on its own, IPv4 and IPv6, with TCP
//! connection reuse, idle timeout and a connection cap. It frames and parses messages
//! (datagram rules on UDP, Content-Length framing on TCP) and hands them to the caller
//! with their source through one bounded inbound queue served round-robin per source
//! ([`InboundReceiver`]); it sends bytes where it is told.
//!
//! It is not a protocol layer: it makes no SIP decisions (no retransmissions, no
//! response routing by Via — that is `switchboard-sip`'s job); and it is not the media
//! path (RTP sockets come from [`RtpPortPool`]).
#![warn(missing_docs)]

mod inbound_queue;
mod rtp_ports;
mod sip_tls;
mod sip_transport;

pub use rtp_ports::{RtpPortPool, RtpSocketPair};
pub use sip_tls::{cert_sha256_hex, TlsListen, TlsPeer};
pub use sip_transport::{
    Inbound, InboundReceiver, PriorityClass, SipTransport, TransportConfig, TransportError,
    TransportKind, TransportStats,
};
