//! The agents' softphones: REGISTER with an MD5 digest answer to the 401 challenge, then
//! answer each offered INVITE after the configured delay (100, 180, 200 retransmitted until
//! the ACK), send their tone, answer BYE with 200, OPTIONS keepalives with 200, CANCEL
//! with 200 and 487.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_sip_message::{HeaderName, Message, Method, Request, StatusCode};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant as TokioInstant};

use crate::audio::{RtpSource, AGENT_TONE_HZ, CALLER_TONE_HZ};
use crate::digest;
use crate::endpoint::{response, sdp, sdp_media_addr, sdp_offers, tag_of, Endpoint, Inbox};
use crate::leg::{caller_index, AgentAnswered, MediaLeg, PacketBuf, Shared, T1, T2, TX_TIMEOUT};

/// Registers `user` with `password`; `Err(cause)` when the server does not accept it.
pub(crate) async fn register(
    ep: &Endpoint,
    user: &str,
    password: &str,
    expires: u32,
) -> Result<(), String> {
    let call_id = format!("{}@load", ep.token("r"));
    let mut inbox = ep.route(&call_id);
    let r = register_dialog(ep, user, password, expires, &call_id, &mut inbox).await;
    ep.unroute(&call_id);
    r
}

async fn register_dialog(
    ep: &Endpoint,
    user: &str,
    password: &str,
    expires: u32,
    call_id: &str,
    inbox: &mut Inbox,
) -> Result<(), String> {
    let server = ep.server;
    let uri = format!("sip:{server}");
    let tag = ep.token("f");
    let mut authorization: Option<String> = None;
    for cseq in 1..=3u32 {
        let auth = authorization
            .as_ref()
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@{server}>;tag={tag}\r\nTo: <sip:{user}@{server}>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\n\
             Expires: {expires}\r\n{auth}User-Agent: switchboard-load\r\nContent-Length: 0\r\n\r\n",
            local = ep.local,
            branch = ep.token("z9hG4bK"),
        );
        let resp = transact(ep, req.as_bytes(), inbox, Method::Register).await?;
        match resp.status.0 {
            200..=299 => return Ok(()),
            401 if authorization.is_none() => {
                let challenges = resp
                    .headers
                    .auth(&HeaderName::WwwAuthenticate)
                    .map_err(|_| "register_bad_challenge".to_string())?;
                let cnonce = ep.token("cn");
                authorization = challenges.iter().find_map(|c| {
                    digest::authorization(c, user, password, "REGISTER", &uri, &cnonce, 1)
                });
                if authorization.is_none() {
                    return Err("register_no_md5_challenge".into());
                }
            }
            code => return Err(format!("register_{code}")),
        }
    }
    Err("register_loop".into())
}

/// A non-INVITE client transaction: Timer E retransmissions until a final response.
async fn transact(
    ep: &Endpoint,
    req: &[u8],
    inbox: &mut Inbox,
    method: Method,
) -> Result<switchboard_sip_message::Response, String> {
    ep.send(req).await;
    let mut rto = T1;
    let mut next = TokioInstant::now() + rto;
    let give_up = TokioInstant::now() + TX_TIMEOUT;
    loop {
        tokio::select! {
            m = inbox.recv() => {
                if let Some(Message::Response(r)) = m {
                    if r.status.0 >= 200 && r.headers.cseq().map(|c| c.method == method).unwrap_or(false) {
                        return Ok(r);
                    }
                }
            }
            _ = sleep_until(next) => {
                ep.send(req).await;
                rto = (rto * 2).min(T2);
                next = TokioInstant::now() + rto;
            }
            _ = sleep_until(give_up) => return Err("register_timeout".into()),
        }
    }
}

/// Takes the agents' endpoint's messages that no call task owns: a new INVITE starts a
/// call task; OPTIONS is answered 200; anything else out of dialog gets 481.
pub(crate) async fn dispatch(
    ep: Arc<Endpoint>,
    sh: Arc<Shared>,
    mut unknown: mpsc::UnboundedReceiver<Message>,
) {
    while let Some(msg) = unknown.recv().await {
        let Message::Request(req) = msg else {
            ep.stray.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        match req.method {
            Method::Invite => {
                let Ok(call_id) = req.headers.call_id().map(str::to_string) else {
                    continue;
                };
                let (tx, rx) = mpsc::unbounded_channel();
                ep.route_to(&call_id, tx);
                let (ep, sh) = (ep.clone(), sh.clone());
                tokio::spawn(async move {
                    answer(&ep, &sh, req, rx).await;
                    ep.unroute(&call_id);
                });
            }
            Method::Options => {
                ep.send(&response(&req, StatusCode::OK, None, None, None))
                    .await
            }
            Method::Ack => {
                ep.stray.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                ep.stray.fetch_add(1, Ordering::Relaxed);
                ep.send(&response(
                    &req,
                    StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST,
                    None,
                    None,
                    None,
                ))
                .await;
            }
        }
    }
}

/// One offered call at one agent, from the INVITE to the BYE.
async fn answer(ep: &Endpoint, sh: &Shared, invite: Request, mut inbox: Inbox) {
    let plan = &sh.plan;
    let user = invite.uri.user().unwrap_or("agent").to_string();
    let caller = invite
        .headers
        .get(&HeaderName::Other("X-Switchboard-Caller".into()))
        .map(str::to_string)
        .or_else(|| {
            invite
                .headers
                .from()
                .ok()
                .and_then(|f| f.uri.user().map(str::to_string))
        })
        .unwrap_or_default();
    let idx = caller_index(&caller);
    let sampled = idx.is_some_and(|i| plan.sampled(i));
    let to_tag = ep.token("t");
    let contact = format!("sip:{user}@{}", ep.local);
    let Ok(mut media) = MediaLeg::bind(CALLER_TONE_HZ, sampled, plan.agent_codec).await else {
        ep.send(&response(
            &invite,
            StatusCode(503),
            Some(&to_tag),
            None,
            None,
        ))
        .await;
        sh.agent_event("agent_rtp_bind");
        return;
    };
    let Some(remote) = sdp_media_addr(&invite.body) else {
        ep.send(&response(
            &invite,
            StatusCode::NOT_ACCEPTABLE_HERE,
            Some(&to_tag),
            None,
            None,
        ))
        .await;
        sh.agent_event("agent_offer_without_sdp");
        return;
    };
    if !sdp_offers(&invite.body, plan.agent_codec) {
        ep.send(&response(
            &invite,
            StatusCode::NOT_ACCEPTABLE_HERE,
            Some(&to_tag),
            None,
            None,
        ))
        .await;
        sh.agent_event("agent_codec_not_offered");
        return;
    }
    media.remote = Some(remote);
    let ringing = response(
        &invite,
        StatusCode::RINGING,
        Some(&to_tag),
        Some(&contact),
        None,
    );
    ep.send(&ringing).await;
    let answer_at = TokioInstant::now() + plan.answer_delay;
    loop {
        tokio::select! {
            _ = sleep_until(answer_at) => break,
            m = inbox.recv() => match m {
                Some(Message::Request(r)) if r.method == Method::Cancel => {
                    ep.send(&response(&r, StatusCode::OK, None, None, None)).await;
                    ep.send(&response(&invite, StatusCode::REQUEST_TERMINATED, Some(&to_tag), None, None)).await;
                    sh.agent_event("offer_cancelled");
                    linger(ep, &mut inbox).await;
                    return;
                }
                Some(Message::Request(r)) if r.method == Method::Invite => ep.send(&ringing).await,
                None => return,
                _ => {}
            },
        }
    }
    let ok = response(
        &invite,
        StatusCode::OK,
        Some(&to_tag),
        Some(&contact),
        Some(sdp(u64::from(media.port()), media.port(), plan.agent_codec)),
    );
    ep.send(&ok).await;
    let answered = Instant::now();
    if let Some(waiter) = sh.waiting.lock().expect("waiting lock").remove(&caller) {
        let _ = waiter.send(AgentAnswered { at: answered });
    } else {
        sh.agent_event("answered_unknown_caller");
    }
    // 200 retransmissions (Timer G style) until the ACK; the tone from the start.
    let mut acked = false;
    let mut rto = T1;
    let mut next_retx = TokioInstant::now() + rto;
    let ack_limit = TokioInstant::now() + TX_TIMEOUT;
    // A call with no BYE long after the caller should have hung up is abandoned.
    let hard_end = TokioInstant::now() + plan.hold + Duration::from_secs(60);
    let mut src = RtpSource::new(rand::random::<u32>() | 1, AGENT_TONE_HZ, plan.agent_codec);
    let mut pkt: PacketBuf = [0; 172];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut bye_req = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let len = src.next_packet(&mut pkt);
                media.send(&pkt[..len]).await;
            }
            _ = media.recv(&sh.live) => {}
            _ = sleep_until(next_retx), if !acked => {
                ep.send(&ok).await;
                rto = (rto * 2).min(T2);
                next_retx = TokioInstant::now() + rto;
            }
            _ = sleep_until(ack_limit), if !acked => {
                sh.agent_event("agent_no_ack");
                acked = true;
            }
            _ = sleep_until(hard_end) => {
                sh.agent_event("agent_no_bye");
                break;
            }
            m = inbox.recv() => match m {
                Some(Message::Request(r)) => match r.method {
                    Method::Ack => acked = true,
                    Method::Invite if tag_of(r.headers.get(&HeaderName::To).unwrap_or("")).is_none() => {
                        ep.send(&ok).await; // a retransmitted initial INVITE
                    }
                    Method::Invite => {
                        // A re-INVITE: accept it with the same media.
                        let sdp_body = sdp(u64::from(media.port()), media.port(), plan.agent_codec);
                        if let Some(addr) = sdp_media_addr(&r.body) {
                            media.remote = Some(addr);
                        }
                        ep.send(&response(&r, StatusCode::OK, None, Some(&contact), Some(sdp_body))).await;
                    }
                    Method::Bye => {
                        ep.send(&response(&r, StatusCode::OK, None, None, None)).await;
                        bye_req = true;
                        break;
                    }
                    _ => ep.send(&response(&r, StatusCode::OK, None, None, None)).await,
                },
                Some(Message::Response(_)) => {}
                None => break,
            },
        }
    }
    let report = media.report(Some(answered), sampled, &sh.live);
    sh.acct
        .lock()
        .expect("acct lock")
        .to_agent
        .add_stream(&report);
    if bye_req {
        linger(ep, &mut inbox).await;
    }
}

/// Answers retransmissions of the request that ended the call for a few seconds, so a lost
/// 200 does not leave the server retransmitting into a 481.
async fn linger(ep: &Endpoint, inbox: &mut Inbox) {
    let until = TokioInstant::now() + Duration::from_secs(4);
    loop {
        tokio::select! {
            _ = sleep_until(until) => return,
            m = inbox.recv() => match m {
                Some(Message::Request(r)) if r.method != Method::Ack => {
                    ep.send(&response(&r, StatusCode::OK, None, None, None)).await;
                }
                None => return,
                _ => {}
            },
        }
    }
}
