//! Response routing: RFC 3261 §18.2.1 (stamp `received`), §18.2.2 (where a response goes) and
//! RFC 3581 (`rport`, symmetric response routing).

use std::net::{IpAddr, SocketAddr};

use switchboard_sip_message::{Header, HeaderError, HeaderName, Headers, Host, Request, Via};

use crate::transport::Transport;

/// Stamps the top Via of a received request with the address it came from.
///
/// Adds `received=<source ip>` when the sent-by host is not that IP (always, for a hostname),
/// and fills an empty `rport` with the source port (RFC 3581 §4, which also demands `received`
/// in that case). Errors only when the request has no parseable Via.
pub fn stamp_via(req: &mut Request, source: SocketAddr) -> Result<(), HeaderError> {
    let mut vias = req.headers.vias()?;
    let Some(top) = vias.first_mut() else {
        return Err(HeaderError {
            header: "Via",
            what: "missing",
        });
    };
    let ip = canonical_ip(source.ip());
    let same_host = match &top.host {
        Host::V4(a) => IpAddr::V4(*a) == ip,
        Host::V6(a) => canonical_ip(IpAddr::V6(*a)) == ip,
        Host::Name(_) => false,
    };
    let wants_rport = matches!(top.rport(), Some(None));
    if !same_host || wants_rport {
        top.set_param("received", Some(ip.to_string()));
    }
    if wants_rport {
        top.set_param("rport", Some(source.port().to_string()));
    }
    replace_vias(&mut req.headers, &vias);
    Ok(())
}

/// Where a response to a request with this top Via goes (RFC 3261 §18.2.2, RFC 3581 §4).
///
/// `received` (with or without RFC 5118 brackets) wins over the sent-by host; a filled `rport`
/// wins over the sent-by port; otherwise the sent-by port or the transport's default port.
/// Returns `None` when the sent-by is a hostname and there is no `received`: the driver must
/// resolve it (RFC 3263 §6). On a reliable transport the driver should first try the connection
/// the request came in on.
pub fn response_destination(via: &Via, transport: Transport) -> Option<SocketAddr> {
    let ip = match via.received() {
        Some(r) => parse_ip(r)?,
        None => match &via.host {
            Host::V4(a) => IpAddr::V4(*a),
            Host::V6(a) => IpAddr::V6(*a),
            Host::Name(_) => return None,
        },
    };
    let port = match via.rport() {
        Some(Some(p)) => p,
        _ => via.port.unwrap_or(transport.default_port()),
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses an IP literal, tolerating `[v6]` brackets (RFC 5118 §4.5).
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Replaces every Via header with `vias`, one per line, at the position of the first Via.
pub(crate) fn replace_vias(headers: &mut Headers, vias: &[Via]) {
    let pos = headers
        .0
        .iter()
        .position(|h| h.name == HeaderName::Via)
        .unwrap_or(0);
    headers.0.retain(|h| h.name != HeaderName::Via);
    let pos = pos.min(headers.0.len());
    for (i, v) in vias.iter().enumerate() {
        headers.0.insert(
            pos + i,
            Header {
                name: HeaderName::Via,
                value: v.to_string(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_sip_message::{Method, Uri};

    fn req_with_via(via: &str) -> Request {
        let mut r = Request::new(
            Method::Options,
            Uri::parse("sip:bob@example.com").expect("uri"),
        );
        r.headers.push(HeaderName::Via, via);
        r.headers.push(
            HeaderName::Via,
            "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp",
        );
        r
    }

    #[test]
    fn hostname_sent_by_gets_received_and_rport() {
        let mut r = req_with_via("SIP/2.0/UDP pc33.example.com;branch=z9hG4bKa;rport");
        let src: SocketAddr = "192.0.2.4:40000".parse().expect("addr");
        stamp_via(&mut r, src).expect("stamp");
        let top = r.headers.top_via().expect("via");
        assert_eq!(top.received(), Some("192.0.2.4"));
        assert_eq!(top.rport(), Some(Some(40000)));
        assert_eq!(r.headers.vias().expect("vias").len(), 2);
        assert_eq!(response_destination(&top, Transport::Udp), Some(src));
    }

    #[test]
    fn matching_ip_without_rport_is_left_alone() {
        let mut r = req_with_via("SIP/2.0/UDP 192.0.2.4:5062;branch=z9hG4bKa");
        stamp_via(&mut r, "192.0.2.4:5062".parse().expect("addr")).expect("stamp");
        let top = r.headers.top_via().expect("via");
        assert_eq!(top.received(), None);
        assert_eq!(
            response_destination(&top, Transport::Udp),
            Some("192.0.2.4:5062".parse().expect("addr"))
        );
    }

    #[test]
    fn received_without_rport_uses_sent_by_port() {
        let mut r = req_with_via("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKa");
        stamp_via(&mut r, "192.0.2.9:1024".parse().expect("addr")).expect("stamp");
        let top = r.headers.top_via().expect("via");
        assert_eq!(top.received(), Some("192.0.2.9"));
        assert_eq!(
            response_destination(&top, Transport::Udp),
            Some("192.0.2.9:5070".parse().expect("addr"))
        );
    }

    #[test]
    fn hostname_without_received_needs_resolution() {
        let via = Via::parse("SIP/2.0/TLS pc.example.com;branch=z9hG4bKa").expect("via");
        assert_eq!(response_destination(&via, Transport::Tls), None);
        let via = Via::parse("SIP/2.0/TLS 192.0.2.1;branch=z9hG4bKa").expect("via");
        assert_eq!(
            response_destination(&via, Transport::Tls),
            Some("192.0.2.1:5061".parse().expect("addr"))
        );
    }

    #[test]
    fn bracketed_v6_received_is_accepted() {
        let via =
            Via::parse("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKa")
                .expect("via");
        assert_eq!(
            response_destination(&via, Transport::Udp),
            Some("[2001:db8::9:255]:5060".parse().expect("addr"))
        );
    }
}
