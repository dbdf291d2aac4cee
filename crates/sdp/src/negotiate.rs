//! RFC 3264 offer/answer for one audio stream: answer a remote offer, build our own
//! offer (the outbound leg of the B2BUA), and process the answer to it.
//!
//! **Codec choice.** By default the answer takes the first format *in the offerer's
//! order* that we support ([`CodecPreference::Offerer`]): RFC 3264 §6.1 lets the answerer
//! choose, and honouring the caller's order avoids transcoding when the B2BUA's other leg
//! offered the same list. [`CodecPreference::Ours`] picks our first supported codec that
//! the offer lists instead. The answer carries exactly one audio codec (plus
//! telephone-event when offered), with the offerer's payload type numbers.
//!
//! Only the first usable `m=audio` RTP stream is accepted; every other stream (video,
//! a second audio, T.38 image) is rejected with port 0, in place, keeping the number and
//! order of `m=` lines. Whether an `RTP/SAVP` stream or an `a=crypto` line is usable
//! depends on the leg's [`SrtpMode`] (SDES, RFC 4568; see `crypto.rs`): the answer then
//! echoes the offer's profile and tag with our own key, and [`Negotiated::srtp`] holds
//! both directions' keys.

use std::net::{IpAddr, SocketAddr};

use switchboard_srtp::Suite;

use crate::crypto::{Crypto, SrtpKeys, SrtpMode};
use crate::error::SdpError;
use crate::model::{
    Attribute, Connection, Direction, Fmtp, MediaDescription, MediaType, Origin, Rtpmap,
    SessionDescription, Timing,
};

/// An audio codec we can handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// Encoding name (matched case-insensitively).
    pub name: String,
    /// Payload type we use when we offer (static types: the RFC 3551 number).
    pub payload_type: u8,
    /// RTP clock rate (8000 for G.722, per RFC 3551 §4.5.2).
    pub clock_rate: u32,
}

impl Codec {
    /// A codec entry.
    pub fn new(name: &str, payload_type: u8, clock_rate: u32) -> Self {
        Codec {
            name: name.to_owned(),
            payload_type,
            clock_rate,
        }
    }
}

/// Which side's order wins when several codecs are common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodecPreference {
    /// First common codec in the offer's order (default).
    #[default]
    Offerer,
    /// First common codec in our order.
    Ours,
}

/// What we support and prefer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCaps {
    /// Codecs in our preference order.
    pub codecs: Vec<Codec>,
    /// RFC 4733 telephone-event PT used in our offers (`None`: no in-band DTMF).
    pub telephone_event: Option<u8>,
    /// Packetisation time we ask for, in ms.
    pub ptime: u32,
    /// Tie-break rule.
    pub preference: CodecPreference,
    /// SRTP policy of the leg and our master key (off by default).
    pub srtp: SrtpMode,
}

impl Default for LocalCaps {
    /// PCMU 0, PCMA 8, G722 9, telephone-event 101, 20 ms, offerer's order.
    fn default() -> Self {
        LocalCaps {
            codecs: vec![
                Codec::new("PCMU", 0, 8000),
                Codec::new("PCMA", 8, 8000),
                Codec::new("G722", 9, 8000),
            ],
            telephone_event: Some(101),
            ptime: 20,
            preference: CodecPreference::Offerer,
            srtp: SrtpMode::Off,
        }
    }
}

/// Our side of the media: where we receive RTP and the `o=` identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    /// Our RTP address (IPv4 or IPv6).
    pub address: IpAddr,
    /// Our RTP port.
    pub port: u16,
    /// `o=` session id (keep it for the whole dialog).
    pub session_id: u64,
    /// `o=` version (increment for each new description in the dialog).
    pub session_version: u64,
    /// The direction we want (sendrecv normally; sendonly to put the peer on hold).
    pub direction: Direction,
}

/// The outcome of a negotiation, for the RTP session and media engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Index of the accepted `m=` line.
    pub media_index: usize,
    /// The chosen codec, with the payload type to use on the wire.
    pub codec: Codec,
    /// Telephone-event payload type, if negotiated.
    pub telephone_event: Option<u8>,
    /// Packetisation time in ms (the remote's `a=ptime`, else ours).
    pub ptime: u32,
    /// What *we* do on this stream.
    pub direction: Direction,
    /// Where to send RTP (`None` when the remote address is unspecified: hold).
    pub remote: Option<SocketAddr>,
    /// SRTP keys when the stream is SRTP (`None`: plain RTP).
    pub srtp: Option<SrtpKeys>,
}

fn payload_type(fmt: &str) -> Option<u8> {
    fmt.parse::<u8>().ok().filter(|pt| *pt < 128)
}

/// Encoding name and clock rate of a format in a media section: from `rtpmap`, or
/// from the RFC 3551 static table.
fn encoding_of(m: &MediaDescription, pt: u8) -> Option<(String, u32)> {
    if let Some(r) = m.rtpmap(pt) {
        return Some((r.encoding.clone(), r.clock_rate));
    }
    let (name, rate) = match pt {
        0 => ("PCMU", 8000),
        3 => ("GSM", 8000),
        4 => ("G723", 8000),
        8 => ("PCMA", 8000),
        9 => ("G722", 8000),
        18 => ("G729", 8000),
        _ => return None,
    };
    Some((name.to_owned(), rate))
}

fn is_rtp_avp(m: &MediaDescription) -> bool {
    m.protocol.eq_ignore_ascii_case("RTP/AVP") || m.protocol.eq_ignore_ascii_case("RTP/AVPF")
}

/// Why a remote stream cannot be used under our SRTP policy.
fn srtp_refusal(m: &MediaDescription, mode: &SrtpMode) -> Option<&'static str> {
    if !m.is_savp() && !is_rtp_avp(m) {
        return Some("transport is not RTP/AVP or RTP/SAVP");
    }
    match (mode, m.is_savp(), m.first_supported_crypto()) {
        (SrtpMode::Off, true, _) => Some("RTP/SAVP offered but SRTP is off for this leg"),
        (SrtpMode::Off, false, _) => None,
        (_, true, None) => Some("RTP/SAVP without a crypto suite we support"),
        (SrtpMode::Required(_), false, None) => Some("SRTP is required for this leg"),
        _ => None,
    }
}

/// The crypto line we answer an offered stream with, and the stream's keys: the first
/// supported line of the offer, echoed with our key (`None`: plain RTP).
fn answer_crypto(m: &MediaDescription, mode: &SrtpMode) -> Option<(Crypto, SrtpKeys)> {
    let ours = mode.key()?;
    let theirs = m.first_supported_crypto()?;
    Some((
        Crypto {
            tag: theirs.tag,
            suite: theirs.suite,
            key: ours.clone(),
        },
        SrtpKeys {
            suite: theirs.suite,
            send: ours.clone(),
            receive: theirs.key,
        },
    ))
}

/// Picks (codec with the remote's PT, telephone-event PT) from a remote media section.
fn choose(m: &MediaDescription, caps: &LocalCaps) -> Option<(Codec, Option<u8>)> {
    let offered: Vec<(u8, String, u32)> = m
        .formats
        .iter()
        .filter_map(|f| payload_type(f))
        .filter_map(|pt| encoding_of(m, pt).map(|(n, r)| (pt, n, r)))
        .collect();
    let matches = |c: &Codec, (_, n, r): &(u8, String, u32)| {
        n.eq_ignore_ascii_case(&c.name) && *r == c.clock_rate
    };
    let chosen = match caps.preference {
        CodecPreference::Offerer => offered
            .iter()
            .find_map(|o| caps.codecs.iter().find(|c| matches(c, o)).map(|c| (c, o.0))),
        CodecPreference::Ours => caps
            .codecs
            .iter()
            .find_map(|c| offered.iter().find(|o| matches(c, o)).map(|o| (c, o.0))),
    };
    let (codec, pt) = chosen?;
    let te = caps.telephone_event.and_then(|_| {
        offered
            .iter()
            .find(|(_, n, r)| n.eq_ignore_ascii_case("telephone-event") && *r == codec.clock_rate)
            .map(|(pt, ..)| *pt)
    });
    Some((
        Codec {
            name: codec.name.clone(),
            payload_type: pt,
            clock_rate: codec.clock_rate,
        },
        te,
    ))
}

fn remote_addr(sdp: &SessionDescription, index: usize) -> Option<SocketAddr> {
    let m = sdp.media.get(index)?;
    let c = sdp.connection_of(index)?;
    let ip = c.ip()?;
    (!ip.is_unspecified() && m.port != 0).then(|| SocketAddr::new(ip, m.port))
}

/// Checks that an offer's media stream `index` names an address media may go to, before
/// we answer an initial INVITE with it: a `c=` line (media or session level) whose
/// address parses as its type and is neither multicast nor broadcast; `0.0.0.0`/`::`
/// only on a stream that is on hold (`sendonly` or `inactive`). A re-INVITE's RFC 2543
/// hold (`0.0.0.0` with `sendrecv`) is not checked here.
pub fn check_connection(sdp: &SessionDescription, index: usize) -> Result<(), SdpError> {
    let c = sdp
        .connection_of(index)
        .ok_or(SdpError::NoConnectionAddress("no c= line"))?;
    let ip = c
        .ip()
        .ok_or(SdpError::NoConnectionAddress("not an address of its type"))?;
    let broadcast = match ip {
        std::net::IpAddr::V4(v4) => v4.is_broadcast(),
        std::net::IpAddr::V6(_) => false,
    };
    if ip.is_multicast() || broadcast {
        return Err(SdpError::NoConnectionAddress("multicast or broadcast"));
    }
    let on_hold = matches!(
        sdp.direction(index),
        Direction::SendOnly | Direction::Inactive
    );
    if ip.is_unspecified() && !on_hold {
        return Err(SdpError::NoConnectionAddress(
            "unspecified address on an active stream",
        ));
    }
    Ok(())
}

fn origin(local: &LocalMedia) -> Origin {
    let c = Connection::new(local.address);
    Origin {
        username: "switchboard".to_owned(),
        session_id: local.session_id.to_string(),
        session_version: local.session_version,
        net_type: c.net_type,
        addr_type: c.addr_type,
        address: c.address,
    }
}

fn audio_section(
    local: &LocalMedia,
    formats: &[(u8, String, u32, Option<String>)],
    ptime: u32,
    direction: Direction,
    protocol: &str,
    crypto: Option<&Crypto>,
) -> MediaDescription {
    let mut attributes = Vec::new();
    for (pt, name, rate, fmtp) in formats {
        attributes.push(Attribute::Rtpmap(Rtpmap {
            payload_type: *pt,
            encoding: name.clone(),
            clock_rate: *rate,
            channels: None,
        }));
        if let Some(p) = fmtp {
            attributes.push(Attribute::Fmtp(Fmtp {
                format: pt.to_string(),
                params: p.clone(),
            }));
        }
    }
    attributes.push(Attribute::Ptime(ptime));
    attributes.push(Attribute::Direction(direction));
    if let Some(c) = crypto {
        attributes.push(c.to_attribute());
    }
    MediaDescription {
        media: MediaType::Audio,
        port: local.port,
        port_count: None,
        protocol: protocol.to_owned(),
        formats: formats.iter().map(|f| f.0.to_string()).collect(),
        connection: None,
        other_lines: Vec::new(),
        attributes,
    }
}

fn rejected(m: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: m.media.clone(),
        port: 0,
        port_count: None,
        protocol: m.protocol.clone(),
        formats: if m.formats.is_empty() {
            vec!["0".to_owned()]
        } else {
            m.formats.clone()
        },
        connection: None,
        other_lines: Vec::new(),
        attributes: Vec::new(),
    }
}

/// Answers a remote offer (RFC 3264 §6). Returns the answer and the negotiated stream,
/// or [`SdpError::NoCommonCodec`] when no audio stream has a codec we support, or
/// [`SdpError::Srtp`] when the only streams with one are refused by the leg's SRTP
/// policy (the server then answers 488 Not Acceptable Here).
pub fn answer(
    offer: &SessionDescription,
    caps: &LocalCaps,
    local: &LocalMedia,
) -> Result<(SessionDescription, Negotiated), SdpError> {
    let mut negotiated = None;
    let mut srtp_refused = None;
    let mut media = Vec::with_capacity(offer.media.len());
    for (i, m) in offer.media.iter().enumerate() {
        let candidate = negotiated.is_none() && m.media == MediaType::Audio && m.port != 0;
        let chosen = if candidate { choose(m, caps) } else { None };
        let refusal = chosen.as_ref().and(srtp_refusal(m, &caps.srtp));
        if let Some(why) = refusal {
            if is_rtp_avp(m) || m.is_savp() {
                srtp_refused.get_or_insert(why);
            }
        }
        let (Some((codec, te)), None) = (chosen, refusal) else {
            media.push(rejected(m));
            continue;
        };
        let crypto = answer_crypto(m, &caps.srtp);
        let offered_dir = offer.direction(i);
        let direction = offered_dir.reverse().intersect(local.direction);
        let ptime = m.ptime().unwrap_or(caps.ptime);
        let mut formats = vec![(
            codec.payload_type,
            codec.name.clone(),
            codec.clock_rate,
            None,
        )];
        if let Some(pt) = te {
            let fmtp = m
                .fmtp(&pt.to_string())
                .map_or_else(|| "0-16".to_owned(), str::to_owned);
            formats.push((
                pt,
                "telephone-event".to_owned(),
                codec.clock_rate,
                Some(fmtp),
            ));
        }
        media.push(audio_section(
            local,
            &formats,
            ptime,
            direction,
            &m.protocol,
            crypto.as_ref().map(|(c, _)| c),
        ));
        negotiated = Some(Negotiated {
            media_index: i,
            codec,
            telephone_event: te,
            ptime,
            direction,
            remote: remote_addr(offer, i),
            srtp: crypto.map(|(_, k)| k),
        });
    }
    let negotiated = match (negotiated, srtp_refused) {
        (Some(n), _) => n,
        (None, Some(why)) => return Err(SdpError::Srtp(why)),
        (None, None) => return Err(SdpError::NoCommonCodec),
    };
    let sdp = SessionDescription {
        origin: origin(local),
        session_name: "-".to_owned(),
        connection: Some(Connection::new(local.address)),
        timing: if offer.timing.is_empty() {
            vec![Timing { start: 0, stop: 0 }]
        } else {
            offer.timing.clone()
        },
        other_lines: Vec::new(),
        attributes: Vec::new(),
        media,
    };
    Ok((sdp, negotiated))
}

/// Builds our offer: one audio stream with every codec of `caps` in order, plus
/// telephone-event (`fmtp 0-16`) if configured. With SRTP required the stream is
/// `RTP/SAVP`; with SRTP optional it is `RTP/AVP`; either way it carries
/// `a=crypto:1 AES_CM_128_HMAC_SHA1_80` with our key.
pub fn offer(caps: &LocalCaps, local: &LocalMedia) -> SessionDescription {
    let mut formats: Vec<_> = caps
        .codecs
        .iter()
        .map(|c| (c.payload_type, c.name.clone(), c.clock_rate, None))
        .collect();
    if let Some(pt) = caps.telephone_event {
        formats.push((
            pt,
            "telephone-event".to_owned(),
            8000,
            Some("0-16".to_owned()),
        ));
    }
    SessionDescription {
        origin: origin(local),
        session_name: "-".to_owned(),
        connection: Some(Connection::new(local.address)),
        timing: vec![Timing { start: 0, stop: 0 }],
        other_lines: Vec::new(),
        attributes: Vec::new(),
        media: vec![audio_section(
            local,
            &formats,
            caps.ptime,
            local.direction,
            if caps.srtp.required() {
                "RTP/SAVP"
            } else {
                "RTP/AVP"
            },
            caps.srtp
                .key()
                .map(|key| Crypto {
                    tag: OFFER_CRYPTO_TAG,
                    suite: Suite::AesCm128HmacSha1_80,
                    key: key.clone(),
                })
                .as_ref(),
        )],
    }
}

/// The tag of the one crypto line of our offers.
const OFFER_CRYPTO_TAG: u32 = 1;

/// The keys of an answered stream of ours: the answer's crypto line must echo the tag and
/// suite we offered.
fn answered_srtp(a: &MediaDescription, caps: &LocalCaps) -> Result<Option<SrtpKeys>, &'static str> {
    let Some(ours) = caps.srtp.key() else {
        return if a.is_savp() {
            Err("RTP/SAVP answer to a plain offer")
        } else {
            Ok(None)
        };
    };
    match a.first_supported_crypto() {
        Some(c) if c.tag == OFFER_CRYPTO_TAG && c.suite == Suite::AesCm128HmacSha1_80 => {
            Ok(Some(SrtpKeys {
                suite: c.suite,
                send: ours.clone(),
                receive: c.key,
            }))
        }
        Some(_) => Err("the answer's crypto line is not the one we offered"),
        None if a.is_savp() || caps.srtp.required() => {
            Err("the answer has no crypto line and SRTP is required")
        }
        None => Ok(None),
    }
}

/// Processes the answer to an offer we made (RFC 3264 §7): the codec is the first format
/// of the accepted audio stream that we support, with the answer's payload types.
pub fn process_answer(
    our_offer: &SessionDescription,
    answer: &SessionDescription,
    caps: &LocalCaps,
) -> Result<Negotiated, SdpError> {
    if answer.media.len() != our_offer.media.len() {
        return Err(SdpError::AnswerMismatch("number of m= lines differs"));
    }
    for (i, (o, a)) in our_offer.media.iter().zip(&answer.media).enumerate() {
        if o.media != a.media {
            return Err(SdpError::AnswerMismatch("m= media type differs"));
        }
        if a.port == 0
            || o.port == 0
            || a.media != MediaType::Audio
            || !(is_rtp_avp(a) || a.is_savp())
        {
            continue;
        }
        let srtp = answered_srtp(a, caps).map_err(SdpError::Srtp)?;
        // The answer's own order wins: it lists what the answerer will send.
        let ours = LocalCaps {
            preference: CodecPreference::Offerer,
            ..caps.clone()
        };
        let Some((codec, te)) = choose(a, &ours) else {
            continue;
        };
        let our_dir = our_offer.direction(i);
        let direction = answer.direction(i).reverse().intersect(our_dir);
        return Ok(Negotiated {
            media_index: i,
            codec,
            telephone_event: te,
            ptime: a.ptime().or(o.ptime()).unwrap_or(caps.ptime),
            direction,
            remote: remote_addr(answer, i),
            srtp,
        });
    }
    Err(SdpError::NoCommonCodec)
}
