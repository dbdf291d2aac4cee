//! REGISTER and other out-of-dialog requests that are not INVITEs: the registrar answers
//! REGISTER (a trunk's INVITE-only digest account gets 403), anything else gets 405.

use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use switchboard_sip::{Transport, TxKey};
use switchboard_sip_message::{Method, Request, StatusCode};

use super::SipDriver;
use crate::invite_auth::publish_auth_stats;
use crate::pii::Pii;

impl SipDriver {
    pub(super) fn other_request(
        &mut self,
        now: Instant,
        tx: TxKey,
        req: Request,
        from: SocketAddr,
        transport: Transport,
    ) {
        if req.method == Method::Register {
            let wall = SystemTime::now();
            let out = self
                .registrar
                .handle_register(wall, from, transport.as_str(), &req);
            tracing::debug!(disposition = ?out.disposition, "REGISTER");
            if let switchboard_registrar::Disposition::InviteOnlyCredentials { user } =
                &out.disposition
            {
                tracing::warn!(
                    trunk_account = %user,
                    source = %Pii(from),
                    "REGISTER with a trunk's INVITE-only digest account refused with 403"
                );
            }
            if let Some(l) = &out.lockout {
                tracing::warn!(
                    source = %Pii(l.source),
                    cooldown_s = l.cooldown.as_secs(),
                    strike = l.strike,
                    "REGISTER source locked out after repeated authentication failures"
                );
            }
            publish_auth_stats(&self.registrar, &self.metrics, wall);
            let _ = self.b2bua.respond_raw(now, tx, out.response);
            self.presence_events(out.events);
        } else {
            let resp = switchboard_sip_message::Response::for_request(
                &req,
                StatusCode::METHOD_NOT_ALLOWED,
            );
            let _ = self.b2bua.respond_raw(now, tx, resp);
        }
    }
}
