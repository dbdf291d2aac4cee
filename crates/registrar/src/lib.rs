//! SIP registrar and location service (RFC 3261 §10) with digest authentication
//! (RFC 7616 / RFC 8760: SHA-256 and MD5), brute-force lockout, and login/logout events.
//!
//! Sans-IO: [`Registrar::handle_register`] takes a parsed REGISTER, its source address and
//! the wall-clock time, and returns the response to send plus [`LocationEvent`]s; it never
//! reads a clock, opens a socket or spawns a task. Bindings live in a [`LocationTable`], a
//! cheap-to-clone concurrent map that INVITE routing reads while the registrar owner writes.
//! Expiry is driven by the caller: wait until [`Registrar::poll_timeout`], then call
//! [`Registrar::handle_timeout`]. This crate is not a proxy: it does not route INVITEs,
//! send OPTIONS keepalives, or run transactions (see `switchboard-sip`).

#![warn(missing_docs)]

pub mod digest;
pub mod limiter;
mod location;
mod nonce;
mod registrar;

pub use digest::{Algorithm, Ha1, HashKind};
pub use limiter::LockoutConfig;
pub use location::{contact_key, Binding, LocationEvent, LocationTable, LogoutReason};
pub use registrar::{
    http_date, AuthStats, Disposition, RegisterOutcome, Registrar, RegistrarConfig, UserDirectory,
    MAX_CONTACTS_PER_REQUEST,
};
