//! Brute-force protection on REGISTER on a fake clock: a guessing source is locked, the
//! user is not, and a device that authenticated stays exempt.

mod phone;

use phone::*;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use switchboard_registrar::{
    Algorithm, Disposition, LockoutConfig, RegisterOutcome, Registrar, RegistrarConfig,
};
use switchboard_sip_message::StatusCode;

fn lockout_cfg() -> RegistrarConfig {
    let mut cfg = RegistrarConfig::new(REALM);
    cfg.lockout = LockoutConfig {
        max_failures: 3,
        window: Duration::from_secs(60),
        cooldown: Duration::from_secs(300),
        capacity: 1024,
        ..LockoutConfig::default()
    };
    cfg
}

/// One failed digest attempt for `user` from `from` (challenge, then a wrong answer).
fn fail_from(r: &mut Registrar, now: SystemTime, from: SocketAddr, user: &str) -> RegisterOutcome {
    let mut reg = Reg::new(user);
    reg.call_id = "attacker";
    let first = r.handle_register(now, from, "UDP", &reg.build());
    if first.response.status != StatusCode::UNAUTHORIZED {
        return first;
    }
    let n = nonce_of(&first.response);
    reg.cseq += 1;
    reg.auth = Some(auth(user, "guess", &n, Algorithm::Sha256, 1));
    r.handle_register(now, from, "UDP", &reg.build())
}

/// A full login of `reg` from `from`: the challenge, then the right answer.
fn login_from(
    r: &mut Registrar,
    now: SystemTime,
    from: SocketAddr,
    reg: &mut Reg<'_>,
    pw: &str,
) -> RegisterOutcome {
    reg.auth = None;
    let first = r.handle_register(now, from, "UDP", &reg.build());
    if first.response.status != StatusCode::UNAUTHORIZED {
        return first;
    }
    let n = nonce_of(&first.response);
    reg.cseq += 1;
    reg.auth = Some(auth(reg.user, pw, &n, Algorithm::Sha256, 1));
    r.handle_register(now, from, "UDP", &reg.build())
}

#[test]
fn brute_force_from_one_ip_locks_that_ip() {
    let mut r = registrar_with(lockout_cfg());
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    for (i, user) in ["alice", "bob", "zed"].iter().enumerate() {
        reg.cseq += 1;
        reg.auth = Some(auth(user, "guess", &n, Algorithm::Sha256, i as u32 + 1));
        assert_eq!(
            send(&mut r, t(2), &reg.build()).disposition,
            Disposition::AuthFailed
        );
    }
    // Now even the right password from that IP is refused unevaluated, as is a bare
    // request.
    reg.cseq += 1;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 9));
    let out = send(&mut r, t(3), &reg.build());
    assert_eq!(out.response.status, StatusCode::FORBIDDEN);
    assert!(challenges(&out.response).is_empty());
    reg.auth = None;
    assert_eq!(
        send(&mut r, t(3), &reg.build()).disposition,
        Disposition::LockedOut
    );
    assert_eq!(out.disposition, Disposition::LockedOut);
    let st = r.stats(t(3));
    assert_eq!(st.failures, 3);
    assert_eq!(st.locked_ips, 1);
    assert_eq!(st.lockouts_started, 1);
    assert!(st.locked_rejections >= 1);
    // Another IP is unaffected.
    let other = addr("198.51.100.7:5060");
    reg.auth = None;
    let out = r.handle_register(t(3), other, "UDP", &reg.build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    // After the cooldown the IP may try again.
    let (_, out) = login(&mut r, t(303), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    assert_eq!(r.stats(t(303)).locked_ips, 0);
}

#[test]
fn guessing_from_many_sources_never_locks_the_user_out() {
    let mut r = registrar_with(lockout_cfg());
    let mut phone = Reg::new("alice");
    let (_, out) = login(&mut r, t(1), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Attackers from three addresses guess alice's password; each address gets locked.
    let mut started = 0;
    for i in 0..3u8 {
        let from = addr(&format!("203.0.113.{}:5060", i + 1));
        for _ in 0..3 {
            let out = fail_from(&mut r, t(2), from, "alice");
            assert_eq!(out.disposition, Disposition::AuthFailed);
            if let Some(l) = out.lockout {
                assert_eq!(l.source, from.ip());
                assert_eq!(l.cooldown, Duration::from_secs(300));
                assert_eq!(l.strike, 1);
                started += 1;
            }
        }
        assert_eq!(
            fail_from(&mut r, t(2), from, "alice").disposition,
            Disposition::LockedOut
        );
    }
    assert_eq!(started, 3);
    let st = r.stats(t(2));
    assert_eq!(st.locked_ips, 3);
    assert_eq!(st.lockouts_started, 3);
    // alice from a fourth address (a new phone) with the right password: 200.
    let mut newphone = Reg::new("alice");
    newphone.call_id = "newphone";
    newphone.contacts = vec!["<sip:alice@10.0.0.77:5060>".into()];
    let out = login_from(
        &mut r,
        t(3),
        addr("198.51.100.77:5060"),
        &mut newphone,
        "wonderland",
    );
    assert_eq!(out.response.status, StatusCode::OK);
    // The registered phone keeps refreshing.
    let (_, out) = login(&mut r, t(4), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
}

#[test]
fn a_locked_source_gets_the_same_403_for_known_and_unknown_users() {
    let mut r = registrar_with(lockout_cfg());
    let from = addr("203.0.113.5:5060");
    for _ in 0..3 {
        fail_from(&mut r, t(1), from, "nobody");
    }
    let mut answers = Vec::new();
    for user in ["alice", "nobody"] {
        // A bare request and one with (even right) credentials: 403, no challenge.
        let reg = Reg::new(user);
        let out = r.handle_register(t(2), from, "UDP", &reg.build());
        assert_eq!(out.disposition, Disposition::LockedOut, "{user}");
        assert!(challenges(&out.response).is_empty());
        let mut with_auth = Reg::new(user);
        with_auth.auth = Some(auth(user, "wonderland", "0", Algorithm::Sha256, 1));
        let out2 = r.handle_register(t(2), from, "UDP", &with_auth.build());
        assert_eq!(out2.response.status, StatusCode::FORBIDDEN, "{user}");
        answers.push((out.response.status, out.response.reason.clone()));
    }
    assert_eq!(answers[0], answers[1]);
}

#[test]
fn spoofed_failures_from_a_devices_address_do_not_stop_its_refresh() {
    let mut r = registrar_with(lockout_cfg());
    let mut phone = Reg::new("alice");
    let out = login_from(&mut r, t(1), src(), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Someone else at the phone's IP (another port: a NAT neighbour or spoofed UDP)
    // guesses bob's password and locks the IP.
    let other_port = addr("192.0.2.10:6000");
    let mut locked = false;
    for _ in 0..3 {
        locked |= fail_from(&mut r, t(2), other_port, "bob").lockout.is_some();
    }
    assert!(locked);
    // bob from that IP is refused (never authenticated there) ...
    let mut bob = Reg::new("bob");
    let out = login_from(&mut r, t(3), addr("192.0.2.10:7000"), &mut bob, "builder");
    assert_eq!(out.disposition, Disposition::LockedOut);
    // ... but alice's phone refreshes: the challenge and the 200.
    let out = login_from(&mut r, t(3), src(), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Exempt for alice does not mean exempt for another digest username.
    phone.auth = Some(auth("bob", "builder", "0", Algorithm::Sha256, 1));
    phone.cseq += 1;
    let out = send(&mut r, t(3), &phone.build());
    assert_eq!(out.disposition, Disposition::LockedOut);
    assert!(r.stats(t(3)).lockout_exemptions >= 2);
}

#[test]
fn a_source_that_authenticated_the_user_today_stays_exempt_for_24_hours() {
    let mut cfg = lockout_cfg();
    cfg.lockout.max_cooldown = Duration::from_secs(48 * 3600);
    cfg.lockout.cooldown = Duration::from_secs(30 * 3600);
    let mut r = registrar_with(cfg);
    let mut phone = Reg::new("alice");
    phone.expires = Some(60);
    let out = login_from(&mut r, t(1), src(), &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // The binding lapses (the phone rebooted), then the IP is locked for 30 h.
    r.handle_timeout(t(100));
    assert!(r.location().lookup("alice").is_empty());
    for _ in 0..3 {
        fail_from(&mut r, t(200), addr("192.0.2.10:6000"), "bob");
    }
    // From a new port, without a binding: still exempt (authenticated there at t(1)).
    let rebooted = addr("192.0.2.10:5999");
    let out = login_from(&mut r, t(300), rebooted, &mut phone, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Its new binding keeps it exempt as long as it refreshes; a source whose trust ran
    // out is locked like any other.
    let mut other = Reg::new("alice");
    other.call_id = "other";
    other.contacts = vec!["<sip:alice@10.0.0.9:5060>".into()];
    let day = 24 * 3600;
    r.handle_timeout(t(300 + day + 60));
    let out = login_from(
        &mut r,
        t(300 + day + 60),
        addr("192.0.2.10:5000"),
        &mut other,
        "wonderland",
    );
    assert_eq!(out.disposition, Disposition::LockedOut);
}
