//! Supervisor listen/whisper/barge and conferences: what each party actually hears,
//! measured by the level of each party's distinct tone in its received audio.

use switchboard_media::{Mixer, ParticipantId, SupervisorMode, ToneGenerator};

const CALLER_HZ: f64 = 500.0;
const AGENT_HZ: f64 = 1000.0;
const SUPERVISOR_HZ: f64 = 2000.0;
const AMP: f64 = 8000.0;

/// Amplitude of `freq` in `x` (8 kHz), by correlation with a complex exponential.
fn level(x: &[i16], freq: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (i, &s) in x.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * freq * i as f64 / 8000.0;
        re += f64::from(s) * ph.cos();
        im += f64::from(s) * ph.sin();
    }
    2.0 * (re * re + im * im).sqrt() / x.len() as f64
}

struct Call {
    mixer: Mixer,
    parties: Vec<(ParticipantId, ToneGenerator)>,
}

impl Call {
    fn new(freqs: &[f64]) -> Call {
        let mut mixer = Mixer::new(freqs.len(), 160);
        let parties = freqs
            .iter()
            .map(|&f| {
                (
                    mixer.add().expect("slot"),
                    ToneGenerator::single(8000, f, AMP),
                )
            })
            .collect();
        Call { mixer, parties }
    }

    /// Runs 10 ticks (200 ms); returns what each party received, concatenated.
    fn run(&mut self) -> Vec<Vec<i16>> {
        let mut heard = vec![Vec::new(); self.parties.len()];
        let mut frame = [0i16; 160];
        for _ in 0..10 {
            for (id, g) in self.parties.iter_mut() {
                g.fill(&mut frame);
                self.mixer.handle_frame(*id, &frame).expect("frame");
            }
            self.mixer.mix();
            for (k, (id, _)) in self.parties.iter().enumerate() {
                heard[k].extend_from_slice(self.mixer.output(*id));
            }
        }
        heard
    }
}

fn hears(x: &[i16], freq: f64) -> bool {
    let l = level(x, freq);
    assert!(
        l < 1.0 || (l - AMP).abs() < 0.01 * AMP,
        "partial level {l} at {freq} Hz"
    );
    l > AMP / 2.0
}

#[test]
fn listen_whisper_barge() {
    let mut call = Call::new(&[CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ]);
    let (caller, agent, sup) = (call.parties[0].0, call.parties[1].0, call.parties[2].0);

    // (mode, caller hears supervisor, agent hears supervisor)
    for (mode, caller_hears_sup, agent_hears_sup) in [
        (SupervisorMode::Listen, false, false),
        (SupervisorMode::Whisper, false, true),
        (SupervisorMode::Barge, true, true),
        (SupervisorMode::Listen, false, false),
    ] {
        call.mixer.set_supervisor(sup, agent, mode).expect("mode");
        let heard = call.run();
        let (c, a, s) = (
            &heard[caller.index()],
            &heard[agent.index()],
            &heard[sup.index()],
        );
        // Caller and agent always hear each other; nobody hears themselves.
        assert!(hears(c, AGENT_HZ) && !hears(c, CALLER_HZ), "{mode:?}");
        assert!(hears(a, CALLER_HZ) && !hears(a, AGENT_HZ), "{mode:?}");
        // The supervisor hears both parties in every mode, never itself.
        assert!(
            hears(s, CALLER_HZ) && hears(s, AGENT_HZ) && !hears(s, SUPERVISOR_HZ),
            "{mode:?}"
        );
        assert_eq!(
            hears(c, SUPERVISOR_HZ),
            caller_hears_sup,
            "{mode:?}: caller"
        );
        assert_eq!(hears(a, SUPERVISOR_HZ), agent_hears_sup, "{mode:?}: agent");
    }
}

#[test]
fn eight_party_conference_is_mix_minus() {
    let freqs = [300.0, 500.0, 700.0, 1100.0, 1300.0, 1700.0, 1900.0, 2300.0];
    let mut call = Call::new(&freqs);
    // Quieter tones so eight of them cannot clip.
    for (_, g) in call.parties.iter_mut() {
        *g = ToneGenerator::single(8000, 0.0, 0.0);
    }
    for (k, (_, g)) in call.parties.iter_mut().enumerate() {
        g.set_single(freqs[k], 3000.0);
    }
    let heard = call.run();
    for (k, x) in heard.iter().enumerate() {
        for (j, &f) in freqs.iter().enumerate() {
            let l = level(x, f);
            if j == k {
                assert!(l < 1.0, "party {k} hears itself ({l})");
            } else {
                assert!((l - 3000.0).abs() < 30.0, "party {k} hears {f} Hz at {l}");
            }
        }
    }
}

#[test]
fn leaving_party_is_no_longer_heard_and_slot_is_reused() {
    let mut call = Call::new(&[CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ]);
    let sup = call.parties[2].0;
    call.mixer.remove(sup).expect("remove");
    call.parties.truncate(2);
    let heard = call.run();
    assert!(!hears(&heard[0], SUPERVISOR_HZ));
    assert!(hears(&heard[0], AGENT_HZ));
    assert_eq!(call.mixer.add().expect("reuse"), sup);
}
