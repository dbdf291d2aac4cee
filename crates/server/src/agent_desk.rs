//! What the wallboard's agent grid and the agent desktop's offer card show about each
//! agent beyond its ACD state: when the agent entered that state, and the queue call it is
//! ringing for or talking on (queue, caller number, the IVR's collected data). The ACD
//! actor feeds it (joins, ends, state changes) and asks it for each agent's JSON; the HTTP
//! layer then hides the caller from whoever may not see it ([`redact_for`]).
//!
//! It is not a second ACD: the state itself always comes from the engine.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Map, Value};
use switchboard_acd::{AgentState, CallId};

use crate::http_auth::{Principal, Role};
use crate::live_calls::mask_number;

/// A queued call as the agent's screen pop shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DeskCall {
    queue: String,
    caller: String,
    data: Vec<(String, String)>,
    tenant: Option<String>,
}

/// Per-agent state-change times and per-call screen-pop data.
#[derive(Debug, Default)]
pub(crate) struct AgentDesk {
    /// Engine time of each agent's last state change, by agent index.
    since: HashMap<u32, Duration>,
    /// Engine time the desk started (the server's start): an agent never seen changing
    /// state has been in its state at least since then.
    started: Duration,
    /// Calls in a queue or with an agent, by call id.
    calls: HashMap<u64, DeskCall>,
    /// What the offer card says about each `[[tenants]]` client (`client` of a call).
    clients: HashMap<String, Value>,
}

impl AgentDesk {
    /// A desk started at engine time `started` whose offer cards describe the configured
    /// tenants: display name, description, products.
    pub(crate) fn new(tenants: &[crate::tenants::TenantConfig], started: Duration) -> AgentDesk {
        AgentDesk {
            started,
            clients: tenants
                .iter()
                .map(|t| {
                    let client = json!({
                        "name": t.display_name(),
                        "description": t.description,
                        "products": t.products,
                    });
                    (t.name.clone(), client)
                })
                .collect(),
            ..AgentDesk::default()
        }
    }

    /// A call joined `queue` with the dialplan's screen-pop `data` and `tenant` (the client
    /// the call is for).
    pub(crate) fn joined(
        &mut self,
        call: u64,
        queue: &str,
        caller: &str,
        data: &[(String, String)],
        tenant: Option<&str>,
    ) {
        self.calls.insert(
            call,
            DeskCall {
                queue: queue.to_string(),
                caller: caller.to_string(),
                data: data.to_vec(),
                tenant: tenant.map(str::to_string),
            },
        );
    }

    /// The client a queued call is for, if any.
    pub(crate) fn tenant_of(&self, call: u64) -> Option<&str> {
        self.calls.get(&call).and_then(|c| c.tenant.as_deref())
    }

    /// A call moved to another queue.
    pub(crate) fn moved(&mut self, call: u64, queue: &str) {
        if let Some(c) = self.calls.get_mut(&call) {
            c.queue = queue.to_string();
        }
    }

    /// A call ended or left the queue for good.
    pub(crate) fn ended(&mut self, call: u64) {
        self.calls.remove(&call);
    }

    /// Agent `agent` changed state at engine time `now`.
    pub(crate) fn state_changed(&mut self, agent: u32, now: Duration) {
        self.since.insert(agent, now);
    }

    /// The agent's entry of `GET /api/v1/agents`: `agent`, `state`, `pause_reason` when
    /// paused, `in_state_s` (seconds since the last state change seen, or since the server
    /// started), and `call` when the agent rings for or talks on a queue call (its queue,
    /// caller, screen-pop data, tenant and, for a configured tenant, `client`: its display
    /// name, description and products).
    pub(crate) fn agent_json(
        &self,
        index: u32,
        name: &str,
        word: &str,
        state: Option<&AgentState>,
        now: Duration,
    ) -> Value {
        // Never seen changing state: in it since the server started, not since the
        // engine's clock origin (that showed "Logged out 9600:00:04").
        let since = self.since.get(&index).copied().unwrap_or(self.started);
        let mut v = json!({
            "agent": name,
            "state": word,
            "in_state_s": (now.saturating_sub(since).as_millis() as f64) / 1000.0,
        });
        let call = match state {
            Some(AgentState::Paused { reason }) => {
                v["pause_reason"] = json!(reason);
                None
            }
            Some(AgentState::Ringing { call }) => Some((*call, "ringing")),
            Some(AgentState::Reserved { call }) => Some((*call, "reserved")),
            Some(AgentState::Busy {
                call: Some(call), ..
            }) => Some((*call, "talking")),
            _ => None,
        };
        if let Some((CallId(id), phase)) = call {
            if let Some(c) = self.calls.get(&id) {
                let data: Map<String, Value> = c
                    .data
                    .iter()
                    .map(|(k, val)| (k.clone(), json!(val)))
                    .collect();
                v["call"] = json!({
                    "id": id.to_string(),
                    "phase": phase,
                    "queue": c.queue,
                    "caller": c.caller,
                    "data": data,
                    "tenant": c.tenant,
                });
                if let Some(client) = c.tenant.as_ref().and_then(|t| self.clients.get(t)) {
                    v["call"]["client"] = client.clone();
                }
            }
        }
        v
    }
}

/// An agent entry as `p` may see it: admins and the agent itself see the caller's number
/// and the call's data; anyone else sees the number masked as the calls API masks it (all
/// but the last four digits) and no data. A tenant's token does not see the agent's call
/// at all when it is another tenant's.
pub(crate) fn redact_for(p: &Principal, mut entry: Value) -> Value {
    // A tenant's token sees an agent serving several tenants, but not a call of another.
    let foreign = entry
        .get("call")
        .is_some_and(|c| !p.sees_call(c["tenant"].as_str(), c["queue"].as_str()));
    if foreign {
        if let Some(o) = entry.as_object_mut() {
            o.remove("call");
        }
    }
    let own = p.role == Role::Agent && entry["agent"].as_str() == p.agent.as_deref();
    if p.role == Role::Admin || own {
        return entry;
    }
    if let Some(call) = entry.get_mut("call").and_then(Value::as_object_mut) {
        let masked = call
            .get("caller")
            .and_then(Value::as_str)
            .map(mask_number)
            .unwrap_or_default();
        call.insert("caller".into(), json!(masked));
        call.remove("data");
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, agent: Option<&str>) -> Principal {
        Principal {
            name: "t".into(),
            role,
            agent: agent.map(str::to_string),
            scope: None,
        }
    }

    #[test]
    fn a_ringing_agent_shows_its_call_and_time_in_state() {
        let mut d = AgentDesk::default();
        d.joined(
            7,
            "sales",
            "+79995550101",
            &[("account".into(), "42".into())],
            Some("acme"),
        );
        d.state_changed(0, Duration::from_secs(10));
        let ringing = AgentState::Ringing { call: CallId(7) };
        let v = d.agent_json(
            0,
            "1001",
            "ringing",
            Some(&ringing),
            Duration::from_millis(12_500),
        );
        assert_eq!(v["in_state_s"], 2.5);
        assert_eq!(v["call"]["queue"], "sales");
        assert_eq!(v["call"]["phase"], "ringing");
        assert_eq!(v["call"]["caller"], "+79995550101");
        assert_eq!(v["call"]["data"]["account"], "42");
        assert_eq!(v["call"]["tenant"], "acme");
        assert!(v["call"].get("client").is_none(), "no [[tenants]] entry");
        d.moved(7, "support");
        let v = d.agent_json(
            0,
            "1001",
            "ringing",
            Some(&ringing),
            Duration::from_secs(13),
        );
        assert_eq!(v["call"]["queue"], "support");
        d.ended(7);
        let v = d.agent_json(
            0,
            "1001",
            "ringing",
            Some(&ringing),
            Duration::from_secs(13),
        );
        assert!(v.get("call").is_none());
        let paused = AgentState::Paused {
            reason: "lunch".into(),
        };
        let v = d.agent_json(1, "1002", "paused", Some(&paused), Duration::from_secs(3));
        assert_eq!(v["pause_reason"], "lunch");
        assert_eq!(v["in_state_s"], 3.0);
    }

    #[test]
    fn only_admins_and_the_agent_itself_see_the_number() {
        let entry = json!({"agent": "1001", "state": "busy",
            "call": {"caller": "+79995550101", "queue": "sales", "data": {"a": "1"}}});
        let full = redact_for(&principal(Role::Admin, None), entry.clone());
        assert_eq!(full, entry);
        let own = redact_for(&principal(Role::Agent, Some("1001")), entry.clone());
        assert_eq!(own, entry);
        for p in [
            principal(Role::Supervisor, None),
            principal(Role::Agent, Some("1002")),
        ] {
            let v = redact_for(&p, entry.clone());
            assert_eq!(v["call"]["caller"], "+*******0101");
            assert!(v["call"].get("data").is_none());
            assert_eq!(v["call"]["queue"], "sales");
        }
    }

    #[test]
    fn a_tenant_token_sees_a_shared_agent_but_not_another_tenants_call() {
        let scoped = |tenant: &str| Principal {
            scope: Some(std::sync::Arc::new(crate::tenants::TenantScope::for_test(
                tenant,
                &[],
                &["1001"],
            ))),
            ..principal(Role::Supervisor, None)
        };
        let entry = json!({"agent": "1001", "state": "busy",
            "call": {"caller": "+79995550101", "queue": "outsource", "tenant": "globex"}});
        let acme = redact_for(&scoped("acme"), entry.clone());
        assert_eq!(acme["state"], "busy");
        assert!(acme.get("call").is_none(), "{acme}");
        assert!(!acme.to_string().contains("globex"));
        let globex = redact_for(&scoped("globex"), entry);
        assert_eq!(globex["call"]["caller"], "+*******0101");
    }

    #[test]
    fn an_agent_never_seen_is_in_its_state_since_the_server_started() {
        // The engine's clock starts far from zero (the actor's CLOCK_ORIGIN, 400 days):
        // time in state counts from the desk's start, not from zero.
        let origin = Duration::from_secs(400 * 86_400);
        let mut d = AgentDesk::new(&[], origin);
        let v = d.agent_json(
            0,
            "1001",
            "logged_out",
            None,
            origin + Duration::from_secs(4),
        );
        assert_eq!(v["in_state_s"], 4.0);
        d.state_changed(0, origin + Duration::from_secs(3));
        let v = d.agent_json(
            0,
            "1001",
            "available",
            None,
            origin + Duration::from_secs(4),
        );
        assert_eq!(v["in_state_s"], 1.0);
    }

    #[test]
    fn a_configured_tenant_is_described_on_the_offer_card() {
        let tenants: Vec<crate::tenants::TenantConfig> = toml::from_str::<toml::Value>(
            "[[t]]\nname = \"acme\"\ndisplay_name = \"ACME Corp\"\ndescription = \"Anvils\"\nproducts = [\"anvil\"]\n",
        )
        .unwrap()["t"]
            .clone()
            .try_into()
            .unwrap();
        let mut d = AgentDesk::new(&tenants, Duration::ZERO);
        d.joined(7, "sales", "+79995550101", &[], Some("acme"));
        let ringing = AgentState::Ringing { call: CallId(7) };
        let v = d.agent_json(0, "1001", "ringing", Some(&ringing), Duration::ZERO);
        assert_eq!(v["call"]["tenant"], "acme");
        assert_eq!(
            v["call"]["client"],
            json!({"name": "ACME Corp", "description": "Anvils", "products": ["anvil"]})
        );
    }
}
