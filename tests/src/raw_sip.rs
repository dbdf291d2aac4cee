//! A SIP phone made of one UDP socket the test owns: it registers with digest
//! authentication (MD5, qop=auth, computed here independently of the server's code) and
//! then sends whatever the test wants from that same registered source address: forged
//! INVITEs, blind ACKs and BYEs, or properly authenticated requests.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

/// One SIP response as received.
#[derive(Clone, Debug)]
pub struct SipResponse {
    /// Status code.
    pub status: u16,
    /// The whole message.
    pub text: String,
}

impl SipResponse {
    /// The first value of header `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<String> {
        header(&self.text, name)
    }

    /// The To header's tag.
    pub fn to_tag(&self) -> Option<String> {
        let to = self.header("To").or_else(|| self.header("t"))?;
        to.split(";tag=").nth(1).map(|t| {
            t.split(|c: char| c == ';' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string()
        })
    }
}

/// The first value of header `name` in a SIP message.
pub fn header(msg: &str, name: &str) -> Option<String> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

fn md5_hex(parts: &[&str]) -> String {
    let mut h = Md5::new();
    h.update(parts.join(":").as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A quoted parameter of a challenge, e.g. `nonce`.
fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = challenge.get(start..)?;
    Some(rest.get(..rest.find('"')?)?.to_string())
}

/// `Digest ...` credentials answering `challenge` for `method` on `uri`.
pub fn digest_credentials(
    challenge: &str,
    user: &str,
    password: &str,
    method: &str,
    uri: &str,
) -> String {
    let realm = challenge_param(challenge, "realm").unwrap_or_default();
    let nonce = challenge_param(challenge, "nonce").unwrap_or_default();
    let cnonce = "e2ecnonce";
    let nc = "00000001";
    let ha1 = md5_hex(&[user, &realm, password]);
    let ha2 = md5_hex(&[method, uri]);
    let response = md5_hex(&[&ha1, &nonce, nc, cnonce, "auth", &ha2]);
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\""
    )
}

/// A phone on one UDP socket.
pub struct RawPhone {
    sock: UdpSocket,
    server: SocketAddr,
    cseq: u32,
    seq: u64,
}

impl RawPhone {
    /// Binds `ip:0` (e.g. `127.0.0.1`, `127.0.0.2`) for talking to `server`.
    pub fn bind(ip: &str, server: SocketAddr) -> RawPhone {
        let sock = UdpSocket::bind(format!("{ip}:0")).expect("bind SIP socket");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        RawPhone {
            sock,
            server,
            cseq: 0,
            seq: 0,
        }
    }

    /// The socket's address (the source the server sees).
    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local addr")
    }

    /// Sends raw text.
    pub fn send(&self, msg: &str) {
        self.sock
            .send_to(msg.as_bytes(), self.server)
            .expect("send");
    }

    /// Waits up to `secs` for a response whose CSeq header is `cseq` (e.g. `"2 INVITE"`)
    /// with a final status (or any status when `provisional` is true).
    pub fn wait_response(&self, cseq: &str, secs: u64) -> Option<SipResponse> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            let Ok((n, _)) = self.sock.recv_from(&mut buf) else {
                continue;
            };
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            if !text.starts_with("SIP/2.0 ") {
                continue;
            }
            let status = text
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(0);
            if status < 200 || header(&text, "CSeq").as_deref() != Some(cseq) {
                continue;
            }
            return Some(SipResponse { status, text });
        }
        None
    }

    fn next(&mut self) -> (u32, u64) {
        self.cseq += 1;
        self.seq += 1;
        (self.cseq, self.seq)
    }

    fn request(&self, method: &str, uri: &str, branch: &str, headers: &str, body: &str) -> String {
        let addr = self.addr();
        let body_headers = if body.is_empty() {
            String::new()
        } else {
            "Content-Type: application/sdp\r\n".to_string()
        };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {addr};rport;branch=z9hG4bK{branch}\r\n\
             Max-Forwards: 70\r\n{headers}{body_headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// Registers `user` (answering the 401); the final status.
    pub fn register(&mut self, user: &str, password: &str) -> u16 {
        let host = self.server;
        let uri = format!("sip:{host}");
        let call_id = format!("reg-{}-{user}", self.addr().port());
        let mut auth = String::new();
        for _ in 0..2 {
            let (cseq, seq) = self.next();
            let headers = format!(
                "From: <sip:{user}@{host}>;tag=r{seq}\r\nTo: <sip:{user}@{host}>\r\n\
                 Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
                 Contact: <sip:{user}@{}>\r\nExpires: 300\r\n{auth}",
                self.addr()
            );
            self.send(&self.request("REGISTER", &uri, &format!("reg{seq}"), &headers, ""));
            let Some(r) = self.wait_response(&format!("{cseq} REGISTER"), 5) else {
                return 0;
            };
            if r.status != 401 {
                return r.status;
            }
            let ch = r.header("WWW-Authenticate").unwrap_or_default();
            auth = format!(
                "Authorization: {}\r\n",
                digest_credentials(&ch, user, password, "REGISTER", &uri)
            );
        }
        401
    }

    /// Sends an INVITE as `from_user` to `to_user` with `sdp` and the extra `headers`
    /// (e.g. `Proxy-Authorization: ...\r\n`); returns the dialog it names and its final
    /// response. The INVITE's text comes back too, for crafting ACK/BYE.
    pub fn invite(
        &mut self,
        from_user: &str,
        to_user: &str,
        call_id: &str,
        sdp: &str,
        headers: &str,
    ) -> (InviteSent, Option<SipResponse>) {
        let (cseq, seq) = self.next();
        let host = self.server;
        let uri = format!("sip:{to_user}@{host}");
        let from_tag = format!("ft{}", self.addr().port());
        let hdrs = format!(
            "From: <sip:{from_user}@{host}>;tag={from_tag}\r\nTo: <{uri}>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} INVITE\r\n\
             Contact: <sip:{from_user}@{}>\r\n{headers}",
            self.addr()
        );
        let branch = format!("inv{seq}");
        self.send(&self.request("INVITE", &uri, &branch, &hdrs, sdp));
        let resp = self.wait_response(&format!("{cseq} INVITE"), 10);
        (
            InviteSent {
                uri,
                call_id: call_id.to_string(),
                from_user: from_user.to_string(),
                from_tag,
                cseq,
                branch,
            },
            resp,
        )
    }

    /// Sends `method` (ACK, BYE, INFO...) in the dialog `inv` names, with To tag `to_tag`,
    /// CSeq number `cseq` and From tag `from_tag` (the INVITE's unless overridden).
    pub fn in_dialog(
        &mut self,
        inv: &InviteSent,
        method: &str,
        to_tag: &str,
        from_tag: &str,
        cseq: u32,
    ) {
        let (_, seq) = self.next();
        let host = self.server;
        let hdrs = format!(
            "From: <sip:{}@{host}>;tag={from_tag}\r\nTo: <{}>;tag={to_tag}\r\n\
             Call-ID: {}\r\nCSeq: {cseq} {method}\r\n",
            inv.from_user, inv.uri, inv.call_id
        );
        self.send(&self.request(method, &inv.uri, &format!("dlg{seq}"), &hdrs, ""));
    }
}

/// What [`RawPhone::invite`] sent.
#[derive(Clone, Debug)]
pub struct InviteSent {
    /// Request-URI (also the To URI).
    pub uri: String,
    /// Call-ID.
    pub call_id: String,
    /// From user.
    pub from_user: String,
    /// From tag.
    pub from_tag: String,
    /// CSeq number.
    pub cseq: u32,
    /// Via branch (without the magic cookie).
    pub branch: String,
}

impl RawPhone {
    /// ACKs a non-2xx final response to `inv` (same branch, the response's To tag), so
    /// the server stops retransmitting it.
    pub fn ack_failure(&mut self, inv: &InviteSent, resp: &SipResponse) {
        let host = self.server;
        let to_tag = resp.to_tag().unwrap_or_default();
        let hdrs = format!(
            "From: <sip:{}@{host}>;tag={}\r\nTo: <{}>;tag={to_tag}\r\n\
             Call-ID: {}\r\nCSeq: {} ACK\r\n",
            inv.from_user, inv.from_tag, inv.uri, inv.call_id, inv.cseq
        );
        self.send(&self.request("ACK", &inv.uri, &inv.branch, &hdrs, ""));
    }
}
