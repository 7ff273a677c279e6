//! First-match-wins evaluation, and the pinned delete floor.

use std::cell::OnceCell;

use heso_receipt::{Decision, MatchedCondition, RedactionMode, Verb, VerifyingKey};
use serde_json::{Map, Value};

use crate::condition::{Condition, Outcome};
use crate::parse::{Policy, Rule, Subject};

/// The action to decide, with its real field values (before any redaction).
#[derive(Debug, Clone, Copy)]
pub struct ActionInput<'a> {
    /// The verb.
    pub verb: Verb,
    /// The tool or method name.
    pub tool_name: &'a str,
    /// The workflow.
    pub workflow: &'a str,
    /// The account.
    pub account: &'a str,
    /// The target host, if any.
    pub target_host: Option<&'a str>,
    /// The call's arguments.
    pub fields: &'a Map<String, Value>,
}

/// An approver a decision names, with their key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedApprover {
    /// The name in `[approvers]`.
    pub name: String,
    /// Their public key.
    pub key: VerifyingKey,
}

/// The policy's decision on one action, with what the receipt records.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The decision (after the delete floor).
    pub decision: Decision,
    /// The deciding rule's id (`default` when none matched).
    pub rule_id: String,
    /// The rule in plain words; ends with ` (delete floor)` when the floor decided.
    pub rule_display: String,
    /// The deciding rule's conditions, operands as written (never the action's values).
    pub matched_conditions: Vec<MatchedCondition>,
    /// Field paths to redact: the deciding rule's, when its decision is `redact`, kept
    /// when the delete floor turns that decision into `require_approval`.
    pub redact: Vec<String>,
    /// How to redact them.
    pub redact_mode: RedactionMode,
    /// Who may approve (decision `require_approval`): names in `[approvers]` only.
    pub approvers: Vec<ResolvedApprover>,
    /// Minutes before a pending action expires.
    pub sla_minutes: u64,
    /// True when the delete floor changed the outcome.
    pub floor_applied: bool,
}

/// Suffix of `rule_display` when the delete floor decided.
pub const FLOOR_SUFFIX: &str = " (delete floor)";

fn verb_slot(verb: Verb) -> usize {
    Verb::ALL.iter().position(|v| *v == verb).unwrap_or(0)
}

/// Whether a rule matches an action.
enum Match<'r> {
    /// It does not, for certain.
    No,
    /// It does.
    Yes,
    /// Everything else holds, but this condition met a value it cannot compare.
    Refused(&'r Condition),
}

impl Rule {
    fn matches(&self, action: &ActionInput<'_>, fields: &OnceCell<Value>) -> Match<'_> {
        let subject = match &self.subject {
            Subject::Any => true,
            Subject::Workflow(w) => w == action.workflow,
            Subject::Account(a) => a == action.account,
        };
        let matchers = subject
            && self
                .tool
                .as_ref()
                .is_none_or(|p| p.matches(action.tool_name))
            && self
                .workflow
                .as_ref()
                .is_none_or(|p| p.matches(action.workflow))
            && self
                .scope
                .as_ref()
                .is_none_or(|p| match action.target_host {
                    Some(host) => p.matches(host),
                    None => p.is_star(),
                });
        if !matchers {
            return Match::No;
        }
        // A condition that fails for certain rules the rule out whatever another could not
        // compare; only when nothing fails does a refusal decide.
        let mut refused = None;
        for condition in &self.conditions {
            match condition.holds(fields.get_or_init(|| Value::Object(action.fields.clone()))) {
                Outcome::Holds => {}
                Outcome::Fails => return Match::No,
                Outcome::Refused => {
                    refused.get_or_insert(condition);
                }
            }
        }
        match refused {
            Some(condition) => Match::Refused(condition),
            None => Match::Yes,
        }
    }

    fn recorded_conditions(&self) -> Vec<MatchedCondition> {
        self.conditions
            .iter()
            .map(|c| MatchedCondition {
                field: c.field.clone(),
                op: c.op.as_str().to_owned(),
                value: c.value.clone(),
            })
            .collect()
    }
}

impl Policy {
    /// Decides `action`: the first enabled matching rule, else `[defaults]`; then the
    /// delete floor, which no setting turns off.
    pub fn evaluate(&self, action: &ActionInput<'_>) -> Evaluation {
        let fields = OnceCell::new();
        let found = self
            .by_verb
            .get(verb_slot(action.verb))
            .into_iter()
            .flatten()
            .filter_map(|&i| self.rules.get(i))
            .find_map(|rule| match rule.matches(action, &fields) {
                Match::No => None,
                Match::Yes => Some((rule, None)),
                Match::Refused(condition) => Some((rule, Some(condition))),
            });
        let winner = match found {
            Some((rule, Some(condition))) => return self.refusal(rule, condition),
            Some((rule, None)) => Some(rule),
            None => None,
        };

        let mut evaluation = match winner {
            Some(rule) => Evaluation {
                decision: rule.decision,
                rule_id: rule.id.clone(),
                rule_display: rule.display.clone(),
                matched_conditions: rule.recorded_conditions(),
                redact: Vec::new(),
                redact_mode: rule.redact_mode,
                approvers: Vec::new(),
                sla_minutes: rule.sla_minutes.unwrap_or(self.default_sla),
                floor_applied: false,
            },
            None => Evaluation {
                decision: self.default_decision,
                rule_id: "default".to_owned(),
                rule_display: format!(
                    "No rule matched {} on {}: the default decision, {}",
                    action.verb,
                    if action.tool_name.is_empty() {
                        "any tool"
                    } else {
                        action.tool_name
                    },
                    self.default_decision
                ),
                matched_conditions: Vec::new(),
                redact: Vec::new(),
                redact_mode: RedactionMode::CommitAndReveal,
                approvers: Vec::new(),
                sla_minutes: self.default_sla,
                floor_applied: false,
            },
        };

        // The delete floor: a delete never comes out allow or redact.
        if action.verb == Verb::Delete
            && matches!(evaluation.decision, Decision::Allow | Decision::Redact)
        {
            evaluation.decision = Decision::RequireApproval;
            evaluation.floor_applied = true;
            evaluation.matched_conditions.push(MatchedCondition {
                field: "verb".to_owned(),
                op: "eq".to_owned(),
                value: Value::String("delete".to_owned()),
            });
            evaluation.rule_display.push_str(FLOOR_SUFFIX);
            evaluation.sla_minutes = self.default_sla;
        }

        // A rule's redact fields are hidden whenever that rule decided, whatever the floor
        // made of its decision: the floor adds a person, it never removes a redaction.
        if let Some(rule) = winner.filter(|r| r.decision == Decision::Redact) {
            evaluation.redact = rule.redact.clone();
        }
        if evaluation.decision == Decision::RequireApproval {
            let names = match winner {
                Some(rule) if !evaluation.floor_applied && !rule.approvers.is_empty() => {
                    &rule.approvers
                }
                _ => &self.default_approvers,
            };
            evaluation.approvers = names
                .iter()
                .filter_map(|name| {
                    self.approvers.get(name).map(|key| ResolvedApprover {
                        name: name.clone(),
                        key: *key,
                    })
                })
                .collect();
        }
        evaluation
    }

    /// The `block` a rule gives when one of its conditions met a value it cannot compare:
    /// the rule decides (never a later one), and its display says which field and why.
    /// A block is below the delete floor, so the floor leaves it alone.
    fn refusal(&self, rule: &Rule, condition: &Condition) -> Evaluation {
        Evaluation {
            decision: Decision::Block,
            rule_id: rule.id.clone(),
            rule_display: format!(
                "{} (refused: field {} holds a value {} cannot compare)",
                rule.display,
                condition.field,
                condition.op.as_str()
            ),
            matched_conditions: rule.recorded_conditions(),
            redact: Vec::new(),
            redact_mode: rule.redact_mode,
            approvers: Vec::new(),
            sla_minutes: rule.sla_minutes.unwrap_or(self.default_sla),
            floor_applied: false,
        }
    }
}
