//! Evaluating expressions: variables (built-in and the flow's own), operators, functions,
//! opening hours and holidays in the dialplan's time zone, and reading typed values out of
//! HTTP JSON answers.

use chrono::{Datelike, Timelike};

use crate::ast::{BinOp, Expr, ExprKind, Type};
use crate::program::{Dialplan, Value};

use super::*;

impl Interpreter {
    pub(super) fn num(&self, dp: &Dialplan, e: &Expr) -> Result<f64, String> {
        match self.eval(dp, e)? {
            Value::Num(n) => Ok(n),
            v => Err(format!("expected a number, got a {}", v.ty().word())),
        }
    }

    pub(super) fn text(&self, dp: &Dialplan, e: &Expr) -> Result<String, String> {
        match self.eval(dp, e)? {
            Value::Str(s) => Ok(s),
            v => Ok(v.to_string()),
        }
    }

    /// The URL of an `http` request: the dialplan's literals as written, every value
    /// joined into them percent-encoded (see [`crate::request_url`]).
    pub(super) fn request_url(&self, dp: &Dialplan, e: &Expr) -> Result<String, String> {
        let mut parts = Vec::new();
        let mut joins_text = |x: &Expr| matches!(self.eval(dp, x), Ok(Value::Str(_)));
        crate::request_url::url_parts(e, &mut joins_text, &mut parts);
        let mut url = String::new();
        for p in parts {
            match p {
                crate::request_url::UrlPart::Literal(s) => url.push_str(s),
                crate::request_url::UrlPart::Value(x) => {
                    crate::request_url::push_component(&mut url, &self.text(dp, x)?)
                }
            }
        }
        Ok(url)
    }

    pub(super) fn local_now(&self, dp: &Dialplan) -> Option<chrono::DateTime<chrono_tz::Tz>> {
        self.now.map(|n| n.with_timezone(&dp.timezone))
    }

    pub(super) fn eval(&self, dp: &Dialplan, e: &Expr) -> Result<Value, String> {
        self.eval_depth(dp, e, 0)
    }

    pub(super) fn eval_depth(&self, dp: &Dialplan, e: &Expr, depth: u32) -> Result<Value, String> {
        if depth > 200 {
            return Err("expression too deep".into());
        }
        let ev = |x: &Expr| self.eval_depth(dp, x, depth + 1);
        Ok(match &e.kind {
            ExprKind::Str(s) => Value::Str(s.clone()),
            ExprKind::Num(n) | ExprKind::Dur(n) => Value::Num(*n),
            ExprKind::Bool(b) => Value::Bool(*b),
            ExprKind::Var(v) => self.var(dp, v),
            ExprKind::Not(x) => match ev(x)? {
                Value::Bool(b) => Value::Bool(!b),
                v => return Err(format!("`not` needs true/false, got a {}", v.ty().word())),
            },
            ExprKind::Neg(x) => match ev(x)? {
                Value::Num(n) => Value::Num(-n),
                v => return Err(format!("`-` needs a number, got a {}", v.ty().word())),
            },
            ExprKind::Bin(op, l, r) => {
                // Short-circuit and/or.
                if matches!(op, BinOp::And | BinOp::Or) {
                    let lv = ev(l)?;
                    return match (op, lv) {
                        (BinOp::And, Value::Bool(false)) => Ok(Value::Bool(false)),
                        (BinOp::Or, Value::Bool(true)) => Ok(Value::Bool(true)),
                        (_, Value::Bool(_)) => match ev(r)? {
                            Value::Bool(b) => Ok(Value::Bool(b)),
                            v => Err(format!(
                                "`{}` needs true/false, got a {}",
                                op.text(),
                                v.ty().word()
                            )),
                        },
                        (_, v) => Err(format!(
                            "`{}` needs true/false, got a {}",
                            op.text(),
                            v.ty().word()
                        )),
                    };
                }
                binop(*op, ev(l)?, ev(r)?)?
            }
            ExprKind::Call(f, args) => {
                let name = |i: usize| match args.get(i).map(|a| &a.kind) {
                    Some(ExprKind::Var(n)) => Ok(n.as_str()),
                    _ => Err(format!("`{}` needs a name", f.name)),
                };
                match f.name.as_str() {
                    "open" => Value::Bool(self.open(dp, name(0)?)),
                    "holiday" => {
                        let today = self.local_now(dp).map(|t| t.date_naive());
                        let cal = dp.holidays.get(name(0)?);
                        Value::Bool(today.is_some_and(|d| cal.is_some_and(|h| h.contains(&d))))
                    }
                    "field" => match args.first().map(ev).transpose()? {
                        Some(Value::Str(k)) => {
                            Value::Str(self.fields.get(&k).cloned().unwrap_or_default())
                        }
                        _ => return Err("`field` takes the field's name as text".to_string()),
                    },
                    _ => {
                        let vals = args.iter().map(ev).collect::<Result<Vec<_>, _>>()?;
                        call_fn(&f.name, &vals)?
                    }
                }
            }
        })
    }

    pub(super) fn open(&self, dp: &Dialplan, hours: &str) -> bool {
        let (Some(t), Some(h)) = (self.local_now(dp), dp.hours.get(hours)) else {
            return false;
        };
        let date = t.date_naive();
        if h.closed_on
            .iter()
            .any(|c| dp.holidays.get(c).is_some_and(|set| set.contains(&date)))
        {
            return false;
        }
        let day = t.weekday().num_days_from_monday() as u8;
        let minute = t.hour() * 60 + t.minute();
        h.ranges.iter().any(|(from, to, open, close)| {
            (*from..=*to).contains(&day) && (*open..*close).contains(&minute)
        })
    }

    pub(super) fn var(&self, dp: &Dialplan, v: &str) -> Value {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let t = self.local_now(dp);
        match v {
            "caller" => Value::Str(self.caller.clone()),
            "dialled" => Value::Str(self.dialled.clone()),
            "tenant" => Value::Str(self.attrs.tenant.clone().unwrap_or_default()),
            "language" => Value::Str(self.language.code().to_string()),
            "priority" => Value::Num(self.attrs.priority.into()),
            "hour" => Value::Num(t.map(|t| t.hour()).unwrap_or(0).into()),
            "minute" => Value::Num(t.map(|t| t.minute()).unwrap_or(0).into()),
            "weekday" => Value::Str(
                t.and_then(|t| DAYS.get(t.weekday().num_days_from_monday() as usize))
                    .copied()
                    .unwrap_or("mon")
                    .into(),
            ),
            "date" => Value::Str(
                t.map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
            ),
            "time" => Value::Str(t.map(|t| t.format("%H:%M").to_string()).unwrap_or_default()),
            _ => match self.vars.get(v) {
                Some(x) => x.clone(),
                None => Value::default_of(dp.var_types.get(v).copied().unwrap_or(Type::Str)),
            },
        }
    }
}

fn binop(op: BinOp, l: Value, r: Value) -> Result<Value, String> {
    use Value::*;
    Ok(match (op, l, r) {
        (BinOp::Add, Str(a), b) => Str(format!("{a}{}", plain(&b))),
        (BinOp::Add, a, Str(b)) => Str(format!("{}{b}", plain(&a))),
        (op @ (BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem), Num(a), Num(b)) => {
            let v = match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div if b == 0.0 => return Err("division by zero".into()),
                BinOp::Div => a / b,
                BinOp::Rem if b == 0.0 => return Err("division by zero".into()),
                _ => a % b,
            };
            if !v.is_finite() {
                return Err("the number got too large".into());
            }
            Num(v)
        }
        (BinOp::Eq, a, b) => Bool(a == b),
        (BinOp::Ne, a, b) => Bool(a != b),
        (op @ (BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge), a, b) => {
            let ord = match (&a, &b) {
                (Num(x), Num(y)) => x.partial_cmp(y),
                (Str(x), Str(y)) => Some(x.cmp(y)),
                _ => None,
            };
            let Some(ord) = ord else {
                return Err(format!(
                    "can't compare a {} with a {}",
                    a.ty().word(),
                    b.ty().word()
                ));
            };
            Bool(match op {
                BinOp::Lt => ord.is_lt(),
                BinOp::Le => ord.is_le(),
                BinOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        (op, a, b) => {
            return Err(format!(
                "`{}` can't combine a {} and a {}",
                op.text(),
                a.ty().word(),
                b.ty().word()
            ))
        }
    })
}

/// A value as text without quotes.
fn plain(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

fn call_fn(name: &str, args: &[Value]) -> Result<Value, String> {
    use Value::*;
    Ok(match (name, args) {
        ("len", [Str(s)]) => Num(s.chars().count() as f64),
        ("number", [Str(s)]) => Num(s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .unwrap_or(0.0)),
        ("round", [Num(n)]) => Num(n.round()),
        ("string", [v]) => Str(plain(v)),
        ("starts_with", [Str(a), Str(b)]) => Bool(a.starts_with(b.as_str())),
        ("contains", [Str(a), Str(b)]) => Bool(a.contains(b.as_str())),
        _ => return Err(format!("`{name}` can't take these arguments")),
    })
}
