//! The redaction format: its two hashes (a salted commitment and the `merkle_root`), and
//! the rules a redaction block and the fields it describes must keep together.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::canonical::CanonicalError;
use crate::model::{Marker, MarkerAlgorithm, Redaction, RedactionMode};
use crate::path::{ConcretePath, FieldPath, PathError, Step};

/// The one key of a salted marker's value, `{"_sd": commitment}`.
const SD_KEY: &str = "_sd";

/// What a dropped value becomes.
const DROPPED: &str = "[redacted]";

/// `salted-blake3/v1`: lowercase hex BLAKE3(salt ‖ field_path ‖ JCS(value)).
pub fn salted_commitment(
    salt: &[u8; 32],
    field_path: &str,
    value: &Value,
) -> Result<String, CanonicalError> {
    let jcs = serde_jcs::to_vec(value).map_err(|e| CanonicalError::Jcs(e.to_string()))?;
    let mut hasher = blake3::Hasher::new();
    hasher.update(salt);
    hasher.update(field_path.as_bytes());
    hasher.update(&jcs);
    Ok(hasher.finalize().to_hex().to_string())
}

/// Lowercase hex BLAKE3 of each salted commitment's hex followed by `\n`, in marker order.
pub fn merkle_root<'a>(commitments: impl IntoIterator<Item = &'a str>) -> String {
    let mut hasher = blake3::Hasher::new();
    for commitment in commitments {
        hasher.update(commitment.as_bytes());
        hasher.update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

/// Why a redaction block does not describe its fields: the verdict `MalformedRedaction`
/// on a receipt, and [`SignError::Redaction`](crate::SignError::Redaction) when signing.
///
/// `marker` is the marker's index in `redaction.markers`, `field_path` its path as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedactionError {
    /// Two markers name the same path.
    #[error("markers[{marker}] ({field_path:?}): duplicate field_path")]
    DuplicatePath {
        /// The later marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// The path does not parse.
    #[error("markers[{marker}] ({field_path:?}): {source}")]
    BadPath {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
        /// Why it does not parse.
        source: PathError,
    },
    /// The path has a `*`: a marker names one value.
    #[error("markers[{marker}] ({field_path:?}): a marker path must be concrete, without '*'")]
    WildcardPath {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// Nothing is at the path.
    #[error("markers[{marker}] ({field_path:?}): no value at this path in action.fields")]
    NoValue {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// The path is not written with exactly the grammar's escapes (its hashed spelling).
    #[error("markers[{marker}] ({field_path:?}): path is not written in its canonical form")]
    NotCanonical {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// The markers are not in the order JCS writes the fields.
    #[error(
        "markers[{marker}] ({field_path:?}) is out of order: JCS writes it before {previous:?}, \
         so it must be listed first (depth first, keys in UTF-16 order, array elements by index)"
    )]
    OutOfOrder {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
        /// The path of the marker listed before it.
        previous: String,
    },
    /// A salted marker's commitment is not 64 lowercase hex digits.
    #[error("markers[{marker}] ({field_path:?}): commitment is not 64 lowercase hex digits")]
    BadCommitment {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// A salted marker's path does not hold exactly `{"_sd": commitment}`.
    #[error("markers[{marker}] ({field_path:?}): the field does not hold {{\"_sd\": commitment}}")]
    NotCommitted {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// A `drop/v1` marker has a commitment.
    #[error("markers[{marker}] ({field_path:?}): a drop/v1 marker has an empty commitment")]
    DropWithCommitment {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// A `drop/v1` marker's path does not hold `"[redacted]"`.
    #[error("markers[{marker}] ({field_path:?}): the field does not hold \"[redacted]\"")]
    NotDropped {
        /// The marker's index.
        marker: usize,
        /// Its path.
        field_path: String,
    },
    /// An object with an `_sd` key where no salted marker points: a commitment nothing
    /// binds (a marker removed, or a fake one added).
    #[error(
        "{at} holds an object with an \"_sd\" key, but no salted-blake3/v1 marker has this path"
    )]
    UnboundCommitment {
        /// Where: `action.fields` itself, or the field path quoted.
        at: String,
    },
    /// `mode` is not the one the markers give.
    #[error("mode is {}, the markers make it {}", stated.as_str(), derived.as_str())]
    ModeMismatch {
        /// As written.
        stated: RedactionMode,
        /// As the markers give it.
        derived: RedactionMode,
    },
    /// `merkle_root` without any salted marker.
    #[error("merkle_root present without a salted marker")]
    UnexpectedMerkleRoot,
    /// No `merkle_root` though a marker is salted.
    #[error("merkle_root missing")]
    MissingMerkleRoot,
    /// `merkle_root` is not the hash of the salted commitments in marker order.
    #[error("merkle_root does not match the markers")]
    WrongMerkleRoot,
}

/// Checks that `redaction` describes `fields` exactly: each marker's path is concrete,
/// canonically written and holds its `{"_sd": commitment}` or `"[redacted]"`; paths are
/// unique and listed in JCS order; `mode` and `merkle_root` follow from the markers; and no
/// object with an `_sd` key sits anywhere but at a salted marker's path (so every
/// commitment in the fields is one the markers bind).
pub(crate) fn check_redaction(
    fields: &Map<String, Value>,
    redaction: Option<&Redaction>,
) -> Result<(), RedactionError> {
    let markers = redaction.map_or(&[][..], |r| r.markers.as_slice());
    // Paths resolve against a `Value`; the copy is only made when there are markers.
    let (bound, salted) = if markers.is_empty() {
        (BTreeSet::new(), Vec::new())
    } else {
        check_markers(&Value::Object(fields.clone()), markers)?
    };

    if let Some(redaction) = redaction {
        let derived = if salted.is_empty() {
            RedactionMode::Destructive
        } else {
            RedactionMode::CommitAndReveal
        };
        if redaction.mode != derived {
            return Err(RedactionError::ModeMismatch {
                stated: redaction.mode,
                derived,
            });
        }
        match (&redaction.merkle_root, salted.is_empty()) {
            (None, true) => {}
            (Some(_), true) => return Err(RedactionError::UnexpectedMerkleRoot),
            (None, false) => return Err(RedactionError::MissingMerkleRoot),
            (Some(root), false) if *root == merkle_root(salted.iter().copied()) => {}
            (Some(_), false) => return Err(RedactionError::WrongMerkleRoot),
        }
    }

    match first_unbound(fields, &bound) {
        None => Ok(()),
        Some(path) if path.steps().is_empty() => Err(RedactionError::UnboundCommitment {
            at: "action.fields".to_owned(),
        }),
        Some(path) => Err(RedactionError::UnboundCommitment {
            at: format!("field {:?}", path.to_string()),
        }),
    }
}

/// Each marker on its own and against the one before it. Returns the salted markers'
/// paths (the only places an `_sd` object may be) and their commitments in marker order.
fn check_markers<'m>(
    root: &Value,
    markers: &'m [Marker],
) -> Result<(BTreeSet<ConcretePath>, Vec<&'m str>), RedactionError> {
    let mut seen = BTreeSet::new();
    let mut bound = BTreeSet::new();
    let mut salted = Vec::new();
    let mut previous: Option<(ConcretePath, &str)> = None;
    for (n, marker) in markers.iter().enumerate() {
        let field_path = || marker.field_path.clone();
        if !seen.insert(marker.field_path.as_str()) {
            return Err(RedactionError::DuplicatePath {
                marker: n,
                field_path: field_path(),
            });
        }
        let path =
            FieldPath::parse(&marker.field_path).map_err(|source| RedactionError::BadPath {
                marker: n,
                field_path: field_path(),
                source,
            })?;
        if path.has_wildcard() {
            return Err(RedactionError::WildcardPath {
                marker: n,
                field_path: field_path(),
            });
        }
        let mut matches = path.resolve(root);
        let (concrete, value) = match (matches.pop(), matches.is_empty()) {
            (Some(found), true) => found,
            _ => {
                return Err(RedactionError::NoValue {
                    marker: n,
                    field_path: field_path(),
                });
            }
        };
        if concrete.to_string() != marker.field_path {
            return Err(RedactionError::NotCanonical {
                marker: n,
                field_path: field_path(),
            });
        }
        // Strictly after the previous marker: JCS order, one marker per path.
        if let Some((before, before_text)) = &previous
            && concrete <= *before
        {
            return Err(RedactionError::OutOfOrder {
                marker: n,
                field_path: field_path(),
                previous: (*before_text).to_owned(),
            });
        }
        match marker.algorithm {
            MarkerAlgorithm::SaltedBlake3 => {
                if !is_hex_hash(&marker.commitment) {
                    return Err(RedactionError::BadCommitment {
                        marker: n,
                        field_path: field_path(),
                    });
                }
                if !is_commitment_object(value, &marker.commitment) {
                    return Err(RedactionError::NotCommitted {
                        marker: n,
                        field_path: field_path(),
                    });
                }
                salted.push(marker.commitment.as_str());
                bound.insert(concrete.clone());
            }
            MarkerAlgorithm::Drop => {
                if !marker.commitment.is_empty() {
                    return Err(RedactionError::DropWithCommitment {
                        marker: n,
                        field_path: field_path(),
                    });
                }
                if value.as_str() != Some(DROPPED) {
                    return Err(RedactionError::NotDropped {
                        marker: n,
                        field_path: field_path(),
                    });
                }
            }
        }
        previous = Some((concrete, marker.field_path.as_str()));
    }
    Ok((bound, salted))
}

/// Exactly `{"_sd": commitment}`.
fn is_commitment_object(value: &Value, commitment: &str) -> bool {
    match value {
        Value::Object(map) => {
            map.len() == 1 && map.get(SD_KEY).and_then(Value::as_str) == Some(commitment)
        }
        _ => false,
    }
}

/// The first (in JCS order) object with an `_sd` key that is not at a bound path. Any
/// object with that key counts, not only `{"_sd": …}` alone: a look-alike with extra keys
/// would read as a commitment to some verifiers, so it is refused rather than guessed at.
/// Bound objects are exactly `{"_sd": hex}` (checked above), so nothing lies inside them.
fn first_unbound(
    fields: &Map<String, Value>,
    bound: &BTreeSet<ConcretePath>,
) -> Option<ConcretePath> {
    if fields.contains_key(SD_KEY) {
        // `action.fields` itself: no marker path is empty, so nothing can bind it.
        return Some(ConcretePath::from_steps(Vec::new()));
    }
    if !holds_sd_key(fields) {
        // The usual case, looked at without building a path for every value.
        return None;
    }
    let mut unbound = Vec::new();
    // An explicit stack: fields can nest as deep as the JSON parser allows.
    let mut stack: Vec<(Vec<Step>, &Value)> = fields
        .iter()
        .map(|(key, child)| (vec![Step::Key(key.clone())], child))
        .collect();
    while let Some((steps, value)) = stack.pop() {
        match value {
            Value::Object(map) => {
                if map.contains_key(SD_KEY) {
                    let path = ConcretePath::from_steps(steps);
                    if !bound.contains(&path) {
                        unbound.push(path);
                    }
                    continue;
                }
                for (key, child) in map {
                    let mut next = steps.clone();
                    next.push(Step::Key(key.clone()));
                    stack.push((next, child));
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    let mut next = steps.clone();
                    next.push(Step::Index(index));
                    stack.push((next, child));
                }
            }
            _ => {}
        }
    }
    unbound.into_iter().min()
}

/// Whether any object below `fields` has an `_sd` key (an explicit stack, as below).
fn holds_sd_key(fields: &Map<String, Value>) -> bool {
    let mut stack: Vec<&Value> = fields.values().collect();
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) if map.contains_key(SD_KEY) => return true,
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

fn is_hex_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
