//! A call placed for one row of an outbound campaign: dialled through the trunks
//! (`outbound_call::dial_number_until`, the number already admitted by the dial gate), and once
//! the callee answers it becomes an ordinary call task whose leg A is the callee: it runs
//! the campaign's dialplan with the row's fields (`field("order")`), or joins the
//! campaign's queue with the row's fields in the agent's screen pop. The task reports how
//! the attempt ended to the campaign runner (`campaign/`), which decides about retries.

use std::collections::BTreeMap;

use switchboard_campaign::Outcome;

use super::*;
use crate::outbound_call::{dial_number_until, NotAnswered};
use switchboard_callflow::DialFailure;

/// What makes a call task a campaign call: survey answers are logged against the row.
pub(crate) struct CampaignTag {
    name: String,
    row: u32,
    /// The dialplan variables whose values are survey answers.
    questions: Vec<String>,
    /// A predictive call a person answered when no agent was free: the dialplan runs only
    /// to play the abandon message.
    abandoned_no_agent: bool,
}

impl CallTask {
    /// A call abandoned for want of a free agent says so in its `call.end`: `end_reason`
    /// `abandoned_no_agent` when the abandon message's dialplan hung up (the person hanging
    /// up during the message keeps `caller_hangup`), `disposition` `abandoned` either way,
    /// like the call hung up silently when the campaign has no message.
    pub(super) fn mark_abandoned_no_agent(&self, end: &mut CallEnd) {
        if !self.campaign.as_ref().is_some_and(|t| t.abandoned_no_agent) {
            return;
        }
        if end.end_reason == EndReason::IvrHangup {
            end.end_reason = EndReason::AbandonedNoAgent;
        }
        end.disposition = Disposition::Abandoned;
        end.detail = Some(NO_FREE_AGENT.to_string());
    }
}

/// `call.end`'s `detail` of a predictive call abandoned for want of a free agent.
const NO_FREE_AGENT: &str = "no free agent";

/// What an answered campaign call does.
#[derive(Clone, Debug)]
pub(crate) enum CampaignStart {
    /// Run this dialplan (notification, survey), entered with the campaign's name as the
    /// dialled number; `questions` are the variables logged as `survey.answer`.
    Dialplan {
        dialplan: String,
        questions: Vec<String>,
    },
    /// Offer the callee to a free agent of this queue (progressive, predictive), with the
    /// row's fields, the campaign and its `script` in the screen pop.
    Queue {
        queue: String,
        script: Option<String>,
        /// Predictive: answering-machine detection first, and no queueing without a free
        /// agent (the call is abandoned).
        predictive: Option<Predictive>,
    },
}

/// What a predictive call needs besides its queue.
#[derive(Clone)]
pub(crate) struct Predictive {
    /// What to do when a machine answers.
    pub(crate) machine: crate::campaign::MachineAction,
    /// The campaign's dialplan, run for a machine with `machine = "message"`.
    pub(crate) dialplan: Option<String>,
    /// Played to a person no agent is free for, before the call ends.
    pub(crate) abandon_dialplan: Option<String>,
    /// The queue's free agents now (the wallboard's count).
    pub(crate) free_agents: Arc<dyn Fn() -> u32 + Send + Sync>,
    /// Tells the campaign's pacer what happens after the answer, as it happens.
    pub(crate) notes: tokio::sync::mpsc::UnboundedSender<PacerNote>,
}

impl std::fmt::Debug for Predictive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Predictive")
            .field("machine", &self.machine)
            .finish()
    }
}

/// An answered predictive call's news for the pacer (`campaign/`).
#[derive(Debug)]
pub(crate) struct PacerNote {
    pub(crate) campaign: String,
    pub(crate) kind: PacerNoteKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum PacerNoteKind {
    /// A person answered (or a machine the campaign sends to agents).
    Person,
    /// A machine answered.
    Machine,
    /// A person answered and no agent was free (or they left before one took the call).
    Abandoned,
    /// An agent took the call (reported when the call ends).
    Connected,
    /// The agent's part ended after this long.
    HandleEnd(Duration),
}

/// One attempt to call one row.
pub(crate) struct CampaignCall {
    /// Our call id (the runner logs `campaign.dial` under it first).
    pub(crate) id: u64,
    pub(crate) campaign: String,
    pub(crate) row: u32,
    pub(crate) attempt: u32,
    /// Admitted by the dial policy.
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) fields: BTreeMap<String, String>,
    pub(crate) caller_id: Option<String>,
    /// The campaign's tenant: its queue offers go to agents serving it.
    pub(crate) tenant: Option<String>,
    pub(crate) ring_limit: Duration,
    pub(crate) start: CampaignStart,
}

/// How the attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CampaignCallResult {
    pub(crate) outcome: Outcome,
    /// The final SIP status of an unanswered call.
    pub(crate) status: Option<u16>,
}

impl CampaignTag {
    /// A queue's post-call survey: answers are logged as campaign `queue:<name>`, row 0.
    pub(super) fn post_call(queue: &str, questions: Vec<String>) -> CampaignTag {
        CampaignTag {
            name: format!("queue:{queue}"),
            row: 0,
            questions,
            abandoned_no_agent: false,
        }
    }
}

impl CallTask {
    /// A `collect` into one of the survey's questions: log the answer.
    pub(super) fn survey_answer(&self, name: &str, value: &switchboard_ivr::program::Value) {
        let Some(tag) = &self.campaign else { return };
        if !tag.questions.iter().any(|q| q == name) {
            return;
        }
        let answer = match value {
            switchboard_ivr::program::Value::Str(s) => s.clone(),
            switchboard_ivr::program::Value::Num(n) => n.to_string(),
            switchboard_ivr::program::Value::Bool(b) => b.to_string(),
        };
        self.ctx.events.append(self.log(Event::SurveyAnswer {
            campaign: tag.name.clone(),
            row: tag.row,
            question: name.to_string(),
            answer,
        }));
    }
}

/// Places one campaign call and runs it to its end.
pub(crate) async fn run_campaign_call(
    ctx: Arc<CallContext>,
    job: CampaignCall,
) -> CampaignCallResult {
    use tracing::Instrument;
    let span = tracing::info_span!("call", call = job.id, campaign = %job.campaign);
    place(ctx, job).instrument(span).await
}

async fn place(ctx: Arc<CallContext>, job: CampaignCall) -> CampaignCallResult {
    let _active = crate::metrics::ActiveCall::new(ctx.metrics.clone());
    let id = job.id;
    let log = |e: Event| NewEvent::call(&id.to_string(), e);
    ctx.events.append(log(Event::CallStart(CallStart {
        caller: job.number.clone(),
        attempt: Some(job.attempt),
        campaign: Some(job.campaign.clone()),
        ..CallStart::default()
    })));
    // The dialling is the call-flow core's (`Call::outbound`, purpose `Campaign`): its
    // ring timeout, and the `not_answered` end (decision 0042).
    let mut flow = switchboard_callflow::Call::outbound(
        Instant::now(),
        switchboard_callflow::Outbound {
            purpose: switchboard_callflow::Purpose::Campaign {
                campaign: job.campaign.clone(),
            },
            legs: vec![switchboard_callflow::Dial::Number(job.number.clone())],
            ring_timeout: job.ring_limit,
        },
    );
    let _dial = crate::placed_call::next_step(&ctx, &mut flow, None, &log);
    let not_answered = |flow: &mut switchboard_callflow::Call,
                        failure: DialFailure,
                        outcome: Outcome,
                        status: Option<u16>| {
        flow.handle_dial_failed(Instant::now(), failure);
        if let crate::placed_call::Step::Ended(end) =
            crate::placed_call::next_step(&ctx, flow, None, &log)
        {
            let data = crate::placed_call::call_end(flow, &end);
            ctx.events.append(log(Event::CallEnd(data)));
        }
        CampaignCallResult { outcome, status }
    };
    let setup_failed = |why: &str| DialFailure::Refused {
        status: 503,
        why: why.to_string(),
    };
    let program = ctx.dialplans.read().ok().and_then(|g| g.clone());
    let Some(program) = program else {
        return not_answered(
            &mut flow,
            setup_failed("no_dialplan_loaded"),
            Outcome::NoTrunk,
            None,
        );
    };
    let Some(pair) = ctx.rtp_pool.allocate().await else {
        return not_answered(
            &mut flow,
            setup_failed("rtp_ports_exhausted"),
            Outcome::NoTrunk,
            None,
        );
    };
    let local_ip = ctx.rtp_pool.ip();
    let caps = LocalCaps::default();
    let local = LocalMedia {
        address: local_ip,
        port: pair.rtp.local_addr().map(|a| a.port()).unwrap_or(0),
        session_id: id,
        session_version: 1,
        direction: Direction::SendRecv,
    };
    let offers = crate::trunk_offer::TrunkOffers::new(&ctx.cfg, &caps, &local);
    let dialled = dial_number_until(
        &ctx,
        id,
        &job.number,
        job.caller_id.as_deref(),
        offers.bodies(),
        job.ring_limit,
        crate::placed_call::deadline(&flow),
    )
    .await;
    let answered = match dialled {
        Ok(a) => a,
        Err(NotAnswered::Aborted) => {
            // The flow's ring timeout passed.
            flow.handle_timeout(Instant::now(), false);
            return not_answered(&mut flow, DialFailure::RingTimeout, Outcome::NoAnswer, None);
        }
        Err(why) => {
            let (outcome, status) = match &why {
                NotAnswered::NoTrunk => (Outcome::NoTrunk, None),
                NotAnswered::Failed(st) => (Outcome::of_status(st.0), Some(st.0)),
                NotAnswered::RingTimeout => (Outcome::NoAnswer, None),
                NotAnswered::Gone | NotAnswered::Aborted | NotAnswered::Ended(_) => {
                    (Outcome::Interrupted, None)
                }
                NotAnswered::Lost => (Outcome::Failed, None),
            };
            let failure = crate::placed_call::failure_of(why);
            return not_answered(&mut flow, failure, outcome, status);
        }
    };
    let neg = offers.negotiate(answered.trunk.0, &answered.sdp);
    let now = Instant::now();
    let peer = ctx.trunk_peer(answered.trunk.0);
    let Some(a) = neg.and_then(|n| MediaLeg::new(&ctx.leg_settings(), pair, n, now, peer)) else {
        let _ = ctx.sip.commands.send(SipCommand::Hangup {
            call: answered.call,
        });
        return not_answered(&mut flow, DialFailure::Unusable, Outcome::Failed, None);
    };
    flow.handle_dial_answered(now);
    ctx.events.append(log(Event::CallAnswer {
        codec: a.neg.codec.name.to_string(),
    }));
    // The callee is the task's leg A from here on: its events arrive as A's, and an agent
    // rung for it is a leg B on a call of its own (sip_driver/callee_calls.rs).
    let _ = ctx.sip.commands.send(SipCommand::CalleeLeads {
        call: answered.call,
    });
    crate::metrics::Metrics::add(&ctx.metrics.calls_total, 1);
    let mut fields = job.fields.clone();
    fields.insert("number".into(), job.number.clone());
    fields.insert("name".into(), job.name.clone());
    fields.insert("campaign".into(), job.campaign.clone());
    let mut task = CallTask::new(
        &ctx,
        id,
        answered.call,
        job.number.clone(),
        job.campaign.clone(),
        a,
        program,
        now,
        local_ip,
    );
    task.callee_leads = true;
    // The placed call's flow, answered: from here on the dialplan's (`Phase::Ivr`).
    task.flow = flow;
    let mut signals = answered.signals;
    let agent_campaign = matches!(job.start, CampaignStart::Queue { .. });
    let mut start = job.start.clone();
    let mut pacer = None;
    let mut abandon_message = false;
    if let CampaignStart::Queue {
        predictive: Some(p),
        ..
    } = &job.start
    {
        let note = |kind| {
            let _ = p.notes.send(PacerNote {
                campaign: job.campaign.clone(),
                kind,
            });
        };
        match super::campaign_amd::listen(&mut task, &mut signals).await {
            super::campaign_amd::Heard::Gone => {
                note(PacerNoteKind::Abandoned);
                end_answered(
                    &ctx,
                    id,
                    EndReason::CallerHangup,
                    "hung up during detection",
                );
                return result(Outcome::Abandoned);
            }
            super::campaign_amd::Heard::Verdict(v, took) => {
                tracing::info!(
                    verdict = v.as_str(),
                    after_ms = took.as_millis() as u64,
                    "answering-machine detection"
                );
                ctx.events.append(log(Event::CampaignAmd {
                    campaign: job.campaign.clone(),
                    verdict: v.as_str().to_string(),
                    after_s: took.as_secs_f64(),
                }));
                let machine = v == switchboard_media::AmdVerdict::Machine;
                use crate::campaign::MachineAction as M;
                match (machine, p.machine) {
                    (true, M::Retry | M::Hangup) => {
                        note(PacerNoteKind::Machine);
                        hang_up_answered(
                            &ctx,
                            &answered.call,
                            id,
                            EndReason::AnsweringMachine,
                            Disposition::NotAnswered,
                            "answering machine",
                        );
                        return result(Outcome::Machine);
                    }
                    (true, M::Message) => {
                        note(PacerNoteKind::Machine);
                        if !super::campaign_amd::greeting_ended(&ctx, &mut task, &mut signals).await
                        {
                            return result(Outcome::Machine);
                        }
                        start = CampaignStart::Dialplan {
                            dialplan: p.dialplan.clone().unwrap_or_default(),
                            questions: Vec::new(),
                        };
                    }
                    _ => {
                        note(PacerNoteKind::Person);
                        if (p.free_agents)() == 0 {
                            // The regulators' abandoned call: answered, no agent to take it.
                            tracing::warn!(campaign = %job.campaign, "predictive call answered with no free agent: abandoned");
                            crate::metrics::Metrics::add(&ctx.metrics.campaign_abandoned, 1);
                            note(PacerNoteKind::Abandoned);
                            if let Some(d) = p.abandon_dialplan.clone() {
                                abandon_message = true;
                                start = CampaignStart::Dialplan {
                                    dialplan: d,
                                    questions: Vec::new(),
                                };
                            } else {
                                hang_up_answered(
                                    &ctx,
                                    &answered.call,
                                    id,
                                    EndReason::AbandonedNoAgent,
                                    Disposition::Abandoned,
                                    NO_FREE_AGENT,
                                );
                                return result(Outcome::Abandoned);
                            }
                        } else {
                            pacer = Some(p.clone());
                        }
                    }
                }
            }
        }
    }
    let machine_message = agent_campaign && matches!(start, CampaignStart::Dialplan { .. });
    match start {
        CampaignStart::Dialplan {
            dialplan,
            questions,
        } => {
            task.campaign = Some(CampaignTag {
                name: job.campaign.clone(),
                row: job.row,
                questions,
                abandoned_no_agent: abandon_message,
            });
            task.ivr.set_fields(fields);
            let at = ctx.cfg.ivr.call_start_time(Utc::now());
            task.ivr
                .start_in(at, job.campaign.clone(), job.number.clone(), &dialplan);
            task.drain_ivr();
        }
        CampaignStart::Queue { queue, script, .. } => {
            if let Some(s) = script {
                fields.insert("script".into(), s);
            }
            let mut req = plain_queue_request(queue);
            req.attrs.screen_pop = fields;
            req.attrs.tenant = job.tenant.clone();
            task.join_queue(req);
        }
    }
    task.run(&mut signals).await;
    ctx.live.remove(crate::live_calls::LiveCallId(id));
    if abandon_message {
        // The information message was played to the person no agent was free for.
        return result(Outcome::Abandoned);
    }
    if machine_message {
        // The message was left for the machine.
        return result(Outcome::Machine);
    }
    let outcome = if agent_campaign && task.b_answered_at.is_none() {
        // Answered, but no agent took the call before it ended.
        Outcome::Abandoned
    } else {
        Outcome::Answered
    };
    if let Some(p) = pacer {
        let note = |kind| {
            let _ = p.notes.send(PacerNote {
                campaign: job.campaign.clone(),
                kind,
            });
        };
        match task.b_answered_at {
            Some(at) => {
                note(PacerNoteKind::Connected);
                note(PacerNoteKind::HandleEnd(at.elapsed()));
            }
            None => note(PacerNoteKind::Abandoned),
        }
    }
    result(outcome)
}

fn result(outcome: Outcome) -> CampaignCallResult {
    CampaignCallResult {
        outcome,
        status: None,
    }
}

/// Ends an answered call that no task runs: BYE, and its `call.end`.
fn hang_up_answered(
    ctx: &CallContext,
    call: &switchboard_sip::CallKey,
    id: u64,
    reason: EndReason,
    disposition: Disposition,
    why: &str,
) {
    ctx.live.remove(crate::live_calls::LiveCallId(id));
    let _ = ctx.sip.commands.send(SipCommand::Hangup { call: *call });
    let mut end = CallEnd::new(reason, disposition);
    end.detail = Some(why.to_string());
    ctx.events
        .append(NewEvent::call(&id.to_string(), Event::CallEnd(end)));
}

/// The `call.end` of an answered call whose callee hung up before a task ran it.
fn end_answered(ctx: &CallContext, id: u64, reason: EndReason, why: &str) {
    ctx.live.remove(crate::live_calls::LiveCallId(id));
    let mut end = CallEnd::new(reason, Disposition::Abandoned);
    end.detail = Some(why.to_string());
    ctx.events
        .append(NewEvent::call(&id.to_string(), Event::CallEnd(end)));
}
