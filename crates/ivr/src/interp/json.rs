//! Between the flow's values and JSON: values sent in HTTP request bodies, and typed values
//! read out of HTTP answers by dotted path.

use crate::ast::Type;
use crate::program::Value;

/// A flow value as JSON (a number that is not finite becomes `null`).
pub(super) fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Str(s) => serde_json::Value::String(s.clone()),
        Value::Num(n) => serde_json::Number::from_f64(*n)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Bool(b) => serde_json::Value::Bool(*b),
    }
}

/// Look a dotted path (`account.balance`, `items.0.name`) up in JSON and convert it.
pub fn json_get(json: &serde_json::Value, path: &str, ty: Type) -> Option<Value> {
    let mut cur = json;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = match cur {
            serde_json::Value::Object(m) => m.get(part)?,
            serde_json::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    match (ty, cur) {
        (Type::Str, serde_json::Value::String(s)) => Some(Value::Str(s.clone())),
        (Type::Str, serde_json::Value::Number(n)) => Some(Value::Str(n.to_string())),
        (Type::Num, serde_json::Value::Number(n)) => n.as_f64().map(Value::Num),
        (Type::Num, serde_json::Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(Value::Num),
        (Type::Bool, serde_json::Value::Bool(b)) => Some(Value::Bool(*b)),
        _ => None,
    }
}
