//! tokio SIP transports (UDP, TCP) and the RTP port pool. No protocol decisions.
