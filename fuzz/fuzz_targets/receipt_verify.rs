#![no_main]
//! The fuzz target for `checks/receipt_verify.rs`, which `tests/fuzz_replay.rs` also runs.
#[path = "../checks/receipt_verify.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
