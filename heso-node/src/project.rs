//! An open project: the engine with its operator key unlocked, and its entry points. Gates,
//! claims and waits run off the JavaScript thread as `AsyncTask`s (napi's libuv work
//! queue), so an fsync never blocks the event loop; `gateSync` runs on the calling thread.

use std::sync::Arc;
use std::time::Duration;

use heso_engine::{
    ActionRequest, ApprovalError, ApprovalState, ClaimedRun, Engine, GateOutcome, GateStatus,
    PendingAction,
};
use heso_receipt::{RedactionMode, Verb};
use napi::bindgen_prelude::{AsyncTask, Unknown};
use napi::{Env, Status, Task};
use napi_derive::napi;
use serde_json::{Map, Value};

use crate::convert::convert_fields;
use crate::paths::{check_redactions, credential_paths};
use crate::{quoted, verb_names};

/// What one gated call asks for (the call's fields travel beside it).
#[napi(object)]
pub struct GateRequest {
    /// `llm_call`, `tool_call`, `http_request`, `payment`, `data_export`,
    /// `account_change` or `delete`.
    pub verb: String,
    /// The tool or method name the receipt records.
    pub tool_name: String,
    /// The workflow (`default` outside any step).
    pub workflow: String,
    /// The account (`default` outside any step).
    pub account: String,
    /// The host the call talks to, if any.
    pub target_host: Option<String>,
    /// Field paths to hide before anything is signed or written.
    pub redact: Vec<String>,
    /// `commit_and_reveal` or `destructive`.
    pub redact_mode: String,
    /// False: observe-only (never for a delete).
    pub blocking: bool,
    /// True when the fields are the call's arguments exactly as the function takes them
    /// (the package knows how it bound them); the values themselves are checked here.
    pub exact_binding: bool,
    /// True for a wrapped client's call: credentials (`Authorization`, `Cookie`, API keys)
    /// are committed wherever they appear.
    pub credentials: bool,
}

/// The gate's answer, after the receipt is in the log.
#[napi(object)]
pub struct GateResult {
    /// `allowed`, `blocked` or `suspended`.
    pub status: String,
    /// The policy's decision (`allow`, `block`, `redact`, `require_approval`).
    pub decision: String,
    /// True when a refusal was recorded but not enforced.
    pub observed: bool,
    /// The receipt's action_hash.
    pub action_hash: String,
    /// The receipt's place in the log.
    pub seq: i64,
    /// The deciding rule.
    pub rule_id: String,
    /// The rule in words, as the receipt records it.
    pub rule_display: String,
    /// The pending id, when suspended.
    pub pending_id: Option<String>,
    /// Who may approve, when suspended.
    pub approvers: Option<Vec<String>>,
    /// When the pending action expires (RFC 3339 UTC), when suspended.
    pub expires_at: Option<String>,
}

/// What a claim gave.
#[napi(object)]
pub struct ClaimResult {
    /// `claimed`, or `pending` while nobody decided.
    pub state: String,
    /// The tool, as recorded.
    pub tool_name: Option<String>,
    /// The call's arguments as gated, as JSON text.
    pub fields_json: Option<String>,
    /// The L1 receipt that approved it.
    pub approval_receipt: Option<String>,
    /// The claim receipt appended before the run.
    pub claim_receipt: Option<String>,
}

/// A parked action, as the signed log says it stands.
#[napi(object)]
pub struct PendingInfo {
    /// The pending id.
    pub id: String,
    /// pending, approved, rejected, expired, resumed or unauthorized.
    pub state: String,
    /// The parked receipt's action_hash.
    pub parked_receipt: String,
    /// The tool, as recorded.
    pub tool_name: String,
    /// The verb.
    pub verb: String,
    /// When it expires (RFC 3339 UTC).
    pub expires_at: String,
    /// The deciding rule.
    pub rule_id: String,
    /// Who may decide.
    pub approvers: Vec<String>,
    /// The decision's receipt, once there is one.
    pub decision_receipt: Option<String>,
}

/// An error the package shows as its `GateError`, `ConfigError` or `ApprovalError`.
fn failure(message: String) -> napi::Error {
    napi::Error::new(Status::GenericFailure, message)
}

/// A mistake in how the package called us (a `TypeError`).
fn invalid(message: String) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message)
}

/// An open heso project.
#[napi]
pub struct Project {
    engine: Arc<Engine>,
}

#[napi]
impl Project {
    /// Opens the project found from `dir` (or `HESO_PROJECT_ROOT`, or the working
    /// directory's nearest ancestor with heso.toml), unlocking the operator key once.
    #[napi(factory)]
    pub fn open(dir: Option<String>) -> napi::Result<Self> {
        let path = dir.map(std::path::PathBuf::from);
        match Engine::open(path.as_deref()) {
            Ok(engine) => Ok(Self {
                engine: Arc::new(engine),
            }),
            Err(e) => Err(failure(e.to_string())),
        }
    }

    /// The project folder.
    #[napi(getter)]
    pub fn root(&self) -> String {
        self.engine.paths().root.display().to_string()
    }

    /// Gates one call off the JavaScript thread. The fields are converted (and refused
    /// when they cannot be recorded) here, on the calling thread, before anything is
    /// written.
    #[napi(ts_return_type = "Promise<GateResult>")]
    pub fn gate(
        &self,
        env: Env,
        request: GateRequest,
        fields: Unknown<'_>,
    ) -> napi::Result<AsyncTask<GateTask>> {
        let request = prepare(&env, request, fields)?;
        Ok(AsyncTask::new(GateTask {
            engine: Arc::clone(&self.engine),
            request,
        }))
    }

    /// Gates one call on the calling thread (for code that cannot await).
    #[napi]
    pub fn gate_sync(
        &self,
        env: Env,
        request: GateRequest,
        fields: Unknown<'_>,
    ) -> napi::Result<GateResult> {
        let request = prepare(&env, request, fields)?;
        self.engine
            .gate(&request)
            .map(outcome)
            .map_err(|e| failure(e.to_string()))
    }

    /// Claims the one run of an approved action. `fields`: the arguments this process
    /// holds (they must be the ones approved); `null` runs with the sealed arguments.
    #[napi(ts_return_type = "Promise<ClaimResult>")]
    pub fn claim(
        &self,
        env: Env,
        pending_id: String,
        fields: Option<Unknown<'_>>,
    ) -> napi::Result<AsyncTask<ClaimTask>> {
        let arguments = match fields {
            None => None,
            Some(fields) => match fields.get_type()? {
                napi::ValueType::Null | napi::ValueType::Undefined => None,
                _ => Some(
                    convert_fields(&env, fields)
                        .map_err(crate::convert::Refusal::into_napi)?
                        .fields,
                ),
            },
        };
        Ok(AsyncTask::new(ClaimTask {
            engine: Arc::clone(&self.engine),
            pending_id,
            arguments,
        }))
    }

    /// What the signed log says of a parked action.
    #[napi(ts_return_type = "Promise<PendingInfo>")]
    pub fn pending_info(&self, pending_id: String) -> AsyncTask<PendingTask> {
        AsyncTask::new(PendingTask {
            engine: Arc::clone(&self.engine),
            pending_id,
            wait: None,
        })
    }

    /// Waits up to `timeout_ms` for a person's decision (on a libuv worker thread, no
    /// busy loop); resolves to what `pendingInfo` gives.
    #[napi(ts_return_type = "Promise<PendingInfo>")]
    pub fn wait(
        &self,
        pending_id: String,
        timeout_ms: f64,
    ) -> napi::Result<AsyncTask<PendingTask>> {
        let wait = Duration::try_from_secs_f64(timeout_ms / 1000.0)
            .map_err(|_| invalid("timeoutMs must be a number of milliseconds, 0 or more".into()))?;
        Ok(AsyncTask::new(PendingTask {
            engine: Arc::clone(&self.engine),
            pending_id,
            wait: Some(wait),
        }))
    }
}

impl Project {
    /// The engine, for verification with the project's pins.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// Checks and converts one call into the engine's request (on the JS thread).
fn prepare(env: &Env, request: GateRequest, fields: Unknown<'_>) -> napi::Result<ActionRequest> {
    let Some(verb) = Verb::parse(&request.verb) else {
        return Err(invalid(format!(
            "unknown verb {} ({})",
            quoted(&request.verb),
            verb_names()
        )));
    };
    let redact_mode = match request.redact_mode.as_str() {
        "commit_and_reveal" => RedactionMode::CommitAndReveal,
        "destructive" => RedactionMode::Destructive,
        other => {
            return Err(invalid(format!(
                "redactMode must be commit_and_reveal or destructive, not {}",
                quoted(other)
            )));
        }
    };
    let converted = convert_fields(env, fields).map_err(crate::convert::Refusal::into_napi)?;
    let fields: Map<String, Value> = converted.fields;
    check_redactions(&request.tool_name, &request.redact, &fields).map_err(failure)?;
    let mut redact = request.redact;
    if request.credentials {
        for path in credential_paths(&fields).map_err(failure)? {
            if !redact.contains(&path) {
                redact.push(path);
            }
        }
    }
    Ok(ActionRequest {
        verb,
        tool_name: request.tool_name,
        workflow: request.workflow,
        account: request.account,
        target_host: request.target_host,
        fields,
        redact,
        redact_mode,
        blocking: request.blocking,
        exact_arguments: request.exact_binding && converted.exact,
    })
}

/// The gate's outcome as a plain object.
fn outcome(outcome: GateOutcome) -> GateResult {
    let status = match outcome.status {
        GateStatus::Allowed => "allowed",
        GateStatus::Blocked => "blocked",
        GateStatus::Suspended => "suspended",
    };
    let (pending_id, approvers, expires_at) = match outcome.pending {
        Some(ticket) => (
            Some(ticket.id),
            Some(ticket.approvers),
            Some(ticket.expires_at),
        ),
        None => (None, None, None),
    };
    GateResult {
        status: status.to_owned(),
        decision: outcome.decision.as_str().to_owned(),
        observed: outcome.observed,
        action_hash: outcome.action_hash,
        seq: i64::try_from(outcome.seq).unwrap_or(i64::MAX),
        rule_id: outcome.rule_id,
        rule_display: outcome.rule_display,
        pending_id,
        approvers,
        expires_at,
    }
}

/// One gate on a libuv worker thread.
pub struct GateTask {
    engine: Arc<Engine>,
    request: ActionRequest,
}

impl Task for GateTask {
    type Output = GateOutcome;
    type JsValue = GateResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        self.engine
            .gate(&self.request)
            .map_err(|e| failure(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(outcome(output))
    }
}

/// One claim on a libuv worker thread.
pub struct ClaimTask {
    engine: Arc<Engine>,
    pending_id: String,
    arguments: Option<Map<String, Value>>,
}

impl Task for ClaimTask {
    type Output = Option<ClaimedRun>;
    type JsValue = ClaimResult;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        match self.engine.claim(&self.pending_id, self.arguments.as_ref()) {
            Ok(run) => Ok(Some(run)),
            Err(ApprovalError::NotApproved(_)) => Ok(None),
            Err(other) => Err(failure(other.to_string())),
        }
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(match output {
            None => ClaimResult {
                state: "pending".to_owned(),
                tool_name: None,
                fields_json: None,
                approval_receipt: None,
                claim_receipt: None,
            },
            Some(run) => ClaimResult {
                state: "claimed".to_owned(),
                fields_json: Some(
                    serde_json::to_string(&run.fields).map_err(|e| failure(e.to_string()))?,
                ),
                tool_name: Some(run.tool_name),
                approval_receipt: Some(run.approval_receipt),
                claim_receipt: Some(run.claim_receipt),
            },
        })
    }
}

/// A look at (or a wait for) a parked action on a libuv worker thread.
pub struct PendingTask {
    engine: Arc<Engine>,
    pending_id: String,
    wait: Option<Duration>,
}

impl Task for PendingTask {
    type Output = PendingAction;
    type JsValue = PendingInfo;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let looked = match self.wait {
            None => self.engine.pending_action(&self.pending_id),
            Some(timeout) => self.engine.wait_for_decision(&self.pending_id, timeout),
        };
        looked.map_err(|e| failure(e.to_string()))
    }

    fn resolve(&mut self, _env: Env, action: Self::Output) -> napi::Result<Self::JsValue> {
        let decision_receipt = match &action.state {
            ApprovalState::Approved { receipt, .. }
            | ApprovalState::Rejected { receipt, .. }
            | ApprovalState::Resumed { receipt, .. }
            | ApprovalState::Unauthorized { receipt, .. } => Some(receipt.clone()),
            ApprovalState::Pending | ApprovalState::Expired => None,
        };
        Ok(PendingInfo {
            id: action.id.clone(),
            state: action.state.word().to_owned(),
            parked_receipt: action.parked.content.action_hash.clone(),
            tool_name: action.action().tool_name.clone(),
            verb: action.action().verb.as_str().to_owned(),
            expires_at: action.expires_at.clone(),
            rule_id: action.policy().rule_id.clone(),
            approvers: action.approvers.iter().map(|a| a.name.clone()).collect(),
            decision_receipt,
        })
    }
}
