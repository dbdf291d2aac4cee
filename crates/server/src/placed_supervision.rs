//! Supervision of a call the engine placed (an agent's own outbound call, a callback): a
//! supervisor joins it over the API (`POST /api/v1/calls/{id}/listen|whisper|barge`) or by
//! dialling `listen-1001` from their phone, as for a queue call. The placed call's bridge
//! (`placed_call.rs`) registers the agent as supervisable while it runs; while a
//! supervisor's leg is joined it mixes the far end, the agent and the supervisor every
//! 20 ms with the mode's hearing matrix instead of relaying (the call task's way:
//! `call/supervision.rs`). The flow decides the join and logs `supervisor.join` and
//! `supervisor.leave`; the supervisor's own call (`call/api_supervision.rs`,
//! `call/supervision.rs`) hangs up when this one stops mixing it in.
//!
//! It is not the bridge: it owns the supervisor's leg and the mixer, nothing of the two
//! parties' legs.

use std::sync::Arc;
use std::time::Instant;

use switchboard_callflow::Call;
use switchboard_events::SupervisionEnd;
use switchboard_media::{Mixer, ParticipantId};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::call::{CallContext, SuperviseRequest};
use crate::media_leg::{MediaLeg, RxBuf};

/// Who a decoded frame in the mix is from.
#[derive(Clone, Copy)]
pub(crate) enum Speaker {
    /// The far end (the customer, the number dialled).
    Far,
    /// The agent.
    Near,
}

/// A joined supervisor.
struct Joined {
    media: Box<MediaLeg>,
    sock: Arc<UdpSocket>,
    buf: RxBuf,
    mixer: Mixer,
    /// Far end, agent, supervisor.
    ids: [ParticipantId; 3],
    done: Option<oneshot::Sender<()>>,
    stop: oneshot::Receiver<()>,
}

/// What happened on the supervision side.
pub(crate) enum SupervisionStep {
    /// A supervisor asks to join.
    Join(SuperviseRequest),
    /// The joined supervisor hung up.
    Left,
}

/// A placed call's supervision: the agent's entry in the supervisable calls, and the
/// supervisor joined, if any.
pub(crate) struct PlacedSupervision<'a> {
    ctx: &'a CallContext,
    agent: String,
    requests: mpsc::Receiver<SuperviseRequest>,
    /// Our entry's sender, to tell it from a later call's entry for the same agent.
    entry: mpsc::Sender<SuperviseRequest>,
    joined: Option<Joined>,
}

impl<'a> PlacedSupervision<'a> {
    /// Makes the call of `agent` supervisable (until dropped), unless another live call of
    /// theirs already is (a queue call they hold while they consult an outside number):
    /// supervisors keep finding that one.
    pub(crate) fn offer(ctx: &'a CallContext, agent: &str) -> PlacedSupervision<'a> {
        let (tx, requests) = mpsc::channel(4);
        claim(&ctx.supervisable, agent, &tx);
        PlacedSupervision {
            ctx,
            agent: agent.to_string(),
            requests,
            entry: tx,
            joined: None,
        }
    }

    /// Whether a supervisor is mixed in (the bridge then mixes instead of relaying).
    pub(crate) fn mixing(&self) -> bool {
        self.joined.is_some()
    }

    /// The next request or departure; the joined supervisor's RTP is taken in on the way.
    pub(crate) async fn step(&mut self) -> SupervisionStep {
        loop {
            let Some(j) = self.joined.as_mut() else {
                return match self.requests.recv().await {
                    Some(r) => SupervisionStep::Join(r),
                    None => std::future::pending().await,
                };
            };
            tokio::select! {
                r = self.requests.recv() => {
                    if let Some(r) = r {
                        return SupervisionStep::Join(r);
                    }
                }
                _ = &mut j.stop => return SupervisionStep::Left,
                r = j.sock.recv_buf_from(j.buf.prepare()) => {
                    if let Ok((_, from)) = r {
                        let now = Instant::now();
                        let pkt = j
                            .media
                            .open_rtp(&mut j.buf)
                            .and_then(|d| j.media.receive(now, from, d));
                        if let Some(pkt) = pkt {
                            if j.media.push_audio(now, &pkt) {
                                while let Some(f) = j.media.poll_decoded(now) {
                                    let _ = j.mixer.handle_frame(j.ids[2], f.samples);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// A supervisor asks to join: mixed in when the flow takes them (a bridged call
    /// without a supervisor; `supervisor.join` logged), else their call is let go.
    pub(crate) fn join(&mut self, flow: &mut Call, req: SuperviseRequest) {
        let mut mixer = Mixer::new(4, 160);
        let (Ok(far), Ok(near), Ok(sup)) = (mixer.add(), mixer.add(), mixer.add()) else {
            let _ = req.done.send(());
            return;
        };
        if self.joined.is_some() || mixer.set_supervisor(sup, near, req.mode).is_err() {
            let _ = req.done.send(());
            return;
        }
        let mode = crate::core_events::supervision_mode(req.mode);
        if !flow.handle_supervisor_join(&req.supervisor, mode) {
            let _ = req.done.send(());
            return;
        }
        tracing::info!(agent = %self.agent, supervisor = %req.supervisor, "a supervisor joins a placed call");
        let sock = req.media.sock.clone();
        self.joined = Some(Joined {
            media: req.media,
            sock,
            buf: RxBuf::new(),
            mixer,
            ids: [far, near, sup],
            done: Some(req.done),
            stop: req.stop,
        });
    }

    /// The supervision stops (`why`): the supervisor's call is let go, `supervisor.leave`
    /// logged by the flow (true when there was one).
    pub(crate) fn leave(&mut self, flow: &mut Call, why: SupervisionEnd) -> bool {
        if let Some(mut j) = self.joined.take() {
            if let Some(d) = j.done.take() {
                let _ = d.send(());
            }
        }
        flow.handle_supervisor_leave(why)
    }

    /// A frame decoded from `who`'s leg, for the mix.
    pub(crate) fn frame(&mut self, who: Speaker, samples: &[i16]) {
        if let Some(j) = self.joined.as_mut() {
            let id = match who {
                Speaker::Far => j.ids[0],
                Speaker::Near => j.ids[1],
            };
            let _ = j.mixer.handle_frame(id, samples);
        }
    }

    /// One mixing tick: each party gets the mix it may hear.
    pub(crate) fn mix(&mut self, now: Instant, far: &mut MediaLeg, near: &mut MediaLeg) {
        let Some(j) = self.joined.as_mut() else {
            return;
        };
        j.mixer.mix();
        let [f, n, s] = j.ids;
        far.send_pcm(now, j.mixer.output(f));
        near.send_pcm(now, j.mixer.output(n));
        j.media.send_pcm(now, j.mixer.output(s));
        j.media.session.handle_timeout(now);
        let _ = j.media.flush_session();
    }
}

/// Registers `tx` as `agent`'s supervisable call unless a live one is there already (one
/// whose task still takes requests); true when registered.
fn claim<T>(
    map: &dashmap::DashMap<String, mpsc::Sender<T>>,
    agent: &str,
    tx: &mpsc::Sender<T>,
) -> bool {
    use dashmap::mapref::entry::Entry;
    match map.entry(agent.to_string()) {
        Entry::Vacant(v) => {
            v.insert(tx.clone());
            true
        }
        Entry::Occupied(mut o) if o.get().is_closed() => {
            o.insert(tx.clone());
            true
        }
        Entry::Occupied(_) => false,
    }
}

impl Drop for PlacedSupervision<'_> {
    fn drop(&mut self) {
        if let Some(mut j) = self.joined.take() {
            if let Some(d) = j.done.take() {
                let _ = d.send(());
            }
        }
        let ours = self
            .ctx
            .supervisable
            .get(&self.agent)
            .is_some_and(|e| e.same_channel(&self.entry));
        if ours {
            self.ctx.supervisable.remove(&self.agent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent's own call made while their queue call is up (a consultation) leaves the
    /// queue call supervisable; a stale entry (its call gone) is taken over.
    #[test]
    fn a_placed_call_does_not_take_a_live_calls_place_among_the_supervisable() {
        let map = dashmap::DashMap::new();
        let (queue_call, queue_rx) = mpsc::channel::<u8>(1);
        assert!(claim(&map, "1001", &queue_call));
        let (own_call, _own_rx) = mpsc::channel::<u8>(1);
        assert!(!claim(&map, "1001", &own_call), "the queue call stays");
        assert!(map.get("1001").unwrap().same_channel(&queue_call));
        drop(queue_rx);
        assert!(
            claim(&map, "1001", &own_call),
            "a gone call's entry is taken"
        );
        assert!(map.get("1001").unwrap().same_channel(&own_call));
        assert!(claim(&map, "1002", &own_call));
    }
}
