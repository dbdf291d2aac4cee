//! RTP/RTCP packets, RFC 4733 events and the jitter buffer as sans-IO cores. No sockets, no clock.
