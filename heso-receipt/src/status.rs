//! What a receipt records happened, in one word, for lists and the browser: the policy's
//! decision, refined by what heso writes into signed fields (an observed refusal, a
//! person's decision, an expiry, the run of an approved action).

use crate::model::{ApprovalOutcome, Content, Decision};

/// Suffix of `rule_display` on a refusal that was recorded but not enforced.
pub const OBSERVED_SUFFIX: &str = " (observed, not enforced)";
/// Text in `rule_display` of the receipt that claims an approved action's one run,
/// followed by the approving L1 receipt's action_hash and `)`.
pub const RESUMED_MARK: &str = " (resumed: approved in ";
/// Text in `rule_display` of the `block` receipt recording that nobody decided a parked
/// action in time, followed by its pending id.
pub const EXPIRED_MARK: &str = " (expired: no decision on ";

/// What a receipt records, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedStatus {
    /// Allowed by the policy.
    Allowed,
    /// Allowed with fields hidden by the policy.
    Redacted,
    /// Refused.
    Blocked,
    /// Parked until a person decides.
    AwaitingApproval,
    /// A refusal recorded but not enforced (observe-only).
    Observed,
    /// A person approved it (L1).
    Approved,
    /// A person rejected it (L1).
    Rejected,
    /// A person escalated it (L1).
    Escalated,
    /// Nobody decided it in time.
    Expired,
    /// The one run of an approved action.
    Resumed,
}

impl RecordedStatus {
    /// The word, as lists print it.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordedStatus::Allowed => "allowed",
            RecordedStatus::Redacted => "redacted",
            RecordedStatus::Blocked => "blocked",
            RecordedStatus::AwaitingApproval => "awaiting approval",
            RecordedStatus::Observed => "observed",
            RecordedStatus::Approved => "approved",
            RecordedStatus::Rejected => "rejected",
            RecordedStatus::Escalated => "escalated",
            RecordedStatus::Expired => "expired",
            RecordedStatus::Resumed => "resumed",
        }
    }

    /// What `content` records.
    pub fn of(content: &Content) -> RecordedStatus {
        if let Some(decision) = &content.approver_decision {
            return match decision.decision {
                ApprovalOutcome::Approved => RecordedStatus::Approved,
                ApprovalOutcome::Rejected => RecordedStatus::Rejected,
                ApprovalOutcome::Escalated => RecordedStatus::Escalated,
            };
        }
        let display = &content.policy.rule_display;
        if display.ends_with(OBSERVED_SUFFIX) {
            return RecordedStatus::Observed;
        }
        match content.policy.decision_path {
            Decision::Allow if display.contains(RESUMED_MARK) => RecordedStatus::Resumed,
            Decision::Allow => RecordedStatus::Allowed,
            Decision::Redact => RecordedStatus::Redacted,
            Decision::Block if display.contains(EXPIRED_MARK) => RecordedStatus::Expired,
            Decision::Block => RecordedStatus::Blocked,
            Decision::RequireApproval => RecordedStatus::AwaitingApproval,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn every_status_is_told_apart() {
        let receipt_of = |text: &str| -> crate::Receipt {
            let vector: serde_json::Value = serde_json::from_str(text).unwrap();
            serde_json::from_value(vector["receipt"].clone()).unwrap()
        };
        let vector = receipt_of(include_str!("../tests/data/receipt_l0.json"));
        let with = |decision: Decision, display: &str| {
            let mut content = vector.content.clone();
            content.policy.decision_path = decision;
            content.policy.rule_display = display.to_owned();
            RecordedStatus::of(&content)
        };
        assert_eq!(with(Decision::Allow, "r"), RecordedStatus::Allowed);
        assert_eq!(with(Decision::Redact, "r"), RecordedStatus::Redacted);
        assert_eq!(with(Decision::Block, "r"), RecordedStatus::Blocked);
        assert_eq!(
            with(Decision::RequireApproval, "r"),
            RecordedStatus::AwaitingApproval
        );
        assert_eq!(
            with(Decision::Block, &format!("r{OBSERVED_SUFFIX}")),
            RecordedStatus::Observed
        );
        assert_eq!(
            with(
                Decision::Block,
                &format!("r{EXPIRED_MARK}0123 within 60 minutes)")
            ),
            RecordedStatus::Expired
        );
        assert_eq!(
            with(Decision::Allow, &format!("r{RESUMED_MARK}ab)")),
            RecordedStatus::Resumed
        );
        let l1 = receipt_of(include_str!("../tests/data/receipt_l1.json"));
        assert_eq!(RecordedStatus::of(&l1.content), RecordedStatus::Approved);
    }
}
