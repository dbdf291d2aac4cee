//! The session description model (RFC 4566): typed where the call engine needs it,
//! verbatim everywhere else so unknown lines and attributes pass through unchanged.

use std::net::IpAddr;

/// Address type of `o=` and `c=` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6` (RFC 4566 §5.7, RFC 5118 §6).
    Ip6,
    /// Anything else, kept verbatim.
    Other(String),
}

impl AddrType {
    /// The wire token.
    pub fn as_str(&self) -> &str {
        match self {
            AddrType::Ip4 => "IP4",
            AddrType::Ip6 => "IP6",
            AddrType::Other(s) => s,
        }
    }

    pub(crate) fn from_token(s: &str) -> Self {
        match s {
            "IP4" => AddrType::Ip4,
            "IP6" => AddrType::Ip6,
            other => AddrType::Other(other.to_owned()),
        }
    }

    /// The address type of an IP address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddrType::Ip4,
            IpAddr::V6(_) => AddrType::Ip6,
        }
    }
}

/// `o=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// User name (`-` when none).
    pub username: String,
    /// Session id (numeric string, kept verbatim).
    pub session_id: String,
    /// Session version; increment on every new offer/answer of the session.
    pub session_version: u64,
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type.
    pub addr_type: AddrType,
    /// Unicast address of the originator (verbatim).
    pub address: String,
}

/// `c=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Network type (`IN`).
    pub net_type: String,
    /// Address type.
    pub addr_type: AddrType,
    /// Connection address, verbatim (may carry `/ttl` for multicast).
    pub address: String,
}

impl Connection {
    /// An `IN IP4`/`IN IP6` connection for `ip`.
    pub fn new(ip: IpAddr) -> Self {
        Connection {
            net_type: "IN".to_owned(),
            addr_type: AddrType::of(ip),
            address: ip.to_string(),
        }
    }

    /// The address as an IP, if it is a plain unicast IPv4/IPv6 literal matching the
    /// address type (a host name or `/ttl` suffix gives `None`).
    pub fn ip(&self) -> Option<IpAddr> {
        let ip: IpAddr = self.address.parse().ok()?;
        match (&self.addr_type, ip) {
            (AddrType::Ip4, IpAddr::V4(_)) | (AddrType::Ip6, IpAddr::V6(_)) => Some(ip),
            _ => None,
        }
    }

    /// RFC 2543-style hold: `c=IN IP4 0.0.0.0` (or `::` for IPv6).
    pub fn is_unspecified(&self) -> bool {
        self.ip().is_some_and(|ip| ip.is_unspecified())
    }
}

/// `t=` line (NTP seconds; `0 0` = unbounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Start time.
    pub start: u64,
    /// Stop time.
    pub stop: u64,
}

/// Media direction attribute (RFC 3264 §5.1, §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// `a=sendrecv` (the default when absent).
    #[default]
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    fn from_flags(send: bool, recv: bool) -> Self {
        match (send, recv) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    /// Whether this side sends.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side receives.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    /// The same stream seen from the other side (sendonly <-> recvonly).
    pub fn reverse(self) -> Self {
        Direction::from_flags(self.receives(), self.sends())
    }

    /// What both allow (used to answer: `offered.reverse().intersect(wanted)`).
    pub fn intersect(self, other: Direction) -> Self {
        Direction::from_flags(
            self.sends() && other.sends(),
            self.receives() && other.receives(),
        )
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtpmap {
    /// Payload type.
    pub payload_type: u8,
    /// Encoding name as received (compare case-insensitively).
    pub encoding: String,
    /// RTP clock rate.
    pub clock_rate: u32,
    /// Encoding parameters (channels for audio).
    pub channels: Option<u16>,
}

/// `a=fmtp:<format> <parameters>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    /// The format (payload type) it applies to.
    pub format: String,
    /// Parameters, verbatim.
    pub params: String,
}

/// An `a=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=rtpmap`.
    Rtpmap(Rtpmap),
    /// `a=fmtp`.
    Fmtp(Fmtp),
    /// `a=ptime` in milliseconds.
    Ptime(u32),
    /// `a=sendrecv|sendonly|recvonly|inactive`.
    Direction(Direction),
    /// Any other attribute (or a typed one that did not parse), verbatim.
    Other {
        /// Attribute name.
        name: String,
        /// Value after `:`, if any.
        value: Option<String>,
    },
}

impl Attribute {
    /// Parses the text after `a=` (never fails: unknown or malformed → `Other`).
    pub fn parse(text: &str) -> Attribute {
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, Some(v)),
            None => (text, None),
        };
        let typed = match (name, value) {
            ("rtpmap", Some(v)) => parse_rtpmap(v).map(Attribute::Rtpmap),
            ("fmtp", Some(v)) => v.split_once(' ').and_then(|(f, p)| {
                (!f.is_empty()).then(|| {
                    Attribute::Fmtp(Fmtp {
                        format: f.to_owned(),
                        params: p.to_owned(),
                    })
                })
            }),
            ("ptime", Some(v)) => canonical_u32(v).map(Attribute::Ptime),
            (n, None) => Direction::from_name(n).map(Attribute::Direction),
            _ => None,
        };
        typed.unwrap_or_else(|| Attribute::Other {
            name: name.to_owned(),
            value: value.map(str::to_owned),
        })
    }

    /// The text after `a=`.
    pub fn to_text(&self) -> String {
        match self {
            Attribute::Rtpmap(r) => match r.channels {
                Some(c) => format!(
                    "rtpmap:{} {}/{}/{}",
                    r.payload_type, r.encoding, r.clock_rate, c
                ),
                None => format!("rtpmap:{} {}/{}", r.payload_type, r.encoding, r.clock_rate),
            },
            Attribute::Fmtp(f) => format!("fmtp:{} {}", f.format, f.params),
            Attribute::Ptime(p) => format!("ptime:{p}"),
            Attribute::Direction(d) => d.as_str().to_owned(),
            Attribute::Other { name, value: None } => name.clone(),
            Attribute::Other {
                name,
                value: Some(v),
            } => format!("{name}:{v}"),
        }
    }
}

/// A decimal number without sign or leading zeros, so printing gives the same text.
fn canonical_u32(s: &str) -> Option<u32> {
    if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

fn parse_rtpmap(v: &str) -> Option<Rtpmap> {
    let (pt, rest) = v.split_once(' ')?;
    let pt = canonical_u32(pt)?;
    let mut parts = rest.split('/');
    let encoding = parts.next()?;
    if encoding.is_empty() || encoding.contains(' ') {
        return None;
    }
    let clock_rate = canonical_u32(parts.next()?)?;
    let channels = match parts.next() {
        Some(c) => Some(u16::try_from(canonical_u32(c)?).ok()?),
        None => None,
    };
    if parts.next().is_some() || pt > 127 {
        return None;
    }
    Some(Rtpmap {
        payload_type: pt as u8,
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
    })
}

/// Media type of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaType {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// Anything else (`application`, `text`, `image`, ...), verbatim.
    Other(String),
}

impl MediaType {
    /// The wire token.
    pub fn as_str(&self) -> &str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::Other(s) => s,
        }
    }

    pub(crate) fn from_token(s: &str) -> Self {
        match s {
            "audio" => MediaType::Audio,
            "video" => MediaType::Video,
            o => MediaType::Other(o.to_owned()),
        }
    }
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type.
    pub media: MediaType,
    /// Transport port (0 = stream rejected/disabled).
    pub port: u16,
    /// Optional `/<number of ports>`.
    pub port_count: Option<u16>,
    /// Transport protocol (`RTP/AVP`, `RTP/SAVP`, `udptl`, ...).
    pub protocol: String,
    /// Format list (payload type numbers for RTP).
    pub formats: Vec<String>,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// Other media-level lines (`i=`, `b=`, `k=`), type letter and value, in order.
    pub other_lines: Vec<(char, String)>,
    /// `a=` lines in order.
    pub attributes: Vec<Attribute>,
}

impl MediaDescription {
    /// The direction attribute of this section, if present.
    pub fn direction_attr(&self) -> Option<Direction> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Direction(d) => Some(*d),
            _ => None,
        })
    }

    /// The `rtpmap` for a payload type, if present.
    pub fn rtpmap(&self, pt: u8) -> Option<&Rtpmap> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Rtpmap(r) if r.payload_type == pt => Some(r),
            _ => None,
        })
    }

    /// The `fmtp` parameters for a format, if present.
    pub fn fmtp(&self, format: &str) -> Option<&str> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Fmtp(f) if f.format == format => Some(f.params.as_str()),
            _ => None,
        })
    }

    /// `a=ptime`, if present.
    pub fn ptime(&self) -> Option<u32> {
        self.attributes.iter().find_map(|a| match a {
            Attribute::Ptime(p) => Some(*p),
            _ => None,
        })
    }

    /// Sets (replacing any existing) the direction attribute.
    pub fn set_direction(&mut self, d: Direction) {
        self.attributes
            .retain(|a| !matches!(a, Attribute::Direction(_)));
        self.attributes.push(Attribute::Direction(d));
    }
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// `o=`.
    pub origin: Origin,
    /// `s=` (`-` when none).
    pub session_name: String,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// `t=` lines.
    pub timing: Vec<Timing>,
    /// Other session-level lines (`i= u= e= p= b= r= z= k=`), letter and value, in order.
    pub other_lines: Vec<(char, String)>,
    /// Session-level `a=` lines.
    pub attributes: Vec<Attribute>,
    /// `m=` sections in order.
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// The effective direction of media section `index` (media attribute, else session
    /// attribute, else sendrecv).
    pub fn direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction_attr)
            .or_else(|| {
                self.attributes.iter().find_map(|a| match a {
                    Attribute::Direction(d) => Some(*d),
                    _ => None,
                })
            })
            .unwrap_or_default()
    }

    /// The effective connection of media section `index` (media `c=`, else session `c=`).
    pub fn connection_of(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(|m| m.connection.as_ref())
            .or(self.connection.as_ref())
    }

    /// Whether this (remote) description puts us on hold: the first active audio stream
    /// is `sendonly` or `inactive`, or its connection address is `0.0.0.0` / `::`
    /// (RFC 2543 style). A description without active audio is not a hold.
    pub fn is_hold(&self) -> bool {
        self.media
            .iter()
            .position(|m| m.media == MediaType::Audio && m.port != 0)
            .is_some_and(|i| {
                matches!(self.direction(i), Direction::SendOnly | Direction::Inactive)
                    || self
                        .connection_of(i)
                        .is_some_and(Connection::is_unspecified)
            })
    }
}
