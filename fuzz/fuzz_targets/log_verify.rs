#![no_main]
//! The fuzz target for `checks/log_verify.rs`, which `tests/fuzz_replay.rs` also runs.
#[path = "../checks/log_verify.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
