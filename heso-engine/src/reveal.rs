//! Reveal: prove what a committed field held, with the salt kept in `salts.jsonl`.

use heso_receipt::{MarkerAlgorithm, Receipt, verify_receipt};
use serde::Serialize;
use serde_json::Value;

use crate::engine::Engine;

/// A disclosure an auditor can check with heso-redact alone: the marker's commitment
/// equals hex BLAKE3(salt ‖ field_path ‖ JCS(value)).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disclosure {
    /// The receipt holding the marker.
    pub action_hash: String,
    /// The marker's concrete path.
    pub field_path: String,
    /// Always `salted-blake3/v1`.
    pub algorithm: String,
    /// The marker's commitment.
    pub commitment: String,
    /// The salt, lowercase hex.
    pub salt_hex: String,
    /// The value revealed.
    pub value: Value,
    /// The whole signed receipt, so the disclosure can be checked with nothing else
    /// (`heso verify DISCLOSURE.json`).
    pub receipt: Value,
}

/// The result of checking a claimed value.
#[derive(Debug, Clone, PartialEq)]
pub struct RevealCheck {
    /// True when the value is the one committed.
    pub matches: bool,
    /// The disclosure, when it matches.
    pub disclosure: Option<Disclosure>,
}

/// Why [`Engine::find_receipt`] found no receipt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FindError {
    /// The prefix finds no receipt, or several, or the log cannot be read.
    #[error(transparent)]
    Lookup(#[from] heso_chain::LookupError),
    /// The line found is not a receipt.
    #[error("line {line_number} of the log does not parse: {source}")]
    Parse {
        /// Its 1-based line number.
        line_number: u64,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// Why a reveal could not be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevealError {
    /// The prefix finds no receipt, or several.
    #[error(transparent)]
    Lookup(#[from] FindError),
    /// The project's pins (its `heso.toml`) cannot be read.
    #[error("cannot read the project's signer pins: {0}")]
    Pins(#[source] crate::config::ConfigError),
    /// The receipt does not verify.
    #[error("receipt {hash} does not verify: {verdict}")]
    Invalid {
        /// Its action_hash.
        hash: String,
        /// The verdict.
        verdict: String,
    },
    /// No marker at that path.
    #[error("receipt {hash} has no redaction marker at {path:?} (markers: {markers})")]
    NoMarker {
        /// The receipt.
        hash: String,
        /// The path asked for.
        path: String,
        /// The paths it has.
        markers: String,
    },
    /// A destructive marker: nothing can be revealed.
    #[error("the value at {0:?} was dropped (drop/v1): it can never be revealed")]
    Dropped(String),
    /// The salt is missing or does not decrypt.
    #[error(transparent)]
    Salt(#[from] crate::salts::SaltStoreError),
}

impl Engine {
    /// Finds a receipt in the local log by action_hash prefix.
    pub fn find_receipt(&self, prefix: &str) -> Result<(Receipt, String), FindError> {
        let found = heso_chain::find_by_prefix(&self.paths.receipts(), prefix)?;
        let receipt: Receipt =
            serde_json::from_str(&found.line).map_err(|source| FindError::Parse {
                line_number: found.line_number,
                source,
            })?;
        Ok((receipt, found.line))
    }

    /// Checks `value` against the commitment at `field_path` of the receipt `prefix`.
    pub fn reveal(
        &self,
        prefix: &str,
        field_path: &str,
        value: &Value,
    ) -> Result<RevealCheck, RevealError> {
        let (receipt, line) = self.find_receipt(prefix)?;
        let hash = receipt.content.action_hash.clone();
        let pins = self.pins().map_err(RevealError::Pins)?;
        let verdict = verify_receipt(line.as_bytes(), &pins).verdict;
        if !verdict.is_valid() {
            return Err(RevealError::Invalid {
                hash,
                verdict: verdict.to_string(),
            });
        }
        let markers = receipt
            .content
            .redaction
            .as_ref()
            .map(|r| r.markers.as_slice())
            .unwrap_or_default();
        let Some(marker) = markers.iter().find(|m| m.field_path == field_path) else {
            let list: Vec<&str> = markers.iter().map(|m| m.field_path.as_str()).collect();
            return Err(RevealError::NoMarker {
                hash,
                path: field_path.to_owned(),
                markers: if list.is_empty() {
                    "none".into()
                } else {
                    list.join(", ")
                },
            });
        };
        if marker.algorithm == MarkerAlgorithm::Drop {
            return Err(RevealError::Dropped(field_path.to_owned()));
        }
        let salt = self.salts.get(&marker.commitment)?;
        let matches = heso_redact::check_disclosure(marker, &salt, value);
        let disclosure = matches.then(|| Disclosure {
            action_hash: hash,
            field_path: marker.field_path.clone(),
            algorithm: "salted-blake3/v1".into(),
            commitment: marker.commitment.clone(),
            salt_hex: hex(salt.as_slice()),
            value: value.clone(),
            receipt: serde_json::from_str(&line).unwrap_or(Value::Null),
        });
        Ok(RevealCheck {
            matches,
            disclosure,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
