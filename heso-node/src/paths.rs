//! Field paths over a call's converted fields: the check that every `redact` path a caller
//! named finds its value, and the credentials a wrapped client's call carries.

use heso_receipt::{FieldPath, Segment};
use serde_json::{Map, Value};

/// Names whose values are credentials wherever they appear in a wrapped call's fields (as
/// a key, or as the name of a `[name, value]` header pair), compared in lower case. The
/// same list as the Python SDK's.
pub(crate) const CREDENTIAL_NAMES: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "api_key",
];

/// How far the credential search looks (converted fields nest at most 64 levels).
const MAX_SEARCH_DEPTH: usize = 70;

/// One key as a path segment: `.`, `*` and `\` escaped with `\`.
fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for c in key.chars() {
        if matches!(c, '.' | '*' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A segment as an array index: canonical decimal digits only, as the engine reads them.
fn index_of(key: &str) -> Option<usize> {
    let canonical = key == "0" || (!key.is_empty() && !key.starts_with('0'));
    if canonical && key.bytes().all(|b| b.is_ascii_digit()) {
        key.parse().ok()
    } else {
        None
    }
}

/// Follows `segments` through `value` as the engine resolves a path: (a value was found,
/// some branch stopped short). A `*` over an empty array or object has no branch, so it
/// finds nothing without stopping short.
fn walk(segments: &[Segment], value: &Value) -> (bool, bool) {
    let Some((first, rest)) = segments.split_first() else {
        return (true, false);
    };
    match first {
        Segment::Wildcard => {
            let children: Box<dyn Iterator<Item = &Value>> = match value {
                Value::Array(items) => Box::new(items.iter()),
                Value::Object(map) => Box::new(map.values()),
                _ => return (false, true),
            };
            let mut missed = false;
            for child in children {
                let (found, short) = walk(rest, child);
                if found {
                    return (true, false);
                }
                missed |= short;
            }
            (false, missed)
        }
        Segment::Key(key) => match value {
            Value::Array(items) => match index_of(key).and_then(|i| items.get(i)) {
                Some(item) => walk(rest, item),
                None => (false, true),
            },
            Value::Object(map) => match map.get(key) {
                Some(child) => walk(rest, child),
                None => (false, true),
            },
            _ => (false, true),
        },
    }
}

/// Refuses (with the message to show) a `redact` path that finds no value in `fields`: a
/// typo or a wrong shape would otherwise leave what it should hide in the clear. A path
/// whose first segment names an argument that was left out (absent or `null`) finds
/// nothing and is not refused; nor is a `*` over an empty array or object.
pub(crate) fn check_redactions(
    tool: &str,
    paths: &[String],
    fields: &Map<String, Value>,
) -> Result<(), String> {
    let root = Value::Object(fields.clone());
    for path in paths {
        let parsed = FieldPath::parse(path).map_err(|e| format!("redact: {e}"))?;
        let segments = parsed.segments();
        if let Some(Segment::Key(first)) = segments.first() {
            match fields.get(first) {
                None | Some(Value::Null) => continue,
                Some(_) => {}
            }
        }
        let (found, short) = walk(segments, &root);
        if found || !short {
            continue;
        }
        let mut names: Vec<String> = fields.keys().map(|k| format!("{k:?}")).collect();
        if names.is_empty() {
            names.push("none".to_owned());
        }
        let listed: String = names.join(", ").chars().take(400).collect();
        let shown: String = path.chars().take(200).collect();
        return Err(format!(
            "heso refused {tool}: redact path {shown:?} matches no value in this call's \
             arguments (fields: {listed}), so what it should hide would be written in the \
             clear; fix the path or the argument (nothing was recorded and the call did not run)"
        ));
    }
    Ok(())
}

/// The concrete field path of every credential in `fields`, in document order: values
/// under a key in [`CREDENTIAL_NAMES`] (any case), and the value of a `[name, value]` pair
/// in a list whose name is one. A credential under an empty key (which no path can name)
/// is covered by its nearest nameable container; one directly under an empty top-level key
/// is refused, since nothing could hide it.
pub(crate) fn credential_paths(fields: &Map<String, Value>) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut steps = Vec::new();
    for (key, value) in fields {
        steps.push(key.clone());
        visit_entry(key, value, &mut steps, &mut found, 0)?;
        steps.pop();
    }
    Ok(found)
}

fn is_credential(name: &str) -> bool {
    let lower = name.to_lowercase();
    CREDENTIAL_NAMES.contains(&lower.as_str())
}

/// `steps` already ends with `key`.
fn visit_entry(
    key: &str,
    value: &Value,
    steps: &mut Vec<String>,
    found: &mut Vec<String>,
    depth: usize,
) -> Result<(), String> {
    if is_credential(key) {
        return add(steps, found);
    }
    visit(value, steps, found, depth + 1)
}

fn visit(
    value: &Value,
    steps: &mut Vec<String>,
    found: &mut Vec<String>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_SEARCH_DEPTH {
        return Ok(());
    }
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                steps.push(key.clone());
                visit_entry(key, item, steps, found, depth)?;
                steps.pop();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                steps.push(index.to_string());
                match item {
                    Value::Array(pair)
                        if pair.len() == 2
                            && matches!(pair.first(), Some(Value::String(name)) if is_credential(name)) =>
                    {
                        steps.push("1".to_owned());
                        add(steps, found)?;
                        steps.pop();
                    }
                    _ => visit(item, steps, found, depth + 1)?,
                }
                steps.pop();
            }
        }
        _ => {}
    }
    Ok(())
}

fn add(steps: &[String], found: &mut Vec<String>) -> Result<(), String> {
    let nameable = match steps.iter().position(String::is_empty) {
        Some(0) => {
            return Err(
                "heso refused the call: a credential sits under an empty top-level key, which \
                 no field path can name, so it cannot be hidden (nothing was recorded and the \
                 call did not run)"
                    .to_owned(),
            );
        }
        Some(cut) => steps.get(..cut).unwrap_or(steps),
        None => steps,
    };
    let path = nameable
        .iter()
        .map(|s| escape(s))
        .collect::<Vec<_>>()
        .join(".");
    let covered = found
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}.")));
    if !covered {
        found.push(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn credentials_are_found_at_any_depth_and_in_header_pairs() {
        let f = fields(json!({
            "url": "https://x",
            "headers": {"Authorization": "Bearer t", "x.api.key": "k"},
            "pairs": [["Cookie", "c"], ["Accept", "a"]],
            "opts": {"api_key": {"nested": 1}},
        }));
        assert_eq!(
            credential_paths(&f).unwrap(),
            vec!["headers.Authorization", "opts.api_key", "pairs.0.1"]
        );
    }

    #[test]
    fn a_redact_path_that_finds_nothing_is_refused_unless_its_argument_was_left_out() {
        let f = fields(json!({"apiKey": "s", "auth": null, "list": []}));
        assert!(check_redactions("t", &["apiKey".into()], &f).is_ok());
        assert!(check_redactions("t", &["missing".into()], &f).is_ok());
        assert!(check_redactions("t", &["auth.token".into()], &f).is_ok());
        assert!(check_redactions("t", &["list.*".into()], &f).is_ok());
        assert!(check_redactions("t", &["apiKey.inner".into()], &f).is_err());
    }
}
