//! Trunk digest accounts against the real binary on loopback (issue 12, item 1): the
//! credentials of a `[[sip.trunk_auth]]` carrier authenticate its INVITEs, never a
//! REGISTER. A REGISTER that proves the trunk's password gets 403 (a wrong password gets
//! the ordinary 401, so a guesser learns nothing), binds nothing, and is logged.

use switchboard_e2e::raw_sip::RawPhone;
use switchboard_e2e::Server;

#[test]
fn register_with_a_trunk_digest_account_gets_403_and_binds_nothing() {
    let server = Server::start(
        "trunk-account-register",
        "[[sip.trunk_auth]]\nusername = \"carrier\"\npassword = \"carrier-secret\"\n",
    );
    let mut phone = RawPhone::bind("127.0.0.1", server.sip);
    assert_eq!(
        phone.register("carrier", "wrong-guess"),
        401,
        "a wrong trunk password is an ordinary failure"
    );
    let mut phone = RawPhone::bind("127.0.0.1", server.sip);
    assert_eq!(
        phone.register("carrier", "carrier-secret"),
        403,
        "the trunk's own credentials may not register"
    );
    let (status, body) = server.http_get("/api/v1/registrations");
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("carrier"),
        "no binding for the trunk account: {body}"
    );
    assert!(
        server
            .log_text()
            .contains("REGISTER with a trunk's INVITE-only digest account refused with 403"),
        "the refusal is logged"
    );
    // A user's registration from the same address is unaffected.
    let mut agent = RawPhone::bind("127.0.0.1", server.sip);
    assert_eq!(agent.register("1001", "secret-1001"), 200);
}
