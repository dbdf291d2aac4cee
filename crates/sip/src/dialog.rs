//! Dialogs (RFC 3261 §12): the state two user agents share between an INVITE and its BYE,
//! kept in a slab behind typed [`DialogKey`]s. Pure data: no time, no I/O.
//!
//! A dialog builds in-dialog requests (BYE, re-INVITE, ACK for 2xx, REFER, INFO) with the
//! right Request-URI, Route set, tags and CSeq (§12.2.1.1), and checks incoming in-dialog
//! requests (unknown dialog → 481, CSeq lower than the last → 500, target refresh from
//! Contact). Session descriptions are carried, never interpreted: a re-INVITE's SDP (hold is
//! `a=sendonly`/`a=inactive`) goes to the media layer unread.

use std::collections::HashMap;

use slab::Slab;
use switchboard_sip_message::{
    Contacts, HeaderName, Method, NameAddr, Request, Response, StatusCode, Uri,
};

/// Handle to one dialog in [`Dialogs`]. Carries a generation against slot reuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DialogKey {
    index: u32,
    generation: u32,
}

/// Dialog identity (§12): Call-ID plus our tag and theirs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID.
    pub call_id: String,
    /// Our tag (From tag on requests we send).
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Dialog states (§12.1, §12.3).
///
/// ```text
///  1xx with tag --> Early --2xx--> Confirmed --BYE sent/received--> Terminating --> (removed)
///                     | 300-699 / CANCEL
///                     +--------> (removed)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// A BYE was sent or received; the dialog stays to answer a crossing BYE with 200.
    Terminating,
}

/// Which side created the dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DialogRole {
    /// We sent the INVITE.
    Uac,
    /// We received the INVITE.
    Uas,
}

/// Why a dialog could not be created or used.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or malformed.
    #[error("missing or bad {0}")]
    BadHeader(&'static str),
    /// The response carries no To tag, so it cannot create a dialog.
    #[error("response has no To tag")]
    NoRemoteTag,
}

/// One dialog's state (§12.1.1, §12.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID and tags.
    pub id: DialogId,
    /// Early, Confirmed, Terminating.
    pub state: DialogState,
    /// UAC or UAS.
    pub role: DialogRole,
    /// Our URI (From of our requests), without tag.
    pub local_uri: NameAddr,
    /// Peer URI (To of our requests), without tag.
    pub remote_uri: NameAddr,
    /// CSeq of the last request we sent in the dialog.
    pub local_seq: u32,
    /// CSeq of the last request the peer sent, once one arrived.
    pub remote_seq: Option<u32>,
    /// Where in-dialog requests go (the peer's Contact).
    pub remote_target: Uri,
    /// Route set from Record-Route (in the order our requests carry it).
    pub route_set: Vec<NameAddr>,
    /// Our Contact, sent on target-refresh requests.
    pub local_contact: Option<NameAddr>,
    /// True for a sips: dialog (§12.1.1).
    pub secure: bool,
    /// We sent a re-INVITE that has no final response yet (§14.1). Set by
    /// [`Dialog::request`]; clear it with [`Dialog::invite_done`].
    pub invite_out_pending: bool,
    /// The peer sent a re-INVITE we have not answered yet (§14.2). Set by
    /// [`Dialog::handle_request`]; clear it with [`Dialog::invite_done`].
    pub invite_in_pending: bool,
}

fn strip_tag(mut na: NameAddr) -> NameAddr {
    na.params.retain(|p| !p.name.eq_ignore_ascii_case("tag"));
    na
}

fn first_contact(h: &switchboard_sip_message::Headers) -> Option<NameAddr> {
    match h.contacts().ok()? {
        Contacts::List(l) => l.into_iter().next(),
        Contacts::Star => None,
    }
}

/// The URI of the first Contact of a response, if any.
pub(crate) fn first_contact_uri(resp: &Response) -> Option<Uri> {
    first_contact(&resp.headers).map(|c| c.uri)
}

fn is_sips(u: &Uri) -> bool {
    matches!(u, Uri::Sip(s) if s.secure)
}

impl Dialog {
    /// UAC side: a dialog from the INVITE we sent (as sent, with Via) and a 1xx (with To tag)
    /// or 2xx response. The route set is the response's Record-Route reversed.
    pub fn uac(invite: &Request, resp: &Response) -> Result<Dialog, DialogError> {
        let h = &resp.headers;
        let to = h.to().map_err(|_| DialogError::BadHeader("To"))?;
        let remote_tag = to.tag().ok_or(DialogError::NoRemoteTag)?.to_string();
        let from = invite
            .headers
            .from()
            .map_err(|_| DialogError::BadHeader("From"))?;
        let local_tag = from
            .tag()
            .ok_or(DialogError::BadHeader("From tag"))?
            .to_string();
        let call_id = invite
            .headers
            .call_id()
            .map_err(|_| DialogError::BadHeader("Call-ID"))?
            .to_string();
        let cseq = invite
            .headers
            .cseq()
            .map_err(|_| DialogError::BadHeader("CSeq"))?;
        let mut route_set = h
            .record_routes()
            .map_err(|_| DialogError::BadHeader("Record-Route"))?;
        route_set.reverse();
        let remote_target = first_contact(h)
            .map(|c| c.uri)
            .unwrap_or_else(|| invite.uri.clone());
        Ok(Dialog {
            id: DialogId {
                call_id,
                local_tag,
                remote_tag,
            },
            state: if resp.status.is_success() {
                DialogState::Confirmed
            } else {
                DialogState::Early
            },
            role: DialogRole::Uac,
            local_uri: strip_tag(from),
            remote_uri: strip_tag(to),
            local_seq: cseq.seq,
            remote_seq: None,
            remote_target,
            route_set,
            local_contact: first_contact(&invite.headers),
            secure: is_sips(&invite.uri),
            invite_out_pending: false,
            invite_in_pending: false,
        })
    }

    /// UAS side: a dialog from a received INVITE and the To tag we answer with. The route set
    /// is the request's Record-Route in order; the first request we send uses CSeq
    /// `initial_local_seq + 1`.
    pub fn uas(
        invite: &Request,
        local_tag: &str,
        local_contact: Option<NameAddr>,
        initial_local_seq: u32,
    ) -> Result<Dialog, DialogError> {
        let h = &invite.headers;
        let from = h.from().map_err(|_| DialogError::BadHeader("From"))?;
        let to = h.to().map_err(|_| DialogError::BadHeader("To"))?;
        let cseq = h.cseq().map_err(|_| DialogError::BadHeader("CSeq"))?;
        let route_set = h
            .record_routes()
            .map_err(|_| DialogError::BadHeader("Record-Route"))?;
        // RFC 2543 peers may omit Contact: their From URI is then the target.
        let remote_target = first_contact(h)
            .map(|c| c.uri)
            .unwrap_or_else(|| from.uri.clone());
        Ok(Dialog {
            id: DialogId {
                call_id: h
                    .call_id()
                    .map_err(|_| DialogError::BadHeader("Call-ID"))?
                    .to_string(),
                local_tag: local_tag.to_string(),
                remote_tag: from.tag().unwrap_or("").to_string(),
            },
            state: DialogState::Early,
            role: DialogRole::Uas,
            local_uri: strip_tag(to),
            remote_uri: strip_tag(from),
            local_seq: initial_local_seq,
            remote_seq: Some(cseq.seq),
            remote_target,
            route_set,
            local_contact,
            secure: is_sips(&invite.uri),
            invite_out_pending: false,
            invite_in_pending: false,
        })
    }

    /// Moves an early dialog to Confirmed on a 2xx (UAC: also refreshes the target and route
    /// set from the 2xx, §12.1.2 / §13.2.2.4).
    pub fn confirm(&mut self, resp: Option<&Response>) {
        if self.state == DialogState::Early {
            self.state = DialogState::Confirmed;
        }
        if let Some(r) = resp {
            if let Some(c) = first_contact(&r.headers) {
                self.remote_target = c.uri;
            }
            if self.role == DialogRole::Uac {
                if let Ok(mut rr) = r.headers.record_routes() {
                    rr.reverse();
                    self.route_set = rr;
                }
            }
        }
    }

    /// A new in-dialog request (§12.2.1.1). Increments the local CSeq except for ACK and
    /// CANCEL. Adds our Contact on INVITE/UPDATE/REFER (target refresh). The transaction layer
    /// adds Via and Max-Forwards.
    pub fn request(&mut self, method: Method) -> Request {
        if !matches!(method, Method::Ack | Method::Cancel) {
            self.local_seq = self.local_seq.wrapping_add(1);
        }
        if method == Method::Invite {
            self.invite_out_pending = true;
        }
        let seq = self.local_seq;
        self.build(method, seq)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (§13.2.2.4).
    pub fn ack(&self, invite_seq: u32) -> Request {
        self.build(Method::Ack, invite_seq)
    }

    fn build(&self, method: Method, seq: u32) -> Request {
        let loose = self
            .route_set
            .first()
            .is_none_or(|r| r.param("lr").is_some() || uri_has_lr(&r.uri));
        let (ruri, routes): (Uri, Vec<String>) = if loose {
            (
                self.remote_target.clone(),
                self.route_set.iter().map(|r| r.to_string()).collect(),
            )
        } else {
            let mut rest: Vec<String> = self
                .route_set
                .iter()
                .skip(1)
                .map(|r| r.to_string())
                .collect();
            rest.push(format!("<{}>", self.remote_target));
            let first = self
                .route_set
                .first()
                .map(|r| r.uri.clone())
                .unwrap_or_else(|| self.remote_target.clone());
            (first, rest)
        };
        let mut req = Request::new(method.clone(), ruri);
        for r in routes {
            req.headers.push(HeaderName::Route, r);
        }
        let mut from = self.local_uri.clone();
        from.set_tag(&self.id.local_tag);
        let mut to = self.remote_uri.clone();
        if !self.id.remote_tag.is_empty() {
            to.set_tag(&self.id.remote_tag);
        }
        req.headers.push(HeaderName::From, from.to_string());
        req.headers.push(HeaderName::To, to.to_string());
        req.headers
            .push(HeaderName::CallId, self.id.call_id.clone());
        req.headers
            .push(HeaderName::CSeq, format!("{seq} {}", method.as_str()));
        if matches!(method, Method::Invite | Method::Update | Method::Refer) {
            if let Some(c) = &self.local_contact {
                req.headers.push(HeaderName::Contact, c.to_string());
            }
        }
        req
    }

    /// A re-INVITE finished: `outgoing` ours got its final response, otherwise we answered
    /// the peer's.
    pub fn invite_done(&mut self, outgoing: bool) {
        if outgoing {
            self.invite_out_pending = false;
        } else {
            self.invite_in_pending = false;
        }
    }

    /// Checks an in-dialog request from the peer and updates the dialog (§12.2.2): a CSeq lower
    /// than the last one gets 500; a re-INVITE while ours is pending gets 491 and while the
    /// peer's previous one is unanswered gets 500 (§14.2); INVITE/UPDATE with a Contact refresh
    /// the remote target; BYE moves to Terminating. ACK and CANCEL skip the CSeq check.
    pub fn handle_request(&mut self, req: &Request) -> Result<(), StatusCode> {
        let cseq = req.headers.cseq().map_err(|_| StatusCode::BAD_REQUEST)?;
        if req.method == Method::Invite {
            if self.invite_out_pending {
                return Err(StatusCode(491));
            }
            if self.invite_in_pending {
                return Err(StatusCode::SERVER_INTERNAL_ERROR);
            }
        }
        if !matches!(req.method, Method::Ack | Method::Cancel) {
            if let Some(last) = self.remote_seq {
                if cseq.seq < last {
                    return Err(StatusCode::SERVER_INTERNAL_ERROR);
                }
            }
            self.remote_seq = Some(cseq.seq);
        }
        if matches!(req.method, Method::Invite | Method::Update) {
            if let Some(c) = first_contact(&req.headers) {
                self.remote_target = c.uri;
            }
        }
        if req.method == Method::Invite {
            self.invite_in_pending = true;
        }
        if req.method == Method::Bye {
            self.state = DialogState::Terminating;
        }
        Ok(())
    }
}

fn uri_has_lr(u: &Uri) -> bool {
    matches!(u, Uri::Sip(s) if s.param("lr").is_some())
}

/// All dialogs of one endpoint, indexed by [`DialogId`].
#[derive(Default)]
pub struct Dialogs {
    slab: Slab<(u32, Dialog)>,
    index: HashMap<DialogId, DialogKey>,
    next_generation: u32,
}

impl Dialogs {
    /// An empty store.
    pub fn new() -> Dialogs {
        Dialogs::default()
    }

    /// Number of dialogs.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// True when there are no dialogs.
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Adds a dialog (replacing any with the same id) and returns its key.
    pub fn insert(&mut self, dialog: Dialog) -> DialogKey {
        if let Some(old) = self.index.get(&dialog.id).copied() {
            self.remove(old);
        }
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation;
        let id = dialog.id.clone();
        let index = self.slab.insert((generation, dialog)) as u32;
        let key = DialogKey { index, generation };
        self.index.insert(id, key);
        key
    }

    /// The dialog behind `key`.
    pub fn get(&self, key: DialogKey) -> Option<&Dialog> {
        self.slab
            .get(key.index as usize)
            .filter(|(g, _)| *g == key.generation)
            .map(|(_, d)| d)
    }

    /// The dialog behind `key`, mutably.
    pub fn get_mut(&mut self, key: DialogKey) -> Option<&mut Dialog> {
        self.slab
            .get_mut(key.index as usize)
            .filter(|(g, _)| *g == key.generation)
            .map(|(_, d)| d)
    }

    /// Removes a dialog.
    pub fn remove(&mut self, key: DialogKey) -> Option<Dialog> {
        self.get(key)?;
        let (_, d) = self.slab.remove(key.index as usize);
        self.index.remove(&d.id);
        Some(d)
    }

    /// The dialog with this id.
    pub fn find(&self, id: &DialogId) -> Option<DialogKey> {
        self.index.get(id).copied()
    }

    /// The dialog a received request belongs to (Call-ID, To tag = ours, From tag = theirs).
    pub fn find_for_request(&self, req: &Request) -> Option<DialogKey> {
        let h = &req.headers;
        let id = DialogId {
            call_id: h.call_id().ok()?.to_string(),
            local_tag: h.to().ok()?.tag()?.to_string(),
            remote_tag: h.from().ok()?.tag().unwrap_or("").to_string(),
        };
        self.find(&id)
    }

    /// The dialog a received response belongs to (Call-ID, From tag = ours, To tag = theirs).
    pub fn find_for_response(&self, resp: &Response) -> Option<DialogKey> {
        let h = &resp.headers;
        let id = DialogId {
            call_id: h.call_id().ok()?.to_string(),
            local_tag: h.from().ok()?.tag()?.to_string(),
            remote_tag: h.to().ok()?.tag()?.to_string(),
        };
        self.find(&id)
    }

    /// Routes a received request that carries a To tag (§12.2.2): returns its dialog after the
    /// dialog's checks, or the error response (481 unknown dialog, 500 lower CSeq). Requests
    /// without a To tag are not in-dialog: `Ok(None)`.
    pub fn handle_request(&mut self, req: &Request) -> Result<Option<DialogKey>, Response> {
        let has_to_tag = req.headers.to().map(|t| t.tag().is_some()).unwrap_or(false);
        if !has_to_tag {
            return Ok(None);
        }
        let Some(key) = self.find_for_request(req) else {
            return Err(Response::for_request(
                req,
                StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST,
            ));
        };
        let d = self.get_mut(key).ok_or_else(|| {
            Response::for_request(req, StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST)
        })?;
        d.handle_request(req)
            .map_err(|s| Response::for_request(req, s))?;
        Ok(Some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite() -> Request {
        let mut r = Request::new(
            Method::Invite,
            Uri::parse("sip:bob@192.0.2.2").expect("uri"),
        );
        r.headers
            .push(HeaderName::Via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa");
        r.headers
            .push(HeaderName::From, "<sip:alice@192.0.2.1>;tag=A");
        r.headers.push(HeaderName::To, "<sip:bob@192.0.2.2>");
        r.headers.push(HeaderName::CallId, "call-1");
        r.headers.push(HeaderName::CSeq, "7 INVITE");
        r.headers
            .push(HeaderName::Contact, "<sip:alice@192.0.2.1:5060>");
        r.headers
            .push(HeaderName::RecordRoute, "<sip:p1.example.com;lr>");
        r.headers
            .push(HeaderName::RecordRoute, "<sip:p2.example.com;lr>");
        r
    }

    fn ok(inv: &Request) -> Response {
        let mut r = Response::for_request(inv, StatusCode::OK);
        let mut to = r.headers.to().expect("to");
        to.set_tag("B");
        r.headers.set(HeaderName::To, to.to_string());
        r.headers
            .push(HeaderName::Contact, "<sip:bob@192.0.2.2:5070>");
        r.headers
            .push(HeaderName::RecordRoute, "<sip:p1.example.com;lr>");
        r.headers
            .push(HeaderName::RecordRoute, "<sip:p2.example.com;lr>");
        r
    }

    #[test]
    fn uac_dialog_builds_bye_with_reversed_route_set() {
        let inv = invite();
        let mut d = Dialog::uac(&inv, &ok(&inv)).expect("dialog");
        assert_eq!(d.state, DialogState::Confirmed);
        let bye = d.request(Method::Bye);
        assert_eq!(bye.uri.to_string(), "sip:bob@192.0.2.2:5070");
        let routes: Vec<&str> = bye.headers.get_all(&HeaderName::Route).collect();
        assert_eq!(routes.len(), 2);
        assert!(routes[0].contains("p2"));
        assert_eq!(bye.headers.cseq().expect("cseq").seq, 8);
        assert_eq!(bye.headers.from().expect("from").tag(), Some("A"));
        assert_eq!(bye.headers.to().expect("to").tag(), Some("B"));
        let ack = d.ack(7);
        assert_eq!(ack.headers.cseq().expect("cseq").seq, 7);
        assert_eq!(ack.headers.cseq().expect("cseq").method, Method::Ack);
    }

    #[test]
    fn uas_dialog_orders_cseq_and_answers_481() {
        let inv = invite();
        let mut ds = Dialogs::new();
        let d = Dialog::uas(&inv, "B", None, 100).expect("dialog");
        assert_eq!(d.route_set.len(), 2);
        assert!(d.route_set[0].to_string().contains("p1"));
        let key = ds.insert(d);
        // The UAC side builds requests the UAS must accept.
        let mut uac = Dialog::uac(&inv, &ok(&inv)).expect("dialog");
        let bye = uac.request(Method::Bye);
        assert_eq!(ds.handle_request(&bye).expect("in dialog"), Some(key));
        let mut old = bye.clone();
        old.headers.set(HeaderName::CSeq, "3 BYE");
        assert_eq!(ds.handle_request(&old).expect_err("500").status.0, 500);
        let mut stranger = bye;
        stranger.headers.set(HeaderName::CallId, "other");
        assert_eq!(ds.handle_request(&stranger).expect_err("481").status.0, 481);
        assert_eq!(ds.get(key).expect("d").state, DialogState::Terminating);
    }

    #[test]
    fn reinvite_glare_is_491_and_overlap_is_500() {
        let inv = invite();
        let mut uac = Dialog::uac(&inv, &ok(&inv)).expect("dialog");
        let mut uas = Dialog::uas(&inv, "B", None, 0).expect("dialog");
        let from_uas = uas.request(Method::Invite);
        let from_uac = uac.request(Method::Invite);
        // Both sent a re-INVITE: each answers the other's with 491.
        assert_eq!(uac.handle_request(&from_uas), Err(StatusCode(491)));
        assert_eq!(uas.handle_request(&from_uac), Err(StatusCode(491)));
        uac.invite_done(true);
        let again = uas.request(Method::Info);
        assert_eq!(uac.handle_request(&again), Ok(()));
        let mut second = uas.clone();
        second.invite_done(true);
        let r1 = second.request(Method::Invite);
        let r2 = second.request(Method::Invite);
        assert_eq!(uac.handle_request(&r1), Ok(()));
        assert_eq!(
            uac.handle_request(&r2),
            Err(StatusCode::SERVER_INTERNAL_ERROR)
        );
        uac.invite_done(false);
        let r3 = second.request(Method::Invite);
        assert_eq!(uac.handle_request(&r3), Ok(()));
    }

    #[test]
    fn rfc2543_invite_without_contact_targets_from() {
        let mut inv = invite();
        inv.headers.remove(&HeaderName::Contact);
        let d = Dialog::uas(&inv, "B", None, 0).expect("dialog");
        assert_eq!(d.remote_target.to_string(), "sip:alice@192.0.2.1");
    }

    #[test]
    fn strict_router_puts_target_last() {
        let inv = invite();
        let mut resp = ok(&inv);
        resp.headers.remove(&HeaderName::RecordRoute);
        resp.headers
            .push(HeaderName::RecordRoute, "<sip:strict.example.com>");
        let mut d = Dialog::uac(&inv, &resp).expect("dialog");
        let info = d.request(Method::Info);
        assert_eq!(info.uri.to_string(), "sip:strict.example.com");
        let routes: Vec<&str> = info.headers.get_all(&HeaderName::Route).collect();
        assert_eq!(routes, vec!["<sip:bob@192.0.2.2:5070>"]);
    }
}
