//! The fixture of agents' own outbound calls (decision 0042): a server with one carrier
//! trunk that SIPp plays (`carrier_agent_outbound.xml`: it challenges the INVITE with 407,
//! checks the number and the configured caller ID, and echoes the RTP it gets), and
//! registered pjsua2 agent 1001 dialling an outside number through it.
//!
//! Used by `agent_outbound.rs` and `placed_call_hold.rs`; the assertions stay in the tests.
//!
//! [`OutboundFixture::start_with_second_carrier`] adds a second trunk for a second call
//! while the first is up (a transfer to an outside number): SIPp's trunk takes one call at
//! a time (`max_calls = 1`), so the next call skips it (`trunk.refused`) and goes to
//! `carrier-two`, a pjsua2 phone on its own port that answers any call (used by
//! `own_call_transfer_out.rs`).

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
        OutboundFixture::start_with_trunks(name, "", "", dial_permissions_extra)
    }

    /// [`OutboundFixture::start`] where `carrier-out` takes one call at a time and a second
    /// trunk, `carrier-two` (tried after it), leads to `127.0.0.1:second_port`: start a
    /// phone there (`SoftphoneOpts::local_port`) to play the second carrier.
    pub fn start_with_second_carrier(name: &str, second_port: u16) -> OutboundFixture {
        let second = format!(
            "[[trunks]]\nname = \"carrier-two\"\naddress = \"127.0.0.1:{second_port}\"\n\
             priority = 200\n"
        );
        OutboundFixture::start_with_trunks(name, "max_calls = 1\n", &second, "")
    }

    /// The server with `carrier-out` (plus `first_extra` TOML lines in its table) and
    /// `more_trunks`, then the SIPp carrier.
    fn start_with_trunks(
        name: &str,
        first_extra: &str,
        more_trunks: &str,
        dial_permissions_extra: &str,
    ) -> OutboundFixture {
        let port = free_udp_port();
        let server = Server::start(
            name,
            &format!(
                "[[trunks]]\nname = \"carrier-out\"\naddress = \"127.0.0.1:{port}\"\n\
                 username = \"acct-out\"\npassword = \"pw-out\"\n{first_extra}\
                 {more_trunks}\
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
