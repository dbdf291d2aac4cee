//! Carrier trunks (issue 14, item 1): SIPp plays the carriers.
//! - Registration: the carrier challenges REGISTER with 401 and verifies the digest answer
//!   (SIPp's `verifyauth`), grants 10 s; the engine refreshes before expiry (a second,
//!   again challenged and verified REGISTER) and reports the trunk registered in
//!   `GET /api/v1/trunks` and `/metrics`; on SIGTERM it un-registers (`Expires: 0`).
//! - Outbound call with failover: a queue callback to the caller goes to the first trunk by
//!   priority, which answers 503; the second trunk gets the INVITE with the configured
//!   caller ID (From and P-Asserted-Identity) and number format, challenges it with 407,
//!   and answers the re-sent INVITE whose Proxy-Authorization the test verifies itself.

use md5::{Digest, Md5};
use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{require_peer, wait_for, Server};

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// The `name="value"` (or bare) parameter of a Digest header line.
fn param<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}="))? + name.len() + 1;
    let rest = &line[start..];
    if let Some(q) = rest.strip_prefix('"') {
        q.split('"').next()
    } else {
        rest.split([',', '\r', '\n']).next().map(str::trim)
    }
}

#[test]
fn registers_with_digest_and_refreshes_before_expiry() {
    if !require_peer("sipp") {
        return;
    }
    let port = free_udp_port();
    let mut carrier = SippCarrier::start("carrier_register.xml", port, 1, 60);
    let server = Server::start(
        "trunk-register",
        &format!(
            "[[trunks]]\nname = \"carrier-a\"\naddress = \"127.0.0.1:{port}\"\n\
             username = \"acct-a\"\npassword = \"pw-a\"\nregister = true\nregister_expires = 10\n"
        ),
    );
    // Two accepted registrations: the first and the refresh (each after a verified 401).
    let row = wait_for(40, || {
        let (status, body) = server.http_get("/api/v1/trunks");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let row = v["trunks"][0].clone();
        (row["registrations_ok"].as_u64() == Some(2)).then_some(row)
    })
    .unwrap_or_else(|| {
        panic!(
            "no refresh accepted; api {:?}\nlog:\n{}\nsipp:\n{}",
            server.http_get("/api/v1/trunks"),
            server.log_text(),
            carrier.traces()
        )
    });
    assert_eq!(row["trunk"], "carrier-a");
    assert_eq!(row["registered"], true, "{row}");
    assert_eq!(row["last_status"], 200);
    assert!(
        row["expires_in_s"].as_u64().is_some_and(|s| s <= 10),
        "{row}"
    );
    assert!(row.get("password").is_none() && !row.to_string().contains("pw-a"));
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("switchboard_trunk_registered{trunk=\"carrier-a\"} 1"),
        "{metrics}"
    );
    // An agent token may not read trunk status.
    let (status, _) = switchboard_e2e::http_call(
        server.http,
        "GET",
        "/api/v1/trunks",
        None,
        Some("demo-agent-1001"),
        None,
    );
    assert!(status == 403 || status == 401, "agent token: {status}");
    // Shutdown un-registers (Expires: 0, challenged and verified like the others).
    server.signal("TERM");
    let (status, traces) = carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "the carrier verified three digest answers (register, refresh, un-register): {status:?}\n{traces}"
    );
}

#[test]
fn a_callback_fails_over_from_a_503_trunk_and_answers_a_407_with_credentials() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let (port_a, port_b) = (free_udp_port(), free_udp_port());
    let mut down = SippCarrier::start("carrier_503.xml", port_a, 1, 120);
    let mut up = SippCarrier::start("carrier_407.xml", port_b, 1, 120);
    let server = Server::start(
        "trunk-failover",
        &format!(
            "[[trunks]]\nname = \"carrier-a\"\naddress = \"127.0.0.1:{port_a}\"\npriority = 1\n\
             [[trunks]]\nname = \"carrier-b\"\naddress = \"127.0.0.1:{port_b}\"\npriority = 2\n\
             username = \"acct-b\"\npassword = \"pw-b\"\ncaller_id = \"+74951230000\"\n\
             p_asserted_identity = true\nstrip_plus = true\ndial_prefix = \"9\"\n"
        ),
    );
    // The customer calls in, queues and asks for a callback (keys 1, then 5 in demo.ivr).
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951234567",
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("media", 20).is_some(),
        "log:\n{}",
        server.log_text()
    );
    caller.command("dtmf 1");
    let announce = server
        .wait_event(30, |e| e.kind == "queue.announce")
        .unwrap_or_else(|| panic!("queued; events {:#?}", server.events()));
    caller.command("dtmf 5");
    assert!(server
        .wait_event(10, |e| e.kind == "queue.callback_requested"
            && e.call == announce.call)
        .is_some());
    assert!(caller.wait_event("disconnected", 20).is_some());
    caller.quit();

    // An agent becomes free: the ACD places the callback; the customer's leg goes through
    // the trunks.
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            ..Default::default()
        },
    );
    let cb = server
        .wait_event(40, |e| {
            e.kind == "call.start" && e.data["callback_for"] == announce.call.as_str()
        })
        .unwrap_or_else(|| panic!("callback placed; events {:#?}", server.events()));
    let failover = server
        .wait_event(30, |e| e.kind == "trunk.failover" && e.call == cb.call)
        .unwrap_or_else(|| panic!("failover; log:\n{}", server.log_text()));
    assert_eq!(failover.data["trunk"], "carrier-a");
    assert_eq!(failover.data["status"], 503);
    let _ = server
        .wait_event(30, |e| e.kind == "call.connected" && e.call == cb.call)
        .unwrap_or_else(|| {
            panic!(
                "callback connected through carrier-b; log:\n{}\nsipp:\n{}",
                server.log_text(),
                up.traces()
            )
        });
    // The trunk status counts the attempt on each trunk and the failover.
    let (_, body) = server.http_get("/api/v1/trunks");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["trunks"][0]["calls_placed"], 1, "{body}");
    assert_eq!(v["trunks"][0]["failovers"], 1, "{body}");
    assert_eq!(v["trunks"][1]["calls_placed"], 1, "{body}");
    assert_eq!(v["trunks"][1]["active_calls"], 1, "{body}");

    // The agent hangs up: the engine sends BYE to the carrier, which ends its scenario.
    agent.command("hangup");
    let end = server
        .wait_event(20, |e| e.kind == "call.end" && e.call == cb.call)
        .expect("callback ended");
    assert_eq!(end.data["disposition"], "callback");
    agent.quit();
    let (status_a, traces_a) = down.wait(20);
    assert!(status_a.is_some_and(|s| s.success()), "{traces_a}");
    let (status_b, traces_b) = up.wait(20);
    assert!(
        status_b.is_some_and(|s| s.success()),
        "carrier-b's checks (number format, caller ID, PAI, Proxy-Authorization shape): {status_b:?}\n{traces_b}"
    );
    // Verify the digest the engine sent, independently of the engine's code.
    let line = traces_b
        .lines()
        .find(|l| l.starts_with("Proxy-Authorization:"))
        .unwrap_or_else(|| panic!("no Proxy-Authorization in the trace:\n{traces_b}"));
    let get = |n: &str| param(line, n).unwrap_or_else(|| panic!("{n} in {line}"));
    let ha1 = md5_hex("acct-b:carrier-b:pw-b");
    let ha2 = md5_hex(&format!("INVITE:{}", get("uri")));
    let want = md5_hex(&format!(
        "{ha1}:{}:{}:{}:auth:{ha2}",
        get("nonce"),
        get("nc"),
        get("cnonce")
    ));
    assert_eq!(get("response"), want, "{line}");
    let (_, body) = server.http_get("/api/v1/trunks");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["trunks"][1]["active_calls"], 0, "slot released: {body}");
}

#[test]
fn a_trunk_marked_inbound_is_trusted_for_its_own_calls_over_its_transport() {
    if !require_peer("sipp") {
        return;
    }
    // No address trusted the old way: only the trunk's `inbound = true` (UDP) lets the
    // INVITE in without a digest challenge.
    let trunk = "[[trunks]]\nname = \"carrier-in\"\naddress = \"127.0.0.1:5999\"\n";
    let open = Server::start(
        "trunk-inbound",
        &format!("[sip]\ntrusted_trunks = []\n{trunk}inbound = true\n"),
    );
    let out = switchboard_e2e::sipp(
        "call_answered.xml",
        open.sip,
        &["-s", "300", "-m", "1", "-d", "500"],
        30,
    );
    assert!(
        out.status.success(),
        "the trunk's call is answered: {}\nlog:\n{}",
        switchboard_e2e::sipp_trace(&out),
        open.log_text()
    );
    // The same trunk without `inbound`: the INVITE is challenged (the scenario fails).
    let closed = Server::start(
        "trunk-not-inbound",
        &format!("[sip]\ntrusted_trunks = []\n{trunk}"),
    );
    let out = switchboard_e2e::sipp(
        "call_answered.xml",
        closed.sip,
        &["-s", "300", "-m", "1", "-d", "500"],
        15,
    );
    assert!(
        !out.status.success(),
        "the INVITE was challenged, not answered"
    );
}
