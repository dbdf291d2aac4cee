//! Hold and resume: a re-INVITE from the caller or the agent whose offer puts audio on hold
//! (`sendonly`/`inactive`, or a `0.0.0.0` address; `SessionDescription::is_hold`) or takes
//! it off hold again. Each change of a party's hold is a typed event (`call.hold`,
//! `call.resume` with how long it lasted), which the CDR (`hold_s`) and the agent report
//! (`hold_s`) sum. The media keeps flowing as before: this only observes and logs.

use super::*;

/// Since when each party has the call on hold.
#[derive(Debug, Default)]
pub(super) struct Holds {
    caller: Option<Instant>,
    agent: Option<Instant>,
}

impl CallTask {
    /// A re-INVITE from `leg` offered media that is (`held`) or is not on hold: logs the
    /// change of that party's hold, if any. `None`: the offer did not parse (no change).
    pub(super) fn note_hold(&mut self, leg: SipLeg, held: Option<bool>) {
        let Some(held) = held else { return };
        let (party, since) = match leg {
            SipLeg::A => (Party::Caller, &mut self.holds.caller),
            SipLeg::B => (Party::Agent, &mut self.holds.agent),
        };
        let event = match (held, *since) {
            (true, None) => {
                *since = Some(Instant::now());
                Event::CallHold { party }
            }
            (false, Some(t)) => {
                *since = None;
                Event::CallResume {
                    party,
                    held_s: t.elapsed().as_secs_f64(),
                }
            }
            _ => return,
        };
        let mut ev = self.log(event);
        if let Phase::Bridged { queue, agent, .. } = self.flow.phase() {
            ev = ev.queue(queue).agent(agent);
        }
        self.ctx.events.append(ev);
    }
}
