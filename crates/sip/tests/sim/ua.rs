//! A scripted user agent: one transaction layer and a dialog store that answers as its
//! [`Script`] says.

use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_sip::{
    Dialog, DialogKey, Dialogs, Output, TransactionLayer, Transport, TxConfig, TxEvent, TxKey,
};
use switchboard_sip_message::{
    HeaderName, Message, Method, NameAddr, Request, Response, StatusCode, Uri,
};

use super::{Node, Send};

/// How a scripted user agent answers.
#[derive(Clone, Debug)]
pub struct Script {
    /// Answer INVITEs: send 180 at once (when `ring`), then this final after the delay.
    pub invite_final: Option<(u16, Duration)>,
    pub ring: bool,
    /// Answer non-INVITE requests outside dialogs with this status (None: never).
    pub non_invite: Option<u16>,
    /// ACK 2xx responses automatically.
    pub auto_ack: bool,
    /// Challenge INVITEs that carry no Proxy-Authorization with 407 (as a carrier does).
    pub challenge_invites: bool,
    /// Headers added to every 2xx to an INVITE or UPDATE (e.g. `Session-Expires`, `Allow`).
    pub answer_headers: Vec<(HeaderName, String)>,
    /// Answer a new INVITE whose `Session-Expires` is below this with 422 and this Min-SE.
    pub min_se: Option<u32>,
    /// Answer this many re-INVITEs with 491 Request Pending first (glare).
    pub glare_reinvites: u32,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            invite_final: Some((200, Duration::from_millis(100))),
            ring: true,
            non_invite: Some(200),
            auto_ack: true,
            challenge_invites: false,
            answer_headers: Vec::new(),
            min_se: None,
            glare_reinvites: 0,
        }
    }
}

/// A scripted user agent over one `TransactionLayer` and a `Dialogs` store.
pub struct Ua {
    pub addr: SocketAddr,
    pub transport: Transport,
    pub tl: TransactionLayer,
    pub dialogs: Dialogs,
    pub script: Script,
    pub events: Vec<(Duration, TxEvent)>,
    pub peers: HashMap<DialogKey, SocketAddr>,
    epoch: Instant,
    pending: Vec<(Instant, TxKey, u16)>,
    dests: HashMap<TxKey, SocketAddr>,
    tags: HashMap<TxKey, String>,
    out: Vec<Send>,
}

impl Ua {
    pub fn new(addr: SocketAddr, transport: Transport, seed: u64, epoch: Instant) -> Ua {
        Ua {
            addr,
            transport,
            tl: TransactionLayer::new(TxConfig::new(addr), seed),
            dialogs: Dialogs::new(),
            script: Script::default(),
            events: Vec::new(),
            peers: HashMap::new(),
            epoch,
            pending: Vec::new(),
            dests: HashMap::new(),
            tags: HashMap::new(),
            out: Vec::new(),
        }
    }

    pub fn contact(&self) -> NameAddr {
        NameAddr::parse(&format!("<sip:ua@{}>", self.addr)).expect("contact")
    }

    /// A new out-of-dialog request to `dest`.
    pub fn request(&mut self, method: Method, dest: SocketAddr) -> Request {
        let mut r = Request::new(
            method.clone(),
            Uri::parse(&format!("sip:svc@{dest}")).expect("uri"),
        );
        let tag = self.tl.new_tag();
        let call_id = self.tl.new_call_id();
        r.headers.push(
            HeaderName::From,
            format!("<sip:ua@{}>;tag={tag}", self.addr),
        );
        r.headers.push(HeaderName::To, format!("<sip:svc@{dest}>"));
        r.headers.push(HeaderName::CallId, call_id);
        r.headers
            .push(HeaderName::CSeq, format!("1 {}", method.as_str()));
        r.headers
            .push(HeaderName::Contact, self.contact().to_string());
        r
    }

    pub fn send(&mut self, now: Instant, dest: SocketAddr, req: Request) -> TxKey {
        let k = self
            .tl
            .send_request(now, dest, self.transport, req)
            .expect("send");
        self.dests.insert(k, dest);
        k
    }

    pub fn invite(&mut self, now: Instant, dest: SocketAddr) -> TxKey {
        let mut r = self.request(Method::Invite, dest);
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = Bytes::from_static(b"v=0\r\n");
        self.send(now, dest, r)
    }

    pub fn bye(&mut self, now: Instant, d: DialogKey) -> TxKey {
        let dest = self.peers[&d];
        let dl = self.dialogs.get_mut(d).expect("dialog");
        let req = dl.request(Method::Bye);
        dl.state = switchboard_sip::DialogState::Terminating;
        self.send(now, dest, req)
    }

    pub fn responses(&self, key: TxKey) -> Vec<u16> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                TxEvent::Response { key: k, resp } if *k == key => Some(resp.status.0),
                _ => None,
            })
            .collect()
    }

    pub fn has_event(&self, f: impl Fn(&TxEvent) -> bool) -> bool {
        self.events.iter().any(|(_, e)| f(e))
    }

    pub fn event_time(&self, f: impl Fn(&TxEvent) -> bool) -> Option<Duration> {
        self.events.iter().find(|(_, e)| f(e)).map(|(t, _)| *t)
    }

    fn respond(&mut self, now: Instant, key: TxKey, status: u16) {
        let Some(req) = self.tl.request(key).cloned() else {
            return;
        };
        let mut r = Response::for_request(&req, StatusCode(status));
        if (200..300).contains(&status) && matches!(req.method, Method::Invite | Method::Update) {
            for (name, value) in &self.script.answer_headers {
                r.headers.push(name.clone(), value.clone());
            }
        }
        if status == 422 {
            let min_se = self.script.min_se.unwrap_or(90);
            r.headers.push(HeaderName::MinSe, min_se.to_string());
        }
        if status == 407 {
            r.headers.push(
                HeaderName::ProxyAuthenticate,
                r#"Digest realm="carrier", nonce="n1", qop="auth""#,
            );
        }
        let in_dialog = req.headers.to().map(|t| t.tag().is_some()).unwrap_or(false);
        if req.method == Method::Invite && in_dialog {
            if status < 300 {
                r.headers
                    .push(HeaderName::Contact, self.contact().to_string());
            }
        } else if req.method == Method::Invite {
            let tag = self
                .tags
                .entry(key)
                .or_insert_with(|| format!("t{}", key_tag(key)))
                .clone();
            if let Ok(mut to) = r.headers.to() {
                to.set_tag(&tag);
                r.headers.set(HeaderName::To, to.to_string());
            }
            if status < 300 {
                r.headers
                    .push(HeaderName::Contact, self.contact().to_string());
            }
            if (200..300).contains(&status) {
                if let Ok(d) = Dialog::uas(&req, &tag, Some(self.contact()), 0) {
                    let from = self.dests.get(&key).copied();
                    let k = self.dialogs.insert(d);
                    if let Some(f) = from {
                        self.peers.insert(k, f);
                    }
                }
            }
        }
        let _ = self.tl.send_response(now, key, r);
    }

    fn on_event(&mut self, now: Instant, e: &TxEvent) {
        match e {
            TxEvent::NewRequest { key, req, from, .. } => {
                self.dests.insert(*key, *from);
                let in_dialog = req.headers.to().map(|t| t.tag().is_some()).unwrap_or(false);
                if in_dialog {
                    match self.dialogs.handle_request(req) {
                        Err(resp) => {
                            let _ = self.tl.send_response(now, *key, resp);
                        }
                        Ok(dk) => {
                            let glare =
                                req.method == Method::Invite && self.script.glare_reinvites > 0;
                            if glare {
                                self.script.glare_reinvites -= 1;
                            }
                            self.respond(now, *key, if glare { 491 } else { 200 });
                            // The re-INVITE is answered: the next one may come.
                            if let Some(d) = dk.and_then(|k| self.dialogs.get_mut(k)) {
                                if req.method == Method::Invite {
                                    d.invite_done(false);
                                }
                            }
                        }
                    }
                } else if req.method == Method::Invite
                    && self.script.min_se.is_some_and(|m| {
                        req.headers
                            .session_expires()
                            .ok()
                            .flatten()
                            .is_some_and(|se| se.delta < m)
                    })
                {
                    self.respond(now, *key, 422);
                } else if req.method == Method::Invite
                    && self.script.challenge_invites
                    && req.headers.get(&HeaderName::ProxyAuthorization).is_none()
                {
                    self.respond(now, *key, 407);
                } else if req.method == Method::Invite {
                    if self.script.ring {
                        self.respond(now, *key, 180);
                    }
                    if let Some((s, d)) = self.script.invite_final {
                        self.pending.push((now + d, *key, s));
                    }
                } else if let Some(s) = self.script.non_invite {
                    self.respond(now, *key, s);
                }
            }
            TxEvent::Response { key, resp } => {
                let is_invite = resp
                    .headers
                    .cseq()
                    .map(|c| c.method == Method::Invite)
                    .unwrap_or(false);
                if self.script.auto_ack && is_invite && resp.status.is_success() {
                    let Some(req) = self.tl.request(*key).cloned() else {
                        return;
                    };
                    let Ok(d) = Dialog::uac(&req, resp) else {
                        return;
                    };
                    let dest = self.dests[key];
                    let ack = d.ack(req.headers.cseq().map(|c| c.seq).unwrap_or(1));
                    let _ = self
                        .tl
                        .send_ack_for_2xx(now, *key, dest, self.transport, ack);
                    if self.dialogs.find(&d.id).is_none() {
                        let k = self.dialogs.insert(d);
                        self.peers.insert(k, dest);
                    }
                }
            }
            _ => {}
        }
    }
}

fn key_tag(k: TxKey) -> String {
    format!("{k:?}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

impl Node for Ua {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
    fn receive(&mut self, now: Instant, from: SocketAddr, transport: Transport, msg: Message) {
        self.tl.handle_message(now, from, transport, msg);
    }
    fn timeout(&mut self, now: Instant) {
        let due: Vec<_> = self
            .pending
            .iter()
            .filter(|p| p.0 <= now)
            .cloned()
            .collect();
        self.pending.retain(|p| p.0 > now);
        for (_, k, s) in due {
            self.respond(now, k, s);
        }
        self.tl.handle_timeout(now);
    }
    fn deadline(&self) -> Option<Instant> {
        let p = self.pending.iter().map(|p| p.0).min();
        match (p, self.tl.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn drain(&mut self, now: Instant) -> Vec<Send> {
        while let Some(o) = self.tl.poll_output() {
            match o {
                Output::Transmit {
                    to,
                    transport,
                    bytes,
                    ..
                } => self.out.push(Send {
                    to,
                    transport,
                    bytes,
                }),
                Output::Event(e) => {
                    self.events.push((now - self.epoch, e.clone()));
                    self.on_event(now, &e);
                }
            }
        }
        std::mem::take(&mut self.out)
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
