//! The policy tables of `heso.toml`: parsing (every error at file:line:column),
//! first-match-wins evaluation, the pinned delete floor, and lint.
//!
//! The crate knows nothing of private keys, files or receipts' bytes: it reads the policy
//! text and decides actions. `[identity]` and `[log]` are skipped here (heso-engine parses
//! them); any other unknown key is an error, because a typo must never widen a policy.
//!
//! ```
//! use heso_policy::{ActionInput, Policy};
//! use heso_receipt::{Decision, Verb};
//!
//! let policy = Policy::parse(
//!     "[[rule]]\nid = \"tool.allow\"\nverb = \"tool_call\"\ndecision = \"allow\"\n",
//!     "heso.toml",
//! )
//! .unwrap();
//! let fields = serde_json::Map::new();
//! let action = ActionInput {
//!     verb: Verb::Delete,
//!     tool_name: "drop_table",
//!     workflow: "default",
//!     account: "default",
//!     target_host: None,
//!     fields: &fields,
//! };
//! // No rule matches a delete, and the default asks a person.
//! assert_eq!(policy.evaluate(&action).decision, Decision::RequireApproval);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod condition;
mod evaluate;
mod lint;
mod number;
mod parse;

pub use condition::{Condition, Op};
pub use evaluate::{ActionInput, Evaluation, FLOOR_SUFFIX, ResolvedApprover};
pub use lint::LintWarning;
pub use parse::{ApprovalTerms, Policy, PolicyError, RetiredApprover, Rule, Subject};

/// Lowercase hex BLAKE3 of the policy file's bytes (shown by `heso policy check`).
pub fn policy_hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}
