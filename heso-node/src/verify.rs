//! One receipt or a log, verified offline by heso-receipt, reported as heso-receipt's
//! [`ReceiptReport`] and [`PinnedLogReport`]: what `heso verify FILE --json` and `heso
//! verify LOG.jsonl --json` print, field for field.

use std::path::Path;

use heso_receipt::{PinnedLogReport, ReceiptReport, SignerPins, verify_log_bytes, verify_receipt};
use napi::bindgen_prelude::{Buffer, Either, Unknown};
use napi::{Env, Status};
use napi_derive::napi;

use crate::project::Project;

/// The pins: exactly `signers` (did:key or base64) when given; else the project's keys
/// when `project` is given; else nothing.
fn pins(signers: Option<Vec<String>>, project: Option<&Project>) -> napi::Result<SignerPins> {
    match (signers, project) {
        // The same parsing and words as `heso verify --signer` and Python's heso.verify.
        (Some(keys), _) => SignerPins::from_keys(keys.iter().map(String::as_str))
            .map_err(|e| napi::Error::new(Status::InvalidArg, format!("signer {e}"))),
        (None, Some(project)) => project
            .engine()
            .pins()
            .map_err(|e| napi::Error::new(Status::GenericFailure, e.to_string())),
        (None, None) => Ok(SignerPins::Any),
    }
}

/// Verifies one receipt's bytes and returns its report (heso-receipt's `ReceiptReport`
/// as a JS object). `signers`: pin exactly these keys (did:key or base64); `None` pins
/// the project's keys when `project` is given, else nothing.
#[napi]
pub fn verify<'env>(
    env: &'env Env,
    data: Buffer,
    signers: Option<Vec<String>>,
    project: Option<&Project>,
) -> napi::Result<Unknown<'env>> {
    let pins = pins(signers, project)?;
    let report = ReceiptReport::new(&verify_receipt(&data, &pins), &pins);
    env.to_js_value(&report)
}

/// An error of `verify_log` as JS sees it: its `code` is the status (`InvalidArg`,
/// `GenericFailure`, or `errno:N` for a file that cannot be read).
type LogError = napi::Error<String>;

fn log_error(e: napi::Error) -> LogError {
    napi::Error::new(e.status.as_ref().to_owned(), e.reason.clone())
}

/// Verifies a log, given as its bytes or as the path of its file (read streaming, as
/// `heso verify LOG.jsonl` reads it): every complete line a receipt, bytes after the last
/// newline a torn tail. Returns heso-receipt's `PinnedLogReport` as JSON text, the document
/// `heso verify LOG.jsonl --json` prints. Text, not an object through napi's serde: napi
/// makes a u64 above 2^32 a BigInt (which `JSON.stringify` refuses), and a log's seq can be
/// that large; `JSON.parse` makes it a number, exact as every integer in a receipt is at
/// most 2^53 - 1. `signers` and `project` as for [`verify`]. A file that cannot be read
/// throws with code `errno:N` (its OS error number, 0 when it has none) and the OS's
/// words, which the package turns into Node's own error shape (`code: 'ENOENT'`, `path`).
#[napi]
pub fn verify_log(
    log: Either<Buffer, String>,
    signers: Option<Vec<String>>,
    project: Option<&Project>,
) -> napi::Result<String, String> {
    let pins = pins(signers, project).map_err(log_error)?;
    let report = match log {
        Either::A(bytes) => PinnedLogReport::new(&verify_log_bytes(&bytes, &pins), &pins),
        Either::B(path) => heso_chain::verify_log(Path::new(&path), &pins, None)
            .map(|report| PinnedLogReport::new(&report, &pins))
            .map_err(|e| {
                let words = e.to_string();
                // The number is in the code; the words without it read as Node's do.
                let words = words.split(" (os error ").next().unwrap_or(&words);
                napi::Error::new(
                    format!("errno:{}", e.raw_os_error().unwrap_or(0)),
                    words.to_owned(),
                )
            })?,
    };
    serde_json::to_string(&report)
        .map_err(|e| napi::Error::new(Status::GenericFailure.as_ref().to_owned(), e.to_string()))
}
