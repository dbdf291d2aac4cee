//! Supervision of a bridged call: a supervisor's leg joins it (listen, whisper or barge),
//! the call is mixed instead of relayed while it lasts, and the supervisor's own call task
//! only relays hang-ups.

use super::*;

impl CallTask {
    /// A supervisor joins this bridged call: from now on the call is mixed (caller, agent,
    /// supervisor) each 20 ms instead of relayed, with the mode's hearing matrix.
    pub(super) fn start_supervision(&mut self, req: SuperviseRequest) {
        let mut mixer = Mixer::new(4, 160);
        let (Ok(caller_id), Ok(agent_id), Ok(sup_id)) = (mixer.add(), mixer.add(), mixer.add())
        else {
            let _ = req.done.send(());
            return;
        };
        if mixer.set_supervisor(sup_id, agent_id, req.mode).is_err() {
            let _ = req.done.send(());
            return;
        }
        // Only a bridged call without a supervisor takes one (the flow decides and logs).
        let mode = core_events::supervision_mode(req.mode);
        if !self.flow.handle_supervisor_join(&req.supervisor, mode) {
            let _ = req.done.send(());
            return;
        }
        self.drive_flow();
        self.supervision = Some(Supervision {
            media: req.media,
            mixer,
            ids: [caller_id, agent_id, sup_id],
            done: Some(req.done),
        });
        self.sup_stop = Some(req.stop);
    }

    pub(super) fn stop_supervision(&mut self, why: SupervisionEnd) {
        self.sup_stop = None;
        if let Some(mut s) = self.supervision.take() {
            if let Some(d) = s.done.take() {
                let _ = d.send(());
            }
        }
        if self.flow.handle_supervisor_leave(why) {
            self.drive_flow();
        }
    }

    /// One mixing tick while supervised: every participant gets the mix it may hear.
    pub(super) fn mix_supervised(&mut self, now: Instant) {
        let (Some(s), Some(b)) = (self.supervision.as_mut(), self.b.as_mut()) else {
            return;
        };
        s.mixer.mix();
        let [c, a, sup] = s.ids;
        self.a.send_pcm(now, s.mixer.output(c));
        b.send_pcm(now, s.mixer.output(a));
        s.media.send_pcm(now, s.mixer.output(sup));
    }

    pub(super) fn on_rtp_supervisor(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        let Some(s) = self.supervision.as_mut() else {
            return;
        };
        let Some(pkt) = s.media.receive(now, from, data) else {
            return;
        };
        if s.media.push_audio(now, &pkt) {
            while let Some(f) = s.media.poll_decoded(now) {
                let _ = s.mixer.handle_frame(s.ids[2], f.samples);
            }
        }
    }
}

/// `listen-1001`, `whisper-1001`, `barge-1001`: a supervisor's dialled number.
pub(super) fn supervise_target(dnis: &str) -> Option<(SupervisorMode, String)> {
    let (mode, agent) = dnis.split_once('-')?;
    let mode = match mode {
        "listen" => SupervisorMode::Listen,
        "whisper" => SupervisorMode::Whisper,
        "barge" => SupervisorMode::Barge,
        _ => return None,
    };
    (!agent.is_empty()).then(|| (mode, agent.to_string()))
}

/// A supervisor's call: its answered leg goes to the supervised call, which mixes it in;
/// this task only relays hang-ups between the two.
pub(super) async fn supervise_call(
    ctx: &CallContext,
    id: u64,
    mut nc: NewCall,
    media: MediaLeg,
    mode: SupervisorMode,
    target: mpsc::Sender<SuperviseRequest>,
    supervisor: String,
) {
    // The supervisor's leg joins the mix only once its dialog is confirmed (the ACK, no
    // amplification); a call that ends first just ends.
    let mut media = media;
    loop {
        match nc.signals.recv().await {
            Some(CallSignal::AConfirmed) => {
                media.session.confirm();
                break;
            }
            None | Some(CallSignal::Ended(_)) => return,
            Some(_) => {}
        }
    }
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let req = SuperviseRequest {
        mode,
        media: Box::new(media),
        supervisor: supervisor.clone(),
        done: done_tx,
        stop: stop_rx,
    };
    let started = Instant::now();
    let reason = if target.send(req).await.is_err() {
        let _ = ctx.sip.commands.send(SipCommand::Hangup { call: nc.call });
        EndReason::SupervisedCallEnded
    } else {
        loop {
            tokio::select! {
                _ = &mut done_rx => {
                    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: nc.call });
                    break EndReason::SupervisedCallEnded;
                }
                sig = nc.signals.recv() => match sig {
                    None | Some(CallSignal::Ended(_)) => {
                        let _ = stop_tx.send(());
                        break EndReason::SupervisorHangup;
                    }
                    Some(CallSignal::InDialog { tx, .. }) => {
                        let _ = ctx
                            .sip
                            .commands
                            .send(SipCommand::Respond { call: nc.call, tx, status: StatusCode::OK, sdp: None });
                    }
                    Some(_) => {}
                },
            }
        }
    };
    let mut end = CallEnd::new(reason, Disposition::Supervision);
    end.mode = Some(core_events::supervision_mode(mode));
    end.duration_s = Some(started.elapsed().as_secs_f64());
    ctx.events
        .append(NewEvent::call(&id.to_string(), Event::CallEnd(end)).agent(&supervisor));
}
