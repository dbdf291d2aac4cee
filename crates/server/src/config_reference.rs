//! README's configuration reference checked against the code (tests only).
//!
//! The reference ("### Configuration reference" in README.md) is a caption per section
//! (`` `[sip]` ``, `` `[[queues]]` ``) and a table whose first column names the keys. The
//! keys the code accepts are not listed anywhere by hand: every config struct denies
//! unknown fields, so a probe key in a section makes serde answer with the list of the
//! section's fields (`unknown field ..., expected one of ...`). The same probe inside each
//! key finds the nested structs (`[[sip.trunk_auth]]`, a queue's `overflow`), whose keys
//! must appear in their parent key's row. The defaults are checked by loading: a config
//! that sets a key to the value the README gives as its default must equal the one that
//! leaves it as it is (scalar sections: the embedded default; array sections: an entry
//! without the key).

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Config, DEFAULT_TOML};

const README: &str = include_str!("../../../README.md");
const PROBE: &str = "zz_not_a_config_key";

/// One section of the reference: its keys in order, each with its row.
#[derive(Debug, Default)]
struct Section {
    array: bool,
    rows: Vec<Row>,
}

#[derive(Debug)]
struct Row {
    keys: Vec<String>,
    default: String,
    meaning: String,
}

/// README's reference: section name (`sip`, `queues`) to its rows.
fn documented() -> BTreeMap<String, Section> {
    let start = README
        .find("### Configuration reference")
        .expect("README has a configuration reference");
    let end = README[start..]
        .find("\n## ")
        .map_or(README.len(), |e| start + e);
    let mut out: BTreeMap<String, Section> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut previous = "";
    for line in README[start..end].lines() {
        let paragraph_start = previous.trim().is_empty();
        previous = line;
        // A caption opens a paragraph; prose that mentions a section mid-paragraph is not one.
        if let Some(rest) = line.strip_prefix("`[").filter(|_| paragraph_start) {
            let array = rest.starts_with('[');
            let name = rest.trim_start_matches('[');
            let name = &name[..name.find(']').expect("section caption closes")];
            current = Some(name.to_string());
            out.entry(name.to_string()).or_default().array = array;
            continue;
        }
        let Some(cells) = line.strip_prefix("| ") else {
            continue;
        };
        let cells: Vec<&str> = cells.split(" | ").collect();
        if cells.len() < 3 || !cells[0].starts_with('`') {
            continue;
        }
        let section = current
            .clone()
            .expect("a table row after a section caption");
        let keys = backticked(cells[0])
            .into_iter()
            .map(|k| {
                let k = k.trim_matches(|c| c == '[' || c == ']');
                k.rsplit('.').next().unwrap_or(k).to_string()
            })
            .collect();
        out.entry(section).or_default().rows.push(Row {
            keys,
            default: cells[1].to_string(),
            meaning: cells[2..].join(" | "),
        });
    }
    out.retain(|_, s| !s.rows.is_empty());
    out
}

/// The `` `...` `` spans of a cell.
fn backticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn default_value() -> toml::Value {
    toml::from_str(DEFAULT_TOML).expect("embedded default parses")
}

/// A minimal entry of each array section the default config leaves empty.
fn minimal_entry(section: &str) -> toml::Value {
    let text = match section {
        "trunks" => "name = \"t\"\naddress = \"127.0.0.1:5090\"\n",
        "campaigns" => {
            "name = \"c\"\nkind = \"notification\"\ndialplan = \"main\"\n\
             rows = [{ number = \"+74950000001\" }]\n"
        }
        _ => return toml::Value::Table(Default::default()),
    };
    toml::from_str(text).expect("minimal entry parses")
}

/// The default config with `section` holding exactly one entry (the default's first, else
/// a minimal one) when it is an array of tables.
fn with_one_entry(section: &str) -> toml::Value {
    let mut v = default_value();
    let root = v.as_table_mut().expect("root table");
    let first = root
        .get(section)
        .and_then(|s| s.as_array())
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(|| minimal_entry(section));
    root.insert(section.into(), toml::Value::Array(vec![first]));
    v
}

/// The table `path` (`["sip"]`, `["queues", "0"]`) inside `v`.
fn table_at<'a>(v: &'a mut toml::Value, path: &[&str]) -> &'a mut toml::Table {
    let mut v = v;
    for p in path {
        v = match v {
            toml::Value::Array(a) => &mut a[p.parse::<usize>().expect("index")],
            toml::Value::Table(t) => t
                .entry(p.to_string())
                .or_insert_with(|| toml::Value::Table(Default::default())),
            other => panic!("{p}: not a table: {other}"),
        };
    }
    v.as_table_mut().expect("a table")
}

fn load(v: toml::Value) -> Result<Config, String> {
    v.try_into::<Config>().map_err(|e| e.to_string())
}

/// The fields serde lists when `probe` (a config with an unknown key somewhere) fails, or
/// `None` when the probe did not reach a struct that denies unknown fields.
fn fields_named_by(probe: toml::Value) -> Option<BTreeSet<String>> {
    let err = load(probe).err()?;
    let at = err.find(&format!("unknown field `{PROBE}`, expected"))?;
    let expected = &err[at..];
    let expected = &expected[expected.find("expected").unwrap_or(0)..];
    let expected = expected.lines().next().unwrap_or("");
    Some(backticked(expected).into_iter().map(String::from).collect())
}

fn probe_table() -> toml::Value {
    let mut t = toml::Table::new();
    t.insert(PROBE.into(), toml::Value::Integer(1));
    toml::Value::Table(t)
}

/// The code's keys of the section (or nested struct) at `path`.
fn code_keys(base: &toml::Value, path: &[&str]) -> BTreeSet<String> {
    let mut v = base.clone();
    table_at(&mut v, path).insert(PROBE.into(), toml::Value::Integer(1));
    fields_named_by(v).unwrap_or_else(|| panic!("{path:?} does not deny unknown fields"))
}

/// The fields of the struct under `key` of the table at `path`, if it is one (a table, or
/// an array of tables).
fn nested_keys(base: &toml::Value, path: &[&str], key: &str) -> Option<BTreeSet<String>> {
    for value in [probe_table(), toml::Value::Array(vec![probe_table()])] {
        let mut v = base.clone();
        table_at(&mut v, path).insert(key.into(), value);
        if let Some(f) = fields_named_by(v) {
            return Some(f);
        }
    }
    None
}

#[test]
fn every_config_key_is_documented_in_the_readme_and_every_documented_key_exists() {
    let doc = documented();
    let root_keys = fields_named_by({
        let mut v = default_value();
        v.as_table_mut()
            .expect("root")
            .insert(PROBE.into(), toml::Value::Integer(1));
        v
    })
    .expect("the root denies unknown fields");
    let documented_sections: BTreeSet<String> = doc.keys().cloned().collect();
    assert_eq!(
        documented_sections, root_keys,
        "README's reference sections vs the config's top-level keys"
    );
    let mut problems = Vec::new();
    let mut nested = Vec::new();
    for (name, section) in &doc {
        let base = if section.array {
            with_one_entry(name)
        } else {
            default_value()
        };
        let path: Vec<&str> = if section.array {
            vec![name.as_str(), "0"]
        } else {
            vec![name.as_str()]
        };
        let code = code_keys(&base, &path);
        let documented: BTreeSet<String> =
            section.rows.iter().flat_map(|r| r.keys.clone()).collect();
        for k in code.difference(&documented) {
            problems.push(format!("[{name}] {k}: accepted by the code, not in README"));
        }
        for k in documented.difference(&code) {
            problems.push(format!("[{name}] {k}: in README, not accepted by the code"));
        }
        // Nested structs: their keys are described in the parent key's row.
        for row in &section.rows {
            for key in row.keys.iter().filter(|k| code.contains(*k)) {
                let Some(inner) = nested_keys(&base, &path, key) else {
                    continue;
                };
                nested.push(format!("{name}.{key}"));
                let text = format!("{} {}", row.default, row.meaning);
                for k in inner {
                    let named = [
                        format!("`{k}`"),
                        format!("{k} ="),
                        format!("{{{k},"),
                        format!(" {k},"),
                        format!(" {k}}}"),
                    ];
                    if !named.iter().any(|n| text.contains(n.as_str())) {
                        problems.push(format!(
                            "[{name}] {key}.{k}: accepted by the code, not in README's row"
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The probe finds the nested structs (else the check above checked nothing).
    for n in [
        "sip.trunk_auth",
        "http.tokens",
        "queues.overflow",
        "queues.skill_tiers",
    ] {
        assert!(nested.iter().any(|x| x == n), "{n} not found in {nested:?}");
    }
}

/// Keys whose README default is applied after loading (the struct holds `None`), where
/// the default is resolved: campaigns' `timezone` (`definition.rs`, `None => Tz::UTC`) and
/// `abandon_cap` (`campaign/mod.rs`, `unwrap_or(0.03)`).
const RESOLVED_AFTER_LOAD: [(&str, &str); 2] =
    [("campaigns", "timezone"), ("campaigns", "abandon_cap")];

#[test]
fn the_readme_defaults_are_the_loaded_defaults() {
    let doc = documented();
    let mut problems = Vec::new();
    let mut checked = 0;
    for (name, section) in &doc {
        for row in &section.rows {
            let literals = backticked(&row.default);
            // Only cells that are nothing but TOML values, one per key.
            let bare: String = row.default.split('`').step_by(2).collect();
            if literals.len() != row.keys.len() || !bare.chars().all(|c| c == ',' || c == ' ') {
                continue;
            }
            for (key, literal) in row.keys.iter().zip(literals) {
                if RESOLVED_AFTER_LOAD.contains(&(name.as_str(), key.as_str())) {
                    continue;
                }
                let Ok(value) = toml::from_str::<toml::Table>(&format!("v = {literal}")) else {
                    continue;
                };
                let value = value["v"].clone();
                let (base, path): (toml::Value, Vec<&str>) = if section.array {
                    let mut b = with_one_entry(name);
                    // "default if omitted": compare with an entry that omits the key.
                    table_at(&mut b, &[name.as_str(), "0"]).remove(key.as_str());
                    (b, vec![name.as_str(), "0"])
                } else {
                    (default_value(), vec![name.as_str()])
                };
                let mut set = base.clone();
                table_at(&mut set, &path).insert(key.clone(), value);
                let (Ok(want), Ok(got)) = (load(base), load(set)) else {
                    problems.push(format!("[{name}] {key} = {literal}: does not load"));
                    continue;
                };
                checked += 1;
                if format!("{want:?}") != format!("{got:?}") {
                    problems.push(format!(
                        "[{name}] {key}: README's default {literal} is not the loaded default"
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} defaults were checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The ```toml blocks of `doc` under the heading `heading` (up to the next heading).
fn toml_blocks<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("no heading {heading:?}"));
    let body = &doc[start + heading.len()..];
    let body = &body[..body.find("\n## ").unwrap_or(body.len())];
    body.split("```toml\n")
        .skip(1)
        .filter_map(|b| b.split_once("\n```").map(|(toml, _)| toml))
        .collect()
}

#[test]
fn docs_acd_md_queue_configuration_example_loads() {
    let doc = include_str!("../../../docs/acd.md");
    let blocks = toml_blocks(doc, "## Queue configuration");
    assert_eq!(blocks.len(), 1);
    let dir = std::env::temp_dir().join(format!("sb-acd-doc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("acd-example.toml");
    // As the doc says: the demo's agent tokens name the demo users, which the example's
    // `[[users]]` replace, so a file with it replaces the tokens too.
    std::fs::write(&path, format!("[http]\ntokens = []\n\n{}", blocks[0])).unwrap();
    let loaded = Config::load(Some(&path));
    std::fs::remove_dir_all(&dir).ok();
    let cfg = loaded.unwrap_or_else(|e| panic!("docs/acd.md's example: {e:#}"));
    assert_eq!(cfg.queues.len(), 2);
}
