//! The dialplan's `http` lookups speak https (issue 12, item 7): a CRM on loopback with a
//! certificate from a test CA (made here with the `openssl` CLI) is reached when
//! `[ivr] http_ca_file` names that CA, and the dialplan takes its success branch; a CRM
//! whose certificate comes from another CA is refused (the certificate is checked, never
//! skipped) and the dialplan takes its `fallback` branch. The caller is SIPp.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use switchboard_e2e::{require_peer, scratch_dir, sipp, test_ca, Server};

/// A CA (`<name>-ca.pem`) and a `localhost`/127.0.0.1 server certificate it signed
/// (`<name>-server.pem`, key `<name>-server.key`), in `dir`.
fn make_ca_and_server_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let ca = test_ca::make_ca(dir, name);
    let (cert, key) = test_ca::make_leaf(dir, &ca, &format!("{name}-server"));
    (ca.0, cert, key)
}

const CRM_SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print("port", s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.settimeout(10)
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except Exception as e:
        print("handshake-failed", type(e).__name__, flush=True)
        c.close()
        continue
    try:
        f = t.makefile("rb")
        line = f.readline().decode().rstrip()
        while f.readline() not in (b"\r\n", b"\n", b""):
            pass
        body = b'{"balance": 7}'
        t.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        print("request", line, flush=True)
        try:
            t.unwrap()
        except Exception:
            pass
    except Exception as e:
        print("error", type(e).__name__, flush=True)
    finally:
        t.close()
"#;

/// A python3 HTTPS server on 127.0.0.1 answering `{"balance": 7}` to every request;
/// reports its lines ("request GET ...", "handshake-failed ...") on the channel.
struct Crm {
    child: Child,
    port: u16,
    lines: mpsc::Receiver<String>,
}

impl Crm {
    fn start(cert: &Path, key: &Path) -> Crm {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(CRM_SERVER)
            .arg(cert)
            .arg(key)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start python3 https server");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("https server's port");
        let port = first
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("https server said {first:?}"));
        Crm { child, port, lines }
    }
}

impl Drop for Crm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A dialplan for service number 300 that looks the caller up at `url` and transfers to
/// `crm-ok` on success, `crm-down` on failure (both land in the fallback queue).
fn dialplan_dir(name: &str, url: &str) -> PathBuf {
    let dir = scratch_dir(name);
    std::fs::write(
        dir.join("crm.ivr"),
        format!(
            "language en\nfallback queue operator\n\nentry to \"300\" goto main\n\n\
             block main {{\n    http get \"{url}\" + caller timeout 5s {{\n        \
             balance = number \"balance\"\n    }} fallback {{\n        \
             transfer extension \"crm-down\"\n    }}\n    \
             transfer extension \"crm-ok\"\n}}\n"
        ),
    )
    .unwrap();
    dir
}

fn peers_ready() -> bool {
    require_peer("openssl") && require_peer("python3") && require_peer("sipp")
}

/// Places one SIPp call to 300 (caller `+79991`) in the background.
fn call_300(server: &Server) -> std::thread::JoinHandle<()> {
    let sip = server.sip;
    std::thread::spawn(move || {
        let _ = sipp(
            "call_answered.xml",
            sip,
            &["-s", "300", "-m", "1", "-d", "3000"],
            30,
        );
    })
}

#[test]
fn an_https_lookup_with_the_configured_ca_reaches_the_crm_and_succeeds() {
    if !peers_ready() {
        return;
    }
    let certs = scratch_dir("crm-https-certs");
    let (ca, cert, key) = make_ca_and_server_cert(&certs, "good");
    let crm = Crm::start(&cert, &key);
    let url = format!("https://localhost:{}/api/balance?phone=", crm.port);
    let dialplans = dialplan_dir("crm-https-ok", &url);
    let server = Server::start(
        "crm-https-ok",
        &format!(
            "[ivr]\ndialplans = \"{}\"\nhttp_ca_file = \"{}\"\n",
            dialplans.display(),
            ca.display()
        ),
    );
    let caller = call_300(&server);
    let line = crm
        .lines
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no CRM request; log:\n{}", server.log_text()));
    // SIPp's caller is +7999 followed by the call number (1): `+` arrives encoded.
    assert_eq!(line, "request GET /api/balance?phone=%2B79991 HTTP/1.1");
    let t = server
        .wait_event(20, |e| e.kind == "ivr.transfer")
        .unwrap_or_else(|| panic!("no transfer; events {:#?}", server.events()));
    assert_eq!(t.data["target"], "crm-ok", "{t:?}");
    caller.join().unwrap();
}

#[test]
fn an_https_lookup_to_a_certificate_of_another_ca_takes_the_fallback() {
    if !peers_ready() {
        return;
    }
    let certs = scratch_dir("crm-https-certs-bad");
    let (trusted_ca, _, _) = make_ca_and_server_cert(&certs, "trusted");
    let (_, other_cert, other_key) = make_ca_and_server_cert(&certs, "other");
    let crm = Crm::start(&other_cert, &other_key);
    let url = format!("https://localhost:{}/api/balance?phone=", crm.port);
    let dialplans = dialplan_dir("crm-https-bad", &url);
    let server = Server::start(
        "crm-https-bad",
        &format!(
            "[ivr]\ndialplans = \"{}\"\nhttp_ca_file = \"{}\"\n",
            dialplans.display(),
            trusted_ca.display()
        ),
    );
    let caller = call_300(&server);
    let t = server
        .wait_event(30, |e| e.kind == "ivr.transfer")
        .unwrap_or_else(|| panic!("no transfer; events {:#?}", server.events()));
    assert_eq!(t.data["target"], "crm-down", "{t:?}");
    // The CRM saw a handshake that the engine aborted, never a request.
    let line = crm
        .lines
        .recv_timeout(Duration::from_secs(10))
        .expect("the CRM saw the handshake");
    assert!(line.starts_with("handshake-failed"), "{line}");
    let log = server.log_text();
    assert!(log.contains("TLS handshake failed"), "log:\n{log}");
    caller.join().unwrap();
}
