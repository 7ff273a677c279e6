//! Which keys verification trusts inside a project, all from `heso.toml`: the operator,
//! the operator keys it retired (`heso keys rotate`), the current approvers, and the
//! retired approvers; each retired key only for what it signed up to its retirement.

use heso_policy::Policy;
use heso_receipt::{PinnedKey, SignerPins, VerifyingKey, public_key_to_did_key};

use crate::config::RetiredOperator;

/// The pins of a project whose operator key is `operator`, whose former operator keys are
/// `retired_operators` (`[identity] retired`) and whose policy is `policy`. A retired
/// operator key is trusted for receipts captured up to its `retired_at`, a retired
/// approver for decisions made up to theirs. The one place project pins are built.
pub fn project_pins(
    policy: &Policy,
    operator: VerifyingKey,
    retired_operators: &[RetiredOperator],
) -> SignerPins {
    let mut keys = vec![PinnedKey {
        key: operator,
        until: None,
    }];
    keys.extend(retired_operators.iter().map(|retired| PinnedKey {
        key: retired.key,
        until: Some(retired.retired_at.clone()),
    }));
    keys.extend(
        policy
            .approvers()
            .map(|(_, key)| PinnedKey { key, until: None }),
    );
    keys.extend(policy.retired_approvers().map(|(_, retired)| PinnedKey {
        key: retired.key,
        until: Some(retired.retired_at.clone()),
    }));
    SignerPins::Dated(keys)
}

/// The retired approvers, in words, for a verifier's summary (empty when none).
pub fn retired_approvers_text(policy: &Policy) -> String {
    policy
        .retired_approvers()
        .map(|(name, retired)| format!("{name} (retired {})", retired.retired_at))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The retired operator keys, in words, for a verifier's summary (empty when none).
pub fn retired_operators_text(retired_operators: &[RetiredOperator]) -> String {
    retired_operators
        .iter()
        .map(|r| {
            format!(
                "{} (retired {})",
                public_key_to_did_key(&r.key),
                r.retired_at
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}
