//! Fuzz the digest `Authorization`/`Proxy-Authorization` parser and the response
//! computation: any text gives Ok or a typed error; accepted credentials can be checked
//! against a password without a panic, for every algorithm they name.
//! Run: `cargo fuzz run digest_credentials` from `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_registrar::digest::{
    compute_response, constant_time_eq, Credentials, ResponseInput,
};
use switchboard_registrar::Ha1;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = Credentials::parse(text) else {
        return;
    };
    // Whatever was accepted can be verified like a real REGISTER would be.
    let ha1 = Ha1::from_password(c.algorithm.hash(), &c.username, "switchboard", "secret");
    let input = ResponseInput {
        algorithm: c.algorithm,
        ha1: &ha1,
        nonce: &c.nonce,
        qop: c
            .qop
            .as_ref()
            .map(|q| (q.nc_text.as_str(), q.cnonce.as_str(), q.qop)),
        method: "REGISTER",
        uri: &c.uri,
    };
    let expected = compute_response(&input);
    let _ = constant_time_eq(expected.as_bytes(), c.response.as_bytes());
    let _ = format!("{c:?}");
});
