//! The checker's view of one dialplan: its definitions by name (blocks, subs, lists,
//! holidays, hours, variables, languages) and the diagnostics found so far. The passes over
//! it are in `references`, `types` and `statements`; `dialplan` fills it and runs them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::context::CheckContext;
use crate::ast::*;
use crate::diag::Diagnostic;
use crate::program::*;
use crate::source::{SourceMap, Span};

/// The checker's view of one dialplan: definitions by name and the diagnostics found so far.
pub(super) struct Unit<'c> {
    pub(super) ctx: &'c CheckContext,
    pub(super) sources: &'c SourceMap,
    pub(super) diags: Vec<Diagnostic>,
    pub(super) blocks: BTreeMap<String, &'c BlockDef>,
    pub(super) subs: BTreeMap<String, &'c BlockDef>,
    pub(super) lists: HashMap<String, Vec<String>>,
    pub(super) holidays: HashMap<String, BTreeSet<chrono::NaiveDate>>,
    pub(super) hours: HashMap<String, Hours>,
    pub(super) vars: HashMap<String, (Type, Span)>,
    pub(super) langs: BTreeSet<Lang>,
    pub(super) allow_external: bool,
    pub(super) used: HashSet<String>,
}

impl Unit<'_> {
    pub(super) fn err(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}
