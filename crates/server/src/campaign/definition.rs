//! A campaign's definition: the same fields in `[[campaigns]]` and in the JSON of
//! `POST /api/v1/campaigns`, checked once ([`CampaignDef::compile`]) into the core's plan
//! and rows. Errors name the campaign and the key (`campaigns[orders].window: ...`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use switchboard_campaign::{DoNotCall, Plan, Row, Window};

/// Most rows in one campaign.
pub(crate) const MAX_ROWS: usize = 100_000;
/// Most custom fields per row, and the longest value.
const MAX_FIELDS: usize = 32;
const MAX_FIELD_LEN: usize = 500;

/// What a campaign's calls do once answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CampaignKind {
    /// Run a dialplan with the row's fields ("your order 123 is ready").
    Notification,
    /// Run a dialplan that collects answers (`survey.answer` events).
    Survey,
    /// One call per free agent of the queue; the answered callee goes to an agent.
    Progressive,
    /// Paced dialling (`PredictivePacer`) under an abandon-rate cap, with answering-machine
    /// detection; the answered callee goes to an agent, or is abandoned when none is free.
    Predictive,
}

impl CampaignKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CampaignKind::Notification => "notification",
            CampaignKind::Survey => "survey",
            CampaignKind::Progressive => "progressive",
            CampaignKind::Predictive => "predictive",
        }
    }
}

/// What to do when an answering machine picks up (agent campaigns with detection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MachineAction {
    /// Hang up and try again later.
    #[default]
    Retry,
    /// Hang up and count the row done.
    Hangup,
    /// Run the campaign's `dialplan` (the message) and count the row done.
    Message,
    /// Offer the call to an agent as if a person answered.
    Agent,
}

/// One row as written in JSON or TOML.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RowDef {
    pub(crate) number: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timezone: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) fields: BTreeMap<String, String>,
}

fn default_window() -> String {
    "09:00-20:00".into()
}
fn default_attempts() -> u32 {
    3
}
fn default_retry_after() -> u64 {
    600
}
fn default_retry_max() -> u64 {
    4 * 3600
}
fn default_one() -> u32 {
    1
}
fn default_ring() -> u64 {
    30
}

/// `[[campaigns]]` / the body of `POST /api/v1/campaigns`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CampaignDef {
    pub(crate) name: String,
    pub(crate) kind: CampaignKind,
    /// A CSV dial list (header `number,name,timezone,<custom fields>`), config only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) list: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rows: Vec<RowDef>,
    #[serde(default = "default_window")]
    pub(crate) window: String,
    /// For rows without a time zone (IANA name; default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) timezone: Option<String>,
    #[serde(default = "default_attempts")]
    pub(crate) max_attempts: u32,
    #[serde(default = "default_retry_after")]
    pub(crate) retry_after_s: u64,
    #[serde(default = "default_retry_max")]
    pub(crate) retry_max_s: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) do_not_call: Vec<String>,
    /// One number a line (`#` comments), config only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) do_not_call_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) caller_id: Option<String>,
    /// Notification and survey: the dialplan (file name without `.ivr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dialplan: Option<String>,
    /// Survey: the variables whose collected values are answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) questions: Vec<String>,
    /// Agent campaigns: the queue whose free agents take the calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) queue: Option<String>,
    /// Agent campaigns: the script's name, shown in the screen pop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) script: Option<String>,
    #[serde(default = "default_one")]
    pub(crate) max_concurrent: u32,
    #[serde(default = "default_ring")]
    pub(crate) ring_timeout_s: u64,
    #[serde(default)]
    pub(crate) machine: MachineAction,
    /// Predictive: the most abandoned calls per answered call over any 24 h (default 3 %).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) abandon_cap: Option<f64>,
    /// Predictive: the dialplan a person hears when no agent is free for them (the
    /// regulators' information message: who called and how to call back), played at once,
    /// then the call ends; without it the abandoned call is hung up silently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) abandon_dialplan: Option<String>,
    /// The `[[tenants]]` client the campaign calls for: its events carry the tenant, a
    /// token of another tenant neither sees nor controls it, and its answered calls go to
    /// agents serving the tenant. Over the API a tenant's token may only create its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<String>,
    /// Config campaigns: start when the server starts (unless stopped or paused since).
    #[serde(default)]
    pub(crate) autostart: bool,
}

/// A checked definition.
pub(crate) struct Compiled {
    pub(crate) plan: Plan,
    pub(crate) rows: Vec<Row>,
    pub(crate) dnc: DoNotCall,
}

impl CampaignDef {
    /// Checks `tenant` against the configuration: a configured tenant, and a queue that is
    /// the tenant's own or belongs to no tenant.
    pub(crate) fn check_tenant(&self, cfg: &crate::config::Config) -> anyhow::Result<()> {
        let Some(t) = &self.tenant else { return Ok(()) };
        if !cfg.tenants.iter().any(|c| &c.name == t) {
            bail!(
                "campaigns[{}].tenant: no tenant {t:?} in [[tenants]]",
                self.name
            );
        }
        let queue_tenant = self
            .queue
            .as_deref()
            .and_then(|q| cfg.queues.iter().find(|c| c.name == q))
            .and_then(|q| q.tenant.as_deref());
        if let Some(other) = queue_tenant.filter(|o| o != t) {
            bail!(
                "campaigns[{}].tenant: {t:?}, but its queue {:?} is {other:?}'s",
                self.name,
                self.queue.as_deref().unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Checks every key and reads the list files (paths relative to the working
    /// directory, like the config's other paths). `queues`: the configured queue names.
    pub(crate) fn compile(&self, queues: &[String]) -> anyhow::Result<Compiled> {
        self.check(queues)
            .with_context(|| format!("campaigns[{}]", self.name))
    }

    fn check(&self, queues: &[String]) -> anyhow::Result<Compiled> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            bail!("name: 1 to 64 letters, digits, - and _");
        }
        match self.kind {
            CampaignKind::Predictive
                if self.machine == MachineAction::Message
                    && self.dialplan.as_deref().is_none_or(str::is_empty) =>
            {
                bail!("dialplan: machine = \"message\" plays the campaign's dialplan to a machine; name it")
            }
            CampaignKind::Notification | CampaignKind::Survey => {
                if self.dialplan.as_deref().is_none_or(str::is_empty) {
                    bail!(
                        "dialplan: a {} campaign needs the dialplan its answered calls run",
                        self.kind.as_str()
                    );
                }
            }
            CampaignKind::Progressive | CampaignKind::Predictive => {}
        }
        if matches!(
            self.kind,
            CampaignKind::Progressive | CampaignKind::Predictive
        ) {
            match &self.queue {
                Some(q) if queues.contains(q) => {}
                Some(q) => bail!("queue: no queue {q:?} in [[queues]]"),
                None => bail!(
                    "queue: a {} campaign needs the queue whose agents take its calls",
                    self.kind.as_str()
                ),
            }
        }
        if let Some(cap) = self.abandon_cap {
            if self.kind != CampaignKind::Predictive {
                bail!("abandon_cap: only a predictive campaign has one");
            }
            if !(cap > 0.0 && cap <= 0.2) {
                bail!("abandon_cap: a share in (0, 0.2], e.g. 0.03 for 3 %");
            }
        }
        if let Some(d) = &self.abandon_dialplan {
            if self.kind != CampaignKind::Predictive {
                bail!("abandon_dialplan: only a predictive campaign abandons calls");
            }
            if d.is_empty() {
                bail!("abandon_dialplan: name the dialplan (file name without .ivr)");
            }
        }
        if self.kind == CampaignKind::Survey && self.questions.is_empty() {
            bail!("questions: a survey names the dialplan variables that collect its answers");
        }
        let window: Window = self.window.parse().context("window")?;
        let timezone = match &self.timezone {
            Some(t) => parse_tz(t).context("timezone")?,
            None => Tz::UTC,
        };
        if self.max_attempts == 0 || self.max_attempts > 20 {
            bail!("max_attempts: 1 to 20");
        }
        if self.retry_after_s == 0 || self.retry_max_s < self.retry_after_s {
            bail!("retry_after_s: at least 1, and retry_max_s at least retry_after_s");
        }
        if self.retry_max_s > 7 * 86_400 {
            bail!("retry_max_s: at most a week (604800)");
        }
        if self.max_concurrent == 0 || self.max_concurrent > 1000 {
            bail!("max_concurrent: 1 to 1000");
        }
        if !(5..=300).contains(&self.ring_timeout_s) {
            bail!("ring_timeout_s: 5 to 300");
        }
        if self.caller_id.as_deref().is_some_and(|c| {
            c.is_empty()
                || !c
                    .trim_start_matches('+')
                    .bytes()
                    .all(|b| b.is_ascii_digit())
        }) {
            bail!("caller_id: digits with an optional leading +");
        }
        let mut rows = Vec::new();
        if let Some(p) = &self.list {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("list: reading {}", p.display()))?;
            rows.extend(parse_csv(&text).with_context(|| format!("list: {}", p.display()))?);
        }
        rows.extend(self.rows.iter().cloned());
        if rows.is_empty() {
            bail!("the dial list is empty (list = \"file.csv\" or rows)");
        }
        if rows.len() > MAX_ROWS {
            bail!("the dial list has {} rows; at most {MAX_ROWS}", rows.len());
        }
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.into_iter().enumerate() {
            let at = || format!("row {}", i + 1);
            if r.number.trim().is_empty() {
                bail!("{}: no number", at());
            }
            if r.fields.len() > MAX_FIELDS
                || r.fields
                    .iter()
                    .any(|(k, v)| k.is_empty() || k.len() > 64 || v.len() > MAX_FIELD_LEN)
            {
                bail!("{}: at most {MAX_FIELDS} fields, names of 1 to 64 characters, values up to {MAX_FIELD_LEN}", at());
            }
            let tz = match r.timezone.as_deref().filter(|t| !t.is_empty()) {
                Some(t) => Some(parse_tz(t).with_context(at)?),
                None => None,
            };
            out.push(Row {
                number: r.number.trim().to_string(),
                name: r.name,
                timezone: tz,
                fields: r.fields,
            });
        }
        let mut dnc: Vec<String> = self.do_not_call.clone();
        if let Some(p) = &self.do_not_call_file {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("do_not_call_file: reading {}", p.display()))?;
            dnc.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
                    .filter(|l| !l.is_empty()),
            );
        }
        Ok(Compiled {
            plan: Plan {
                window,
                timezone,
                max_attempts: self.max_attempts,
                retry_after: chrono::Duration::seconds(self.retry_after_s as i64),
                retry_max: chrono::Duration::seconds(self.retry_max_s as i64),
                max_concurrent: self.max_concurrent,
                retry_machines: self.machine == MachineAction::Retry,
            },
            rows: out,
            dnc: DoNotCall::new(dnc.iter().map(String::as_str)),
        })
    }
}

fn parse_tz(t: &str) -> anyhow::Result<Tz> {
    t.parse::<Tz>().map_err(|_| {
        anyhow::anyhow!("unknown time zone {t:?} (an IANA name such as Europe/Moscow)")
    })
}

/// A dial list in CSV: a header naming the columns (`number` required; `name`,
/// `timezone`; any other column is a custom field), `"quoted, values"` with `""` for a
/// quote. Errors say the line.
pub(crate) fn parse_csv(text: &str) -> anyhow::Result<Vec<RowDef>> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
    let Some((_, header)) = lines.next() else {
        bail!("empty file");
    };
    let header = split_csv_line(header).context("line 1")?;
    let col = |n: &str| header.iter().position(|h| h.trim().eq_ignore_ascii_case(n));
    let Some(number) = col("number") else {
        bail!("line 1: the header has no `number` column");
    };
    let (name, tz) = (col("name"), col("timezone"));
    let mut rows = Vec::new();
    for (i, line) in lines {
        let cells = split_csv_line(line).with_context(|| format!("line {}", i + 1))?;
        if cells.len() != header.len() {
            bail!(
                "line {}: {} values for {} columns",
                i + 1,
                cells.len(),
                header.len()
            );
        }
        let get = |c: Option<usize>| c.and_then(|c| cells.get(c)).cloned().unwrap_or_default();
        let fields = header
            .iter()
            .enumerate()
            .filter(|(c, _)| Some(*c) != Some(number) && Some(*c) != name && Some(*c) != tz)
            .map(|(c, h)| {
                (
                    h.trim().to_string(),
                    cells.get(c).cloned().unwrap_or_default(),
                )
            })
            .collect();
        rows.push(RowDef {
            number: get(Some(number)),
            name: get(name),
            timezone: Some(get(tz)).filter(|t| !t.is_empty()),
            fields,
        });
        if rows.len() > MAX_ROWS {
            bail!("more than {MAX_ROWS} rows");
        }
    }
    Ok(rows)
}

fn split_csv_line(line: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (false, ',') => out.push(std::mem::take(&mut cur).trim().to_string()),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        bail!("a quoted value is not closed");
    }
    out.push(cur.trim().to_string());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: CampaignKind) -> CampaignDef {
        serde_json::from_value(serde_json::json!({
            "name": "orders", "kind": kind.as_str(), "dialplan": "notify",
            "rows": [{"number": "+74951112233", "name": "Ann", "fields": {"order": "123"}}]
        }))
        .unwrap()
    }

    #[test]
    fn csv_lists_have_a_header_and_custom_fields() {
        let rows = parse_csv(
            "number,name,timezone,order\n+7495111,\"Smith, Ann\",Europe/Moscow,123\n\n+7495222,Bob,,\"say \"\"hi\"\"\"\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "Smith, Ann");
        assert_eq!(rows[0].timezone.as_deref(), Some("Europe/Moscow"));
        assert_eq!(rows[1].fields["order"], "say \"hi\"");
        assert_eq!(rows[1].timezone, None);
        let e = format!("{:#}", parse_csv("name\nx\n").unwrap_err());
        assert!(e.contains("no `number` column"), "{e}");
        let e = format!("{:#}", parse_csv("number,name\n1,2,3\n").unwrap_err());
        assert!(e.contains("line 2"), "{e}");
        assert!(parse_csv("number\n\"open\n").is_err());
    }

    #[test]
    fn errors_name_the_campaign_and_the_key() {
        let ok = def(CampaignKind::Notification).compile(&[]).unwrap();
        assert_eq!(ok.rows[0].fields["order"], "123");
        let mut d = def(CampaignKind::Notification);
        d.window = "9-20".into();
        let e = format!("{:#}", d.compile(&[]).err().unwrap());
        assert!(e.starts_with("campaigns[orders]: window"), "{e}");
        let e = format!(
            "{:#}",
            def(CampaignKind::Predictive).compile(&[]).err().unwrap()
        );
        assert!(e.contains("queue: a predictive campaign"), "{e}");
        let mut p = def(CampaignKind::Predictive);
        p.queue = Some("sales".into());
        assert!(p.compile(&["sales".into()]).is_ok());
        p.abandon_cap = Some(0.5);
        let e = format!("{:#}", p.compile(&["sales".into()]).err().unwrap());
        assert!(e.contains("abandon_cap"), "{e}");
        p.abandon_cap = Some(0.03);
        p.machine = MachineAction::Message;
        p.dialplan = None;
        let e = format!("{:#}", p.compile(&["sales".into()]).err().unwrap());
        assert!(e.contains("machine = \"message\""), "{e}");
        let e = format!(
            "{:#}",
            def(CampaignKind::Progressive).compile(&[]).err().unwrap()
        );
        assert!(e.contains("queue"), "{e}");
        let e = format!(
            "{:#}",
            def(CampaignKind::Survey).compile(&[]).err().unwrap()
        );
        assert!(e.contains("questions"), "{e}");
        let mut d = def(CampaignKind::Notification);
        d.rows[0].timezone = Some("Mars/Olympus".into());
        let e = format!("{:#}", d.compile(&[]).err().unwrap());
        assert!(e.contains("row 1") && e.contains("Mars/Olympus"), "{e}");
        let unknown = serde_json::from_value::<CampaignDef>(serde_json::json!({
            "name": "x", "kind": "notification", "colour": "red"
        }));
        assert!(unknown.is_err());
    }
}
