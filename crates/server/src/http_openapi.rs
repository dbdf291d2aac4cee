//! The API's OpenAPI 3 document (`GET /api/v1/openapi.json`), built from [`OPERATIONS`]: one
//! entry per route in this file, next to the router, with who may call it, its body or query
//! fields and its error statuses. The JSON is generated from that table at request time; no
//! JSON file is maintained by hand. A test reads the router's source (`http_api.rs`) and
//! fails when a route under `/api/v1` is registered but not described here, or described
//! but not registered (docs/decisions/0015-openapi-from-code.md).
//!
//! It describes the shape of requests and the error contract; the answers' fields are in
//! `docs/api.md` (the answers are described as JSON objects, not field by field).

use axum::Json;
use serde_json::{json, Map, Value};

/// An HTTP method of a route (add `Delete`, ... with the first such route).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Delete => "delete",
        }
    }
}

/// Who may call a route (`docs/api.md`, "Tokens and roles").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// No token needed.
    Open,
    /// Any valid token.
    AnyRole,
    /// A supervisor or admin token, or the agent token of the agent in the path.
    StaffOrThatAgent,
    /// A supervisor or admin token.
    Staff,
}

impl Access {
    fn words(self) -> &'static str {
        match self {
            Access::Open => "No token needed.",
            Access::AnyRole => "Any valid token.",
            Access::StaffOrThatAgent => {
                "A supervisor or admin token, or the agent token of the agent in the path."
            }
            Access::Staff => "A supervisor or admin token.",
        }
    }
}

/// The JSON type of a body or query field (add more with the first field that needs one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    StrList,
    Object,
    Int,
    ObjectList,
}

impl Ty {
    fn schema(self) -> Value {
        match self {
            Ty::Str => json!({"type": "string"}),
            Ty::StrList => json!({"type": "array", "items": {"type": "string"}}),
            Ty::Object => json!({"type": "object"}),
            Ty::Int => json!({"type": "integer"}),
            Ty::ObjectList => json!({"type": "array", "items": {"type": "object"}}),
        }
    }
}

/// A field of a request body or a query parameter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Field {
    pub(crate) name: &'static str,
    pub(crate) ty: Ty,
    pub(crate) required: bool,
    pub(crate) about: &'static str,
}

const fn field(name: &'static str, ty: Ty, required: bool, about: &'static str) -> Field {
    Field {
        name,
        ty,
        required,
        about,
    }
}

/// One route: method, path (axum syntax, `:param`), summary, access, request and errors.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operation {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    pub(crate) summary: &'static str,
    pub(crate) access: Access,
    /// JSON body fields (unknown fields are 400); `None`: no body.
    pub(crate) body: Option<&'static [Field]>,
    /// Whether the body may be left out entirely.
    pub(crate) body_optional: bool,
    pub(crate) query: &'static [Field],
    /// Error statuses besides 401/403 (which follow from `access`) and 421.
    pub(crate) errors: &'static [u16],
}

const fn op(
    method: Method,
    path: &'static str,
    summary: &'static str,
    access: Access,
) -> Operation {
    Operation {
        method,
        path,
        summary,
        access,
        body: None,
        body_optional: false,
        query: &[],
        errors: &[],
    }
}

impl Operation {
    const fn body(mut self, fields: &'static [Field]) -> Operation {
        self.body = Some(fields);
        self
    }
    const fn optional_body(mut self, fields: &'static [Field]) -> Operation {
        self.body = Some(fields);
        self.body_optional = true;
        self
    }
    const fn query(mut self, fields: &'static [Field]) -> Operation {
        self.query = fields;
        self
    }
    const fn errors(mut self, errors: &'static [u16]) -> Operation {
        self.errors = errors;
        self
    }
}

const QUEUES_FIELD: &[Field] = &[field(
    "queues",
    Ty::StrList,
    false,
    "Queue names among the agent's configured queues; left out: all of them.",
)];

/// The body of the supervision routes.
const SUPERVISOR: &[Field] = &[field(
    "supervisor",
    Ty::Str,
    true,
    "The supervisor's user name (`users.supervisor = true`); their phone is called.",
)];

use Access::*;
use Method::*;

/// Every route of the API. Add an entry when you add a route to `http_api.rs`.
pub(crate) const OPERATIONS: &[Operation] = &[
    op(Get, "/healthz", "Liveness: `ok`.", Open),
    op(Get, "/metrics", "Prometheus metrics (text format).", Open),
    op(
        Get,
        "/api/v1/openapi.json",
        "This document (OpenAPI 3, generated from the code).",
        Open,
    ),
    op(
        Get,
        "/api/v1/registrations",
        "Registered contacts with their addresses.",
        Staff,
    ),
    op(
        Get,
        "/api/v1/trunks",
        "Carrier trunks: registration state, live and placed calls, failovers, calls refused by the trunk's limits (never credentials).",
        Staff,
    ),
    op(
        Get,
        "/api/v1/queues",
        "Queues: live state, counters and statistics (`stats`).",
        AnyRole,
    ),
    op(Get, "/api/v1/queues/:queue", "One queue.", AnyRole).errors(&[404]),
    op(
        Get,
        "/api/v1/agents",
        "Agents: state, pause reason, the queues each is logged into, time in state, the call it rings for or talks on (caller masked but for admins and the agent itself). An agent token sees only its own.",
        AnyRole,
    ),
    op(
        Get,
        "/api/v1/session",
        "Who the token is (name, role, agent), the pause reason codes, each queue's disposition codes, and whether the live event stream is served (the browser pages use it).",
        AnyRole,
    ),
    op(Get, "/api/v1/agents/:agent", "One agent.", StaffOrThatAgent).errors(&[404]),
    op(
        Get,
        "/api/v1/scripts/:name",
        "A conversation script (`scripts/<name>.md` beside the dialplans) as a document tree: headings, paragraphs, lists, emphasis; never HTML.",
        AnyRole,
    )
    .errors(&[400, 404, 422]),
    op(
        Post,
        "/api/v1/agents/:agent/pause",
        "Pause with a reason code from `[acd] pause_reasons`.",
        StaffOrThatAgent,
    )
    .body(&[field(
        "reason",
        Ty::Str,
        true,
        "A code from `[acd] pause_reasons`.",
    )])
    .errors(&[400, 404, 409]),
    op(
        Post,
        "/api/v1/agents/:agent/unpause",
        "Unpause (also cancels a pending pause).",
        StaffOrThatAgent,
    )
    .errors(&[404, 409]),
    op(
        Post,
        "/api/v1/agents/:agent/login",
        "Log into queues: the agent is offered their calls again.",
        StaffOrThatAgent,
    )
    .optional_body(QUEUES_FIELD)
    .errors(&[400, 404]),
    op(
        Post,
        "/api/v1/agents/:agent/logout",
        "Log out of queues: no more offers from them.",
        StaffOrThatAgent,
    )
    .optional_body(QUEUES_FIELD)
    .errors(&[400, 404]),
    op(
        Post,
        "/api/v1/agents/:agent/wrapup/end",
        "End the agent's wrap-up now.",
        StaffOrThatAgent,
    )
    .errors(&[404, 409]),
    op(
        Post,
        "/api/v1/agents/:agent/disposition",
        "Set a disposition code on the agent's last (or current) queue call.",
        StaffOrThatAgent,
    )
    .body(&[
        field(
            "code",
            Ty::Str,
            true,
            "One of the call's queue's `dispositions`.",
        ),
        field("notes", Ty::Str, false, "Free text, at most 500 characters."),
    ])
    .errors(&[400, 404, 409]),
    op(
        Get,
        "/api/v1/calls",
        "Live calls (an agent token: only its own).",
        AnyRole,
    ),
    op(Get, "/api/v1/calls/:call", "One live call.", AnyRole).errors(&[404]),
    op(
        Get,
        "/api/v1/calls/:call/history",
        "The last five earlier calls of this live call's number from the event log (when, queue, agent, outcome, the agent's disposition, duration). An agent token only for the call offered to or connected with it (403 for another live call).",
        AnyRole,
    )
    .errors(&[404, 500]),
    op(
        Post,
        "/api/v1/calls/:call/hangup",
        "Hang up both legs.",
        Staff,
    )
    .errors(&[404, 409, 503]),
    op(
        Post,
        "/api/v1/calls/:call/transfer",
        "Blind-transfer a bridged call to a queue or to an agent's phone, or move a caller waiting in a queue to another queue.",
        Staff,
    )
    .body(&[
        field("queue", Ty::Str, false, "The queue to transfer to."),
        field(
            "agent",
            Ty::Str,
            false,
            "An agent (user) whose phone rings; back to the call's queue if not answered.",
        ),
    ])
    .errors(&[400, 404, 409, 503]),
    op(
        Post,
        "/api/v1/calls/:call/listen",
        "Call a supervisor's phone and join it to the call, hearing both sides.",
        Staff,
    )
    .body(SUPERVISOR)
    .errors(&[400, 404, 409]),
    op(
        Post,
        "/api/v1/calls/:call/whisper",
        "Call a supervisor's phone and join it to the call, heard by the agent only.",
        Staff,
    )
    .body(SUPERVISOR)
    .errors(&[400, 404, 409]),
    op(
        Post,
        "/api/v1/calls/:call/barge",
        "Call a supervisor's phone and join it to the call, heard by both.",
        Staff,
    )
    .body(SUPERVISOR)
    .errors(&[400, 404, 409]),
    op(
        Post,
        "/api/v1/callbacks",
        "Ask for a web callback: agent first, then the customer through the trunk.",
        Staff,
    )
    .body(&[
        field("queue", Ty::Str, true, "The queue whose line it waits in."),
        field(
            "number",
            Ty::Str,
            true,
            "The customer's number, checked against `[dial_policy]` (403 `number_refused`).",
        ),
        field(
            "at",
            Ty::Str,
            false,
            "RFC 3339 time before which it is not placed (at most 90 days ahead).",
        ),
        field("name", Ty::Str, false, "The customer's name, at most 200 characters."),
        field("data", Ty::Object, false, "Free data for the agent."),
    ])
    .errors(&[400, 404, 409, 503]),
    op(
        Get,
        "/api/v1/callbacks",
        "Pending web callbacks, oldest first (numbers masked but for admins). An agent token gets those of the queues it is logged into.",
        AnyRole,
    )
    .query(&[field("queue", Ty::Str, false, "Only this queue's.")])
    .errors(&[400]),
    op(
        Post,
        "/api/v1/callbacks/:callback/start",
        "Place a pending web callback now (click-to-call): the agent's phone first, then the customer, as when its turn comes; its `at` and place in the line are skipped. An agent token starts it for itself; staff name the agent.",
        AnyRole,
    )
    .optional_body(&[field(
        "agent",
        Ty::Str,
        false,
        "The agent to take it (staff: required; an agent token: itself, if given).",
    )])
    .errors(&[400, 404, 409]),
    op(
        Delete,
        "/api/v1/callbacks/:callback",
        "Cancel a pending web callback.",
        Staff,
    )
    .errors(&[404, 409]),
    op(
        Post,
        "/api/v1/campaigns",
        "Define an outbound campaign with its rows (docs/outbound.md, \"Campaigns\"); 201 with its summary, 409 if the name is taken. Start it with `.../start`.",
        Staff,
    )
    .body(CAMPAIGN)
    .errors(&[400, 409, 503]),
    op(
        Get,
        "/api/v1/campaigns",
        "Every campaign (configured or defined over the API) with its state and progress.",
        Staff,
    )
    .errors(&[503]),
    op(
        Get,
        "/api/v1/campaigns/:name",
        "One campaign: state, progress and every row (status, attempts, next attempt; numbers masked).",
        Staff,
    )
    .errors(&[404, 503]),
    op(
        Post,
        "/api/v1/campaigns/:name/start",
        "Start or resume a campaign (409 once finished).",
        Staff,
    )
    .errors(&[404, 409, 503]),
    op(
        Post,
        "/api/v1/campaigns/:name/pause",
        "Pause a running campaign: no new calls; calls in progress finish (409 unless running).",
        Staff,
    )
    .errors(&[404, 409, 503]),
    op(
        Post,
        "/api/v1/campaigns/:name/stop",
        "Stop a campaign: no new calls until started again (409 once finished).",
        Staff,
    )
    .errors(&[404, 409, 503]),
    op(
        Get,
        "/api/v1/reports/:kind",
        "A historical report (`queues`, `agents`, `ivr`, `trunks`, `ewt`, `campaigns`) from the \
         event store.",
        Staff,
    )
    .query(&[
        field(
            "from",
            Ty::Str,
            true,
            "A date, RFC 3339 with an offset, or unix seconds.",
        ),
        field("to", Ty::Str, true, "Same forms as `from` (exclusive)."),
        field("interval", Ty::Str, false, "`15m`, `30m` (default), `1h`, `1d`."),
        field("format", Ty::Str, false, "`json` (default), `csv` or `table`."),
    ])
    .errors(&[400, 404, 429]),
    op(
        Get,
        "/api/v1/events",
        "WebSocket event stream: every committed event as a JSON text frame, filtered, with \
         replay after an event id (docs/api.md, \"Event stream\"). The token may also come as \
         the subprotocols `switchboard.v1`, `bearer.<token>`; an agent token gets only its \
         own agent's events.",
        AnyRole,
    )
    .query(&[
        field(
            "since",
            Ty::Str,
            false,
            "An event id: replay the stored events after it, then go live.",
        ),
        field("queue", Ty::Str, false, "Only this queue's events and calls."),
        field("agent", Ty::Str, false, "Only this agent's events and calls."),
        field(
            "kind",
            Ty::Str,
            false,
            "Comma-separated kind prefixes, e.g. `call.,agent.`.",
        ),
    ])
    .errors(&[400, 426, 503]),
    op(
        Get,
        "/demo/crm/balance",
        "The demo dialplan's stand-in CRM.",
        Open,
    )
    .query(&[field("phone", Ty::Str, true, "A phone number.")])
    .errors(&[400]),
];

/// The body of `POST /api/v1/campaigns` (the `[[campaigns]]` keys but `list`,
/// `do_not_call_file` and `autostart`).
const CAMPAIGN: &[Field] = &[
    field("name", Ty::Str, true, "1 to 64 letters, digits, - and _."),
    field(
        "kind",
        Ty::Str,
        true,
        "`notification`, `survey` or `progressive` (`predictive` is refused).",
    ),
    field(
        "rows",
        Ty::ObjectList,
        true,
        "The dial list: `{number, name?, timezone?, fields?}` each.",
    ),
    field(
        "window",
        Ty::Str,
        false,
        "Calling hours in the callee's time zone, default `09:00-20:00`.",
    ),
    field(
        "timezone",
        Ty::Str,
        false,
        "IANA zone for rows without one (default UTC).",
    ),
    field(
        "max_attempts",
        Ty::Int,
        false,
        "Attempts per row, 1 to 20 (default 3).",
    ),
    field(
        "retry_after_s",
        Ty::Int,
        false,
        "Wait before the first retry (default 600), doubling.",
    ),
    field(
        "retry_max_s",
        Ty::Int,
        false,
        "The longest wait between attempts (default 14400).",
    ),
    field("do_not_call", Ty::StrList, false, "Numbers never dialled."),
    field(
        "caller_id",
        Ty::Str,
        false,
        "The number presented (where the trunk lets the call choose).",
    ),
    field(
        "dialplan",
        Ty::Str,
        false,
        "Notification, survey: the dialplan answered calls run.",
    ),
    field(
        "questions",
        Ty::StrList,
        false,
        "Survey: the variables whose collected digits are answers.",
    ),
    field(
        "queue",
        Ty::Str,
        false,
        "Progressive: the queue whose free agents take the calls.",
    ),
    field(
        "script",
        Ty::Str,
        false,
        "Progressive: the script's name for the screen pop.",
    ),
    field(
        "max_concurrent",
        Ty::Int,
        false,
        "Calls at once (default 1).",
    ),
    field(
        "ring_timeout_s",
        Ty::Int,
        false,
        "How long a call may ring, 5 to 300 (default 30).",
    ),
    field(
        "machine",
        Ty::Str,
        false,
        "`retry` (default) or `message`: what an answering machine means.",
    ),
];

/// `/api/v1/agents/:agent` -> `/api/v1/agents/{agent}` and the parameter names.
fn openapi_path(path: &str) -> (String, Vec<&str>) {
    let mut params = Vec::new();
    let p = path
        .split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => {
                params.push(name);
                format!("{{{name}}}")
            }
            None => seg.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/");
    (p, params)
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad request: malformed JSON, an unknown field or a value not allowed.",
        401 => "No valid token.",
        403 => {
            "The token's role may not do this (a callback: the number policy refuses the number)."
        }
        404 => "No such agent, queue, call or kind.",
        409 => "The state does not allow it now.",
        421 => "The Host header is not allowed.",
        426 => "A WebSocket upgrade is required.",
        429 => "Busy with another request of this kind.",
        501 => "Not implemented yet.",
        503 => "Shutting down or busy.",
        _ => "Error.",
    }
}

fn operation_json(o: &Operation) -> Value {
    let (_, params) = openapi_path(o.path);
    let mut parameters: Vec<Value> = params
        .iter()
        .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    parameters.extend(o.query.iter().map(|f| {
        json!({"name": f.name, "in": "query", "required": f.required,
               "description": f.about, "schema": f.ty.schema()})
    }));
    let mut responses = Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "Done; see docs/api.md for the fields.",
               "content": {"application/json": {"schema": {"type": "object"}}}}),
    );
    let mut statuses: Vec<u16> = o.errors.to_vec();
    if o.access != Access::Open {
        statuses.extend([401, 421]);
    }
    if matches!(o.access, Access::Staff | Access::StaffOrThatAgent) {
        statuses.push(403);
    }
    if o.body.is_some() {
        statuses.extend([400, 413, 415]);
    }
    statuses.sort_unstable();
    statuses.dedup();
    for s in statuses {
        responses.insert(
            s.to_string(),
            json!({"description": reason(s),
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
    }
    let mut v = json!({
        "summary": o.summary,
        "description": o.access.words(),
        "operationId": operation_id(o),
        "parameters": parameters,
        "responses": responses,
        "security": if o.access == Access::Open { json!([]) } else { json!([{"bearer": []}]) },
    });
    if let Some(fields) = o.body {
        let properties: Map<String, Value> = fields
            .iter()
            .map(|f| {
                let mut s = f.ty.schema();
                s["description"] = json!(f.about);
                (f.name.to_string(), s)
            })
            .collect();
        let required: Vec<&str> = fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect();
        let mut schema = json!({"type": "object", "properties": properties,
                                "additionalProperties": false});
        if !required.is_empty() {
            schema["required"] = json!(required);
        }
        v["requestBody"] = json!({
            "required": !o.body_optional,
            "content": {"application/json": {"schema": schema}},
        });
    }
    v
}

/// `get_api_v1_agents_agent_pause`-style ids, unique per method and path.
fn operation_id(o: &Operation) -> String {
    let mut id = o.method.as_str().to_string();
    for c in o.path.chars() {
        id.push(if c.is_ascii_alphanumeric() { c } else { '_' });
    }
    while id.contains("__") {
        id = id.replace("__", "_");
    }
    id.trim_end_matches('_').to_string()
}

/// The whole OpenAPI 3 document.
pub(crate) fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let (p, _) = openapi_path(o.path);
        let entry = paths.entry(p).or_insert_with(|| json!({}));
        entry[o.method.as_str()] = operation_json(o);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "switchboard operations API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Queues, agents, calls, reports and agent control. Every error is \
                            JSON {\"error\", \"code\"}; unknown fields in a body are 400. \
                            See docs/api.md.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from [[http.tokens]] (roles admin, supervisor, agent)."},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "code"],
                    "properties": {
                        "error": {"type": "string", "description": "A sentence for people."},
                        "code": {"type": "string", "description": "A stable snake_case code for programs."},
                    },
                },
            },
        },
    })
}

/// `GET /api/v1/openapi.json`: open, like `/healthz` (it holds no data, only the API's shape).
pub(crate) async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(method, path)` of every `.route(...)` in the router's source, in axum syntax.
    fn registered() -> Vec<(String, String)> {
        let src = include_str!("http_api.rs");
        let mut out = Vec::new();
        let parts: Vec<&str> = src.split(".route(").skip(1).collect();
        for part in parts {
            let part = part.trim_start();
            let Some(rest) = part.strip_prefix('"') else {
                continue;
            };
            let Some((path, tail)) = rest.split_once('"') else {
                continue;
            };
            // The method router runs to the next `.route(`/`.fallback(` (split already cut
            // at the former).
            let tail = tail.split(".fallback(").next().unwrap_or(tail);
            for m in ["get", "post", "delete", "put", "patch"] {
                let called = tail.match_indices(&format!("{m}(")).any(|(i, _)| {
                    i == 0
                        || !tail.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && tail.as_bytes()[i - 1] != b'_'
                });
                if called {
                    out.push((m.to_string(), path.to_string()));
                }
            }
        }
        out
    }

    #[test]
    fn every_registered_route_is_in_the_document_and_nothing_else() {
        let routes = registered();
        assert!(
            routes.len() >= 15,
            "the router scan found too few routes: {routes:?}"
        );
        let doc = document();
        for (m, path) in &routes {
            let (p, _) = openapi_path(path);
            assert!(
                doc["paths"][&p][m].is_object(),
                "{} {path} is registered in http_api.rs but not described in \
                 http_openapi.rs OPERATIONS: add an entry there",
                m.to_uppercase()
            );
        }
        for o in OPERATIONS {
            assert!(
                routes
                    .iter()
                    .any(|(m, p)| m == o.method.as_str() && p == o.path),
                "{} {} is described in OPERATIONS but not registered in http_api.rs",
                o.method.as_str(),
                o.path
            );
        }
    }

    #[test]
    fn the_document_is_openapi_3_json_with_bodies_and_errors() {
        let text = serde_json::to_string(&document()).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let pause = &doc["paths"]["/api/v1/agents/{agent}/pause"]["post"];
        assert_eq!(pause["parameters"][0]["name"], "agent");
        assert_eq!(pause["parameters"][0]["in"], "path");
        let schema = &pause["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(schema["required"], json!(["reason"]));
        assert_eq!(schema["additionalProperties"], false);
        assert!(pause["responses"]["403"].is_object());
        assert_eq!(pause["security"], json!([{"bearer": []}]));
        let login = &doc["paths"]["/api/v1/agents/{agent}/login"]["post"];
        assert_eq!(login["requestBody"]["required"], false);
        let open = &doc["paths"]["/api/v1/openapi.json"]["get"];
        assert_eq!(open["security"], json!([]));
        let report = &doc["paths"]["/api/v1/reports/{kind}"]["get"];
        assert_eq!(report["parameters"].as_array().map(Vec::len), Some(5));
        // Operation ids are unique.
        let mut ids: Vec<String> = OPERATIONS.iter().map(operation_id).collect();
        ids.sort();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
