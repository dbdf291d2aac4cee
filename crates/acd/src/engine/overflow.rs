//! Overflow to reserve queues, and back: a call that overflowed out of a queue waits in the
//! reserve queue (its statistics, announcements and timers are the reserve's) but stays
//! eligible for the original queue's agents, so whichever agent frees first, original or
//! reserve, takes it in its place (priority, then the global join order).
//!
//! The original queue lists such calls in `Queue::away`, by their key; the call lists the
//! queues it left in `Call::origins`. Both are cleared when the call is answered, leaves, or
//! comes back to a queue it had left.

use super::*;

impl Queue {
    /// Inserts `(key, call)` into a list kept sorted by key.
    pub(super) fn insert_in(list: &mut VecDeque<(u64, CallId)>, key: u64, call: CallId) {
        let i = list.partition_point(|(k, _)| *k < key);
        if list.get(i).map(|(k, _)| *k) != Some(key) {
            list.insert(i, (key, call));
        }
    }

    pub(super) fn remove_in_away(&mut self, key: u64) {
        if let Ok(i) = self.away.binary_search_by(|(k, _)| k.cmp(&key)) {
            self.away.remove(i);
        }
    }
}

impl Acd {
    /// A supervisor moves a waiting call to queue `to` for good (`POST
    /// /api/v1/calls/{id}/transfer` on a waiting caller): counted and reported like an
    /// overflow (`Outcome::Overflowed` out of its queue, [`Output::Overflow`]), but the
    /// call does not stay eligible for the old queue's agents. Its place in the global
    /// join order (key) and priority are kept. A call ringing an agent, or a callback
    /// entry, is not waiting: [`AcdError::NotWaiting`].
    pub fn move_waiting(
        &mut self,
        now: Duration,
        call: CallId,
        to: QueueId,
    ) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !self.queues.contains_key(&to) {
            return Err(AcdError::UnknownQueue(to));
        }
        if !matches!(c.state, CallState::Waiting) || c.queue == to {
            return Err(AcdError::NotWaiting(call));
        }
        let from = c.queue;
        self.overflow(now, call, to);
        if let Some(c) = self.calls.get_mut(&call) {
            c.origins.retain(|o| *o != from);
            let key = c.key;
            if let Some(q) = self.queues.get_mut(&from) {
                q.remove_in_away(key);
            }
        }
        Ok(())
    }

    /// Moves a waiting call to the first of `to` (reserve queues, in order of preference)
    /// that has an available agent qualified for it, else to the first that exists.
    pub(super) fn overflow_to_reserve(&mut self, now: Duration, call: CallId, to: &[QueueId]) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let from = c.queue;
        let usable: Vec<QueueId> = to
            .iter()
            .copied()
            .filter(|t| *t != from && self.queues.contains_key(t))
            .collect();
        let free = usable.iter().copied().find(|t| {
            let Some(q) = self.queues.get(t) else {
                return false;
            };
            q.members.iter().any(|m| {
                self.agents.get(m).is_some_and(|a| {
                    !a.off_queues.contains(t) && self.eligible(a, c, q, now).is_some()
                })
            })
        });
        if let Some(target) = free.or_else(|| usable.first().copied()) {
            self.overflow(now, call, target);
        }
    }

    /// The call (key `key`) is answered or gone: its original queues stop listing it.
    pub(super) fn forget_away(&mut self, origins: &[QueueId], key: u64) {
        for o in origins {
            if let Some(q) = self.queues.get_mut(o) {
                q.remove_in_away(key);
            }
        }
    }

    /// Like [`Acd::forget_away`] for a call still in the table.
    pub(super) fn forget_away_of(&mut self, call: CallId) {
        if let Some(c) = self.calls.get(&call) {
            let (origins, key) = (c.origins.clone(), c.key);
            self.forget_away(&origins, key);
        }
    }

    /// The first call that overflowed out of `q` (id `qid`) and that available agent `a`
    /// qualifies for, with a key below `before`.
    pub(super) fn first_away_for(
        &self,
        now: Duration,
        a: &Agent,
        qid: QueueId,
        q: &Queue,
        before: Option<u64>,
    ) -> Option<(u64, CallId)> {
        if a.off_queues.contains(&qid) {
            return None;
        }
        for (key, cid) in &q.away {
            if before.is_some_and(|b| b <= *key) {
                return None;
            }
            let Some(c) = self.calls.get(cid) else {
                continue;
            };
            if c.key == *key
                && c.origins.contains(&qid)
                && c.unassigned(now)
                && self.eligible(a, c, q, now).is_some()
            {
                return Some((*key, *cid));
            }
        }
        None
    }

    /// Agents of the queues `call` overflowed out of who may take it now (beyond the
    /// members of its current queue, `skip`), with their skill score.
    pub(super) fn origin_candidates(
        &self,
        now: Duration,
        c: &Call,
        skip: &[AgentId],
    ) -> Vec<(AgentId, u32)> {
        let mut out: Vec<(AgentId, u32)> = Vec::new();
        for o in &c.origins {
            let Some(q) = self.queues.get(o) else {
                continue;
            };
            for m in &q.members {
                if skip.contains(m) || out.iter().any(|(x, _)| x == m) {
                    continue;
                }
                let Some(a) = self.agents.get(m) else {
                    continue;
                };
                if a.off_queues.contains(o) {
                    continue;
                }
                if let Some(score) = self.eligible(a, c, q, now) {
                    out.push((*m, score));
                }
            }
        }
        out
    }
}
