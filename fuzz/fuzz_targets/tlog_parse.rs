#![no_main]
//! The fuzz target for `checks/tlog_parse.rs`, which heso-tlog's `tests/fuzz_replay.rs`
//! also runs.
#[path = "../checks/tlog_parse.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
