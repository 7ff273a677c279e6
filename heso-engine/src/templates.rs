//! The files `heso init` writes.

use heso_receipt::{VerifyingKey, public_key_to_did_key};

/// The starter `heso.toml` for the operator key `operator`; with `require_passphrase`, the
/// key opens only with `HESO_KEY_PASSPHRASE`, never the dev file.
pub fn starter_policy(operator: &VerifyingKey, require_passphrase: bool) -> String {
    STARTER_TEMPLATE
        .replace(OPERATOR_PLACEHOLDER, &public_key_to_did_key(operator))
        .replace(
            "require_passphrase = false",
            if require_passphrase {
                "require_passphrase = true"
            } else {
                "require_passphrase = false"
            },
        )
}

const OPERATOR_PLACEHOLDER: &str = "{operator did:key}";

/// The comment `heso init` writes above `[identity] operator`.
pub(crate) const OPERATOR_COMMENT: &str =
    "# The operator's public key. Verification in this project trusts receipts signed by this
# key (and by the approvers below), whatever heso-local-data/ holds. Written by `heso init`;
# change it only with `heso keys rotate`.";

const STARTER_TEMPLATE: &str = r#"# heso policy: what this project's agent may do.
#
# How it decides: rules run by ascending `order` (rules without one come after, in file
# order). The FIRST enabled rule whose matchers all hold decides: allow, block, redact or
# require_approval. When no rule matches, [defaults] decides; it is require_approval, so
# nothing is ever silently allowed. A `delete` can never come out allow or redact: the
# delete floor turns it into require_approval, whatever a rule says.
#
# Check this file with `heso policy check`; see which rule decides an action with
# `heso policy explain --verb tool_call --tool search`.

[identity]
# The operator's public key. Verification in this project trusts receipts signed by this
# key (and by the approvers below), whatever heso-local-data/ holds. Written by `heso init`;
# change it only with `heso keys rotate`.
operator = "{operator did:key}"
# true: the operator key opens only with HESO_KEY_PASSPHRASE, never the dev file.
require_passphrase = false

[log]
# "fsync": every receipt is on disk before the action runs. "os": faster, but a crash or
# power loss may lose the last receipts.
durability = "fsync"

[defaults]
decision = "require_approval"
sla_minutes = 60
# approvers = ["alice"]

[[rule]]
id = "llm.allow"
order = 10
verb = "llm_call"
decision = "allow"

[[rule]]
id = "tool.allow"
order = 20
verb = "tool_call"
decision = "allow"

[[rule]]
id = "delete.requires_approval"
order = 30
verb = "delete"
decision = "require_approval"
sla_minutes = 60

[[rule]]
id = "payment.large.requires_approval"
order = 40
verb = "payment"
conditions = [{ field = "amount", op = "gt", value = 1000, display = "amount > 1000" }]
decision = "require_approval"

# People who may approve: `heso keys new-approver NAME --default` creates their key and
# adds them here (and to [defaults]); name them in a rule (`approvers = ["NAME"]`) to let
# them decide its actions. `heso keys retire-approver NAME` stops them deciding.
# [approvers.alice]
# key = "did:key:z6Mk..."
"#;

/// `heso_bootstrap.py`.
pub const BOOTSTRAP: &str = r#""""heso bootstrap: import this module first so every gated call is recorded.

Written by `heso init`. It finds heso.toml (here, HESO_PROJECT_ROOT, or a parent folder),
unlocks the operator key and opens the audit log.
"""

import heso

heso.init()
"#;

/// The `.gitignore` line for local state.
pub const GITIGNORE_LINE: &str = "heso-local-data/";

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    #[test]
    fn the_starter_policy_parses_and_pins_its_operator() {
        let key = heso_receipt::SigningKey::from_bytes(&[7; 32]).verifying_key();
        for require in [false, true] {
            let text = starter_policy(&key, require);
            assert!(text.contains(OPERATOR_COMMENT), "{text}");
            let config = crate::config::parse_config(&text, "heso.toml").unwrap();
            assert_eq!(config.operator, Some(key));
            assert_eq!(config.require_passphrase, require);
        }
    }
}
