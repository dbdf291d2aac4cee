//! Lockout without denial of service (issue 12, item 5), against the real binary with
//! SIPp on several loopback source addresses: a password guesser locks only its own
//! source; the real user on another address, and a refresh of an existing binding from an
//! address that others' failures locked, both get 200; a locked source gets the same 403
//! for known and unknown users; the lockout is a metric and a warn log line that does not
//! name the source.

use std::net::UdpSocket;

use switchboard_e2e::hostile::{metric, sipp_from};
use switchboard_e2e::{require_peer, sipp_trace, Server};

/// A free UDP port on `ip` (so a second SIPp run can reuse the binding's source address).
fn free_port(ip: &str) -> String {
    let s = UdpSocket::bind((ip, 0)).expect("bind probe socket");
    s.local_addr().expect("addr").port().to_string()
}

#[test]
fn bad_registers_lock_the_source_not_the_user_nor_existing_bindings() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("hardening-lockout", "");
    let ok = |out: &std::process::Output, what: &str| {
        assert!(
            out.status.success(),
            "{what}: {}\nserver log:\n{}",
            sipp_trace(out),
            server.log_text()
        );
    };
    let creds = ["-s", "1002", "-au", "1002", "-ap", "secret-1002", "-m", "1"];

    // 1002's phone at 127.0.0.4 holds a binding.
    let phone_port = free_port("127.0.0.4");
    let mut phone_args = creds.to_vec();
    phone_args.extend(["-p", phone_port.as_str()]);
    let out = sipp_from(
        "127.0.0.4",
        "register_keep.xml",
        server.sip,
        &phone_args,
        30,
    );
    ok(&out, "first registration of the phone");

    // 20 bad REGISTERs for 1002 from 127.0.0.2.
    let guess = ["-s", "1002", "-au", "1002", "-ap", "wrong", "-m", "20"];
    let out = sipp_from("127.0.0.2", "register_guess.xml", server.sip, &guess, 60);
    ok(&out, "guesser");
    assert!(metric(&server, "switchboard_register_lockouts_total").unwrap_or(0.0) >= 1.0);
    assert!(metric(&server, "switchboard_register_locked_sources").unwrap_or(0.0) >= 1.0);
    assert!(metric(&server, "switchboard_register_auth_failures_total").unwrap_or(0.0) >= 10.0);

    // The guesser's source now gets 403 unevaluated, for a real user and an unknown one.
    for user in ["1002", "9999"] {
        let out = sipp_from(
            "127.0.0.2",
            "register_locked.xml",
            server.sip,
            &["-s", user, "-m", "1"],
            30,
        );
        ok(&out, &format!("locked source, user {user}"));
    }
    assert!(metric(&server, "switchboard_register_locked_rejections_total").unwrap_or(0.0) >= 2.0);

    // The real 1002 on another address registers.
    let out = sipp_from("127.0.0.3", "register_keep.xml", server.sip, &creds, 30);
    ok(&out, "1002 from another address during the lockout");

    // Failures from the phone's own IP (another port: a NAT neighbour or spoofed UDP)
    // lock that IP too ...
    let guess = ["-s", "1003", "-au", "1003", "-ap", "wrong", "-m", "20"];
    let out = sipp_from("127.0.0.4", "register_guess.xml", server.sip, &guess, 60);
    ok(&out, "guesser at the phone's IP");
    let out = sipp_from(
        "127.0.0.4",
        "register_locked.xml",
        server.sip,
        &["-s", "1004", "-m", "1"],
        30,
    );
    ok(&out, "a new user from the locked phone IP is refused");
    // ... but the phone's refresh from its binding's address still gets 200.
    let out = sipp_from(
        "127.0.0.4",
        "register_keep.xml",
        server.sip,
        &phone_args,
        30,
    );
    ok(&out, "refresh of the existing binding");
    assert!(metric(&server, "switchboard_register_lockout_exemptions_total").unwrap_or(0.0) >= 1.0);
    assert!(metric(&server, "switchboard_register_lockouts_total").unwrap_or(0.0) >= 2.0);

    // A warn line per lockout, without the source address.
    let log = server.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("REGISTER source locked out"))
        .collect();
    assert!(lines.len() >= 2, "lockout log lines:\n{log}");
    for l in lines {
        assert!(l.contains("WARN"), "{l}");
        assert!(!l.contains("127.0.0."), "source not masked: {l}");
    }
}
