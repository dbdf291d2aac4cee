//! Transport kinds as far as the transaction layer cares: reliable or not, and the Via token.

/// The transport a message came in on or must go out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, the transaction layer retransmits.
    Udp,
    /// TCP: reliable, no retransmissions, timers D/I/J/K are zero.
    Tcp,
    /// TLS over TCP: reliable, as TCP.
    Tls,
}

impl Transport {
    /// True for stream transports, where RFC 3261 turns retransmissions off.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
    /// The token used in a Via header (`SIP/2.0/UDP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
    /// Parses a Via transport token (case-insensitive); `None` for SCTP, WS and others.
    pub fn from_token(s: &str) -> Option<Transport> {
        if s.eq_ignore_ascii_case("UDP") {
            Some(Transport::Udp)
        } else if s.eq_ignore_ascii_case("TCP") {
            Some(Transport::Tcp)
        } else if s.eq_ignore_ascii_case("TLS") {
            Some(Transport::Tls)
        } else {
            None
        }
    }
    /// Default port when a Via or URI names none: 5061 for TLS, 5060 otherwise.
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            _ => 5060,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
