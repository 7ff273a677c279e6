//! Redaction of an action's `fields` before anything is signed or written.
//!
//! Two modes, as the heso-action/2.0 format defines them:
//! - **commit-and-reveal** (`salted-blake3/v1`): each matched value becomes
//!   `{"_sd": c}` with c = hex BLAKE3(salt ‖ field_path ‖ JCS(value)) and a fresh 32-byte
//!   salt from the OS CSPRNG. The salts are handed back to the caller, who decides where
//!   they are kept (this crate stores nothing); with a salt, [`check_disclosure`] says
//!   whether a claimed value is the one that was committed.
//! - **destructive** (`drop/v1`): each matched value becomes `"[redacted]"` for good.
//!
//! Paths use the grammar of [`heso_receipt::FieldPath`]: dotted segments, digits index
//! arrays, `*` is every element or key, `\` escapes `.`, `*` and `\` inside keys.
//!
//! ```
//! use heso_redact::{RedactRequest, check_disclosure, redact};
//! use serde_json::json;
//!
//! let fields = json!({"api_key": "sk-live-123", "body": "hello"});
//! let fields = fields.as_object().unwrap();
//! let out = redact(fields, &[RedactRequest::commit("api_key")]).unwrap();
//! let redaction = out.redaction.as_ref().unwrap();
//! assert!(out.fields["api_key"]["_sd"].is_string());
//! let marker = &redaction.markers[0];
//! let salt = out.salts[0].salt.expose_secret();
//! assert!(check_disclosure(marker, salt, &json!("sk-live-123")));
//! assert!(!check_disclosure(marker, salt, &json!("sk-live-124")));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod disclose;
mod redact;
mod salt;

pub use disclose::check_disclosure;
pub use redact::{
    DROPPED_VALUE, RedactError, RedactRequest, Redacted, SaltRecord, redact, redact_with_salts,
};
pub use salt::{Salt, SaltError};
