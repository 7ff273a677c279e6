//! One receipt, verified offline by heso-receipt, reported as heso-receipt's
//! [`ReceiptReport`]: the object `heso verify FILE --json` prints, field for field.

use heso_receipt::{ReceiptReport, SignerPins, verify_receipt};
use napi::bindgen_prelude::{Buffer, Unknown};
use napi::{Env, Status};
use napi_derive::napi;

use crate::project::Project;

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
    let pins = match (signers, project) {
        // The same parsing and words as `heso verify --signer` and Python's heso.verify.
        (Some(keys), _) => SignerPins::from_keys(keys.iter().map(String::as_str))
            .map_err(|e| napi::Error::new(Status::InvalidArg, format!("signer {e}")))?,
        (None, Some(project)) => project
            .engine()
            .pins()
            .map_err(|e| napi::Error::new(Status::GenericFailure, e.to_string()))?,
        (None, None) => SignerPins::Any,
    };
    let report = ReceiptReport::new(&verify_receipt(&data, &pins), &pins);
    env.to_js_value(&report)
}
