//! SIP registrar and location service (RFC 3261 §10) with digest authentication
//! (RFC 7616 / RFC 8760: SHA-256 and MD5), brute-force lockout per source (never per user,
//! with exemptions for known devices: see [`limiter`]), and login/logout events.
//!
//! Sans-IO: [`Registrar::handle_register`] takes a parsed REGISTER, its source address and
//! the wall-clock time, and returns the response to send plus [`LocationEvent`]s; it never
//! reads a clock, opens a socket or spawns a task. Bindings live in a [`LocationTable`], a
//! cheap-to-clone concurrent map that INVITE routing reads while the registrar owner writes.
//! Expiry is driven by the caller: wait until [`Registrar::poll_timeout`], then call
//! [`Registrar::handle_timeout`]. This crate is not a proxy: it does not route INVITEs,
//! send OPTIONS keepalives, or run transactions (see `switchboard-sip`).
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use switchboard_registrar::{Registrar, RegistrarConfig, UserDirectory};
//! use switchboard_sip_message::{parse_datagram, Limits, Message, StatusCode};
//!
//! let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000); // the driver's wall clock
//! let users: UserDirectory = [("1001", "secret")].into_iter().collect();
//! let secret = [7u8; 32]; // from config or the OS RNG
//! let mut registrar = Registrar::new(now, RegistrarConfig::new("pbx.example"), users, secret);
//! let routing = registrar.location(); // clone for INVITE routing tasks
//!
//! let bytes = b"REGISTER sip:pbx.example SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\nFrom: <sip:1001@pbx.example>;tag=a\r\n\
//!     To: <sip:1001@pbx.example>\r\nCall-ID: x\r\nCSeq: 1 REGISTER\r\n\
//!     Contact: <sip:1001@10.0.0.5>\r\nContent-Length: 0\r\n\r\n";
//! let Ok(Message::Request(req)) = parse_datagram(bytes, &Limits::default()) else { panic!() };
//! let out = registrar.handle_register(now, "10.0.0.5:5060".parse().unwrap(), "UDP", &req);
//! assert_eq!(out.response.status, StatusCode::UNAUTHORIZED); // send out.response back
//! assert!(out.events.is_empty()); // else forward to the ACD
//! assert!(routing.lookup("1001").is_empty());
//!
//! // Timer: sleep until poll_timeout(), then handle_timeout(now) and forward its events.
//! assert_eq!(registrar.poll_timeout(), None);
//! assert!(registrar.handle_timeout(now).is_empty());
//! ```

#![warn(missing_docs)]

pub mod digest;
pub mod limiter;
mod location;
mod nonce;
mod registrar;

pub use digest::{Algorithm, Ha1, HashKind};
pub use limiter::{source_key, LockoutConfig, LockoutStarted};
pub use location::{contact_key, Binding, LocationEvent, LocationTable, LogoutReason};
pub use registrar::{
    http_date, AuthStats, Disposition, RegisterOutcome, Registrar, RegistrarConfig, RequestAuth,
    RequestAuthOutcome, UserDirectory, MAX_CONTACTS_PER_REQUEST,
};
