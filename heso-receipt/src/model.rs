//! The wire format's types (heso-action/2.0). Optional fields are omitted when absent;
//! reading one written as `null` is an error, as the format never writes null.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// The envelope's `alg`.
pub const ALG: &str = "heso-action/v2+ed25519";
/// The content's `action_version`.
pub const ACTION_VERSION: &str = "heso-action/2.0";

/// A signed Action Receipt: the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`ALG`].
    pub alg: String,
    /// What was done and decided; `action_hash` covers all of it.
    pub content: Content,
    /// One operator entry and at most one approver entry.
    pub signatures: Vec<SignatureEntry>,
}

/// The signed content of a receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Always [`ACTION_VERSION`].
    pub action_version: String,
    /// When the action was captured, RFC 3339 UTC.
    pub captured_at: String,
    /// The operator's public key, base64.
    pub agent_identity: String,
    /// The action itself.
    pub action: Action,
    /// Which rule decided, and how.
    pub policy: PolicyRecord,
    /// L0 (operator only) or L1 (operator and a person's approval).
    pub trust_level: TrustLevel,
    /// The person's decision, on L1 receipts.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub approver_decision: Option<ApproverDecision>,
    /// What was hidden from `action.fields`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub redaction: Option<Redaction>,
    /// The chain (log session) this receipt belongs to.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub session_id: Option<String>,
    /// Position in the session, from 0.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub seq: Option<u64>,
    /// Link to the predecessor (absent at seq 0).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub prev_receipt_hash: Option<String>,
    /// Lowercase hex BLAKE3 of the canonical bytes of everything above.
    pub action_hash: String,
}

/// What the agent did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The kind of action.
    pub verb: Verb,
    /// The tool or method name.
    pub tool_name: String,
    /// The workflow the action ran in (`default` outside any).
    pub workflow: String,
    /// The account the action ran for (`default` outside any).
    pub account: String,
    /// The call's arguments, after redaction.
    pub fields: Map<String, Value>,
    /// Host the action talks to, when there is one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub target_host: Option<String>,
    /// Hash of the result, when recorded.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub result_hash: Option<String>,
    /// An error the action ended with, when recorded.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub error: Option<Value>,
}

/// The seven verbs of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs, reason = "the names are the wire format's verbs")]
pub enum Verb {
    LlmCall,
    ToolCall,
    HttpRequest,
    Payment,
    DataExport,
    AccountChange,
    Delete,
}

impl Verb {
    /// Every verb, in the format's order.
    pub const ALL: [Verb; 7] = [
        Verb::LlmCall,
        Verb::ToolCall,
        Verb::HttpRequest,
        Verb::Payment,
        Verb::DataExport,
        Verb::AccountChange,
        Verb::Delete,
    ];

    /// The wire name, e.g. `tool_call`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::LlmCall => "llm_call",
            Verb::ToolCall => "tool_call",
            Verb::HttpRequest => "http_request",
            Verb::Payment => "payment",
            Verb::DataExport => "data_export",
            Verb::AccountChange => "account_change",
            Verb::Delete => "delete",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

impl std::fmt::Display for Verb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The policy's record in the receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The deciding rule's id (`default` when no rule matched).
    pub rule_id: String,
    /// The rule in plain words.
    pub rule_display: String,
    /// The deciding rule's conditions, with operands as written in the policy.
    pub matched_conditions: Vec<MatchedCondition>,
    /// The policy's decision.
    pub decision_path: Decision,
}

/// One condition of the deciding rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchedCondition {
    /// Field path (or `verb` for the delete floor).
    pub field: String,
    /// Operator name, e.g. `gt`.
    pub op: String,
    /// The operand as written in the policy, never the action's value.
    pub value: Value,
}

/// A policy decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The action may run.
    Allow,
    /// The action must not run.
    Block,
    /// The action may run, with fields hidden.
    Redact,
    /// A person must approve first.
    RequireApproval,
}

impl Decision {
    /// Every decision, in the format's order.
    pub const ALL: [Decision; 4] = [
        Decision::Allow,
        Decision::Block,
        Decision::Redact,
        Decision::RequireApproval,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Block => "block",
            Decision::Redact => "redact",
            Decision::RequireApproval => "require_approval",
        }
    }
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// L0: operator signature only. L1: plus a valid approver signature from another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrustLevel {
    /// Operator-signed.
    L0,
    /// Operator- and approver-signed.
    L1,
}

impl std::fmt::Display for TrustLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrustLevel::L0 => "L0",
            TrustLevel::L1 => "L1",
        })
    }
}

/// A person's decision on a parked action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApproverDecision {
    /// What the person decided.
    pub decision: ApprovalOutcome,
    /// The approver's public key, base64.
    pub approver_identity: String,
    /// Why, in the approver's words.
    pub reason: String,
    /// When, RFC 3339 UTC.
    pub decided_at: String,
}

/// The three decisions a person can record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs, reason = "the names are the wire format's decisions")]
pub enum ApprovalOutcome {
    Approved,
    Rejected,
    Escalated,
}

impl std::fmt::Display for ApprovalOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ApprovalOutcome::Approved => "approved",
            ApprovalOutcome::Rejected => "rejected",
            ApprovalOutcome::Escalated => "escalated",
        })
    }
}

/// What redaction did to `action.fields`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Redaction {
    /// `commit_and_reveal` when any marker is salted, else `destructive`.
    pub mode: RedactionMode,
    /// One marker per concrete path, in the order JCS writes the fields.
    pub markers: Vec<Marker>,
    /// Hex BLAKE3 over the salted commitments, present exactly when one exists.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub merkle_root: Option<String>,
}

/// The redaction mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedactionMode {
    /// Values replaced by salted commitments that can later be revealed.
    CommitAndReveal,
    /// Values dropped for good.
    Destructive,
}

impl RedactionMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionMode::CommitAndReveal => "commit_and_reveal",
            RedactionMode::Destructive => "destructive",
        }
    }
}

/// One hidden value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    /// The concrete, escaped path of the hidden value.
    pub field_path: String,
    /// How it was hidden.
    pub algorithm: MarkerAlgorithm,
    /// Hex commitment for `salted-blake3/v1`, empty for `drop/v1`.
    pub commitment: String,
}

/// How a marker's value was hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MarkerAlgorithm {
    /// `salted-blake3/v1`: the value became `{"_sd": commitment}`.
    #[serde(rename = "salted-blake3/v1")]
    SaltedBlake3,
    /// `drop/v1`: the value became `"[redacted]"`.
    #[serde(rename = "drop/v1")]
    Drop,
}

/// One signature of the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEntry {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// Who signed.
    pub key_id: KeyRole,
    /// The signer's public key, padded standard base64.
    pub public_key: String,
    /// The signature, padded standard base64 of 64 bytes.
    pub signature: String,
}

/// The role of a signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyRole {
    /// The operator: signs every receipt.
    Operator,
    /// A person who approved (or rejected) the action.
    Approver,
}

/// Reads an optional field that, when present, must not be `null`.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
