//! RFC 8785 (JCS) bytes of a JSON value, written directly. It gives `serde_jcs`'s bytes
//! for every value it accepts and declines the rest, which `serde_jcs` then writes:
//! `serde_jcs` allocates for every token it writes, which made canonicalisation about a
//! quarter of the cost of verifying a receipt.
//!
//! Declined: numbers other than integers within ±(2^53−1) (floats, and integers beyond
//! that range, which JCS writes as the nearest double in ECMAScript's form). Within it, an
//! integer's ECMAScript form is its decimal digits, as written here. Strings are escaped as
//! serde_json escapes them, which is JCS's rule: `"`, `\` and the controls below U+0020,
//! with the short forms `\b \t \n \f \r` and `\u00xx` (lowercase) for the rest, nothing
//! else. Object members are ordered by the UTF-16 code units of their keys.

use std::cmp::Ordering;
use std::io::Write as _;

use serde_json::{Map, Value};

use crate::path::jcs_key_cmp;
use crate::strict::MAX_SAFE_INTEGER;

/// A value this writer leaves to `serde_jcs`.
pub(crate) struct Declined;

/// Appends the JCS bytes of `map` without its member `skip` (the content's
/// `action_hash`) to `out`.
pub(crate) fn write_object_without(
    out: &mut Vec<u8>,
    map: &Map<String, Value>,
    skip: &str,
) -> Result<(), Declined> {
    write_members(out, map.iter().filter(|(k, _)| k.as_str() != skip))
}

pub(crate) fn write_members<'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a String, &'a Value)>,
) -> Result<(), Declined> {
    let mut members: Vec<(&String, &Value)> = members.collect();
    members.sort_by(|(a, _), (b, _)| key_cmp(a, b));
    out.push(b'{');
    for (n, (key, value)) in members.into_iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write_string(out, key)?;
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

/// UTF-16 order. UTF-8 bytes order as code points do, which differs from UTF-16 only
/// between a character at or above U+10000 and one in U+E000..=U+FFFF: a key without
/// either (no byte from 0xEE up) compares by its bytes.
fn key_cmp(a: &str, b: &str) -> Ordering {
    let plain = |s: &str| s.bytes().all(|b| b < 0xEE);
    if plain(a) && plain(b) {
        a.cmp(b)
    } else {
        jcs_key_cmp(a, b)
    }
}

pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) -> Result<(), Declined> {
    serde_json::to_writer(&mut *out, s).map_err(|_| Declined)
}

pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), Declined> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let safe = n
                .as_i64()
                .filter(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER)
                .ok_or(Declined)?;
            write!(out, "{safe}").map_err(|_| Declined)?;
        }
        Value::String(s) => write_string(out, s)?,
        Value::Array(items) => {
            out.push(b'[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => write_members(out, map.iter())?,
    }
    Ok(())
}
