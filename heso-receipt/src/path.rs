//! Field paths: how markers and policy conditions address values inside `action.fields`.
//!
//! Segments are joined by `.`; a segment of digits is an array index when the value
//! there is an array, else an object key; `*` alone is every element or key at that
//! level; `\` escapes a `.`, `*` or `\` inside a key (`headers.x\.api\.key`).

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// Why a field path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is the empty string.
    #[error("field path is empty")]
    Empty,
    /// Two dots in a row, or a dot at either end.
    #[error("field path {path:?} has an empty segment at character {at}")]
    EmptySegment {
        /// The path as given.
        path: String,
        /// Character offset (0-based) of the empty segment.
        at: usize,
    },
    /// A `\` followed by something other than `.`, `*` or `\`, or at the end.
    #[error("field path {path:?}: bad escape at character {at} (only \\. \\* \\\\ are escapes)")]
    BadEscape {
        /// The path as given.
        path: String,
        /// Character offset of the backslash.
        at: usize,
    },
    /// A `*` inside a longer segment: it must stand alone or be escaped.
    #[error("field path {path:?}: '*' at character {at} must be a whole segment or escaped as \\*")]
    StrayWildcard {
        /// The path as given.
        path: String,
        /// Character offset of the star.
        at: usize,
    },
}

/// One segment of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object key, or an array index if it is all digits and the value is an array.
    Key(String),
    /// `*`: every element of an array or every value of an object.
    Wildcard,
}

/// A parsed field path, possibly with wildcards.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Vec<Segment>,
}

/// One step of a concrete path, once resolved against a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// A path to exactly one value, as written in a redaction marker.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConcretePath {
    steps: Vec<Step>,
}

impl FieldPath {
    /// Parses a path in the grammar above.
    pub fn parse(text: &str) -> Result<Self, PathError> {
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        let mut segments = Vec::new();
        let mut current = String::new();
        let mut star_at: Option<usize> = None;
        let mut segment_start = 0usize;
        let mut chars = text.chars().enumerate();
        let finish = |current: &mut String,
                      star_at: &mut Option<usize>,
                      segments: &mut Vec<Segment>,
                      start: usize|
         -> Result<(), PathError> {
            match star_at.take() {
                Some(at) if !current.is_empty() => {
                    return Err(PathError::StrayWildcard {
                        path: text.to_owned(),
                        at,
                    });
                }
                Some(_) => segments.push(Segment::Wildcard),
                None if current.is_empty() => {
                    return Err(PathError::EmptySegment {
                        path: text.to_owned(),
                        at: start,
                    });
                }
                None => segments.push(Segment::Key(std::mem::take(current))),
            }
            Ok(())
        };
        while let Some((at, ch)) = chars.next() {
            match ch {
                '\\' => match chars.next() {
                    Some((_, escaped @ ('.' | '*' | '\\'))) => {
                        if let Some(star) = star_at {
                            return Err(PathError::StrayWildcard {
                                path: text.to_owned(),
                                at: star,
                            });
                        }
                        current.push(escaped);
                    }
                    _ => {
                        return Err(PathError::BadEscape {
                            path: text.to_owned(),
                            at,
                        });
                    }
                },
                '.' => {
                    finish(&mut current, &mut star_at, &mut segments, segment_start)?;
                    segment_start = at + 1;
                }
                '*' => {
                    if star_at.is_some() || !current.is_empty() {
                        return Err(PathError::StrayWildcard {
                            path: text.to_owned(),
                            at,
                        });
                    }
                    star_at = Some(at);
                }
                other => {
                    if let Some(star) = star_at {
                        return Err(PathError::StrayWildcard {
                            path: text.to_owned(),
                            at: star,
                        });
                    }
                    current.push(other);
                }
            }
        }
        finish(&mut current, &mut star_at, &mut segments, segment_start)?;
        Ok(Self { segments })
    }

    /// The parsed segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True when the path contains a `*`.
    pub fn has_wildcard(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Wildcard))
    }

    /// Every value the path matches, with its concrete path, in the order JCS writes
    /// them (keys in JCS order, array elements by index). No match gives an empty list.
    pub fn resolve<'v>(&self, root: &'v Value) -> Vec<(ConcretePath, &'v Value)> {
        let mut out = Vec::new();
        let mut prefix = Vec::new();
        resolve_into(&self.segments, root, &mut prefix, &mut out);
        out
    }
}

fn resolve_into<'v>(
    segments: &[Segment],
    value: &'v Value,
    prefix: &mut Vec<Step>,
    out: &mut Vec<(ConcretePath, &'v Value)>,
) {
    let Some((first, rest)) = segments.split_first() else {
        out.push((
            ConcretePath {
                steps: prefix.clone(),
            },
            value,
        ));
        return;
    };
    match first {
        Segment::Wildcard => match value {
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    prefix.push(Step::Index(index));
                    resolve_into(rest, item, prefix, out);
                    prefix.pop();
                }
            }
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by(|a, b| jcs_key_cmp(a, b));
                for key in keys {
                    if let Some(child) = map.get(key) {
                        prefix.push(Step::Key(key.clone()));
                        resolve_into(rest, child, prefix, out);
                        prefix.pop();
                    }
                }
            }
            _ => {}
        },
        Segment::Key(key) => {
            if let Some((step, child)) = step_into(value, key) {
                prefix.push(step);
                resolve_into(rest, child, prefix, out);
                prefix.pop();
            }
        }
    }
}

/// Follows one key segment: an index into an array (canonical decimal only), else a key.
fn step_into<'v>(value: &'v Value, key: &str) -> Option<(Step, &'v Value)> {
    match value {
        Value::Array(items) => {
            let index = parse_index(key)?;
            items.get(index).map(|item| (Step::Index(index), item))
        }
        Value::Object(map) => map.get(key).map(|child| (Step::Key(key.to_owned()), child)),
        _ => None,
    }
}

fn parse_index(key: &str) -> Option<usize> {
    let canonical = key == "0" || (!key.starts_with('0') && !key.is_empty());
    if canonical && key.bytes().all(|b| b.is_ascii_digit()) {
        key.parse().ok()
    } else {
        None
    }
}

/// Orders object keys as RFC 8785 does: by their UTF-16 code units.
pub fn jcs_key_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

impl ConcretePath {
    /// The path made of these steps (the verifier's walk over every value).
    pub(crate) fn from_steps(steps: Vec<Step>) -> Self {
        Self { steps }
    }

    /// The steps of this path.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The value at this path, if the document still has one there.
    pub fn get<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        self.steps
            .iter()
            .try_fold(root, |value, step| match (step, value) {
                (Step::Index(i), Value::Array(items)) => items.get(*i),
                (Step::Key(k), Value::Object(map)) => map.get(k),
                _ => None,
            })
    }

    /// A mutable reference to the value at this path.
    pub fn get_mut<'v>(&self, root: &'v mut Value) -> Option<&'v mut Value> {
        self.steps
            .iter()
            .try_fold(root, |value, step| match (step, value) {
                (Step::Index(i), Value::Array(items)) => items.get_mut(*i),
                (Step::Key(k), Value::Object(map)) => map.get_mut(k),
                _ => None,
            })
    }

    /// True when `self` is `other` or lies inside it.
    pub fn starts_with(&self, other: &ConcretePath) -> bool {
        self.steps.starts_with(&other.steps)
    }

    /// True when this path can be written in the field-path grammar, so a marker can name
    /// it. A wildcard can reach a value under an empty key (`{"": …}`), and a segment is
    /// never empty: such a path has no written form that parses back.
    pub fn is_nameable(&self) -> bool {
        !self
            .steps
            .iter()
            .any(|step| matches!(step, Step::Key(key) if key.is_empty()))
    }
}

impl fmt::Display for ConcretePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, step) in self.steps.iter().enumerate() {
            if n > 0 {
                f.write_str(".")?;
            }
            match step {
                Step::Index(i) => write!(f, "{i}")?,
                Step::Key(k) => {
                    for ch in k.chars() {
                        if matches!(ch, '.' | '*' | '\\') {
                            f.write_str("\\")?;
                        }
                        write!(f, "{ch}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Document order, as JCS writes values: a parent before its children, keys in JCS order,
/// array elements by index.
impl Ord for ConcretePath {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.steps.iter().zip(other.steps.iter()) {
            let ord = match (a, b) {
                (Step::Key(a), Step::Key(b)) => jcs_key_cmp(a, b),
                (Step::Index(a), Step::Index(b)) => a.cmp(b),
                (Step::Index(_), Step::Key(_)) => Ordering::Less,
                (Step::Key(_), Step::Index(_)) => Ordering::Greater,
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        self.steps.len().cmp(&other.steps.len())
    }
}

impl PartialOrd for ConcretePath {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(pattern: &str, doc: &Value) -> Vec<String> {
        FieldPath::parse(pattern)
            .unwrap()
            .resolve(doc)
            .into_iter()
            .map(|(p, _)| p.to_string())
            .collect()
    }

    #[test]
    fn escapes_round_trip() {
        let doc = json!({"headers": {"x.api.key": 1, "a*": 2, "b\\": 3}});
        assert_eq!(
            paths("headers.x\\.api\\.key", &doc),
            ["headers.x\\.api\\.key"]
        );
        assert_eq!(paths("headers.a\\*", &doc), ["headers.a\\*"]);
        assert_eq!(paths("headers.b\\\\", &doc), ["headers.b\\\\"]);
        assert_eq!(
            paths("headers.*", &doc),
            ["headers.a\\*", "headers.b\\\\", "headers.x\\.api\\.key"]
        );
    }

    #[test]
    fn a_path_is_nameable_exactly_when_its_written_form_parses() {
        let doc = json!({
            "": {"x": 1, "": 2},
            "a": {"": [3], "b.c": 4, "*": 5, "\\": 6, "0": 7},
            "list": [{"": 8}, 9],
        });
        let found = FieldPath::parse("*.*").unwrap().resolve(&doc);
        let deeper = FieldPath::parse("*.*.*").unwrap().resolve(&doc);
        let mut nameable = 0;
        for (path, _) in found.into_iter().chain(deeper) {
            let parses = FieldPath::parse(&path.to_string()).is_ok();
            assert_eq!(path.is_nameable(), parses, "{path}");
            nameable += usize::from(parses);
        }
        assert!(nameable >= 5, "{nameable}");
    }

    #[test]
    fn digits_index_arrays_and_key_objects() {
        let doc = json!({"items": [{"k": 1}, {"k": 2}], "map": {"0": "zero"}});
        assert_eq!(paths("items.1.k", &doc), ["items.1.k"]);
        assert_eq!(paths("items.*.k", &doc), ["items.0.k", "items.1.k"]);
        assert_eq!(paths("map.0", &doc), ["map.0"]);
        assert!(paths("items.01", &doc).is_empty());
        assert!(paths("items.5", &doc).is_empty());
        assert!(paths("nothing.here", &doc).is_empty());
    }

    #[test]
    fn wildcard_keys_follow_utf16_order() {
        // U+1F600 (surrogates D83D..) sorts before U+FB01 in UTF-16, after it in UTF-8.
        let doc = json!({"\u{fb01}": 1, "\u{1f600}": 2, "a": 3});
        assert_eq!(paths("*", &doc), ["a", "\u{1f600}", "\u{fb01}"]);
    }

    #[test]
    fn bad_paths_are_errors() {
        assert_eq!(FieldPath::parse(""), Err(PathError::Empty));
        assert!(matches!(
            FieldPath::parse("a..b"),
            Err(PathError::EmptySegment { at: 2, .. })
        ));
        assert!(matches!(
            FieldPath::parse("a."),
            Err(PathError::EmptySegment { .. })
        ));
        assert!(matches!(
            FieldPath::parse("a\\x"),
            Err(PathError::BadEscape { at: 1, .. })
        ));
        assert!(matches!(
            FieldPath::parse("a\\"),
            Err(PathError::BadEscape { .. })
        ));
        assert!(matches!(
            FieldPath::parse("a*"),
            Err(PathError::StrayWildcard { .. })
        ));
        assert!(matches!(
            FieldPath::parse("*a"),
            Err(PathError::StrayWildcard { .. })
        ));
    }

    #[test]
    fn document_order() {
        let doc = json!({"b": {"y": 1, "x": [1, 2]}, "a": 0});
        let mut found: Vec<ConcretePath> = ["b.x.*", "a", "b.y"]
            .iter()
            .flat_map(|p| FieldPath::parse(p).unwrap().resolve(&doc))
            .map(|(p, _)| p)
            .collect();
        found.sort();
        let text: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["a", "b.x.0", "b.x.1", "b.y"]);
    }
}
