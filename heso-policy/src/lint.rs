//! Warnings about a policy that loads but probably does not say what its author meant.

use std::fmt;

use heso_receipt::{Decision, Verb, VerifyingKey, public_key_to_did_key};

use crate::parse::{Pattern, Policy, Rule};

/// One lint finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintWarning {
    /// The rule it is about, if any.
    pub rule: Option<String>,
    /// What is wrong, in plain words.
    pub message: String,
}

impl fmt::Display for LintWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(rule) => write!(f, "rule {rule:?}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// `earlier` matches at least what `later` matches on this matcher: absent, `*`, or the
/// same text.
fn covers(earlier: &Option<Pattern>, later: &Option<Pattern>) -> bool {
    match (earlier, later) {
        (None, _) => true,
        (Some(e), _) if e.is_star() => true,
        (Some(e), Some(l)) => e.text == l.text,
        (Some(_), None) => false,
    }
}

/// Conservative: only when `earlier` certainly matches everything `later` matches.
fn shadows(earlier: &Rule, later: &Rule) -> bool {
    let verbs = match (&earlier.verbs, &later.verbs) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(e), Some(l)) => l.iter().all(|v| e.contains(v)),
    };
    earlier.enabled
        && earlier.conditions.is_empty()
        && verbs
        && covers(&earlier.tool, &later.tool)
        && covers(&earlier.workflow, &later.workflow)
        && match (&earlier.scope, &later.scope) {
            (None, _) => true,
            (Some(e), _) if e.is_star() => true,
            (Some(e), Some(l)) => e.text == l.text,
            (Some(_), None) => false,
        }
        && (earlier.subject == crate::parse::Subject::Any || earlier.subject == later.subject)
}

impl Policy {
    /// Lint warnings: shadowed rules, rules the delete floor overrides (delete named in
    /// an allow or redact rule's verbs, or covered by a rule for any verb), a catch-all
    /// rule that is not last, disabled rules, approver names without an `[approvers]`
    /// entry, approval that nobody can give, and numeric comparisons (which refuse values
    /// that are not numbers: the policy text cannot say what type a field will hold).
    ///
    /// [`Policy::lint_with_operator`] adds what needs the operator's key.
    pub fn lint(&self) -> Vec<LintWarning> {
        let mut out = Vec::new();
        let mut warn = |rule: Option<&str>, message: String| {
            out.push(LintWarning {
                rule: rule.map(str::to_owned),
                message,
            });
        };
        let last_enabled = self.rules.iter().rposition(|r| r.enabled);
        for (position, rule) in self.rules.iter().enumerate() {
            let id = Some(rule.id.as_str());
            if !rule.enabled {
                warn(id, "is disabled (enabled = false): it never decides".into());
                continue;
            }
            if let Some(earlier) = self
                .rules
                .get(..position)
                .and_then(|before| before.iter().find(|e| shadows(e, rule)))
            {
                warn(
                    id,
                    format!(
                        "is never reached: rule {:?} comes first and matches every action it matches",
                        earlier.id
                    ),
                );
            }
            let names_delete = rule
                .verbs
                .as_ref()
                .is_some_and(|v| v.contains(&Verb::Delete));
            let lets_through = matches!(rule.decision, Decision::Allow | Decision::Redact);
            if names_delete && lets_through {
                warn(
                    id,
                    "allows delete, but the delete floor turns every delete into require_approval"
                        .into(),
                );
            } else if rule.verbs.is_none() && lets_through {
                warn(
                    id,
                    format!(
                        "matches every verb, delete included, but the delete floor turns every delete into require_approval: name the verbs it should {}",
                        rule.decision
                    ),
                );
            }
            for condition in rule.conditions.iter().filter(|c| c.is_numeric_order()) {
                warn(
                    id,
                    format!(
                        "condition {} {} {} compares numbers: when {} holds something that is not a number or a numeric string (\"5000.00\", \"10000/2\"), it cannot compare it and this rule blocks the action",
                        condition.field,
                        condition.op.as_str(),
                        condition.value,
                        condition.field
                    ),
                );
            }
            if rule.has_no_matchers() && Some(position) != last_enabled {
                warn(
                    id,
                    "has no matchers, so it decides every action and the rules after it never run"
                        .into(),
                );
            }
            for name in &rule.approvers {
                if !self.approvers.contains_key(name) {
                    warn(
                        id,
                        format!(
                            "names approver {name:?}, who has no [approvers.{name}] entry: nobody can approve as {name:?} yet"
                        ),
                    );
                }
            }
            if rule.decision == Decision::RequireApproval
                && rule
                    .approvers
                    .iter()
                    .all(|n| !self.approvers.contains_key(n))
                && self
                    .default_approvers
                    .iter()
                    .all(|n| !self.approvers.contains_key(n))
            {
                warn(id, "requires approval, but no approver with a key is named here or in [defaults]: its actions can only expire".into());
            }
        }
        for name in &self.default_approvers {
            if !self.approvers.contains_key(name) {
                warn(
                    None,
                    format!(
                        "[defaults] names approver {name:?}, who has no [approvers.{name}] entry"
                    ),
                );
            }
        }
        out
    }

    /// [`Policy::lint`], plus warnings that need the operator's public key: an approver
    /// whose key is the operator's. Such an approval could never count (a receipt signed
    /// twice by one key is `SelfApproval`), so its actions wait for someone else or expire.
    pub fn lint_with_operator(&self, operator: &VerifyingKey) -> Vec<LintWarning> {
        let mut out = self.lint();
        for (name, key) in &self.approvers {
            if key == operator {
                out.push(LintWarning {
                    rule: None,
                    message: format!(
                        "approver {name:?} has the operator's key ({}): the operator cannot approve its own actions, so no approval from {name:?} will ever count; give {name:?} a key of their own (heso keys new-approver {name})",
                        public_key_to_did_key(operator)
                    ),
                });
            }
        }
        out
    }
}
