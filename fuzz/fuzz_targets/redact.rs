#![no_main]
//! The fuzz target for `checks/redact.rs`, which `tests/fuzz_replay.rs` also runs.
#[path = "../checks/redact.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
