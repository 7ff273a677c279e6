//! Approvals (L1): parking an action, a person's decision, resuming it exactly once, expiry.
//!
//! The signed log is the only authority. A parked action's state is read from the log
//! every time (see `ledger`): its parked L0 receipt, the L1 receipt that decided it, the
//! claim receipt of its one run, and its deadline; who may decide comes from the current
//! `heso.toml`. `pending/ID.json` is a hint: which receipt parked the call, and the call's
//! arguments sealed under a key derived from the operator seed (so another process can
//! resume it). No edit of it can approve an action, change what runs or widen who may
//! approve. Decisions and claims are checked and appended under the log's lock, so two
//! processes never both decide, or both run, one action.

use std::path::PathBuf;
use std::time::{Duration as StdDuration, Instant};

use heso_keystore::UnlockedKey;
use heso_policy::{ApprovalTerms, Evaluation, FLOOR_SUFFIX, ResolvedApprover};
use heso_receipt::{
    Action, ApprovalOutcome, Decision, Draft, PolicyRecord, Receipt, SignerPins, TrustLevel,
    Verdict, VerifyingKey, public_key_to_did_key, sign_approved_receipt, sign_receipt,
    verify_receipt,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::Duration;

use crate::clock::{format_rfc3339, now, now_rfc3339, parse_rfc3339};
use crate::engine::Engine;
use crate::ledger::{CLAIM_MARK, EXPIRY_MARK, Ledger, LedgerError, LoggedReceipt, read_ledger};
use crate::sealed_call::{SealError, SealedCall};
use heso_fs::{
    Existing, SECRET_FILE_MODE, create_private_dir, open_no_follow, read_no_follow, write_atomic,
};

/// The command that creates an approver and makes them the default one.
pub const NEW_APPROVER_HINT: &str = "heso keys new-approver NAME --default";

/// What a suspended caller gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTicket {
    /// The pending item's id (`heso approve ID`).
    pub id: String,
    /// Names of the people who may decide (current approvers only).
    pub approvers: Vec<String>,
    /// When it expires, RFC 3339 UTC.
    pub expires_at: String,
}

/// `pending/ID.json`: a hint naming the parked receipt, with the call's arguments sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingItem {
    /// The id: the first 16 hex digits of the parked receipt's action_hash.
    pub id: String,
    /// The parked L0 receipt's action_hash.
    pub parked_receipt: String,
    /// The tool, as gated (shown before the log is read; the log is what counts).
    pub tool_name: String,
    /// The call's arguments as gated, sealed.
    pub sealed_call: SealedCall,
    /// Set once this item's run was claimed (the claim receipt in the log is what counts;
    /// this only makes a lost claim receipt fail safe).
    #[serde(default)]
    pub claimed: bool,
}

/// Where a parked action stands, as the signed log and the current `heso.toml` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalState {
    /// Waiting for a person.
    Pending,
    /// Approved by a current approver; may run once.
    Approved {
        /// The L1 receipt's action_hash.
        receipt: String,
        /// The approver's name.
        approver: String,
    },
    /// Rejected (or escalated); never runs.
    Rejected {
        /// The L1 receipt's action_hash.
        receipt: String,
        /// The approver's name (or did:key when not a current approver).
        approver: String,
        /// Their reason.
        reason: String,
    },
    /// Nobody decided in time; never runs.
    Expired,
    /// Approved and its one run claimed.
    Resumed {
        /// The L1 receipt's action_hash.
        receipt: String,
        /// The claim receipt's action_hash, when the log holds it.
        claim: Option<String>,
    },
    /// The log holds a decision, but not one that counts now: a bad signature, or a signer
    /// who is not (or no longer) an approver of this action. It never runs; gate it again.
    Unauthorized {
        /// The L1 receipt's action_hash.
        receipt: String,
        /// Why it does not count.
        why: DecisionFault,
    },
}

/// Why a decision in the log does not count now ([`ApprovalState::Unauthorized`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecisionFault {
    /// A signer is not among this action's current approvers (nor the operator): the
    /// verdict (`UntrustedSigner`) names the key.
    #[error("it is signed by a key that is not a current approver of this action in heso.toml")]
    SignerNotApprover(Verdict),
    /// It verifies, but its operator signature is another key's (an approver's).
    #[error("it is co-signed by {operator}, not by this project's operator")]
    OtherOperator {
        /// The key that signed as operator, did:key.
        operator: String,
    },
    /// It verifies, but carries no approver signature.
    #[error("it carries no approver signature")]
    NoApproverSignature,
    /// It does not verify (a bad signature, an edited field, …): the verdict says why.
    #[error("{0}")]
    Unverified(Verdict),
}

impl ApprovalState {
    /// One word: pending, approved, rejected, expired, resumed or unauthorized.
    pub fn word(&self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved { .. } => "approved",
            ApprovalState::Rejected { .. } => "rejected",
            ApprovalState::Expired => "expired",
            ApprovalState::Resumed { .. } => "resumed",
            ApprovalState::Unauthorized { .. } => "unauthorized",
        }
    }
}

/// A parked action as a person deciding it sees it: everything from the signed log.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAction {
    /// The id.
    pub id: String,
    /// The parked L0 receipt (verified, operator pinned).
    pub parked: Receipt,
    /// The current approvers who may decide it.
    pub approvers: Vec<ResolvedApprover>,
    /// Every name the deciding rule (or `[defaults]`) gives, keyed or not.
    pub named_approvers: Vec<String>,
    /// When it expires, RFC 3339 UTC.
    pub expires_at: String,
    /// Where it stands.
    pub state: ApprovalState,
}

impl PendingAction {
    /// The action as recorded (redacted fields as their markers).
    pub fn action(&self) -> &Action {
        &self.parked.content.action
    }

    /// The policy record of the parked receipt.
    pub fn policy(&self) -> &PolicyRecord {
        &self.parked.content.policy
    }
}

/// An approved run, claimed: the arguments it must run with.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedRun {
    /// The tool, as recorded.
    pub tool_name: String,
    /// The call's arguments exactly as gated (before redaction).
    pub fields: Map<String, Value>,
    /// True when the caller said the fields are the call's arguments exactly, so the
    /// call can be rebuilt from them in another process.
    pub exact: bool,
    /// The L1 receipt that approved it.
    pub approval_receipt: String,
    /// The claim receipt appended before the run.
    pub claim_receipt: String,
}

/// Why an approval step's receipt could not be appended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendCause {
    /// Signing it failed.
    #[error(transparent)]
    Sign(heso_receipt::SignError),
    /// The log refused it or could not write it.
    #[error(transparent)]
    Log(heso_chain::AppendError<std::convert::Infallible>),
    /// The gate's own append (an expiry receipt) failed.
    #[error(transparent)]
    Gate(Box<crate::GateError>),
}

/// Why an approval step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// No pending item with this id.
    #[error("no pending action with id {0:?}; `heso pending` lists them")]
    UnknownId(String),
    /// Already approved or rejected.
    #[error("pending action {id} was already {}", .status.word())]
    AlreadyDecided {
        /// The id.
        id: String,
        /// Where it stands (approved, rejected, resumed or unauthorized).
        status: ApprovalState,
    },
    /// Expired before anyone decided (a block receipt records it).
    #[error("pending action {id} expired at {expires_at}; it will never run")]
    Expired {
        /// The id.
        id: String,
        /// When.
        expires_at: String,
    },
    /// The key given is not among the current approvers of this action.
    #[error("key {key} is not an approver of pending action {id} ({})", allowed_text(.allowed))]
    NotAnApprover {
        /// The id.
        id: String,
        /// The key tried, did:key.
        key: String,
        /// The names of the current approvers who may decide (none: nobody may yet).
        allowed: Vec<String>,
    },
    /// The operator cannot approve its own actions.
    #[error("the operator key cannot approve or reject: use an approver's key")]
    OperatorCannotApprove,
    /// Resume before a decision.
    #[error("pending action {0} has not been approved yet")]
    NotApproved(String),
    /// Resume after a rejection.
    #[error("pending action {0} was rejected; it will never run")]
    Rejected(String),
    /// Resume a second time.
    #[error("pending action {0} was already resumed; an approval runs once")]
    AlreadyResumed(String),
    /// The decision in the log does not count now.
    #[error(
        "pending action {id} cannot run: its decision {receipt} does not count ({why}); gate the call again"
    )]
    Unauthorized {
        /// The id.
        id: String,
        /// The L1 receipt.
        receipt: String,
        /// Why.
        #[source]
        why: DecisionFault,
    },
    /// The arguments given are not those that were approved.
    #[error(
        "pending action {0} was approved for other arguments: the call's arguments changed after it was parked, so it does not run"
    )]
    ArgumentsChanged(String),
    /// The call's arguments were recorded in summary, so only the process that parked it
    /// can run it.
    #[error(
        "pending action {id} ({tool}) can only be resumed by the process that parked it: some of its arguments are not plain data, so they cannot be rebuilt here"
    )]
    NotRebuildable {
        /// The id.
        id: String,
        /// The tool.
        tool: String,
    },
    /// An identical action parked earlier must be decided first.
    #[error(
        "pending action {id} is identical to {count} earlier undecided one(s) parked in the same second; decide those first (`heso pending`)"
    )]
    EarlierIdentical {
        /// The id.
        id: String,
        /// How many.
        count: usize,
    },
    /// The log does not hold a valid parked receipt for this item.
    #[error("pending action {id} has no valid parked receipt in the audit log: {cause}")]
    NoParkedReceipt {
        /// The id.
        id: String,
        /// Why.
        #[source]
        cause: ParkedReceiptProblem,
    },
    /// The sealed arguments do not open.
    #[error("pending action {id}: {source}")]
    Sealed {
        /// The id.
        id: String,
        /// What failed.
        #[source]
        source: SealError,
    },
    /// `heso.toml` is broken.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Reading or writing the item, or the log, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Appending to the log failed.
    #[error("cannot append the {what} receipt: {source}")]
    Append {
        /// Which receipt.
        what: &'static str,
        /// Why: signing it, or the log.
        #[source]
        source: AppendCause,
    },
    /// The item file is not what heso wrote (edited, or cut short).
    #[error("pending item {path} is damaged: {damage}")]
    Damaged {
        /// The file.
        path: String,
        /// What is wrong with it.
        #[source]
        damage: ItemDamage,
    },
    /// The item could not be written as JSON (nothing was written).
    #[error("cannot write pending item {path}: {source}")]
    Encode {
        /// The file.
        path: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
}

/// What is wrong with a damaged pending item file ([`ApprovalError::Damaged`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItemDamage {
    /// Not a pending item's JSON: a syntax error, or a field missing, unknown or of the
    /// wrong type (serde's message names it, with the line and column).
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// Its `id` is not the id its file is named for.
    #[error("its id is {found:?}, not {expected}, the id in its file name")]
    OtherId {
        /// The `id` it holds (at most 80 characters).
        found: String,
        /// The id its file name gives.
        expected: String,
    },
    /// Its `parked_receipt` is not a 64-digit hash beginning with its id: it points at
    /// another receipt, and an item must not be pointed at another action's approval.
    #[error("it names receipt {receipt:?}, which is not the receipt of id {id}")]
    OtherReceipt {
        /// The `parked_receipt` it holds (at most 80 characters).
        receipt: String,
        /// The item's id.
        id: String,
    },
}

/// Why the log holds no valid parked receipt for a pending item
/// ([`ApprovalError::NoParkedReceipt`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParkedReceiptProblem {
    /// No receipt parking an action has this action_hash (the item names it).
    #[error("receipt {0} is not in the log")]
    Missing(String),
    /// It does not verify as signed by this project's operator alone: the verdict says
    /// why (an edited field, another operator's key, an approver's signature, …).
    #[error(
        "the receipt is not a valid request for approval signed by this project's operator: {0}"
    )]
    Unverified(Verdict),
    /// It verifies, but records no request for approval.
    #[error("the receipt is an {trust_level} `{decision}` receipt, not a request for approval")]
    NotARequest {
        /// Its decision.
        decision: Decision,
        /// Its trust level.
        trust_level: TrustLevel,
    },
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> ApprovalError {
    move |source| ApprovalError::Io { what, source }
}

/// Parks an action after its L0 receipt is in the log: writes `pending/ID.json` with the
/// call's arguments (`fields`, before redaction) sealed. The id is the first 16 hex digits
/// of that receipt's action_hash.
pub(crate) fn park(
    engine: &Engine,
    draft: &Draft,
    action_hash: &str,
    evaluation: &Evaluation,
    fields: &Map<String, Value>,
    exact: bool,
) -> Result<PendingTicket, ApprovalError> {
    let dir = engine.paths.pending_dir();
    create_private_dir(&dir).map_err(io_error(format!("cannot create {}", dir.display())))?;
    let id = action_hash.get(..16).unwrap_or(action_hash).to_owned();
    let sealed_call = engine
        .sealer
        .seal(action_hash, fields, exact)
        .map_err(|source| ApprovalError::Sealed {
            id: id.clone(),
            source,
        })?;
    let item = PendingItem {
        id: id.clone(),
        parked_receipt: action_hash.to_owned(),
        tool_name: draft.action.tool_name.clone(),
        sealed_call,
        claimed: false,
    };
    let _lock = lock_item(engine, &id)?;
    save(engine, &item)?;
    Ok(PendingTicket {
        id,
        approvers: evaluation
            .approvers
            .iter()
            .map(|a| a.name.clone())
            .collect(),
        expires_at: expiry_of(&draft.captured_at, evaluation.sla_minutes),
    })
}

/// `captured_at` plus `minutes`, RFC 3339 UTC; an unreadable time expires at once.
fn expiry_of(captured_at: &str, minutes: u64) -> String {
    let minutes = i64::try_from(minutes).unwrap_or(i64::MAX / 120);
    let created = parse_rfc3339(captured_at).unwrap_or_else(now);
    format_rfc3339(created.saturating_add(Duration::minutes(minutes)))
}

/// Holds `pending/ID.lock` until dropped.
struct ItemLock(std::fs::File);

impl Drop for ItemLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock_item(engine: &Engine, id: &str) -> Result<ItemLock, ApprovalError> {
    let dir = engine.paths.pending_dir();
    heso_fs::refuse_symlink(&dir).map_err(io_error(format!("cannot use {}", dir.display())))?;
    let path = dir.join(format!("{id}.lock"));
    let file = open_no_follow(
        &path,
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
    .map_err(io_error(format!("cannot open {}", path.display())))?;
    file.lock()
        .map_err(io_error(format!("cannot lock {}", path.display())))?;
    Ok(ItemLock(file))
}

fn item_path(engine: &Engine, id: &str) -> PathBuf {
    engine.paths.pending_dir().join(format!("{id}.json"))
}

/// [`ApprovalError::UnknownId`], quoting at most 80 characters of what was given (an id
/// is at most 64).
fn unknown_id(id: &str) -> ApprovalError {
    let mut shown: String = id.chars().take(80).collect();
    if shown.len() < id.len() {
        shown.push('…');
    }
    ApprovalError::UnknownId(shown)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn load(engine: &Engine, id: &str) -> Result<PendingItem, ApprovalError> {
    let path = item_path(engine, id);
    let bytes = match read_no_follow(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(unknown_id(id)),
        Err(e) => return Err(io_error(format!("cannot read {}", path.display()))(e)),
    };
    let damaged = |damage| ApprovalError::Damaged {
        path: path.display().to_string(),
        damage,
    };
    let item: PendingItem =
        serde_json::from_slice(&bytes).map_err(|e| damaged(ItemDamage::Json(e)))?;
    // The file name is the id; the id is the parked receipt's prefix. Anything else was
    // edited, and pointing an item at another receipt must not work.
    if item.id != id {
        return Err(damaged(ItemDamage::OtherId {
            found: item.id.chars().take(80).collect(),
            expected: id.to_owned(),
        }));
    }
    if !item.parked_receipt.starts_with(id) || item.parked_receipt.len() != 64 {
        return Err(damaged(ItemDamage::OtherReceipt {
            receipt: item.parked_receipt.chars().take(80).collect(),
            id: id.to_owned(),
        }));
    }
    Ok(item)
}

fn save(engine: &Engine, item: &PendingItem) -> Result<(), ApprovalError> {
    let path = item_path(engine, &item.id);
    let text = serde_json::to_vec_pretty(item).map_err(|source| ApprovalError::Encode {
        path: path.display().to_string(),
        source,
    })?;
    write_atomic(&path, &text, SECRET_FILE_MODE, Existing::Replace)
        .map_err(io_error(format!("cannot write {}", path.display())))
}

/// True when the delete floor decided the parked receipt.
fn floor_applied(policy: &PolicyRecord) -> bool {
    policy.rule_display.ends_with(FLOOR_SUFFIX)
        && policy
            .matched_conditions
            .iter()
            .any(|c| c.field == "verb" && c.op == "eq" && c.value == "delete")
}

/// An approver's display name: their name among `approvers`, else their did:key.
fn approver_name(approvers: &[ResolvedApprover], key: &heso_receipt::VerifyingKey) -> String {
    approvers
        .iter()
        .find(|a| a.key == *key)
        .map(|a| a.name.clone())
        .unwrap_or_else(|| public_key_to_did_key(key))
}

/// What the log and the current policy say about one item (the item's lock held).
struct Resolved {
    item: PendingItem,
    ledger: Ledger,
    terms: ApprovalTerms,
    expires_at: String,
    state: ApprovalState,
}

impl Engine {
    fn ledger_error(&self, id: &str, e: LedgerError) -> ApprovalError {
        match e {
            LedgerError::Read { path, source } => ApprovalError::Io {
                what: format!("cannot read {path}"),
                source,
            },
            LedgerError::ParkedMissing(hash) => ApprovalError::NoParkedReceipt {
                id: id.to_owned(),
                cause: ParkedReceiptProblem::Missing(hash),
            },
            LedgerError::NotParking(logged) => {
                // Say what it is: a receipt that does not verify, or one that records no
                // request for approval.
                let operator = SignerPins::Only(vec![self.operator.public_key()]);
                let verdict = verify_receipt(&logged.line, &operator).verdict;
                let cause = parked_request(verdict, &logged.receipt)
                    .err()
                    .unwrap_or_else(|| {
                        ParkedReceiptProblem::Missing(logged.receipt.content.action_hash.clone())
                    });
                ApprovalError::NoParkedReceipt {
                    id: id.to_owned(),
                    cause,
                }
            }
        }
    }

    /// Reads the item's state from the log, checking the parked receipt's signature and
    /// the decision's signers against the current `heso.toml`.
    fn resolve(&self, item: PendingItem) -> Result<Resolved, ApprovalError> {
        let id = item.id.clone();
        let ledger = read_ledger(&self.paths.receipts(), &id, &item.parked_receipt)
            .map_err(|e| self.ledger_error(&id, e))?;
        let operator = SignerPins::Only(vec![self.operator.public_key()]);
        let parked = &ledger.parked.receipt;
        let verdict = verify_receipt(&ledger.parked.line, &operator).verdict;
        if let Err(cause) = parked_request(verdict, parked) {
            return Err(ApprovalError::NoParkedReceipt { id, cause });
        }
        let loaded = self.config()?;
        let terms = loaded.config.policy.approval_terms(
            &parked.content.policy.rule_id,
            floor_applied(&parked.content.policy),
        );
        let expires_at = expiry_of(&parked.content.captured_at, terms.sla_minutes);
        let state = match &ledger.decision {
            Some(decision) => self.judge_decision(&item, &ledger, decision, &terms),
            None => {
                let expired = parse_rfc3339(&expires_at).is_none_or(|at| now() >= at);
                if expired {
                    ApprovalState::Expired
                } else {
                    ApprovalState::Pending
                }
            }
        };
        Ok(Resolved {
            item,
            ledger,
            terms,
            expires_at,
            state,
        })
    }

    /// The state a decision in the log gives, judged by the current approvers.
    fn judge_decision(
        &self,
        item: &PendingItem,
        ledger: &Ledger,
        decision: &LoggedReceipt,
        terms: &ApprovalTerms,
    ) -> ApprovalState {
        let receipt = decision.receipt.content.action_hash.clone();
        let mut keys = vec![self.operator.public_key()];
        keys.extend(terms.approvers.iter().map(|a| a.key));
        let checked = verify_receipt(&decision.line, &SignerPins::Only(keys));
        let (approver_key, outcome) =
            match decision_signers(checked.verdict, &self.operator.public_key()) {
                Ok(pair) => pair,
                Err(why) => return ApprovalState::Unauthorized { receipt, why },
            };
        let approver = approver_name(&terms.approvers, &approver_key);
        match outcome {
            ApprovalOutcome::Approved => {
                let claim = ledger
                    .claims
                    .iter()
                    .find(|c| {
                        verify_receipt(&c.line, &SignerPins::Only(vec![self.operator.public_key()]))
                            .verdict
                            .is_valid()
                    })
                    .map(|c| c.receipt.content.action_hash.clone());
                if claim.is_some() || item.claimed {
                    ApprovalState::Resumed { receipt, claim }
                } else {
                    ApprovalState::Approved { receipt, approver }
                }
            }
            ApprovalOutcome::Rejected | ApprovalOutcome::Escalated => ApprovalState::Rejected {
                receipt,
                approver,
                reason: decision
                    .receipt
                    .content
                    .approver_decision
                    .as_ref()
                    .map(|d| d.reason.clone())
                    .unwrap_or_default(),
            },
        }
    }

    /// Locks and resolves one item, recording its expiry if it has just expired.
    fn open_item(&self, id: &str) -> Result<(ItemLock, Resolved), ApprovalError> {
        // A link there counts as present (even dangling): `load` refuses it by name.
        if !valid_id(id) || std::fs::symlink_metadata(item_path(self, id)).is_err() {
            return Err(unknown_id(id));
        }
        let lock = lock_item(self, id)?;
        let item = load(self, id)?;
        let resolved = self.resolve(item)?;
        if resolved.state == ApprovalState::Expired && !resolved.ledger.expiry_recorded {
            self.record_expiry(&resolved)?;
        }
        Ok((lock, resolved))
    }

    /// Records an expiry as a `block` receipt (once: the log says whether it was).
    fn record_expiry(&self, resolved: &Resolved) -> Result<(), ApprovalError> {
        let parked = &resolved.ledger.parked.receipt.content;
        let draft = Draft {
            captured_at: now_rfc3339(),
            action: parked.action.clone(),
            policy: PolicyRecord {
                rule_id: parked.policy.rule_id.clone(),
                rule_display: format!(
                    "{}{EXPIRY_MARK}{} within {} minutes)",
                    parked.policy.rule_display, resolved.item.id, resolved.terms.sla_minutes
                ),
                matched_conditions: parked.policy.matched_conditions.clone(),
                decision_path: Decision::Block,
            },
            redaction: parked.redaction.clone(),
            chain: None,
        };
        self.append_l0(draft)
            .map(|_| ())
            .map_err(|e| ApprovalError::Append {
                what: "expiry",
                source: AppendCause::Gate(Box::new(e)),
            })
    }

    fn view(&self, resolved: Resolved) -> PendingAction {
        PendingAction {
            id: resolved.item.id,
            parked: resolved.ledger.parked.receipt,
            approvers: resolved.terms.approvers,
            named_approvers: resolved.terms.named,
            expires_at: resolved.expires_at,
            state: resolved.state,
        }
    }

    /// Every parked action with a pending item, oldest first, as the log says it stands
    /// (expiries noticed and recorded on the way). Items whose receipt is not in the log
    /// are reported as errors in the second list, never hidden.
    pub fn pending(&self) -> Result<(Vec<PendingAction>, Vec<ApprovalError>), ApprovalError> {
        let dir = self.paths.pending_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => return Err(io_error(format!("cannot read {}", dir.display()))(e)),
        };
        let mut items = Vec::new();
        let mut problems = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json").filter(|id| valid_id(id)) else {
                continue;
            };
            match self.open_item(id) {
                Ok((_lock, resolved)) => items.push(self.view(resolved)),
                Err(e) => problems.push(e),
            }
        }
        items.sort_by(|a, b| {
            a.parked
                .content
                .captured_at
                .cmp(&b.parked.content.captured_at)
                .then(a.id.cmp(&b.id))
        });
        Ok((items, problems))
    }

    /// One parked action by id, as the log says it stands.
    pub fn pending_action(&self, id: &str) -> Result<PendingAction, ApprovalError> {
        let (_lock, resolved) = self.open_item(id)?;
        Ok(self.view(resolved))
    }

    /// Waits until a person decided the action (or it expired), up to `timeout`, without
    /// busy-looping: the log is re-read only when its length changed, with a growing
    /// pause between looks (20 ms up to 500 ms).
    pub fn wait_for_decision(
        &self,
        id: &str,
        timeout: StdDuration,
    ) -> Result<PendingAction, ApprovalError> {
        let deadline = Instant::now() + timeout;
        let mut pause = StdDuration::from_millis(20);
        let mut last_len = None;
        loop {
            let len = std::fs::metadata(self.paths.receipts())
                .map(|m| m.len())
                .ok();
            if len != last_len {
                let action = self.pending_action(id)?;
                if action.state != ApprovalState::Pending {
                    return Ok(action);
                }
                last_len = len;
            }
            let now = Instant::now();
            if now >= deadline {
                return self.pending_action(id);
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(StdDuration::from_millis(500));
            // The deadline may pass with nothing appended: look once more then.
            if Instant::now() >= deadline {
                last_len = None;
            }
        }
    }

    /// A person approves or rejects a parked action. The action is the one the log holds
    /// (never the pending file's copy); the key must be a current approver of it in
    /// `heso.toml`, and not the operator. Under the log's lock, the log must not already
    /// hold a decision for it; the L1 receipt, signed by the approver and the operator,
    /// is appended there. Returns the receipt's action_hash.
    pub fn decide(
        &self,
        id: &str,
        approver: &UnlockedKey,
        outcome: ApprovalOutcome,
        reason: &str,
    ) -> Result<String, ApprovalError> {
        let (_lock, resolved) = self.open_item(id)?;
        self.check_undecided(&resolved)?;
        let key = approver.public_key();
        if key == self.operator.public_key() {
            return Err(ApprovalError::OperatorCannotApprove);
        }
        if !resolved.terms.approvers.iter().any(|a| a.key == key) {
            return Err(ApprovalError::NotAnApprover {
                id: resolved.item.id,
                key: public_key_to_did_key(&key),
                allowed: resolved
                    .terms
                    .approvers
                    .iter()
                    .map(|a| a.name.clone())
                    .collect(),
            });
        }
        let parked = resolved.ledger.parked.receipt.content.clone();
        let item = resolved.item.clone();
        let draft = Draft {
            captured_at: parked.captured_at,
            action: parked.action,
            policy: parked.policy,
            redaction: parked.redaction,
            chain: None,
        };
        let approval = heso_receipt::Approval {
            decision: outcome,
            reason: reason.to_owned(),
            decided_at: now_rfc3339(),
        };
        let (appended, _) = self
            .log
            .append_receipt(|position| {
                // Under the log's lock: nobody decided it since we looked.
                let again = self.resolve(item.clone())?;
                self.check_undecided(&again)?;
                let mut draft = draft.clone();
                draft.chain = Some(position.clone());
                sign_approved_receipt(
                    draft,
                    approval.clone(),
                    approver.signing_key(),
                    self.operator.signing_key(),
                )
                .map_err(|e| ApprovalError::Append {
                    what: "approval",
                    source: AppendCause::Sign(e),
                })
            })
            .map_err(|e| match e.split_build() {
                Err(inner) => inner,
                Ok(log) => ApprovalError::Append {
                    what: "approval",
                    source: AppendCause::Log(log),
                },
            })?;
        Ok(appended.action_hash)
    }

    fn check_undecided(&self, resolved: &Resolved) -> Result<(), ApprovalError> {
        let id = resolved.item.id.clone();
        match &resolved.state {
            ApprovalState::Pending => {}
            ApprovalState::Expired => {
                return Err(ApprovalError::Expired {
                    id,
                    expires_at: resolved.expires_at.clone(),
                });
            }
            other => {
                return Err(ApprovalError::AlreadyDecided {
                    id,
                    status: other.clone(),
                });
            }
        }
        if resolved.ledger.undecided_before > 0 {
            return Err(ApprovalError::EarlierIdentical {
                id,
                count: resolved.ledger.undecided_before,
            });
        }
        Ok(())
    }

    /// Claims the one run of an approved action, exactly once across processes: the log
    /// must hold a valid approval by a current approver and no claim of it; the claim
    /// receipt is appended (and synced) under the log's lock before this returns, so a
    /// crash after it leaves the action claimed, never run twice.
    ///
    /// `arguments`: the arguments the caller holds (an in-process resume); they must be
    /// the ones gated (same fingerprint), else [`ApprovalError::ArgumentsChanged`] and
    /// nothing is claimed. `None`: run with the sealed arguments (another process).
    pub fn claim(
        &self,
        id: &str,
        arguments: Option<&Map<String, Value>>,
    ) -> Result<ClaimedRun, ApprovalError> {
        let (_lock, resolved) = self.open_item(id)?;
        let approval_receipt = self.check_runnable(&resolved)?;
        let item = resolved.item.clone();
        let opened = self
            .sealer
            .open(&item.parked_receipt, &item.sealed_call)
            .map_err(|source| ApprovalError::Sealed {
                id: item.id.clone(),
                source,
            })?;
        if arguments.is_none() && !opened.exact {
            return Err(ApprovalError::NotRebuildable {
                id: item.id,
                tool: item.tool_name,
            });
        }
        if let Some(arguments) = arguments {
            let given =
                self.sealer
                    .fingerprint(arguments)
                    .map_err(|source| ApprovalError::Sealed {
                        id: item.id.clone(),
                        source,
                    })?;
            if given != opened.fingerprint {
                return Err(ApprovalError::ArgumentsChanged(item.id));
            }
        }
        let parked = resolved.ledger.parked.receipt.content.clone();
        let draft = Draft {
            captured_at: now_rfc3339(),
            action: parked.action.clone(),
            policy: PolicyRecord {
                rule_id: parked.policy.rule_id.clone(),
                rule_display: format!(
                    "{}{CLAIM_MARK}{approval_receipt})",
                    parked.policy.rule_display
                ),
                matched_conditions: parked.policy.matched_conditions.clone(),
                decision_path: Decision::Allow,
            },
            redaction: parked.redaction.clone(),
            chain: None,
        };
        let (appended, _) = self
            .log
            .append_receipt(|position| {
                // Under the log's lock: nobody claimed it since we looked.
                let again = self.resolve(item.clone())?;
                self.check_runnable(&again)?;
                let mut draft = draft.clone();
                draft.chain = Some(position.clone());
                sign_receipt(draft, self.operator.signing_key()).map_err(|e| {
                    ApprovalError::Append {
                        what: "claim",
                        source: AppendCause::Sign(e),
                    }
                })
            })
            .map_err(|e| match e.split_build() {
                Err(inner) => inner,
                Ok(log) => ApprovalError::Append {
                    what: "claim",
                    source: AppendCause::Log(log),
                },
            })?;
        let mut claimed = item;
        claimed.claimed = true;
        save(self, &claimed)?;
        Ok(ClaimedRun {
            tool_name: parked.action.tool_name,
            fields: opened.fields,
            exact: opened.exact,
            approval_receipt,
            claim_receipt: appended.action_hash,
        })
    }

    /// For a caller that retries a call after its approval (an MCP client does): claims
    /// the approved, unclaimed action parked for exactly this call (same verb, tool and
    /// arguments, by fingerprint), as [`Engine::claim`] would. `None` when there is none:
    /// gate the call as usual.
    pub fn claim_approved_retry(
        &self,
        verb: heso_receipt::Verb,
        tool_name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<Option<ClaimedRun>, ApprovalError> {
        let dir = self.paths.pending_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(format!("cannot read {}", dir.display()))(e)),
        };
        let wanted =
            self.sealer
                .fingerprint(arguments)
                .map_err(|source| ApprovalError::Sealed {
                    id: tool_name.to_owned(),
                    source,
                })?;
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".json")
                    .filter(|id| valid_id(id))
                    .map(str::to_owned)
            })
            .collect();
        ids.sort();
        for id in ids {
            // A damaged or foreign item is skipped here: it can only fail to run.
            let Ok(item) = load(self, &id) else { continue };
            if item.tool_name != tool_name {
                continue;
            }
            let same_call = self
                .sealer
                .open(&item.parked_receipt, &item.sealed_call)
                .is_ok_and(|opened| opened.fingerprint == wanted);
            if !same_call {
                continue;
            }
            let Ok(action) = self.pending_action(&id) else {
                continue;
            };
            if action.action().verb != verb
                || !matches!(action.state, ApprovalState::Approved { .. })
            {
                continue;
            }
            return self.claim(&id, Some(arguments)).map(Some);
        }
        Ok(None)
    }

    /// The approval's receipt when the action may run now; else why not.
    fn check_runnable(&self, resolved: &Resolved) -> Result<String, ApprovalError> {
        let id = resolved.item.id.clone();
        match &resolved.state {
            ApprovalState::Approved { receipt, .. } => Ok(receipt.clone()),
            ApprovalState::Pending => Err(ApprovalError::NotApproved(id)),
            ApprovalState::Rejected { .. } => Err(ApprovalError::Rejected(id)),
            ApprovalState::Expired => Err(ApprovalError::Expired {
                id,
                expires_at: resolved.expires_at.clone(),
            }),
            ApprovalState::Resumed { .. } => Err(ApprovalError::AlreadyResumed(id)),
            ApprovalState::Unauthorized { receipt, why } => Err(ApprovalError::Unauthorized {
                id,
                receipt: receipt.clone(),
                why: why.clone(),
            }),
        }
    }
}

/// Who may decide, in words, for [`ApprovalError::NotAnApprover`].
fn allowed_text(names: &[String]) -> String {
    if names.is_empty() {
        format!("no current approver is named for it; create one with `{NEW_APPROVER_HINT}`")
    } else {
        format!("allowed: {}", names.join(", "))
    }
}

/// Ok when `verdict` (under this project's operator key alone) and `receipt` make a valid
/// request for approval: an L0 `require_approval` receipt with no approver signature.
fn parked_request(verdict: Verdict, receipt: &Receipt) -> Result<(), ParkedReceiptProblem> {
    let Verdict::Valid(signers) = verdict else {
        return Err(ParkedReceiptProblem::Unverified(verdict));
    };
    let decision = receipt.content.policy.decision_path;
    // The log reader keeps only such receipts; checked again since it is what may run.
    if signers.approver.is_some() || decision != Decision::RequireApproval {
        return Err(ParkedReceiptProblem::NotARequest {
            decision,
            trust_level: signers.trust_level,
        });
    }
    Ok(())
}

/// The approver's key and outcome of a decision, from its verdict (under the operator and
/// the current approvers' keys); or why it does not count.
fn decision_signers(
    verdict: Verdict,
    operator: &VerifyingKey,
) -> Result<(VerifyingKey, ApprovalOutcome), DecisionFault> {
    match verdict {
        Verdict::Valid(signers) if signers.operator != *operator => {
            Err(DecisionFault::OtherOperator {
                operator: public_key_to_did_key(&signers.operator),
            })
        }
        Verdict::Valid(signers) => signers.approver.ok_or(DecisionFault::NoApproverSignature),
        untrusted @ Verdict::UntrustedSigner(_) => Err(DecisionFault::SignerNotApprover(untrusted)),
        other => Err(DecisionFault::Unverified(other)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use heso_keystore::{PassphraseSources, SecretString};
    use heso_policy::ActionInput;
    use heso_receipt::Verb;

    use super::*;

    /// An action parked by a receipt captured long ago (no need to wait for an SLA).
    fn park_in_the_past(engine: &Engine) -> String {
        let fields: Map<String, Value> = serde_json::from_str(r#"{"record_id":"r-1"}"#).unwrap();
        let loaded = engine.config().unwrap();
        let evaluation = loaded.config.policy.evaluate(&ActionInput {
            verb: Verb::Delete,
            tool_name: "delete_record",
            workflow: "default",
            account: "default",
            target_host: None,
            fields: &fields,
        });
        let draft = Draft {
            captured_at: "2020-01-01T00:00:00Z".into(),
            action: Action {
                verb: Verb::Delete,
                tool_name: "delete_record".into(),
                workflow: "default".into(),
                account: "default".into(),
                fields: fields.clone(),
                target_host: None,
                result_hash: None,
                error: None,
            },
            policy: PolicyRecord {
                rule_id: evaluation.rule_id.clone(),
                rule_display: evaluation.rule_display.clone(),
                matched_conditions: evaluation.matched_conditions.clone(),
                decision_path: evaluation.decision,
            },
            redaction: None,
            chain: None,
        };
        let (placed, draft) = engine.append_l0(draft).unwrap();
        park(
            engine,
            &draft,
            &placed.action_hash,
            &evaluation,
            &fields,
            true,
        )
        .unwrap()
        .id
    }

    /// A receipt signed by `operator` (and `approver`, for an L1 one), as its line.
    fn signed(
        decision: Decision,
        operator: &heso_receipt::SigningKey,
        approver: Option<&heso_receipt::SigningKey>,
    ) -> (Vec<u8>, Receipt) {
        let draft = Draft {
            captured_at: "2026-01-01T00:00:00Z".into(),
            action: Action {
                verb: Verb::Delete,
                tool_name: "delete_record".into(),
                workflow: "default".into(),
                account: "default".into(),
                fields: Map::new(),
                target_host: None,
                result_hash: None,
                error: None,
            },
            policy: PolicyRecord {
                rule_id: "r".into(),
                rule_display: "r".into(),
                matched_conditions: Vec::new(),
                decision_path: decision,
            },
            redaction: None,
            chain: None,
        };
        let receipt = match approver {
            None => sign_receipt(draft, operator).unwrap(),
            Some(approver) => {
                let approval = heso_receipt::Approval {
                    decision: ApprovalOutcome::Approved,
                    reason: String::new(),
                    decided_at: "2026-01-01T00:01:00Z".into(),
                };
                sign_approved_receipt(draft, approval, approver, operator).unwrap()
            }
        };
        (receipt.to_json().unwrap().into_bytes(), receipt)
    }

    #[test]
    fn a_valid_receipt_that_requests_no_approval_is_not_a_parked_one() {
        let operator = heso_receipt::SigningKey::from_bytes(&[7; 32]);
        let approver = heso_receipt::SigningKey::from_bytes(&[8; 32]);
        let pins = SignerPins::Only(vec![operator.verifying_key(), approver.verifying_key()]);
        // An allowed action's receipt.
        let (line, receipt) = signed(Decision::Allow, &operator, None);
        let verdict = verify_receipt(&line, &pins).verdict;
        assert!(verdict.is_valid(), "{verdict}");
        let problem = parked_request(verdict, &receipt).unwrap_err();
        assert_eq!(
            problem,
            ParkedReceiptProblem::NotARequest {
                decision: Decision::Allow,
                trust_level: TrustLevel::L0
            }
        );
        assert_eq!(
            problem.to_string(),
            "the receipt is an L0 `allow` receipt, not a request for approval"
        );
        // An approver's decision on a request.
        let (line, receipt) = signed(Decision::RequireApproval, &operator, Some(&approver));
        let verdict = verify_receipt(&line, &pins).verdict;
        assert!(verdict.is_valid(), "{verdict}");
        assert_eq!(
            parked_request(verdict, &receipt),
            Err(ParkedReceiptProblem::NotARequest {
                decision: Decision::RequireApproval,
                trust_level: TrustLevel::L1
            })
        );
        // A request signed by the operator is one.
        let (line, receipt) = signed(Decision::RequireApproval, &operator, None);
        let verdict = verify_receipt(&line, &pins).verdict;
        assert_eq!(parked_request(verdict, &receipt), Ok(()));
    }

    #[test]
    fn a_decision_without_an_approver_signature_does_not_count() {
        let operator = heso_receipt::SigningKey::from_bytes(&[7; 32]);
        let (line, _) = signed(Decision::RequireApproval, &operator, None);
        let verdict =
            verify_receipt(&line, &SignerPins::Only(vec![operator.verifying_key()])).verdict;
        let fault = decision_signers(verdict, &operator.verifying_key()).unwrap_err();
        assert_eq!(fault, DecisionFault::NoApproverSignature);
        assert_eq!(fault.to_string(), "it carries no approver signature");
    }

    #[test]
    fn an_expired_action_never_runs_and_its_expiry_is_recorded_once() {
        let temp = tempfile::tempdir().unwrap();
        crate::init_project(temp.path(), false, &PassphraseSources::default()).unwrap();
        let pass = SecretString::from("alice's passphrase".to_owned());
        let alice = heso_keystore::create_approver(&temp.path().join("a.key"), "alice", &pass)
            .unwrap()
            .key;
        crate::add_approver(
            &temp.path().join("heso.toml"),
            "alice",
            &alice.did_key(),
            true,
        )
        .unwrap();
        let engine = Engine::open(Some(temp.path())).unwrap();
        let id = park_in_the_past(&engine);
        let lines = || {
            std::fs::read_to_string(engine.paths.receipts())
                .unwrap()
                .lines()
                .count()
        };
        let before = lines();
        assert!(matches!(
            engine.claim(&id, None),
            Err(ApprovalError::Expired { .. })
        ));
        assert_eq!(
            lines(),
            before + 1,
            "the expiry is recorded when first noticed"
        );
        assert!(matches!(
            engine.decide(&id, &alice, ApprovalOutcome::Approved, ""),
            Err(ApprovalError::Expired { .. })
        ));
        assert_eq!(
            engine.pending_action(&id).unwrap().state,
            ApprovalState::Expired
        );
        assert_eq!(lines(), before + 1, "and only once");
        // Expiry then edit: the item's hints cannot bring it back.
        let path = item_path(&engine, &id);
        let mut item: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        item["claimed"] = Value::Bool(false);
        std::fs::write(&path, item.to_string()).unwrap();
        assert!(matches!(
            engine.claim(&id, None),
            Err(ApprovalError::Expired { .. })
        ));
        // The expiry receipt is a valid block receipt naming the item.
        let last = std::fs::read_to_string(engine.paths.receipts()).unwrap();
        let last: Receipt = serde_json::from_str(last.lines().nth(before).unwrap()).unwrap();
        assert_eq!(last.content.policy.decision_path, Decision::Block);
        assert!(last.content.policy.rule_display.contains(&id));
    }
}
