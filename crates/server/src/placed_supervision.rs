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
    /// Makes the call of `agent` supervisable (until dropped).
    pub(crate) fn offer(ctx: &'a CallContext, agent: &str) -> PlacedSupervision<'a> {
        let (tx, requests) = mpsc::channel(4);
        ctx.supervisable.insert(agent.to_string(), tx.clone());
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
