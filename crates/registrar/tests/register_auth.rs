//! Digest authentication of REGISTER on a fake clock: challenges and algorithms, nonce
//! staleness and reuse, the checks on the digest's user, URI and realm, precomputed HA1,
//! legacy RFC 2069, and unknown users looking the same as wrong passwords.

mod phone;

use phone::*;
use switchboard_registrar::digest::{compute_response, ResponseInput};
use switchboard_registrar::{
    Algorithm, Disposition, Ha1, HashKind, Registrar, RegistrarConfig, UserDirectory,
};
use switchboard_sip_message::StatusCode;

#[test]
fn unauthenticated_register_gets_sha256_then_md5_challenge() {
    let mut r = registrar();
    let out = send(&mut r, t(1), &Reg::new("alice").build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.disposition, Disposition::Challenged);
    let ch = challenges(&out.response);
    assert_eq!(ch.len(), 2);
    assert!(ch[0].contains("algorithm=SHA-256"), "{}", ch[0]);
    assert!(ch[1].contains("algorithm=MD5"), "{}", ch[1]);
    for c in &ch {
        assert!(c.starts_with("Digest realm=\"sb.example\""), "{c}");
        assert!(c.contains("qop=\"auth\""));
        assert!(!c.contains("stale"));
    }
    // Same nonce in both.
    let n0 = nonce_of(&out.response);
    assert!(ch[1].contains(&n0));
    // A To tag is added.
    let to = out.response.headers.to().expect("To");
    assert!(to.tag().is_some());
    assert!(out.events.is_empty());
    assert!(r.location().lookup("alice").is_empty());
}

#[test]
fn md5_answer_is_accepted_too() {
    let mut r = registrar();
    let mut reg = Reg::new("bob");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Md5, 1));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::OK);
}

#[test]
fn sess_and_unoffered_algorithms() {
    // -sess is rejected unless offered.
    let mut r = registrar();
    let mut reg = Reg::new("bob");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Sha256Sess, 1));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.disposition, Disposition::Challenged);

    let mut cfg = RegistrarConfig::new(REALM);
    cfg.algorithms = vec![Algorithm::Sha256Sess, Algorithm::Md5Sess];
    let mut r = registrar_with(cfg);
    reg.auth = None;
    let first = send(&mut r, t(1), &reg.build());
    assert!(challenges(&first.response)[0].contains("algorithm=SHA-256-sess"));
    let n = nonce_of(&first.response);
    reg.cseq = 3;
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Md5Sess, 1));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).response.status,
        StatusCode::OK
    );
}

#[test]
fn wrong_password_is_never_200() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    for i in 0..5u32 {
        reg.auth = None;
        let n = nonce_of(&send(&mut r, t(u64::from(i)), &reg.build()).response);
        reg.cseq += 1;
        for alg in [Algorithm::Sha256, Algorithm::Md5] {
            reg.auth = Some(auth("alice", "Wonderland", &n, alg, 1));
            let out = send(&mut r, t(u64::from(i)), &reg.build());
            assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
            assert_eq!(out.disposition, Disposition::AuthFailed);
            assert!(!challenges(&out.response)[0].contains("stale"));
            assert!(out.events.is_empty());
        }
    }
    assert!(r.location().lookup("alice").is_empty());
    assert_eq!(r.stats(t(5)).failures, 10);
}

#[test]
fn expired_nonce_with_right_response_gets_stale_true() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(0), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 1));
    let out = send(&mut r, t(301), &reg.build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.disposition, Disposition::Stale);
    let ch = challenges(&out.response);
    assert_eq!(ch.len(), 2);
    assert!(ch.iter().all(|c| c.contains("stale=true")));
    assert_ne!(nonce_of(&out.response), n);
    // The same stale nonce with a wrong password is a plain failure, not stale.
    reg.cseq = 3;
    reg.auth = Some(auth("alice", "nope", &n, Algorithm::Sha256, 2));
    let out = send(&mut r, t(301), &reg.build());
    assert_eq!(out.disposition, Disposition::AuthFailed);
    assert!(!challenges(&out.response)[0].contains("stale"));
    // Retrying with the fresh nonce works.
    let (_, out) = login(&mut r, t(302), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
}

#[test]
fn nonce_reuse_needs_increasing_nc() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let (n, out) = login(&mut r, t(1), &mut reg, "wonderland");
    assert_eq!(out.response.status, StatusCode::OK);
    // Exact replay of the accepted request.
    let replay = send(&mut r, t(2), &reg.build());
    assert_eq!(replay.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.disposition, Disposition::Replay);
    assert!(challenges(&replay.response)[0].contains("stale=true"));
    // Refresh with nc=2 on the same nonce is fine; nc=2 again is not.
    reg.cseq += 1;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 2));
    assert_eq!(
        send(&mut r, t(3), &reg.build()).response.status,
        StatusCode::OK
    );
    reg.cseq += 1;
    let again = send(&mut r, t(4), &reg.build());
    assert_eq!(again.disposition, Disposition::Replay);
    assert_eq!(r.stats(t(4)).replays, 2);
}

#[test]
fn nonces_from_before_a_restart_are_stale() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    let users: UserDirectory = [("alice", "wonderland")].into_iter().collect();
    let mut restarted = Registrar::new(t(2), RegistrarConfig::new(REALM), users, SECRET);
    reg.cseq = 2;
    reg.auth = Some(auth("alice", "wonderland", &n, Algorithm::Sha256, 1));
    let out = send(&mut restarted, t(3), &reg.build());
    assert_eq!(out.disposition, Disposition::Stale);
}

#[test]
fn to_must_match_authenticated_user() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    // bob's valid credentials on alice's AOR.
    reg.auth = Some(auth("bob", "builder", &n, Algorithm::Sha256, 1));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::FORBIDDEN);
    assert!(matches!(out.disposition, Disposition::Forbidden(_)));
    assert!(r.location().lookup("alice").is_empty());
    assert!(r.location().lookup("bob").is_empty());
}

#[test]
fn digest_uri_and_realm_are_checked() {
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(authorization(
        "alice",
        "wonderland",
        REALM,
        &n,
        Algorithm::Sha256,
        1,
        "cn",
        "sip:elsewhere.example",
    ));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).response.status,
        StatusCode::BAD_REQUEST
    );
    reg.auth = Some(authorization(
        "alice",
        "wonderland",
        "other.realm",
        &n,
        Algorithm::Sha256,
        1,
        "cn",
        &format!("sip:{REALM}"),
    ));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.disposition, Disposition::Challenged);
}

#[test]
fn precomputed_ha1_users() {
    let mut users = UserDirectory::new();
    users.insert_ha1(
        "carol",
        Ha1::from_password(HashKind::Sha256, "carol", REALM, "s3cret"),
    );
    let mut r = Registrar::new(t(0), RegistrarConfig::new(REALM), users, SECRET);
    let mut reg = Reg::new("carol");
    let (n, out) = login(&mut r, t(1), &mut reg, "s3cret");
    assert_eq!(out.response.status, StatusCode::OK);
    // No MD5 HA1 configured: MD5 never authenticates.
    reg.cseq += 1;
    reg.auth = Some(auth("carol", "s3cret", &n, Algorithm::Md5, 2));
    assert_eq!(
        send(&mut r, t(2), &reg.build()).disposition,
        Disposition::AuthFailed
    );
}

#[test]
fn legacy_rfc2069_is_off_by_default_and_single_use_when_on() {
    fn legacy(user: &str, pw: &str, nonce: &str) -> String {
        let ha1 = Ha1::from_password(HashKind::Md5, user, REALM, pw);
        let uri = format!("sip:{REALM}");
        let resp = compute_response(&ResponseInput {
            algorithm: Algorithm::Md5,
            ha1: &ha1,
            nonce,
            qop: None,
            method: "REGISTER",
            uri: &uri,
        });
        format!(
            "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\""
        )
    }
    let mut r = registrar();
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(legacy("alice", "wonderland", &n));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).disposition,
        Disposition::Challenged
    );

    let mut cfg = RegistrarConfig::new(REALM);
    cfg.allow_rfc2069 = true;
    let mut r = registrar_with(cfg);
    reg.auth = None;
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 3;
    reg.auth = Some(legacy("alice", "wonderland", &n));
    assert_eq!(
        send(&mut r, t(1), &reg.build()).response.status,
        StatusCode::OK
    );
    reg.cseq = 4;
    assert_eq!(
        send(&mut r, t(2), &reg.build()).disposition,
        Disposition::Replay
    );
}

/// Replaces the value of every `nonce="..."` with a placeholder.
fn mask_nonces(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes).into_owned();
    let mut out = String::new();
    let mut rest = s.as_str();
    while let Some(i) = rest.find("nonce=\"") {
        out.push_str(&rest[..i + 7]);
        rest = &rest[i + 7..];
        let j = rest.find('"').unwrap_or(rest.len());
        out.push_str("NONCE");
        rest = &rest[j..];
    }
    out.push_str(rest);
    out
}

#[test]
fn unknown_user_and_wrong_password_look_identical() {
    let mut r = registrar();
    // Identical requests except the username inside Authorization.
    let mut base = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &base.build()).response);
    base.cseq = 2;
    base.auth = Some(auth("alice", "guess", &n, Algorithm::Sha256, 1));
    let known = send(&mut r, t(1), &base.build());
    base.auth = Some(auth("mallory", "guess", &n, Algorithm::Sha256, 1));
    let unknown = send(&mut r, t(1), &base.build());
    assert_eq!(known.response.status, StatusCode::UNAUTHORIZED);
    assert_eq!(known.disposition, unknown.disposition);
    assert_ne!(nonce_of(&known.response), nonce_of(&unknown.response));
    assert_eq!(
        mask_nonces(&known.response.to_bytes()),
        mask_nonces(&unknown.response.to_bytes())
    );
    // Also identical with MD5.
    base.auth = Some(auth("alice", "guess", &n, Algorithm::Md5, 1));
    let known = send(&mut r, t(1), &base.build());
    base.auth = Some(auth("mallory", "guess", &n, Algorithm::Md5, 1));
    let unknown = send(&mut r, t(1), &base.build());
    assert_eq!(
        mask_nonces(&known.response.to_bytes()),
        mask_nonces(&unknown.response.to_bytes())
    );
    // Unknown user's correct-looking answer for its own AOR is a failure too.
    let mut m = Reg::new("mallory");
    let (_, out) = login(&mut r, t(2), &mut m, "anything");
    assert_eq!(out.disposition, Disposition::AuthFailed);
}

/// Rough timing of the failure path for a known vs an unknown user. Ignored by default
/// (timing); run with `cargo test -p switchboard-registrar --release -- --ignored --nocapture`.
#[test]
#[ignore]
#[allow(clippy::disallowed_methods)] // measuring real time is the point here
fn timing_known_vs_unknown_user() {
    let mut cfg = RegistrarConfig::new(REALM);
    cfg.lockout.max_failures = u32::MAX;
    let mut r = registrar_with(cfg);
    let mut reg = Reg::new("alice");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    reg.cseq = 2;
    reg.auth = Some(auth("alice", "guess", &n, Algorithm::Sha256, 1));
    let known = reg.build();
    reg.auth = Some(auth("mallory", "guess", &n, Algorithm::Sha256, 1));
    let unknown = reg.build();
    let rounds = 20_000u32;
    let mut best = [u128::MAX; 2];
    for _ in 0..5 {
        for (i, req) in [&known, &unknown].into_iter().enumerate() {
            let start = switchboard_test_support::Stopwatch::start();
            for _ in 0..rounds {
                let out = send(&mut r, t(2), req);
                assert_eq!(out.disposition, Disposition::AuthFailed);
            }
            best[i] = best[i].min(start.elapsed().as_nanos() / u128::from(rounds));
        }
    }
    println!(
        "failure path ns/request: known={} unknown={}",
        best[0], best[1]
    );
    let (lo, hi) = (best[0].min(best[1]), best[0].max(best[1]));
    assert!(
        hi * 10 < lo * 13,
        "known/unknown differ by more than 30%: {best:?}"
    );
}

#[test]
fn trunk_account_authenticates_but_may_not_register() {
    let mut users: UserDirectory = [("alice", "wonderland")].into_iter().collect();
    users.insert_invite_only_password("carrier", "trunkpw");
    let mut r = Registrar::new(t(0), RegistrarConfig::new(REALM), users, SECRET);
    let mut reg = Reg::new("carrier");
    let n = nonce_of(&send(&mut r, t(1), &reg.build()).response);
    // A wrong password for the trunk account is an ordinary 401 (no oracle).
    reg.cseq = 2;
    reg.auth = Some(auth("carrier", "guess", &n, Algorithm::Sha256, 1));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::UNAUTHORIZED);
    // The right one is refused with 403 and a typed reason, and binds nothing.
    reg.cseq = 3;
    reg.auth = Some(auth("carrier", "trunkpw", &n, Algorithm::Sha256, 2));
    let out = send(&mut r, t(1), &reg.build());
    assert_eq!(out.response.status, StatusCode::FORBIDDEN);
    assert_eq!(
        out.disposition,
        Disposition::InviteOnlyCredentials {
            user: "carrier".into()
        }
    );
    assert!(r.location().lookup("carrier").is_empty());
}
