//! Agents' own outbound calls (issue 14, item 3): a registered pjsua2 agent dials outside
//! numbers through a carrier trunk that SIPp plays.
//! - `+88299…` (premium rate) is refused by the agent's dial permissions: 403 to the phone,
//!   a `call.refused` event, a metric, and no INVITE reaches the carrier.
//! - `+74951234567` goes out: the carrier challenges the INVITE with 407 and checks the
//!   number and the configured caller ID; it echoes the RTP it gets, so the agent hears its
//!   own 2 kHz tone only if audio crossed both ways. The engine's recording has the tone on
//!   both sides. The CDR has the row (direction `outbound`, the agent, the number).
//! - While the agent is on it, a caller waiting in the agent's queue is not offered to them;
//!   the offer comes only after the outbound call ends.

use switchboard_e2e::audio::{best_tone_share, read_channel};
use switchboard_e2e::carrier::{free_udp_port, SippCarrier};
use switchboard_e2e::outbound_fixture::OutboundFixture;
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{require_peer, scratch_dir, Server};

/// The largest share of energy at `freq` over 400 ms windows of channel `ch` of `wav`.
fn wav_tone_share(wav: &std::path::Path, ch: usize, freq: f64) -> f64 {
    let (x, sr) = read_channel(wav, ch);
    best_tone_share(&x, sr, freq)
}

#[test]
fn an_agent_dials_out_through_the_trunk_and_premium_numbers_are_refused() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let mut fixture = OutboundFixture::start("agent-outbound", "record = true\n");
    let server = &fixture.server;
    let heard = scratch_dir("agent-outbound-phone").join("agent-hears.wav");
    let mut agent = fixture.agent(
        &py,
        SoftphoneOpts {
            tone_hz: 2000,
            record: Some(heard.clone()),
            // The queue call offered afterwards rings without being answered (its audio
            // would go to the same recording file).
            answer: "none",
            ..Default::default()
        },
    );

    // A premium-rate number: refused before anything is sent to the carrier.
    agent.command(&format!("dial sip:+88299123456@{}", server.sip));
    let gone = agent
        .wait_new_event("disconnected", 20)
        .unwrap_or_else(|| panic!("refused call ended; log:\n{}", server.log_text()));
    assert_eq!(gone["code"], 403, "{gone}");
    let refused = server
        .wait_event(10, |e| e.kind == "call.refused")
        .unwrap_or_else(|| panic!("call.refused; events {:#?}", server.events()));
    assert_eq!(refused.data["purpose"], "agent_outbound");
    assert_eq!(refused.data["reason"], "premium_rate");
    assert_eq!(refused.agent, "1001");
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("switchboard_dial_refused_total{reason=\"premium_rate\"} 1"),
        "{metrics}"
    );

    // A Moscow number: out through the trunk, answered after a 407.
    let out = fixture.dial_out(&mut agent);
    assert_eq!(out.data["number"], "+74951234567");
    assert_eq!(out.data["from_agent"], "1001");
    let busy = server
        .wait_event(10, |e| {
            e.kind == "agent.state" && e.agent == "1001" && e.data["busy_kind"] == "outbound"
        })
        .unwrap_or_else(|| panic!("agent busy; events {:#?}", server.events()));
    assert_eq!(busy.data["state"], "busy");

    // A customer queues for sales (1001 is a member): no offer while the agent is busy.
    let mut customer = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            caller: "+74951112233",
            ..Default::default()
        },
    );
    assert!(customer.wait_event("media", 20).is_some());
    customer.command("dtmf 1");
    let join = server
        .wait_event(30, |e| e.kind == "queue.join" && e.queue == "sales")
        .unwrap_or_else(|| panic!("queued; events {:#?}", server.events()));
    // The first announcement: the customer has waited a while, with the agent busy.
    server
        .wait_event(30, |e| e.kind == "queue.announce" && e.call == join.call)
        .unwrap_or_else(|| panic!("announced; events {:#?}", server.events()));

    let end = fixture.hang_up(&mut agent, &out);
    assert_eq!(end.agent, "1001");
    assert!(
        end.data["talk_s"].as_f64().is_some_and(|t| t > 0.0),
        "{end:?}"
    );
    let offer = server
        .wait_event(30, |e| e.kind == "queue.offer" && e.call == join.call)
        .unwrap_or_else(|| panic!("offered after the call; events {:#?}", server.events()));
    assert_eq!(offer.agent, "1001");
    assert!(
        offer.id > end.id,
        "the queue call was offered only after the outbound call ended"
    );
    customer.command("hangup");

    // The carrier saw one call (the permitted one) and its checks passed.
    let (status, traces) = fixture.carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "carrier checks (number, caller ID, Proxy-Authorization): {status:?}\n{traces}"
    );
    assert!(
        !traces.contains("88299"),
        "the refused number never reached the carrier:\n{traces}"
    );

    // Audio both ways: the agent heard its tone come back through the carrier's echo, and
    // the recording has it on the carrier's side and the agent's.
    customer.quit();
    agent.quit();
    let back = wav_tone_share(&heard, 0, 2000.0);
    assert!(back > 0.3, "the agent heard its tone echoed back: {back}");
    let rec = end.data["recording"]
        .as_str()
        .unwrap_or_else(|| panic!("recorded: {end:?}"));
    let (far, near) = (
        wav_tone_share(std::path::Path::new(rec), 0, 2000.0),
        wav_tone_share(std::path::Path::new(rec), 1, 2000.0),
    );
    assert!(far > 0.3 && near > 0.3, "recording sides: {far} {near}");
    eprintln!(
        "2 kHz share: agent heard {back:.3}; recording carrier side {far:.3}, agent side {near:.3}"
    );

    // The CDR row: direction outbound, the agent, the number.
    let cdr = server.export("cdr");
    let mut lines = cdr.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).expect(name);
    let row: Vec<&str> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|r| r[0] == out.call)
        .unwrap_or_else(|| panic!("CDR row for {}:\n{cdr}", out.call));
    assert_eq!(row[col("direction")], "outbound", "{cdr}");
    assert_eq!(row[col("agent")], "1001", "{cdr}");
    assert_eq!(row[col("dnis")], "+74951234567", "{cdr}");
    assert_eq!(row[col("disposition")], "outbound", "{cdr}");

    // The agent report counts it as 1001's outbound call with its talk time.
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let out = std::process::Command::new(switchboard_e2e::switchboard_bin())
        .args(["report", "agents", "--from", &(now_s - 3600).to_string()])
        .args(["--to", &(now_s + 3600).to_string()])
        .args(["--interval", "1d", "--format", "json", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .expect("run switchboard report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    let rows: Vec<&serde_json::Value> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["agent"] == "1001")
        .collect();
    let outbound: u64 = rows
        .iter()
        .filter_map(|r| r["outbound_calls"].as_u64())
        .sum();
    let talk: f64 = rows
        .iter()
        .filter_map(|r| r["outbound_talk_s"].as_f64())
        .sum();
    assert_eq!(outbound, 1, "{report}");
    assert!(talk > 0.0, "{report}");
}

/// A dialplan `callback` (tests/dialplans-callback/callback.ivr): the caller types a
/// number, the engine schedules a callback from the sales queue 4 s later and places it
/// then (agent first, then the number through the trunk, which SIPp plays with a 407
/// challenge). A premium-rate number is refused with a `call.refused` event and no
/// callback.
#[test]
fn a_dialplan_callback_to_another_number_is_placed_at_its_time() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    if !require_peer("sipp") {
        return;
    }
    let port = free_udp_port();
    let server = Server::start(
        "dialplan-callback",
        &format!(
            "[ivr]\ndialplans = \"tests/dialplans-callback\"\n\
             [[trunks]]\nname = \"carrier-b\"\naddress = \"127.0.0.1:{port}\"\n\
             username = \"acct-b\"\npassword = \"pw-b\"\ncaller_id = \"+74951230000\"\n\
             p_asserted_identity = true\nstrip_plus = true\ndial_prefix = \"9\"\n"
        ),
    );
    let mut carrier = SippCarrier::start("carrier_407.xml", port, 1, 150);
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            seconds: 120,
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 20).is_some());

    let ask = |digits: &str| {
        let mut caller = Softphone::start(
            &py,
            server.sip,
            SoftphoneOpts {
                call: Some(format!("sip:700@{}", server.sip)),
                caller: "+79995550101",
                ..Default::default()
            },
        );
        assert!(
            caller.wait_event("media", 20).is_some(),
            "log:\n{}",
            server.log_text()
        );
        caller.command(&format!("dtmf {digits}"));
        assert!(
            caller.wait_event("disconnected", 40).is_some(),
            "the dialplan hung up; log:\n{}",
            server.log_text()
        );
        caller.quit();
    };

    // A premium-rate number: refused, nothing scheduled.
    ask("88299123456#");
    let refused = server
        .wait_event(10, |e| e.kind == "call.refused")
        .unwrap_or_else(|| panic!("call.refused; events {:#?}", server.events()));
    assert_eq!(refused.data["purpose"], "dialplan_callback");
    assert_eq!(refused.data["reason"], "premium_rate");
    assert!(!server
        .events()
        .iter()
        .any(|e| e.kind == "callback.scheduled"));

    // A Moscow number: scheduled 4 s ahead, placed at that time.
    ask("74951234567#");
    let scheduled = server
        .wait_event(10, |e| e.kind == "callback.scheduled")
        .unwrap_or_else(|| panic!("callback.scheduled; events {:#?}", server.events()));
    assert_eq!(scheduled.data["number"], "+74951234567");
    assert_eq!(scheduled.data["by"], "dialplan");
    assert_eq!(scheduled.queue, "sales");
    let at = chrono::DateTime::parse_from_rfc3339(scheduled.data["at"].as_str().expect("at"))
        .expect("RFC 3339")
        .timestamp_millis();
    assert!(at > scheduled.ts_ms, "in the future: {scheduled:?}");
    let placed = server
        .wait_event(40, |e| {
            e.kind == "call.start" && e.data["callback_for"] == scheduled.call.as_str()
        })
        .unwrap_or_else(|| panic!("callback placed; events {:#?}", server.events()));
    assert!(
        placed.ts_ms >= at,
        "placed at {} before its time {at}",
        placed.ts_ms
    );
    server
        .wait_event(40, |e| e.kind == "call.connected" && e.call == placed.call)
        .unwrap_or_else(|| {
            panic!(
                "agent and number connected; log:\n{}\nsipp:\n{}",
                server.log_text(),
                carrier.traces()
            )
        });
    agent.command("hangup");
    let done = server
        .wait_event(20, |e| {
            e.kind == "callback.done" && e.call == scheduled.call
        })
        .unwrap_or_else(|| panic!("callback.done; events {:#?}", server.events()));
    assert_eq!(done.data["outcome"], "connected", "{done:?}");
    let (status, traces) = carrier.wait(30);
    assert!(
        status.is_some_and(|s| s.success()),
        "the carrier got the callback's INVITE (number format, caller ID, 407): {status:?}\n{traces}"
    );
    assert!(!traces.contains("88299"), "{traces}");
    agent.quit();
}
