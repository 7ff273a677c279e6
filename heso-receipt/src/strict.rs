//! Strict JSON reading: the checks plain serde_json does not make.
//!
//! A receipt is rejected (`Malformed`) for duplicate object keys at any depth,
//! integer literals outside ±(2^53−1), and lone surrogates (serde_json already
//! refuses those when it builds a string).

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The largest integer every JSON implementation represents exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Parses `bytes` as one JSON value with the strict checks above.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, String> {
    if let Some(at) = find_lone_surrogate(bytes) {
        return Err(format!(
            "lone surrogate escape at byte {at}: strings must be valid Unicode"
        ));
    }
    check_integer_literals(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed { path: "$" }
        .deserialize(&mut deserializer)
        .map_err(|e| e.to_string())?;
    deserializer.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// Scans the raw text for integer literals (no `.`, `e` or `E`) beyond the safe range.
///
/// serde_json silently turns an integer literal too large for u64 into a float, so the
/// range must be checked on the text, not on the parsed value.
fn check_integer_literals(bytes: &[u8]) -> Result<(), String> {
    let mut in_string = false;
    let mut escaped = false;
    let mut line = 1usize;
    let mut line_start = 0usize;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        if b == b'\n' {
            line += 1;
            line_start = i + 1;
        }
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let start = i;
            let mut end = i;
            while let Some(&c) = bytes.get(end) {
                if c == b'-'
                    || c == b'+'
                    || c == b'.'
                    || c == b'e'
                    || c == b'E'
                    || c.is_ascii_digit()
                {
                    end += 1;
                } else {
                    break;
                }
            }
            let token = bytes.get(start..end).unwrap_or_default();
            let is_integer = !token.iter().any(|c| matches!(c, b'.' | b'e' | b'E'));
            if is_integer {
                let digits = token.strip_prefix(b"-").unwrap_or(token);
                let too_big = digits.len() > 16
                    || std::str::from_utf8(digits)
                        .ok()
                        .and_then(|d| d.parse::<u64>().ok())
                        .is_some_and(|n| n > MAX_SAFE_INTEGER);
                if too_big {
                    return Err(format!(
                        "integer {} outside ±(2^53−1) at line {line} column {}",
                        String::from_utf8_lossy(token),
                        start - line_start + 1
                    ));
                }
            }
            i = end;
            continue;
        }
        i += 1;
    }
    Ok(())
}

/// Byte offset of a `\uXXXX` escape that is half of a surrogate pair without its other
/// half (serde_json rejects these too, but with a message about hex escapes).
pub(crate) fn find_lone_surrogate(bytes: &[u8]) -> Option<usize> {
    let hex_at = |at: usize| -> Option<u32> {
        let digits = bytes.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let mut in_string = false;
    let mut i = 0usize;
    while let Some(&b) = bytes.get(i) {
        match (in_string, b) {
            (false, b'"') => in_string = true,
            (true, b'"') => in_string = false,
            (true, b'\\') => {
                if bytes.get(i + 1) == Some(&b'u') {
                    let unit = hex_at(i + 2)?;
                    if (0xDC00..=0xDFFF).contains(&unit) {
                        return Some(i);
                    }
                    if (0xD800..=0xDBFF).contains(&unit) {
                        let low = (bytes.get(i + 6..i + 8) == Some(b"\\u"))
                            .then(|| hex_at(i + 8))
                            .flatten();
                        if !low.is_some_and(|l| (0xDC00..=0xDFFF).contains(&l)) {
                            return Some(i);
                        }
                        i += 12;
                        continue;
                    }
                    i += 6;
                    continue;
                }
                i += 2;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

struct StrictSeed<'p> {
    path: &'p str,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor { path: self.path })
    }
}

struct StrictVisitor<'p> {
    path: &'p str,
}

impl<'de> Visitor<'de> for StrictVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        if v.unsigned_abs() > MAX_SAFE_INTEGER {
            return Err(E::custom(format!(
                "integer {v} at {} outside ±(2^53−1)",
                self.path
            )));
        }
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        if v > MAX_SAFE_INTEGER {
            return Err(E::custom(format!(
                "integer {v} at {} outside ±(2^53−1)",
                self.path
            )));
        }
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("number at {} is not finite", self.path)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, items.len());
            match seq.next_element_seed(StrictSeed { path: &path })? {
                Some(item) => items.push(item),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = format!("{}.{}", self.path, key);
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key at {path}")));
            }
            let value = map.next_value_seed(StrictSeed { path: &path })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicates_at_depth() {
        let err = parse_strict(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert!(err.contains("duplicate key at $.a.b"), "{err}");
    }

    #[test]
    fn integer_range() {
        assert!(parse_strict(b"[9007199254740991, -9007199254740991]").is_ok());
        for bad in [
            "9007199254740992",
            "-9007199254740992",
            "100000000000000000000",
            "[1,{\"x\":18446744073709551616}]",
        ] {
            let err = parse_strict(bad.as_bytes()).unwrap_err();
            assert!(err.contains("outside"), "{bad}: {err}");
        }
        // Floats are not integers; digits inside strings are not numbers.
        assert!(parse_strict(br#"{"f": 1e300, "s": "99999999999999999999"}"#).is_ok());
    }

    #[test]
    fn lone_surrogates_rejected() {
        assert!(parse_strict(br#""\ud800""#).is_err());
        assert!(parse_strict(br#""\udc00x""#).is_err());
        assert_eq!(
            parse_strict(br#""\ud83d\ude00""#).unwrap(),
            Value::String("\u{1f600}".into())
        );
    }

    #[test]
    fn trailing_garbage_rejected() {
        assert!(parse_strict(b"{} x").is_err());
    }
}
