//! What a new user meets first: errors that name the fix, and tools that work from any
//! directory. Each test runs the real `switchboard` binary.
//!
//! - A busy SIP or HTTP port: the error names the address and the flag that picks another,
//!   and says "Address already in use" once.
//! - `switchboard check` run from another directory finds the prompts next to the
//!   dialplan, accepts a directory, takes `--prompts DIR`, and names the prompts directory
//!   it used in its help.
//! - The log has no ANSI colour codes when stderr is not a terminal.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use switchboard_e2e::{repo_root, scratch_dir, switchboard_bin, Server};

/// Runs `switchboard run` with `args`, expecting it to fail at start; returns its output.
/// Bounded: a server that starts anyway is killed after 30 s and the test fails.
fn run_expecting_failure(name: &str, args: &[&str]) -> Output {
    run_expecting_failure_in(name, &repo_root(), args)
}

/// [`run_expecting_failure`] started in `cwd`.
fn run_expecting_failure_in(name: &str, cwd: &Path, args: &[&str]) -> Output {
    let dir = scratch_dir(name);
    let mut child = Command::new(switchboard_bin())
        .arg("run")
        .args(args)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start switchboard");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "switchboard started although it should not: {}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn a_busy_sip_port_names_the_address_and_suggests_sip_listen() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_expecting_failure(
        "first-run-busy-sip",
        &["--sip-listen", &addr, "--http-listen", "127.0.0.1:0"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&addr), "names the address: {err}");
    assert!(err.contains("UDP"), "names the transport: {err}");
    assert!(err.contains("--sip-listen"), "suggests the flag: {err}");
    assert_eq!(
        err.matches("already in use").count(),
        1,
        "says it once: {err}"
    );
}

#[test]
fn a_busy_sip_tcp_port_is_reported_too() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_expecting_failure(
        "first-run-busy-sip-tcp",
        &["--sip-listen", &addr, "--http-listen", "127.0.0.1:0"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&addr) && err.contains("TCP"), "{err}");
    assert!(err.contains("--sip-listen"), "{err}");
}

#[test]
fn a_busy_http_port_names_the_address_and_suggests_http_listen() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let addr = taken.local_addr().unwrap().to_string();
    let out = run_expecting_failure(
        "first-run-busy-http",
        &["--sip-listen", "127.0.0.1:0", "--http-listen", &addr],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&addr), "names the address: {err}");
    assert!(err.contains("--http-listen"), "suggests the flag: {err}");
    assert_eq!(
        err.matches("already in use").count(),
        1,
        "says it once: {err}"
    );
}

/// `switchboard ARGS` run in `cwd`.
fn tool(cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(switchboard_bin())
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run switchboard");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_run_from_another_directory_finds_the_prompts_next_to_the_dialplan() {
    let elsewhere = scratch_dir("first-run-check-cwd");
    let demo = repo_root().join("dialplans/demo.ivr");
    let (code, out, err) = tool(&elsewhere, &["check", demo.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("ok: 1 file(s) checked"), "{out}");

    // A directory is checked like `ivr test` takes one: every *.ivr in it.
    let dialplans = repo_root().join("dialplans");
    let (code, out, err) = tool(&elsewhere, &["check", dialplans.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    let n = std::fs::read_dir(&dialplans)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "ivr"))
        .count();
    assert!(
        out.starts_with(&format!("ok: {n} file(s) checked")),
        "{out}"
    );
}

#[test]
fn check_takes_a_prompts_dir_and_names_it_in_the_help() {
    // Outside the repository: no `prompts/` in any directory above it.
    let dir = std::env::temp_dir().join(format!("switchboard-first-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A dialplan of its own with one prompt that exists in the repo's prompts and one that
    // does not, far from any `prompts/` directory.
    std::fs::write(
        dir.join("mine.ivr"),
        "language en\nfallback queue operator\nentry default goto main\n\
         block main {\n    play \"goodbye\"\n    play \"no-such-greeting\"\n    hangup\n}\n",
    )
    .unwrap();
    let prompts = repo_root().join("prompts");
    let (code, out, err) = tool(&dir, &["check", "mine.ivr"]);
    assert_eq!(code, Some(2), "no prompts anywhere: {out}{err}");
    assert!(err.contains("--prompts DIR"), "{err}");

    let (code, out, err) = tool(
        &dir,
        &["check", "mine.ivr", "--prompts", prompts.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("unknown prompt \"no-such-greeting\""), "{out}");
    assert!(!out.contains("\"goodbye\""), "goodbye exists: {out}");
    assert!(
        out.contains(&format!("{}/dialplan-phrases.tsv", prompts.display())),
        "the help names the prompts directory used: {out}"
    );

    // A prompts directory without <lang>/<name>.wav is refused as such.
    let empty = scratch_dir("first-run-check-empty-prompts");
    let (code, _, err) = tool(
        &dir,
        &["check", "mine.ivr", "--prompts", empty.to_str().unwrap()],
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no prompts in"), "{err}");

    // `ivr simulate` and `ivr test` take the same flag their error message names.
    let (code, out, err) = tool(&dir, &["ivr", "simulate", "mine.ivr"]);
    assert_eq!(code, Some(2), "no prompts anywhere: {out}{err}");
    assert!(err.contains("--prompts DIR"), "{err}");
    let (code, out, err) = tool(
        &dir,
        &[
            "ivr",
            "simulate",
            "mine.ivr",
            "--prompts",
            prompts.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("unknown prompt \"no-such-greeting\""),
        "{out}{err}"
    );
    let (code, out, err) = tool(
        &dir,
        &[
            "ivr",
            "test",
            "mine.ivr",
            "--prompts",
            empty.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("no prompts in"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn run_outside_the_repository_names_the_missing_prompts_directory() {
    let cwd = scratch_dir("first-run-outside-repo");
    let out = run_expecting_failure_in(
        "first-run-outside-repo-data",
        &cwd,
        &[
            "--sip-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ivr.prompts"), "names the key: {err}");
    assert!(
        err.contains(&cwd.display().to_string()),
        "names the working directory: {err}"
    );
    assert_eq!(
        err.matches("os error").count(),
        0,
        "no raw OS error text: {err}"
    );
}

#[test]
fn the_log_has_no_colour_codes_when_stderr_is_a_file() {
    let server = Server::start("first-run-no-ansi", "");
    let log = server.log_text();
    assert!(log.contains("switchboard ready"), "{log}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes in the log file");
}
