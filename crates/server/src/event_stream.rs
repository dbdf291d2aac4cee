//! What one subscriber of the live event stream (`GET /api/v1/events`, `http_events.rs`)
//! is sent, decided without I/O: the filters (`queue`, `agent`, `kind` prefixes), the
//! agent token's view (its own events and the calls offered to it), caller numbers masked
//! for supervisors as the REST API masks them (`live_calls::mask_number`), and the seam between the replay from the store and the live
//! broadcast (an event is sent at most once, in id order).
//!
//! This module does not read the store or the socket; it is fed events in id order.

use std::collections::VecDeque;

use serde_json::Value;

use crate::event_store::StoredEvent;
use crate::live_calls::mask_number;

/// Calls a scope remembers (FIFO): far more than one agent or queue has at once.
const FOLLOWED_CALLS: usize = 512;

/// Kind prefixes one `kind=` may list.
pub(crate) const MAX_KIND_PREFIXES: usize = 16;

/// Which envelope field a scope matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Queue,
    Agent,
}

/// Events of one queue or one agent: those whose envelope names it, and the later events
/// of a call that it has been named on, unless such an event names another queue/agent
/// (a call overflowed to another queue, or offered to another agent, leaves the scope).
#[derive(Clone, Debug)]
struct Scope {
    field: Field,
    name: String,
    calls: VecDeque<String>,
}

impl Scope {
    fn new(field: Field, name: &str) -> Scope {
        Scope {
            field,
            name: name.to_string(),
            calls: VecDeque::new(),
        }
    }

    /// Whether `ev` is in the scope; remembers the calls named in it. Every event must be
    /// fed, in order, including those other filters reject.
    fn admits(&mut self, ev: &StoredEvent) -> bool {
        let value = match self.field {
            Field::Queue => &ev.queue,
            Field::Agent => &ev.agent,
        };
        if *value == self.name {
            if !ev.call.is_empty() && !self.calls.contains(&ev.call) {
                if self.calls.len() == FOLLOWED_CALLS {
                    self.calls.pop_front();
                }
                self.calls.push_back(ev.call.clone());
            }
            return true;
        }
        value.is_empty() && !ev.call.is_empty() && self.calls.contains(&ev.call)
    }
}

/// A tenant-scoped token's part of the stream. An event that carries a tenant (the
/// envelope's `tenant`: the call's client, docs/events.md) is sent when it is this tenant's,
/// wherever the call is (its IVR phase, a queue shared between tenants); another tenant's
/// call is never sent, even in this tenant's queue. An agent's own event (no call) is sent
/// for the agents serving the tenant; when it is about another tenant's call, without the
/// call ([`View::frame`]). Events without a tenant (untenanted calls, rows written before
/// the column existed) follow the older rule: events of the tenant's queues and the later
/// events of calls seen there.
#[derive(Clone, Debug)]
struct TenantEvents {
    scope: std::sync::Arc<crate::tenants::TenantScope>,
    calls: VecDeque<String>,
}

impl TenantEvents {
    fn follow(&mut self, call: &str) {
        if !call.is_empty() && !self.calls.iter().any(|c| c == call) {
            if self.calls.len() == FOLLOWED_CALLS {
                self.calls.pop_front();
            }
            self.calls.push_back(call.to_string());
        }
    }

    fn admits(&mut self, ev: &StoredEvent) -> bool {
        if ev.call.is_empty() {
            // An agent's queue login/logout names the queue: the queue's owner sees it.
            return if ev.queue.is_empty() {
                !ev.agent.is_empty() && self.scope.sees_agent(&ev.agent)
            } else {
                self.scope.sees_queue(&ev.queue)
            };
        }
        if !ev.tenant.is_empty() {
            let own = ev.tenant == self.scope.tenant;
            if own {
                self.follow(&ev.call);
            }
            return own;
        }
        if !ev.queue.is_empty() {
            let ok = self.scope.sees_queue(&ev.queue);
            if ok {
                self.follow(&ev.call);
            }
            return ok;
        }
        self.calls.contains(&ev.call)
    }

    /// Whether `ev` names another tenant's call (an agent's event about it).
    fn foreign(&self, ev: &StoredEvent) -> bool {
        !ev.tenant.is_empty() && ev.tenant != self.scope.tenant
    }
}

/// The filters of one subscriber, from its query parameters and its token.
#[derive(Clone, Debug, Default)]
pub(crate) struct View {
    scopes: Vec<Scope>,
    kinds: Vec<String>,
    mask_numbers: bool,
    tenant: Option<TenantEvents>,
}

impl View {
    /// `queue` and `agent` (query parameters), `kinds` (prefixes; empty = all),
    /// `own_agent` (an agent token's agent: its view is limited to that agent),
    /// `mask_numbers` (phone numbers in event data masked to their last four digits).
    pub(crate) fn new(
        queue: Option<&str>,
        agent: Option<&str>,
        kinds: Vec<String>,
        own_agent: Option<&str>,
        mask_numbers: bool,
    ) -> View {
        let mut scopes = Vec::new();
        if let Some(q) = queue {
            scopes.push(Scope::new(Field::Queue, q));
        }
        if let Some(a) = agent.or(own_agent) {
            scopes.push(Scope::new(Field::Agent, a));
        }
        View {
            scopes,
            kinds,
            mask_numbers,
            tenant: None,
        }
    }

    /// Limits the view to one tenant's events (a tenant-scoped token).
    pub(crate) fn for_tenant(mut self, scope: std::sync::Arc<crate::tenants::TenantScope>) -> View {
        self.tenant = Some(TenantEvents {
            scope,
            calls: VecDeque::new(),
        });
        self
    }

    /// Whether this subscriber gets `ev`. Feed every event in id order.
    pub(crate) fn admits(&mut self, ev: &StoredEvent) -> bool {
        // Every scope sees every event (each remembers its calls), then all must agree.
        let mut ok = true;
        for s in &mut self.scopes {
            ok &= s.admits(ev);
        }
        if let Some(t) = &mut self.tenant {
            ok &= t.admits(ev);
        }
        ok && ev.event.is_some()
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| ev.kind.starts_with(k)))
    }

    /// The JSON text frame for `ev` (the stored row's shape), numbers masked if needed.
    pub(crate) fn frame(&self, ev: &StoredEvent) -> String {
        if self.tenant.as_ref().is_some_and(|t| t.foreign(ev)) {
            // An agent serving several tenants: its state, not the other tenant's call.
            let mut own = ev.clone();
            own.tenant.clear();
            if let Some(o) = own.data.as_object_mut() {
                o.remove("call");
            }
            return serde_json::to_string(&own).unwrap_or_default();
        }
        if !self.mask_numbers || !has_number(&ev.data) {
            return serde_json::to_string(ev).unwrap_or_default();
        }
        let mut masked = ev.clone();
        for key in NUMBER_FIELDS {
            if let Some(Value::String(n)) = masked.data.get_mut(key) {
                *n = mask_number(n);
            }
        }
        serde_json::to_string(&masked).unwrap_or_default()
    }
}

/// Fields of event data that hold a phone number (`call.start` `caller`, `call.refused`
/// `number`).
const NUMBER_FIELDS: [&str; 2] = ["caller", "number"];

fn has_number(data: &Value) -> bool {
    NUMBER_FIELDS.iter().any(|k| data.get(k).is_some())
}

/// Parses `kind=call.,agent.`: comma-separated prefixes, blanks dropped.
pub(crate) fn parse_kinds(s: Option<&str>) -> Result<Vec<String>, String> {
    let kinds: Vec<String> = s
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    if kinds.len() > MAX_KIND_PREFIXES {
        return Err(format!(
            "kind: at most {MAX_KIND_PREFIXES} prefixes, got {}",
            kinds.len()
        ));
    }
    if let Some(k) = kinds.iter().find(|k| {
        k.len() > 64
            || !k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
    }) {
        return Err(format!(
            "kind: {k:?} is not a kind prefix (lowercase letters, '.', '_'; e.g. call.,agent.)"
        ));
    }
    Ok(kinds)
}

/// The seam between the replay and the live broadcast: the highest id handled so far.
/// The subscriber subscribes to the broadcast before its last read of the store, so an
/// event committed meanwhile arrives twice; the second copy is dropped here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seam {
    last: i64,
}

impl Seam {
    /// Starting after `since` (0: from the beginning of the log).
    pub(crate) fn after(since: i64) -> Seam {
        Seam { last: since }
    }

    /// The highest id handled (what a client reconnects with as `since`).
    pub(crate) fn last(&self) -> i64 {
        self.last
    }

    /// Whether `id` is new (and then it is handled): ids only go up.
    pub(crate) fn take(&mut self, id: i64) -> bool {
        if id <= self.last {
            return false;
        }
        self.last = id;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: i64, call: &str, queue: &str, agent: &str, kind: &str, data: Value) -> StoredEvent {
        StoredEvent::new(
            id,
            id * 10,
            call.into(),
            1,
            queue.into(),
            agent.into(),
            kind.into(),
            data,
        )
    }

    /// A call to `sales` offered to 1001 and a call to `support` offered to 1002, with
    /// agent and system events around them.
    fn log() -> Vec<StoredEvent> {
        vec![
            ev(1, "", "", "", "system.start", json!({"version": "t"})),
            ev(2, "", "", "1001", "agent.login", json!({})),
            ev(
                3,
                "c1",
                "",
                "",
                "call.start",
                json!({"caller": "+74951234567", "dnis": "100"}),
            ),
            ev(
                4,
                "c1",
                "sales",
                "",
                "queue.join",
                json!({"position": 1, "resumed": false}),
            ),
            ev(
                5,
                "c2",
                "",
                "",
                "call.start",
                json!({"caller": "+74950000001", "dnis": "101"}),
            ),
            ev(
                6,
                "c2",
                "support",
                "",
                "queue.join",
                json!({"position": 1, "resumed": false}),
            ),
            ev(7, "c1", "sales", "1001", "queue.offer", json!({})),
            ev(8, "c2", "support", "1002", "queue.offer", json!({})),
            ev(9, "c1", "", "1001", "call.bridge", json!({"wait_s": 2.0})),
            ev(10, "c1", "", "", "call.connected", json!({})),
            ev(11, "", "", "1002", "agent.state", json!({"state": "busy"})),
            ev(
                12,
                "c1",
                "",
                "",
                "call.end",
                json!({"end_reason": "caller_hangup", "disposition": "answered"}),
            ),
            ev(
                13,
                "c1",
                "sales",
                "",
                "queue.waited",
                json!({"waited_s": 2.0, "outcome": "answered"}),
            ),
            ev(
                14,
                "c2",
                "",
                "",
                "call.end",
                json!({"end_reason": "caller_hangup", "disposition": "answered"}),
            ),
            ev(15, "", "", "", "unknown.kind", json!({})),
        ]
    }

    fn ids(view: &mut View, evs: &[StoredEvent]) -> Vec<i64> {
        evs.iter()
            .filter(|e| view.admits(e))
            .map(|e| e.id)
            .collect()
    }

    #[test]
    fn a_tenant_token_gets_its_queues_calls_and_agents_only() {
        let scope = crate::tenants::TenantScope::for_test("acme", &["sales"], &["1001"]);
        let mut view = View::new(None, None, Vec::new(), None, true).for_tenant(scope.into());
        // Not the system event, not c1's start before it reached an acme queue, nothing
        // of c2 (support) nor of 1002.
        assert_eq!(ids(&mut view, &log()), vec![2, 4, 7, 9, 10, 12, 13]);
    }

    fn tagged(mut e: StoredEvent, tenant: &str) -> StoredEvent {
        e.tenant = tenant.into();
        e
    }

    /// acme's call c1 in the IVR and then in the shared queue `general`, globex's call c2
    /// in the same queue, both offered to agent 1001 who serves both tenants.
    fn shared_queue_log() -> Vec<StoredEvent> {
        let join = json!({"position": 1, "resumed": false});
        vec![
            ev(
                1,
                "c1",
                "",
                "",
                "call.start",
                json!({"caller": "+74951234567", "dnis": "800"}),
            ),
            tagged(
                ev(
                    2,
                    "c1",
                    "",
                    "",
                    "ivr.start",
                    json!({"dialplan": "o", "block": "acme"}),
                ),
                "acme",
            ),
            tagged(
                ev(
                    3,
                    "c1",
                    "",
                    "",
                    "dtmf",
                    json!({"digit": "1", "via": "rfc4733"}),
                ),
                "acme",
            ),
            tagged(
                ev(4, "c1", "general", "", "queue.join", join.clone()),
                "acme",
            ),
            ev(
                5,
                "c2",
                "",
                "",
                "call.start",
                json!({"caller": "+74950000001", "dnis": "801"}),
            ),
            tagged(ev(6, "c2", "general", "", "queue.join", join), "globex"),
            tagged(
                ev(7, "c2", "general", "1001", "queue.offer", json!({})),
                "globex",
            ),
            tagged(
                ev(
                    8,
                    "",
                    "",
                    "1001",
                    "agent.state",
                    json!({"state": "ringing", "call": "c2"}),
                ),
                "globex",
            ),
            tagged(
                ev(
                    9,
                    "c1",
                    "",
                    "",
                    "call.end",
                    json!({"end_reason": "caller_hangup", "disposition": "abandoned"}),
                ),
                "acme",
            ),
            ev(10, "", "", "1001", "agent.login", json!({})),
            ev(11, "", "", "2002", "agent.login", json!({})),
        ]
    }

    #[test]
    fn a_tenant_token_follows_its_tagged_calls_from_the_ivr_and_in_shared_queues() {
        let acme = crate::tenants::TenantScope::for_test("acme", &["acme-sales"], &["1001"]);
        let mut v = View::new(None, None, Vec::new(), None, true).for_tenant(acme.into());
        let log = shared_queue_log();
        // Its call's IVR phase and its wait in the shared queue; nothing of globex's call
        // in that queue; its agent's events, the state about globex's call without it.
        assert_eq!(ids(&mut v, &log), vec![2, 3, 4, 8, 9, 10]);
        let frame: Value = serde_json::from_str(&v.frame(&log[7])).unwrap();
        assert_eq!(frame["data"]["state"], "ringing");
        assert!(frame["data"].get("call").is_none(), "{frame}");
        assert!(frame.get("tenant").is_none(), "{frame}");
        let own: Value = serde_json::from_str(&v.frame(&log[3])).unwrap();
        assert_eq!(own["tenant"], "acme");
        let globex = crate::tenants::TenantScope::for_test("globex", &[], &["2002"]);
        let mut v = View::new(None, None, Vec::new(), None, true).for_tenant(globex.into());
        assert_eq!(ids(&mut v, &shared_queue_log()), vec![6, 7, 11]);
        // Without a tenant scope the stream is unchanged, and untagged rows carry no field.
        let mut all = View::new(None, None, Vec::new(), None, false);
        assert_eq!(ids(&mut all, &log).len(), log.len());
        let untagged: Value = serde_json::from_str(&all.frame(&log[0])).unwrap();
        assert!(untagged.get("tenant").is_none());
    }

    #[test]
    fn every_typed_event_without_filters() {
        let all = log();
        assert!(
            all[..14].iter().all(|e| e.event.is_some()),
            "fixture fits the schema"
        );
        let mut v = View::new(None, None, vec![], None, false);
        assert_eq!(
            ids(&mut v, &all),
            (1..=14).collect::<Vec<_>>(),
            "untyped rows skipped"
        );
    }

    #[test]
    fn an_agent_token_sees_its_own_events_and_its_calls_from_the_offer_on() {
        let mut v = View::new(None, None, vec![], Some("1001"), false);
        assert_eq!(ids(&mut v, &log()), vec![2, 7, 9, 10, 12, 13]);
        let mut v = View::new(None, None, vec![], Some("1002"), false);
        assert_eq!(ids(&mut v, &log()), vec![8, 11, 14]);
    }

    #[test]
    fn queue_filter_follows_the_calls_of_the_queue() {
        let mut v = View::new(Some("sales"), None, vec![], None, false);
        assert_eq!(ids(&mut v, &log()), vec![4, 7, 9, 10, 12, 13]);
        // Agent 1002's offer names another agent but is in `support`, not `sales`.
        let mut v = View::new(Some("support"), Some("1001"), vec![], None, false);
        assert!(ids(&mut v, &log()).is_empty());
    }

    #[test]
    fn kind_prefixes_filter_after_the_scopes_have_seen_every_event() {
        let kinds = parse_kinds(Some("call., agent.,")).unwrap();
        assert_eq!(kinds, vec!["call.", "agent."]);
        let mut v = View::new(None, None, kinds.clone(), Some("1001"), false);
        // call.bridge and later call events of c1 pass although queue.offer (which put c1
        // in the scope) is filtered out by kind.
        assert_eq!(ids(&mut v, &log()), vec![2, 9, 10, 12]);
        let mut v = View::new(None, None, vec!["queue.".into()], None, false);
        assert_eq!(ids(&mut v, &log()), vec![4, 6, 7, 8, 13]);
    }

    #[test]
    fn bad_kind_lists_are_refused() {
        assert!(parse_kinds(Some("CALL")).is_err());
        assert!(parse_kinds(Some("call;drop")).is_err());
        let many = vec!["a"; MAX_KIND_PREFIXES + 1].join(",");
        assert!(parse_kinds(Some(&many)).is_err());
        assert_eq!(parse_kinds(None).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn numbers_are_masked_when_asked() {
        let start = &log()[2];
        let admin = View::new(None, None, vec![], None, false);
        let f: Value = serde_json::from_str(&admin.frame(start)).unwrap();
        assert_eq!(f["data"]["caller"], "+74951234567");
        assert_eq!(f["id"], 3);
        assert_eq!(f["kind"], "call.start");
        assert_eq!(f["call"], "c1");
        assert_eq!(f["ts_ms"], 30);
        let supervisor = View::new(None, None, vec![], None, true);
        let f: Value = serde_json::from_str(&supervisor.frame(start)).unwrap();
        assert_eq!(f["data"]["caller"], "+*******4567");
        assert_eq!(f["data"]["dnis"], "100");
        let refused = ev(
            20,
            "c1",
            "",
            "",
            "call.refused",
            json!({"reason": "premium_rate", "purpose": "callback", "number": "+88299123456"}),
        );
        let f: Value = serde_json::from_str(&supervisor.frame(&refused)).unwrap();
        assert_eq!(f["data"]["number"], "+*******3456");
    }

    #[test]
    fn the_seam_sends_each_id_once_in_order() {
        // The client replays after id 2; the store read (done after subscribing) returns
        // 3..=5, while the broadcast delivered 4, 5 (committed between subscribe and the
        // read) and then 6, 7.
        let mut seam = Seam::after(2);
        let stored = [3, 4, 5];
        let live = [4, 5, 6, 7];
        let sent: Vec<i64> = stored
            .iter()
            .chain(&live)
            .copied()
            .filter(|id| seam.take(*id))
            .collect();
        assert_eq!(sent, vec![3, 4, 5, 6, 7]);
        assert_eq!(seam.last(), 7);
        assert!(!Seam::after(9).take(9));
    }
}
