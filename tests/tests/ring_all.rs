//! Ring-all (`strategy = "ring-all"`) against the real binary with three pjsua2 agents:
//! every available agent's phone rings at once, the first to answer wins and is bridged to
//! the caller (audio checked both ways), the other phones get CANCEL (their calls end with
//! 487), and the CDR and queue statistics count one answered call. When nobody answers
//! within the ring timeout, each ringing agent gets RONA and the caller keeps waiting. A
//! losing phone that answers after its CANCEL (SIPp) gets ACK then BYE.
//!
//! The dialplan `tests/dialplans-acd-config/acd_config.ivr` puts 300 into `sales`. The tests
//! run one at a time.

use std::path::Path;
use std::sync::Mutex;

use switchboard_e2e::peers::{python_with_pjsua2, registered, Softphone, SoftphoneOpts};
use switchboard_e2e::{http_call, require_peer, sipp, sipp_trace, LoggedEvent, Server};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const AGENTS: [&str; 3] = ["1001", "1002", "1003"];

/// `sales` rings its three members at once; the other queues the dialplan names exist.
fn config(ring_timeout: u32) -> String {
    let mut text = String::from(
        "[ivr]\ndialplans = \"tests/dialplans-acd-config\"\n\n[media]\nrtp_timeout = 120\n",
    );
    for name in ["operator", "reserve", "small", "fallback"] {
        text.push_str(&format!(
            "\n[[queues]]\nname = \"{name}\"\nrecord = false\n"
        ));
    }
    text.push_str(&format!(
        "\n[[queues]]\nname = \"sales\"\nrecord = false\nstrategy = \"ring-all\"\n\
         members = [\"1001\", \"1002\", \"1003\"]\nring_timeout = {ring_timeout}\n"
    ));
    text
}

fn dump(server: &Server) -> String {
    server
        .events()
        .iter()
        .map(|e| {
            format!(
                "{:>4} {:<16} call={} queue={} agent={} {}\n",
                e.id, e.kind, e.call, e.queue, e.agent, e.data
            )
        })
        .collect()
}

/// An agent phone that rings until told to answer; it sends `tone_hz` and records to
/// `record` once answered.
fn agent(py: &str, server: &Server, user: &str, tone_hz: u32, record: Option<&Path>) -> Softphone {
    let phone = registered(
        py,
        server.sip,
        user,
        SoftphoneOpts {
            answer: "none",
            tone_hz,
            record: record.map(Path::to_path_buf),
            seconds: 90,
            ..Default::default()
        },
    );
    server
        .wait_event(15, |e| {
            e.kind == "agent.state" && e.agent == user && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("{user} never became available:\n{}", dump(server)));
    phone
}

fn caller(py: &str, server: &Server, tone_hz: u32, record: Option<&Path>) -> Softphone {
    let mut phone = Softphone::start(
        py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:300@{}", server.sip)),
            caller: "+79995550301",
            tone_hz,
            record: record.map(Path::to_path_buf),
            seconds: 90,
            ..Default::default()
        },
    );
    assert!(
        phone.wait_event("confirmed", 15).is_some(),
        "the IVR answers the caller; log:\n{}",
        server.log_text()
    );
    phone
}

/// The events of one kind for one call, in order.
fn of_kind(server: &Server, call: &str, kind: &str) -> Vec<LoggedEvent> {
    server
        .events()
        .into_iter()
        .filter(|e| e.call == call && e.kind == kind)
        .collect()
}

/// Waits until all three phones ring for the caller's call; returns the call id.
fn all_three_ring(server: &Server, phones: &mut [Softphone]) -> String {
    let join = server
        .wait_event(15, |e| e.kind == "queue.join" && e.queue == "sales")
        .unwrap_or_else(|| panic!("the caller joins sales:\n{}", dump(server)));
    for (p, user) in phones.iter_mut().zip(AGENTS) {
        let inc = p
            .wait_event("incoming", 15)
            .unwrap_or_else(|| panic!("{user} never rang:\n{}", dump(server)));
        assert_eq!(inc["headers"]["X-Switchboard-Queue"], "sales", "{inc}");
    }
    let mut rung: Vec<String> = of_kind(server, &join.call, "agent.ring")
        .into_iter()
        .map(|e| e.agent)
        .collect();
    rung.sort();
    assert_eq!(rung, AGENTS, "{}", dump(server));
    join.call
}

#[test]
fn ring_all_rings_three_agents_and_the_first_to_answer_wins() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("ring-all-answer", &config(30));
    let heard_by_agent = server.data_dir.join("winner-hears.wav");
    let heard_by_caller = server.data_dir.join("caller-hears.wav");
    let mut phones = vec![
        agent(&py, &server, "1001", 0, None),
        agent(&py, &server, "1002", 2000, Some(&heard_by_agent)),
        agent(&py, &server, "1003", 0, None),
    ];
    let mut customer = caller(&py, &server, 1000, Some(&heard_by_caller));
    let call = all_three_ring(&server, &mut phones);

    // 1002 answers first: it is bridged, the other two phones get CANCEL.
    phones[1].command("answer");
    let bridge = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.call == call)
        .unwrap_or_else(|| panic!("no bridge:\n{}", dump(&server)));
    assert_eq!(bridge.agent, "1002");
    assert!(phones[1].wait_event("confirmed", 10).is_some());
    for i in [0, 2] {
        let gone = phones[i]
            .wait_event("disconnected", 15)
            .unwrap_or_else(|| panic!("{} still rings:\n{}", AGENTS[i], dump(&server)));
        assert_eq!(gone["code"], 487, "{} got CANCEL: {gone}", AGENTS[i]);
        // The loser is available again at once, without RONA.
        server
            .wait_event(15, |e| {
                e.id > bridge.id
                    && e.kind == "agent.state"
                    && e.agent == AGENTS[i]
                    && e.data["state"] == "available"
            })
            .unwrap_or_else(|| panic!("{} not available:\n{}", AGENTS[i], dump(&server)));
    }
    assert!(
        of_kind(&server, &call, "queue.rona").is_empty(),
        "{}",
        dump(&server)
    );
    server
        .wait_event(15, |e| e.kind == "call.connected" && e.call == call)
        .unwrap_or_else(|| panic!("not connected:\n{}", dump(&server)));
    // A few seconds of conversation to listen to.
    std::thread::sleep(std::time::Duration::from_secs(3));
    customer.command("hangup");
    assert!(customer.wait_event("disconnected", 10).is_some());
    let end = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == call)
        .unwrap_or_else(|| panic!("no call.end:\n{}", dump(&server)));
    assert_eq!(end.data["disposition"], "answered", "{}", end.data);
    customer.quit();
    for p in phones {
        p.quit();
    }

    // Each side hears the other's tone.
    for (path, freq, who) in [
        (&heard_by_agent, 1000.0, "1002 hears the caller"),
        (&heard_by_caller, 2000.0, "the caller hears 1002"),
    ] {
        let (x, sr) = switchboard_e2e::audio::read_channel(path, 0);
        let n = x.len();
        let tail = &x[n.saturating_sub(sr as usize * 2)..n.saturating_sub(sr as usize / 4)];
        let share = switchboard_e2e::audio::tone_share(tail, sr, freq);
        assert!(share > 0.1, "{who}: share {share:.3} at {freq} Hz");
    }

    // One answered call in the statistics and in the CDR.
    assert_eq!(of_kind(&server, &call, "call.bridge").len(), 1);
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/queues/sales",
        None,
        Some("demo-agent-1001"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let q: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let today = &q["stats"]["today"];
    assert_eq!(
        (today["offered"].as_u64(), today["answered"].as_u64()),
        (Some(1), Some(1)),
        "{q}"
    );
    let cdr = server.export("cdr");
    let mut lines = cdr.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| r.first() == Some(&call.as_str()))
        .collect();
    assert_eq!(rows.len(), 1, "{cdr}");
    assert_eq!(rows[0][col("disposition")], "answered", "{cdr}");
    assert_eq!(rows[0][col("agent")], "1002", "{cdr}");
}

#[test]
fn ring_all_nobody_answers_rona_for_each_agent_and_the_caller_keeps_waiting() {
    let _serial = serial();
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start("ring-all-rona", &config(3));
    let mut phones: Vec<Softphone> = AGENTS
        .iter()
        .map(|u| agent(&py, &server, u, 0, None))
        .collect();
    let mut customer = caller(&py, &server, 0, None);
    let call = all_three_ring(&server, &mut phones);

    // The ring timeout passes: RONA for each of the three, and every phone stops ringing.
    switchboard_e2e::wait_for(20, || {
        (of_kind(&server, &call, "queue.rona").len() >= 3).then_some(())
    })
    .unwrap_or_else(|| panic!("not three RONAs:\n{}", dump(&server)));
    let mut rona: Vec<String> = of_kind(&server, &call, "queue.rona")
        .into_iter()
        .map(|e| e.agent)
        .collect();
    rona.sort();
    assert_eq!(rona, AGENTS, "{}", dump(&server));
    for (p, user) in phones.iter_mut().zip(AGENTS) {
        let gone = p
            .wait_event("disconnected", 15)
            .unwrap_or_else(|| panic!("{user} still rings:\n{}", dump(&server)));
        assert_eq!(gone["code"], 487, "{user}: {gone}");
        server
            .wait_event(15, |e| {
                e.kind == "agent.state"
                    && e.agent == user
                    && e.data["state"] == "paused"
                    && e.data["pause_reason"] == "rona"
            })
            .unwrap_or_else(|| panic!("{user} not paused for RONA:\n{}", dump(&server)));
    }
    // The caller is still in the queue: no bridge, no end, their call is up.
    assert!(of_kind(&server, &call, "call.bridge").is_empty());
    assert!(of_kind(&server, &call, "call.end").is_empty());
    assert!(
        customer.wait_event("disconnected", 0).is_none(),
        "the caller keeps waiting"
    );
    let (status, body) = http_call(
        server.http,
        "GET",
        "/api/v1/queues/sales",
        None,
        Some("demo-agent-1001"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let q: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(q["stats"]["live"]["waiting"].as_u64(), Some(1), "{q}");

    customer.command("hangup");
    let end = server
        .wait_event(15, |e| e.kind == "call.end" && e.call == call)
        .unwrap_or_else(|| panic!("no call.end:\n{}", dump(&server)));
    assert_eq!(end.data["disposition"], "abandoned", "{}", end.data);
    customer.quit();
    for p in phones {
        p.quit();
    }
}

/// The forking race's other half (RFC 3261 §15): 1001 (pjsua2) answers first; 1002 (SIPp)
/// receives the CANCEL, accepts it and then answers the INVITE anyway. Its 2xx is ACKed and
/// its dialog hung up with BYE (the scenario fails otherwise), the call stays bridged to
/// 1001, and 1002 is available again without RONA.
#[test]
fn ring_all_a_loser_answering_after_the_cancel_gets_ack_and_bye() {
    let _serial = serial();
    if !require_peer("sipp") {
        return;
    }
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    // No OPTIONS keepalive: the SIPp phone expects only the INVITE.
    let text = config(30)
        .replace(
            "members = [\"1001\", \"1002\", \"1003\"]",
            "members = [\"1001\", \"1002\"]",
        )
        .replace("[media]", "[sip]\nkeepalive_interval = 600\n\n[media]");
    let server = Server::start("ring-all-late-answer", &text);
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("free port")
        .port()
        .to_string();
    let reg = sipp(
        "register_keep.xml",
        server.sip,
        &[
            "-s",
            "1002",
            "-au",
            "1002",
            "-ap",
            "secret-1002",
            "-p",
            &port,
            "-m",
            "1",
        ],
        30,
    );
    assert!(reg.status.success(), "1002 registers: {}", sipp_trace(&reg));
    server
        .wait_event(15, |e| {
            e.kind == "agent.state" && e.agent == "1002" && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("1002 never became available:\n{}", dump(&server)));
    let target = server.sip;
    let late = std::thread::spawn(move || {
        sipp(
            "agent_late_answer.xml",
            target,
            &["-p", &port, "-m", "1"],
            60,
        )
    });
    let mut pj = agent(&py, &server, "1001", 0, None);
    let mut customer = caller(&py, &server, 0, None);
    let join = server
        .wait_event(15, |e| e.kind == "queue.join" && e.queue == "sales")
        .unwrap_or_else(|| panic!("the caller joins sales:\n{}", dump(&server)));
    assert!(pj.wait_event("incoming", 15).is_some(), "1001 rings");
    switchboard_e2e::wait_for(15, || {
        (of_kind(&server, &join.call, "agent.ring").len() == 2).then_some(())
    })
    .unwrap_or_else(|| panic!("both agents ring:\n{}", dump(&server)));

    pj.command("answer");
    let bridge = server
        .wait_event(15, |e| e.kind == "call.bridge" && e.call == join.call)
        .unwrap_or_else(|| panic!("no bridge:\n{}", dump(&server)));
    assert_eq!(bridge.agent, "1001");
    let out = late.join().expect("sipp thread");
    assert!(
        out.status.success(),
        "the late 2xx is ACKed and BYEd: {}",
        sipp_trace(&out)
    );
    server
        .wait_event(15, |e| {
            e.id > bridge.id
                && e.kind == "agent.state"
                && e.agent == "1002"
                && e.data["state"] == "available"
        })
        .unwrap_or_else(|| panic!("1002 not available:\n{}", dump(&server)));
    assert!(of_kind(&server, &join.call, "queue.rona").is_empty());
    assert_eq!(of_kind(&server, &join.call, "call.bridge").len(), 1);
    assert!(
        customer.wait_event("disconnected", 0).is_none(),
        "the caller is still talking to 1001"
    );
    customer.command("hangup");
    assert!(customer.wait_event("disconnected", 10).is_some());
    customer.quit();
    pj.quit();
}
