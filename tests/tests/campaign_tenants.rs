//! Campaigns belong to tenants: acme's and globex's campaigns each place a call (the
//! carrier answers busy); a tenant's supervisor token lists, reads, controls and reports
//! only its own campaigns (another tenant's is 404, creating one for another tenant 403),
//! the campaign calls' events carry the tenant from `campaign.dial` on, `call.start`
//! included. And an inbound call whose dialplan entry names a tenant has a tagged
//! `call.start` (the DNIS → tenant map is the dialplan's entries).

use switchboard_e2e::raw_callee::RawCallee;
use switchboard_e2e::{http_call, require_peer, sipp, Server};

fn get(server: &Server, path: &str, token: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_call(server.http, "GET", path, None, Some(token), None);
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn names(v: &serde_json::Value) -> Vec<String> {
    let mut n: Vec<String> = v["campaigns"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    n.sort();
    n
}

fn report_rows(server: &Server, token: &str) -> (u16, Vec<String>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let (status, v) = get(
        server,
        &format!(
            "/api/v1/reports/campaigns?from={}&to={}&interval=1d",
            now - 3600,
            now + 3600
        ),
        token,
    );
    let mut rows: Vec<String> = v["rows"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["campaign"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    rows.sort();
    (status, rows)
}

fn campaign(name: &str, tenant: Option<&str>, number: &str, autostart: bool) -> String {
    format!(
        "[[campaigns]]\nname = \"{name}\"\nkind = \"notification\"\ndialplan = \"demo\"\n\
         window = \"00:00-24:00\"\nmax_attempts = 1\nautostart = {autostart}\n{}\
         rows = [{{number = \"{number}\", name = \"X\"}}]\n",
        tenant
            .map(|t| format!("tenant = \"{t}\"\n"))
            .unwrap_or_default()
    )
}

#[test]
fn a_tenant_sees_and_controls_only_its_own_campaigns() {
    let mut callee = RawCallee::bind();
    let server = Server::start(
        "campaign-tenants",
        &format!(
            "[[trunks]]\nname = \"carrier\"\naddress = \"127.0.0.1:{}\"\n{}{}{}",
            callee.port(),
            campaign("acme-offers", Some("acme"), "+74951110001", true),
            campaign("globex-offers", Some("globex"), "+74951110002", true),
            campaign("house", None, "+74951110003", false),
        ),
    );
    // Both tenants' campaigns dial; the carrier says busy.
    for _ in 0..2 {
        let inv = callee
            .wait_invite(60)
            .unwrap_or_else(|| panic!("campaign calls; log:\n{}", server.log_text()));
        callee.respond(&inv, 486, "Busy Here");
    }
    let results = switchboard_e2e::wait_for(60, || {
        let r: Vec<_> = server
            .events()
            .into_iter()
            .filter(|e| e.kind == "campaign.result")
            .collect();
        (r.len() == 2).then_some(r)
    })
    .unwrap_or_else(|| panic!("two results; events {:#?}", server.events()));
    // Every event of a tenant's campaign call carries its tenant, call.start included.
    for r in &results {
        let tenant = if r.data["campaign"] == "acme-offers" {
            "acme"
        } else {
            "globex"
        };
        let of_call: Vec<_> = server
            .events()
            .into_iter()
            .filter(|e| e.call == r.call)
            .collect();
        assert!(
            of_call.iter().any(|e| e.kind == "call.start"),
            "{of_call:#?}"
        );
        for e in &of_call {
            assert_eq!(
                e.tenant, tenant,
                "{} of {}: {e:?}",
                e.kind, r.data["campaign"]
            );
        }
    }

    // The list: each tenant its own; the admin all.
    let (s, v) = get(&server, "/api/v1/campaigns", "demo-supervisor-acme");
    assert_eq!(s, 200, "{v}");
    assert_eq!(names(&v), ["acme-offers"], "{v}");
    assert_eq!(v["campaigns"][0]["tenant"], "acme", "{v}");
    let (_, v) = get(&server, "/api/v1/campaigns", "demo-supervisor-globex");
    assert_eq!(names(&v), ["globex-offers"], "{v}");
    let (_, v) = get(&server, "/api/v1/campaigns", "demo-admin");
    assert_eq!(names(&v), ["acme-offers", "globex-offers", "house"], "{v}");

    // Another tenant's campaign does not exist for this token: read or control.
    let (s, v) = get(
        &server,
        "/api/v1/campaigns/globex-offers",
        "demo-supervisor-acme",
    );
    assert_eq!(s, 404, "{v}");
    let (s, _) = get(&server, "/api/v1/campaigns/house", "demo-supervisor-acme");
    assert_eq!(s, 404, "an untenanted campaign is not a tenant's");
    let (s, _) = get(
        &server,
        "/api/v1/campaigns/acme-offers",
        "demo-supervisor-acme",
    );
    assert_eq!(s, 200);
    let (s, body) = http_call(
        server.http,
        "POST",
        "/api/v1/campaigns/house/start",
        None,
        Some("demo-supervisor-globex"),
        None,
    );
    assert_eq!(s, 404, "{body}");
    let (_, v) = get(&server, "/api/v1/campaigns/house", "demo-admin");
    assert_eq!(v["state"], "created", "not started by another tenant: {v}");

    // Creating: a tenant token's campaign is its own; not another tenant's.
    let def = |name: &str, tenant: Option<&str>| {
        let mut d = serde_json::json!({
            "name": name, "kind": "notification", "dialplan": "demo",
            "rows": [{"number": "+74951110009"}],
        });
        if let Some(t) = tenant {
            d["tenant"] = t.into();
        }
        d.to_string()
    };
    let (s, body) = http_call(
        server.http,
        "POST",
        "/api/v1/campaigns",
        Some(&def("sneaky", Some("globex"))),
        Some("demo-supervisor-acme"),
        None,
    );
    assert_eq!(s, 403, "{body}");
    let (s, body) = http_call(
        server.http,
        "POST",
        "/api/v1/campaigns",
        Some(&def("acme-later", None)),
        Some("demo-supervisor-acme"),
        None,
    );
    assert_eq!(s, 201, "{body}");
    let (_, v) = get(&server, "/api/v1/campaigns", "demo-supervisor-acme");
    assert_eq!(names(&v), ["acme-later", "acme-offers"], "{v}");
    let (_, v) = get(&server, "/api/v1/campaigns", "demo-supervisor-globex");
    assert_eq!(names(&v), ["globex-offers"], "{v}");
    let defined = server
        .wait_event(10, |e| {
            e.kind == "campaign.defined" && e.data["campaign"] == "acme-later"
        })
        .expect("campaign.defined");
    assert_eq!(defined.tenant, "acme");

    // The campaigns report: each tenant its own campaign's row; the admin both.
    let (s, rows) = report_rows(&server, "demo-supervisor-acme");
    assert_eq!(s, 200);
    assert_eq!(rows, ["acme-offers"]);
    let (_, rows) = report_rows(&server, "demo-supervisor-globex");
    assert_eq!(rows, ["globex-offers"]);
    let (_, rows) = report_rows(&server, "demo-admin");
    assert_eq!(rows, ["acme-offers", "globex-offers"]);
}

#[test]
fn an_inbound_call_s_start_carries_the_tenant_of_its_dialplan_entry() {
    if !require_peer("sipp") {
        return;
    }
    let server = Server::start("call-start-tenant", "");
    // outsourcing.ivr: entry to "74951110001" tenant "acme".
    let out = sipp(
        "acd_caller_abandon.xml",
        server.sip,
        &["-s", "74951110001", "-m", "1"],
        30,
    );
    assert!(
        out.status.success(),
        "{}",
        switchboard_e2e::sipp_trace(&out)
    );
    let end = server
        .wait_event(30, |e| e.kind == "call.end")
        .unwrap_or_else(|| panic!("call ended; events {:#?}", server.events()));
    let of_call: Vec<_> = server
        .events()
        .into_iter()
        .filter(|e| e.call == end.call)
        .collect();
    for kind in ["call.start", "call.answer", "call.end"] {
        let e = of_call
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("{kind}: {of_call:#?}"));
        assert_eq!(e.tenant, "acme", "{e:?}");
    }
}
