//! A receipt as a row of `heso.receipts`: the exact bytes and the columns copied out of
//! them. Push reads the columns with a light parse (it does not verify: fleet verify
//! does); fleet verify derives them from the verified receipt and compares.

use heso_receipt::{Receipt, chain_link};
use heso_tlog::{Hash, leaf_hash_from_hex};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The columns of a receipt row that are copied out of the receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Columns {
    pub(crate) session_id: String,
    pub(crate) seq: u64,
    pub(crate) action_hash: String,
    pub(crate) prev_receipt_hash: Option<String>,
    pub(crate) captured_at: OffsetDateTime,
    pub(crate) verb: String,
    pub(crate) tool_name: String,
    pub(crate) workflow: String,
    pub(crate) decision: String,
    pub(crate) trust_level: String,
}

impl Columns {
    /// The link the next receipt of the log must carry.
    pub(crate) fn next_link(&self) -> String {
        chain_link(&self.session_id, self.seq, &self.action_hash)
    }

    /// The receipt's leaf hash in the log's Merkle tree.
    pub(crate) fn leaf(&self) -> Result<Hash, String> {
        leaf_hash_from_hex(&self.action_hash).map_err(|e| format!("action_hash: {e}"))
    }

    /// The columns of a receipt that verified (or at least parsed).
    pub(crate) fn of_receipt(receipt: &Receipt) -> Result<Self, String> {
        let c = &receipt.content;
        Ok(Self {
            session_id: c
                .session_id
                .clone()
                .ok_or("the receipt has no session_id")?,
            seq: c.seq.ok_or("the receipt has no seq")?,
            action_hash: c.action_hash.clone(),
            prev_receipt_hash: c.prev_receipt_hash.clone(),
            captured_at: timestamp(&c.captured_at)?,
            verb: c.action.verb.as_str().to_owned(),
            tool_name: c.action.tool_name.clone(),
            workflow: c.action.workflow.clone(),
            decision: c.policy.decision_path.as_str().to_owned(),
            trust_level: c.trust_level.to_string(),
        })
    }

    /// The columns read from a log line, without verifying it.
    pub(crate) fn of_line(line: &[u8]) -> Result<Self, String> {
        let parsed: Line = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let c = parsed.content;
        Ok(Self {
            session_id: c.session_id.ok_or("the receipt has no session_id")?,
            seq: c.seq.ok_or("the receipt has no seq")?,
            action_hash: c.action_hash,
            prev_receipt_hash: c.prev_receipt_hash,
            captured_at: timestamp(&c.captured_at)?,
            verb: c.action.verb,
            tool_name: c.action.tool_name,
            workflow: c.action.workflow,
            decision: c.policy.decision_path,
            trust_level: c.trust_level,
        })
    }
}

/// An RFC 3339 time as PostgreSQL keeps it (microseconds).
pub(crate) fn timestamp(text: &str) -> Result<OffsetDateTime, String> {
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("captured_at {text:?} is not RFC 3339: {e}"))?;
    let micros = parsed.microsecond();
    parsed
        .replace_microsecond(micros)
        .map_err(|e| format!("captured_at {text:?}: {e}"))
}

#[derive(Deserialize)]
struct Line {
    content: LineContent,
}

#[derive(Deserialize)]
struct LineContent {
    captured_at: String,
    action: LineAction,
    policy: LinePolicy,
    trust_level: String,
    #[serde(default)]
    session_id: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default)]
    prev_receipt_hash: Option<String>,
    action_hash: String,
}

#[derive(Deserialize)]
struct LineAction {
    verb: String,
    tool_name: String,
    workflow: String,
}

#[derive(Deserialize)]
struct LinePolicy {
    decision_path: String,
}
