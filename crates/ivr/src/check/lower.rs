//! Lowering checked blocks and subs to the flat [`Op`] list the interpreter runs: one label
//! per block and sub, jumps patched once every label is known.

use std::collections::BTreeMap;

use crate::ast::*;
use crate::program::*;
use crate::source::Span;

use super::references::valid_key;

/// Lowers all blocks, then all subs, into one op list; returns the ops, the span of each op,
/// and the first op of each block and sub by name.
pub(super) fn lower_blocks(
    blocks: &BTreeMap<String, &BlockDef>,
    subs: &BTreeMap<String, &BlockDef>,
) -> (Vec<Op>, Vec<Span>, BTreeMap<String, usize>) {
    let mut c = Lower {
        ops: Vec::new(),
        spans: Vec::new(),
        fixups: Vec::new(),
    };
    let mut labels = BTreeMap::new();
    for b in blocks.values() {
        labels.insert(b.name.name.clone(), c.ops.len());
        c.body(&b.body);
        c.emit(Op::EndOfBlock(b.name.name.clone()), b.end);
    }
    for b in subs.values() {
        labels.insert(b.name.name.clone(), c.ops.len());
        c.body(&b.body);
        c.emit(Op::Return, b.end);
    }
    for (at, label, slot) in std::mem::take(&mut c.fixups) {
        let target = labels.get(&label).copied().unwrap_or(0);
        c.patch(at, slot, target);
    }
    (c.ops, c.spans, labels)
}

struct Lower {
    ops: Vec<Op>,
    spans: Vec<Span>,
    /// (op index, label, which slot) to patch once all labels are known.
    fixups: Vec<(usize, String, u8)>,
}

fn key_char(k: &StrLit) -> char {
    valid_key(&k.value).unwrap_or('?')
}

fn prompt_names(p: &[StrLit]) -> Vec<String> {
    p.iter().map(|s| s.value.clone()).collect()
}

impl Lower {
    fn emit(&mut self, op: Op, span: Span) -> usize {
        self.ops.push(op);
        self.spans.push(span);
        self.ops.len() - 1
    }
    fn here(&self) -> usize {
        self.ops.len()
    }
    fn set_jump(&mut self, at: usize, target: usize) {
        if let Some(Op::Jump(t) | Op::JumpUnless(_, t)) = self.ops.get_mut(at) {
            *t = target;
        }
    }
    fn patch(&mut self, at: usize, slot: u8, target: usize) {
        let Some(op) = self.ops.get_mut(at) else {
            return;
        };
        match op {
            Op::Jump(t) | Op::Call(t, _) => *t = target,
            Op::Queue(q) => match slot {
                0 => q.on_max_wait = Some(target),
                _ => {
                    if let Some((_, t)) = &mut q.exit {
                        *t = target;
                    }
                }
            },
            _ => {}
        }
    }

    fn body(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        let sp = s.span;
        match &s.kind {
            StmtKind::Play(p) => {
                self.emit(Op::Play(prompt_names(p)), sp);
            }
            StmtKind::Say {
                kind,
                expr,
                feminine,
                currency,
            } => {
                self.emit(Op::Say(*kind, expr.clone(), *feminine, *currency), sp);
            }
            StmtKind::Menu(m) => {
                let at = self.emit(Op::Hangup, sp);
                let mut jumps_to_end = Vec::new();
                let mut choices = Vec::new();
                for (k, b) in &m.choices {
                    choices.push((key_char(k), self.here()));
                    self.body(b);
                    jumps_to_end.push(self.emit(Op::Jump(0), sp));
                }
                let handler = |me: &mut Lower, b: &Option<Vec<Stmt>>| {
                    b.as_ref().map(|b| {
                        let start = me.here();
                        me.body(b);
                        me.emit(Op::MenuRetry(at), sp);
                        start
                    })
                };
                let invalid = handler(self, &m.invalid);
                let on_timeout = handler(self, &m.on_timeout);
                let default = m.default.as_ref().map(|b| {
                    let start = self.here();
                    self.body(b);
                    jumps_to_end.push(self.emit(Op::Jump(0), sp));
                    start
                });
                let end = self.here();
                for j in jumps_to_end {
                    self.set_jump(j, end);
                }
                if let Some(op) = self.ops.get_mut(at) {
                    *op = Op::Menu(Box::new(MenuOp {
                        prompts: prompt_names(&m.prompts),
                        timeout: m.timeout.unwrap_or(5.0),
                        tries: m.retries.unwrap_or(3),
                        choices,
                        invalid,
                        on_timeout,
                        default: default.unwrap_or(end),
                    }));
                }
            }
            StmtKind::Collect(c) => {
                self.emit(
                    Op::Collect {
                        var: c.var.name.clone(),
                        max: c.max_digits,
                        prompts: prompt_names(&c.prompts),
                        terminator: c.terminator.as_ref().map(key_char),
                        timeout: c.timeout.unwrap_or(5.0),
                    },
                    sp,
                );
            }
            StmtKind::Set(v, e) => {
                self.emit(Op::Set(v.name.clone(), e.clone()), sp);
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                let mut to_end = Vec::new();
                for (c, b) in branches {
                    let test = self.emit(Op::JumpUnless(c.clone(), 0), c.span);
                    self.body(b);
                    to_end.push(self.emit(Op::Jump(0), sp));
                    let next = self.here();
                    self.set_jump(test, next);
                }
                if let Some(b) = otherwise {
                    self.body(b);
                }
                let end = self.here();
                for j in to_end {
                    self.set_jump(j, end);
                }
            }
            StmtKind::Match {
                subject,
                arms,
                otherwise,
            } => {
                let at = self.emit(Op::Hangup, sp);
                let mut compiled = Vec::new();
                let mut to_end = Vec::new();
                for (p, b) in arms {
                    let m = match p {
                        Pattern::Exact(s) => Matcher::Exact(s.value.clone()),
                        Pattern::Prefix(s) => Matcher::Prefix(s.value.clone()),
                        Pattern::Regex(s) => match regex::Regex::new(&s.value) {
                            Ok(r) => Matcher::Regex(r),
                            Err(_) => Matcher::Exact(String::new()),
                        },
                        Pattern::InList(l) => Matcher::InList(l.name.clone()),
                    };
                    compiled.push((m, self.here()));
                    self.body(b);
                    to_end.push(self.emit(Op::Jump(0), sp));
                }
                let other = self.here();
                if let Some(b) = otherwise {
                    self.body(b);
                }
                let end = self.here();
                for j in to_end {
                    self.set_jump(j, end);
                }
                if let Some(op) = self.ops.get_mut(at) {
                    *op = Op::Match(subject.clone(), compiled, other);
                }
            }
            StmtKind::Goto(i) => {
                let at = self.emit(Op::Jump(0), sp);
                self.fixups.push((at, i.name.clone(), 0));
            }
            StmtKind::Call(i) => {
                let at = self.emit(Op::Call(0, i.name.clone()), sp);
                self.fixups.push((at, i.name.clone(), 0));
            }
            StmtKind::Return => {
                self.emit(Op::Return, sp);
            }
            StmtKind::Hangup => {
                self.emit(Op::Hangup, sp);
            }
            StmtKind::Http(h) => {
                let at = self.emit(Op::Hangup, sp);
                let skip = self.emit(Op::Jump(0), sp);
                let fallback = h.fallback.as_ref().map(|b| {
                    let start = self.here();
                    self.body(b);
                    start
                });
                let end = self.here();
                self.set_jump(skip, end);
                if let Some(op) = self.ops.get_mut(at) {
                    *op = Op::Http(Box::new(HttpOp {
                        method: h.method,
                        url: h.url.clone(),
                        body: h
                            .body
                            .iter()
                            .map(|(k, v)| (k.name.clone(), v.clone()))
                            .collect(),
                        timeout: h.timeout.unwrap_or(3.0),
                        results: h
                            .results
                            .iter()
                            .map(|r| (r.var.name.clone(), r.ty, r.path.value.clone()))
                            .collect(),
                        fallback,
                    }));
                }
            }
            StmtKind::Callback(c) => {
                let at = self.emit(Op::Hangup, sp);
                let skip = self.emit(Op::Jump(0), sp);
                let fallback = c.fallback.as_ref().map(|b| {
                    let start = self.here();
                    self.body(b);
                    start
                });
                let end = self.here();
                self.set_jump(skip, end);
                if let Some(op) = self.ops.get_mut(at) {
                    *op = Op::Callback(Box::new(CallbackOp {
                        number: c.number.clone(),
                        queue: c.queue.name.clone(),
                        when: c.when.clone(),
                        fallback,
                    }));
                }
            }
            StmtKind::Priority(e) => {
                self.emit(Op::Priority(e.clone()), sp);
            }
            StmtKind::Tenant(e) => {
                self.emit(Op::Tenant(e.clone()), sp);
            }
            StmtKind::Skill(e) => {
                self.emit(Op::Skill(e.clone()), sp);
            }
            StmtKind::ScreenPop(k, e) => {
                self.emit(Op::ScreenPop(k.value.clone(), e.clone()), sp);
            }
            StmtKind::Language(l) => {
                self.emit(Op::Language(*l), sp);
            }
            StmtKind::Queue(q) => {
                let mut op = QueueOp {
                    name: q.name.name.clone(),
                    priority: None,
                    max_wait: None,
                    on_max_wait: None,
                    exit: None,
                    announce: None,
                    callback: None,
                    whisper: Vec::new(),
                };
                let mut fix = Vec::new();
                for o in &q.opts {
                    match o {
                        QueueOpt::Priority(e) => op.priority = Some(e.clone()),
                        QueueOpt::MaxWait(d, t, _) => {
                            op.max_wait = Some(*d);
                            if let Some(t) = t {
                                fix.push((t.name.clone(), 0u8));
                            }
                        }
                        QueueOpt::Exit(k, t) => {
                            op.exit = Some((key_char(k), 0));
                            fix.push((t.name.clone(), 1u8));
                        }
                        QueueOpt::Announce(d, _) => op.announce = Some(*d),
                        QueueOpt::Callback(k) => op.callback = Some(key_char(k)),
                        QueueOpt::Whisper(p) => op.whisper.push(p.value.clone()),
                    }
                }
                let at = self.emit(Op::Queue(Box::new(op)), sp);
                for (label, slot) in fix {
                    self.fixups.push((at, label, slot));
                }
            }
            StmtKind::Transfer(k, e) => {
                self.emit(Op::Transfer(*k, e.clone()), sp);
            }
        }
    }
}
