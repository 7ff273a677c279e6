//! Applying redaction requests to an action's fields.

use std::collections::BTreeMap;

use heso_receipt::{
    CanonicalError, ConcretePath, FieldPath, Marker, MarkerAlgorithm, PathError, Redaction,
    RedactionMode, merkle_root, salted_commitment,
};
use serde_json::{Map, Value};

use crate::salt::{Salt, SaltError};

/// What a `drop/v1` value becomes.
pub const DROPPED_VALUE: &str = "[redacted]";

/// One path pattern to redact, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedactRequest {
    /// A field path pattern (may contain `*`), e.g. `headers.Authorization` or `items.*.card`.
    pub path: String,
    /// `CommitAndReveal` (salted commitment) or `Destructive` (dropped for good).
    pub mode: RedactionMode,
}

impl RedactRequest {
    /// A request to commit the values at `path` (salted, revealable later).
    pub fn commit(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            mode: RedactionMode::CommitAndReveal,
        }
    }

    /// A request to drop the values at `path` for good.
    pub fn destroy(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            mode: RedactionMode::Destructive,
        }
    }
}

/// The salt of one commitment, for the caller to keep (encrypted) or throw away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaltRecord {
    /// The concrete, escaped path, exactly as in the marker.
    pub field_path: String,
    /// The marker's commitment, which this salt opens (what a salt store keys it by).
    pub commitment: String,
    /// The secret salt.
    pub salt: Salt,
}

/// The outcome of [`redact`].
#[derive(Debug, Clone, PartialEq)]
pub struct Redacted {
    /// The fields with every matched value replaced.
    pub fields: Map<String, Value>,
    /// The receipt's `redaction` block; `None` when nothing matched.
    pub redaction: Option<Redaction>,
    /// One salt per `salted-blake3/v1` marker, in marker order.
    pub salts: Vec<SaltRecord>,
    /// The request patterns (as given) that matched no value; they produce no marker.
    pub unmatched: Vec<String>,
    /// Concrete paths that matched but lie inside another matched path, so they have no
    /// marker of their own (see [`redact`] on overlaps).
    pub subsumed: Vec<String>,
}

/// Why redaction failed. Nothing is returned then, so no unredacted value can slip through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedactError {
    /// A request's path pattern is not in the field-path grammar.
    #[error("redact path {pattern:?} is not a valid field path: {source}")]
    Path {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        source: PathError,
    },
    /// A matched value could not be canonicalised for its commitment.
    #[error("cannot commit the value at {field_path:?}: {source}")]
    Canonical {
        /// The concrete path.
        field_path: String,
        /// Why JCS failed.
        source: CanonicalError,
    },
    /// A pattern matched a value that no field path can name (it sits under an empty
    /// key), so its marker would not verify. Nothing is redacted or recorded.
    #[error(
        "redact path {pattern:?} matches a value under an empty key ({field_path:?}), which no field path can name; rename the key or redact its parent"
    )]
    Unaddressable {
        /// The pattern as given.
        pattern: String,
        /// The concrete path as it would be written.
        field_path: String,
    },
    /// No salt could be drawn from the OS.
    #[error(transparent)]
    Random(#[from] SaltError),
    /// [`redact_with_salts`] was given no salt for a path it must commit.
    #[error("no salt given for the committed path {field_path:?}; pass one salt per concrete path")]
    MissingSalt {
        /// The concrete path that needed a salt.
        field_path: String,
    },
}

/// Redacts `fields` with fresh salts from the OS CSPRNG.
///
/// Every pattern is resolved against the fields; each matched value gets one marker, in the
/// order JCS writes the fields. A pattern that matches nothing is listed in
/// [`Redacted::unmatched`]. `mode` is `commit_and_reveal` when any marker is salted, else
/// `destructive`; `merkle_root` is present exactly when a salted marker is.
///
/// Overlaps (a matched path inside another matched path, e.g. `headers` and
/// `headers.Authorization`) keep one marker, on the outermost path, since a marker must
/// address the value it replaced:
/// - the same path asked in both modes is dropped (destructive wins, never revealable);
/// - under a dropped path, everything inside is gone with it;
/// - under a committed path, inner destructive paths are replaced by `"[redacted]"`
///   *before* the outer value is committed, so revealing the outer value later never
///   discloses what a destructive rule dropped; inner committed paths are simply covered
///   by the outer commitment.
///
/// The inner paths are listed in [`Redacted::subsumed`].
pub fn redact(
    fields: &Map<String, Value>,
    requests: &[RedactRequest],
) -> Result<Redacted, RedactError> {
    redact_inner(fields, requests, |_| Ok(Salt::generate()?))
}

/// [`redact`] with the caller's salts, keyed by concrete path: deterministic, for
/// reproducing a commitment or a reference vector byte for byte. A committed path with no
/// salt in `salts` is an error.
pub fn redact_with_salts(
    fields: &Map<String, Value>,
    requests: &[RedactRequest],
    salts: &BTreeMap<String, Salt>,
) -> Result<Redacted, RedactError> {
    redact_inner(fields, requests, |path| {
        salts
            .get(path)
            .cloned()
            .ok_or_else(|| RedactError::MissingSalt {
                field_path: path.to_owned(),
            })
    })
}

fn redact_inner(
    fields: &Map<String, Value>,
    requests: &[RedactRequest],
    mut salt_for: impl FnMut(&str) -> Result<Salt, RedactError>,
) -> Result<Redacted, RedactError> {
    let mut root = Value::Object(fields.clone());

    // Every concrete path with its mode; the same path asked twice is dropped if either
    // request says so.
    let mut matched: BTreeMap<ConcretePath, RedactionMode> = BTreeMap::new();
    let mut unmatched = Vec::new();
    for request in requests {
        let pattern = FieldPath::parse(&request.path).map_err(|source| RedactError::Path {
            pattern: request.path.clone(),
            source,
        })?;
        let found = pattern.resolve(&root);
        if found.is_empty() {
            unmatched.push(request.path.clone());
        }
        for (path, _) in found {
            // A marker must name its value in the grammar verifiers parse.
            if !path.is_nameable() {
                return Err(RedactError::Unaddressable {
                    pattern: request.path.clone(),
                    field_path: path.to_string(),
                });
            }
            let mode = matched.entry(path).or_insert(request.mode);
            if request.mode == RedactionMode::Destructive {
                *mode = RedactionMode::Destructive;
            }
        }
    }

    // Document order puts a path right before everything inside it, so each group is an
    // outermost path followed by its descendants.
    let mut groups: Vec<(ConcretePath, RedactionMode, Vec<ConcretePath>)> = Vec::new();
    let mut subsumed = Vec::new();
    for (path, mode) in matched {
        if let Some((outer, _, inner_drops)) = groups.last_mut()
            && path.starts_with(outer)
        {
            subsumed.push(path.to_string());
            if mode == RedactionMode::Destructive {
                inner_drops.push(path);
            }
            continue;
        }
        groups.push((path, mode, Vec::new()));
    }

    let mut markers = Vec::with_capacity(groups.len());
    let mut salts = Vec::new();
    for (path, mode, inner_drops) in groups {
        let field_path = path.to_string();
        match mode {
            RedactionMode::Destructive => {
                if let Some(slot) = path.get_mut(&mut root) {
                    *slot = Value::String(DROPPED_VALUE.to_owned());
                }
                markers.push(Marker {
                    field_path,
                    algorithm: MarkerAlgorithm::Drop,
                    commitment: String::new(),
                });
            }
            RedactionMode::CommitAndReveal => {
                for inner in &inner_drops {
                    if let Some(slot) = inner.get_mut(&mut root) {
                        *slot = Value::String(DROPPED_VALUE.to_owned());
                    }
                }
                let Some(slot) = path.get_mut(&mut root) else {
                    continue;
                };
                let salt = salt_for(&field_path)?;
                let commitment = salted_commitment(salt.expose_secret(), &field_path, slot)
                    .map_err(|source| RedactError::Canonical {
                        field_path: field_path.clone(),
                        source,
                    })?;
                *slot = Value::Object(Map::from_iter([(
                    "_sd".to_owned(),
                    Value::String(commitment.clone()),
                )]));
                markers.push(Marker {
                    field_path: field_path.clone(),
                    algorithm: MarkerAlgorithm::SaltedBlake3,
                    commitment: commitment.clone(),
                });
                salts.push(SaltRecord {
                    field_path,
                    commitment,
                    salt,
                });
            }
        }
    }

    let redaction = if markers.is_empty() {
        None
    } else {
        let salted: Vec<&str> = markers
            .iter()
            .filter(|m| m.algorithm == MarkerAlgorithm::SaltedBlake3)
            .map(|m| m.commitment.as_str())
            .collect();
        let (mode, root_hash) = if salted.is_empty() {
            (RedactionMode::Destructive, None)
        } else {
            (RedactionMode::CommitAndReveal, Some(merkle_root(salted)))
        };
        Some(Redaction {
            mode,
            markers,
            merkle_root: root_hash,
        })
    };
    let fields = match root {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Ok(Redacted {
        fields,
        redaction,
        salts,
        unmatched,
        subsumed,
    })
}
