//! TCP and descriptor exhaustion (issue 12, item 6), against the real binary limited to
//! 1,024 descriptors (`limits.open_files`): 4,100 TCP connections from one address, or
//! connections from 40 addresses up to the global cap, neither stop another address's
//! REGISTER over TCP nor a new call; the excess is closed at accept and counted. A new
//! call is refused cleanly (503 with Retry-After) when descriptors run short or
//! `limits.max_calls` calls are up.

use std::net::TcpStream;

use switchboard_e2e::hostile::{metric, sipp_from, tcp_from};
use switchboard_e2e::{require_peer, sipp_trace, wait_for, Server};

const SMALL_BUDGET: &str = "[limits]\nopen_files = 1024\n";

fn register_over_tcp_and_call(server: &Server) {
    let out = sipp_from(
        "127.0.0.3",
        "register_keep.xml",
        server.sip,
        &[
            "-t",
            "t1",
            "-s",
            "1002",
            "-au",
            "1002",
            "-ap",
            "secret-1002",
            "-m",
            "1",
        ],
        30,
    );
    assert!(
        out.status.success(),
        "REGISTER over TCP from another address: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    let out = sipp_from(
        "127.0.0.1",
        "call_answered.xml",
        server.sip,
        &["-s", "300", "-m", "1", "-d", "500"],
        30,
    );
    assert!(
        out.status.success(),
        "a new call: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
}

#[test]
fn tcp_connections_from_one_address_do_not_stop_others_nor_new_calls() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("hardening-tcp-one", SMALL_BUDGET);
    let held: Vec<TcpStream> = (0..4100)
        .filter_map(|_| tcp_from("127.0.0.2", server.sip))
        .collect();
    let connected = held.len() as f64;
    assert!(connected > 32.0, "only {connected} connections");
    // Each connection was either admitted (at most 32 at a time; silent ones are closed
    // after limits.tcp_message_timeout, making room for more) or closed at accept.
    let refused = wait_for(60, || {
        let r = metric(&server, "switchboard_sip_tcp_refused_per_source_total")?;
        let admitted = metric(&server, "switchboard_sip_tcp_connections_total")?;
        (r + admitted >= connected && r >= connected - 32.0 * 8.0).then_some(r)
    });
    assert!(
        refused.is_some(),
        "refused {:?} of {connected}, open {:?}, accepted {:?}",
        metric(&server, "switchboard_sip_tcp_refused_per_source_total"),
        metric(&server, "switchboard_sip_tcp_connections_open"),
        metric(&server, "switchboard_sip_tcp_connections_total"),
    );
    assert!(metric(&server, "switchboard_sip_tcp_connections_open").unwrap_or(f64::MAX) <= 32.0);
    register_over_tcp_and_call(&server);
    drop(held);
}

#[test]
fn tcp_connections_from_many_addresses_leave_descriptors_for_calls() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("hardening-tcp-many", SMALL_BUDGET);
    // 40 sources x 32 = 1,280 connections against 1,024 descriptors: before the cap
    // this left none for RTP ("RTP ports exhausted" on every new call).
    let mut held = Vec::new();
    for x in 1..=40 {
        let ip = format!("127.0.1.{x}");
        held.extend((0..32).filter_map(|_| tcp_from(&ip, server.sip)));
    }
    let connected = held.len() as f64;
    // Every connection is either open or refused by the global cap.
    let settled = wait_for(60, || {
        let open = metric(&server, "switchboard_sip_tcp_connections_open")?;
        let refused = metric(&server, "switchboard_sip_tcp_refused_total")?;
        (open + refused >= connected && refused > 0.0).then_some((open, refused))
    });
    let (open, _refused) = settled.unwrap_or_else(|| {
        panic!(
            "open {:?} refused {:?} of {connected}",
            metric(&server, "switchboard_sip_tcp_connections_open"),
            metric(&server, "switchboard_sip_tcp_refused_total")
        )
    });
    // The cap keeps fd_reserve (256) + 64 descriptors out of TCP's reach.
    assert!(open <= (1024 - 256 - 64) as f64, "open {open}");
    let free = metric(&server, "switchboard_descriptors_free").expect("descriptor gauge");
    assert!(free >= 200.0, "free descriptors {free}");
    register_over_tcp_and_call(&server);
    drop(held);
}

#[test]
fn a_new_call_gets_503_with_retry_after_when_descriptors_run_short() {
    if !require_peer("sipp") {
        return;
    }
    // 1,024 descriptors and a headroom of 1,024: fewer are always free, so the server must
    // refuse the call cleanly instead of failing to open its RTP sockets.
    let server = Server::start(
        "hardening-fd-headroom",
        "[limits]\nopen_files = 1024\ncall_fd_headroom = 1024\n",
    );
    let out = sipp_from(
        "127.0.0.1",
        "call_refused_503.xml",
        server.sip,
        &["-s", "300", "-m", "1"],
        30,
    );
    assert!(
        out.status.success(),
        "expected 503 with Retry-After: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    assert_eq!(
        metric(&server, "switchboard_calls_refused_descriptors_total"),
        Some(1.0)
    );
    assert!(server
        .log_text()
        .contains("new call refused with 503: too few file descriptors free"));
}

#[test]
fn a_call_over_max_calls_gets_503_with_retry_after() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("hardening-max-calls", "[limits]\nmax_calls = 1\n");
    // The first call holds for 6 s (a SIPp run in the background) ...
    let sip = server.sip;
    let first = std::thread::spawn(move || {
        sipp_from(
            "127.0.0.1",
            "call_answered.xml",
            sip,
            &["-s", "300", "-m", "1", "-d", "6000"],
            40,
        )
    });
    let up = wait_for(30, || {
        (metric(&server, "switchboard_calls_active")? >= 1.0).then_some(())
    });
    assert!(up.is_some(), "the first call never started");
    // ... so a second one is refused with 503 and Retry-After.
    let out = sipp_from(
        "127.0.0.1",
        "call_refused_503.xml",
        server.sip,
        &["-s", "300", "-m", "1"],
        30,
    );
    assert!(out.status.success(), "second call: {}", sipp_trace(&out));
    assert_eq!(
        metric(&server, "switchboard_calls_refused_concurrent_total"),
        Some(1.0)
    );
    let first = first.join().expect("first call");
    assert!(first.status.success(), "first call: {}", sipp_trace(&first));
}
