//! A placed call whose legs speak different codecs (decision 0039 §6, the bridge step the
//! call task and placed calls share: `bridge_crossing.rs`): a registered pjsua2 agent that
//! offers only PCMA, or only G.722, dials an outside number through a carrier trunk that
//! SIPp plays; the carrier answers PCMU and echoes the RTP it gets. The agent hears its
//! own 2 kHz tone only if audio was transcoded both ways (agent codec -> PCMU -> agent
//! codec), and the recording has the tone on the carrier's side and the agent's.

use switchboard_e2e::audio::{best_tone_share, read_channel};
use switchboard_e2e::outbound_fixture::OutboundFixture;
use switchboard_e2e::peers::{python_with_pjsua2, SoftphoneOpts};
use switchboard_e2e::{require_peer, scratch_dir};

/// The largest share of energy at `freq` over 400 ms windows of channel `ch` of `wav`.
fn wav_tone_share(wav: &std::path::Path, ch: usize, freq: f64) -> f64 {
    let (x, sr) = read_channel(wav, ch);
    best_tone_share(&x, sr, freq)
}

/// The agent, offering only `codec`, dials out; its tone comes back through the carrier's
/// PCMU echo; the recording has it on both sides.
fn agent_call_transcoded_both_ways(codec: &str) {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let name = format!("placed-transcoding-{}", codec.to_lowercase());
    let mut fixture = OutboundFixture::start(&name, "record = true\n");
    let heard = scratch_dir(&format!("{name}-phone")).join("agent-hears.wav");
    let mut agent = fixture.agent(
        &py,
        SoftphoneOpts {
            tone_hz: 2000,
            record: Some(heard.clone()),
            codec,
            ..Default::default()
        },
    );
    let out = fixture.dial_out(&mut agent);
    let server = &fixture.server;
    // The agent's leg speaks its codec, the carrier's PCMU: the bridge transcodes.
    let answer = server
        .wait_event(10, |e| e.kind == "call.answer" && e.call == out.call)
        .unwrap_or_else(|| panic!("call.answer; events {:#?}", server.events()));
    let agent_codec = answer.data["codec"].as_str().unwrap_or_default();
    assert!(agent_codec.eq_ignore_ascii_case(codec), "{answer:?}");
    assert!(agent.wait_event("media", 20).is_some(), "agent's media up");
    // Let the tone go round a few seconds: the carrier echoes it back (no event tells
    // that audio flowed; the assertions below are on the audio itself).
    std::thread::sleep(std::time::Duration::from_secs(4));
    let end = fixture.hang_up(&mut agent, &out);
    let (status, traces) = fixture.carrier.wait(30);
    assert!(status.is_some_and(|s| s.success()), "carrier: {traces}");
    agent.quit();

    let back = wav_tone_share(&heard, 0, 2000.0);
    let rec = end.data["recording"]
        .as_str()
        .unwrap_or_else(|| panic!("recorded: {end:?}"));
    let rec = std::path::Path::new(rec);
    let (far, near) = (
        wav_tone_share(rec, 0, 2000.0),
        wav_tone_share(rec, 1, 2000.0),
    );
    eprintln!(
        "{codec} agent, PCMU carrier: 2 kHz share agent heard {back:.3}; recording carrier side {far:.3}, agent side {near:.3}"
    );
    assert!(
        back > 0.3,
        "{codec}: the agent heard its tone echoed back: {back}"
    );
    assert!(
        far > 0.3 && near > 0.3,
        "{codec}: recording sides {far} {near}"
    );
}

#[test]
fn a_pcma_agent_calls_a_pcmu_carrier_and_hears_its_tone_both_ways() {
    agent_call_transcoded_both_ways("PCMA");
}

#[test]
fn a_g722_agent_calls_a_pcmu_carrier_and_hears_its_tone_both_ways() {
    agent_call_transcoded_both_ways("G722");
}
