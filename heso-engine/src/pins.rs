//! Which keys verification trusts inside a project, all from `heso.toml`: the operator,
//! the current approvers, and the retired approvers, each of these only for decisions
//! dated before they retired.

use heso_policy::Policy;
use heso_receipt::{PinnedKey, SignerPins, VerifyingKey};

/// The pins of a project whose operator key is `operator` and whose policy is `policy`.
pub fn project_pins(policy: &Policy, operator: VerifyingKey) -> SignerPins {
    let mut keys = vec![PinnedKey {
        key: operator,
        until: None,
    }];
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
