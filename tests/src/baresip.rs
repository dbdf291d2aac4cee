//! baresip 1.0 as a test peer: its own config directory under a scratch dir, control over
//! its `ctrl_tcp` JSON interface (netstrings both ways), events read as they come, and
//! the `sndfile` module writing what it decoded (what it plays out) to WAV files.
//! The process is killed when the value is dropped.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{scratch_dir, wait_for};

/// How to start one baresip.
pub struct BaresipOpts<'a> {
    /// Name of the scratch directory.
    pub name: &'a str,
    /// The `accounts` line, e.g. `<sip:1004@127.0.0.1:5060>;auth_pass=x;answermode=auto`.
    pub account: String,
    /// Frequency of the tone it sends, Hz (a 60 s 8 kHz WAV played by `aufile`, longer
    /// than any call; aufile hangs up at the end of its file).
    pub tone_hz: u32,
    /// Its RTP port range, `min-max` (keep it apart from the server's).
    pub rtp_ports: &'a str,
}

/// A running baresip.
pub struct Baresip {
    child: Child,
    ctrl: TcpStream,
    events: mpsc::Receiver<serde_json::Value>,
    /// Every event and response seen so far.
    pub seen: Vec<serde_json::Value>,
    /// Its config directory.
    pub dir: PathBuf,
    /// Where `sndfile` writes `dump-<time>-enc.wav` / `dump-<time>-dec.wav` per call.
    pub snd_dir: PathBuf,
    /// Its stdout and stderr (baresip logs "dropping" lines there).
    pub log: PathBuf,
    token: u32,
}

impl Baresip {
    /// Writes the config and starts baresip; waits (up to 15 s) until its control port
    /// accepts a connection.
    pub fn start(o: BaresipOpts<'_>) -> Baresip {
        let dir = scratch_dir(o.name);
        let snd_dir = dir.join("snd");
        std::fs::create_dir_all(&snd_dir).expect("snd dir");
        let ctrl_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let tone = dir.join("tone.wav");
        write_tone(&tone, o.tone_hz, 60);
        // aubridge is a null player here (nothing reads its other end); sndfile records
        // the decoded stream on its way to the player.
        std::fs::write(
            dir.join("config"),
            format!(
                "poll_method epoll\nnet_interface 127.0.0.1\nsip_listen 127.0.0.1:0\n\
                 audio_player aubridge,nowhere\naudio_alert aubridge,nowhere\n\
                 audio_source aufile,{tone}\n\
                 rtp_ports {rtp}\n\
                 module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\n\
                 module aubridge.so\nmodule sndfile.so\nsnd_path {snd}\n\
                 module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
                 ctrl_tcp_listen 127.0.0.1:{ctrl_port}\n",
                tone = tone.display(),
                rtp = o.rtp_ports,
                snd = snd_dir.display(),
            ),
        )
        .expect("baresip config");
        std::fs::write(dir.join("accounts"), format!("{}\n", o.account)).expect("accounts");
        let log = dir.join("baresip.log");
        let out = std::fs::File::create(&log).expect("log");
        let err = out.try_clone().expect("log");
        // baresip itself is the child, so dropping the value really stops it.
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("start baresip");
        let addr: SocketAddr = ([127, 0, 0, 1], ctrl_port).into();
        let Some(ctrl) = wait_for(15, || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        }) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "baresip control port never opened; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        let reader = ctrl.try_clone().expect("ctrl clone");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            while let Some(msg) = read_netstring(&mut r) {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&msg) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Baresip {
            child,
            ctrl,
            events: rx,
            seen: Vec::new(),
            dir,
            snd_dir,
            log,
            token: 0,
        }
    }

    /// Sends a command (`dial`, `hangup`, ...) over ctrl_tcp.
    pub fn command(&mut self, command: &str, params: &str) {
        self.token += 1;
        let msg = serde_json::json!({
            "command": command,
            "params": params,
            "token": self.token.to_string(),
        })
        .to_string();
        let _ = write!(self.ctrl, "{}:{},", msg.len(), msg);
        let _ = self.ctrl.flush();
    }

    /// Waits up to `secs` for an event of `type` (e.g. `CALL_ESTABLISHED`) not seen by an
    /// earlier call of this method; returns it.
    pub fn wait_event(&mut self, kind: &str, secs: u64) -> Option<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["type"] == kind {
                        return Some(v);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The WAV files `sndfile` wrote for decoded (received) audio, oldest first.
    pub fn decoded_files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.snd_dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| is_decoded(p));
        v.sort();
        v
    }

    /// Seconds baresip has played out so far into the decoded file of the call it is in,
    /// when that call's file is the `(n + 1)`th (`n`: how many there were before it);
    /// `None` until the file exists. This is baresip's own audio clock: on a busy machine
    /// its audio thread falls behind the wall clock, so talk time measured by sleeping
    /// can leave less audio than intended.
    pub fn played_secs(&self, n: usize) -> Option<f64> {
        seconds_written(self.decoded_files().get(n)?)
    }
}

/// `secs` seconds of a sine at `hz`, 8 kHz mono 16-bit, peak about -6 dBFS.
fn write_tone(path: &Path, hz: u32, secs: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).expect("tone file");
    for i in 0..8000 * secs {
        let t = f64::from(i) / 8000.0;
        let v = 16000.0 * (2.0 * std::f64::consts::PI * f64::from(hz) * t).sin();
        w.write_sample(v as i16).expect("tone sample");
    }
    w.finalize().expect("tone file");
}

/// Seconds of audio in a WAV file being written: its data so far over the byte rate of its
/// `fmt ` chunk (the header's sizes are only filled in when the file is closed).
fn seconds_written(path: &Path) -> Option<f64> {
    let bytes = std::fs::read(path).ok()?;
    let fmt = bytes.windows(4).position(|w| w == b"fmt ")?;
    let byte_rate = u32::from_le_bytes(bytes.get(fmt + 16..fmt + 20)?.try_into().ok()?);
    let data = bytes.windows(4).position(|w| w == b"data")? + 8;
    (byte_rate > 0).then(|| bytes.len().saturating_sub(data) as f64 / f64::from(byte_rate))
}

fn is_decoded(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("-dec.wav"))
}

/// One netstring (`<len>:<bytes>,`), or None at end of stream or on a framing error.
fn read_netstring(r: &mut impl Read) -> Option<Vec<u8>> {
    let mut len = 0usize;
    let mut b = [0u8; 1];
    loop {
        r.read_exact(&mut b).ok()?;
        match b[0] {
            b'0'..=b'9' => len = len.checked_mul(10)?.checked_add(usize::from(b[0] - b'0'))?,
            b':' => break,
            _ => return None,
        }
        if len > 1 << 20 {
            return None;
        }
    }
    let mut msg = vec![0u8; len];
    r.read_exact(&mut msg).ok()?;
    r.read_exact(&mut b).ok()?;
    (b[0] == b',').then_some(msg)
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
