//! Requests inside the call's dialogs: INFO DTMF, re-INVITEs and UPDATEs with an offer
//! (hold and resume, a moved media address), NOTIFY and the rest. The call flow decides what each means and the
//! status to answer (`callflow::InDialog`); this file parses the request, builds the SDP
//! answer of a re-INVITE and applies it to the party's media, and sends the response.
//! Each change of a party's hold is a typed event (`call.hold`, `call.resume` with how long
//! it lasted), which the CDR (`hold_s`) and the agent report (`hold_s`) sum. The media
//! keeps flowing as before.

use super::*;
use switchboard_callflow::{InDialog, ReOffer};

impl CallTask {
    /// An in-dialog request (not a REFER from the agent) from `leg`.
    pub(super) async fn on_in_dialog(
        &mut self,
        leg: SipLeg,
        tx: switchboard_sip::TxKey,
        req: switchboard_sip_message::Request,
    ) {
        let party = match leg {
            SipLeg::A => Party::Caller,
            SipLeg::B => Party::Agent,
        };
        let mut body = None;
        let asked = match req.method {
            Method::Info => InDialog::Info {
                digit: info_dtmf_digit(&req.body),
            },
            // An UPDATE that reaches the call carries an offer (the SIP layer answers a
            // bodiless one, a session refresh, itself): answered like a re-INVITE.
            Method::Invite | Method::Update => {
                let (offer, answer) = self.answer_reinvite(leg, &req.body);
                body = answer;
                InDialog::ReInvite(offer)
            }
            Method::Notify => InDialog::Notify,
            Method::Options => InDialog::Options,
            _ => InDialog::Other,
        };
        let callback_possible = self.callback_possible();
        let answer = self
            .flow
            .handle_in_dialog(Instant::now(), party, asked, callback_possible);
        if let Some(route) = answer.route {
            self.on_digit_route(route);
        } else {
            self.drive_flow();
        }
        let status = StatusCode(answer.status);
        let sdp = body.filter(|_| answer.status == 200);
        self.respond(tx, status, sdp).await;
    }

    /// A re-INVITE's offer from `leg`: read, and answered with our media (the party's
    /// media follows a moved address or port: strict media would drop it otherwise).
    fn answer_reinvite(&mut self, leg: SipLeg, offer: &[u8]) -> (ReOffer, Option<Bytes>) {
        let leg_media = if leg == SipLeg::A {
            Some(&mut self.a)
        } else {
            self.b.as_mut()
        };
        let Some(m) = leg_media else {
            return (ReOffer::NoMedia, None);
        };
        let local = LocalMedia {
            address: self.local_ip,
            port: m.local_port(),
            session_id: self.id,
            session_version: 2,
            direction: Direction::SendRecv,
        };
        let Ok(offer) = SessionDescription::parse(offer) else {
            return (ReOffer::Unparsable, None);
        };
        let held = offer.is_hold();
        let caps = LocalCaps {
            srtp: m.reinvite_srtp(),
            ..LocalCaps::default()
        };
        match switchboard_sdp::answer(&offer, &caps, &local) {
            Ok((ans, neg)) => {
                m.update_srtp(neg.srtp.as_ref());
                if neg.remote.is_some() && neg.remote != m.session.sdp_remote() {
                    m.session.set_remote(Instant::now(), neg.remote);
                }
                (
                    ReOffer::Answerable { held },
                    Some(Bytes::from(ans.to_string())),
                )
            }
            Err(_) => (ReOffer::Unanswerable { held }, None),
        }
    }
}
