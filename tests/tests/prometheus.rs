//! The Prometheus side of operations, checked with the real `promtool` (apt `prometheus`):
//! the running server's `/metrics` passes `promtool check metrics` (a queue whose name holds
//! `"` and `\` included: label values are escaped), every metric it exposes is in the
//! metrics table of docs/operations.md, docs/prometheus/alerts.yml passes `promtool check
//! rules`, and docs/grafana/switchboard.json is JSON whose queries (and the alert rules)
//! name only metrics the server exposes.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use switchboard_e2e::{repo_root, require_peer, Server};

/// A queue name the exposition format must escape.
const ODD_QUEUE: &str = r#"we"ird\q"#;

fn config() -> String {
    let mut c = String::from("[ivr]\ndialplans = \"tests/dialplans-acd\"\n");
    for q in [
        "sales",
        "bank",
        "support",
        "operator",
        "outsource",
        ODD_QUEUE,
    ] {
        c.push_str(&format!(
            "\n[[queues]]\nname = '{q}'\nmembers = [\"1001\"]\n"
        ));
    }
    c
}

/// Names declared by `# TYPE` lines.
fn exposed(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `switchboard_...` names in a query or rule text.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("switchboard_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("timeout")
        .arg("60")
        .arg("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write to promtool");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("promtool output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn metrics_pass_promtool_and_are_documented_and_dashboards_use_real_metrics() {
    if !require_peer("promtool") {
        return;
    }
    let server = Server::start("prometheus", &config());
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200, "{metrics}");

    let (ok, report) = promtool(&["check", "metrics"], Some(&metrics));
    assert!(ok, "promtool check metrics:\n{report}\n---\n{metrics}");
    assert!(
        metrics.contains(r#"switchboard_queue_waiting{queue="we\"ird\\q"} 0"#),
        "the odd queue's label is escaped:\n{metrics}"
    );

    let names = exposed(&metrics);
    assert!(names.len() > 40, "{names:?}");
    let ops = std::fs::read_to_string(repo_root().join("docs/operations.md")).expect("ops doc");
    let undocumented: Vec<&String> = names
        .iter()
        .filter(|n| !ops.contains(&format!("`{n}`")) && !ops.contains(&format!("`{n}{{")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "metrics missing from the table in docs/operations.md: {undocumented:?}"
    );

    let rules = repo_root().join("docs/prometheus/alerts.yml");
    let (ok, report) = promtool(&["check", "rules", rules.to_str().expect("path")], None);
    assert!(ok, "promtool check rules:\n{report}");
    let rules_text = std::fs::read_to_string(&rules).expect("alerts.yml");
    for alert in [
        "SwitchboardServiceLevelBelowTarget",
        "SwitchboardAbandonSpike",
        "SwitchboardNoAgentsLoggedIn",
        "SwitchboardEventStoreErrors",
        "SwitchboardDiskLow",
    ] {
        assert!(rules_text.contains(&format!("alert: {alert}")), "{alert}");
    }

    let dash_text = std::fs::read_to_string(repo_root().join("docs/grafana/switchboard.json"))
        .expect("dashboard");
    let dash: serde_json::Value = serde_json::from_str(&dash_text).expect("dashboard is JSON");
    let mut queries = String::new();
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().expect("targets") {
            queries.push_str(t["expr"].as_str().expect("expr"));
            queries.push('\n');
        }
    }
    for v in dash["templating"]["list"].as_array().expect("templating") {
        if let Some(q) = v["query"].as_str() {
            queries.push_str(q);
            queries.push('\n');
        }
    }
    let used = referenced(&queries);
    assert!(used.len() > 20, "{used:?}");
    for (what, refs) in [("dashboard", used), ("alerts", referenced(&rules_text))] {
        let unknown: Vec<&String> = refs.iter().filter(|n| !names.contains(*n)).collect();
        assert!(
            unknown.is_empty(),
            "{what} queries metrics the server does not expose: {unknown:?}"
        );
    }
}
