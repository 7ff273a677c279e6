//! Replays the `tlog_parse` fuzz target's seeds, minimised corpus and kept crash inputs
//! (`fuzz/{seeds,corpus,regressions}/tlog_parse`) through the fuzzer's own check, as an
//! ordinary test, so CI exercises them on stable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "../../fuzz/checks/tlog_parse.rs"]
mod check;
#[path = "../../fuzz/replay.rs"]
mod replay;

#[test]
fn tlog_parse_inputs_replay_through_the_fuzz_check() {
    let replayed = replay::replay("tlog_parse", check::check);
    assert!(replayed >= 8, "{replayed}");
}
