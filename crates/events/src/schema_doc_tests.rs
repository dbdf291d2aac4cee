//! docs/events.md checked against the schema: every kind the code knows is documented and
//! every documented kind exists, every wire value of the field enums is named, and the
//! fields of the sample events are in their kind's row.

use super::*;

const DOC: &str = include_str!("../../../docs/events.md");

/// The `` `...` `` spans of a text.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The documented kinds, each with the text that documents it: its table row, or for a
/// row that says "see below" (`call.end`) everything up to the next heading.
fn documented_kinds() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_kind_table = false;
    let lines: Vec<&str> = DOC.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("| kind |") {
            in_kind_table = true;
            continue;
        }
        if !line.starts_with('|') {
            in_kind_table = false;
            continue;
        }
        if !in_kind_table || line.starts_with("|---") {
            continue;
        }
        let mut cells = line.trim_start_matches("| ").splitn(2, " | ");
        let (Some(first), Some(rest)) = (cells.next(), cells.next()) else {
            continue;
        };
        let mut text = rest.to_string();
        if rest.contains("see below") {
            for l in &lines[i + 1..] {
                if l.starts_with("## ") {
                    break;
                }
                text.push('\n');
                text.push_str(l);
            }
        }
        for kind in backticked(first) {
            out.push((kind.to_string(), text.clone()));
        }
    }
    out
}

/// Every kind the code accepts, as serde lists them for an unknown one.
fn code_kinds() -> Vec<String> {
    let err = Event::from_parts("zz.not_a_kind", &serde_json::json!({}))
        .expect_err("an unknown kind is an error")
        .to_string();
    let expected = &err[err.find("expected").expect("serde lists the variants")..];
    backticked(expected).into_iter().map(String::from).collect()
}

#[test]
fn every_kind_is_documented_and_every_documented_kind_exists() {
    let code = code_kinds();
    assert!(code.len() > 40, "{code:?}");
    let doc: Vec<String> = documented_kinds().into_iter().map(|(k, _)| k).collect();
    let missing: Vec<&String> = code.iter().filter(|k| !doc.contains(k)).collect();
    let extra: Vec<&String> = doc.iter().filter(|k| !code.contains(k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "kinds not in docs/events.md: {missing:?}; documented kinds the code does not know: {extra:?}"
    );
}

#[test]
fn every_wire_value_of_the_field_enums_is_named_in_the_doc() {
    let named: Vec<&str> = backticked(DOC);
    let mut missing = Vec::new();
    macro_rules! check {
        ($($t:ty),*) => {$(
            for v in <$t>::ALL {
                if !named.contains(&v.as_str()) {
                    missing.push(format!("{}::{}", stringify!($t), v.as_str()));
                }
            }
        )*};
    }
    check!(
        EndReason,
        Disposition,
        QueueExitReason,
        WaitOutcome,
        AgentStateName,
        BusyKind,
        LogoutReason,
        DtmfVia,
        Party,
        SupervisionMode,
        SupervisionEnd,
        DialRefusal,
        TrunkLimit,
        OriginatePurpose,
        CallbackOutcome,
        TransferKind,
        IvrTransferKind,
        TransferOrigin,
        TransferTo,
        TransferFailure,
        CampaignOutcome,
        CampaignState,
        CampaignRowStatus
    );
    assert!(missing.is_empty(), "not in docs/events.md: {missing:?}");
}

#[test]
fn the_sample_events_fields_are_in_their_kinds_rows() {
    let doc = documented_kinds();
    let mut missing = Vec::new();
    for ev in super::tests::samples() {
        let Some((_, text)) = doc.iter().find(|(k, _)| k == ev.kind()) else {
            continue; // the kinds test reports it
        };
        let named = backticked(text);
        if let serde_json::Value::Object(m) = ev.data() {
            for field in m.keys() {
                if !named.contains(&field.as_str()) {
                    missing.push(format!("{}: {field}", ev.kind()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields not in their kind's row: {missing:?}"
    );
}
