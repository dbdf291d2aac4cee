//! SDP session model and offer/answer (RFC 4566, RFC 3264). No media, no I/O.
