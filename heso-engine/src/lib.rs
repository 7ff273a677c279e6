//! The heso gate: captures an action, decides it with the policy, redacts it, signs it
//! into an Action Receipt and appends it to the audit log, before the action may run.
//! Also approvals (L1), reveal of committed fields, and `heso init`.
//!
//! heso-engine composes heso-policy, heso-redact, heso-keystore, heso-chain and
//! heso-receipt; it parses no command line and knows nothing of Python.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod approvals;
mod checkpoints;
mod clock;
mod config;
mod config_edit;
mod engine;
mod gate;
mod host;
mod identity;
mod init;
mod ledger;
mod pins;
mod project;
mod reveal;
mod rotate;
mod salts;
mod sealed_call;
mod templates;

pub use approvals::{
    AppendCause, ApprovalError, ApprovalState, ClaimedRun, DecisionFault, ItemDamage,
    NEW_APPROVER_HINT, ParkedReceiptProblem, PendingAction, PendingItem, PendingTicket,
};
pub use checkpoints::{CHECKPOINT_EVERY, CHECKPOINTS_DIR, CheckpointError};
pub use clock::now_rfc3339;
pub use config::{Config, ConfigError, RetiredOperator, load_config, parse_config};
pub use config_edit::{ConfigEditError, add_approver, retire_approver, rotate_operator_pin};
pub use engine::{Engine, OpenError};
pub use gate::{
    ActionRequest, GateError, GateOutcome, GateStatus, MAX_FIELD_DEPTH, OBSERVED_SUFFIX,
};
pub use host::{HostError, normalize_host};
pub use identity::{IdentityError, OperatorIdentity, operator_identity};
pub use init::{BOOTSTRAP_FILE, InitError, InitReport, Step, init_project};
pub use pins::{project_pins, retired_approvers_text, retired_operators_text};
pub use project::{CONFIG_FILE, DATA_DIR, DiscoverError, ProjectPaths, discover};
pub use reveal::{Disclosure, FindError, RevealCheck, RevealError};
pub use rotate::{ROTATION_TOOL, RotateError, Rotation, rotate_operator};
pub use salts::{SALTS_KEY_CONTEXT, SaltStore, SaltStoreError};
pub use sealed_call::{SealError, SealedCall};
pub use templates::starter_policy;
