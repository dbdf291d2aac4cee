//! The product's main path against the real binary with real softphones: a pjsua2 caller
//! dials the trunk number 100, presses 1, waits in `sales` and hears its position; agent
//! 1001 (pjsua2, auto-answer) logs in and is offered the call; tones pass both ways; the
//! caller hangs up. Audio is decoded and checked on both phones and in the recording.

use std::time::Duration;

use switchboard_e2e::audio::{best_match, read_channel, rms, tone_share};
use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::prompt_pieces::{heard_in_order, match_pieces};
use switchboard_e2e::recorded_audio::matches_received;
use switchboard_e2e::{repo_root, scratch_dir, Server};

#[test]
fn caller_hears_position_agent_answers_tones_cross_and_the_call_is_recorded() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // A CRM that receives the screen-pop webhook.
    let crm = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let crm_url = format!("http://{}/screen-pop", crm.local_addr().unwrap());
    let (pop_tx, pop_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut c, _)) = crm.accept() {
            c.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut buf = vec![0u8; 65536];
            let mut got = 0;
            // Read until the JSON body is complete (Content-Length framing).
            loop {
                match c.read(&mut buf[got..]) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got += n,
                }
                let text = String::from_utf8_lossy(&buf[..got]).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        let _ =
                            c.write_all(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n");
                        let _ = pop_tx.send(body.to_string());
                        break;
                    }
                }
            }
        }
    });
    let server = Server::start(
        "call-basic",
        &format!("[screen_pop]\nurl = \"{crm_url}\"\n"),
    );
    let dir = scratch_dir("call-basic-phones");
    let caller_wav = dir.join("caller.wav");
    let agent_wav = dir.join("agent.wav");

    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            record: Some(caller_wav.clone()),
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("confirmed", 20).is_some(),
        "call answered; log:\n{}",
        server.log_text()
    );
    assert!(caller.wait_event("media", 10).is_some());
    // Type-ahead: the menu takes the key even while the greeting plays.
    caller.command("dtmf 1");
    let announce = server.wait_event(30, |e| e.kind == "queue.announce");
    let announce =
        announce.unwrap_or_else(|| panic!("no announcement; events: {:#?}", server.events()));
    assert_eq!(announce.queue, "sales");
    assert_eq!(announce.data["position"], 1);
    let call = announce.call.clone();
    // Let the announcement play out before the agent appears.
    std::thread::sleep(Duration::from_secs(4));

    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            record: Some(agent_wav.clone()),
            ..Default::default()
        },
    );
    let incoming = agent
        .wait_event("incoming", 20)
        .expect("agent 1001 is offered the call");
    assert!(agent.wait_event("confirmed", 10).is_some());
    server
        .wait_event(10, |e| e.kind == "call.bridge" && e.call == call)
        .expect("bridged");
    // Talk for a while: the tones cross the bridge.
    std::thread::sleep(Duration::from_secs(3));
    caller.command("hangup");
    assert!(caller.wait_event("disconnected", 10).is_some());
    assert!(
        agent.wait_event("disconnected", 10).is_some(),
        "agent gets BYE when the caller hangs up"
    );
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call.end logged");
    caller.quit();
    agent.quit();

    // The event log tells the call's story in order, without gaps.
    let evs: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| e.call == call)
        .collect();
    let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.call_seq, i as i64 + 1, "gap-free sequence: {kinds:?}");
    }
    let pos = |k: &str| {
        kinds
            .iter()
            .position(|x| *x == k)
            .unwrap_or_else(|| panic!("{k} missing in {kinds:?}"))
    };
    assert!(pos("call.start") < pos("dtmf"));
    assert!(pos("dtmf") < pos("queue.join"));
    assert!(pos("queue.join") <= pos("queue.announce"));
    assert!(pos("queue.announce") < pos("call.bridge"));
    assert!(pos("call.bridge") < pos("call.end"));
    assert_eq!(end.data["disposition"], "answered");
    assert_eq!(end.agent, "1001");

    // The caller heard "You are number ..." (the prompt itself, found by correlation)...
    let (heard, sr) = read_channel(&caller_wav, 0);
    let (prompt, psr) = read_channel(&repo_root().join("prompts/en/queue-you-are-number.wav"), 0);
    assert_eq!(sr, psr);
    let m = best_match(&heard, &prompt, sr, sr as usize / 2);
    assert!(
        m > 0.8,
        "announcement found in the caller's audio (correlation {m:.2})"
    );
    // ...and at the end, the agent's 2 kHz tone.
    let tail = &heard
        [heard.len().saturating_sub(2 * sr as usize)..heard.len().saturating_sub(sr as usize / 4)];
    assert!(
        tone_share(tail, sr, 2000.0) > 0.3,
        "caller hears the agent's tone"
    );
    // The agent heard the caller's 1 kHz tone.
    let (ag, asr) = read_channel(&agent_wav, 0);
    let tail =
        &ag[ag.len().saturating_sub(2 * asr as usize)..ag.len().saturating_sub(asr as usize / 4)];
    assert!(
        tone_share(tail, asr, 1000.0) > 0.3,
        "agent hears the caller's tone"
    );

    // The recording: stereo, caller left (1 kHz), agent right (2 kHz), as long as the talk.
    let rec = std::path::PathBuf::from(end.data["recording"].as_str().expect("recording path"));
    assert!(rec.starts_with(server.data_dir.join("recordings")));
    // Callers' voices are readable by the server's user only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&rec), 0o600, "recording mode");
    assert_eq!(mode(&server.data_dir), 0o700, "data dir mode");
    let (left, rsr) = read_channel(&rec, 0);
    let (right, _) = read_channel(&rec, 1);
    // As long as what was received, not the wall-clock talk (0.05 s apart under stress-ng,
    // half this test's old margin): see recorded_audio::matches_received.
    let talk = end.data["talk_s"].as_f64().unwrap();
    let secs = left.len() as f64 / f64::from(rsr);
    let got = matches_received(&left, &right, rsr, &end.data);
    assert!(got.is_ok(), "recording vs what was received: {got:?}");
    let mid = |x: &[f64]| x[x.len() / 4..x.len() * 3 / 4].to_vec();
    assert!(
        tone_share(&mid(&left), rsr, 1000.0) > 0.3,
        "left = caller's 1 kHz"
    );
    assert!(
        tone_share(&mid(&right), rsr, 2000.0) > 0.3,
        "right = agent's 2 kHz"
    );
    assert!(
        tone_share(&mid(&left), rsr, 2000.0) < 0.05 && tone_share(&mid(&right), rsr, 1000.0) < 0.05
    );
    assert!(rms(&mid(&left)) > 1000.0);

    // The agent heard the whisper ("Call for ... sales") before the caller was connected.
    let (whisper, wsr) = read_channel(&repo_root().join("prompts/en/whisper-call-for.wav"), 0);
    assert_eq!(wsr, asr);
    // Piece by piece (150 ms each, over its first 0.75 s), in order: on a starved machine
    // the agent may hear it with a gap inside (the server's call task not scheduled for a
    // while: the player keeps the audio and moves its clock on) or a frame missing (the
    // phone's jitter buffer), and one correlation over the whole prompt then fell to 0.73.
    let whole = best_match(&ag, &whisper, asr, asr as usize / 2);
    let pieces = match_pieces(
        &ag,
        &whisper,
        asr,
        asr as usize * 3 / 4,
        asr as usize * 15 / 100,
    );
    eprintln!(
        "figures: whisper correlation {whole:.3} (its first 0.5 s whole), pieces {:?}; \
         recording {secs:.3}s vs talk {talk:.3}s",
        pieces
            .iter()
            .map(|p| (format!("{:.2}", p.correlation), p.at))
            .collect::<Vec<_>>()
    );
    assert!(
        heard_in_order(&pieces, 0.8),
        "whisper found in the agent's audio, in order: {pieces:?} (whole {whole:.2})"
    );
    assert!(pos("call.bridge") < pos("call.connected"));

    // The CRM got the screen pop with the call's data.
    let pop = pop_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("screen-pop webhook POSTed");
    let pop: serde_json::Value = serde_json::from_str(&pop).expect("JSON body");
    assert_eq!(pop["queue"], "sales");
    assert_eq!(pop["agent"], "1001");
    assert_eq!(pop["caller"], "+79995550101");
    assert_eq!(pop["data"]["topic"], "sales", "IVR screen-pop data: {pop}");
    assert!(server
        .events()
        .iter()
        .any(|e| e.kind == "screenpop.sent" && e.call == call));

    // Reports derived from the event log: the CDR row and the Asterisk queue_log lines.
    let export = |what: &str| {
        let out = std::process::Command::new(switchboard_e2e::switchboard_bin())
            .args(["export", what, "--data-dir"])
            .arg(&server.data_dir)
            .output()
            .expect("switchboard export");
        assert!(
            out.status.success(),
            "export {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let cdr = export("cdr");
    let header: Vec<&str> = cdr.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = cdr
        .lines()
        .find(|l| l.starts_with(&call))
        .expect("CDR row")
        .split(',')
        .collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(
        col("caller"),
        "+79995550101",
        "a phone number stays as it is (only would-be formulas get a leading ')"
    );
    assert_eq!(col("dnis"), "100");
    assert_eq!(
        (col("queue"), col("agent"), col("disposition")),
        ("sales", "1001", "answered")
    );
    assert_eq!(col("hangup_by"), "caller");
    assert_eq!(col("recording"), rec.to_str().unwrap());
    let qlog = export("queue-log");
    let events: Vec<&str> = qlog
        .lines()
        .filter(|l| l.split('|').nth(1) == Some(call.as_str()))
        .map(|l| l.split('|').nth(4).unwrap_or(""))
        .collect();
    assert_eq!(
        events,
        ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"],
        "{qlog}"
    );
    assert!(export("check").starts_with("ok"));

    // Prometheus counters saw the call.
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200);
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!("{name} "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    assert_eq!(metric("switchboard_calls_total"), 1.0);
    assert_eq!(metric("switchboard_calls_answered_total"), 1.0);
    assert_eq!(metric("switchboard_calls_active"), 0.0);
    assert!(metric("switchboard_rtp_packets_relayed_total") > 100.0);
    assert_eq!(metric("switchboard_recordings_total"), 1.0);
    assert_eq!(metric("switchboard_queue_waiting{queue=\"sales\"}"), 0.0);
    eprintln!(
        "figures: agent answer -> first audio across the bridge {:.0} ms (whisper included)",
        end.data["answer_to_audio_ms"].as_f64().unwrap_or(-1.0)
    );

    // The wallboard API: the sales queue's counters and agent 1001's one state.
    let (status, queues) = server.http_get("/api/v1/queues");
    assert_eq!(status, 200);
    let queues: serde_json::Value = serde_json::from_str(&queues).unwrap();
    let sales = queues
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "sales")
        .expect("sales");
    assert_eq!(
        (
            sales["joined"].as_u64(),
            sales["answered"].as_u64(),
            sales["waiting"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let (_, agents) = server.http_get("/api/v1/agents");
    let agents: serde_json::Value = serde_json::from_str(&agents).unwrap();
    let a1001 = agents
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent"] == "1001")
        .expect("1001");
    assert!(
        a1001["state"].as_str().is_some_and(|s| !s.is_empty()),
        "{a1001}"
    );
    let (status, body) = server.http_get("/api/v1/nope");
    assert_eq!(status, 404);
    assert!(body.contains("\"error\""), "JSON error body: {body}");

    // No phone number or credential reaches the log, even at debug level.
    let log = server.log_text();
    assert!(!log.contains("79995550101"), "caller number in the log");
    assert!(!log.contains("secret-1001") && !log.to_ascii_lowercase().contains("authorization:"));

    // The agent's INVITE carried the queue and the caller for the screen pop.
    assert_eq!(
        incoming["headers"]["X-Switchboard-Queue"], "sales",
        "{incoming}"
    );
    assert_eq!(
        incoming["headers"]["X-Switchboard-Caller"], "+79995550101",
        "{incoming}"
    );
}

#[test]
fn callback_keeps_the_place_and_calls_the_customer_back_through_the_trunk() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // The customer's phone doubles as the carrier: callbacks go to its SIP port.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server::start(
        "callback",
        &format!("[sip]\noutbound_trunk = \"127.0.0.1:{port}\"\n"),
    );
    let dir = scratch_dir("callback-phones");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            local_port: port,
            record: Some(dir.join("customer.wav")),
            ..Default::default()
        },
    );
    assert!(
        caller.wait_event("media", 20).is_some(),
        "log:\n{}",
        server.log_text()
    );
    caller.command("dtmf 1");
    let announce = server
        .wait_event(30, |e| e.kind == "queue.announce")
        .unwrap_or_else(|| panic!("queued; events {:#?}", server.events()));
    let original = announce.call.clone();
    // The caller takes the callback offer (key 5 in demo.ivr) and is sent off politely.
    caller.command("dtmf 5");
    assert!(server
        .wait_event(10, |e| e.kind == "queue.callback_requested"
            && e.call == original)
        .is_some());
    assert!(
        caller.wait_event("disconnected", 20).is_some(),
        "caller hung up after the confirmation"
    );
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == original)
        .expect("original call ended");
    assert_eq!(end.data["disposition"], "callback");

    // An agent becomes free: the ACD places the callback (agent first, then the customer).
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            ..Default::default()
        },
    );
    let cb = server
        .wait_event(40, |e| {
            e.kind == "call.start" && e.data["callback_for"] == original.as_str()
        })
        .unwrap_or_else(|| panic!("callback placed; events {:#?}", server.events()));
    assert!(
        agent.wait_event("incoming", 20).is_some(),
        "agent rung for the callback"
    );
    let _ = server
        .wait_event(30, |e| e.kind == "call.connected" && e.call == cb.call)
        .unwrap_or_else(|| panic!("callback connected; log:\n{}", server.log_text()));
    std::thread::sleep(Duration::from_secs(2));
    caller.command("hangup");
    let cb_end = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == cb.call)
        .expect("callback call ended");
    caller.quit();
    agent.quit();
    assert_eq!(cb_end.data["disposition"], "callback");
    assert_eq!(cb_end.agent, "1001");
    // The customer heard the agent on the callback.
    let (heard, sr) = read_channel(&dir.join("customer.wav"), 0);
    let tail = &heard[heard.len().saturating_sub(sr as usize * 3 / 2)
        ..heard.len().saturating_sub(sr as usize / 4)];
    assert!(
        tone_share(tail, sr, 2000.0) > 0.3,
        "customer hears the agent on the callback"
    );
    // Every call in the log, including the callback, has a complete event sequence.
    let out = std::process::Command::new(switchboard_e2e::switchboard_bin())
        .args(["export", "check", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_dialplans_max_wait_takes_the_caller_out_of_the_queue() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("max-wait", "[ivr]\ndialplans = \"tests/dialplans-call\"\n");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:200@{}", server.sip)),
            ..Default::default()
        },
    );
    let join = server
        .wait_event(20, |e| e.kind == "queue.join")
        .expect("queued");
    let exit = server
        .wait_event(15, |e| e.kind == "queue.exit" && e.call == join.call)
        .unwrap_or_else(|| panic!("max wait exit; events {:#?}", server.events()));
    let waited = (
        exit.id,
        exit.data["reason"].as_str().unwrap_or("").to_string(),
    );
    assert_eq!(waited.1, "max_wait", "{waited:?}");
    // The flow went on to `too_long`: goodbye, then the call is hung up by us.
    assert!(caller.wait_event("disconnected", 15).is_some());
    let end = server
        .wait_event(10, |e| e.kind == "call.end" && e.call == join.call)
        .expect("ended");
    assert_eq!(end.data["end_reason"], "ivr_hangup");
    caller.quit();
}

#[test]
fn dialplans_reload_on_change_broken_versions_are_refused_and_live_calls_keep_theirs() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let dir = scratch_dir("hot-reload-dialplans");
    let file = dir.join("flow.ivr");
    // Version 1: queue with a 10 s max wait, long enough to outlive the reloads below.
    let v1 = std::fs::read_to_string(repo_root().join("tests/dialplans-call/max-wait.ivr"))
        .unwrap()
        .replace("max_wait 3s", "max_wait 10s");
    assert!(v1.contains("max_wait 10s"));
    std::fs::write(&file, &v1).unwrap();
    let server = Server::start(
        "hot-reload",
        &format!("[ivr]\ndialplans = \"{}\"\n", dir.display()),
    );
    let call_200 = || {
        Softphone::start(
            &py,
            server.sip,
            SoftphoneOpts {
                call: Some(format!("sip:200@{}", server.sip)),
                ..Default::default()
            },
        )
    };
    // A call on version 1 waits in the queue (max wait 3 s, then `too_long`).
    let mut on_v1 = call_200();
    let join = server
        .wait_event(20, |e| e.kind == "queue.join")
        .expect("v1 queues the call");

    // A broken edit is refused with a file:line:col diagnostic; version 1 stays.
    std::fs::write(
        &file,
        v1.replace("play \"goodbye\"", "play \"goodbye\"\n    goto nowhere"),
    )
    .unwrap();
    let rejected = server
        .wait_event(15, |e| e.kind == "dialplan.rejected")
        .expect("broken version refused");
    let diag = rejected.data["diagnostics"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        diag.contains("flow.ivr:"),
        "diagnostic names the file: {diag}"
    );

    // A valid edit becomes version 2: calls to 200 now just hear goodbye.
    std::fs::write(
        &file,
        "language en\nfallback queue operator\nentry to \"200\" goto main\nblock main {\n    play \"goodbye\"\n    hangup\n}\n",
    )
    .unwrap();
    let reloaded = server
        .wait_event(15, |e| e.kind == "dialplan.reloaded")
        .expect("v2 loaded");
    assert_eq!(reloaded.data["version"], 2);
    let mut on_v2 = call_200();
    assert!(
        on_v2.wait_event("disconnected", 20).is_some(),
        "v2 hangs up after goodbye"
    );
    let v2_call = server
        .wait_event(10, |e| e.kind == "call.end" && e.call != join.call)
        .expect("v2 call ended");
    assert_eq!(v2_call.data["disposition"], "ivr");

    // The call that started on version 1 still follows version 1 (its `too_long` block).
    let exit = server
        .wait_event(15, |e| e.kind == "queue.exit" && e.call == join.call)
        .expect("v1 call left the queue by its max wait");
    assert!(
        exit.id > reloaded.id,
        "it did so after version 2 was installed"
    );
    assert!(on_v1.wait_event("disconnected", 15).is_some());
    on_v1.quit();
    on_v2.quit();
}

#[test]
fn a_caller_who_hangs_up_and_redials_within_a_minute_gets_the_old_place_back() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("abandoned-resume", "");
    let dial = |number: &'static str| {
        let mut p = Softphone::start(
            &py,
            server.sip,
            SoftphoneOpts {
                call: Some(format!("sip:100@{}", server.sip)),
                caller: number,
                ..Default::default()
            },
        );
        assert!(p.wait_event("media", 20).is_some());
        p.command("dtmf 1");
        p
    };
    // Nobody staffs sales: A joins first, B second.
    let mut a = dial("+79995550101");
    let a_join = server
        .wait_event(30, |e| e.kind == "queue.join")
        .expect("A queued");
    assert_eq!(a_join.data["position"], 1);
    let b = dial("+79995550202");
    let b_join = server
        .wait_event(30, |e| e.kind == "queue.join" && e.call != a_join.call)
        .expect("B queued");
    assert_eq!(b_join.data["position"], 2);
    // A gives up...
    a.command("hangup");
    let gone = server
        .wait_event(10, |e| e.kind == "queue.waited" && e.call == a_join.call)
        .expect("A abandoned");
    assert_eq!(gone.data["outcome"], "abandoned");
    a.quit();
    // ...and calls again at once: back in first place, ahead of B.
    let again = dial("+79995550101");
    let back = server
        .wait_event(30, |e| {
            e.kind == "queue.join" && e.call != a_join.call && e.call != b_join.call
        })
        .expect("A queued again");
    assert_eq!(back.data["resumed"], true, "{:?}", back.data);
    assert_eq!(back.data["position"], 1, "{:?}", back.data);
    again.quit();
    b.quit();
}

#[test]
fn a_supervisor_whispers_to_the_agent_without_the_caller_hearing() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("supervisor-whisper", "");
    let dir = scratch_dir("supervisor-phones");
    let wav = |n: &str| dir.join(n);
    let mut agent = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1001", "secret-1001")),
            tone_hz: 2000,
            record: Some(wav("agent.wav")),
            ..Default::default()
        },
    );
    assert!(agent.wait_event("registered", 15).is_some());
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:100@{}", server.sip)),
            tone_hz: 1000,
            record: Some(wav("caller.wav")),
            ..Default::default()
        },
    );
    assert!(caller.wait_event("media", 20).is_some());
    caller.command("dtmf 1");
    let call = server
        .wait_event(30, |e| e.kind == "call.connected" && e.agent == "1001")
        .unwrap_or_else(|| panic!("connected; events {:#?}", server.events()))
        .call;
    // Supervisor 1005 (supervisor = true in the demo config) whispers to 1001.
    let mut sup = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            user: Some(("1005", "secret-1005")),
            tone_hz: 3000,
            record: Some(wav("sup.wav")),
            ..Default::default()
        },
    );
    assert!(sup.wait_event("registered", 15).is_some());
    sup.command(&format!("dial sip:whisper-1001@{}", server.sip));
    let join = server
        .wait_event(15, |e| e.kind == "supervisor.join" && e.call == call)
        .unwrap_or_else(|| panic!("supervisor joined; log:\n{}", server.log_text()));
    assert_eq!(join.data["mode"], "whisper");
    std::thread::sleep(Duration::from_secs(3));
    caller.command("hangup");
    assert!(
        sup.wait_event("disconnected", 10).is_some(),
        "the supervisor is hung up when the call ends"
    );
    server
        .wait_event(10, |e| e.kind == "call.end" && e.call == call)
        .expect("call ended");
    caller.quit();
    agent.quit();
    sup.quit();
    let tail = |p: std::path::PathBuf| {
        let (x, sr) = read_channel(&p, 0);
        let t = x[x.len().saturating_sub(sr as usize * 2)..x.len().saturating_sub(sr as usize / 4)]
            .to_vec();
        (t, sr)
    };
    let (s, sr) = tail(wav("sup.wav"));
    assert!(
        tone_share(&s, sr, 1000.0) > 0.05 && tone_share(&s, sr, 2000.0) > 0.05,
        "supervisor hears both"
    );
    let (a, sr) = tail(wav("agent.wav"));
    assert!(
        tone_share(&a, sr, 3000.0) > 0.05 && tone_share(&a, sr, 1000.0) > 0.02,
        "agent hears caller and supervisor"
    );
    let (c, sr) = tail(wav("caller.wav"));
    assert!(
        tone_share(&c, sr, 2000.0) > 0.05,
        "caller still hears the agent"
    );
    assert!(
        tone_share(&c, sr, 3000.0) < 0.01,
        "caller does not hear the whisper"
    );
}

/// The first SIGTERM lets the queued call continue (graceful drain, see
/// `drain_restart.rs`); a second one ends it at once, and it is still logged.
#[test]
fn a_second_sigterm_ends_live_calls_at_once_and_logs_them() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let mut server = Server::start("shutdown", "[ivr]\ndialplans = \"tests/dialplans-call\"\n");
    let mut caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:200@{}", server.sip)),
            ..Default::default()
        },
    );
    let join = server
        .wait_event(20, |e| e.kind == "queue.join")
        .expect("queued");
    server.signal("TERM");
    server
        .wait_event(10, |e| e.kind == "system.draining")
        .expect("the first SIGTERM starts the drain");
    assert!(server.is_running(), "the live call keeps the server up");
    assert!(
        caller.wait_event("disconnected", 0).is_none(),
        "the call is not hung up by the first SIGTERM"
    );
    let status = server
        .terminate(20)
        .expect("switchboard exits after the second SIGTERM");
    assert!(status.success(), "clean exit: {status:?}");
    assert!(
        caller.wait_event("disconnected", 10).is_some(),
        "the caller got BYE"
    );
    caller.quit();
    let end = server
        .events()
        .into_iter()
        .find(|e| e.kind == "call.end" && e.call == join.call)
        .unwrap_or_else(|| panic!("call.end logged before exit; log:\n{}", server.log_text()));
    assert_eq!(end.data["end_reason"], "shutdown");
    assert!(server.events().iter().any(|e| e.kind == "system.stop"));
}
