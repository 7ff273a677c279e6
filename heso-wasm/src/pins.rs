//! The keys a reader pins in the page's pin field: parsed by heso-receipt
//! (`SignerPins::from_field`), as every verifier parses pins, and shown in the page's words.

use heso_receipt::{PinStatus, SignerPins, VerifyingKey};

/// Pinned keys from the pin field: did:key or base64, separated by spaces, commas or
/// lines. An empty field pins nothing.
pub(crate) struct Pins {
    pub(crate) pins: SignerPins,
    keys: Vec<VerifyingKey>,
}

/// A pin status as the page's scripts name it (`data-pins`, CSS classes).
pub(crate) fn page_word(status: PinStatus) -> &'static str {
    match status {
        PinStatus::NothingPinned => "none",
        PinStatus::Pinned => "pinned",
        PinStatus::NotPinned => "not-pinned",
    }
}

/// The status of several signers together: nothing pinned, every one pinned, or not
/// (no signer at all is not pinned, when keys are).
pub(crate) fn all_of(pins: &Pins, statuses: impl IntoIterator<Item = PinStatus>) -> PinStatus {
    if !pins.any() {
        return PinStatus::NothingPinned;
    }
    let mut statuses = statuses.into_iter().peekable();
    if statuses.peek().is_none() {
        return PinStatus::NotPinned;
    }
    if statuses.all(|s| s == PinStatus::Pinned) {
        PinStatus::Pinned
    } else {
        PinStatus::NotPinned
    }
}

impl Pins {
    pub(crate) fn parse(text: &str) -> Result<Pins, String> {
        let pins = SignerPins::from_field(text).map_err(|e| format!("pinned key {e}"))?;
        Ok(Pins {
            keys: pins.keys(),
            pins,
        })
    }

    /// True when any key is pinned.
    pub(crate) fn any(&self) -> bool {
        self.pins.is_pinned()
    }

    /// The pinned keys, each once.
    pub(crate) fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The pinned keys as did:key, as the reports list them.
    pub(crate) fn did_keys(&self) -> Vec<String> {
        self.pins.did_keys()
    }
}
