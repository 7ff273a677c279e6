//! The Rust core of the npm package `heso` (a napi-rs addon). The package binds a call's
//! arguments and raises `BlockedError`/`SuspendedError`; turning JavaScript values into
//! fields, policy, redaction, hashing, signing and the log are all here, in heso-engine.
//! Nothing of the kind is written in JavaScript.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod convert;
mod paths;
mod project;
mod verify;

pub use project::{
    ClaimResult, ClaimTask, GateRequest, GateResult, GateTask, PendingInfo, PendingTask, Project,
};
pub use verify::{verify, verify_log};

use heso_receipt::{FieldPath, Segment, Verb};
use napi::Status;
use napi_derive::napi;

/// At most this many characters of a caller's value are quoted back in an error message.
const QUOTE_CHARS: usize = 80;

/// `text` quoted for an error message, cut to [`QUOTE_CHARS`] characters.
pub(crate) fn quoted(text: &str) -> String {
    if text.chars().count() <= QUOTE_CHARS {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(QUOTE_CHARS).collect();
        format!("{head:?}… ({} characters)", text.chars().count())
    }
}

/// The names of the verbs, as the receipt writes them.
pub(crate) fn verb_names() -> String {
    Verb::ALL
        .iter()
        .map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verbs a receipt may record.
#[napi]
pub fn verbs() -> Vec<String> {
    Verb::ALL.iter().map(|v| v.as_str().to_owned()).collect()
}

/// The version of this addon (the workspace's).
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

/// Checks one `redact` field path and returns its first segment (unescaped; `null` for
/// `*`); throws (`InvalidArg`, a `TypeError` in the package) saying what is wrong with it.
#[napi]
pub fn check_field_path(path: String) -> napi::Result<Option<String>> {
    let parsed =
        FieldPath::parse(&path).map_err(|e| napi::Error::new(Status::InvalidArg, e.to_string()))?;
    Ok(match parsed.segments().first() {
        Some(Segment::Key(key)) => Some(key.clone()),
        _ => None,
    })
}

/// Runs the `heso` command line with `argv` (the program name first) on the calling
/// thread and returns its exit code: the same program as the Rust `heso` binary.
#[napi]
pub fn run_cli(argv: Vec<String>) -> i32 {
    heso_cli::run(argv)
}
