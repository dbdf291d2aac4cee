//! A caller on the trunk: INVITE (retransmitted on T1 until a response), ACK for the 2xx,
//! RFC 4733 digits to walk the IVR, a tone both ways while it waits and talks, BYE at the
//! end of the hold time (retransmitted until answered). It ends in one [`Outcome`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_sip_message::{HeaderName, Message, Method};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant as TokioInstant};

use crate::audio::{RtpSource, AGENT_TONE_HZ, CALLER_TONE_HZ};
use crate::endpoint::{contact_uri, response, sdp, sdp_media_addr, Endpoint, Inbox};
use crate::leg::{caller_number, never, Live, MediaLeg, PacketBuf, Shared, T1, T2, TX_TIMEOUT};
use crate::stats::{Outcome, StreamReport};

struct Dialog {
    call_id: String,
    from: String,
    to: String,
    target: String,
    cseq: u32,
}

impl Dialog {
    fn request(&self, ep: &Endpoint, method: &str, cseq: u32, branch: &str) -> String {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
             Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {method}\r\n\
             Content-Length: 0\r\n\r\n",
            target = self.target,
            local = ep.local,
            from = self.from,
            to = self.to,
            cid = self.call_id,
        )
    }
}

/// What a caller's call produced, for the accounting.
pub(crate) struct CallerResult {
    pub(crate) outcome: Outcome,
    pub(crate) post_dial_delay: Option<Duration>,
    pub(crate) queue_wait: Option<Duration>,
    pub(crate) media: Option<StreamReport>,
}

/// Runs caller `idx` to its end and records the result.
pub(crate) async fn run(idx: u64, ep: Arc<Endpoint>, sh: Arc<Shared>) {
    Live::enter(&sh.live.active, &sh.live.peak_active);
    sh.live.started.fetch_add(1, Ordering::Relaxed);
    let number = caller_number(idx);
    let r = call(idx, &number, &ep, &sh).await;
    sh.waiting.lock().expect("waiting lock").remove(&number);
    sh.live.active.fetch_sub(1, Ordering::Relaxed);
    sh.live.finished.fetch_add(1, Ordering::Relaxed);
    if r.outcome != Outcome::Completed {
        sh.live.failed.fetch_add(1, Ordering::Relaxed);
    }
    let mut acct = sh.acct.lock().expect("acct lock");
    acct.record(&r.outcome);
    if let Some(d) = r.post_dial_delay {
        acct.post_dial_delay_ms.push(d.as_secs_f64() * 1000.0);
    }
    if let Some(w) = r.queue_wait {
        acct.queue_wait_ms.push(w.as_secs_f64() * 1000.0);
    }
    if let Some(m) = &r.media {
        acct.to_caller.add_stream(m);
    }
}

fn failed(cause: &str) -> CallerResult {
    CallerResult {
        outcome: Outcome::Failed(cause.to_string()),
        post_dial_delay: None,
        queue_wait: None,
        media: None,
    }
}

async fn call(idx: u64, number: &str, ep: &Endpoint, sh: &Shared) -> CallerResult {
    let plan = &sh.plan;
    let sampled = plan.sampled(idx);
    let Ok(mut media) = MediaLeg::bind(AGENT_TONE_HZ, sampled, plan.caller_codec).await else {
        return failed("rtp_bind");
    };
    let call_id = format!("{}@load", ep.token("c"));
    let mut inbox = ep.route(&call_id);
    let r = dial(idx, number, ep, sh, &mut media, &call_id, &mut inbox).await;
    ep.unroute(&call_id);
    r
}

async fn dial(
    idx: u64,
    number: &str,
    ep: &Endpoint,
    sh: &Shared,
    media: &mut MediaLeg,
    call_id: &str,
    inbox: &mut Inbox,
) -> CallerResult {
    let plan = &sh.plan;
    let sampled = plan.sampled(idx);
    let (ans_tx, mut ans_rx) = oneshot::channel();
    if plan.to_agent {
        sh.waiting
            .lock()
            .expect("waiting lock")
            .insert(number.to_string(), ans_tx);
    }
    let server = ep.server;
    let dialled = plan.dialled(idx);
    let mut dialog = Dialog {
        call_id: call_id.to_string(),
        from: format!("<sip:{number}@127.0.0.1>;tag={}", ep.token("f")),
        to: format!("<sip:{dialled}@{server}>"),
        target: format!("sip:{dialled}@{server}"),
        cseq: 1,
    };
    let body = sdp(idx, media.port(), plan.caller_codec);
    let branch = ep.token("z9hG4bK");
    let invite = format!(
        "INVITE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:{number}@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{body}",
        target = dialog.target,
        local = ep.local,
        from = dialog.from,
        to = dialog.to,
        len = body.len(),
    );
    let t0 = Instant::now();
    ep.send(invite.as_bytes()).await;
    // INVITE client transaction: Timer A until a provisional answer, Timer B overall.
    let mut rto = T1;
    let mut next_retx = TokioInstant::now() + rto;
    let mut provisional = false;
    let give_up = TokioInstant::now() + TX_TIMEOUT;
    let ok = loop {
        tokio::select! {
            m = inbox.recv() => {
                let Some(Message::Response(r)) = m else { continue };
                if r.headers.cseq().map(|c| c.method != Method::Invite).unwrap_or(true) {
                    continue;
                }
                let code = r.status.0;
                if code < 200 {
                    provisional = true;
                } else if code < 300 {
                    break r;
                } else {
                    // ACK for a non-2xx final: same branch, the response's To.
                    let to = r.headers.get(&HeaderName::To).unwrap_or("").to_string();
                    let ack = format!(
                        "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch={branch};rport\r\n\
                         Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\n\
                         Content-Length: 0\r\n\r\n",
                        target = dialog.target, local = ep.local, from = dialog.from,
                    );
                    ep.send(ack.as_bytes()).await;
                    return failed(&format!("rejected_{code}"));
                }
            }
            _ = sleep_until(next_retx), if !provisional => {
                ep.send(invite.as_bytes()).await;
                rto = (rto * 2).min(T2);
                next_retx = TokioInstant::now() + rto;
            }
            _ = sleep_until(give_up) => return failed("invite_timeout"),
        }
    };
    let answered = Instant::now();
    let post_dial_delay = Some(answered.duration_since(t0));
    let fail_after_answer = |cause: &str| CallerResult {
        outcome: Outcome::Failed(cause.to_string()),
        post_dial_delay,
        queue_wait: None,
        media: None,
    };
    dialog.to = ok.headers.get(&HeaderName::To).unwrap_or("").to_string();
    if let Some(c) = contact_uri(&Message::Response(ok.clone())) {
        dialog.target = c;
    }
    let ack = dialog.request(ep, "ACK", 1, &ep.token("z9hG4bK"));
    ep.send(ack.as_bytes()).await;
    let Some(remote) = sdp_media_addr(&ok.body) else {
        let _ = send_bye(ep, &mut dialog).await;
        return fail_after_answer("no_sdp_in_200");
    };
    media.remote = Some(remote);

    // Media: tone out, digits after the delay, wait for the agent, talk, hang up.
    let mut src = RtpSource::new(rand::random::<u32>() | 1, CALLER_TONE_HZ, plan.caller_codec);
    let mut pkt: PacketBuf = [0; 172];
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let digits_at = answered + plan.digit_delay;
    let mut digits_queued = plan.digits.is_empty();
    let mut agent_at: Option<Instant> = None;
    let mut hangup_at = if plan.to_agent {
        never()
    } else {
        TokioInstant::from_std(answered + plan.digit_delay + plan.hold)
    };
    let wait_limit = TokioInstant::from_std(answered + plan.digit_delay + plan.max_wait);
    let mut server_hung_up = false;
    let mut outcome = Outcome::Completed;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !digits_queued && Instant::now() >= digits_at {
                    src.queue_digits(&plan.digits);
                    digits_queued = true;
                }
                let len = src.next_packet(&mut pkt);
                media.send(&pkt[..len]).await;
            }
            _ = media.recv(&sh.live) => {}
            a = &mut ans_rx, if plan.to_agent && agent_at.is_none() => {
                if let Ok(a) = a {
                    agent_at = Some(a.at);
                    Live::enter(&sh.live.bridged, &sh.live.peak_bridged);
                    hangup_at = TokioInstant::from_std(a.at + plan.hold);
                }
            }
            _ = sleep_until(hangup_at) => break,
            _ = sleep_until(wait_limit), if plan.to_agent && agent_at.is_none() => {
                outcome = Outcome::Failed("no_agent".into());
                break;
            }
            m = inbox.recv() => match m {
                Some(Message::Response(r)) if r.status.0 >= 200 && r.status.0 < 300 => {
                    // A retransmitted 2xx: our ACK was lost.
                    ep.send(ack.as_bytes()).await;
                }
                Some(Message::Request(req)) => {
                    let is_bye = req.method == Method::Bye;
                    if req.method != Method::Ack {
                        ep.send(&response(&req, switchboard_sip_message::StatusCode::OK, None, None, None)).await;
                    }
                    if is_bye {
                        server_hung_up = true;
                        outcome = Outcome::Failed(if agent_at.is_some() {
                            "server_hangup_in_talk".into()
                        } else {
                            "server_hangup_before_agent".into()
                        });
                        break;
                    }
                }
                _ => {}
            },
        }
    }
    if agent_at.is_some() {
        sh.live.bridged.fetch_sub(1, Ordering::Relaxed);
    }
    let queue_wait = agent_at.map(|a| a.saturating_duration_since(answered));
    let mut report = media.report(agent_at.or(Some(answered)), sampled, &sh.live);
    if !plan.to_agent {
        // IVR only: the "other side" is the IVR's prompt audio, not a tone; the verdict is
        // that audio arrived (loss and jitter are reported separately).
        report.sampled_ok = sampled.then_some(report.received > 0);
        report.answer_to_audio = None;
    }
    if !server_hung_up {
        if let Err(cause) = send_bye(ep, &mut dialog).await {
            if outcome == Outcome::Completed {
                outcome = Outcome::Failed(cause);
            }
        }
    }
    if outcome == Outcome::Completed && sampled && report.sampled_ok == Some(false) {
        outcome = Outcome::Failed("audio_check".into());
    }
    CallerResult {
        outcome,
        post_dial_delay,
        queue_wait,
        media: Some(report),
    }
}

/// Sends BYE and waits for its final response (Timer E retransmissions, Timer F).
async fn send_bye(ep: &Endpoint, dialog: &mut Dialog) -> Result<(), String> {
    dialog.cseq += 1;
    let bye = dialog.request(ep, "BYE", dialog.cseq, &ep.token("z9hG4bK"));
    // The inbox still belongs to this dialog: wait on a fresh route would lose messages,
    // so re-route the Call-ID to a local inbox for the BYE transaction.
    let mut inbox = ep.route(&dialog.call_id);
    ep.send(bye.as_bytes()).await;
    let mut rto = T1;
    let mut next = TokioInstant::now() + rto;
    let give_up = TokioInstant::now() + TX_TIMEOUT;
    loop {
        tokio::select! {
            m = inbox.recv() => match m {
                Some(Message::Response(r))
                    if r.status.0 >= 200
                        && r.headers.cseq().map(|c| c.method == Method::Bye).unwrap_or(false) =>
                {
                    return if r.status.0 < 300 || r.status.0 == 481 {
                        Ok(())
                    } else {
                        Err(format!("bye_rejected_{}", r.status.0))
                    };
                }
                Some(Message::Request(req)) if req.method != Method::Ack => {
                    // A BYE crossing ours: answer it, the call is over either way.
                    ep.send(&response(&req, switchboard_sip_message::StatusCode::OK, None, None, None)).await;
                    if req.method == Method::Bye {
                        return Ok(());
                    }
                }
                _ => {}
            },
            _ = sleep_until(next) => {
                ep.send(bye.as_bytes()).await;
                rto = (rto * 2).min(T2);
                next = TokioInstant::now() + rto;
            }
            _ = sleep_until(give_up) => return Err("bye_timeout".into()),
        }
    }
}
