//! Timers as data: the schedule of every transaction's earliest deadline, and what each RFC
//! 3261 timer does when it fires (resend, time out, or end the transaction).

use super::*;

impl TransactionLayer {
    /// The earliest deadline of any transaction. Call after draining `poll_output`; call
    /// `handle_timeout` when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Entries are refreshed at the end of every `&mut` call; the dirty list is empty then,
        // but folding it in keeps the answer right even if a path forgot to flush.
        let filed = self.schedule.first().map(|(t, _)| *t);
        let dirty = self
            .dirty
            .iter()
            .filter_map(|k| self.get(*k))
            .filter_map(|t| t.timers.earliest())
            .min();
        match (filed, dirty) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Re-files every transaction touched since the last call under its earliest deadline.
    pub(super) fn flush_schedule(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            let Some(tx) = self
                .txs
                .get_mut(key.index as usize)
                .filter(|t| t.generation == key.generation)
            else {
                continue;
            };
            let next = tx.timers.earliest();
            if next == tx.scheduled {
                continue;
            }
            if let Some(old) = tx.scheduled {
                self.schedule.remove(&(old, key));
            }
            if let Some(new) = next {
                self.schedule.insert((new, key));
            }
            tx.scheduled = next;
        }
    }

    /// Fires every timer whose deadline is not after `now`. Call when `poll_timeout` passes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.flush_schedule();
        let mut due = Vec::new();
        while let Some(&(at, key)) = self.schedule.first() {
            if at > now {
                break;
            }
            self.schedule.pop_first();
            if let Some(tx) = self.get_mut(key) {
                tx.scheduled = None;
            }
            due.push(key);
        }
        for key in due {
            while let Some(timer) = self.get_mut(key).and_then(|tx| tx.timers.take_expired(now)) {
                self.fire(now, key, timer);
            }
        }
        self.flush_schedule();
    }

    pub(super) fn fire(&mut self, now: Instant, key: TxKey, timer: Timer) {
        let t = self.config.timers;
        let Some(tx) = self.get_mut(key) else {
            return;
        };
        let (peer, transport) = (tx.peer, tx.transport);
        match timer {
            Timer::A => {
                tx.interval = tx.interval.saturating_mul(2);
                tx.timers.arm(Timer::A, now + tx.interval);
                let b = tx.request_bytes.clone();
                self.transmit(peer, transport, b, Some(key));
            }
            Timer::E => {
                tx.interval = if tx.state == TxState::Proceeding {
                    t.t2
                } else {
                    t.backoff_capped(tx.interval)
                };
                tx.timers.arm(Timer::E, now + tx.interval);
                let b = tx.request_bytes.clone();
                self.transmit(peer, transport, b, Some(key));
            }
            Timer::G | Timer::Retransmit2xx => {
                tx.interval = t.backoff_capped(tx.interval);
                tx.timers.arm(timer, now + tx.interval);
                if let Some(b) = tx.last_response.clone() {
                    self.transmit(peer, transport, b, Some(key));
                }
            }
            Timer::B | Timer::F | Timer::H => {
                let silent = tx.silent;
                if !silent {
                    self.event(TxEvent::Timeout { key, timer });
                }
                self.terminate(key);
            }
            Timer::L => {
                if !tx.acked {
                    self.event(TxEvent::Timeout { key, timer });
                }
                self.terminate(key);
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::M => self.terminate(key),
        }
    }
}
