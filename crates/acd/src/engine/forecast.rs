//! The queue-wide wait forecast as the engine keeps it: made when an estimate is asked for
//! and none holds, reused by every announcement of the queue while it holds (see
//! `ewt/forecast.rs` for the model and docs/decisions/0044-ewt-at-scale.md for why).
//!
//! It holds while: nobody ahead of any caller left, was offered or turned into a callback
//! (the queue's `epoch` counts those changes; callers joining at the end do not change
//! anything for the callers ahead of them), the caller sees the same agents in the same
//! states as when it was made (so an agent finishing a call, starting wrap-up, logging in
//! or out, pausing, ringing makes a new one), it is younger than `EwtConfig::reuse_for`,
//! and it has a wait for the caller's position (it covers `JOINERS` callers beyond the
//! line it saw). When none holds, the first estimate is the caller's own (per-caller Monte
//! Carlo, as before the forecast) and the second within the same epoch makes one: a round
//! of announcements pays for one forecast, a lone estimate between two changes does not.

use super::*;
use crate::ewt::Forecast;

/// Callers expected to join behind the line before a forecast is replaced: their
/// positions are played too, so their join announcements read the forecast.
const JOINERS: usize = 64;

/// One queue's forecast and what it was made from.
#[derive(Debug, Default)]
pub(super) struct QueueForecast {
    forecast: Forecast,
    /// Made, and the queue's epoch then.
    made: Option<u64>,
    /// The agents the forecast plays (a caller who sees others does not use it).
    agents: Vec<AgentId>,
    /// For each entry of the queue's order then: callers counted ahead of it.
    before: Vec<u32>,
    /// Callers counted in the whole order then.
    counted: usize,
    /// The epoch and time of the last estimate that found no forecast holding and was
    /// given its own: the next one in the same epoch makes a forecast.
    first_reader: Option<(u64, f64)>,
}

impl QueueForecast {
    /// Bytes held on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        self.forecast.heap_bytes()
            + self.agents.capacity() * std::mem::size_of::<AgentId>()
            + self.before.capacity() * std::mem::size_of::<u32>()
    }

    /// The forecast's position for the caller at `idx` in an order unchanged since (but
    /// perhaps longer: joiners at the end count one each).
    fn position(&self, idx: usize) -> usize {
        match self.before.get(idx) {
            Some(k) => *k as usize,
            None => self.counted + (idx - self.before.len()),
        }
    }
}

impl Acd {
    /// The estimate of the caller at `idx` in `qid`'s order, seeing `self.loads` (the
    /// agents `self.load_ids`), from the queue's forecast (made anew when it no longer
    /// holds). `None` when the forecast cannot serve this caller (it sees other agents than
    /// a still-valid forecast made for others, or it is the first estimate since the queue
    /// changed): the caller gets its own estimate.
    pub(super) fn forecast_estimate(
        &mut self,
        now: Duration,
        qid: QueueId,
        idx: usize,
        within: f64,
    ) -> Option<Option<Estimate>> {
        let max_age = self.cfg.ewt.reuse_for;
        let now_s = secs(now);
        let q = self.queues.get_mut(&qid)?;
        let epoch = q.epoch;
        let f = &mut q.forecast;
        let fresh = f.made == Some(epoch) && f.forecast.holds(now_s, &self.loads, max_age);
        let same_agents = f.agents == self.load_ids;
        if !(fresh && same_agents && f.position(idx) < f.forecast.positions()) {
            if fresh && !same_agents {
                // Another caller's agents (skills, tenant): keep the forecast for them.
                return None;
            }
            // A forecast costs as much as a few estimates of the last caller: worth it for
            // a round of announcements, not for one estimate between two changes (a join
            // after every answer, no periodic announcements). The first estimate after a
            // change is the caller's own; the second in the same epoch makes a forecast.
            let second = f
                .first_reader
                .is_some_and(|(e, at)| e == epoch && (0.0..=max_age).contains(&(now_s - at)));
            if !second {
                f.first_reader = Some((epoch, now_s));
                return None;
            }
            f.first_reader = None;
            self.make_forecast(now, qid);
        }
        let q = self.queues.get_mut(&qid)?;
        let level = q.model.level();
        let k = q.forecast.position(idx);
        Some(q.forecast.forecast.estimate(k, now_s, within, level))
    }

    /// Play `qid`'s future from `now` for every caller in its order, with the agents in
    /// `self.loads`.
    fn make_forecast(&mut self, now: Duration, qid: QueueId) {
        let Some(q) = self.queues.get_mut(&qid) else {
            return;
        };
        let f = &mut q.forecast;
        f.before.clear();
        self.ahead.clear();
        for (_, call) in &q.order {
            f.before
                .push(u32::try_from(self.ahead.len()).unwrap_or(u32::MAX));
            match self.calls.get(call).map(|c| &c.state) {
                Some(CallState::Waiting) => self.ahead.push(true),
                Some(CallState::CallbackWaiting { .. }) => self.ahead.push(false),
                _ => {}
            }
        }
        f.counted = self.ahead.len();
        f.agents.clear();
        f.agents.extend_from_slice(&self.load_ids);
        let wrap = secs(q.cfg.wrap_up);
        let made = f.forecast.make(
            &q.model,
            &mut self.rng,
            secs(now),
            &self.ahead,
            JOINERS,
            &self.loads,
            wrap,
        );
        f.made = made.then_some(q.epoch);
        self.forecasts_made += 1;
    }
}
