//! The campaign core on a fake clock.

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn row(number: &str, tz: Option<&str>) -> Row {
    Row {
        number: number.to_string(),
        name: String::new(),
        timezone: tz.map(|t| t.parse().unwrap()),
        fields: BTreeMap::new(),
    }
}

fn plan() -> Plan {
    Plan {
        window: "09:00-20:00".parse().unwrap(),
        timezone: Tz::UTC,
        max_attempts: 3,
        retry_after: Duration::minutes(10),
        retry_max: Duration::minutes(15),
        max_concurrent: 2,
        retry_machines: false,
    }
}

#[test]
fn rows_are_dialled_in_order_up_to_the_concurrency_limit() {
    let rows = vec![row("+1001", None), row("+1002", None), row("+1003", None)];
    let mut c = Campaign::new(plan(), rows, &DoNotCall::default());
    let now = at("2026-12-07T10:00:00Z");
    assert_eq!(c.next_dial(now, u32::MAX), None, "not started");
    c.start().unwrap();
    let a = c.next_dial(now, u32::MAX).unwrap();
    let b = c.next_dial(now, u32::MAX).unwrap();
    assert_eq!((a.row, a.attempt, b.row), (RowId(0), 1, RowId(1)));
    assert_eq!(c.next_dial(now, u32::MAX), None, "max_concurrent = 2");
    c.on_result(a.row, Outcome::Answered, now);
    assert_eq!(c.next_dial(now, 0), None, "no free agent");
    assert_eq!(c.next_dial(now, 1).unwrap().row, RowId(2));
}

#[test]
fn busy_rows_are_retried_with_doubling_backoff_until_attempts_run_out() {
    let mut c = Campaign::new(plan(), vec![row("+1001", None)], &DoNotCall::default());
    c.start().unwrap();
    let t0 = at("2026-12-07T10:00:00Z");
    let d = c.next_dial(t0, u32::MAX).unwrap();
    let dec = c.on_result(d.row, Outcome::Busy, t0);
    assert_eq!(dec.status, RowStatus::Pending);
    assert_eq!(dec.next_at, Some(at("2026-12-07T10:10:00Z")));
    assert_eq!(c.next_dial(at("2026-12-07T10:09:59Z"), u32::MAX), None);
    assert_eq!(c.next_wakeup(t0), Some(at("2026-12-07T10:10:00Z")));
    let t1 = at("2026-12-07T10:10:00Z");
    let d = c.next_dial(t1, u32::MAX).unwrap();
    assert_eq!(d.attempt, 2);
    // Second wait doubles to 20 minutes, capped at retry_max = 15.
    let dec = c.on_result(d.row, Outcome::NoAnswer, t1);
    assert_eq!(dec.next_at, Some(at("2026-12-07T10:25:00Z")));
    let t2 = at("2026-12-07T10:25:00Z");
    let d = c.next_dial(t2, u32::MAX).unwrap();
    assert_eq!(d.attempt, 3);
    let dec = c.on_result(d.row, Outcome::Busy, t2);
    assert_eq!(dec.status, RowStatus::Exhausted(Outcome::Busy));
    assert_eq!(c.state(), RunState::Finished);
    let p = c.progress();
    assert_eq!((p.dialled, p.exhausted), (3, 1));
    assert_eq!(p.outcomes.get("busy"), Some(&2));
}

#[test]
fn no_trunk_does_not_use_an_attempt_and_failures_are_final() {
    let rows = vec![row("+1001", None), row("+1002", None)];
    let mut c = Campaign::new(plan(), rows, &DoNotCall::default());
    c.start().unwrap();
    let now = at("2026-12-07T10:00:00Z");
    let a = c.next_dial(now, u32::MAX).unwrap();
    c.on_result(a.row, Outcome::NoTrunk, now);
    assert_eq!(c.row_state(a.row).unwrap().attempts, 0);
    let b = c.next_dial(now, u32::MAX).unwrap();
    assert_eq!(
        c.on_result(b.row, Outcome::Failed, now).status,
        RowStatus::Done(Outcome::Failed)
    );
    let a2 = c.next_dial(now + Duration::seconds(5), u32::MAX).unwrap();
    assert_eq!((a2.row, a2.attempt), (RowId(0), 1));
}

#[test]
fn do_not_call_rows_are_never_dialled() {
    let dnc = DoNotCall::new(["+7 (495) 111-22-33"]);
    let rows = vec![row("+74951112233", None), row("+74951112234", None)];
    let mut c = Campaign::new(plan(), rows, &dnc);
    c.start().unwrap();
    let now = at("2026-12-07T10:00:00Z");
    assert_eq!(c.next_dial(now, u32::MAX).unwrap().row, RowId(1));
    assert_eq!(c.next_dial(now, u32::MAX), None);
    assert_eq!(c.progress().do_not_call, 1);
}

#[test]
fn the_window_is_the_callees_local_time() {
    let rows = vec![
        row("+1001", Some("America/New_York")),
        row("+7001", Some("Europe/Moscow")),
    ];
    let mut c = Campaign::new(plan(), rows, &DoNotCall::default());
    c.start().unwrap();
    // 07:00 UTC: 02:00 in New York (closed), 10:00 in Moscow (open).
    let now = at("2026-12-07T07:00:00Z");
    assert_eq!(c.next_dial(now, u32::MAX).unwrap().row, RowId(1));
    assert_eq!(c.next_dial(now, u32::MAX), None);
    // New York opens at 09:00 EST = 14:00 UTC.
    assert_eq!(c.next_wakeup(now), Some(at("2026-12-07T14:00:00Z")));
    assert_eq!(
        c.next_dial(at("2026-12-07T14:00:00Z"), u32::MAX)
            .unwrap()
            .row,
        RowId(0)
    );
}

#[test]
fn paused_and_stopped_campaigns_place_no_calls() {
    let mut c = Campaign::new(plan(), vec![row("+1001", None)], &DoNotCall::default());
    let now = at("2026-12-07T10:00:00Z");
    assert!(c.pause().is_err());
    c.start().unwrap();
    c.pause().unwrap();
    assert_eq!(c.next_dial(now, u32::MAX), None);
    assert_eq!(c.next_wakeup(now), None);
    c.start().unwrap();
    c.stop().unwrap();
    assert_eq!(c.next_dial(now, u32::MAX), None);
    c.start().unwrap();
    assert!(c.next_dial(now, u32::MAX).is_some());
}

#[test]
fn a_replay_of_the_log_rebuilds_the_same_state() {
    let rows = || vec![row("+1001", None), row("+1002", None), row("+1003", None)];
    let mut live = Campaign::new(plan(), rows(), &DoNotCall::default());
    live.start().unwrap();
    let t = at("2026-12-07T10:00:00Z");
    let mut log = Vec::new();
    let a = live.next_dial(t, u32::MAX).unwrap();
    let b = live.next_dial(t, u32::MAX).unwrap();
    log.push((
        a.row,
        a.attempt,
        Some((Outcome::Busy, live.on_result(a.row, Outcome::Busy, t))),
    ));
    // b is still in progress when the server stops.
    log.push((b.row, b.attempt, None));

    let mut back = Campaign::new(plan(), rows(), &DoNotCall::default());
    back.replay_state(RunState::Running);
    for (r, attempt, result) in &log {
        back.replay_dial(*r, *attempt);
        if let Some((o, d)) = result {
            back.replay_result(*r, *o, t, d.next_at);
        }
    }
    assert_eq!(back.row_state(a.row), live.row_state(a.row));
    assert_eq!(back.interrupted(), vec![b.row]);
    let later = at("2026-12-07T10:01:00Z");
    for r in back.interrupted() {
        back.on_result(r, Outcome::Interrupted, later);
    }
    assert_eq!(
        back.row_state(b.row).unwrap().attempts,
        0,
        "an interrupted call is redone"
    );
    // Row 2 was never tried; it is next.
    assert_eq!(back.next_dial(later, u32::MAX).unwrap().row, RowId(2));
}

#[test]
fn machines_are_final_or_retried_per_campaign() {
    let mut p = plan();
    let mut c = Campaign::new(p.clone(), vec![row("+1", None)], &DoNotCall::default());
    c.start().unwrap();
    let now = at("2026-12-07T10:00:00Z");
    let d = c.next_dial(now, u32::MAX).unwrap();
    assert_eq!(
        c.on_result(d.row, Outcome::Machine, now).status,
        RowStatus::Done(Outcome::Machine)
    );
    p.retry_machines = true;
    let mut c = Campaign::new(p, vec![row("+1", None)], &DoNotCall::default());
    c.start().unwrap();
    let d = c.next_dial(now, u32::MAX).unwrap();
    assert_eq!(
        c.on_result(d.row, Outcome::Machine, now).status,
        RowStatus::Pending
    );
}
