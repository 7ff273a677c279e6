//! Replays the `policy` fuzz target's seeds, minimised corpus and kept crash inputs
//! (`fuzz/{seeds,corpus,regressions}/policy`) through the fuzzer's own check, as an
//! ordinary test, so CI exercises them on stable.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

#[path = "../../fuzz/checks/policy.rs"]
mod check;
#[path = "../../fuzz/replay.rs"]
mod replay;

#[test]
fn policy_inputs_replay_through_the_fuzz_check() {
    replay::replay("policy", check::check);
}
