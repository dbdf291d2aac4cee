//! One SIP UDP socket shared by many simulated phones: it parses what arrives with
//! `switchboard-sip-message` and hands each message to the task that owns its Call-ID.
//! Messages for no known Call-ID go to a fallback channel (the agents' side spawns a call
//! task for a new INVITE there). Also the few message builders the phones need.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use switchboard_media::Codec;
use switchboard_sip_message::{
    parse_datagram_bytes, HeaderName, Limits, Message, Request, Response, StatusCode,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Messages routed to one dialog's task.
pub(crate) type Inbox = mpsc::UnboundedReceiver<Message>;

pub(crate) struct Endpoint {
    pub(crate) socket: UdpSocket,
    pub(crate) local: SocketAddr,
    pub(crate) server: SocketAddr,
    routes: Mutex<HashMap<String, mpsc::UnboundedSender<Message>>>,
    counter: AtomicU64,
    /// Datagrams that did not parse as SIP (counted, reported).
    pub(crate) unparsable: AtomicU64,
    /// Messages for a Call-ID no task owns any more (late retransmissions), counted.
    pub(crate) stray: AtomicU64,
}

impl Endpoint {
    pub(crate) async fn bind(server: SocketAddr) -> anyhow::Result<Arc<Endpoint>> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_recv_buffer_size(8 << 20);
        let _ = sock.set_send_buffer_size(8 << 20);
        let local = socket.local_addr()?;
        Ok(Arc::new(Endpoint {
            socket,
            local,
            server,
            routes: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(1),
            unparsable: AtomicU64::new(0),
            stray: AtomicU64::new(0),
        }))
    }

    /// A fresh token for branches, tags and Call-IDs (unique within this run).
    pub(crate) fn token(&self, kind: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{kind}{:x}{n:x}", self.local.port())
    }

    /// Routes messages of `call_id` to the returned inbox until [`Endpoint::unroute`].
    pub(crate) fn route(&self, call_id: &str) -> Inbox {
        let (tx, rx) = mpsc::unbounded_channel();
        self.routes
            .lock()
            .expect("routes lock")
            .insert(call_id.to_string(), tx);
        rx
    }

    pub(crate) fn route_to(&self, call_id: &str, tx: mpsc::UnboundedSender<Message>) {
        self.routes
            .lock()
            .expect("routes lock")
            .insert(call_id.to_string(), tx);
    }

    pub(crate) fn unroute(&self, call_id: &str) {
        self.routes.lock().expect("routes lock").remove(call_id);
    }

    pub(crate) async fn send(&self, bytes: &[u8]) {
        // UDP on loopback: an error here (buffer full) is the same as a loss; the
        // transaction timers retransmit.
        let _ = self.socket.send_to(bytes, self.server).await;
    }

    /// Reads datagrams forever; each parsed message goes to its Call-ID's task, or to
    /// `unknown` when no task owns it.
    pub(crate) async fn run(self: Arc<Self>, unknown: mpsc::UnboundedSender<Message>) {
        let mut buf = vec![0u8; 65536];
        let limits = Limits::default();
        loop {
            let Ok((n, _from)) = self.socket.recv_from(&mut buf).await else {
                continue;
            };
            let data = Bytes::copy_from_slice(&buf[..n]);
            if data.iter().all(|b| b.is_ascii_whitespace()) {
                continue; // keepalive
            }
            let Ok(msg) = parse_datagram_bytes(&data, &limits) else {
                self.unparsable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let Ok(call_id) = msg.headers().call_id() else {
                self.unparsable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let tx = self
                .routes
                .lock()
                .expect("routes lock")
                .get(call_id)
                .cloned();
            match tx {
                Some(tx) => {
                    let _ = tx.send(msg);
                }
                None => {
                    let _ = unknown.send(msg);
                }
            }
        }
    }
}

/// A response to `req` with our To tag (when given), a Contact and an optional SDP body.
pub(crate) fn response(
    req: &Request,
    status: StatusCode,
    to_tag: Option<&str>,
    contact: Option<&str>,
    sdp: Option<String>,
) -> Bytes {
    let mut r = Response::for_request(req, status);
    if let Some(tag) = to_tag {
        if let Some(to) = req.headers.get(&HeaderName::To) {
            if !to.contains(";tag=") {
                r.headers.set(HeaderName::To, format!("{to};tag={tag}"));
            }
        }
    }
    if let Some(c) = contact {
        r.headers.push(HeaderName::Contact, format!("<{c}>"));
    }
    if let Some(body) = sdp {
        r.headers.push(HeaderName::ContentType, "application/sdp");
        r.body = Bytes::from(body);
    }
    r.to_bytes()
}

/// An SDP offer or answer for one PCMU audio stream with telephone-event.
pub(crate) fn sdp(session: u64, port: u16, codec: Codec) -> String {
    let pt = codec.static_payload_type();
    // G.722's rtpmap says 8000 although it samples at 16 kHz (RFC 3551 §4.5.2).
    let name = match codec {
        Codec::Pcma => "PCMA",
        Codec::G722 => "G722",
        _ => "PCMU",
    };
    format!(
        "v=0\r\no=load {session} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// Whether an SDP body's first audio stream lists `codec`'s static payload type.
pub(crate) fn sdp_offers(body: &[u8], codec: Codec) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    let pt = codec.static_payload_type().to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("m=audio "))
        .is_some_and(|m| m.split_whitespace().skip(2).any(|f| f == pt))
}

/// The RTP address of an SDP body (first `c=` line and first `m=audio` port).
pub(crate) fn sdp_media_addr(body: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(body).ok()?;
    let mut ip = None;
    let mut port = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(c) = line.strip_prefix("c=IN IP4 ") {
            ip.get_or_insert(c.trim().to_string());
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port.get_or_insert(m.split_whitespace().next()?.parse::<u16>().ok()?);
        }
    }
    format!("{}:{}", ip?, port?).parse().ok()
}

/// The URI inside a Contact header value (`<sip:...>;params` or a bare URI).
pub(crate) fn contact_uri(msg: &Message) -> Option<String> {
    let c = msg.headers().get(&HeaderName::Contact)?;
    let c = c.trim();
    match (c.find('<'), c.find('>')) {
        (Some(a), Some(b)) if a < b => Some(c[a + 1..b].to_string()),
        _ => Some(c.split(';').next()?.trim().to_string()),
    }
}

/// The tag of a From or To header value.
pub(crate) fn tag_of(value: &str) -> Option<&str> {
    let at = value.find(";tag=")?;
    let rest = &value[at + 5..];
    Some(rest.split([';', '>', ' ']).next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdp_round_trip_and_tags() {
        let body = sdp(7, 31000, Codec::Pcmu);
        assert_eq!(
            sdp_media_addr(body.as_bytes()),
            Some("127.0.0.1:31000".parse().unwrap())
        );
        assert_eq!(tag_of("<sip:a@b>;tag=xy;foo"), Some("xy"));
        assert_eq!(tag_of("<sip:a@b>"), None);
    }

    #[test]
    fn sdp_offers_only_the_chosen_codec_and_is_checked_by_payload_type() {
        let g722 = sdp(1, 30000, Codec::G722);
        assert!(g722.contains("m=audio 30000 RTP/AVP 9 101\r\n"));
        assert!(g722.contains("a=rtpmap:9 G722/8000\r\n"));
        assert!(sdp_offers(g722.as_bytes(), Codec::G722));
        assert!(!sdp_offers(g722.as_bytes(), Codec::Pcmu));
        let pcma = sdp(1, 30000, Codec::Pcma);
        assert!(pcma.contains("RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000"));
        assert!(sdp_offers(pcma.as_bytes(), Codec::Pcma));
        // The server's offer to an agent: all three; the port field is not a payload type.
        let offer = b"v=0\r\nm=audio 8 RTP/AVP 0 8 9 101\r\n";
        for c in [Codec::Pcmu, Codec::Pcma, Codec::G722] {
            assert!(sdp_offers(offer, c));
        }
        assert!(!sdp_offers(
            b"v=0\r\nm=audio 9 RTP/AVP 0 101\r\n",
            Codec::G722
        ));
        assert!(!sdp_offers(b"\xff", Codec::Pcmu));
    }
}
