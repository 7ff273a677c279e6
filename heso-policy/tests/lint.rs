//! Lint findings added for issue 14: numeric conditions refuse what they cannot compare,
//! allow rules that cover delete, and an operator key that is also an approver.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use heso_policy::Policy;
use heso_receipt::{SigningKey, public_key_to_did_key};

fn warnings(policy: &Policy) -> Vec<String> {
    policy.lint().iter().map(ToString::to_string).collect()
}

#[test]
fn a_numeric_comparison_warns_that_it_refuses_other_values() {
    let policy = Policy::parse(
        r#"
[[rule]]
id = "big"
verb = "payment"
conditions = [
    { field = "amount", op = "gt", value = 1000 },
    { field = "currency", op = "eq", value = "USD" },
    { field = "count", op = "lte", value = 3 },
]
decision = "require_approval"
"#,
        "heso.toml",
    )
    .unwrap();
    let found = warnings(&policy);
    let numeric: Vec<&String> = found
        .iter()
        .filter(|w| w.contains("cannot compare"))
        .collect();
    assert_eq!(numeric.len(), 2, "{found:?}");
    assert!(numeric[0].starts_with("rule \"big\""), "{found:?}");
    assert!(numeric[0].contains("amount gt 1000"), "{found:?}");
    assert!(numeric[0].contains("block"), "{found:?}");
    assert!(numeric[1].contains("count lte 3"), "{found:?}");
    // Equality is defined for every value: no warning for it.
    assert!(!found.iter().any(|w| w.contains("currency")), "{found:?}");
}

#[test]
fn an_allow_rule_over_delete_is_flagged_explicit_or_by_any_verb() {
    let policy = Policy::parse(
        r#"
[[rule]]
id = "named"
verb = ["tool_call", "delete"]
decision = "allow"

[[rule]]
id = "every-verb"
tool = "cleanup_*"
decision = "allow"

[[rule]]
id = "no-delete"
verb = ["tool_call"]
tool = "x"
decision = "allow"

[[rule]]
id = "blocks"
tool = "y"
decision = "block"
"#,
        "heso.toml",
    )
    .unwrap();
    let found = warnings(&policy);
    let floor: Vec<&String> = found
        .iter()
        .filter(|w| w.contains("delete floor"))
        .collect();
    assert!(
        floor.iter().any(|w| w.starts_with("rule \"named\"")),
        "{found:?}"
    );
    assert!(
        floor.iter().any(|w| w.starts_with("rule \"every-verb\"")),
        "{found:?}"
    );
    assert_eq!(floor.len(), 2, "{found:?}");
}

#[test]
fn the_operator_as_an_approver_is_flagged() {
    let operator = SigningKey::from_bytes(&[1u8; 32]).verifying_key();
    let person = SigningKey::from_bytes(&[2u8; 32]).verifying_key();
    let text = format!(
        r#"
[approvers.ops]
key = "{}"

[approvers.alice]
key = "{}"

[defaults]
approvers = ["ops", "alice"]
"#,
        public_key_to_did_key(&operator),
        public_key_to_did_key(&person),
    );
    let policy = Policy::parse(&text, "heso.toml").unwrap();
    let with: Vec<String> = policy
        .lint_with_operator(&operator)
        .iter()
        .map(ToString::to_string)
        .collect();
    let flagged: Vec<&String> = with.iter().filter(|w| w.contains("operator")).collect();
    assert_eq!(flagged.len(), 1, "{with:?}");
    assert!(flagged[0].contains("\"ops\""), "{with:?}");
    assert!(!flagged[0].contains("alice"), "{with:?}");
    // Everything lint() says, lint_with_operator() says too.
    for warning in warnings(&policy) {
        assert!(with.contains(&warning), "{warning}");
    }
    // Another operator: nothing to flag; and lint() alone cannot know the operator.
    let other = SigningKey::from_bytes(&[3u8; 32]).verifying_key();
    assert!(
        !policy
            .lint_with_operator(&other)
            .iter()
            .any(|w| w.to_string().contains("operator")),
    );
    assert!(!warnings(&policy).iter().any(|w| w.contains("operator")));
}
