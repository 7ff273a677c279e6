//! The files `heso init` writes.

/// The starter `heso.toml`.
pub const STARTER_POLICY: &str = r#"# heso policy: what this project's agent may do.
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

# People who may approve: create a key with `heso keys new-approver NAME`, paste the
# lines it prints here, and name them in a rule (`approvers = ["NAME"]`) or in [defaults].
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
