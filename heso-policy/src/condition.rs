//! Conditions on an action's fields.

use heso_receipt::FieldPath;
use regex::Regex;
use serde_json::Value;

/// A condition operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "the names are the policy file's operators")]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    Contains,
    Matches,
    Exists,
}

impl Op {
    /// Parses an operator name (`ne` is an alias of `neq`).
    pub fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "eq" => Op::Eq,
            "neq" | "ne" => Op::Neq,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "contains" => Op::Contains,
            "matches" => Op::Matches,
            "exists" => Op::Exists,
            _ => return None,
        })
    }

    /// The operator's name as written (canonical spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Neq => "neq",
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Contains => "contains",
            Op::Matches => "matches",
            Op::Exists => "exists",
        }
    }
}

/// One condition of a rule, compiled at load.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The field path as written.
    pub field: String,
    pub(crate) path: FieldPath,
    /// The operator.
    pub op: Op,
    /// The operand as written in the policy.
    pub value: Value,
    pub(crate) regex: Option<Regex>,
    /// Optional words for the rule's display.
    pub display: Option<String>,
}

fn numbers(a: &Value, b: &Value) -> Option<(f64, f64)> {
    Some((a.as_f64()?, b.as_f64()?))
}

/// JSON equality, with numbers compared by value (5 equals 5.0).
fn same(a: &Value, b: &Value) -> bool {
    match numbers(a, b) {
        Some((x, y)) => x == y,
        None => a == b,
    }
}

impl Condition {
    /// Whether one value satisfies the operator (type mismatches never do).
    fn holds_for(&self, value: &Value) -> bool {
        let operand = &self.value;
        match self.op {
            Op::Eq => same(value, operand),
            Op::Neq => !same(value, operand),
            Op::Gt => numbers(value, operand).is_some_and(|(a, b)| a > b),
            Op::Gte => numbers(value, operand).is_some_and(|(a, b)| a >= b),
            Op::Lt => numbers(value, operand).is_some_and(|(a, b)| a < b),
            Op::Lte => numbers(value, operand).is_some_and(|(a, b)| a <= b),
            Op::In => operand
                .as_array()
                .is_some_and(|items| items.iter().any(|i| same(value, i))),
            Op::NotIn => operand
                .as_array()
                .is_some_and(|items| !items.iter().any(|i| same(value, i))),
            Op::Contains => match (value, operand) {
                (Value::String(s), Value::String(needle)) => s.contains(needle.as_str()),
                (Value::Array(items), needle) => items.iter().any(|i| same(i, needle)),
                (Value::Object(map), Value::String(key)) => map.contains_key(key),
                _ => false,
            },
            Op::Matches => match (value, &self.regex) {
                (Value::String(s), Some(regex)) => regex.is_match(s),
                _ => false,
            },
            Op::Exists => true,
        }
    }

    /// Whether the condition holds on `fields`: with a wildcard, any matched value
    /// satisfying it is enough, except for `neq` and `not_in`, which need every one; no
    /// matched value satisfies nothing but `exists = false`.
    pub(crate) fn holds(&self, fields: &Value) -> bool {
        let found = self.path.resolve(fields);
        if self.op == Op::Exists {
            let wanted = self.value.as_bool().unwrap_or(true);
            return found.is_empty() != wanted;
        }
        if found.is_empty() {
            return false;
        }
        match self.op {
            Op::Neq | Op::NotIn => found.iter().all(|(_, v)| self.holds_for(v)),
            _ => found.iter().any(|(_, v)| self.holds_for(v)),
        }
    }

    /// Plain words for a generated display.
    pub(crate) fn words(&self) -> String {
        match &self.display {
            Some(display) => display.clone(),
            None => format!("{} {} {}", self.field, self.op.as_str(), self.value),
        }
    }
}
