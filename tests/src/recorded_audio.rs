//! What a call recording holds, read from the file itself: where each side's received audio
//! starts and ends, and how much of it there is.
//!
//! The server places each received frame on the recording's timeline by its RTP timestamp
//! and pads what was not received with digital silence (exact zeros). So the recording's
//! length is set by what the phones sent and the server received — on a starved machine a
//! phone's sending clock, and when its first packet arrives, differ from the wall clock
//! behind `talk_s` by hundreds of milliseconds — and a check of the recording is exact when
//! it compares the file with the audio in it, not with the wall clock.

/// Runs of exact zeros at least this long are padding (a frame not received); shorter ones
/// are the zero crossings of the audio itself (G.711 decodes small values to 0).
const PADDING_RUN: usize = 40;

/// One channel's received audio in a recording (in samples).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelAudio {
    /// The first sample that is not padding.
    pub first: usize,
    /// One past the last sample that is not padding.
    pub end: usize,
    /// Samples between `first` and `end` that are not padding.
    pub samples: usize,
}

impl ChannelAudio {
    /// The audio of `channel` (samples as read by `audio::read_channel`); `None` when it
    /// is all padding.
    pub fn of(channel: &[f64]) -> Option<ChannelAudio> {
        let first = channel.iter().position(|s| *s != 0.0)?;
        let end = channel.iter().rposition(|s| *s != 0.0)? + 1;
        let mut padding = 0;
        let mut run = 0;
        for s in &channel[first..end] {
            if *s == 0.0 {
                run += 1;
            } else {
                if run >= PADDING_RUN {
                    padding += run;
                }
                run = 0;
            }
        }
        let samples = (end - first) - padding;
        Some(ChannelAudio {
            first,
            end,
            samples,
        })
    }

    /// Samples between its first and its end that are padding: frames not received (or
    /// lost on the way to the file) in the middle of the stream.
    pub fn holes(&self) -> usize {
        (self.end - self.first) - self.samples
    }
}

/// Checks a bridged call's stereo recording (caller left, agent right, at `sr`) against
/// what the server received, 20 ms packets, as its `call.end` event (`call_end`: the
/// event's data) reports it: the file ends with the last frame received (no padding after
/// it), and the agent's side holds every packet the server received from the agent after
/// the parties were connected — all of the agent leg's `packets` but those of the first
/// `answer_to_audio_ms` (the whisper), give or take two — and no more than it received.
/// This replaces a comparison with `talk_s` (wall clock), which a starved phone's sending
/// clock missed by over 0.3 s. `Ok` carries the figures (also printed).
pub fn matches_received(
    left: &[f64],
    right: &[f64],
    sr: u32,
    call_end: &serde_json::Value,
) -> Result<String, String> {
    let agent_packets = call_end["quality"]
        .as_array()
        .and_then(|q| q.iter().find(|l| l["leg"] == "agent"))
        .and_then(|l| l["packets"].as_u64())
        .unwrap_or(0);
    let before_connect_ms = call_end["answer_to_audio_ms"].as_f64().unwrap_or(0.0);
    let talk = call_end["talk_s"].as_f64().unwrap_or(0.0);
    let got = matches_received_packets(left, right, sr, agent_packets, before_connect_ms);
    eprintln!(
        "figures: recording {:.3} s (talk {talk:.3} s): {got:?}",
        left.len() as f64 / f64::from(sr)
    );
    got
}

fn matches_received_packets(
    left: &[f64],
    right: &[f64],
    sr: u32,
    agent_packets: u64,
    before_connect_ms: f64,
) -> Result<String, String> {
    let frame = sr as usize / 50;
    let (Some(l), Some(r)) = (ChannelAudio::of(left), ChannelAudio::of(right)) else {
        return Err("a side of the recording holds no audio".into());
    };
    let figures = format!(
        "{} samples; caller {l:?}, agent {r:?}; {agent_packets} packets from the agent, \
         {before_connect_ms:.0} ms of them before the connect",
        left.len()
    );
    if left.len() - l.end.max(r.end) >= frame {
        return Err(format!("padding after the last frame received: {figures}"));
    }
    let recorded = r.samples.div_ceil(frame) as u64;
    let before = (before_connect_ms / 20.0).ceil() as u64;
    if recorded > agent_packets || recorded + before + 2 < agent_packets {
        return Err(format!(
            "{recorded} frames of the agent recorded: {figures}"
        ));
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_s_extent_and_holes_are_read_from_its_padding() {
        let mut ch = vec![0.0; 100];
        ch.extend(vec![5.0; 80]);
        ch.push(0.0);
        ch.extend(vec![5.0; 79]);
        ch.extend(vec![0.0; 160]);
        ch.extend(vec![-3.0; 320]);
        ch.extend(vec![0.0; 40]);
        let a = ChannelAudio::of(&ch).expect("audio");
        assert_eq!(
            a,
            ChannelAudio {
                first: 100,
                end: 740,
                samples: 480,
            }
        );
        assert_eq!(a.holes(), 160);
        assert_eq!(ChannelAudio::of(&[0.0; 50]), None);
    }

    #[test]
    fn a_recording_matches_what_was_received_or_says_why_not() {
        // 100 frames of the agent after a 1 s whisper (50 frames before the connect),
        // the caller's side a little shorter, at 8 kHz.
        let (left, right) = (vec![7.0; 98 * 160], vec![9.0; 100 * 160]);
        let mut padded = left.clone();
        padded.resize(100 * 160, 0.0);
        assert!(matches_received_packets(&padded, &right, 8000, 150, 1000.0).is_ok());
        // Padding after the last frame received.
        let mut long = padded.clone();
        long.resize(110 * 160, 0.0);
        let mut long_right = right.clone();
        long_right.resize(110 * 160, 0.0);
        assert!(matches_received_packets(&long, &long_right, 8000, 150, 1000.0).is_err());
        // Frames received but not recorded, or recorded but never received.
        assert!(matches_received_packets(&padded, &right, 8000, 160, 1000.0).is_err());
        assert!(matches_received_packets(&padded, &right, 8000, 90, 0.0).is_err());
    }
}
