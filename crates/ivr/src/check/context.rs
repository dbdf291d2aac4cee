//! What the checker knows about the world outside the dialplan: the configured queues, the
//! skills agents have and the prompt catalog (which prompt names exist in which language, read from the prompt
//! contract's vocabulary, phrase lists and the audio files of a prompts directory).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::ast::Lang;
use crate::say;

/// The prompts that exist, per language.
#[derive(Debug, Clone, Default)]
pub struct PromptCatalog {
    names: HashMap<Lang, BTreeSet<String>>,
    /// The prompts directory the names came from, named in "unknown prompt" help.
    pub(super) source: Option<String>,
}

impl PromptCatalog {
    /// An empty catalog.
    pub fn new() -> PromptCatalog {
        PromptCatalog::default()
    }
    /// A catalog holding the say-vocabulary and queue phrases of the prompt contract.
    pub fn with_vocabulary() -> PromptCatalog {
        let mut c = PromptCatalog::new();
        for lang in Lang::ALL {
            for n in say::vocabulary() {
                c.insert(lang, n);
            }
        }
        c
    }
    /// Records the prompts directory these names were read from, so an unknown prompt's
    /// help names the phrase list to extend there.
    pub fn with_source(mut self, dir: &Path) -> PromptCatalog {
        self.source = Some(dir.display().to_string());
        self
    }
    /// Add one prompt.
    pub fn insert(&mut self, lang: Lang, name: impl Into<String>) {
        self.names.entry(lang).or_default().insert(name.into());
    }
    /// Does the prompt exist in this language?
    pub fn contains(&self, lang: Lang, name: &str) -> bool {
        self.names.get(&lang).is_some_and(|s| s.contains(name))
    }
    /// All names in a language.
    pub fn names(&self, lang: Lang) -> impl Iterator<Item = &str> {
        self.names
            .get(&lang)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }
    /// Add every `lang<TAB>name<TAB>text` line of a phrase list (other lines are ignored).
    pub fn add_tsv(&mut self, text: &str) {
        for line in text.lines() {
            let mut parts = line.split('\t');
            if let (Some(l), Some(n)) = (parts.next(), parts.next()) {
                if let Some(lang) = Lang::from_code(l.trim()) {
                    let n = n.trim();
                    if !n.is_empty() {
                        self.insert(lang, n);
                    }
                }
            }
        }
    }
    /// Only the prompts that exist as audio files `<dir>/<lang>/<name>.wav`.
    pub fn from_wav_files(dir: &Path) -> PromptCatalog {
        let mut c = PromptCatalog::new();
        c.add_wav_files(dir);
        c
    }

    fn add_wav_files(&mut self, dir: &Path) {
        for lang in Lang::ALL {
            if let Ok(rd) = std::fs::read_dir(dir.join(lang.code())) {
                for e in rd.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "wav") {
                        if let Some(stem) = p.file_stem().and_then(|s| s.to_str()) {
                            self.insert(lang, stem);
                        }
                    }
                }
            }
        }
    }

    /// The vocabulary plus everything found in a prompts directory: `phrases.tsv`,
    /// `dialplan-phrases.tsv` and `<lang>/*.wav`. Missing files are skipped.
    pub fn from_prompts_dir(dir: &Path) -> PromptCatalog {
        let mut c = PromptCatalog::with_vocabulary();
        for f in ["phrases.tsv", "dialplan-phrases.tsv"] {
            if let Ok(t) = std::fs::read_to_string(dir.join(f)) {
                c.add_tsv(&t);
            }
        }
        c.add_wav_files(dir);
        c
    }
}

/// What the checker knows about the world outside the dialplan.
#[derive(Debug, Clone, Default)]
pub struct CheckContext {
    /// Configured queue names; `None` skips the queue check.
    pub queues: Option<BTreeSet<String>>,
    /// Known prompts; `None` skips the prompt check.
    pub prompts: Option<PromptCatalog>,
    /// Skills some agent has (`[[users]] skills`); `None` skips the skill check. A `skill
    /// "x"` no agent has is a warning: the server ignores that requirement.
    pub skills: Option<BTreeSet<String>>,
    /// Conversation scripts that exist (`scripts/<name>.md` or a tenant's
    /// `scripts/<tenant>/<name>.md` beside the dialplans); `None` skips the check. A
    /// `screenpop "script" = "x"` with no such script is a warning: the agent's offer card
    /// says the script is missing, the call is not affected.
    pub scripts: Option<BTreeSet<String>>,
}

impl CheckContext {
    /// A context knowing these queues and prompts.
    pub fn new(
        queues: impl IntoIterator<Item = impl Into<String>>,
        prompts: PromptCatalog,
    ) -> CheckContext {
        CheckContext {
            queues: Some(queues.into_iter().map(Into::into).collect()),
            prompts: Some(prompts),
            skills: None,
            scripts: None,
        }
    }

    /// The same context, also knowing which skills agents have.
    pub fn with_skills(mut self, skills: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.skills = Some(skills.into_iter().map(Into::into).collect());
        self
    }

    /// The same context, also knowing which conversation scripts exist.
    pub fn with_scripts(mut self, scripts: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.scripts = Some(scripts.into_iter().map(Into::into).collect());
        self
    }
}
