//! Attended transfer support: finding a call by one of its dialogs, moving a leg B into
//! another call ([`B2bua::transplant_b`]) or into a call of its own ([`B2bua::split_off_b`]),
//! and the NOTIFYs of a REFER's progress.

use super::*;

impl B2bua {
    /// The live call whose leg A has the dialog named by a `Replaces` header (RFC 3891):
    /// `call_id`, `local_tag` = OUR tag on that dialog (the to-tag of a Replaces sent by
    /// the peer that called us), `remote_tag` = the peer's tag (its from-tag). The tags are
    /// also tried the other way round, so a Replaces written from either side's point of
    /// view matches. Only A legs match; ended calls do not.
    pub fn find_call_by_a_dialog(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<CallKey> {
        match self.find_call_by_dialog(call_id, local_tag, remote_tag) {
            Some((call, Leg::A)) => Some(call),
            _ => None,
        }
    }

    /// Like [`find_call_by_a_dialog`](Self::find_call_by_a_dialog) for either leg: the live
    /// call and leg whose dialog has this Call-ID and tags (ours first, either order
    /// accepted). Useful when the transferor REFERs its consultation call instead, so the
    /// Replaces names the original call's leg B.
    pub fn find_call_by_dialog(
        &self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<(CallKey, Leg)> {
        [(local_tag, remote_tag), (remote_tag, local_tag)]
            .into_iter()
            .find_map(|(l, r)| {
                let dk = self.dialogs.find(&crate::dialog::DialogId {
                    call_id: call_id.to_string(),
                    local_tag: l.to_string(),
                    remote_tag: r.to_string(),
                })?;
                let &(call, leg) = self.dialog_calls.get(&dk)?;
                self.call(call)
                    .is_some_and(|c| !c.ended)
                    .then_some((call, leg))
            })
    }

    /// Attended transfer done by an anchoring B2BUA (RFC 5589 with RFC 3891 Replaces):
    /// moves `from`'s answered B leg into call `to`, then hangs up `from`'s A leg.
    ///
    /// The moved leg keeps its dialog (Call-ID, tags, CSeqs, route set, remote target),
    /// destination and transport, and its transactions in flight (a pending re-INVITE or
    /// INFO, B's INVITE transaction) now report under `to`. Nothing is sent on the moved
    /// leg: media is anchored, so the application re-bridges the two legs' media itself
    /// (re-INVITE either leg with [`B2bua::send_in_dialog`] if their codecs differ).
    /// `to` must not have a B leg pending or up: release it first with
    /// [`B2bua::release_b`] (or [`B2bua::cancel_b`] and wait for its `BFailed`).
    ///
    /// Afterwards, for the moved leg: its BYE is `Ended { call: to, reason: Bye(B) }` (or
    /// `BHungUp { call: to }` with `keep_a_when_b_hangs_up`) and BYE goes to `to`'s A;
    /// re-INVITE, INFO, etc. come as `Reinvite`/`InDialogRequest { call: to, leg: B }`;
    /// `send_in_dialog(to, B, ..)` and [`B2bua::hangup`]`(to)` reach it.
    ///
    /// `from` is finished: its A leg gets BYE (487 if still unanswered), no `Ended` event
    /// follows for it (the application asked), later requests on its A dialog are answered
    /// without events, and it is removed once its transactions end.
    ///
    /// Errors: [`B2buaError::NoSuchCall`] if either key is dead;
    /// [`B2buaError::InvalidState`] if `from == to`, either call has ended, `from` has no
    /// answered B leg (or it is already hanging up), or `to` has a B leg pending or up.
    pub fn transplant_b(
        &mut self,
        now: Instant,
        from: CallKey,
        to: CallKey,
    ) -> Result<(), B2buaError> {
        let f = self.call(from).ok_or(B2buaError::NoSuchCall)?;
        let t = self.call(to).ok_or(B2buaError::NoSuchCall)?;
        if from == to {
            return Err(B2buaError::InvalidState(
                "cannot move a B leg into its own call",
            ));
        }
        if f.ended || t.ended {
            return Err(B2buaError::InvalidState("call ended"));
        }
        let (dk, invite_tx) =
            f.b.as_ref()
                .filter(|b| b.answered)
                .and_then(|b| Some((b.dialog?, b.invite_tx)))
                .ok_or(B2buaError::InvalidState("no answered B leg to move"))?;
        if t.b
            .as_ref()
            .is_some_and(|b| b.invite_tx.is_some() || b.answered)
        {
            return Err(B2buaError::InvalidState("target already has a B leg"));
        }
        if self
            .dialogs
            .get(dk)
            .is_none_or(|d| d.state == DialogState::Terminating)
        {
            return Err(B2buaError::InvalidState("B leg is hanging up"));
        }
        let Some(b) = self.call_mut(from).and_then(|c| c.b.take()) else {
            return Err(B2buaError::NoSuchCall);
        };
        if let Some(t) = self.call_mut(to) {
            t.b = Some(b);
        }
        self.dialog_calls.insert(dk, (to, Leg::B));
        let mut moved = 0u32;
        for (k, (c, p)) in self.txs.iter_mut() {
            if *c != from {
                continue;
            }
            let belongs = match *p {
                Purpose::InDialog(Leg::B)
                | Purpose::Sent(Leg::B)
                | Purpose::SessionRefresh(Leg::B) => true,
                Purpose::BInvite => invite_tx == Some(*k),
                _ => false,
            };
            if belongs {
                *c = to;
                moved += 1;
            }
        }
        if let Some(c) = self.call_mut(from) {
            c.live_txs = c.live_txs.saturating_sub(moved);
        }
        self.mark_ended(from);
        if let Some(c) = self.call_mut(to) {
            c.live_txs += moved;
        }
        self.end_a(now, from);
        self.remove_if_idle(from);
        self.pump(now);
        Ok(())
    }

    /// Attended transfer into a call that has no B slot to take the leg (a campaign call
    /// led by its callee, whose agent is a call of its own): moves `from`'s answered B leg
    /// into a new call of its own, as if we had originated it, and hangs up `from`'s A leg
    /// (as [`B2bua::transplant_b`] does). Gives the new call's key: from now on the moved
    /// leg's BYE is `Ended { call: new, reason: Bye(B) }`, its requests come as
    /// `InDialogRequest`/`Reinvite { call: new, leg: B }` and [`B2bua::hangup`]`(new)`
    /// reaches it. Errors as for [`B2bua::transplant_b`].
    pub fn split_off_b(&mut self, now: Instant, from: CallKey) -> Result<CallKey, B2buaError> {
        let to = self.insert_call(None, None);
        match self.transplant_b(now, from, to) {
            Ok(()) => Ok(to),
            Err(e) => {
                self.remove_call(to);
                Err(e)
            }
        }
    }

    /// Reports a REFER's progress on `leg` (RFC 3515 §2.4.4-2.4.5): a NOTIFY with
    /// `Event: refer`, a `message/sipfrag;version=2.0` body holding `status`'s status line,
    /// and `Subscription-State: terminated;reason=noresource` when `terminated` (the final
    /// report) or `active;expires=60` (e.g. for a 100 Trying first). Send it after answering
    /// the REFER with `respond(now, tx, StatusCode(202), None)`.
    pub fn send_refer_notify(
        &mut self,
        now: Instant,
        call: CallKey,
        leg: Leg,
        status: StatusCode,
        terminated: bool,
    ) -> Result<TxKey, B2buaError> {
        let frag = format!("SIP/2.0 {} {}\r\n", status.0, status.default_reason());
        let state = if terminated {
            "terminated;reason=noresource"
        } else {
            "active;expires=60"
        };
        let extra = [
            ("Event".to_string(), "refer".to_string()),
            ("Subscription-State".to_string(), state.to_string()),
        ];
        let body = (Bytes::from(frag), "message/sipfrag;version=2.0");
        self.send_in_dialog_with(now, call, leg, Method::Notify, Some(body), &extra)
    }
}
