//! Best-effort `400 Bad Request` for requests the parser rejected (RFC 3261 §8.2 asks for a
//! 400 where possible; the torture corpus expects it). It copies the raw Via, From, To,
//! Call-ID and CSeq lines it can find; without all of them it says nothing, because a
//! response the client cannot match is noise. Responses that fail to parse are dropped.

use bytes::Bytes;

const MAX_SCAN: usize = 65536;

fn header_kind(name: &str) -> Option<&'static str> {
    match name.trim().to_ascii_lowercase().as_str() {
        "via" | "v" => Some("Via"),
        "from" | "f" => Some("From"),
        "to" | "t" => Some("To"),
        "call-id" | "i" => Some("Call-ID"),
        "cseq" => Some("CSeq"),
        _ => None,
    }
}

/// Builds a 400 for the malformed message in `raw`, or None if it is not a request or
/// lacks what a response needs. `why` goes into the Warning header.
pub(crate) fn bad_request(raw: &[u8], why: &str) -> Option<Bytes> {
    let raw = &raw[..raw.len().min(MAX_SCAN)];
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let start = lines.next()?;
    if start.starts_with("SIP/") || !start.contains("SIP/2.0") {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in lines {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.contains(['\r', '\n']) || value.len() > 2048 {
            continue;
        }
        match header_kind(name) {
            Some("Via") => vias.push(value.to_string()),
            Some("From") => from = from.or(Some(value.to_string())),
            Some("To") => to = to.or(Some(value.to_string())),
            Some("Call-ID") => call_id = call_id.or(Some(value.to_string())),
            Some("CSeq") => cseq = cseq.or(Some(value.to_string())),
            _ => {}
        }
    }
    let (from, mut to, call_id, cseq) = (from?, to?, call_id?, cseq?);
    if vias.is_empty() {
        return None;
    }
    if !to.contains(";tag=") {
        to.push_str(";tag=sb400");
    }
    let why: String = why
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(120)
        .collect();
    let mut out = String::with_capacity(512);
    out.push_str("SIP/2.0 400 Bad Request\r\n");
    for v in vias {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    out.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nWarning: 399 switchboard \"{why}\"\r\nContent-Length: 0\r\n\r\n"
    ));
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_matching_headers() {
        let raw = b"INVITE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\nt: <sip:a@b>\r\ni: c1\r\nCSeq: 1 INVITE\r\nVia: bad;;,,\r\n\r\n";
        let r = bad_request(raw, "bad Via").unwrap();
        let s = String::from_utf8(r.to_vec()).unwrap();
        assert!(s.starts_with("SIP/2.0 400 Bad Request\r\n"));
        assert!(s.contains("Call-ID: c1\r\n"));
        assert!(s.contains("To: <sip:a@b>;tag=sb400\r\n"));
        assert_eq!(s.matches("Via:").count(), 2);
    }

    #[test]
    fn responses_and_fragments_get_nothing() {
        assert!(bad_request(b"SIP/2.0 200 OK\r\n\r\n", "x").is_none());
        assert!(bad_request(b"garbage", "x").is_none());
        assert!(bad_request(b"INVITE sip:a SIP/2.0\r\nCall-ID: x\r\n\r\n", "x").is_none());
    }
}
