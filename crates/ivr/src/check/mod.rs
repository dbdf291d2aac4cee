//! The checker: finds mistakes before a caller hears them, and lowers checked files to a
//! [`Program`].
//!
//! It reports unknown prompts, undefined blocks, subs and variables, unreachable code, menu
//! choices without a branch, unknown queues, type errors, include cycles, bad regexes and time
//! zones, and external transfers the dialplan isn't allowed to make.

#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

mod context;
mod dialplan;
mod includes;
mod lower;
mod references;
mod statements;
mod types;
mod unit;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use crate::diag::Diagnostic;
use crate::program::*;
use crate::source::SourceMap;

pub use context::{CheckContext, PromptCatalog};
pub(crate) use includes::normalize_path;
pub use types::builtin_type;

use dialplan::build_unit;
use includes::IncludeReader;

/// Output of [`check_files`].
#[derive(Debug, Clone)]
pub struct Checked {
    /// All files read, for rendering.
    pub sources: SourceMap,
    /// Errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
    /// The program, if there were no errors.
    pub program: Option<Program>,
}

impl Checked {
    /// Did any error occur?
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
    /// Render all diagnostics.
    pub fn render(&self) -> String {
        crate::diag::render_all(&self.diagnostics, &self.sources)
    }
}

/// Check a set of in-memory files. `files` maps file names (paths with `/`) to text and
/// must contain everything that may be included; `mains` are the top-level dialplans, each
/// becoming one [`Dialplan`] (in the order given).
pub fn check_files(
    files: &BTreeMap<String, String>,
    mains: &[String],
    ctx: &CheckContext,
) -> Checked {
    let mut st = IncludeReader {
        files,
        sources: SourceMap::new(),
        parsed: HashMap::new(),
        diags: Vec::new(),
    };
    let mut dialplans = Vec::new();
    for main in mains {
        let before = st.diags.iter().filter(|d| d.is_error()).count();
        let mut items = Vec::new();
        let mut stack = Vec::new();
        st.gather(main, None, &mut stack, &mut items);
        let name = Path::new(main)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(main)
            .to_string();
        let unit = build_unit(&name, &items, ctx, &st.sources, &mut st.diags);
        let after = st.diags.iter().filter(|d| d.is_error()).count();
        if after == before {
            if let Some(u) = unit {
                dialplans.push(u);
            }
        }
    }
    // A mistake in a file included by several dialplans is reported once.
    let mut seen = HashSet::new();
    st.diags
        .retain(|d| seen.insert((d.message.clone(), d.span.map(|s| (s.file, s.start, s.end)))));
    let has_errors = st.diags.iter().any(Diagnostic::is_error);
    let sources = st.sources;
    let program = if has_errors {
        None
    } else {
        Some(Program {
            dialplans,
            sources: sources.clone(),
        })
    };
    Checked {
        sources,
        diagnostics: st.diags,
        program,
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ast::Lang;

    fn check(src: &str) -> Checked {
        let mut files = BTreeMap::new();
        files.insert("t.ivr".to_string(), src.to_string());
        let mut prompts = PromptCatalog::with_vocabulary();
        for l in Lang::ALL {
            prompts.insert(l, "welcome");
            prompts.insert(l, "main-menu");
        }
        check_files(
            &files,
            &["t.ivr".to_string()],
            &CheckContext::new(["sales", "support", "operator"], prompts),
        )
    }

    fn messages(c: &Checked) -> Vec<String> {
        c.diagnostics.iter().map(|d| d.message.clone()).collect()
    }

    #[test]
    fn clean_dialplan_lowers() {
        let c = check(
            r#"entry to "100" goto main
            block main { play "welcome" menu "main-menu" { 1 => queue sales default => hangup } }"#,
        );
        assert!(c.diagnostics.is_empty(), "{}", c.render());
        let p = c.program.unwrap();
        assert_eq!(p.dialplans.len(), 1);
        assert!(p.route("100", "x").is_some());
        assert!(p.route("101", "x").is_none());
    }

    #[test]
    fn finds_the_classic_mistakes() {
        let c = check(
            r#"entry to "100" goto mian
            block main {
                play "welcom"
                menu "main-menu" { 1 => {} 2 => goto nowhere }
                set n = 1
                set n = "x"
                if n { hangup }
                queue slaes
                say number who
                goto main
                hangup
            }"#,
        );
        let m = messages(&c);
        let has = |s: &str| m.iter().any(|x| x.contains(s));
        assert!(has("no block named `mian`"), "{m:?}");
        assert!(has("unknown prompt \"welcom\""));
        assert!(has("menu choice `1` has no branch"));
        assert!(has("no block named `nowhere`"));
        assert!(has("`n` holds a number"));
        assert!(has("unknown queue `slaes`"));
        assert!(has("unknown variable `who`"));
        assert!(has("this line can never run"));
        assert!(c.program.is_none());
        let text = c.render();
        assert!(text.contains("help: did you mean `welcome`?"), "{text}");
        assert!(text.contains("help: did you mean `sales`?"), "{text}");
        assert!(text.contains("--> t.ivr:3:22"), "{text}");
    }

    #[test]
    fn include_cycles_are_reported() {
        let mut files = BTreeMap::new();
        files.insert(
            "a.ivr".to_string(),
            "include \"lib/b.ivr\"\nentry to \"1\" goto m\nblock m { hangup }".to_string(),
        );
        files.insert("lib/b.ivr".to_string(), "include \"../a.ivr\"".to_string());
        let c = check_files(&files, &["a.ivr".to_string()], &CheckContext::default());
        assert!(c.has_errors());
        assert!(
            c.render().contains("a.ivr → lib/b.ivr → a.ivr"),
            "{}",
            c.render()
        );
    }

    #[test]
    fn external_transfer_needs_permission() {
        let c = check("entry to \"1\" goto m\nblock m { transfer external \"+74950000000\" }");
        assert!(messages(&c).iter().any(|m| m.contains("external")));
        let c = check(
            "allow external\nentry to \"1\" goto m\nblock m { transfer external \"+74950000000\" }",
        );
        assert!(!c.has_errors(), "{}", c.render());
    }

    #[test]
    fn type_regex_timezone_and_key_errors() {
        let c = check(
            r#"timezone "Mars/Olympus"
            entry to regex "+7(" goto m
            block m {
                set name = "Ann"
                say number name
                if open(office) { hangup }
                menu "main-menu" { 1 => hangup 1 => hangup "12" => hangup default => hangup }
                transfer extension 1001
            }"#,
        );
        let m = messages(&c);
        let has = |s: &str| m.iter().any(|x| x.contains(s));
        assert!(has("unknown time zone"), "{m:?}");
        assert!(has("regular expression is not valid"), "{m:?}");
        assert!(has("expected a number, but this is a string"), "{m:?}");
        assert!(has("no hours named `office`"), "{m:?}");
        assert!(has("key `1` has two branches"), "{m:?}");
        assert!(has("\"12\" is not a phone key"), "{m:?}");
        assert!(has("expected a string, but this is a number"), "{m:?}");
    }

    #[test]
    fn missing_include_and_return_outside_sub() {
        let c = check("include \"nope.ivr\"\nentry to \"1\" goto m\nblock m { return }");
        let m = messages(&c);
        assert!(
            m.iter()
                .any(|x| x.contains("can't find the file `nope.ivr`")),
            "{m:?}"
        );
        assert!(
            m.iter().any(|x| x.contains("`return` outside a sub")),
            "{m:?}"
        );
    }

    #[test]
    fn goto_a_sub_suggests_call() {
        let c = check("entry to \"1\" goto m\nblock m { goto s }\nsub s { return }");
        let text = c.render();
        assert!(text.contains("use `call s`"), "{text}");
    }

    #[test]
    fn a_skill_no_agent_has_is_a_warning_naming_it() {
        let mut files = BTreeMap::new();
        let src = "entry to \"1\" goto m\nblock m {\n    skill \"vip\"\n    skill \"vp\"\n    skill \"french\"\n    queue sales\n}";
        files.insert("t.ivr".to_string(), src.to_string());
        let ctx = CheckContext::new(["sales"], PromptCatalog::with_vocabulary())
            .with_skills(["vip", "ru"]);
        let c = check_files(&files, &["t.ivr".to_string()], &ctx);
        assert!(!c.has_errors(), "{}", c.render());
        let text = c.render();
        assert_eq!(c.diagnostics.len(), 2, "{text}");
        assert!(
            text.contains("no agent has the skill \"vp\"") && text.contains("`vip`"),
            "{text}"
        );
        assert!(
            text.contains("no agent has the skill \"french\"") && text.contains("ru, vip"),
            "{text}"
        );
        assert!(text.contains("t.ivr:5:"), "{text}");
    }

    #[test]
    fn a_screen_pop_script_with_no_file_is_a_warning_at_its_name() {
        let mut files = BTreeMap::new();
        let src = "entry to \"1\" goto m\nblock m {\n    screenpop \"script\" = \"acme-v3\"\n    screenpop \"script\" = \"acme-v2\"\n    screenpop \"client\" = \"nosuch\"\n    screenpop \"script\" = caller\n    queue sales\n}";
        files.insert("t.ivr".to_string(), src.to_string());
        let ctx = CheckContext::new(["sales"], PromptCatalog::with_vocabulary())
            .with_scripts(["acme-v3", "lost-card"]);
        let c = check_files(&files, &["t.ivr".to_string()], &ctx);
        assert!(!c.has_errors(), "{}", c.render());
        let text = c.render();
        // Only the literal script name that has no file; not another key, not a variable.
        assert_eq!(c.diagnostics.len(), 1, "{text}");
        assert!(
            text.contains("no conversation script \"acme-v2\""),
            "{text}"
        );
        assert!(text.contains("`acme-v3`"), "did you mean: {text}");
        assert!(text.contains("t.ivr:4:26"), "{text}");
        // Without a script catalogue nothing is checked.
        let plain = CheckContext::new(["sales"], PromptCatalog::with_vocabulary());
        assert!(check_files(&files, &["t.ivr".to_string()], &plain)
            .diagnostics
            .is_empty());
    }

    #[test]
    fn warnings_do_not_block_loading() {
        let c = check("entry to \"1\" goto m\nblock m { menu \"main-menu\" { 1 => hangup } }\nblock unused { hangup }");
        assert!(!c.has_errors());
        assert_eq!(c.diagnostics.len(), 2, "{}", c.render());
        assert!(c.program.is_some());
    }
}
