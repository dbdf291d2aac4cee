//! Running the program: the step loop bounded per event, one instruction at a time (prompts,
//! menus, digit collection, HTTP, queueing, transfers, sub calls), and turning `say` into
//! prompt names.

use std::time::Duration;

use crate::ast::{Currency, HttpMethod, Lang, SayKind, TransferKind};
use crate::program::{Dialplan, Op, Value};
use crate::say::{self, Gender};

use super::json::to_json;
use super::*;

impl Interpreter {
    /// Run instructions until the flow waits for something or ends.
    pub(super) fn run(&mut self) {
        let prog = self.program.clone();
        let Some(dp) = prog.dialplans.get(self.dp) else {
            self.wait = Wait::Done;
            return;
        };
        let mut steps = 0u32;
        loop {
            steps += 1;
            if steps > MAX_STEPS_PER_EVENT {
                self.fail(format!(
                    "the flow ran {MAX_STEPS_PER_EVENT} steps without waiting for the caller (a goto loop?)"
                ));
                return;
            }
            let Some(op) = dp.ops.get(self.pc) else {
                self.fail("the flow jumped outside the program".into());
                return;
            };
            match self.step(dp, op) {
                Ok(true) => continue,
                Ok(false) => return,
                Err(msg) => {
                    self.fail(msg);
                    return;
                }
            }
        }
    }

    /// Execute one instruction. `Ok(true)`: keep going; `Ok(false)`: waiting or done.
    pub(super) fn step(&mut self, dp: &Dialplan, op: &Op) -> Result<bool, String> {
        let pc = self.pc;
        match op {
            Op::Play(p) => {
                self.pc += 1;
                self.out.push_back(Action::Play {
                    prompts: p.clone(),
                    lang: self.language,
                });
                self.wait = Wait::Prompt;
                Ok(false)
            }
            Op::Say(kind, e, feminine, currency) => {
                let v = self.eval(dp, e)?;
                let prompts = self.say(*kind, &v, *feminine, *currency)?;
                self.pc += 1;
                if prompts.is_empty() {
                    return Ok(true);
                }
                self.out.push_back(Action::Say {
                    prompts,
                    lang: self.language,
                });
                self.wait = Wait::Prompt;
                Ok(false)
            }
            Op::Menu(m) => {
                let attempt = match self.menu_retry.take() {
                    Some((p, n)) if p == pc => n,
                    _ => 0,
                };
                if let Some(d) = self.typeahead.pop_front() {
                    self.prompt_prefix.clear();
                    self.wait = Wait::Prompt;
                    self.menu_digit_inline(dp, pc, attempt, d);
                    return Ok(true);
                }
                let mut prompts = std::mem::take(&mut self.prompt_prefix);
                prompts.extend(m.prompts.iter().cloned());
                self.collect_seq += 1;
                self.out.push_back(Action::CollectDigits {
                    prompts,
                    lang: self.language,
                    max_digits: 1,
                    terminator: None,
                    timeout: secs(m.timeout),
                });
                self.wait = Wait::Menu { pc, attempt };
                Ok(false)
            }
            Op::MenuRetry(mpc) => {
                let n = match self.menu_retry.take() {
                    Some((p, n)) if p == *mpc => n,
                    _ => u32::MAX,
                };
                self.menu_again(*mpc, n);
                Ok(true)
            }
            Op::Collect {
                prompts,
                max,
                terminator,
                timeout,
                ..
            } => {
                let mut digits = String::new();
                let mut typed = false;
                while let Some(d) = self.typeahead.pop_front() {
                    typed = true;
                    let (done, _) = self.collect_push(pc, &mut digits, d);
                    if done {
                        self.finish_collect_inline(pc, digits);
                        return Ok(true);
                    }
                }
                self.collect_seq += 1;
                self.out.push_back(Action::CollectDigits {
                    prompts: if typed { Vec::new() } else { prompts.clone() },
                    lang: self.language,
                    max_digits: max.saturating_sub(digits.chars().count() as u32),
                    terminator: *terminator,
                    timeout: secs(*timeout),
                });
                self.wait = Wait::Collect { pc, digits };
                Ok(false)
            }
            Op::Set(name, e) => {
                let v = self.eval(dp, e)?;
                self.set_var(name.clone(), v);
                self.pc += 1;
                Ok(true)
            }
            Op::JumpUnless(c, target) => {
                self.pc = if self.eval(dp, c)? == Value::Bool(true) {
                    pc + 1
                } else {
                    *target
                };
                Ok(true)
            }
            Op::Jump(t) => {
                self.pc = *t;
                Ok(true)
            }
            Op::Match(subject, arms, other) => {
                let s = match self.eval(dp, subject)? {
                    Value::Str(s) => s,
                    v => v.to_string(),
                };
                self.pc = arms
                    .iter()
                    .find(|(m, _)| m.matches(&s, dp))
                    .map(|(_, t)| *t)
                    .unwrap_or(*other);
                Ok(true)
            }
            Op::Call(target, name) => {
                if self.stack.len() >= MAX_CALL_DEPTH {
                    return Err(format!("`call {name}` nested more than {MAX_CALL_DEPTH} deep (a sub calling itself?)"));
                }
                self.stack.push(pc + 1);
                self.pc = *target;
                Ok(true)
            }
            Op::Return => match self.stack.pop() {
                Some(r) => {
                    self.pc = r;
                    Ok(true)
                }
                None => Err("`return` without a `call`".into()),
            },
            Op::Http(h) => {
                let url = self.request_url(dp, &h.url)?;
                let body = if h.body.is_empty() && h.method == HttpMethod::Get {
                    None
                } else {
                    let mut m = serde_json::Map::new();
                    for (k, e) in &h.body {
                        m.insert(k.clone(), to_json(&self.eval(dp, e)?));
                    }
                    Some(serde_json::Value::Object(m))
                };
                let id = self.next_http_id;
                self.next_http_id += 1;
                self.out.push_back(Action::HttpRequest {
                    id,
                    method: h.method,
                    url,
                    body,
                    timeout: secs(h.timeout),
                });
                self.wait = Wait::Http { id };
                Ok(false)
            }
            Op::Callback(c) => {
                let number = self.text(dp, &c.number)?;
                let at = match &c.when {
                    None => None,
                    Some(crate::ast::CallbackWhen::After(s)) => Some(CallbackTime::After(secs(*s))),
                    Some(crate::ast::CallbackWhen::At(e)) => {
                        let t = self.text(dp, e)?;
                        Some(CallbackTime::At(self.callback_at(dp, &t)?))
                    }
                };
                let id = self.next_http_id;
                self.next_http_id += 1;
                self.out.push_back(Action::ScheduleCallback {
                    id,
                    number,
                    queue: c.queue.clone(),
                    at,
                });
                self.wait = Wait::Callback { id };
                Ok(false)
            }
            Op::Priority(e) => {
                self.attrs.priority = clamp_i32(self.num(dp, e)?);
                self.pc += 1;
                Ok(true)
            }
            Op::Tenant(e) => {
                self.attrs.tenant = Some(self.text(dp, e)?);
                self.pc += 1;
                Ok(true)
            }
            Op::Skill(e) => {
                let s = self.text(dp, e)?;
                if !self.attrs.skills.contains(&s) && self.attrs.skills.len() < 64 {
                    self.attrs.skills.push(s);
                }
                self.pc += 1;
                Ok(true)
            }
            Op::ScreenPop(k, e) => {
                let v = match self.eval(dp, e)? {
                    Value::Str(s) => s,
                    v => v.to_string(),
                };
                if self.attrs.screen_pop.len() < 64 || self.attrs.screen_pop.contains_key(k) {
                    self.attrs.screen_pop.insert(k.clone(), v);
                }
                self.pc += 1;
                Ok(true)
            }
            Op::Language(l) => {
                self.language = *l;
                self.attrs.language = Some(*l);
                self.pc += 1;
                Ok(true)
            }
            Op::Queue(q) => {
                let priority = match &q.priority {
                    Some(e) => clamp_i32(self.num(dp, e)?),
                    None => self.attrs.priority,
                };
                self.out.push_back(Action::Queue(QueueRequest {
                    queue: q.name.clone(),
                    priority,
                    max_wait: q.max_wait.map(secs),
                    exit_key: q.exit.map(|(k, _)| k),
                    announce_every: q.announce.map(secs),
                    callback_key: q.callback,
                    whisper: q.whisper.clone(),
                    attrs: self.attrs.clone(),
                }));
                self.wait = Wait::Queue { pc: Some(pc) };
                Ok(false)
            }
            Op::Transfer(kind, e) => {
                let target = self.text(dp, e)?;
                if *kind == TransferKind::External && !dp.allow_external {
                    return Err("this dialplan may not transfer to external numbers".into());
                }
                self.out.push_back(Action::Transfer {
                    kind: *kind,
                    target,
                    attrs: self.attrs.clone(),
                });
                self.wait = Wait::Done;
                Ok(false)
            }
            Op::Hangup | Op::EndOfBlock(_) => {
                self.out.push_back(Action::Hangup);
                self.wait = Wait::Done;
                Ok(false)
            }
        }
    }

    /// An `at` time: `HH:MM` is the next such time (from the call's start) in the
    /// dialplan's timezone, else an RFC 3339 time.
    fn callback_at(
        &self,
        dp: &Dialplan,
        t: &str,
    ) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
        use chrono::TimeZone;
        if let Some(tod) = parse_time_of_day(t) {
            let now = self
                .local_now(dp)
                .ok_or("the call's start time is unknown")?;
            for day in 0..3 {
                let date = now.date_naive() + chrono::Duration::days(day);
                // A time skipped by a DST change is taken an hour later.
                let local = dp
                    .timezone
                    .from_local_datetime(&date.and_time(tod))
                    .earliest()
                    .or_else(|| {
                        dp.timezone
                            .from_local_datetime(&(date.and_time(tod) + chrono::Duration::hours(1)))
                            .earliest()
                    });
                if let Some(l) = local.filter(|l| *l > now) {
                    return Ok(l.fixed_offset());
                }
            }
            return Err(format!("no time {t} follows the call's start"));
        }
        chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| format!("callback time {t:?} is neither HH:MM nor an RFC 3339 time"))
    }

    pub(super) fn menu_digit_inline(&mut self, dp: &Dialplan, pc: usize, attempt: u32, d: char) {
        let Some(Op::Menu(m)) = dp.ops.get(pc) else {
            return;
        };
        match m.choices.iter().find(|(k, _)| *k == d) {
            Some((_, t)) => {
                self.pc = *t;
                let m = (**m).clone();
                self.menu_chosen(&m, d.to_string());
            }
            None => match m.invalid {
                Some(h) => {
                    self.menu_retry = Some((pc, attempt + 1));
                    self.pc = h;
                }
                None => {
                    self.prompt_prefix = vec!["invalid-choice".to_string()];
                    self.menu_again(pc, attempt + 1);
                }
            },
        }
    }

    pub(super) fn finish_collect_inline(&mut self, pc: usize, digits: String) {
        if let Some(Op::Collect { var, .. }) = self.dialplan().and_then(|dp| dp.ops.get(pc)) {
            let var = var.clone();
            self.set_var(var, Value::Str(digits));
        }
        self.pc = pc + 1;
    }

    pub(super) fn say(
        &self,
        kind: SayKind,
        v: &Value,
        feminine: bool,
        currency: Option<Currency>,
    ) -> Result<Vec<String>, String> {
        let lang = self.language;
        let num = |v: &Value| match v {
            Value::Num(n) if n.is_finite() => Ok(*n),
            Value::Str(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or("can't say this text as a number".to_string()),
            other => Err(format!("can't say a {} as a number", other.ty().word())),
        };
        Ok(match kind {
            SayKind::Number => {
                let g = if feminine {
                    Gender::Feminine
                } else {
                    Gender::Masculine
                };
                say::say_number(num(v)?.trunc().clamp(-9e15, 9e15) as i64, lang, g)
            }
            SayKind::Digits => match v {
                Value::Str(s) => say::say_digits(s),
                Value::Num(n) => say::say_digits(&format!("{}", n.trunc().abs())),
                Value::Bool(_) => return Err("can't say true/false as digits".into()),
            },
            SayKind::Money => {
                let c = currency.unwrap_or(match lang {
                    Lang::Ru => Currency::Rub,
                    Lang::En => Currency::Usd,
                });
                say::say_money(num(v)?, c, lang)
            }
            SayKind::Duration => {
                say::say_duration(Duration::from_secs(num(v)?.clamp(0.0, 1e9) as u64), lang)
            }
            SayKind::Time => {
                let s = match v {
                    Value::Str(s) => s.clone(),
                    other => other.to_string(),
                };
                let (h, m) = s
                    .split_once(':')
                    .ok_or("the text is not a time like 09:30".to_string())?;
                let h: u32 = h
                    .trim()
                    .parse()
                    .map_err(|_| "the text is not a time like 09:30".to_string())?;
                let m: u32 = m
                    .trim()
                    .parse()
                    .map_err(|_| "the text is not a time like 09:30".to_string())?;
                if h > 23 || m > 59 {
                    return Err("the text is not a time of day".to_string());
                }
                say::say_time(h, m, lang)
            }
        })
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 86_400.0))
}

fn clamp_i32(n: f64) -> i32 {
    n.round().clamp(-1_000_000.0, 1_000_000.0) as i32
}
