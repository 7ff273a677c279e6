//! Approvals (L1): parking an action, a person's decision, resuming it exactly once, expiry.
//!
//! A parked action is `pending/ID.json`: the action with redacted fields already replaced
//! (never a secret in the clear), the deciding rule, the approvers allowed to decide (with
//! their keys, fixed when the action was parked) and the expiry. Every change to an item
//! happens under `pending/ID.lock` (an OS file lock, so it holds across processes).

use std::fs::{File, OpenOptions};
use std::path::PathBuf;

use heso_keystore::UnlockedKey;
use heso_policy::Evaluation;
use heso_receipt::{
    Action, ApprovalOutcome, Decision, Draft, PolicyRecord, Redaction, public_key_from_str,
    public_key_to_did_key, sign_approved_receipt,
};
use serde::{Deserialize, Serialize};
use time::Duration;

use crate::clock::{format_rfc3339, now, now_rfc3339, parse_rfc3339};
use crate::engine::Engine;
use heso_fs::{Existing, SECRET_FILE_MODE, create_private_dir, write_atomic};

/// What a suspended caller gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTicket {
    /// The pending item's id (`heso approve ID`).
    pub id: String,
    /// Names of the people who may decide.
    pub approvers: Vec<String>,
    /// When it expires, RFC 3339 UTC.
    pub expires_at: String,
}

/// Where a pending item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    /// Waiting for a person.
    Pending,
    /// Approved; may be resumed once.
    Approved,
    /// Rejected; never runs.
    Rejected,
    /// Nobody decided in time; never runs.
    Expired,
}

/// An approver recorded when the action was parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedApprover {
    /// The name in `heso.toml`.
    pub name: String,
    /// Their key, did:key.
    pub key: String,
}

/// A person's decision as recorded on the pending item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedDecision {
    /// The approver's did:key.
    pub by: String,
    /// When.
    pub decided_at: String,
    /// Why.
    pub reason: String,
    /// The L1 (or expiry) receipt's action_hash.
    pub receipt: String,
}

/// `pending/ID.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingItem {
    /// The id.
    pub id: String,
    /// Where it stands.
    pub status: PendingStatus,
    /// When it was parked (the action's captured_at).
    pub created_at: String,
    /// When it expires.
    pub expires_at: String,
    /// The rule's SLA.
    pub sla_minutes: u64,
    /// The L0 receipt that recorded the request.
    pub parked_receipt: String,
    /// The action, redacted fields already replaced.
    pub action: Action,
    /// The redaction block of the parked receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction: Option<Redaction>,
    /// The policy record of the parked receipt.
    pub policy: PolicyRecord,
    /// Who may decide.
    pub approvers: Vec<RecordedApprover>,
    /// The decision, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<RecordedDecision>,
    /// True once `resume` has run the action.
    #[serde(default)]
    pub resumed: bool,
}

/// Why an approval step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// No pending item with this id.
    #[error("no pending action with id {0:?}; `heso pending` lists them")]
    UnknownId(String),
    /// Already approved, rejected or expired.
    #[error("pending action {id} was already {status}")]
    AlreadyDecided {
        /// The id.
        id: String,
        /// Its status, in words.
        status: String,
    },
    /// Expired before anyone decided (a block receipt records it).
    #[error("pending action {id} expired at {expires_at}; it will never run")]
    Expired {
        /// The id.
        id: String,
        /// When.
        expires_at: String,
    },
    /// The key given is not among the approvers recorded for this action.
    #[error("key {key} is not among the approvers of pending action {id} ({allowed})")]
    NotAnApprover {
        /// The id.
        id: String,
        /// The key tried, did:key.
        key: String,
        /// Who may decide.
        allowed: String,
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
    /// Reading or writing the item, or the log, failed.
    #[error("{0}")]
    Io(String),
    /// The item file does not parse.
    #[error("pending item {path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn io_error(what: &str, e: impl std::fmt::Display) -> ApprovalError {
    ApprovalError::Io(format!("{what}: {e}"))
}

/// Parks an action after its L0 receipt is in the log. The id is the first 16 hex digits
/// of that receipt's action_hash.
pub(crate) fn park(
    engine: &Engine,
    draft: &Draft,
    action_hash: &str,
    evaluation: &Evaluation,
) -> Result<PendingTicket, ApprovalError> {
    let dir = engine.paths.pending_dir();
    create_private_dir(&dir).map_err(|e| io_error("cannot create pending/", e))?;
    let id = action_hash.get(..16).unwrap_or(action_hash).to_owned();
    let created = parse_rfc3339(&draft.captured_at).unwrap_or_else(now);
    let minutes = i64::try_from(evaluation.sla_minutes).unwrap_or(i64::MAX / 120);
    let expires_at = format_rfc3339(created.saturating_add(Duration::minutes(minutes)));
    let approvers: Vec<RecordedApprover> = evaluation
        .approvers
        .iter()
        .map(|a| RecordedApprover {
            name: a.name.clone(),
            key: public_key_to_did_key(&a.key),
        })
        .collect();
    let item = PendingItem {
        id: id.clone(),
        status: PendingStatus::Pending,
        created_at: draft.captured_at.clone(),
        expires_at: expires_at.clone(),
        sla_minutes: evaluation.sla_minutes,
        parked_receipt: action_hash.to_owned(),
        action: draft.action.clone(),
        redaction: draft.redaction.clone(),
        policy: draft.policy.clone(),
        approvers: approvers.clone(),
        decision: None,
        resumed: false,
    };
    let _lock = lock_item(engine, &id)?;
    save(engine, &item)?;
    Ok(PendingTicket {
        id,
        approvers: approvers.into_iter().map(|a| a.name).collect(),
        expires_at,
    })
}

/// Holds `pending/ID.lock` until dropped.
struct ItemLock(File);

impl Drop for ItemLock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn lock_item(engine: &Engine, id: &str) -> Result<ItemLock, ApprovalError> {
    let path = engine.paths.pending_dir().join(format!("{id}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error(&format!("cannot open {}", path.display()), e))?;
    file.lock()
        .map_err(|e| io_error(&format!("cannot lock {}", path.display()), e))?;
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
    if !valid_id(id) {
        return Err(unknown_id(id));
    }
    let path = item_path(engine, id);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(unknown_id(id));
        }
        Err(e) => return Err(io_error(&format!("cannot read {}", path.display()), e)),
    };
    serde_json::from_slice(&bytes).map_err(|e| ApprovalError::Damaged {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

fn save(engine: &Engine, item: &PendingItem) -> Result<(), ApprovalError> {
    let path = item_path(engine, &item.id);
    let text = serde_json::to_vec_pretty(item).map_err(|e| io_error("cannot encode", e))?;
    write_atomic(&path, &text, SECRET_FILE_MODE, Existing::Replace)
        .map_err(|e| io_error(&format!("cannot write {}", path.display()), e))
}

fn status_word(status: PendingStatus) -> &'static str {
    match status {
        PendingStatus::Pending => "pending",
        PendingStatus::Approved => "approved",
        PendingStatus::Rejected => "rejected",
        PendingStatus::Expired => "expired",
    }
}

impl Engine {
    /// Every pending item, oldest first, with expiries noticed (and recorded) on the way.
    pub fn pending(&self) -> Result<Vec<PendingItem>, ApprovalError> {
        let dir = self.paths.pending_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(&format!("cannot read {}", dir.display()), e)),
        };
        let mut items = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(id) = name.strip_suffix(".json").filter(|id| valid_id(id)) else {
                continue;
            };
            let (_lock, item) = self.open_item(id)?;
            items.push(item);
        }
        items.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        Ok(items)
    }

    /// Locks and reads one item, recording its expiry if it has just expired. The lock is
    /// held until the returned guard drops.
    fn open_item(&self, id: &str) -> Result<(ItemLock, PendingItem), ApprovalError> {
        if !valid_id(id) || !item_path(self, id).is_file() {
            return Err(unknown_id(id));
        }
        let lock = lock_item(self, id)?;
        let mut item = load(self, id)?;
        self.notice_expiry(&mut item)?;
        Ok((lock, item))
    }

    /// Records an expiry (a `block` receipt) the first time it is noticed.
    fn notice_expiry(&self, item: &mut PendingItem) -> Result<(), ApprovalError> {
        if item.status != PendingStatus::Pending {
            return Ok(());
        }
        let expired = parse_rfc3339(&item.expires_at).is_none_or(|at| now() >= at);
        if !expired {
            return Ok(());
        }
        let draft = Draft {
            captured_at: now_rfc3339(),
            action: item.action.clone(),
            policy: PolicyRecord {
                rule_id: item.policy.rule_id.clone(),
                rule_display: format!(
                    "{} (expired: no decision within {} minutes)",
                    item.policy.rule_display, item.sla_minutes
                ),
                matched_conditions: item.policy.matched_conditions.clone(),
                decision_path: Decision::Block,
            },
            redaction: item.redaction.clone(),
            chain: None,
        };
        let (placed, _) = self
            .append_l0(draft)
            .map_err(|e| io_error("cannot record the expiry", e))?;
        item.status = PendingStatus::Expired;
        item.decision = Some(RecordedDecision {
            by: "expiry".into(),
            decided_at: now_rfc3339(),
            reason: format!("no decision within {} minutes", item.sla_minutes),
            receipt: placed.action_hash,
        });
        save(self, item)
    }

    /// A person approves or rejects a parked action: checks they are among the approvers
    /// recorded when it was parked (and are not the operator), then appends the L1
    /// receipt signed by them and by the operator. Returns the receipt's action_hash.
    pub fn decide(
        &self,
        id: &str,
        approver: &UnlockedKey,
        outcome: ApprovalOutcome,
        reason: &str,
    ) -> Result<String, ApprovalError> {
        let (_lock, mut item) = self.open_item(id)?;
        match item.status {
            PendingStatus::Pending => {}
            PendingStatus::Expired => {
                return Err(ApprovalError::Expired {
                    id: item.id,
                    expires_at: item.expires_at,
                });
            }
            other => {
                return Err(ApprovalError::AlreadyDecided {
                    id: item.id,
                    status: status_word(other).into(),
                });
            }
        }
        let key = approver.public_key();
        if key == self.operator.public_key() {
            return Err(ApprovalError::OperatorCannotApprove);
        }
        let allowed = item
            .approvers
            .iter()
            .any(|a| public_key_from_str(&a.key).is_ok_and(|k| k == key));
        if !allowed {
            let names: Vec<&str> = item.approvers.iter().map(|a| a.name.as_str()).collect();
            return Err(ApprovalError::NotAnApprover {
                id: item.id,
                key: public_key_to_did_key(&key),
                allowed: if names.is_empty() {
                    "none were named when it was parked".into()
                } else {
                    format!("allowed: {}", names.join(", "))
                },
            });
        }
        let decided_at = now_rfc3339();
        let draft = Draft {
            captured_at: item.created_at.clone(),
            action: item.action.clone(),
            policy: item.policy.clone(),
            redaction: item.redaction.clone(),
            chain: None,
        };
        let approval = heso_receipt::Approval {
            decision: outcome,
            reason: reason.to_owned(),
            decided_at: decided_at.clone(),
        };
        let appended = self
            .log
            .append(|position| {
                let mut draft = draft.clone();
                draft.chain = Some(position.clone());
                sign_approved_receipt(
                    draft,
                    approval.clone(),
                    approver.signing_key(),
                    self.operator.signing_key(),
                )
                .and_then(|r| r.to_json().map_err(heso_receipt::SignError::from))
                .map_err(|e| e.to_string())
            })
            .map_err(|e| io_error("cannot append the approval receipt", e))?;
        item.status = match outcome {
            ApprovalOutcome::Approved => PendingStatus::Approved,
            ApprovalOutcome::Rejected | ApprovalOutcome::Escalated => PendingStatus::Rejected,
        };
        item.decision = Some(RecordedDecision {
            by: public_key_to_did_key(&key),
            decided_at,
            reason: reason.to_owned(),
            receipt: appended.action_hash.clone(),
        });
        save(self, &item)?;
        Ok(appended.action_hash)
    }

    /// Claims the one run of an approved action. Succeeds exactly once; refuses before a
    /// decision, after a rejection or an expiry, and the second time.
    pub fn resume(&self, id: &str) -> Result<PendingItem, ApprovalError> {
        let (_lock, mut item) = self.open_item(id)?;
        match (item.status, item.resumed) {
            (PendingStatus::Approved, false) => {
                item.resumed = true;
                save(self, &item)?;
                Ok(item)
            }
            (PendingStatus::Approved, true) => Err(ApprovalError::AlreadyResumed(item.id)),
            (PendingStatus::Pending, _) => Err(ApprovalError::NotApproved(item.id)),
            (PendingStatus::Rejected, _) => Err(ApprovalError::Rejected(item.id)),
            (PendingStatus::Expired, _) => Err(ApprovalError::Expired {
                id: item.id,
                expires_at: item.expires_at,
            }),
        }
    }

    /// One pending item by id (expiry noticed).
    pub fn pending_item(&self, id: &str) -> Result<PendingItem, ApprovalError> {
        let (_lock, item) = self.open_item(id)?;
        Ok(item)
    }
}
