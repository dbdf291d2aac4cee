//! End-to-end tests of the SIP foundation against the real binary: SIPp registers with
//! digest auth and pings OPTIONS (UDP and TCP); a wrong password never gets 200; baresip
//! and pjsua2 register and appear in the location table; the torture corpus's `semantic`
//! requests get the status the manifest lists; malformed requests get 400.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard_e2e::peers::python_with_pjsua2;
use switchboard_e2e::{require_peer, scratch_dir, shared_dir, sipp, sipp_trace, wait_for, Server};

fn registered_users(server: &Server) -> Vec<String> {
    let (status, body) = server.http_get("/api/v1/registrations");
    assert_eq!(status, 200, "registrations endpoint: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("user").and_then(|u| u.as_str()).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sipp_registers_with_digest_pings_options_and_unregisters_over_udp() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("sipp-reg-udp", "");
    let out = sipp(
        "register_auth.xml",
        server.sip,
        &["-s", "1001", "-au", "1001", "-ap", "secret-1001", "-m", "1"],
        30,
    );
    assert!(
        out.status.success(),
        "SIPp failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
    // The scenario ends with an unregister: the user is gone again.
    assert!(!registered_users(&server).contains(&"1001".to_string()));
}

#[test]
fn sipp_registers_over_tcp() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("sipp-reg-tcp", "");
    let out = sipp(
        "register_auth.xml",
        server.sip,
        &[
            "-t",
            "t1",
            "-s",
            "1002",
            "-au",
            "1002",
            "-ap",
            "secret-1002",
            "-m",
            "1",
        ],
        30,
    );
    assert!(
        out.status.success(),
        "SIPp over TCP failed: {}\nserver log:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
}

#[test]
fn wrong_password_and_unknown_user_never_get_200() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("sipp-wrong-pw", "");
    for (user, pw) in [("1001", "not-the-password"), ("9999", "whatever")] {
        let out = sipp(
            "register_wrong_password.xml",
            server.sip,
            &["-s", user, "-au", user, "-ap", pw, "-m", "1"],
            30,
        );
        assert!(out.status.success(), "{user}: {}", sipp_trace(&out));
    }
    assert!(registered_users(&server).is_empty());
}

/// Sends one raw request and returns the status code of the final response.
fn exchange(server: &Server, request: &[u8]) -> Option<u16> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let port = sock.local_addr().unwrap().port();
    let text = request.to_vec();
    // Point the top Via at our socket (the corpus uses unreachable hosts); keep the branch.
    let out = rewrite_top_via(&text, port);
    sock.send_to(&out, server.sip).unwrap();
    let mut buf = [0u8; 65536];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let head = String::from_utf8_lossy(&buf[..n]);
        let code: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
        if code >= 200 {
            return Some(code);
        }
    }
}

fn rewrite_top_via(msg: &[u8], port: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    let mut done = false;
    let mut rest = msg;
    while let Some(pos) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = &rest[..pos];
        let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
        if !done && (lower.starts_with("via:") || lower.starts_with("v:")) {
            let branch = lower
                .split("branch=")
                .nth(1)
                .map(|b| b.split([';', ',', ' ']).next().unwrap_or("").to_string())
                .unwrap_or_else(|| "z9hG4bKtorture".into());
            out.extend_from_slice(
                format!("Via: SIP/2.0/UDP 127.0.0.1:{port};rport;branch={branch}\r\n").as_bytes(),
            );
            done = true;
        } else {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        rest = &rest[pos + 2..];
        if line.is_empty() {
            break;
        }
    }
    out.extend_from_slice(rest);
    out
}

#[test]
fn torture_semantic_requests_get_the_manifest_status() {
    let server = Server::start("torture-semantic", "");
    let dir = shared_dir().join("sip-torture");
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).expect("manifest");
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 4 || cols[2] != "semantic" {
            continue;
        }
        let file = cols[0];
        let bytes = std::fs::read(dir.join(file)).expect("corpus file");
        // Acceptable statuses per the note (endpoint/registrar role of a B2BUA).
        let accepted: &[u16] = match file.rsplit('/').next().unwrap_or("") {
            "badvers.dat" => &[505],
            "mismatch02.dat" => &[501, 400],
            "insuf.dat" => &[400],
            "unkscm.dat" => &[416],
            "novelsc.dat" => &[416, 404],
            "unksm2.dat" => &[400],
            "bext01.dat" => &[420],
            "invut.dat" => &[415],
            "regaut01.dat" => &[401],
            "multi01.dat" => &[400],
            "zeromf.dat" => &[483, 200],
            "sdp01.dat" => &[406, 400],
            other => {
                failures.push(format!(
                    "{other}: no expectation written for this semantic case"
                ));
                continue;
            }
        };
        let got = exchange(&server, &bytes);
        checked += 1;
        if !got.is_some_and(|c| accepted.contains(&c)) {
            failures.push(format!("{file}: got {got:?}, manifest says {accepted:?}"));
        }
    }
    assert_eq!(checked, 12, "all semantic rows ran");
    assert!(
        failures.is_empty(),
        "{failures:#?}\nlog:\n{}",
        server.log_text()
    );
}

#[test]
fn malformed_requests_get_400_and_options_unknown_method_and_require_work() {
    let server = Server::start("sip-basics", "");
    let dir = shared_dir().join("sip-torture").join("rfc4475");
    for f in [
        "badinv01.dat",
        "quotbal.dat",
        "ltgtruri.dat",
        "scalar02.dat",
        "mismatch01.dat",
    ] {
        let bytes = std::fs::read(dir.join(f)).unwrap();
        assert_eq!(exchange(&server, &bytes), Some(400), "{f}");
    }
    let n = std::cell::Cell::new(0);
    let base = |method: &str, extra: &str| {
        n.set(n.get() + 1);
        format!(
            "{method} sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{method}{k}\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: {method}-basics-{k}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n",
            k = n.get()
        )
    };
    assert_eq!(exchange(&server, base("OPTIONS", "").as_bytes()), Some(200));
    assert_eq!(
        exchange(&server, base("FROBNICATE", "").as_bytes()),
        Some(501)
    );
    assert_eq!(
        exchange(
            &server,
            base("OPTIONS", "Require: com.example.nope\r\n").as_bytes()
        ),
        Some(420)
    );
    let mf0 = base("INVITE", "").replace("Max-Forwards: 70", "Max-Forwards: 0");
    assert_eq!(exchange(&server, mf0.as_bytes()), Some(483));
}

fn baresip_config(dir: &std::path::Path, server: &Server, user: &str, password: &str) -> u16 {
    let ctrl = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("config"),
        format!(
            "poll_method epoll\nnet_interface 127.0.0.1\n\
             audio_player aufile,{}\naudio_source ausine,1000\naudio_alert aufile,/dev/null\n\
             module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule ausine.so\n\
             module_app account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:{ctrl}\n",
            dir.join("heard.wav").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!(
            "<sip:{user}@127.0.0.1:{port}>;auth_pass={password};regint=120;answermode=auto\n",
            port = server.sip.port()
        ),
    )
    .unwrap();
    ctrl
}

#[test]
fn baresip_and_pjsua2_register_and_appear_in_the_location_table() {
    let have_baresip = require_peer("baresip");
    let python = std::env::var("SWITCHBOARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let have_pj = Command::new(&python)
        .args(["-c", "import pjsua2"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !have_pj && std::env::var("SWITCHBOARD_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("pjsua2 is required (scripts/test installs it in target/venv)");
    }
    if !have_baresip || !have_pj {
        eprintln!("SKIPPED: baresip or pjsua2 missing");
        return;
    }
    let server = Server::start("softphones-register", "");
    let dir = scratch_dir("baresip-1001");
    baresip_config(&dir, &server, "1001", "secret-1001");
    // baresip itself is the child (not a `timeout` wrapper), so killing it on the way out
    // really stops it; the guard does that even if an assertion fails first.
    let mut baresip = KillOnDrop(
        Command::new("baresip")
            .arg("-f")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("baresip"),
    );
    let mut pj = Command::new("timeout")
        .arg("60")
        .arg(&python)
        .arg(switchboard_e2e::repo_root().join("tests/peers/pjsua_agent.py"))
        .args([
            "--server",
            &server.sip.to_string(),
            "--user",
            "1002",
            "--password",
            "secret-1002",
            "--seconds",
            "50",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("pjsua2 agent");
    assert!(
        pj_registered(&mut pj),
        "pjsua2 registered with 200; log:\n{}",
        server.log_text()
    );
    let both = wait_for(20, || {
        let users = registered_users(&server);
        (users.contains(&"1001".to_string()) && users.contains(&"1002".to_string()))
            .then_some(users)
    });
    let _ = baresip.0.kill();
    let _ = pj.kill();
    let _ = baresip.0.wait();
    let _ = pj.wait();
    assert!(
        both.is_some(),
        "1001 (baresip) and 1002 (pjsua2) in the location table; got {:?}\nlog:\n{}",
        registered_users(&server),
        server.log_text()
    );
}

fn pj_registered(pj: &mut std::process::Child) -> bool {
    let pj_out = BufReader::new(pj.stdout.take().unwrap());
    for line in pj_out.lines().map_while(Result::ok) {
        if line.contains("\"registered\"") && line.contains("200") {
            return true;
        }
        if line.contains("\"exit\"") {
            break;
        }
    }
    false
}

#[test]
fn pjsua2_registers_over_tcp_with_sha256_digest() {
    let Some(python) = python_with_pjsua2() else {
        return;
    };
    let server = Server::start(
        "pjsua2-sha256",
        "[sip]\ndigest_algorithms = [\"SHA-256\"]\n",
    );
    let mut pj = Command::new("timeout")
        .arg("60")
        .arg(&python)
        .arg(switchboard_e2e::repo_root().join("tests/peers/pjsua_agent.py"))
        .args([
            "--server",
            &server.sip.to_string(),
            "--user",
            "1003",
            "--password",
            "secret-1003",
        ])
        .args(["--transport", "tcp", "--seconds", "30"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("pjsua2 agent");
    let ok = pj_registered(&mut pj);
    let _ = pj.kill();
    let _ = pj.wait();
    assert!(
        ok,
        "pjsua2 registered over TCP with SHA-256; log:\n{}",
        server.log_text()
    );
    let (_, body) = server.http_get("/api/v1/registrations");
    assert!(body.contains("\"1003\"") && body.contains("TCP"), "{body}");
}

#[test]
fn a_device_that_stops_answering_keepalives_is_logged_out_as_unreachable() {
    let Some(python) = python_with_pjsua2() else {
        return;
    };
    // Fast keepalives and a short T1 so timer F (64*T1) fires in about 3 s.
    let server = Server::start("keepalive", "[sip]\nkeepalive_interval = 1\nt1_ms = 50\n");
    // Started directly (not under `timeout`) so that kill() is a SIGKILL of the phone
    // itself: it vanishes without unregistering. --seconds bounds its life anyway.
    let mut pj = Command::new(&python)
        .arg(switchboard_e2e::repo_root().join("tests/peers/pjsua_agent.py"))
        .args([
            "--server",
            &server.sip.to_string(),
            "--user",
            "1004",
            "--password",
            "secret-1004",
            "--seconds",
            "50",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("pjsua2 agent");
    assert!(pj_registered(&mut pj));
    // While it runs, it answers the OPTIONS probes: still logged in a few probes later.
    let login = server.wait_event(10, |e| e.kind == "agent.login" && e.agent == "1004");
    assert!(login.is_some());
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        server.events().iter().all(|e| e.kind != "agent.logout"),
        "no logout while alive"
    );
    // The device vanishes without unregistering.
    let _ = pj.kill();
    let _ = pj.wait();
    let out = server.wait_event(20, |e| e.kind == "agent.logout" && e.agent == "1004");
    let out = out.unwrap_or_else(|| {
        panic!(
            "logged out after failed keepalives; log:\n{}",
            server.log_text()
        )
    });
    assert_eq!(out.data["reason"], "unreachable", "{:?}", out.data);
}

#[test]
fn sipp_registers_over_ipv6() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start_with("sipp-reg-v6", "", &["--sip-listen", "[::1]:0"]);
    let v6 = *server
        .sip_all
        .iter()
        .find(|a| a.is_ipv6())
        .expect("an IPv6 listener");
    let dir = scratch_dir("sipp-v6");
    let out = Command::new("timeout")
        .arg("30")
        .arg("sipp")
        .arg(v6.to_string())
        .arg("-sf")
        .arg(switchboard_e2e::repo_root().join("tests/scenarios/register_auth.xml"))
        .args([
            "-buff_size",
            "4194304",
            "-nostdin",
            "-i",
            "::1",
            "-m",
            "1",
            "-timeout",
            "25s",
            "-timeout_error",
        ])
        .args([
            "-s",
            "1005",
            "-au",
            "1005",
            "-ap",
            "secret-1005",
            "-trace_err",
        ])
        // SIPp 3.6 writes the digest uri of an IPv6 target without brackets ("sip:::1:5060"),
        // which cannot match the Request-URI; give it the bracketed form.
        .args(["-auth_uri", &format!("[::1]:{}", v6.port())])
        .current_dir(&dir)
        .output()
        .expect("sipp");
    assert!(
        out.status.success(),
        "SIPp over IPv6: {}\nlog:\n{}",
        sipp_trace(&out),
        server.log_text()
    );
}

/// Kills and reaps a child process when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_offer_with_no_common_codec_gets_488() {
    let server = Server::start("no-common-codec", "");
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 3\r\na=rtpmap:3 GSM/8000\r\n";
    let invite = format!(
        "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKgsm1\r\nFrom: <sip:+79995550101@127.0.0.1>;tag=g1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: gsm-only-1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:9>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    assert_eq!(exchange(&server, invite.as_bytes()), Some(488));
    let end = server
        .wait_event(5, |e| e.kind == "call.end")
        .expect("refusal logged");
    assert_eq!(end.data["status"], 488);
}
