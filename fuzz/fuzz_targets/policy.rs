#![no_main]
//! The fuzz target for `checks/policy.rs`, which `tests/fuzz_replay.rs` also runs.
#[path = "../checks/policy.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
