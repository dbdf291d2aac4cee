//! The two agents of the transfer tests and the attended-transfer step they share: pjsua2
//! agent 1001 (sales, sends 2 kHz) holds a call, consults colleague 1004 (support, sends
//! 3 kHz and records what it hears) through the support queue, and REFERs the call to that
//! consultation (REFER with Replaces).
//!
//! Used by `call_transfers.rs` (a queue caller) and `campaign_attended_transfer.rs` (a
//! campaign's callee); the checks of what each party heard stay in the tests.

use std::path::Path;

use crate::peers::{Softphone, SoftphoneOpts};
use crate::Server;

/// Agent 1001 (member of sales), sending a 2 kHz tone, registered.
pub fn first_agent(py: &str, server: &Server) -> Softphone {
    let mut first = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            ..Default::default()
        },
    );
    assert!(first.wait_event("registered", 15).is_some());
    first
}

/// The colleague, agent 1004 (member of support), sending a 3 kHz tone and recording what it
/// hears into `dir/second.wav`, registered.
pub fn colleague(py: &str, server: &Server, dir: &Path) -> Softphone {
    let mut second = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1004", "secret-1004")),
            tone_hz: 3000,
            record: Some(dir.join("second.wav")),
            ..Default::default()
        },
    );
    assert!(second.wait_event("registered", 15).is_some());
    second
}

/// `first` (on call `x`) dials the support queue; returns the consultation's call id once
/// it is connected to 1004.
pub fn consult(server: &Server, first: &mut Softphone, x: &str) -> String {
    first.command(&format!("dial sip:support@{}", server.sip));
    let y = server
        .wait_event(30, |e| e.kind == "call.connected" && e.agent == "1004")
        .unwrap_or_else(|| panic!("consultation connected; log:\n{}", server.log_text()))
        .call;
    assert_ne!(x, y);
    y
}

/// `first` transfers call `x` to its consultation `y` (REFER with Replaces): the engine logs
/// an attended `call.transfer` to 1004 on `x`, and `y` ends `transferred`.
pub fn transfer_to_consultation(server: &Server, first: &mut Softphone, x: &str, y: &str) {
    first.command("xfer-replaces");
    let xfer = server
        .wait_event(15, |e| e.kind == "call.transfer" && e.call == x)
        .unwrap_or_else(|| panic!("attended transfer; log:\n{}", server.log_text()));
    assert_eq!(xfer.data["kind"], "attended", "{xfer:?}");
    assert_eq!(xfer.data["to_agent"], "1004", "{xfer:?}");
    let y_end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == y)
        .expect("consultation ended");
    assert_eq!(y_end.data["disposition"], "transferred", "{y_end:?}");
}
