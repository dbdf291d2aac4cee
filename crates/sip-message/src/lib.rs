//! SIP message model: parse and print requests and responses, typed headers, URIs. No transactions, no I/O.
