//! Fuzz the SIP transaction layer and B2BUA core with *sequences*: the input is cut into
//! steps, each either a message from one of four sources (parsed first; unparsable ones
//! are skipped as the transport would) or a jump of the simulated clock that fires due
//! timers. Nothing may panic; every datagram the cores send must parse; the number of live
//! transactions never passes the configured cap.
//! Run: `cargo fuzz run sip_transactions` from `fuzz/`; seed with the torture corpus.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_sip::{B2bua, B2buaConfig, B2buaOutput, Transport, TxConfig, UasPolicy};
use switchboard_sip_message::{parse_datagram, Limits, NameAddr};

const MAX_TX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let me: SocketAddr = "192.0.2.200:5060".parse().unwrap();
    let mut tx = TxConfig::new(me);
    tx.max_transactions = MAX_TX;
    let mut b2 = B2bua::new(
        B2buaConfig {
            tx,
            contact: NameAddr::parse("<sip:sb@192.0.2.200>").unwrap(),
            policy: UasPolicy::default(),
            relay_failures: true,
            keep_a_when_b_hangs_up: false,
            session_timers: Some(switchboard_sip::session_timer::SessionTimerConfig::default()),
        },
        7,
    );
    let limits = Limits::default();
    let mut now = Instant::now();
    // Steps are separated by 0xFF; a step's first byte picks what it is.
    for step in data.split(|&b| b == 0xFF) {
        let Some((&kind, rest)) = step.split_first() else {
            continue;
        };
        if kind < 0x40 {
            // Advance the clock by up to ~64 s and fire what is due.
            now += Duration::from_millis(u64::from(kind) * 1_000 + rest.len() as u64);
            if b2.poll_timeout().is_some_and(|t| t <= now) {
                b2.handle_timeout(now);
            }
        } else if let Ok(m) = parse_datagram(rest, &limits) {
            let from: SocketAddr = format!("192.0.2.{}:5060", 1 + (kind & 3)).parse().unwrap();
            let transport = if kind & 4 == 0 {
                Transport::Udp
            } else {
                Transport::Tcp
            };
            b2.handle_message(now, from, transport, m);
        }
        while let Some(o) = b2.poll_output() {
            if let B2buaOutput::Transmit { bytes, .. } = o {
                let big = Limits {
                    max_message: usize::MAX,
                    ..Limits::default()
                };
                assert!(parse_datagram(&bytes, &big).is_ok(), "we sent garbage");
            }
        }
        assert!(b2.transactions().len() <= MAX_TX);
    }
});
