//! What a gated call carries in and gets back: the decorator's options, checked once
//! when it is applied (`Options`), the gate's typed outcome (`Outcome`), and the one
//! table from the engine's errors and refusals to heso's Python exceptions.

use heso_engine::{GateOutcome, GateStatus};
use heso_receipt::{FieldPath, RedactionMode, Verb};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::{quoted, verb_names};

/// Why a call into the core failed, as the Python exception it raises. The one table
/// from the engine's errors to heso's exceptions: every entry point maps through it.
pub(crate) enum Failure {
    /// The project cannot be opened, or is closed: `ConfigError`.
    Config(String),
    /// The gate could not record the action: `GateError`.
    Gate(String),
    /// An approval step was refused: `ApprovalError`.
    Approval(String),
}

impl Failure {
    /// The class of `heso._errors` this failure is raised as.
    fn class(&self) -> &'static str {
        match self {
            Self::Config(_) => "ConfigError",
            Self::Gate(_) => "GateError",
            Self::Approval(_) => "ApprovalError",
        }
    }

    pub(crate) fn into_py(self, py: Python<'_>) -> PyErr {
        let class = self.class();
        let (Self::Config(message) | Self::Gate(message) | Self::Approval(message)) = self;
        crate::heso_error(py, class, message)
    }
}

impl From<heso_engine::OpenError> for Failure {
    fn from(e: heso_engine::OpenError) -> Self {
        Self::Config(e.to_string())
    }
}

impl From<heso_engine::ConfigError> for Failure {
    fn from(e: heso_engine::ConfigError) -> Self {
        Self::Config(e.to_string())
    }
}

impl From<heso_engine::GateError> for Failure {
    fn from(e: heso_engine::GateError) -> Self {
        Self::Gate(e.to_string())
    }
}

impl From<heso_engine::ApprovalError> for Failure {
    fn from(e: heso_engine::ApprovalError) -> Self {
        Self::Approval(e.to_string())
    }
}

/// An instance of the class `name` of `heso._errors`, made with `message` and the
/// keyword arguments `attributes`.
fn refusal(py: Python<'_>, name: &str, message: String, attributes: &Bound<'_, PyDict>) -> PyErr {
    let made = py
        .import("heso._errors")
        .and_then(|module| module.getattr(name))
        .and_then(|class| class.call((message,), Some(attributes)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

/// What `SuspendedError` says: who may approve (or that nobody is named yet) and how to
/// resume.
fn suspended_message(
    tool: &str,
    pending_id: &str,
    approvers: &[String],
    expires_at: &str,
) -> String {
    if approvers.is_empty() {
        return format!(
            "heso suspended {tool} until a person approves it, but no approver is named for \
             it: create one with `heso keys new-approver NAME --default`, then `heso approve \
             {pending_id}` and heso.resume('{pending_id}') (expires {expires_at})"
        );
    }
    format!(
        "heso suspended {tool} until a person approves it ({}): `heso approve {pending_id}`, \
         then heso.resume('{pending_id}') (expires {expires_at})",
        approvers.join(", ")
    )
}

/// `SuspendedError` for a parked action, with its attributes; `prefix` goes before the
/// message.
#[allow(
    clippy::too_many_arguments,
    reason = "the exception's attributes, one each"
)]
pub(crate) fn suspended_error(
    py: Python<'_>,
    prefix: &str,
    tool: &str,
    pending_id: &str,
    approvers: &[String],
    expires_at: &str,
    action_hash: &str,
    rule_id: &str,
) -> PyResult<PyErr> {
    let attributes = PyDict::new(py);
    attributes.set_item("action_hash", action_hash)?;
    attributes.set_item("pending_id", pending_id)?;
    attributes.set_item("approvers", approvers)?;
    attributes.set_item("expires_at", expires_at)?;
    attributes.set_item("rule_id", rule_id)?;
    let message = format!(
        "{prefix}{}",
        suspended_message(tool, pending_id, approvers, expires_at)
    );
    Ok(refusal(py, "SuspendedError", message, &attributes))
}

/// A decorator's options, checked once when it is applied (a mistake raises then, not on
/// each call), and read by every call it gates.
#[pyclass(module = "heso._core", frozen)]
pub(crate) struct Options {
    pub(crate) name: Option<String>,
    pub(crate) redact: Vec<String>,
    pub(crate) redact_mode: RedactionMode,
    pub(crate) blocking: bool,
    pub(crate) verb: Verb,
}

#[pymethods]
impl Options {
    /// Checks the options: `ValueError` for an unknown verb or redact mode, an empty name,
    /// or a redact path that is not a field path (the message says what is wrong).
    #[new]
    #[pyo3(signature = (name=None, redact=Vec::new(), redact_mode="commit_and_reveal", blocking=true, verb="tool_call"))]
    fn new(
        name: Option<String>,
        redact: Vec<String>,
        redact_mode: &str,
        blocking: bool,
        verb: &str,
    ) -> PyResult<Self> {
        let Some(verb) = Verb::parse(verb) else {
            return Err(PyValueError::new_err(format!(
                "unknown verb {} ({})",
                quoted(verb),
                verb_names()
            )));
        };
        let redact_mode = match redact_mode {
            "commit_and_reveal" => RedactionMode::CommitAndReveal,
            "destructive" => RedactionMode::Destructive,
            other => {
                return Err(PyValueError::new_err(format!(
                    "redact_mode must be commit_and_reveal or destructive, not {}",
                    quoted(other)
                )));
            }
        };
        if name.as_deref() == Some("") {
            return Err(PyValueError::new_err("name must not be empty"));
        }
        for path in &redact {
            FieldPath::parse(path).map_err(|e| PyValueError::new_err(format!("redact: {e}")))?;
        }
        Ok(Self {
            name,
            redact,
            redact_mode,
            blocking,
            verb,
        })
    }

    /// The tool name given (`name=`), or `None`.
    #[getter]
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The field paths to redact.
    #[getter]
    fn redact<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.redact)
    }

    /// `commit_and_reveal` or `destructive`.
    #[getter]
    fn redact_mode(&self) -> &'static str {
        match self.redact_mode {
            RedactionMode::CommitAndReveal => "commit_and_reveal",
            RedactionMode::Destructive => "destructive",
        }
    }

    /// Whether a refusal is enforced (`False`: observe-only, except for a delete).
    #[getter]
    fn blocking(&self) -> bool {
        self.blocking
    }

    /// The verb, as the receipt writes it.
    #[getter]
    fn verb(&self) -> &'static str {
        self.verb.as_str()
    }

    fn __repr__(&self) -> String {
        format!(
            "heso._core.Options(name={:?}, redact={:?}, redact_mode={:?}, blocking={}, verb={:?})",
            self.name,
            self.redact,
            self.redact_mode(),
            if self.blocking { "True" } else { "False" },
            self.verb.as_str()
        )
    }
}

/// What the gate decided for one call, and what it recorded.
#[pyclass(module = "heso._core", frozen, get_all)]
pub(crate) struct Outcome {
    /// `allowed`, `blocked` or `suspended`.
    status: &'static str,
    /// The policy's decision (`allow`, `block`, `require_approval`).
    decision: &'static str,
    /// Whether a refusal was only observed (the call runs).
    observed: bool,
    /// The receipt's action hash.
    action_hash: String,
    /// The receipt's position in the log.
    seq: u64,
    /// The rule that decided.
    rule_id: String,
    /// The rule as shown to a person.
    rule_display: String,
    /// Redact paths that found no value in this call.
    unmatched_redactions: Vec<String>,
    /// What was repaired at the log's tail before appending, if anything.
    repaired_tail: Option<String>,
    /// The pending action's id, when suspended.
    pending_id: Option<String>,
    /// Who may approve it, when suspended.
    approvers: Vec<String>,
    /// When the approval expires, when suspended.
    expires_at: Option<String>,
}

impl From<GateOutcome> for Outcome {
    fn from(outcome: GateOutcome) -> Self {
        let status = match outcome.status {
            GateStatus::Allowed => "allowed",
            GateStatus::Blocked => "blocked",
            GateStatus::Suspended => "suspended",
        };
        let (pending_id, approvers, expires_at) = match outcome.pending {
            Some(ticket) => (Some(ticket.id), ticket.approvers, Some(ticket.expires_at)),
            None => (None, Vec::new(), None),
        };
        Self {
            status,
            decision: outcome.decision.as_str(),
            observed: outcome.observed,
            action_hash: outcome.action_hash,
            seq: outcome.seq,
            rule_id: outcome.rule_id,
            rule_display: outcome.rule_display,
            unmatched_redactions: outcome.unmatched_redactions,
            repaired_tail: outcome.repaired_tail,
            pending_id,
            approvers,
            expires_at,
        }
    }
}

#[pymethods]
impl Outcome {
    /// Raises `BlockedError` (blocked) or `SuspendedError` (suspended), with their
    /// attributes, naming the call `tool`; does nothing when allowed.
    fn raise_if_refused(&self, py: Python<'_>, tool: &str) -> PyResult<()> {
        match self.status {
            "blocked" => {
                let attributes = PyDict::new(py);
                attributes.set_item("action_hash", &self.action_hash)?;
                attributes.set_item("rule_id", &self.rule_id)?;
                attributes.set_item("reason", &self.rule_display)?;
                let message = format!(
                    "heso blocked {tool}: rule {} ({}); receipt {}",
                    self.rule_id, self.rule_display, self.action_hash
                );
                Err(refusal(py, "BlockedError", message, &attributes))
            }
            "suspended" => Err(suspended_error(
                py,
                "",
                tool,
                self.pending_id.as_deref().unwrap_or_default(),
                &self.approvers,
                self.expires_at.as_deref().unwrap_or_default(),
                &self.action_hash,
                &self.rule_id,
            )?),
            _ => Ok(()),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "<heso._core.Outcome {} rule {} action {}>",
            self.status,
            self.rule_id,
            self.action_hash.get(..12).unwrap_or(&self.action_hash)
        )
    }
}
