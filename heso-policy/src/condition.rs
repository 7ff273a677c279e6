//! Conditions on an action's fields.
//!
//! `gt`, `gte`, `lt` and `lte` compare exact numbers: JSON numbers (integers from their
//! digits, never through `f64`) and numeric strings (`"5000.00"`, `"5E+3"`, `"10000/2"`).
//! A value they cannot compare (an object, array, bool, `null`, other text) makes the
//! condition `Refused`, and evaluation turns that into a `block` by the rule. `eq`, `neq`,
//! `in`, `not_in` and `contains` compare a number against a number or numeric string
//! exactly, and anything else by JSON equality; a bool is never a number.

use std::cmp::Ordering;

use heso_receipt::FieldPath;
use regex::Regex;
use serde_json::Value;

use crate::number::{Exact, same};

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

/// What one condition found on an action's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It holds.
    Holds,
    /// It does not hold, for certain.
    Fails,
    /// It met a value its operator cannot compare (an order on something that is not a
    /// number), so whether it holds is unknown. The rule refuses rather than be skipped:
    /// skipping would let `amount gt 1000` wave `{"amount": "lots"}` through.
    Refused,
}

impl Condition {
    /// Whether one value satisfies the operator; `None` when the operator cannot compare
    /// it (only the order operators, on a value that is not an exact number).
    fn holds_for(&self, value: &Value) -> Option<bool> {
        let operand = &self.value;
        Some(match self.op {
            Op::Eq => same(value, operand),
            Op::Neq => !same(value, operand),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let order = Exact::from_value(value)?.compare(&Exact::from_value(operand)?)?;
                match self.op {
                    Op::Gt => order == Ordering::Greater,
                    Op::Gte => order != Ordering::Less,
                    Op::Lt => order == Ordering::Less,
                    _ => order != Ordering::Greater,
                }
            }
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
        })
    }

    /// Whether the condition holds on `fields`: with a wildcard, any matched value
    /// satisfying it is enough, except for `neq` and `not_in`, which need every one; no
    /// matched value satisfies nothing but `exists = false`. When no value satisfies it
    /// and one could not be compared, the outcome is `Refused`, never `Fails`.
    pub(crate) fn holds(&self, fields: &Value) -> Outcome {
        let found = self.path.resolve(fields);
        let verdict = |holds: bool| {
            if holds {
                Outcome::Holds
            } else {
                Outcome::Fails
            }
        };
        if self.op == Op::Exists {
            let wanted = self.value.as_bool().unwrap_or(true);
            return verdict(found.is_empty() != wanted);
        }
        if found.is_empty() {
            return Outcome::Fails;
        }
        let mut outcomes = found.iter().map(|(_, v)| self.holds_for(v));
        match self.op {
            // Equality is defined on every value, so these never refuse.
            Op::Neq | Op::NotIn => verdict(outcomes.all(|o| o == Some(true))),
            _ => {
                let mut refused = false;
                for outcome in outcomes {
                    match outcome {
                        Some(true) => return Outcome::Holds,
                        Some(false) => {}
                        None => refused = true,
                    }
                }
                if refused {
                    Outcome::Refused
                } else {
                    Outcome::Fails
                }
            }
        }
    }

    /// True for the operators that order numbers and so refuse other values.
    pub(crate) fn is_numeric_order(&self) -> bool {
        matches!(self.op, Op::Gt | Op::Gte | Op::Lt | Op::Lte)
    }

    /// Plain words for a generated display.
    pub(crate) fn words(&self) -> String {
        match &self.display {
            Some(display) => display.clone(),
            None => format!("{} {} {}", self.field, self.op.as_str(), self.value),
        }
    }
}
