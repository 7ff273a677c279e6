//! The keys a reader pins in the page's pin field, and whether a signer is among them.

use heso_receipt::{
    SignerPins, VerifyingKey, public_key_from_base64, public_key_from_str, public_key_to_did_key,
};

/// Pinned keys from the pin field: did:key or base64, separated by spaces, commas or
/// lines. An empty field pins nothing.
pub(crate) struct Pins {
    pub(crate) pins: SignerPins,
    keys: Vec<VerifyingKey>,
}

/// Whether a signer was pinned, as the page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PinStatus {
    /// The reader pinned nothing.
    NothingPinned,
    /// The key is among the pinned keys.
    Pinned,
    /// Keys are pinned and this is not one of them (or it does not decode).
    NotPinned,
}

impl PinStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PinStatus::NothingPinned => "none",
            PinStatus::Pinned => "pinned",
            PinStatus::NotPinned => "not-pinned",
        }
    }
}

impl Pins {
    pub(crate) fn parse(text: &str) -> Result<Pins, String> {
        let keys = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|k| !k.is_empty())
            .map(|k| {
                public_key_from_str(k)
                    .map_err(|e| format!("pinned key {k:?}: {e} (give a did:key or base64 key)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pins {
            pins: if keys.is_empty() {
                SignerPins::Any
            } else {
                SignerPins::Only(keys.clone())
            },
            keys,
        })
    }

    /// True when any key is pinned.
    pub(crate) fn any(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The pinned keys.
    pub(crate) fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The pinned keys as did:key, as `heso verify --json` lists them.
    pub(crate) fn did_keys(&self) -> Vec<String> {
        self.keys.iter().map(public_key_to_did_key).collect()
    }

    pub(crate) fn status(&self, key: &VerifyingKey) -> PinStatus {
        if !self.any() {
            PinStatus::NothingPinned
        } else if self.keys.contains(key) {
            PinStatus::Pinned
        } else {
            PinStatus::NotPinned
        }
    }

    /// The status of a key as a signature entry carries it (base64).
    pub(crate) fn status_of_base64(&self, key: &str) -> PinStatus {
        match public_key_from_base64(key) {
            Ok(key) => self.status(&key),
            Err(_) if self.any() => PinStatus::NotPinned,
            Err(_) => PinStatus::NothingPinned,
        }
    }
}

/// A key as the page names it: did:key when it decodes, else as written.
pub(crate) fn did_of(base64: &str) -> String {
    public_key_from_base64(base64)
        .map(|k| public_key_to_did_key(&k))
        .unwrap_or_else(|_| base64.to_owned())
}
