#![no_main]
//! The fuzz target for `checks/key_file.rs`, which `tests/fuzz_replay.rs` also runs.
#[path = "../checks/key_file.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
