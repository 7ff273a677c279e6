//! `heso._core`: the Rust core of the Python package. Python binds arguments to fields;
//! the core converts them, raises `BlockedError`/`SuspendedError` and every other heso
//! exception (one table, `gate::Failure`), and gates in heso-engine, where policy,
//! redaction, hashing, signing and the log are.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use heso_engine::{ActionRequest, ApprovalError, ApprovalState, Engine, PendingAction};
use heso_receipt::{FieldPath, Verb, parse_strict};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

mod gate;
use gate::{Failure, Options, Outcome};

mod convert;
mod ship;
mod verify;

/// Raises the Python exception class `name` of `heso._errors` with `message`.
fn heso_error(py: Python<'_>, name: &str, message: String) -> PyErr {
    let class = py
        .import("heso._errors")
        .and_then(|module| module.getattr(name));
    match class {
        Ok(class) => match class.call1((message.clone(),)) {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        },
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

/// At most this many characters of a caller's value are quoted back in an error message.
const QUOTE_CHARS: usize = 80;

/// `text` quoted for an error message, cut to [`QUOTE_CHARS`] characters.
fn quoted(text: &str) -> String {
    if text.chars().count() <= QUOTE_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(QUOTE_CHARS).collect();
        format!("{head:?}… ({} characters)", text.chars().count())
    }
}

/// The names of the verbs, as the receipt writes them.
fn verb_names() -> String {
    Verb::ALL
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// An open heso project (an engine with its operator key unlocked), until `close()`.
#[pyclass(module = "heso._core", frozen)]
struct Project {
    /// The project folder.
    root: PathBuf,
    /// `None` once closed. Each call holds its own `Arc` while it runs, so closing never
    /// waits for (or cuts short) a call in flight on another thread.
    engine: RwLock<Option<Arc<Engine>>>,
}

impl Project {
    /// The open engine, or `ConfigError` once the project is closed.
    fn engine(&self, py: Python<'_>) -> PyResult<Arc<Engine>> {
        let engine = self.engine.read().unwrap_or_else(|p| p.into_inner());
        match engine.as_ref() {
            Some(engine) => Ok(Arc::clone(engine)),
            None => Err(Failure::Config(
                "this heso project is closed (Project.close() or heso.shutdown()); open it \
                 again with heso.init()"
                    .to_owned(),
            )
            .into_py(py)),
        }
    }
}

/// Keeps the checkpoint of `engine`'s whole log now, as dropping the last handle does,
/// when calls still in flight on other threads hold the engine (they keep a newer one
/// when they finish). Best effort, like the engine's own: a failure is one line on stderr.
fn checkpoint_now(engine: &Engine) {
    let kept = match engine.tree_snapshot() {
        Ok((head, _)) if head.size > 0 => {
            engine.checkpoint().map(|_| ()).map_err(|e| e.to_string())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = kept {
        use std::io::Write as _;
        let _ = writeln!(
            std::io::stderr().lock(),
            "heso: warning: could not keep a checkpoint of the log when closing the project: {e}"
        );
    }
}

#[pymethods]
impl Project {
    /// Opens the project found from `path` (or `HESO_PROJECT_ROOT`, or the working
    /// directory's nearest ancestor with heso.toml).
    #[new]
    #[pyo3(signature = (path=None))]
    fn new(py: Python<'_>, path: Option<PathBuf>) -> PyResult<Self> {
        let opened = py.detach(|| Engine::open(path.as_deref()));
        match opened {
            Ok(engine) => Ok(Self {
                root: engine.paths().root.clone(),
                engine: RwLock::new(Some(Arc::new(engine))),
            }),
            Err(e) => Err(Failure::from(e).into_py(py)),
        }
    }

    /// The project folder (kept after `close()`).
    #[getter]
    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    /// Whether `close()` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.engine
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    /// Closes the project: keeps a signed checkpoint of the whole log in
    /// `heso-local-data/checkpoints/` (unless the log is empty or that tree head is kept
    /// already) and releases the engine; every later call raises `ConfigError`. Calling
    /// it again does nothing. The GIL is released while the checkpoint is written.
    fn close(&self, py: Python<'_>) {
        let taken = self
            .engine
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(engine) = taken {
            py.detach(move || match Arc::try_unwrap(engine) {
                // The last handle: dropping the engine keeps the checkpoint.
                Ok(engine) => drop(engine),
                Err(shared) => checkpoint_now(&shared),
            });
        }
    }

    /// Gates one action; returns its `Outcome`. The GIL is released while deciding,
    /// signing and appending. `prepare(...).run()` in one step.
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python call one to one"
    )]
    #[pyo3(signature = (options, tool_name, workflow, account, target_host=None, fields_json=None, exact_arguments=None, *, fields=None, enforce=true))]
    fn gate<'py>(
        &self,
        py: Python<'py>,
        options: &Options,
        tool_name: String,
        workflow: String,
        account: String,
        target_host: Option<String>,
        fields_json: Option<&str>,
        exact_arguments: Option<bool>,
        fields: Option<&Bound<'py, PyAny>>,
        enforce: bool,
    ) -> PyResult<Outcome> {
        let call = self.prepare(
            py,
            options,
            tool_name,
            workflow,
            account,
            target_host,
            fields_json,
            exact_arguments,
            fields,
            false,
            enforce,
        )?;
        call.run(py)
    }

    /// Converts one action's fields now, on the caller's thread (holding the GIL), into a
    /// `Call` whose `run()` gates it (without the GIL). `options`: the decorator's, checked
    /// when they were made (`Options`); `enforce=False` makes the call observe-only
    /// whatever they say (`heso.init(blocking=False)`). `fields`: the call's fields as
    /// Python values, converted by the rule of `heso.to_json_value` (the call is then
    /// `exact_arguments` when they are JSON as they are, unless it says otherwise); or
    /// `fields_json`: their JSON text, read strictly. `read_twice`: convert `fields` a
    /// second time and raise `GateError` if the two differ, for a thread that reads
    /// another thread's arguments (a value whose reading runs Python code lets other
    /// threads run, and one of them may change what is half read).
    #[allow(
        clippy::too_many_arguments,
        reason = "mirrors the Python call one to one"
    )]
    #[pyo3(signature = (options, tool_name, workflow, account, target_host=None, fields_json=None, exact_arguments=None, *, fields=None, read_twice=false, enforce=true))]
    fn prepare<'py>(
        &self,
        py: Python<'py>,
        options: &Options,
        tool_name: String,
        workflow: String,
        account: String,
        target_host: Option<String>,
        fields_json: Option<&str>,
        exact_arguments: Option<bool>,
        fields: Option<&Bound<'py, PyAny>>,
        read_twice: bool,
        enforce: bool,
    ) -> PyResult<Call> {
        let (fields, exact) = match (fields, fields_json) {
            (Some(fields), None) => {
                let mut walker = convert::Walker::new(py);
                let converted = walker.convert(fields, 0)?;
                // Only a walk that ran Python code (a model's model_dump, a subclass's
                // items, ...) lets another thread run and change the arguments under it; a
                // walk of exactly-JSON built-ins runs none, so reading them again would
                // find the same values and only cost the gate a second conversion.
                if read_twice
                    && !walker.exact()
                    && convert::Walker::new(py).convert(fields, 0)? != converted
                {
                    return Err(changed_while_read(py, &tool_name));
                }
                match converted {
                    serde_json::Value::Object(map) => (map, walker.exact()),
                    _ => {
                        return Err(PyTypeError::new_err(format!(
                            "fields must be a dict of the call's fields, not {}",
                            fields.get_type().name()?
                        )));
                    }
                }
            }
            (None, Some(text)) => (fields_from_json(text)?, false),
            _ => {
                return Err(PyTypeError::new_err(
                    "give the call's fields once: fields (a dict) or fields_json (its JSON text)",
                ));
            }
        };
        let engine = self.engine(py)?;
        Ok(Call {
            pending: std::sync::Mutex::new(Some((
                engine,
                ActionRequest {
                    verb: options.verb,
                    tool_name,
                    workflow,
                    account,
                    target_host,
                    fields,
                    redact: options.redact.clone(),
                    redact_mode: options.redact_mode,
                    blocking: options.blocking && enforce,
                    exact_arguments: exact_arguments.unwrap_or(exact),
                },
            ))),
        })
    }

    /// Claims the one run of an approved action (durably, exactly once across
    /// processes). `fields` (Python values, converted as `prepare` converts them) or
    /// `fields_json` (their JSON text): the arguments this process holds, which must be the
    /// ones approved; neither runs with the sealed arguments. Returns `{"state":
    /// "pending"}` while undecided, else `{"state": "claimed", "tool_name",
    /// "fields_json"}`; raises `ApprovalError` for every other state.
    #[pyo3(signature = (pending_id, fields_json=None, *, fields=None))]
    fn claim<'py>(
        &self,
        py: Python<'py>,
        pending_id: String,
        fields_json: Option<&str>,
        fields: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let arguments = match (fields, fields_json) {
            (None, None) => None,
            (Some(fields), None) => match convert::Walker::new(py).convert(fields, 0)? {
                serde_json::Value::Object(map) => Some(map),
                _ => {
                    return Err(PyTypeError::new_err(
                        "fields must be a dict of the call's fields",
                    ));
                }
            },
            (None, Some(text)) => match parse_strict(text.as_bytes()) {
                Ok(serde_json::Value::Object(map)) => Some(map),
                _ => {
                    return Err(PyValueError::new_err("fields_json must be a JSON object"));
                }
            },
            (Some(_), Some(_)) => {
                return Err(PyTypeError::new_err(
                    "give the call's fields once: fields (a dict) or fields_json (its JSON text)",
                ));
            }
        };
        let engine = self.engine(py)?;
        let result = py.detach(move || engine.claim(&pending_id, arguments.as_ref()));
        let out = PyDict::new(py);
        match result {
            Ok(run) => {
                out.set_item("state", "claimed")?;
                out.set_item("tool_name", run.tool_name)?;
                let text = serde_json::to_string(&run.fields)
                    .map_err(|e| Failure::Approval(e.to_string()).into_py(py))?;
                out.set_item("fields_json", text)?;
                out.set_item("approval_receipt", run.approval_receipt)?;
                out.set_item("claim_receipt", run.claim_receipt)?;
            }
            Err(ApprovalError::NotApproved(_)) => out.set_item("state", "pending")?,
            Err(other) => return Err(Failure::from(other).into_py(py)),
        }
        Ok(out)
    }

    /// What the signed log says about a parked action.
    fn pending_info<'py>(
        &self,
        py: Python<'py>,
        pending_id: String,
    ) -> PyResult<Bound<'py, PyDict>> {
        let engine = self.engine(py)?;
        let action = py
            .detach(move || engine.pending_action(&pending_id))
            .map_err(|e| Failure::from(e).into_py(py))?;
        pending_dict(py, &action)
    }

    /// Waits up to `timeout` seconds for a person's decision (the GIL released, no busy
    /// loop); returns what `pending_info` returns.
    fn wait<'py>(
        &self,
        py: Python<'py>,
        pending_id: String,
        timeout: f64,
    ) -> PyResult<Bound<'py, PyDict>> {
        let timeout = std::time::Duration::try_from_secs_f64(timeout).map_err(|_| {
            pyo3::exceptions::PyValueError::new_err("timeout must be 0 or more seconds")
        })?;
        let engine = self.engine(py)?;
        let action = py
            .detach(move || engine.wait_for_decision(&pending_id, timeout))
            .map_err(|e| Failure::from(e).into_py(py))?;
        pending_dict(py, &action)
    }
}

/// `fields_json` read strictly: duplicate keys and integers outside ±(2^53−1) are
/// refused, not silently collapsed or turned into floats. The text itself is never quoted
/// (it may hold the very secrets `redact` names).
fn fields_from_json(text: &str) -> PyResult<serde_json::Map<String, serde_json::Value>> {
    match parse_strict(text.as_bytes()) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(other) => {
            let kind = match other {
                serde_json::Value::Null => "null",
                serde_json::Value::Bool(_) => "a boolean",
                serde_json::Value::Number(_) => "a number",
                serde_json::Value::String(_) => "a string",
                serde_json::Value::Array(_) => "an array",
                serde_json::Value::Object(_) => "an object",
            };
            Err(PyValueError::new_err(format!(
                "fields_json must be a JSON object, not {kind}"
            )))
        }
        Err(e) => Err(PyValueError::new_err(format!(
            "fields_json is not valid JSON: {e}"
        ))),
    }
}

/// One checked action with its converted fields, gated once by `run()`.
#[pyclass(module = "heso._core", frozen)]
struct Call {
    pending: std::sync::Mutex<Option<(Arc<Engine>, ActionRequest)>>,
}

impl Call {
    fn take(&self) -> PyResult<(Arc<Engine>, ActionRequest)> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| PyRuntimeError::new_err("this heso call has been gated already"))
    }
}

/// The `GateError` for fields that changed between two readings of them. Names no value
/// (they may hold what `redact` hides).
fn changed_while_read(py: Python<'_>, tool_name: &str) -> PyErr {
    Failure::Gate(format!(
        "heso refused {}: its arguments changed while they were being recorded (another task \
         or thread modified one of them during the call), so the receipt could not say what \
         the call ran with; pass a copy, or leave the arguments alone until the call returns \
         (nothing was recorded and the call did not run)",
        quoted(tool_name)
    ))
    .into_py(py)
}

#[pymethods]
impl Call {
    /// The fields that `run()` will gate, as Python values (`dict`, `list`, `str`, `int`,
    /// `float`, `bool`, `None`), or `RuntimeError` after `run()`.
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // A copy, so no lock is held while Python objects are made (that may run Python
        // code, which may run this call on another thread).
        let fields = match self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            Some((_, request)) => request.fields.clone(),
            None => {
                return Err(PyRuntimeError::new_err(
                    "this heso call has been gated already",
                ));
            }
        };
        let dict = PyDict::new(py);
        for (key, value) in &fields {
            dict.set_item(key, convert::to_python(py, value)?)?;
        }
        Ok(dict.into_any())
    }

    /// Decides, signs and appends the action (the GIL released); returns its `Outcome`.
    /// A second run raises `RuntimeError`.
    fn run(&self, py: Python<'_>) -> PyResult<Outcome> {
        let (engine, request) = self.take()?;
        let outcome = py.detach(move || engine.gate(&request));
        outcome
            .map(Outcome::from)
            .map_err(|e| Failure::from(e).into_py(py))
    }
}

/// Converts `value` by the rule of `heso.to_json_value` and returns the result as Python
/// values (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`). `depth`: the nesting
/// it starts at.
#[pyfunction]
#[pyo3(signature = (value, depth=0))]
fn to_json_value<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    depth: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let converted = convert::Walker::new(py).convert(value, depth)?;
    convert::to_python(py, &converted)
}

/// The JSON text of `value` converted by the rule of `heso.to_json_value`.
#[pyfunction]
fn fields_json(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    let converted = convert::Walker::new(py).convert(value, 0)?;
    serde_json::to_string(&converted).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A parked action as a dict for Python.
fn pending_dict<'py>(py: Python<'py>, action: &PendingAction) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("id", &action.id)?;
    out.set_item("state", action.state.word())?;
    out.set_item("parked_receipt", &action.parked.content.action_hash)?;
    out.set_item("tool_name", &action.action().tool_name)?;
    out.set_item("verb", action.action().verb.as_str())?;
    out.set_item("expires_at", &action.expires_at)?;
    out.set_item("rule_id", &action.policy().rule_id)?;
    let names: Vec<&str> = action.approvers.iter().map(|a| a.name.as_str()).collect();
    out.set_item("approvers", names)?;
    let decision = match &action.state {
        ApprovalState::Approved { receipt, .. }
        | ApprovalState::Rejected { receipt, .. }
        | ApprovalState::Resumed { receipt, .. }
        | ApprovalState::Unauthorized { receipt, .. } => Some(receipt.clone()),
        ApprovalState::Pending | ApprovalState::Expired => None,
    };
    out.set_item("decision_receipt", decision)?;
    Ok(out)
}

/// Runs the `heso` command line with `argv` and returns its exit code. Arguments are OS
/// strings, so bytes that are not UTF-8 (which Python's `sys.argv` holds as lone
/// surrogates) reach the command as they were typed.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<OsString>) -> i32 {
    py.detach(move || heso_cli::run(argv))
}

/// The `SuspendedError` for a parked action, with its attributes (not raised: the caller
/// raises it). `prefix` goes before the message.
#[pyfunction]
#[pyo3(signature = (tool, pending_id, approvers, expires_at, action_hash, rule_id, prefix=""))]
#[allow(
    clippy::too_many_arguments,
    reason = "the exception's attributes, one each"
)]
fn suspended_error(
    py: Python<'_>,
    tool: &str,
    pending_id: &str,
    approvers: Vec<String>,
    expires_at: &str,
    action_hash: &str,
    rule_id: &str,
    prefix: &str,
) -> PyResult<Py<PyAny>> {
    let error = gate::suspended_error(
        py,
        prefix,
        tool,
        pending_id,
        &approvers,
        expires_at,
        action_hash,
        rule_id,
    )?;
    Ok(error.into_value(py).into_any())
}

/// Checks one `redact=` field path; raises `ValueError` saying what is wrong with it.
#[pyfunction]
fn check_field_path(path: &str) -> PyResult<()> {
    FieldPath::parse(path)
        .map(|_| ())
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))
}

/// The Rust core of the `heso` package.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Project>()?;
    m.add_class::<Call>()?;
    m.add_class::<Options>()?;
    m.add_class::<Outcome>()?;
    m.add_function(wrap_pyfunction!(suspended_error, m)?)?;
    m.add_class::<ship::Shipper>()?;
    m.add_function(wrap_pyfunction!(to_json_value, m)?)?;
    m.add_function(wrap_pyfunction!(fields_json, m)?)?;
    m.add("MAX_DEPTH", convert::MAX_DEPTH)?;
    m.add("MAX_VALUES", convert::MAX_VALUES)?;
    m.add("MAX_SAFE_INTEGER", heso_receipt::MAX_SAFE_INTEGER)?;
    m.add("TOO_DEEP", convert::TOO_DEEP)?;
    m.add("TOO_LARGE", convert::TOO_LARGE)?;
    m.add_function(wrap_pyfunction!(verify::verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify::verify_log, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    m.add_function(wrap_pyfunction!(check_field_path, m)?)?;
    let verbs: Vec<&str> = Verb::ALL.iter().map(|v| v.as_str()).collect();
    m.add("VERBS", pyo3::types::PyTuple::new(m.py(), verbs)?)?;
    Ok(())
}
