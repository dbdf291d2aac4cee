//! How a message finds its transaction (RFC 3261 §17.1.3, §17.2.3): the server-side key
//! (branch, sent-by and method, or the RFC 2543 fallback for branches without the magic
//! cookie), the merged-request key (§8.2.2.2) and the key that ties an ACK to the INVITE whose
//! 2xx it acknowledges.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum ServerKey {
    Rfc3261 {
        branch: String,
        sent_by: String,
        method: String,
    },
    Rfc2543 {
        ruri: String,
        from_tag: String,
        to_tag: String,
        call_id: String,
        cseq: u32,
        method: String,
        via: String,
    },
}

pub(super) type MergeKey = (String, String, u32, String); // from tag, Call-ID, CSeq, method

pub(super) type AckKey = (String, u32, String, String); // Call-ID, CSeq, from tag, to tag

pub(super) fn method_key(m: &Method) -> String {
    m.as_str().to_string()
}

pub(super) fn is_3261_branch(b: &str) -> bool {
    b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE)
}

pub(super) fn sent_by(via: &Via) -> String {
    let host = via.host.to_string().to_ascii_lowercase();
    match via.port {
        Some(p) => format!("{host}:{p}"),
        None => host,
    }
}

/// Server-side match key of a request (ACK maps to INVITE). `None` if core headers are bad.
pub(super) fn server_key(req: &Request) -> Option<ServerKey> {
    let via = req.headers.top_via().ok()?;
    let method = if req.method == Method::Ack {
        "INVITE".to_string()
    } else {
        method_key(&req.method)
    };
    if let Some(b) = via.branch().filter(|b| is_3261_branch(b)) {
        return Some(ServerKey::Rfc3261 {
            branch: b.to_string(),
            sent_by: sent_by(&via),
            method,
        });
    }
    let cseq = req.headers.cseq().ok()?;
    let from_tag = req.headers.from().ok()?.tag().unwrap_or("").to_string();
    // The INVITE has no To tag and its ACK carries ours, so INVITE/ACK ignore the To tag.
    let to_tag = if method == "INVITE" {
        String::new()
    } else {
        req.headers.to().ok()?.tag().unwrap_or("").to_string()
    };
    Some(ServerKey::Rfc2543 {
        ruri: req.uri.to_string(),
        from_tag,
        to_tag,
        call_id: req.headers.call_id().ok()?.to_string(),
        cseq: cseq.seq,
        method,
        via: via.to_string(),
    })
}

pub(super) fn with_method(key: &ServerKey, m: &str) -> ServerKey {
    let mut k = key.clone();
    match &mut k {
        ServerKey::Rfc3261 { method, .. } | ServerKey::Rfc2543 { method, .. } => {
            *method = m.to_string()
        }
    }
    if let ServerKey::Rfc2543 { to_tag, .. } = &mut k {
        if m == "INVITE" {
            to_tag.clear();
        }
    }
    k
}

pub(super) fn merge_key(req: &Request) -> Option<MergeKey> {
    let to = req.headers.to().ok()?;
    if to.tag().is_some() {
        return None;
    }
    let from_tag = req.headers.from().ok()?.tag()?.to_string();
    let cseq = req.headers.cseq().ok()?;
    Some((
        from_tag,
        req.headers.call_id().ok()?.to_string(),
        cseq.seq,
        method_key(&req.method),
    ))
}

pub(super) fn ack_key(req: &Request) -> Option<AckKey> {
    let cseq = req.headers.cseq().ok()?;
    Some((
        req.headers.call_id().ok()?.to_string(),
        cseq.seq,
        req.headers.from().ok()?.tag().unwrap_or("").to_string(),
        req.headers.to().ok()?.tag()?.to_string(),
    ))
}

/// The key an ACK for our 2xx to `invite` must carry: the INVITE's Call-ID, CSeq number
/// and From tag, and our To tag `local_tag` (§13.2.2.4, §17.1.1.3). An ACK naming another
/// tag or CSeq (a blind or forged one) matches nothing.
pub(super) fn invite_ack_key(invite: &Request, local_tag: &str) -> Option<AckKey> {
    let cseq = invite.headers.cseq().ok()?;
    Some((
        invite.headers.call_id().ok()?.to_string(),
        cseq.seq,
        invite.headers.from().ok()?.tag().unwrap_or("").to_string(),
        local_tag.to_string(),
    ))
}

/// Whether `ack` acknowledges the 2xx we sent on an INVITE transaction whose request is
/// `invite` and whose To tag is `local_tag` (the RFC 2543 path, where the ACK reuses the
/// INVITE's Via branch and so matches the transaction itself).
pub(super) fn ack_matches_invite(ack: &Request, invite: &Request, local_tag: Option<&str>) -> bool {
    match (
        ack_key(ack),
        local_tag.and_then(|t| invite_ack_key(invite, t)),
    ) {
        (Some(a), Some(i)) => a == i,
        _ => false,
    }
}
