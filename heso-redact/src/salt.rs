//! The secret salt of one commitment.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// The OS random source could not give a salt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot read 32 random bytes from the operating system's CSPRNG ({0}); \
     nothing was redacted; check that the OS random source is available"
)]
pub struct SaltError(String);

/// A 32-byte commitment salt.
///
/// Whoever holds a salt next to its commitment can test guesses of a short value, so it is
/// a secret: `Debug` prints nothing of it, there is no `Display`, the bytes are only reached
/// through [`Salt::expose_secret`], and they are zeroized when the salt is dropped.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Salt([u8; 32]);

impl Salt {
    /// A fresh salt from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, SaltError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| SaltError(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// A salt from known bytes (reproducing a commitment, or one read back from storage).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The salt bytes. Named so that every place that reveals a secret is easy to find.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Salt([redacted])")
    }
}
