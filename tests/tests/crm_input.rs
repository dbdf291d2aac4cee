//! A caller's input cannot change the structure of the dialplan's CRM request: the live
//! engine percent-encodes every value joined into an `http` URL (issue 12, item 8). The
//! CRM here is a plain HTTP server owned by the test; the caller is pjsua2 with a From
//! number crafted to add a query parameter.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

use switchboard_e2e::peers::{python_with_pjsua2, Softphone, SoftphoneOpts};
use switchboard_e2e::{scratch_dir, Server};

/// Serves one HTTP request with a JSON answer; sends its request line to `seen`.
fn crm_once(listener: TcpListener, seen: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        let Ok((conn, _)) = listener.accept() else {
            return;
        };
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let mut reader = BufReader::new(conn.try_clone().expect("clone"));
        let mut request_line = String::new();
        let _ = reader.read_line(&mut request_line);
        // Read the rest of the head so the client sees a well-behaved server.
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
            line.clear();
        }
        let body = r#"{"balance": 7}"#;
        let mut conn = conn;
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = seen.send(request_line.trim_end().to_string());
    });
}

#[test]
fn caller_input_reaches_the_crm_percent_encoded() {
    let Some(py) = python_with_pjsua2() else {
        return;
    };
    let crm = TcpListener::bind("127.0.0.1:0").expect("bind CRM");
    let crm_addr = crm.local_addr().unwrap();
    let (seen_tx, seen_rx) = mpsc::channel();
    crm_once(crm, seen_tx);

    let dir = scratch_dir("crm-input-dialplans");
    std::fs::write(
        dir.join("crm.ivr"),
        format!(
            "language en\nfallback queue operator\n\nentry to \"300\" goto main\n\n\
             block main {{\n    http get \"http://{crm_addr}/api/balance?phone=\" + caller timeout 5s {{\n        \
             balance = number \"balance\"\n    }} fallback {{ hangup }}\n    say number balance\n    hangup\n}}\n"
        ),
    )
    .unwrap();
    let server = Server::start(
        "crm-input",
        &format!("[ivr]\ndialplans = \"{}\"\n", dir.display()),
    );
    let caller = Softphone::start(
        &py,
        server.sip,
        SoftphoneOpts {
            call: Some(format!("sip:300@{}", server.sip)),
            caller: "+7999&phone=1",
            ..Default::default()
        },
    );
    let line = seen_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no CRM request; log:\n{}", server.log_text()));
    assert_eq!(line, "GET /api/balance?phone=%2B7999%26phone%3D1 HTTP/1.1");
    caller.quit();
}
