//! The decisions of an outbound campaign, as a value that does no I/O: which row of the
//! dial list to call next, whether the callee's local time is inside the calling window,
//! when a busy or unanswered row is retried (backoff, maximum attempts), which rows the
//! do-not-call list removes, the campaign's run state (created, running, paused, stopped,
//! finished) and its counters.
//!
//! Time is an input (`now: DateTime<Utc>`); the crate never reads a clock, so a whole
//! campaign is simulated in a test in microseconds. The server's campaign runner feeds it
//! call outcomes, asks it for the next dial and for the next moment something becomes
//! due, and logs every dial and outcome as events so that [`Campaign::replay_dial`] and
//! [`Campaign::replay_result`] rebuild the same state after a restart.
//!
//! It is not a dialler: it places no calls, knows nothing of SIP, trunks, the number
//! policy or agents (the runner passes the number of calls it may start now), and it does
//! not pace predictive dialling (that is `switchboard_outbound::pacing`).

mod window;

use std::collections::BTreeMap;
use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

pub use window::{Window, WindowError};

/// A row of the dial list, by its position in the list (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowId(pub u32);

/// One callee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub number: String,
    pub name: String,
    /// The callee's time zone (the campaign's when `None`).
    pub timezone: Option<Tz>,
    /// Custom fields (`order = "123"`), for the dialplan and the agent's screen pop.
    pub fields: BTreeMap<String, String>,
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A person answered (and, for agent campaigns, reached an agent).
    Answered,
    /// 486/600: retried.
    Busy,
    /// It rang out, or 408/480: retried.
    NoAnswer,
    /// An answering machine picked up: retried or final, per campaign.
    Machine,
    /// Answered, but no agent was free: retried.
    Abandoned,
    /// No trunk could take the call (limits, none configured): retried, not counted as dialled.
    NoTrunk,
    /// The server stopped during the call: retried.
    Interrupted,
    /// Any other final failure (404, 603, a bad number at the carrier): final.
    Failed,
    /// The number policy refused the number: final, never dialled.
    Refused,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Answered,
        Outcome::Busy,
        Outcome::NoAnswer,
        Outcome::Machine,
        Outcome::Abandoned,
        Outcome::NoTrunk,
        Outcome::Interrupted,
        Outcome::Failed,
        Outcome::Refused,
    ];

    /// The snake_case name used in events, the API and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Busy => "busy",
            Outcome::NoAnswer => "no_answer",
            Outcome::Machine => "machine",
            Outcome::Abandoned => "abandoned",
            Outcome::NoTrunk => "no_trunk",
            Outcome::Interrupted => "interrupted",
            Outcome::Failed => "failed",
            Outcome::Refused => "refused",
        }
    }

    /// The outcome named `s` (see [`Outcome::as_str`]).
    pub fn parse(s: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The outcome of a final SIP status of an unanswered call.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            486 | 600 => Outcome::Busy,
            408 | 480 | 487 => Outcome::NoAnswer,
            _ => Outcome::Failed,
        }
    }

    fn retried(self, plan: &Plan) -> bool {
        match self {
            Outcome::Busy
            | Outcome::NoAnswer
            | Outcome::Abandoned
            | Outcome::NoTrunk
            | Outcome::Interrupted => true,
            Outcome::Machine => plan.retry_machines,
            Outcome::Answered | Outcome::Failed | Outcome::Refused => false,
        }
    }

    /// Does this attempt use up one of the row's `max_attempts`? (A call that never left
    /// because no trunk was free, or that the server's stop cut short, does not.)
    fn counts(self) -> bool {
        !matches!(self, Outcome::NoTrunk | Outcome::Interrupted)
    }
}

/// What the campaign's definition decides.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub window: Window,
    /// For rows without their own time zone.
    pub timezone: Tz,
    /// Attempts per row, the first included (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; each further retry waits twice as long as the last.
    pub retry_after: Duration,
    /// The longest wait between attempts.
    pub retry_max: Duration,
    /// Calls in progress at once.
    pub max_concurrent: u32,
    /// Retry rows answered by a machine (otherwise a machine is final: the message was left).
    pub retry_machines: bool,
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            window: "09:00-20:00".parse().unwrap_or(Window::ALWAYS),
            timezone: Tz::UTC,
            max_attempts: 3,
            retry_after: Duration::minutes(10),
            retry_max: Duration::hours(4),
            max_concurrent: 1,
            retry_machines: true,
        }
    }
}

/// Numbers never to call, compared by their digits (`+7 (495) 123` is `7495123`).
#[derive(Clone, Debug, Default)]
pub struct DoNotCall(HashSet<String>);

impl DoNotCall {
    pub fn new<'a>(numbers: impl IntoIterator<Item = &'a str>) -> DoNotCall {
        DoNotCall(
            numbers
                .into_iter()
                .map(digits)
                .filter(|d| !d.is_empty())
                .collect(),
        )
    }

    pub fn contains(&self, number: &str) -> bool {
        self.0.contains(&digits(number))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn digits(n: &str) -> String {
    n.chars().filter(char::is_ascii_digit).collect()
}

/// Where a row stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// A call is in progress.
    Dialling,
    /// Finished with this outcome (answered, failed, refused, or a machine not retried).
    Done(Outcome),
    /// Every attempt used; the last one ended with this outcome.
    Exhausted(Outcome),
    /// On the do-not-call list: never dialled.
    DoNotCall,
}

impl RowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Pending => "pending",
            RowStatus::Dialling => "dialling",
            RowStatus::Done(_) => "done",
            RowStatus::Exhausted(_) => "exhausted",
            RowStatus::DoNotCall => "do_not_call",
        }
    }
}

/// A row's status, attempts so far, next attempt time and last outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowState {
    pub status: RowStatus,
    pub attempts: u32,
    pub next_at: Option<DateTime<Utc>>,
    pub last: Option<Outcome>,
}

#[derive(Clone, Debug)]
struct Slot {
    row: Row,
    status: RowStatus,
    attempts: u32,
    next_at: Option<DateTime<Utc>>,
    last: Option<Outcome>,
}

/// The campaign's run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Defined, not started.
    Created,
    Running,
    /// No new calls; calls in progress finish. `start` resumes.
    Paused,
    /// No new calls, ever (a stopped campaign can be started again).
    Stopped,
    /// Every row is done.
    Finished,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Created => "created",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Stopped => "stopped",
            RunState::Finished => "finished",
        }
    }

    pub fn parse(s: &str) -> Option<RunState> {
        [
            RunState::Created,
            RunState::Running,
            RunState::Paused,
            RunState::Stopped,
            RunState::Finished,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A call to place now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dial {
    pub row: RowId,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub number: String,
}

/// What [`Campaign::on_result`] decided for the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub status: RowStatus,
    /// When the row is tried again (retries only).
    pub next_at: Option<DateTime<Utc>>,
}

/// Counts by outcome and row status, for the API and reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub rows: u32,
    pub pending: u32,
    pub dialling: u32,
    pub done: u32,
    pub exhausted: u32,
    pub do_not_call: u32,
    /// Attempts that left (every outcome but `no_trunk`, `interrupted`, `refused`).
    pub dialled: u32,
    /// Attempts by outcome name.
    pub outcomes: BTreeMap<&'static str, u32>,
}

/// One campaign's state. See the crate docs.
#[derive(Clone, Debug)]
pub struct Campaign {
    plan: Plan,
    slots: Vec<Slot>,
    state: RunState,
    in_flight: u32,
    outcomes: BTreeMap<Outcome, u32>,
}

impl PartialOrd for Outcome {
    fn partial_cmp(&self, other: &Outcome) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Outcome {
    fn cmp(&self, other: &Outcome) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

/// A start/pause/stop that does not apply in the current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the campaign is {0}")]
pub struct StateError(pub &'static str);

impl Campaign {
    /// A new campaign over `rows`; rows whose number is on `dnc` are never dialled.
    pub fn new(plan: Plan, rows: Vec<Row>, dnc: &DoNotCall) -> Campaign {
        let slots = rows
            .into_iter()
            .map(|row| Slot {
                status: if dnc.contains(&row.number) {
                    RowStatus::DoNotCall
                } else {
                    RowStatus::Pending
                },
                row,
                attempts: 0,
                next_at: None,
                last: None,
            })
            .collect();
        Campaign {
            plan: Plan {
                max_attempts: plan.max_attempts.max(1),
                max_concurrent: plan.max_concurrent.max(1),
                ..plan
            },
            slots,
            state: RunState::Created,
            in_flight: 0,
            outcomes: BTreeMap::new(),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn state(&self) -> RunState {
        self.state
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    pub fn row(&self, id: RowId) -> Option<&Row> {
        self.slots.get(id.0 as usize).map(|s| &s.row)
    }

    /// Where a row stands.
    pub fn row_state(&self, id: RowId) -> Option<RowState> {
        self.slots.get(id.0 as usize).map(|s| RowState {
            status: s.status,
            attempts: s.attempts,
            next_at: s.next_at,
            last: s.last,
        })
    }

    pub fn rows(&self) -> usize {
        self.slots.len()
    }

    /// Start or resume.
    pub fn start(&mut self) -> Result<(), StateError> {
        match self.state {
            RunState::Finished => Err(StateError("finished")),
            _ => {
                self.state = RunState::Running;
                self.check_finished();
                Ok(())
            }
        }
    }

    pub fn pause(&mut self) -> Result<(), StateError> {
        match self.state {
            RunState::Running => {
                self.state = RunState::Paused;
                Ok(())
            }
            s => Err(StateError(s.as_str())),
        }
    }

    pub fn stop(&mut self) -> Result<(), StateError> {
        match self.state {
            RunState::Finished => Err(StateError("finished")),
            _ => {
                self.state = RunState::Stopped;
                Ok(())
            }
        }
    }

    /// Sets the run state read back from the log (no checks).
    pub fn replay_state(&mut self, state: RunState) {
        self.state = state;
    }

    fn tz(&self, s: &Slot) -> Tz {
        s.row.timezone.unwrap_or(self.plan.timezone)
    }

    fn due(&self, s: &Slot, now: DateTime<Utc>) -> bool {
        s.status == RowStatus::Pending
            && s.next_at.is_none_or(|t| t <= now)
            && self.plan.window.contains(now, self.tz(s))
    }

    /// The next call to place at `now`, if the campaign runs, fewer than `max_concurrent`
    /// calls are in progress and `extra_limit` (free agents for agent campaigns; `u32::MAX`
    /// otherwise) calls of this campaign may start. Rows go in list order; a row is due
    /// once its retry time passed and its callee's local time is inside the window.
    pub fn next_dial(&mut self, now: DateTime<Utc>, extra_limit: u32) -> Option<Dial> {
        if self.state != RunState::Running
            || self.in_flight >= self.plan.max_concurrent
            || extra_limit == 0
        {
            return None;
        }
        let i = self.slots.iter().position(|s| self.due(s, now))?;
        let s = self.slots.get_mut(i)?;
        s.status = RowStatus::Dialling;
        s.attempts += 1;
        s.next_at = None;
        self.in_flight += 1;
        Some(Dial {
            row: RowId(i as u32),
            attempt: s.attempts,
            number: s.row.number.clone(),
        })
    }

    /// How the call to `row` ended at `now`: the row is done, retried later (its next
    /// attempt time), or out of attempts.
    pub fn on_result(&mut self, row: RowId, outcome: Outcome, now: DateTime<Utc>) -> Decision {
        let plan = self.plan.clone();
        let Some(s) = self.slots.get_mut(row.0 as usize) else {
            return Decision {
                status: RowStatus::Pending,
                next_at: None,
            };
        };
        if s.status == RowStatus::Dialling {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        if !outcome.counts() {
            s.attempts = s.attempts.saturating_sub(1);
        }
        *self.outcomes.entry(outcome).or_default() += 1;
        s.last = Some(outcome);
        let (status, next_at) = if !outcome.retried(&plan) {
            (RowStatus::Done(outcome), None)
        } else if s.attempts >= plan.max_attempts {
            (RowStatus::Exhausted(outcome), None)
        } else if outcome.counts() {
            let wait = backoff(&plan, s.attempts);
            (RowStatus::Pending, Some(now + wait))
        } else {
            // Not dialled (no trunk, interrupted): again soon, without using an attempt.
            (RowStatus::Pending, Some(now + Duration::seconds(5)))
        };
        s.status = status;
        s.next_at = next_at;
        self.check_finished();
        Decision { status, next_at }
    }

    /// Replays a logged dial (`campaign.dial`) while rebuilding state after a restart.
    pub fn replay_dial(&mut self, row: RowId, attempt: u32) {
        if let Some(s) = self.slots.get_mut(row.0 as usize) {
            if s.status != RowStatus::Dialling {
                self.in_flight += 1;
            }
            s.status = RowStatus::Dialling;
            s.attempts = attempt;
        }
    }

    /// Replays a logged outcome (`campaign.result`): the same decision [`Campaign::on_result`]
    /// made then, with the logged retry time.
    pub fn replay_result(
        &mut self,
        row: RowId,
        outcome: Outcome,
        at: DateTime<Utc>,
        next_at: Option<DateTime<Utc>>,
    ) {
        let d = self.on_result(row, outcome, at);
        if let (Some(s), RowStatus::Pending) = (self.slots.get_mut(row.0 as usize), d.status) {
            s.next_at = next_at.or(d.next_at);
        }
    }

    /// After a replay: rows whose call was in progress when the server stopped.
    pub fn interrupted(&self) -> Vec<RowId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.status == RowStatus::Dialling)
            .map(|(i, _)| RowId(i as u32))
            .collect()
    }

    fn check_finished(&mut self) {
        if self.in_flight == 0
            && matches!(self.state, RunState::Running | RunState::Paused)
            && self
                .slots
                .iter()
                .all(|s| !matches!(s.status, RowStatus::Pending | RowStatus::Dialling))
        {
            self.state = RunState::Finished;
        }
    }

    /// The earliest moment after `now` at which a row becomes due (its retry time or its
    /// window's opening), if the campaign runs and any row waits.
    pub fn next_wakeup(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.state != RunState::Running {
            return None;
        }
        self.slots
            .iter()
            .filter(|s| s.status == RowStatus::Pending)
            .map(|s| {
                let from = s.next_at.map_or(now, |t| t.max(now));
                self.plan.window.next_open(from, self.tz(s))
            })
            .min()
    }

    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            rows: self.slots.len() as u32,
            ..Progress::default()
        };
        for s in &self.slots {
            match s.status {
                RowStatus::Pending => p.pending += 1,
                RowStatus::Dialling => p.dialling += 1,
                RowStatus::Done(_) => p.done += 1,
                RowStatus::Exhausted(_) => p.exhausted += 1,
                RowStatus::DoNotCall => p.do_not_call += 1,
            }
        }
        for (o, n) in &self.outcomes {
            p.outcomes.insert(o.as_str(), *n);
            if o.counts() && *o != Outcome::Refused {
                p.dialled += n;
            }
        }
        p
    }
}

/// The wait before the attempt after attempt number `attempts`: `retry_after`, doubling,
/// at most `retry_max`.
fn backoff(plan: &Plan, attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(30);
    let secs = plan
        .retry_after
        .num_seconds()
        .max(0)
        .saturating_mul(1i64 << doublings);
    Duration::seconds(secs.min(plan.retry_max.num_seconds().max(0)))
}

#[cfg(test)]
mod tests;
