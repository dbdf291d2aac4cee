//! What the driver does with each event of the B2BUA core. A new INVITE is admitted or
//! refused here (draining, low disk, trunk trust or digest, Replaces, call gates) and
//! handed to the call router; the signals of a live call (answer, failure, session expiry,
//! re-INVITE, in-dialog requests, end) go to the task that owns it; ring-all legs and
//! campaign callees are looked at first (`forking.rs`, `callee_calls.rs`).

use super::*;

impl SipDriver {
    pub(super) fn handle_event(&mut self, ev: CallEvent) {
        let now = Instant::now();
        if self.fork_event(now, &ev) {
            return;
        }
        let Some(ev) = self.callee_event(now, ev) else {
            return;
        };
        match ev {
            CallEvent::Incoming {
                call,
                invite,
                from,
                transport,
            } => {
                if self.draining {
                    let _ = self.b2bua.reject_with_retry_after(
                        now,
                        call,
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(self.retry_after),
                    );
                    return;
                }
                if self.metrics.disk_low.load(Ordering::Relaxed) != 0 {
                    Metrics::add(&self.metrics.calls_refused_disk_low, 1);
                    tracing::error!("INVITE refused with 503: disk below [data] min_free_mb");
                    let _ = self
                        .b2bua
                        .reject(now, call, StatusCode::SERVICE_UNAVAILABLE);
                    return;
                }
                // A trusted trunk's call, or a user who proved their password (407
                // otherwise): never a user guessed from the source address.
                let wall = SystemTime::now();
                let agent = match admit_invite(
                    wall,
                    &self.trust,
                    &mut self.registrar,
                    from,
                    transport,
                    &invite,
                    &self.metrics.invite_auth,
                ) {
                    InviteAdmission::Trunk => None,
                    InviteAdmission::User(u) => Some(u),
                    InviteAdmission::Refuse { status, headers } => {
                        publish_auth_stats(&self.registrar, &self.metrics, wall);
                        let _ = self.b2bua.reject_with_headers(now, call, status, &headers);
                        return;
                    }
                };
                // RFC 3891 §3: an INVITE that replaces a dialog we do not have is 481,
                // not a new call (a malformed Replaces is 400).
                match invite.headers.replaces() {
                    Ok(None) => {}
                    Ok(Some(r)) => {
                        if self
                            .b2bua
                            .find_call_by_dialog(&r.call_id, &r.to_tag, &r.from_tag)
                            .is_none()
                        {
                            tracing::info!("INVITE with Replaces naming no dialog of ours: 481");
                            let _ = self.b2bua.reject(
                                now,
                                call,
                                StatusCode::CALL_TRANSACTION_DOES_NOT_EXIST,
                            );
                            return;
                        }
                    }
                    Err(_) => {
                        let _ = self.b2bua.reject(now, call, StatusCode::BAD_REQUEST);
                        return;
                    }
                }
                if let Err(why) = self.call_gate.admit(now, self.calls.len()) {
                    let c = match why {
                        CallRefusal::Concurrent => &self.metrics.guard.calls_refused_concurrent,
                        CallRefusal::Rate => &self.metrics.guard.calls_refused_rate,
                    };
                    Metrics::add(c, 1);
                    tracing::debug!(?why, "new call refused with 503");
                    let _ = self.b2bua.reject_with_retry_after(
                        now,
                        call,
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(5),
                    );
                    return;
                }
                let headroom = self.call_fd_headroom;
                if let Err(free) = self
                    .fd_budget
                    .admit(now, headroom, crate::descriptors::free)
                {
                    Metrics::add(&self.metrics.guard.calls_refused_descriptors, 1);
                    tracing::warn!(
                        free,
                        "new call refused with 503: too few file descriptors free"
                    );
                    let _ = self.b2bua.reject_with_retry_after(
                        now,
                        call,
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(5),
                    );
                    return;
                }
                if agent.is_none() && !self.trunk_admit_inbound(now, call, from, transport) {
                    return;
                }
                let Some(router) = self.new_calls.clone() else {
                    self.trunk_call_gone(call);
                    let _ = self
                        .b2bua
                        .reject(now, call, StatusCode::TEMPORARILY_UNAVAILABLE);
                    return;
                };
                let (tx, rx) = crate::call_signals::lane();
                self.calls.insert(call, tx);
                let nc = NewCall {
                    call,
                    invite,
                    signals: rx,
                    agent,
                    source: from,
                };
                if router.try_send(nc).is_err() {
                    // The call router is 1,024 calls behind: refuse visibly, never queue.
                    tracing::warn!("new calls arrive faster than they are started; 503");
                    Metrics::add(&self.metrics.calls_refused_router_full, 1);
                    self.calls.remove(&call);
                    self.trunk_call_gone(call);
                    let _ = self.b2bua.reject_with_retry_after(
                        now,
                        call,
                        StatusCode::SERVICE_UNAVAILABLE,
                        Some(5),
                    );
                }
            }
            CallEvent::Progress { call, .. } => self.signal(call, CallSignal::BProgress),
            CallEvent::AnswerFromB { call, sdp } => {
                let arrived = self.message_arrival();
                self.signal(call, CallSignal::BAnswered(sdp, arrived))
            }
            CallEvent::BFailed { call, status } => self.signal(call, CallSignal::BFailed(status)),
            CallEvent::LegConfirmed { call, leg: Leg::A } => {
                self.signal(call, CallSignal::AConfirmed);
            }
            CallEvent::SessionExpired { call, leg } => {
                let whose = match leg {
                    Leg::A => "the caller's",
                    Leg::B => "the called party's",
                };
                tracing::info!(
                    leg = whose,
                    "a leg's RFC 4028 session expired (not refreshed): ending the call"
                );
                let party = match leg {
                    Leg::A => switchboard_events::Party::Caller,
                    Leg::B => switchboard_events::Party::Agent,
                };
                self.signal(
                    call,
                    CallSignal::Ended(switchboard_callflow::Hangup::Leg {
                        party,
                        how: switchboard_callflow::LegEnd::SessionExpired,
                    }),
                );
                let _ = self.b2bua.hangup(now, call);
            }
            CallEvent::Reinvite { call, leg, tx, sdp } => {
                let mut req = Request::new(Method::Invite, Uri::Other("reinvite".into()));
                req.body = sdp;
                self.signal(
                    call,
                    CallSignal::InDialog {
                        leg,
                        tx,
                        req: Box::new(req),
                    },
                );
            }
            CallEvent::InDialogRequest { call, leg, tx, req } => {
                self.signal(
                    call,
                    CallSignal::InDialog {
                        leg,
                        tx,
                        req: Box::new(req),
                    },
                );
            }
            CallEvent::OtherRequest {
                tx,
                req,
                from,
                transport,
            } => {
                self.other_request(now, tx, req, from, transport);
            }
            CallEvent::OptionsResult { tx, status } => {
                if let Some((user, uri)) = self.probes.remove(&tx) {
                    if status == StatusCode::REQUEST_TIMEOUT
                        || status == StatusCode::SERVICE_UNAVAILABLE
                    {
                        tracing::info!(agent = %user, status = status.0, "keepalive failed; contact unreachable");
                        if let Some(ev) = self.location.mark_unreachable(&user, &uri) {
                            self.presence_events(vec![ev]);
                        }
                    }
                }
            }
            CallEvent::BHungUp { call } => self.signal(call, CallSignal::AgentLeft),
            CallEvent::RequestResult { tx, status, resp } => {
                self.trunk_request_result(tx, status, resp);
            }
            CallEvent::Ended { call, reason } => {
                self.trunk_call_gone(call);
                self.forks_parent_gone(now, call);
                if let Some(t) = self.calls.remove(&call) {
                    let _ = t.send(CallSignal::Ended(crate::core_events::hangup(&reason)));
                }
            }
            _ => {}
        }
    }
}
