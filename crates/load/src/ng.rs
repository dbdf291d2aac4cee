//! A client of rtpengine's "ng" control protocol, as much as the baseline run needs: a
//! request is `<cookie> <bencoded dictionary>` in one UDP datagram and the reply is the
//! same cookie and a dictionary with `result` (`ok` or `error` with `error-reason`) and,
//! for `offer` and `answer`, the rewritten `sdp`. Only `offer`, `answer` and `delete` are
//! sent. The decoder is total (any bytes give a value or an error) and bounded in depth.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use tokio::net::UdpSocket;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Str(Vec<u8>),
    Int(i64),
    List(Vec<Value>),
    /// Keys in the order they came (encoding sorts them).
    Dict(Vec<(Vec<u8>, Value)>),
}

impl Value {
    pub(crate) fn str(s: &str) -> Value {
        Value::Str(s.as_bytes().to_vec())
    }

    /// The string under `key` of a dictionary.
    pub(crate) fn get_str(&self, key: &str) -> Option<&str> {
        match self {
            Value::Dict(items) => items.iter().find_map(|(k, v)| match v {
                Value::Str(s) if k == key.as_bytes() => std::str::from_utf8(s).ok(),
                _ => None,
            }),
            _ => None,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Str(s) => {
                out.extend_from_slice(s.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(s);
            }
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::List(items) => {
                out.push(b'l');
                for v in items {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(items) => {
                let mut sorted: Vec<&(Vec<u8>, Value)> = items.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(b'd');
                for (k, v) in sorted {
                    Value::Str(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Nesting deeper than this is refused.
const MAX_DEPTH: usize = 16;

/// Decodes one value from the start of `b`; returns it and the rest.
pub(crate) fn decode(b: &[u8]) -> anyhow::Result<(Value, &[u8])> {
    decode_at(b, 0)
}

fn decode_at(b: &[u8], depth: usize) -> anyhow::Result<(Value, &[u8])> {
    if depth > MAX_DEPTH {
        bail!("bencode nested deeper than {MAX_DEPTH}");
    }
    match b.first() {
        None => bail!("bencode: unexpected end"),
        Some(b'i') => {
            let end = b
                .iter()
                .position(|&c| c == b'e')
                .ok_or_else(|| anyhow!("bencode: unterminated integer"))?;
            let n = std::str::from_utf8(&b[1..end])?
                .parse::<i64>()
                .context("bencode: bad integer")?;
            Ok((Value::Int(n), &b[end + 1..]))
        }
        Some(b'l') => {
            let mut rest = &b[1..];
            let mut items = Vec::new();
            loop {
                match rest.first() {
                    Some(b'e') => return Ok((Value::List(items), &rest[1..])),
                    _ => {
                        let (v, r) = decode_at(rest, depth + 1)?;
                        items.push(v);
                        rest = r;
                    }
                }
            }
        }
        Some(b'd') => {
            let mut rest = &b[1..];
            let mut items = Vec::new();
            loop {
                match rest.first() {
                    Some(b'e') => return Ok((Value::Dict(items), &rest[1..])),
                    _ => {
                        let (k, r) = decode_at(rest, depth + 1)?;
                        let Value::Str(k) = k else {
                            bail!("bencode: dictionary key is not a string")
                        };
                        let (v, r) = decode_at(r, depth + 1)?;
                        items.push((k, v));
                        rest = r;
                    }
                }
            }
        }
        Some(c) if c.is_ascii_digit() => {
            let colon = b
                .iter()
                .position(|&c| c == b':')
                .ok_or_else(|| anyhow!("bencode: string without ':'"))?;
            let len: usize = std::str::from_utf8(&b[..colon])?
                .parse()
                .context("bencode: bad string length")?;
            let start = colon + 1;
            let end = start
                .checked_add(len)
                .filter(|&e| e <= b.len())
                .ok_or_else(|| anyhow!("bencode: string runs past the end"))?;
            Ok((Value::Str(b[start..end].to_vec()), &b[end..]))
        }
        Some(c) => bail!("bencode: unexpected byte {c:#04x}"),
    }
}

/// One request/response exchange with rtpengine at `ng` over `sock` (retried twice on
/// silence); returns the reply dictionary when its `result` is `ok`.
pub(crate) async fn request(
    sock: &UdpSocket,
    ng: SocketAddr,
    cookie: &str,
    fields: Vec<(&str, Value)>,
) -> anyhow::Result<Value> {
    let dict = Value::Dict(
        fields
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    );
    let mut msg = format!("{cookie} ").into_bytes();
    dict.encode(&mut msg);
    let mut buf = vec![0u8; 65536];
    for _ in 0..3 {
        sock.send_to(&msg, ng).await?;
        let Ok(r) = tokio::time::timeout(Duration::from_secs(2), sock.recv_from(&mut buf)).await
        else {
            continue;
        };
        let (n, _) = r?;
        let reply = &buf[..n];
        let Some(sp) = reply.iter().position(|&c| c == b' ') else {
            bail!("ng reply without a cookie");
        };
        if &reply[..sp] != cookie.as_bytes() {
            continue; // a late reply to an earlier retry
        }
        let (v, _) = decode(&reply[sp + 1..])?;
        return match v.get_str("result") {
            Some("ok") => Ok(v),
            other => bail!(
                "rtpengine said {:?}: {}",
                other,
                v.get_str("error-reason").unwrap_or("")
            ),
        };
    }
    bail!("rtpengine at {ng} did not answer")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_dictionaries_with_sorted_keys() {
        let v = Value::Dict(vec![
            (b"sdp".to_vec(), Value::str("v=0")),
            (b"command".to_vec(), Value::str("offer")),
            (b"flags".to_vec(), Value::List(vec![Value::str("a")])),
            (b"n".to_vec(), Value::Int(-3)),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, b"d7:command5:offer5:flagsl1:ae1:ni-3e3:sdp3:v=0e");
        let (back, rest) = decode(&out).unwrap();
        assert!(rest.is_empty());
        assert_eq!(back.get_str("command"), Some("offer"));
        assert_eq!(back.get_str("sdp"), Some("v=0"));
        assert_eq!(back.get_str("missing"), None);
    }

    #[test]
    fn decoding_is_total_on_bad_input() {
        for bad in [
            &b""[..],
            b"d",
            b"i12",
            b"5:abc",
            b"99999999999999999999:x",
            b"di1ei2ee",
            b"x",
            b"l",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let deep = "l".repeat(100) + &"e".repeat(100);
        assert!(decode(deep.as_bytes()).is_err());
    }
}
