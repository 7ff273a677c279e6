//! Replays a fuzz target's inputs (`fuzz/seeds/TARGET`, the minimised corpus
//! `fuzz/corpus/TARGET` and kept crash inputs `fuzz/regressions/TARGET`) through the same
//! check the fuzzer runs. Included by path from each library crate's
//! `tests/fuzz_replay.rs`, so `cargo test` exercises every target on stable.

use std::path::Path;

/// Runs `check` on every input of `target`; returns how many there were.
pub fn replay(target: &str, check: impl Fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    for dir in ["seeds", "corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).unwrap();
            // A panic names the input, so the case can be rerun on its own.
            eprintln!("replaying {}", path.display());
            check(&bytes);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no inputs for {target} under {}",
        root.display()
    );
    replayed
}
