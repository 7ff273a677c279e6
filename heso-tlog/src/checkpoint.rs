//! C2SP `tlog-checkpoint` bodies, signed as C2SP signed notes by the log's Ed25519 key, and
//! C2SP `tlog-cosignature` (v1, Ed25519) witness cosignatures.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

use crate::hash::{HASH_SIZE, Hash};
use crate::note::{
    KeyNameError, MAX_COSIGNATURE_TIME, Note, NoteParseError, NoteSignature, SignatureType,
    SignatureVerifyError, TooManySignatures, VerifierKey, cosigned_message, key_id, verify_ed25519,
};
use crate::origin::{OriginError, validate_origin};

/// A tree head: the log's origin, its size and its root hash, and any extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

/// Why an extension line cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// Extension lines must be non-empty.
    #[error("an extension line cannot be empty")]
    Empty,
    /// A newline or other control character.
    #[error("an extension line cannot hold a newline or other control character")]
    ControlCharacter,
}

/// Why a checkpoint (or a signed checkpoint) did not parse. Lines are counted from 1, the
/// origin line being line 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointParseError {
    /// The signed note around the checkpoint is malformed.
    #[error("not a signed note: {0}")]
    Note(#[from] NoteParseError),
    /// The body has fewer than three lines.
    #[error("line {line}: missing; a checkpoint has an origin, a tree size and a root hash")]
    MissingLine {
        /// The first missing line.
        line: usize,
    },
    /// The body does not end with a newline.
    #[error("line {line}: the checkpoint body does not end with a newline")]
    MissingFinalNewline {
        /// The last line.
        line: usize,
    },
    /// The origin line is not a valid origin.
    #[error("line 1: {0}")]
    Origin(#[source] OriginError),
    /// The tree size is not ASCII decimal digits.
    #[error("line 2: the tree size {found:?} is not a decimal number")]
    SizeNotDecimal {
        /// What the line holds.
        found: String,
    },
    /// The tree size has a leading zero.
    #[error("line 2: the tree size {found:?} has a leading zero")]
    SizeLeadingZero {
        /// What the line holds.
        found: String,
    },
    /// The tree size does not fit in 64 bits.
    #[error("line 2: the tree size {found:?} is larger than 2^64 - 1")]
    SizeTooLarge {
        /// What the line holds.
        found: String,
    },
    /// The root hash is not standard padded base64.
    #[error("line 3: the root hash is not standard padded base64")]
    RootBase64,
    /// The root hash does not decode to 32 bytes.
    #[error("line 3: the root hash decodes to {len} bytes, not 32")]
    RootLength {
        /// Decoded length.
        len: usize,
    },
    /// An empty extension line.
    #[error("line {line}: empty extension line")]
    EmptyExtension {
        /// The line.
        line: usize,
    },
}

/// Why a cosignature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CosignError {
    /// The witness name is not a valid key name.
    #[error("the witness name: {0}")]
    Name(#[source] KeyNameError),
    /// The timestamp is past 2^63 - 1.
    #[error("a cosignature timestamp is at most 2^63 - 1, {0} is larger")]
    Timestamp(u64),
}

fn parse_size(line: &str) -> Result<u64, CheckpointParseError> {
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckpointParseError::SizeNotDecimal {
            found: line.to_owned(),
        });
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(CheckpointParseError::SizeLeadingZero {
            found: line.to_owned(),
        });
    }
    line.parse::<u64>()
        .map_err(|_| CheckpointParseError::SizeTooLarge {
            found: line.to_owned(),
        })
}

fn parse_root(line: &str) -> Result<Hash, CheckpointParseError> {
    let bytes = STANDARD
        .decode(line)
        .map_err(|_| CheckpointParseError::RootBase64)?;
    let bytes: [u8; HASH_SIZE] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| CheckpointParseError::RootLength { len: bytes.len() })?;
    Ok(Hash::from_bytes(bytes))
}

impl Checkpoint {
    /// A checkpoint of the tree of `size` leaves with root `root`, for the log `origin`.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, OriginError> {
        validate_origin(origin)?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions: Vec::new(),
        })
    }

    /// Adds an extension line (opaque; C2SP does not recommend them, as monitors cannot
    /// audit them).
    pub fn with_extension(mut self, line: &str) -> Result<Self, ExtensionError> {
        if line.is_empty() {
            return Err(ExtensionError::Empty);
        }
        if line.chars().any(char::is_control) {
            return Err(ExtensionError::ControlCharacter);
        }
        self.extensions.push(line.to_owned());
        Ok(self)
    }

    /// Parses a checkpoint body (a note's text): the origin, the tree size in decimal
    /// without leading zeros, the root hash in standard base64, then non-empty extension
    /// lines, each line ending in a newline.
    pub fn parse_body(text: &str) -> Result<Self, CheckpointParseError> {
        let Some(body) = text.strip_suffix('\n') else {
            return Err(CheckpointParseError::MissingFinalNewline {
                line: text.split('\n').count(),
            });
        };
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointParseError::MissingLine {
                line: body.split('\n').count() + 1,
            });
        };
        validate_origin(origin).map_err(CheckpointParseError::Origin)?;
        let size = parse_size(size)?;
        let root = parse_root(root)?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(CheckpointParseError::EmptyExtension { line: i + 4 });
            }
            extensions.push(line.to_owned());
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    /// The origin: which log this is a head of.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// The extension lines, without their newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: origin, size, base64 root, extension lines, each ending in `\n`.
    pub fn body(&self) -> String {
        let mut body = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root.as_bytes())
        );
        for line in &self.extensions {
            body.push_str(line);
            body.push('\n');
        }
        body
    }

    /// Signs the checkpoint with the log's Ed25519 key (signature type `0x01`, key name =
    /// the origin).
    pub fn sign(&self, key: &SigningKey) -> SignedCheckpoint {
        let body = self.body();
        let signature = key.sign(body.as_bytes());
        let mut note = Note::unsigned(body);
        let line = NoteSignature::new(
            &self.origin,
            key_id(&self.origin, SignatureType::Ed25519, &key.verifying_key()),
            signature.to_bytes().to_vec(),
        );
        // The origin was validated as a key name when the checkpoint was made, and a fresh
        // note has room for a signature.
        if let Ok(line) = line {
            let _ = note.add_signature(line);
        }
        SignedCheckpoint {
            checkpoint: self.clone(),
            note,
        }
    }
}

impl fmt::Display for Checkpoint {
    /// The checkpoint body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.body())
    }
}

/// A checkpoint inside its signed note, as stored and exchanged. Parsing does not verify:
/// call [`verify`](Self::verify) before trusting what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
}

impl SignedCheckpoint {
    /// Parses a signed checkpoint strictly (the note, then its body). Verifies nothing.
    pub fn parse(input: &[u8]) -> Result<Self, CheckpointParseError> {
        let note = Note::parse(input)?;
        let checkpoint = Checkpoint::parse_body(note.text())?;
        Ok(Self { checkpoint, note })
    }

    /// The checkpoint as written, NOT verified: use it to choose the key to verify with or
    /// to report which log it names, never as a fact about the log before
    /// [`verify`](Self::verify) succeeds.
    pub fn unverified(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The signed note.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// Checks the log's signature: a signature line with key name = the origin and the key
    /// ID of `key` (type `0x01`) must be present, and every such line must verify
    /// (`verify_strict`). Other signature lines (witnesses, other keys) are ignored, as
    /// C2SP requires.
    pub fn verify(&self, key: &VerifyingKey) -> Result<&Checkpoint, SignatureVerifyError> {
        let name = self.checkpoint.origin();
        verify_ed25519(
            &self.note,
            name,
            key_id(name, SignatureType::Ed25519, key),
            key,
        )?;
        Ok(&self.checkpoint)
    }

    /// A witness's v1 cosignature of this checkpoint at `timestamp` (POSIX seconds): the
    /// signature line to add to the note (type `0x04`, key ID from `witness_name` and the
    /// key). Check the checkpoint's signature and its consistency with what the witness
    /// saw before calling this: the cosignature says the witness did.
    pub fn cosign(
        &self,
        witness_name: &str,
        key: &SigningKey,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignError> {
        crate::note::validate_key_name(witness_name).map_err(CosignError::Name)?;
        if timestamp > MAX_COSIGNATURE_TIME {
            return Err(CosignError::Timestamp(timestamp));
        }
        let message = cosigned_message(self.note.text(), timestamp);
        let signature = key.sign(message.as_bytes());
        let mut bytes = Vec::with_capacity(72);
        bytes.extend_from_slice(&timestamp.to_be_bytes());
        bytes.extend_from_slice(&signature.to_bytes());
        NoteSignature::new(
            witness_name,
            key_id(
                witness_name,
                SignatureType::CosignatureV1,
                &key.verifying_key(),
            ),
            bytes,
        )
        .map_err(CosignError::Name)
    }

    /// Checks the v1 cosignature by `witness` (a type `0x04` key) and returns its timestamp.
    /// Every line with the witness's name and key ID must verify; with several, the latest
    /// timestamp is returned. It does not check the log's own signature: call
    /// [`verify`](Self::verify) too.
    pub fn verify_cosignature(&self, witness: &VerifierKey) -> Result<u64, SignatureVerifyError> {
        self.note.verify_cosignature(witness)
    }

    /// Adds a signature line (a witness's cosignature), replacing one with the same key
    /// name and ID.
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), TooManySignatures> {
        self.note.add_signature(signature)
    }
}

impl fmt::Display for SignedCheckpoint {
    /// The signed note text, as stored.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.note.fmt(f)
    }
}
