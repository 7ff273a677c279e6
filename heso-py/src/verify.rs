//! `heso.verify` and `heso.verify_log`: heso-receipt's reports ([`ReceiptReport`],
//! [`PinnedLogReport`]) as JSON text, serialised as `heso verify --json` serialises them,
//! for `heso/_verify.py` to read into its dataclasses. Nothing is decided here.

use std::path::PathBuf;

use heso_receipt::{PinnedLogReport, ReceiptReport, SignerPins, verify_log_bytes, verify_receipt};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::Project;
use crate::gate::Failure;

/// The pins: exactly `signers` when given; else the project's keys when `project` is
/// given; else nothing.
fn pins(
    py: Python<'_>,
    signers: Option<Vec<String>>,
    project: Option<PyRef<'_, Project>>,
) -> PyResult<SignerPins> {
    match (signers, project) {
        (Some(keys), _) => SignerPins::from_keys(keys.iter().map(String::as_str))
            .map_err(|e| PyValueError::new_err(format!("signer {e}"))),
        (None, Some(project)) => project
            .engine(py)?
            .pins()
            .map_err(|e| Failure::from(e).into_py(py)),
        (None, None) => Ok(SignerPins::Any),
    }
}

fn json_error(e: serde_json::Error) -> PyErr {
    PyRuntimeError::new_err(e.to_string())
}

/// Verifies one receipt's bytes; returns its report as JSON (`heso verify FILE --json`).
/// `signers`: pin exactly these keys; `None` pins the project's keys when `project` is
/// given, else nothing.
#[pyfunction]
#[pyo3(signature = (data, signers=None, project=None))]
pub(crate) fn verify(
    py: Python<'_>,
    data: &[u8],
    signers: Option<Vec<String>>,
    project: Option<PyRef<'_, Project>>,
) -> PyResult<String> {
    let pins = pins(py, signers, project)?;
    let bytes = data.to_vec();
    let report = py.detach(move || ReceiptReport::new(&verify_receipt(&bytes, &pins), &pins));
    serde_json::to_string(&report).map_err(json_error)
}

/// Verifies a log, from its bytes (`data`) or its file (`path`, read streaming), every
/// complete line a receipt and bytes after the last newline a torn tail; returns its
/// report as JSON (`heso verify LOG.jsonl --json`). `signers` and `project` as for
/// [`verify`]. A file that cannot be read raises `OSError` naming it.
#[pyfunction]
#[pyo3(signature = (data=None, path=None, signers=None, project=None))]
pub(crate) fn verify_log(
    py: Python<'_>,
    data: Option<&[u8]>,
    path: Option<PathBuf>,
    signers: Option<Vec<String>>,
    project: Option<PyRef<'_, Project>>,
) -> PyResult<String> {
    let pins = pins(py, signers, project)?;
    let report = match (data, path) {
        (Some(data), None) => {
            let bytes = data.to_vec();
            py.detach(move || PinnedLogReport::new(&verify_log_bytes(&bytes, &pins), &pins))
        }
        (None, Some(path)) => py
            .detach(|| {
                heso_chain::verify_log(&path, &pins, None)
                    .map(|report| PinnedLogReport::new(&report, &pins))
            })
            .map_err(|e| {
                let errno = e.raw_os_error().unwrap_or(0);
                let words = e.to_string();
                let words = words
                    .split(" (os error ")
                    .next()
                    .unwrap_or(&words)
                    .to_owned();
                PyOSError::new_err((errno, words, path.display().to_string()))
            })?,
        _ => {
            return Err(PyTypeError::new_err(
                "verify_log takes data or path, not both",
            ));
        }
    };
    serde_json::to_string(&report).map_err(json_error)
}
