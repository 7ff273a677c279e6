//! `heso._core.Shipper`: one step of `heso push` at a time, for the background thread of
//! `heso.init(ship=True)` (`heso/_ship.py`). Each step releases the GIL; nothing here is on
//! a gated call's path.

use std::path::PathBuf;
use std::sync::Mutex;

use heso_store::{Pusher, Store, ship_source, store_url};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// Where the shipper stands between steps.
#[derive(Default)]
struct State {
    pusher: Option<Pusher>,
    url: Option<String>,
    store: Option<Store>,
}

/// Ships a project's log to the fleet store, one `step()` at a time.
#[pyclass(module = "heso._core", frozen)]
pub(crate) struct Shipper {
    root: Option<PathBuf>,
    url: Option<String>,
    state: Mutex<State>,
}

/// A step's failure: the message, and whether trying again later may succeed.
fn failure(message: String, transient: bool) -> PyErr {
    let kind = if transient { "transient" } else { "refused" };
    PyRuntimeError::new_err((message, kind))
}

#[pymethods]
impl Shipper {
    /// A shipper for the project at `root` (found as `heso.init` finds it when `None`),
    /// to the store `url` (else `HESO_STORE_URL`, else `[store] url`).
    #[new]
    #[pyo3(signature = (root=None, url=None))]
    fn new(root: Option<PathBuf>, url: Option<String>) -> Self {
        Self {
            root,
            url,
            state: Mutex::new(State::default()),
        }
    }

    /// Pushes what the store lacks and a checkpoint of it: returns (receipts stored now,
    /// receipts in the log). The first step unlocks the operator key. Raises RuntimeError
    /// (message, "transient" | "refused"): "refused" for a log the store says was truncated
    /// or rewritten, and for a project or store that cannot be used as configured.
    fn step(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        py.detach(|| {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if state.pusher.is_none() {
                let (source, config_url) =
                    ship_source(self.root.as_deref()).map_err(|e| failure(e.to_string(), false))?;
                let url = store_url(self.url.as_deref(), config_url.as_deref())
                    .map_err(|e| failure(e.to_string(), false))?;
                state.pusher =
                    Some(Pusher::new(source).map_err(|e| failure(e.to_string(), false))?);
                state.url = Some(url);
            }
            if state.store.as_ref().is_none_or(Store::is_closed) {
                let url = state.url.clone().unwrap_or_default();
                let store =
                    Store::connect(&url).map_err(|e| failure(e.to_string(), e.is_transient()))?;
                state.store = Some(store);
            }
            let State { pusher, store, .. } = &mut *state;
            let (Some(pusher), Some(connected)) = (pusher.as_mut(), store.as_mut()) else {
                return Err(failure("the shipper is not set up".into(), false));
            };
            match pusher.push(connected, None) {
                Ok(report) => Ok((report.stored, report.log_size)),
                Err(e) => {
                    let transient = e.is_transient();
                    if transient {
                        state.store = None;
                        if let Some(pusher) = state.pusher.as_mut() {
                            pusher.reset();
                        }
                    }
                    Err(failure(e.to_string(), transient))
                }
            }
        })
    }
}
