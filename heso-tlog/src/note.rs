//! C2SP `signed-note`: text, a blank line, and signature lines
//! `— <key name> <base64(key ID ‖ signature)>`; key IDs and verifier keys.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};

use crate::hash::sha256;

/// The most bytes a note may have. A checkpoint with a hundred Ed25519 cosignatures is
/// under 12 KiB; C2SP asks verifiers to accept at least 16 signatures of up to ~5 kB each.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The most signature lines a note may have (C2SP asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

/// The header line of a v1 cosignature's signed message.
const COSIGNATURE_HEADER: &str = "cosignature/v1";

/// The largest timestamp a cosignature may carry (2^63 - 1).
pub const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;

/// Em dash (U+2014) and a space: how every signature line starts.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// The C2SP signature type of a note signature, the byte that goes into its key ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text (a log's own signature on its checkpoint).
    Ed25519,
    /// `0x04`: a timestamped Ed25519 witness cosignature (C2SP `tlog-cosignature`).
    CosignatureV1,
}

impl SignatureType {
    /// The type's identifier byte.
    pub const fn byte(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::CosignatureV1 => 0x04,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0x01 => Some(Self::Ed25519),
            0x04 => Some(Self::CosignatureV1),
            _ => None,
        }
    }
}

/// The key ID C2SP recommends (and `tlog-cosignature` requires): the first four bytes,
/// big-endian, of SHA-256(key name ‖ `0x0A` ‖ signature type ‖ public key).
pub fn key_id(name: &str, signature_type: SignatureType, public_key: &VerifyingKey) -> u32 {
    let digest = sha256(&[
        name.as_bytes(),
        b"\n",
        &[signature_type.byte()],
        public_key.as_bytes(),
    ]);
    let [a, b, c, d, ..] = digest;
    u32::from_be_bytes([a, b, c, d])
}

/// Why a key name is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyNameError {
    /// The name is empty.
    #[error("a key name cannot be empty")]
    Empty,
    /// The name contains a Unicode space, a plus sign or a control character.
    #[error(
        "a key name cannot contain spaces, '+' or control characters; character {position} is {found:?}"
    )]
    Character {
        /// 1-based position of the character, in characters.
        position: usize,
        /// The character.
        found: char,
    },
}

/// Checks a key name: non-empty, without Unicode spaces, `+` or control characters.
pub fn validate_key_name(name: &str) -> Result<(), KeyNameError> {
    if name.is_empty() {
        return Err(KeyNameError::Empty);
    }
    match name
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_whitespace() || *c == '+' || c.is_control())
    {
        Some((i, found)) => Err(KeyNameError::Character {
            position: i + 1,
            found,
        }),
        None => Ok(()),
    }
}

/// One signature line of a note, parsed but not verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature from its parts (the key name must be valid).
    pub fn new(name: &str, key_id: u32, signature: Vec<u8>) -> Result<Self, KeyNameError> {
        validate_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            key_id,
            signature,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID (the first four bytes after base64 decoding, big-endian).
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The signature line, `— <name> <base64>` and its newline.
    pub fn to_line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.key_id.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!(
            "{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            STANDARD.encode(bytes)
        )
    }
}

/// A signed note: its text (ending in a newline) and its signature lines, unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

/// Why a note did not parse. Lines are counted from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteParseError {
    /// The input is empty.
    #[error("the note is empty")]
    Empty,
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error("the note is {len} bytes, more than the {max} a note may have")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid UTF-8.
    #[error("line {line}: not valid UTF-8")]
    NotUtf8 {
        /// The line.
        line: usize,
    },
    /// A carriage return: notes end lines with `\n` only.
    #[error(
        "line {line}: carriage return (CRLF line endings?); a note ends its lines with \\n only"
    )]
    CarriageReturn {
        /// The line.
        line: usize,
    },
    /// Another ASCII control character (below U+0020, other than newline).
    #[error("line {line}: control character U+{code:04X}; a note may not contain any")]
    ControlCharacter {
        /// The line.
        line: usize,
        /// The character's code point.
        code: u32,
    },
    /// The last line has no newline.
    #[error("line {line}: the note does not end with a newline")]
    MissingFinalNewline {
        /// The last line.
        line: usize,
    },
    /// No blank line separates the text from the signatures.
    #[error("no blank line: a signed note is its text, a blank line, then its signature lines")]
    MissingBlankLine,
    /// The blank line is the last line: there is no signature.
    #[error("line {line}: the note has no signature line after its blank line")]
    NoSignatures {
        /// The blank line.
        line: usize,
    },
    /// A blank line after the signatures.
    #[error("line {line}: blank line after the signature lines")]
    TrailingBlankLine {
        /// The blank line.
        line: usize,
    },
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("the note has more than {max} signature lines")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A signature line that does not start with an em dash (U+2014) and a space.
    #[error("line {line}: a signature line starts with an em dash (U+2014) and a space")]
    SignaturePrefix {
        /// The line.
        line: usize,
    },
    /// A signature line without a space between the key name and the signature.
    #[error("line {line}: a signature line is '\u{2014} <key name> <base64 signature>'")]
    SignatureShape {
        /// The line.
        line: usize,
    },
    /// The key name of a signature line is not valid.
    #[error("line {line}: {source}")]
    KeyName {
        /// The line.
        line: usize,
        /// What is wrong with it.
        source: KeyNameError,
    },
    /// The signature is not standard, padded base64.
    #[error("line {line}: the signature is not standard padded base64")]
    SignatureBase64 {
        /// The line.
        line: usize,
    },
    /// The decoded signature is too short to hold a key ID and a signature.
    #[error(
        "line {line}: the signature decodes to {len} bytes; it needs a 4-byte key ID and a signature"
    )]
    SignatureTooShort {
        /// The line.
        line: usize,
        /// Decoded length.
        len: usize,
    },
}

/// The 1-based line of byte offset `at`.
pub(crate) fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes
        .get(..at)
        .unwrap_or(bytes)
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

fn parse_signature_line(line: &str, number: usize) -> Result<NoteSignature, NoteParseError> {
    let rest = line
        .strip_prefix(SIGNATURE_PREFIX)
        .ok_or(NoteParseError::SignaturePrefix { line: number })?;
    let (name, encoded) = rest
        .split_once(' ')
        .ok_or(NoteParseError::SignatureShape { line: number })?;
    validate_key_name(name).map_err(|source| NoteParseError::KeyName {
        line: number,
        source,
    })?;
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| NoteParseError::SignatureBase64 { line: number })?;
    match bytes.as_slice() {
        [a, b, c, d, signature @ ..] if !signature.is_empty() => Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes([*a, *b, *c, *d]),
            signature: signature.to_vec(),
        }),
        _ => Err(NoteParseError::SignatureTooShort {
            line: number,
            len: bytes.len(),
        }),
    }
}

impl Note {
    /// A note of `text` with no signature yet. The text must be what a note may hold
    /// (checked by the callers in this crate).
    pub(crate) fn unsigned(text: String) -> Self {
        Self {
            text,
            signatures: Vec::new(),
        }
    }

    /// Parses a signed note strictly: UTF-8, no control characters but `\n`, a text ending
    /// in a newline, a blank line, then one or more well-formed signature lines, each ending
    /// in a newline, and nothing after. Signatures are not verified here.
    pub fn parse(input: &[u8]) -> Result<Self, NoteParseError> {
        if input.is_empty() {
            return Err(NoteParseError::Empty);
        }
        if input.len() > MAX_NOTE_BYTES {
            return Err(NoteParseError::TooLarge {
                len: input.len(),
                max: MAX_NOTE_BYTES,
            });
        }
        let text = std::str::from_utf8(input).map_err(|e| NoteParseError::NotUtf8 {
            line: line_of(input, e.valid_up_to()),
        })?;
        if let Some((at, c)) = text.char_indices().find(|(_, c)| *c < ' ' && *c != '\n') {
            let line = line_of(input, at);
            return Err(if c == '\r' {
                NoteParseError::CarriageReturn { line }
            } else {
                NoteParseError::ControlCharacter {
                    line,
                    code: u32::from(c),
                }
            });
        }
        if !text.ends_with('\n') {
            return Err(NoteParseError::MissingFinalNewline {
                line: line_of(input, input.len()),
            });
        }
        // The text is separated from the signatures by the last blank line.
        let split = text.rfind("\n\n").ok_or(NoteParseError::MissingBlankLine)?;
        let (body, rest) = text.split_at(split + 1);
        let signatures_text = rest.get(1..).unwrap_or_default();
        if signatures_text.is_empty() {
            let blank_line = line_of(input, split + 1);
            let after_signatures = body
                .lines()
                .last()
                .is_some_and(|last| last.starts_with(SIGNATURE_PREFIX))
                && body.contains("\n\n");
            return Err(if after_signatures {
                NoteParseError::TrailingBlankLine { line: blank_line }
            } else {
                NoteParseError::NoSignatures { line: blank_line }
            });
        }
        let first_signature_line = line_of(input, split + 2);
        let lines: Vec<&str> = signatures_text
            .strip_suffix('\n')
            .unwrap_or(signatures_text)
            .split('\n')
            .collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteParseError::TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(i, line)| parse_signature_line(line, first_signature_line + i))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            text: body.to_owned(),
            signatures,
        })
    }

    /// The note text, ending in a newline (without the blank line).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signature lines, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line; one with the same key name and ID as an existing one
    /// replaces it.
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), TooManySignatures> {
        self.signatures
            .retain(|s| !(s.name == signature.name && s.key_id == signature.key_id));
        if self.signatures.len() >= MAX_SIGNATURES {
            return Err(TooManySignatures {
                max: MAX_SIGNATURES,
            });
        }
        self.signatures.push(signature);
        Ok(())
    }
}

/// The message a v1 cosignature signs: header, time line, then the note text (for a
/// checkpoint, its body).
pub(crate) fn cosigned_message(text: &str, timestamp: u64) -> String {
    format!("{COSIGNATURE_HEADER}\ntime {timestamp}\n{text}")
}

/// A note's signature by a given key did not verify. A verdict: every case is named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureVerifyError {
    /// The key is of the other signature type (a cosigning key where a log key is needed, or
    /// the reverse).
    #[error("{name}+{key_id:08x} is a {found:?} key; this check needs a {needed:?} key")]
    WrongKeyType {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
        /// The key's type.
        found: SignatureType,
        /// The type needed.
        needed: SignatureType,
    },
    /// No signature line has the key's name and key ID.
    #[error(
        "not signed by {name}+{key_id:08x}{}",
        if found.is_empty() { String::new() } else { format!("; the signatures are by {}", found.join(", ")) }
    )]
    NotSigned {
        /// The key name looked for.
        name: String,
        /// The key ID looked for.
        key_id: u32,
        /// The keys (`name+id`, hex) that did sign.
        found: Vec<String>,
    },
    /// A signature line of the key has the wrong length (64 bytes for Ed25519, 72 for a
    /// cosignature: timestamp and signature).
    #[error("the signature by {name}+{key_id:08x} is {len} bytes, not {expected}")]
    Malformed {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
        /// Its length.
        len: usize,
        /// The length it must have.
        expected: usize,
    },
    /// A cosignature's timestamp is past 2^63 - 1.
    #[error("the cosignature by {name}+{key_id:08x} has a timestamp past 2^63 - 1")]
    TimestampOutOfRange {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
    /// A signature line of the key does not verify: the text was altered, or signed by
    /// another key with the same name and ID.
    #[error(
        "the signature by {name}+{key_id:08x} does not verify: the note was altered or signed by another key"
    )]
    InvalidSignature {
        /// The key name.
        name: String,
        /// The key ID.
        key_id: u32,
    },
}

fn signers(note: &Note) -> Vec<String> {
    note.signatures
        .iter()
        .map(|s| format!("{}+{:08x}", s.name, s.key_id))
        .collect()
}

/// Verifies every type `0x01` line of `name`/`id` over the note text; at least one must be
/// there.
pub(crate) fn verify_ed25519(
    note: &Note,
    name: &str,
    id: u32,
    key: &VerifyingKey,
) -> Result<(), SignatureVerifyError> {
    let mut signed = false;
    for line in note
        .signatures
        .iter()
        .filter(|s| s.name == name && s.key_id == id)
    {
        let signature = Signature::from_slice(&line.signature).map_err(|_| {
            SignatureVerifyError::Malformed {
                name: name.to_owned(),
                key_id: id,
                len: line.signature.len(),
                expected: 64,
            }
        })?;
        key.verify_strict(note.text.as_bytes(), &signature)
            .map_err(|_| SignatureVerifyError::InvalidSignature {
                name: name.to_owned(),
                key_id: id,
            })?;
        signed = true;
    }
    if signed {
        Ok(())
    } else {
        Err(SignatureVerifyError::NotSigned {
            name: name.to_owned(),
            key_id: id,
            found: signers(note),
        })
    }
}

impl Note {
    /// Checks the note's signature by `key`, an Ed25519 (type `0x01`) key: a line with its
    /// name and key ID must be present, and every such line must verify (`verify_strict`).
    /// Lines of other keys are ignored, as C2SP requires.
    pub fn verify(&self, key: &VerifierKey) -> Result<(), SignatureVerifyError> {
        if key.signature_type != SignatureType::Ed25519 {
            return Err(SignatureVerifyError::WrongKeyType {
                name: key.name.clone(),
                key_id: key.key_id,
                found: key.signature_type,
                needed: SignatureType::Ed25519,
            });
        }
        verify_ed25519(self, &key.name, key.key_id, &key.key)
    }

    /// Checks the v1 cosignature (type `0x04`) by `witness` and returns its timestamp.
    /// Every line with the witness's name and key ID must verify; with several, the latest
    /// timestamp is returned.
    pub fn verify_cosignature(&self, witness: &VerifierKey) -> Result<u64, SignatureVerifyError> {
        let name = || witness.name.clone();
        let id = witness.key_id;
        if witness.signature_type != SignatureType::CosignatureV1 {
            return Err(SignatureVerifyError::WrongKeyType {
                name: name(),
                key_id: id,
                found: witness.signature_type,
                needed: SignatureType::CosignatureV1,
            });
        }
        let mut latest: Option<u64> = None;
        for line in witness.lines_in(self) {
            let malformed = || SignatureVerifyError::Malformed {
                name: name(),
                key_id: id,
                len: line.signature.len(),
                expected: 72,
            };
            let (time, signature) = line
                .signature
                .split_first_chunk::<8>()
                .ok_or_else(malformed)?;
            let signature = Signature::from_slice(signature).map_err(|_| malformed())?;
            let timestamp = u64::from_be_bytes(*time);
            if timestamp > MAX_COSIGNATURE_TIME {
                return Err(SignatureVerifyError::TimestampOutOfRange {
                    name: name(),
                    key_id: id,
                });
            }
            let message = cosigned_message(&self.text, timestamp);
            witness
                .key
                .verify_strict(message.as_bytes(), &signature)
                .map_err(|_| SignatureVerifyError::InvalidSignature {
                    name: name(),
                    key_id: id,
                })?;
            latest = Some(latest.map_or(timestamp, |t| t.max(timestamp)));
        }
        latest.ok_or_else(|| SignatureVerifyError::NotSigned {
            name: name(),
            key_id: id,
            found: signers(self),
        })
    }
}

/// A note already holds [`MAX_SIGNATURES`] signatures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the note already has {max} signature lines, the most it may have")]
pub struct TooManySignatures {
    /// The limit.
    pub max: usize,
}

impl fmt::Display for Note {
    /// The signed note: text, blank line, signature lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for signature in &self.signatures {
            f.write_str(&signature.to_line())?;
        }
        Ok(())
    }
}

/// A public key as a note verifier knows it: key name, signature type, Ed25519 key, and the
/// key ID these give.
///
/// Written as a C2SP verifier key (vkey): `<name>+<8 hex digits of key ID>+<base64(type
/// byte ‖ 32-byte key)>`, the form witnesses and logs exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    signature_type: SignatureType,
    key: VerifyingKey,
    key_id: u32,
}

/// Why a verifier key (vkey) did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierKeyError {
    /// Not three `+`-separated parts.
    #[error("a verifier key is <name>+<8 hex digit key ID>+<base64 key>")]
    Shape,
    /// The name is not a valid key name.
    #[error("the verifier key's name: {0}")]
    Name(#[source] KeyNameError),
    /// The key ID is not 8 hex digits.
    #[error("the verifier key's ID is not 8 hex digits")]
    KeyIdFormat,
    /// The key is not standard padded base64.
    #[error("the verifier key's key is not standard padded base64")]
    KeyBase64,
    /// A signature type this crate does not verify.
    #[error(
        "the verifier key is of signature type 0x{0:02x}; only Ed25519 (0x01) and Ed25519 cosignatures (0x04) are supported"
    )]
    UnsupportedType(u8),
    /// The key is not a 32-byte Ed25519 public key.
    #[error("the verifier key does not hold a valid 32-byte Ed25519 public key")]
    Key,
    /// The key ID does not match the name, type and key.
    #[error(
        "the verifier key's ID {found:08x} is not the one its name and key give ({expected:08x})"
    )]
    KeyIdMismatch {
        /// The ID written.
        found: u32,
        /// The ID computed.
        expected: u32,
    },
}

impl VerifierKey {
    /// The key a log signs its checkpoints with (type `0x01`); for heso, the name is the
    /// log's origin.
    pub fn ed25519(name: &str, key: VerifyingKey) -> Result<Self, KeyNameError> {
        Self::new(name, SignatureType::Ed25519, key)
    }

    /// A witness's cosigning key (type `0x04`).
    pub fn cosigner(name: &str, key: VerifyingKey) -> Result<Self, KeyNameError> {
        Self::new(name, SignatureType::CosignatureV1, key)
    }

    /// A verifier key of any supported type.
    pub fn new(
        name: &str,
        signature_type: SignatureType,
        key: VerifyingKey,
    ) -> Result<Self, KeyNameError> {
        validate_key_name(name)?;
        Ok(Self {
            name: name.to_owned(),
            signature_type,
            key_id: key_id(name, signature_type, &key),
            key,
        })
    }

    /// Parses a C2SP verifier key, `<name>+<hex key ID>+<base64(type ‖ key)>`, checking the
    /// key ID against the rest.
    pub fn parse(text: &str) -> Result<Self, VerifierKeyError> {
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(VerifierKeyError::Shape);
        };
        validate_key_name(name).map_err(VerifierKeyError::Name)?;
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VerifierKeyError::KeyIdFormat);
        }
        let found = u32::from_str_radix(id, 16).map_err(|_| VerifierKeyError::KeyIdFormat)?;
        let bytes = STANDARD
            .decode(key)
            .map_err(|_| VerifierKeyError::KeyBase64)?;
        let Some((type_byte, key_bytes)) = bytes.split_first() else {
            return Err(VerifierKeyError::Key);
        };
        let signature_type = SignatureType::from_byte(*type_byte)
            .ok_or(VerifierKeyError::UnsupportedType(*type_byte))?;
        let key_bytes: [u8; 32] = key_bytes.try_into().map_err(|_| VerifierKeyError::Key)?;
        let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| VerifierKeyError::Key)?;
        let expected = key_id(name, signature_type, &key);
        if found != expected {
            return Err(VerifierKeyError::KeyIdMismatch { found, expected });
        }
        Ok(Self {
            name: name.to_owned(),
            signature_type,
            key,
            key_id: expected,
        })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type.
    pub fn signature_type(&self) -> SignatureType {
        self.signature_type
    }

    /// The Ed25519 public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature lines of `note` made by this key (same name and key ID).
    pub(crate) fn lines_in<'a>(
        &'a self,
        note: &'a Note,
    ) -> impl Iterator<Item = &'a NoteSignature> + 'a {
        note.signatures()
            .iter()
            .filter(|s| s.name == self.name && s.key_id == self.key_id)
    }
}

impl fmt::Display for VerifierKey {
    /// The C2SP verifier key text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = Vec::with_capacity(33);
        bytes.push(self.signature_type.byte());
        bytes.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            STANDARD.encode(bytes)
        )
    }
}
