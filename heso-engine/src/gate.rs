//! The gate: policy -> redaction -> receipt -> append, before the action may run.

use heso_policy::ActionInput;
use heso_receipt::{Action, Decision, Draft, PolicyRecord, RedactionMode, Verb, sign_receipt};
use heso_redact::RedactRequest;
use serde_json::{Map, Value};

use crate::approvals::{PendingTicket, park};
use crate::clock::now_rfc3339;
use crate::config::ConfigError;
use crate::engine::Engine;

/// Suffix of `rule_display` when a refusal was recorded but not enforced.
pub use heso_receipt::OBSERVED_SUFFIX;

/// How deep the fields may nest: a container directly in `fields` is at depth 1. Deeper
/// fields are refused before anything is written, so every receipt stays readable by
/// JSON parsers with the usual nesting limits (serde_json's is 128). The Python SDK cuts
/// arguments at this same depth.
pub const MAX_FIELD_DEPTH: usize = 64;

/// The depth of the deepest container in `fields` (0 when it holds only scalars), without
/// recursion; stops counting once past `limit`.
fn field_depth(fields: &Map<String, Value>, limit: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = fields.values().map(|v| (v, 1)).collect();
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => continue,
        }
        deepest = deepest.max(depth);
        if deepest > limit {
            break;
        }
    }
    deepest
}

/// The key the format reserves for a commitment (`{"_sd": c}`).
const COMMITMENT_KEY: &str = "_sd";

/// [`GateError::ReservedKey`] in words.
fn reserved_message(path: &str) -> String {
    const UNRECORDED: &str = "(nothing was recorded and the action did not run)";
    if path.is_empty() {
        format!(
            "an argument is named \"_sd\", a key reserved for redaction markers: rename it \
             {UNRECORDED}"
        )
    } else {
        format!(
            "field {path:?} holds an object with an \"_sd\" key, which is reserved for \
             redaction markers: redact that field (redact=[{path:?}]) or rename the key \
             {UNRECORDED}"
        )
    }
}

/// A path segment as a marker writes it: `.`, `*` and `\` escaped with `\`.
fn escaped_segment(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if matches!(c, '.' | '*' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The path of the first object in `fields` (the fields themselves included) that has an
/// `_sd` key and is not at one of the `committed` paths (where redaction put its own
/// `{"_sd": c}`): such an object would make the receipt `MalformedRedaction`, so the
/// signer refuses it. Without recursion.
fn unbound_sd_object(fields: &Map<String, Value>, committed: &[&str]) -> Option<String> {
    if fields.contains_key(COMMITMENT_KEY) {
        return Some(String::new());
    }
    let mut stack: Vec<(String, &Value)> = fields
        .iter()
        .rev()
        .map(|(k, v)| (escaped_segment(k), v))
        .collect();
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::Object(map) => {
                if map.contains_key(COMMITMENT_KEY) && !committed.contains(&path.as_str()) {
                    return Some(path);
                }
                stack.extend(
                    map.iter()
                        .rev()
                        .map(|(k, v)| (format!("{path}.{}", escaped_segment(k)), v)),
                );
            }
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, v)| (format!("{path}.{i}"), v)),
            ),
            _ => {}
        }
    }
    None
}

/// One action the agent wants to take.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// What kind of action.
    pub verb: Verb,
    /// The tool or method name.
    pub tool_name: String,
    /// The workflow (`default` outside any).
    pub workflow: String,
    /// The account (`default` outside any).
    pub account: String,
    /// The host the action talks to, if any.
    pub target_host: Option<String>,
    /// The call's arguments, in the clear (never written as they are).
    pub fields: Map<String, Value>,
    /// Field paths the caller wants hidden (a decorator's `redact=`).
    pub redact: Vec<String>,
    /// How the caller's paths are hidden.
    pub redact_mode: RedactionMode,
    /// False: observe-only (a refusal is recorded, not enforced; never for a delete).
    pub blocking: bool,
    /// True when `fields` are the call's arguments exactly (every value kept as it was,
    /// nothing summarised), so an approved call can be rebuilt from them in another
    /// process. False: only the process that holds the call can resume it.
    pub exact_arguments: bool,
}

impl ActionRequest {
    /// A request with default workflow and account, no redaction, blocking.
    pub fn new(verb: Verb, tool_name: impl Into<String>, fields: Map<String, Value>) -> Self {
        Self {
            verb,
            tool_name: tool_name.into(),
            workflow: "default".into(),
            account: "default".into(),
            target_host: None,
            fields,
            redact: Vec::new(),
            redact_mode: RedactionMode::CommitAndReveal,
            blocking: true,
            exact_arguments: true,
        }
    }
}

/// What the caller must do with the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateStatus {
    /// Run it.
    Allowed,
    /// Do not run it.
    Blocked,
    /// Do not run it until a person approves it.
    Suspended,
}

/// The gate's answer, after the receipt is in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOutcome {
    /// What the caller must do.
    pub status: GateStatus,
    /// The policy's decision (may differ from `status` when observed).
    pub decision: Decision,
    /// True when a refusal was recorded but not enforced (`blocking=False`).
    pub observed: bool,
    /// The receipt's action_hash.
    pub action_hash: String,
    /// The receipt's seq in the log.
    pub seq: u64,
    /// The deciding rule.
    pub rule_id: String,
    /// The rule in plain words, as in the receipt.
    pub rule_display: String,
    /// The pending item, when suspended.
    pub pending: Option<PendingTicket>,
    /// Redaction paths that matched nothing.
    pub unmatched_redactions: Vec<String>,
    /// A torn log tail this call repaired before appending, if any.
    pub repaired_tail: Option<String>,
}

/// Why an action could not be gated. The action must not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// `heso.toml` is broken (checked on every call when it changed).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The fields nest deeper than [`MAX_FIELD_DEPTH`].
    #[error(
        "the action's fields nest more than {limit} levels deep; flatten them (nothing was \
         recorded and the action did not run)"
    )]
    TooDeep {
        /// The limit, [`MAX_FIELD_DEPTH`].
        limit: usize,
    },
    /// A value left in the clear holds an object with an `_sd` key, which the format
    /// reserves for redaction markers (such a receipt would not verify).
    #[error("{}", reserved_message(path))]
    ReservedKey {
        /// The field path of the object holding the key (escaped as in a marker; empty
        /// when it is the arguments themselves: an argument named `_sd`).
        path: String,
    },
    /// The target host is not a host name or address (see [`crate::normalize_host`]).
    #[error(
        "{0}; give the host the request goes to (nothing was recorded and the action did not run)"
    )]
    TargetHost(#[from] crate::HostError),
    /// A redaction path is not valid.
    #[error("redaction: {0}")]
    Redact(#[source] heso_redact::RedactError),
    /// Storing a salt failed.
    #[error("cannot store redaction salts: {0}")]
    Salts(#[source] crate::SaltStoreError),
    /// Signing failed (e.g. an integer outside ±(2^53−1) in the fields).
    #[error("cannot sign the receipt: {0}")]
    Sign(#[source] heso_receipt::SignError),
    /// Appending to the log failed; nothing was acknowledged.
    #[error("cannot append to the audit log: {0}")]
    Log(#[source] heso_chain::AppendError<heso_receipt::SignError>),
    /// Writing the pending item failed (the receipt is in the log).
    #[error("cannot park the action for approval: {0}")]
    Park(#[source] Box<crate::ApprovalError>),
}

impl Engine {
    /// Gates one action: decides, redacts, signs, appends (and fsyncs, by default), and
    /// parks it for approval when needed, all before returning. Every decision leaves a
    /// receipt. On any error the action must not run.
    pub fn gate(&self, request: &ActionRequest) -> Result<GateOutcome, GateError> {
        if field_depth(&request.fields, MAX_FIELD_DEPTH) > MAX_FIELD_DEPTH {
            return Err(GateError::TooDeep {
                limit: MAX_FIELD_DEPTH,
            });
        }
        // One form of every host, whichever SDK sent it, before any rule sees it.
        let target_host = match request.target_host.as_deref() {
            Some(host) => Some(crate::normalize_host(host)?),
            None => None,
        };
        let loaded = self.config()?;
        let evaluation = loaded.config.policy.evaluate(&ActionInput {
            verb: request.verb,
            tool_name: &request.tool_name,
            workflow: &request.workflow,
            account: &request.account,
            target_host: target_host.as_deref(),
            fields: &request.fields,
        });

        // The caller's paths, then the rule's; a path asked for twice is hidden the
        // stronger way (destructive wins).
        let mut requests: Vec<RedactRequest> = Vec::new();
        let mut add = |path: &str, mode: RedactionMode| {
            if let Some(existing) = requests.iter_mut().find(|r| r.path == path) {
                if mode == RedactionMode::Destructive {
                    existing.mode = mode;
                }
            } else {
                requests.push(RedactRequest {
                    path: path.to_owned(),
                    mode,
                });
            }
        };
        for path in &request.redact {
            add(path, request.redact_mode);
        }
        // The deciding rule's paths (heso-policy keeps them under the delete floor too).
        for path in &evaluation.redact {
            add(path, evaluation.redact_mode);
        }
        let redacted =
            heso_redact::redact(&request.fields, &requests).map_err(GateError::Redact)?;
        let committed: Vec<&str> = redacted
            .redaction
            .iter()
            .flat_map(|r| &r.markers)
            .filter(|m| !m.commitment.is_empty())
            .map(|m| m.field_path.as_str())
            .collect();
        if let Some(path) = unbound_sd_object(&redacted.fields, &committed) {
            return Err(GateError::ReservedKey { path });
        }
        // Each salt comes paired with its commitment by the redaction itself, and stays in
        // its zeroizing `Salt` until it is sealed.
        let salt_records: Vec<(&str, &heso_redact::Salt)> = redacted
            .salts
            .iter()
            .map(|record| (record.commitment.as_str(), &record.salt))
            .collect();
        self.salts.put(&salt_records).map_err(GateError::Salts)?;

        let refusal = matches!(
            evaluation.decision,
            Decision::Block | Decision::RequireApproval
        );
        // Observe-only per call or for the whole project; the delete floor never is.
        let observe = !request.blocking || loaded.config.observe;
        let observed = refusal && observe && request.verb != Verb::Delete;
        let mut rule_display = evaluation.rule_display.clone();
        if observed {
            rule_display.push_str(OBSERVED_SUFFIX);
        }
        let draft = Draft {
            captured_at: now_rfc3339(),
            action: Action {
                verb: request.verb,
                tool_name: request.tool_name.clone(),
                workflow: request.workflow.clone(),
                account: request.account.clone(),
                fields: redacted.fields,
                target_host,
                result_hash: None,
                error: None,
            },
            policy: PolicyRecord {
                rule_id: evaluation.rule_id.clone(),
                rule_display: rule_display.clone(),
                matched_conditions: evaluation.matched_conditions.clone(),
                decision_path: evaluation.decision,
            },
            redaction: redacted.redaction,
            chain: None,
        };
        let (appended, draft) = self.append_l0(draft)?;

        let status = match (evaluation.decision, observed) {
            (Decision::Allow | Decision::Redact, _) | (_, true) => GateStatus::Allowed,
            (Decision::Block, false) => GateStatus::Blocked,
            (Decision::RequireApproval, false) => GateStatus::Suspended,
        };
        let pending = if status == GateStatus::Suspended {
            let ticket = park(
                self,
                &draft,
                &appended.action_hash,
                &evaluation,
                &request.fields,
                request.exact_arguments,
            )
            .map_err(|e| GateError::Park(Box::new(e)))?;
            Some(ticket)
        } else {
            None
        };
        Ok(GateOutcome {
            status,
            decision: evaluation.decision,
            observed,
            action_hash: appended.action_hash,
            seq: appended.seq,
            rule_id: evaluation.rule_id,
            rule_display,
            pending,
            unmatched_redactions: redacted.unmatched,
            repaired_tail: appended.repaired,
        })
    }

    /// Signs `draft` as an operator-only receipt at the log's next position and appends it.
    /// Returns where it went and the draft with its chain position.
    pub(crate) fn append_l0(&self, draft: Draft) -> Result<(Placed, Draft), GateError> {
        // The draft moves into the receipt and back out of it: signed once, serialised
        // once by the log, never copied.
        let (appended, receipt) = self
            .log
            .append_receipt(|position| {
                let mut draft = draft;
                draft.chain = Some(position.clone());
                sign_receipt(draft, self.operator.signing_key())
            })
            .map_err(|e| match e {
                heso_chain::AppendError::Build(sign) => GateError::Sign(sign),
                other => GateError::Log(other),
            })?;
        let draft = receipt.content.into_draft();
        Ok((
            Placed {
                action_hash: appended.action_hash,
                seq: appended.seq,
                repaired: appended.repaired.map(|r| r.to_string()),
            },
            draft,
        ))
    }
}

/// Where a receipt went in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    pub(crate) action_hash: String,
    pub(crate) seq: u64,
    pub(crate) repaired: Option<String>,
}
