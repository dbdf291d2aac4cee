//! SIP registrar and location service: digest authentication, bindings, login/logout events; sans-IO.

#![warn(missing_docs)]

pub mod digest;
pub mod limiter;
mod nonce;
