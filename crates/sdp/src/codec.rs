//! SDP text to [`SessionDescription`] and back. The parser is total: any bytes give a
//! description or a typed [`SdpError`]; sizes are bounded before anything is allocated.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use std::fmt::Write as _;

use crate::error::{Limit, SdpError};
use crate::model::{
    AddrType, Attribute, Connection, MediaDescription, MediaType, Origin, SessionDescription,
    Timing,
};

/// Largest SDP body accepted, in bytes.
pub const MAX_SDP_SIZE: usize = 64 * 1024;
/// Most lines accepted.
pub const MAX_LINES: usize = 1024;
/// Most `m=` sections accepted.
pub const MAX_MEDIA: usize = 32;
/// Most formats on one `m=` line.
pub const MAX_FORMATS: usize = 64;

fn bad(line: usize, what: &'static str) -> SdpError {
    SdpError::Malformed { line, what }
}

fn parse_connection(v: &str, line: usize) -> Result<Connection, SdpError> {
    let mut f = v.split(' ');
    let (Some(n), Some(a), Some(addr), None) = (f.next(), f.next(), f.next(), f.next()) else {
        return Err(bad(line, "c= needs <nettype> <addrtype> <address>"));
    };
    if n.is_empty() || a.is_empty() || addr.is_empty() {
        return Err(bad(line, "empty c= field"));
    }
    Ok(Connection {
        net_type: n.to_owned(),
        addr_type: AddrType::from_token(a),
        address: addr.to_owned(),
    })
}

fn parse_origin(v: &str, line: usize) -> Result<Origin, SdpError> {
    let f: Vec<&str> = v.splitn(7, ' ').collect();
    let [user, id, version, net, addr_type, address] = f.as_slice() else {
        return Err(bad(line, "o= needs 6 fields"));
    };
    if [user, id, net, addr_type, address]
        .iter()
        .any(|s| s.is_empty())
    {
        return Err(bad(line, "empty o= field"));
    }
    Ok(Origin {
        username: (*user).to_owned(),
        session_id: (*id).to_owned(),
        session_version: canonical_u64(version).ok_or(bad(line, "o= session version"))?,
        net_type: (*net).to_owned(),
        addr_type: AddrType::from_token(addr_type),
        address: (*address).to_owned(),
    })
}

fn canonical_u64(s: &str) -> Option<u64> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

fn parse_media(v: &str, line: usize) -> Result<MediaDescription, SdpError> {
    let mut f = v.split(' ');
    let media = f
        .next()
        .filter(|s| !s.is_empty())
        .ok_or(bad(line, "m= media"))?;
    let port_field = f.next().ok_or(bad(line, "m= port"))?;
    let (port, port_count) = match port_field.split_once('/') {
        Some((p, n)) => (p, Some(n)),
        None => (port_field, None),
    };
    let port = canonical_u64(port)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or(bad(line, "m= port"))?;
    let port_count = match port_count {
        Some(n) => Some(
            canonical_u64(n)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or(bad(line, "m= port count"))?,
        ),
        None => None,
    };
    let protocol = f
        .next()
        .filter(|s| !s.is_empty())
        .ok_or(bad(line, "m= proto"))?;
    let mut formats = Vec::new();
    for fmt in f {
        if fmt.is_empty() {
            return Err(bad(line, "empty m= format"));
        }
        if formats.len() == MAX_FORMATS {
            return Err(SdpError::TooLarge {
                what: Limit::Formats,
                max: MAX_FORMATS,
            });
        }
        formats.push(fmt.to_owned());
    }
    Ok(MediaDescription {
        media: MediaType::from_token(media),
        port,
        port_count,
        protocol: protocol.to_owned(),
        formats,
        connection: None,
        other_lines: Vec::new(),
        attributes: Vec::new(),
    })
}

impl SessionDescription {
    /// Parses an SDP body (CRLF or LF line ends). Never panics.
    pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
        if body.len() > MAX_SDP_SIZE {
            return Err(SdpError::TooLarge {
                what: Limit::Size,
                max: MAX_SDP_SIZE,
            });
        }
        let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
        if text.split('\n').count() > MAX_LINES + 1 {
            return Err(SdpError::TooLarge {
                what: Limit::Lines,
                max: MAX_LINES,
            });
        }
        let mut origin = None;
        let mut session_name = None;
        let mut connection = None;
        let mut timing = Vec::new();
        let mut other_lines = Vec::new();
        let mut attributes = Vec::new();
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut seen_version = false;
        for (i, raw) in text.split('\n').enumerate() {
            let n = i + 1;
            let l = raw.strip_suffix('\r').unwrap_or(raw);
            if l.is_empty() {
                continue;
            }
            let mut chars = l.chars();
            let (Some(kind), Some('=')) = (chars.next(), chars.next()) else {
                return Err(bad(n, "expected <type>=<value>"));
            };
            if !kind.is_ascii_lowercase() {
                return Err(bad(n, "line type must be a lowercase letter"));
            }
            let value = chars.as_str();
            if value.contains(['\r', '\0']) {
                return Err(bad(n, "control character in value"));
            }
            if !seen_version {
                if kind != 'v' {
                    return Err(SdpError::Missing('v'));
                }
                if value != "0" {
                    return Err(bad(n, "v= must be 0"));
                }
                seen_version = true;
                continue;
            }
            if let Some(m) = media.last_mut() {
                match kind {
                    'm' => {}
                    'c' if m.connection.is_none() => {
                        m.connection = Some(parse_connection(value, n)?);
                        continue;
                    }
                    'c' => return Err(bad(n, "second c= in media section")),
                    'a' => {
                        m.attributes.push(Attribute::parse(value));
                        continue;
                    }
                    'v' | 'o' | 's' | 't' => return Err(bad(n, "session line inside media")),
                    other => {
                        m.other_lines.push((other, value.to_owned()));
                        continue;
                    }
                }
            }
            match kind {
                'v' => return Err(bad(n, "duplicate v=")),
                'o' if origin.is_none() => origin = Some(parse_origin(value, n)?),
                's' if session_name.is_none() => session_name = Some(value.to_owned()),
                'o' | 's' => return Err(bad(n, "duplicate line")),
                'c' if connection.is_none() => connection = Some(parse_connection(value, n)?),
                'c' => return Err(bad(n, "duplicate c=")),
                't' => {
                    let (a, b) = value.split_once(' ').ok_or(bad(n, "t= needs two times"))?;
                    timing.push(Timing {
                        start: canonical_u64(a).ok_or(bad(n, "t= start"))?,
                        stop: canonical_u64(b).ok_or(bad(n, "t= stop"))?,
                    });
                }
                'a' => attributes.push(Attribute::parse(value)),
                'm' => {
                    if media.len() == MAX_MEDIA {
                        return Err(SdpError::TooLarge {
                            what: Limit::Media,
                            max: MAX_MEDIA,
                        });
                    }
                    media.push(parse_media(value, n)?);
                }
                other => other_lines.push((other, value.to_owned())),
            }
        }
        if !seen_version {
            return Err(SdpError::Missing('v'));
        }
        Ok(SessionDescription {
            origin: origin.ok_or(SdpError::Missing('o'))?,
            session_name: session_name.ok_or(SdpError::Missing('s'))?,
            connection,
            timing,
            other_lines,
            attributes,
            media,
        })
    }

    /// The SDP text (CRLF line ends), lines in RFC 4566 order: `v o s i u e p c b t r z k
    /// a m`; within a media section `m i c b k a`.
    pub fn to_sdp_string(&self) -> String {
        let mut s = String::with_capacity(512);
        let o = &self.origin;
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "v=0\r\no={} {} {} {} {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.session_version,
            o.net_type,
            o.addr_type.as_str(),
            o.address,
            self.session_name
        );
        let put_others = |s: &mut String, lines: &[(char, String)], kinds: &[char]| {
            for (k, v) in lines.iter().filter(|(k, _)| kinds.contains(k)) {
                let _ = write!(s, "{k}={v}\r\n");
            }
        };
        put_others(&mut s, &self.other_lines, &['i', 'u', 'e', 'p']);
        if let Some(c) = &self.connection {
            put_connection(&mut s, c);
        }
        put_others(&mut s, &self.other_lines, &['b']);
        for t in &self.timing {
            let _ = write!(s, "t={} {}\r\n", t.start, t.stop);
        }
        for (k, v) in self
            .other_lines
            .iter()
            .filter(|(k, _)| !matches!(k, 'i' | 'u' | 'e' | 'p' | 'b'))
        {
            let _ = write!(s, "{k}={v}\r\n");
        }
        for a in &self.attributes {
            let _ = write!(s, "a={}\r\n", a.to_text());
        }
        for m in &self.media {
            let _ = write!(s, "m={} {}", m.media.as_str(), m.port);
            if let Some(n) = m.port_count {
                let _ = write!(s, "/{n}");
            }
            let _ = write!(s, " {}", m.protocol);
            for f in &m.formats {
                let _ = write!(s, " {f}");
            }
            s.push_str("\r\n");
            put_others(&mut s, &m.other_lines, &['i']);
            if let Some(c) = &m.connection {
                put_connection(&mut s, c);
            }
            for (k, v) in m.other_lines.iter().filter(|(k, _)| *k != 'i') {
                let _ = write!(s, "{k}={v}\r\n");
            }
            for a in &m.attributes {
                let _ = write!(s, "a={}\r\n", a.to_text());
            }
        }
        s
    }
}

fn put_connection(s: &mut String, c: &Connection) {
    let _ = write!(
        s,
        "c={} {} {}\r\n",
        c.net_type,
        c.addr_type.as_str(),
        c.address
    );
}

impl std::fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_sdp_string())
    }
}
