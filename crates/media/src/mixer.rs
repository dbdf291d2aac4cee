//! N-party audio mixer for conferences and supervisor modes.
//!
//! Each participant contributes one frame per tick and receives the sum of the frames of
//! the participants it *hears*, never its own. Who hears whom is a matrix, with presets
//! for contact-centre supervision:
//!
//! | mode    | supervisor hears | agent hears supervisor | caller hears supervisor |
//! |---------|------------------|------------------------|-------------------------|
//! | listen  | caller + agent   | no                     | no                      |
//! | whisper | caller + agent   | yes                    | no                      |
//! | barge   | caller + agent   | yes                    | yes                     |
//!
//! Mixing is "mix minus": the frames of speakers everybody hears are summed once, then
//! each listener's own frame is subtracted and any private paths (whisper) added, in 32-bit
//! accumulators saturated to 16 bits at the end. All buffers are sized when the mixer is
//! built; [`Mixer::mix`] does not allocate. The mixer is sample-rate agnostic: every frame
//! has `frame_len` samples at whatever rate the conference runs.

/// Largest participant count a mixer accepts (the hearing matrix is quadratic).
pub const MAX_PARTICIPANTS: usize = 512;

/// A participant's slot in a [`Mixer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ParticipantId(u16);

impl ParticipantId {
    /// The slot index.
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// Supervisor presets (see the module table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupervisorMode {
    /// The supervisor hears everyone; nobody hears the supervisor.
    Listen,
    /// The supervisor hears everyone; only the agent hears the supervisor.
    Whisper,
    /// Everyone hears everyone.
    Barge,
}

/// Mixer errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MixerError {
    /// All slots are taken.
    #[error("mixer is full ({0} participants)")]
    Full(usize),
    /// The id does not name a current participant.
    #[error("no such participant")]
    NoSuchParticipant,
}

/// The N-party mixer; a sans-IO core driven once per frame interval.
///
/// Per tick: [`handle_frame`](Self::handle_frame) for each participant that sent audio
/// (decoded PCM), then [`mix`](Self::mix), then read [`output`](Self::output) for each
/// participant and encode it. A participant that sent nothing this tick contributes
/// silence.
#[derive(Debug, Clone)]
pub struct Mixer {
    capacity: usize,
    frame_len: usize,
    active: Vec<bool>,
    has_input: Vec<bool>,
    /// `hears[listener * capacity + speaker]`.
    hears: Vec<bool>,
    /// Speaker is heard by every other active participant.
    broadcast: Vec<bool>,
    inputs: Vec<i16>,
    outputs: Vec<i16>,
    acc: Vec<i32>,
    common: Vec<i32>,
}

impl Mixer {
    /// A mixer for up to `capacity` participants (at most [`MAX_PARTICIPANTS`]) with
    /// frames of `frame_len` samples (e.g. 160 for 20 ms at 8 kHz). All memory is
    /// allocated here.
    pub fn new(capacity: usize, frame_len: usize) -> Mixer {
        let capacity = capacity.min(MAX_PARTICIPANTS);
        Mixer {
            capacity,
            frame_len,
            active: vec![false; capacity],
            has_input: vec![false; capacity],
            hears: vec![false; capacity * capacity],
            broadcast: vec![false; capacity],
            inputs: vec![0; capacity * frame_len],
            outputs: vec![0; capacity * frame_len],
            acc: vec![0; frame_len],
            common: vec![0; frame_len],
        }
    }

    /// Samples per frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Adds a participant who hears and is heard by everyone.
    pub fn add(&mut self) -> Result<ParticipantId, MixerError> {
        let slot = self
            .active
            .iter()
            .position(|a| !a)
            .ok_or(MixerError::Full(self.capacity))?;
        self.active[slot] = true;
        self.has_input[slot] = false;
        for other in 0..self.capacity {
            let both = self.active[other] && other != slot;
            self.hears[slot * self.capacity + other] = both;
            self.hears[other * self.capacity + slot] = both;
        }
        self.refresh_broadcast();
        Ok(ParticipantId(slot as u16))
    }

    /// Removes a participant; its slot can be reused.
    pub fn remove(&mut self, id: ParticipantId) -> Result<(), MixerError> {
        let s = self.slot(id)?;
        self.active[s] = false;
        self.has_input[s] = false;
        for other in 0..self.capacity {
            self.hears[s * self.capacity + other] = false;
            self.hears[other * self.capacity + s] = false;
        }
        self.refresh_broadcast();
        Ok(())
    }

    /// Number of current participants.
    pub fn len(&self) -> usize {
        self.active.iter().filter(|a| **a).count()
    }

    /// `true` when nobody is in the mixer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets whether `listener` hears `speaker` (a participant never hears itself).
    pub fn set_hears(
        &mut self,
        listener: ParticipantId,
        speaker: ParticipantId,
        hears: bool,
    ) -> Result<(), MixerError> {
        let l = self.slot(listener)?;
        let s = self.slot(speaker)?;
        if l != s {
            self.hears[l * self.capacity + s] = hears;
            self.refresh_broadcast();
        }
        Ok(())
    }

    /// Whether `listener` hears `speaker`.
    pub fn hears(&self, listener: ParticipantId, speaker: ParticipantId) -> bool {
        self.hears
            .get(listener.index() * self.capacity + speaker.index())
            .copied()
            .unwrap_or(false)
    }

    /// Applies a supervisor preset: the supervisor hears every participant, and is heard
    /// by nobody (listen), only `agent` (whisper) or everyone (barge).
    pub fn set_supervisor(
        &mut self,
        supervisor: ParticipantId,
        agent: ParticipantId,
        mode: SupervisorMode,
    ) -> Result<(), MixerError> {
        let sup = self.slot(supervisor)?;
        let ag = self.slot(agent)?;
        for other in 0..self.capacity {
            if other == sup || !self.active[other] {
                continue;
            }
            self.hears[sup * self.capacity + other] = true;
            let heard = match mode {
                SupervisorMode::Listen => false,
                SupervisorMode::Whisper => other == ag,
                SupervisorMode::Barge => true,
            };
            self.hears[other * self.capacity + sup] = heard;
        }
        self.refresh_broadcast();
        Ok(())
    }

    /// Stores a participant's frame for this tick (decoded PCM). Shorter frames are
    /// padded with silence; longer ones are truncated to `frame_len`.
    pub fn handle_frame(&mut self, id: ParticipantId, samples: &[i16]) -> Result<(), MixerError> {
        let s = self.slot(id)?;
        let fl = self.frame_len;
        let dst = &mut self.inputs[s * fl..(s + 1) * fl];
        let n = samples.len().min(fl);
        dst[..n].copy_from_slice(&samples[..n]);
        dst[n..].fill(0);
        self.has_input[s] = true;
        Ok(())
    }

    /// Mixes this tick: computes every participant's output and clears the inputs.
    pub fn mix(&mut self) {
        let fl = self.frame_len;
        let cap = self.capacity;
        self.common.fill(0);
        for s in 0..cap {
            if self.active[s] && self.has_input[s] && self.broadcast[s] {
                let inp = &self.inputs[s * fl..(s + 1) * fl];
                for (c, x) in self.common.iter_mut().zip(inp) {
                    *c += i32::from(*x);
                }
            }
        }
        for l in 0..cap {
            if !self.active[l] {
                continue;
            }
            self.acc.copy_from_slice(&self.common);
            if self.has_input[l] && self.broadcast[l] {
                let own = &self.inputs[l * fl..(l + 1) * fl];
                for (a, x) in self.acc.iter_mut().zip(own) {
                    *a -= i32::from(*x);
                }
            }
            for s in 0..cap {
                if s != l
                    && self.active[s]
                    && self.has_input[s]
                    && !self.broadcast[s]
                    && self.hears[l * cap + s]
                {
                    let inp = &self.inputs[s * fl..(s + 1) * fl];
                    for (a, x) in self.acc.iter_mut().zip(inp) {
                        *a += i32::from(*x);
                    }
                }
            }
            let out = &mut self.outputs[l * fl..(l + 1) * fl];
            for (o, a) in out.iter_mut().zip(self.acc.iter()) {
                *o = (*a).clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16;
            }
        }
        self.has_input.fill(false);
    }

    /// What `id` hears after the last [`mix`](Self::mix).
    pub fn output(&self, id: ParticipantId) -> &[i16] {
        let fl = self.frame_len;
        match self.slot(id) {
            Ok(s) => &self.outputs[s * fl..(s + 1) * fl],
            Err(_) => &[],
        }
    }

    fn slot(&self, id: ParticipantId) -> Result<usize, MixerError> {
        let s = id.index();
        if self.active.get(s).copied().unwrap_or(false) {
            Ok(s)
        } else {
            Err(MixerError::NoSuchParticipant)
        }
    }

    fn refresh_broadcast(&mut self) {
        let cap = self.capacity;
        for s in 0..cap {
            self.broadcast[s] = self.active[s]
                && (0..cap).all(|l| l == s || !self.active[l] || self.hears[l * cap + s]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hears_the_others_but_not_itself() {
        let mut m = Mixer::new(4, 4);
        let a = m.add().expect("a");
        let b = m.add().expect("b");
        let c = m.add().expect("c");
        m.handle_frame(a, &[1, 1, 1, 1]).expect("a");
        m.handle_frame(b, &[10, 10, 10, 10]).expect("b");
        m.handle_frame(c, &[100, 100]).expect("c");
        m.mix();
        assert_eq!(m.output(a), &[110, 110, 10, 10]);
        assert_eq!(m.output(b), &[101, 101, 1, 1]);
        assert_eq!(m.output(c), &[11, 11, 11, 11]);
        // Next tick without input is silence.
        m.mix();
        assert_eq!(m.output(a), &[0, 0, 0, 0]);
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        let mut m = Mixer::new(3, 2);
        let a = m.add().expect("a");
        let b = m.add().expect("b");
        let c = m.add().expect("c");
        m.handle_frame(a, &[30000, -30000]).expect("a");
        m.handle_frame(b, &[30000, -30000]).expect("b");
        m.mix();
        assert_eq!(m.output(c), &[i16::MAX, i16::MIN]);
    }

    #[test]
    fn full_and_unknown_ids_are_errors() {
        let mut m = Mixer::new(1, 2);
        let a = m.add().expect("a");
        assert_eq!(m.add(), Err(MixerError::Full(1)));
        m.remove(a).expect("remove");
        assert_eq!(m.handle_frame(a, &[1]), Err(MixerError::NoSuchParticipant));
        assert!(m.is_empty());
    }
}
