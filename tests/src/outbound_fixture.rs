//! The fixture of agents' own outbound calls (decision 0042): a server with one carrier
//! trunk that SIPp plays (`carrier_agent_outbound.xml`: it challenges the INVITE with 407,
//! checks the number and the configured caller ID, and echoes the RTP it gets), and
//! registered pjsua2 agent 1001 dialling an outside number through it.
//!
//! Used by `agent_outbound.rs` and `placed_call_hold.rs`; the assertions stay in the tests.

use crate::carrier::{free_udp_port, SippCarrier};
use crate::peers::{Softphone, SoftphoneOpts};
use crate::{LoggedEvent, Server};

/// The outside number the carrier scenario accepts (a Moscow number).
pub const OUTSIDE_NUMBER: &str = "+74951234567";

/// A server whose trunk `carrier-out` leads to a SIPp carrier expecting one call.
pub struct OutboundFixture {
    pub server: Server,
    pub carrier: SippCarrier,
}

impl OutboundFixture {
    /// Starts the server (first: starting it may build the binary, and the carrier's clock
    /// runs from its start) with the trunk, `[dial_permissions]` with the caller ID the
    /// carrier checks plus `dial_permissions_extra` (TOML lines), then the carrier.
    pub fn start(name: &str, dial_permissions_extra: &str) -> OutboundFixture {
        let port = free_udp_port();
        let server = Server::start(
            name,
            &format!(
                "[[trunks]]\nname = \"carrier-out\"\naddress = \"127.0.0.1:{port}\"\n\
                 username = \"acct-out\"\npassword = \"pw-out\"\n\
                 [dial_permissions]\ncaller_id = \"+74951239999\"\n{dial_permissions_extra}"
            ),
        );
        let (carrier, _) = SippCarrier::start_with_media(
            "carrier_agent_outbound.xml",
            port,
            1,
            150,
            &["-rtp_echo"],
        );
        OutboundFixture { server, carrier }
    }

    /// Agent 1001's pjsua2 phone (`opts` with the user set), registered.
    pub fn agent(&self, py: &str, opts: SoftphoneOpts) -> Softphone {
        let mut agent = Softphone::start(
            py,
            self.server.sip,
            SoftphoneOpts {
                user: Some(("1001", "secret-1001")),
                seconds: 120,
                ..opts
            },
        );
        assert!(
            agent.wait_event("registered", 20).is_some(),
            "agent registered; log:\n{}",
            self.server.log_text()
        );
        agent
    }

    /// The agent dials [`OUTSIDE_NUMBER`]; returns the `call.outbound` event once the call
    /// is connected.
    pub fn dial_out(&self, agent: &mut Softphone) -> LoggedEvent {
        let server = &self.server;
        agent.command(&format!("dial sip:{OUTSIDE_NUMBER}@{}", server.sip));
        let out = server
            .wait_event(20, |e| e.kind == "call.outbound")
            .unwrap_or_else(|| panic!("call.outbound; log:\n{}", server.log_text()));
        server
            .wait_event(30, |e| e.kind == "call.connected" && e.call == out.call)
            .unwrap_or_else(|| {
                panic!(
                    "connected; log:\n{}\nsipp:\n{}",
                    server.log_text(),
                    self.carrier.traces()
                )
            });
        out
    }

    /// The agent hangs up the outbound call `out`; returns its `call.end`, checked to be an
    /// outbound call ended by the agent.
    pub fn hang_up(&self, agent: &mut Softphone, out: &LoggedEvent) -> LoggedEvent {
        let server = &self.server;
        agent.command("hangup");
        let end = server
            .wait_event(20, |e| e.kind == "call.end" && e.call == out.call)
            .unwrap_or_else(|| panic!("outbound call ended; log:\n{}", server.log_text()));
        assert_eq!(end.data["disposition"], "outbound", "{end:?}");
        assert_eq!(end.data["end_reason"], "agent_hangup", "{end:?}");
        end
    }
}
