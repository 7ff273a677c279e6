//! Signed checkpoints of the project's log: the origin, Engine::checkpoint, the one kept
//! every 1,000 receipts and the one kept when the project closes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failure should stop it loudly"
)]

use std::path::Path;

use heso_engine::{ActionRequest, CHECKPOINT_EVERY, CHECKPOINTS_DIR, Engine, init_project};
use heso_keystore::PassphraseSources;
use heso_receipt::Verb;
use heso_tlog::{SignedCheckpoint, operator_multibase, parse_origin};
use serde_json::json;

fn search(engine: &Engine, n: u64) {
    let fields = json!({ "q": n }).as_object().cloned().unwrap();
    engine
        .gate(&ActionRequest::new(Verb::ToolCall, "search", fields))
        .unwrap();
}

fn kept(dir: &Path) -> Vec<(u64, SignedCheckpoint)> {
    let folder = dir.join("heso-local-data").join(CHECKPOINTS_DIR);
    let mut files: Vec<_> = match std::fs::read_dir(&folder) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => return Vec::new(),
    };
    files.sort();
    files
        .iter()
        .map(|path| {
            let signed = SignedCheckpoint::parse(&std::fs::read(path).unwrap()).unwrap();
            (signed.unverified().size(), signed)
        })
        .collect()
}

fn session(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("heso-local-data/session"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn a_checkpoint_names_the_log_and_is_signed_by_the_operator() {
    let temp = tempfile::tempdir().unwrap();
    init_project(temp.path(), false, &PassphraseSources::default()).unwrap();
    let engine = Engine::open(Some(temp.path())).unwrap();
    for n in 0..3 {
        search(&engine, n);
    }
    let origin = engine.origin().unwrap().to_owned();
    let parts = parse_origin(&origin).unwrap();
    assert_eq!(
        parts.operator_multibase,
        operator_multibase(&engine.operator_key())
    );
    assert_eq!(parts.log_id, session(temp.path()));

    let signed = engine.checkpoint().unwrap();
    let checkpoint = signed.verify(&engine.operator_key()).unwrap();
    assert_eq!(checkpoint.size(), 3);
    assert_eq!(checkpoint.origin(), origin);
    let (head, _) = engine.tree_snapshot().unwrap();
    assert_eq!(*checkpoint.root(), head.root);
    // Kept next to the log too.
    assert_eq!(kept(temp.path()).len(), 1);
}

#[test]
fn closing_the_project_keeps_a_checkpoint_once_per_tree_head() {
    let temp = tempfile::tempdir().unwrap();
    init_project(temp.path(), false, &PassphraseSources::default()).unwrap();
    // An empty log: nothing to keep.
    drop(Engine::open(Some(temp.path())).unwrap());
    assert!(kept(temp.path()).is_empty());

    let engine = Engine::open(Some(temp.path())).unwrap();
    search(&engine, 1);
    search(&engine, 2);
    let key = engine.operator_key();
    drop(engine);
    let after = kept(temp.path());
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].0, 2);
    after[0].1.verify(&key).unwrap();

    // Opened and closed again with nothing appended: no second copy.
    drop(Engine::open(Some(temp.path())).unwrap());
    assert_eq!(kept(temp.path()).len(), 1);
}

#[test]
fn a_checkpoint_is_kept_every_thousand_receipts() {
    let temp = tempfile::tempdir().unwrap();
    init_project(temp.path(), false, &PassphraseSources::default()).unwrap();
    std::fs::write(
        temp.path().join("heso.toml"),
        std::fs::read_to_string(temp.path().join("heso.toml"))
            .unwrap()
            .replace("durability = \"fsync\"", "durability = \"os\""),
    )
    .unwrap();
    let engine = Engine::open(Some(temp.path())).unwrap();
    for n in 0..CHECKPOINT_EVERY + 5 {
        search(&engine, n);
    }
    // Before closing: the one at 1,000, kept by the append that reached it.
    let at_thousand = kept(temp.path());
    assert_eq!(
        at_thousand.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![CHECKPOINT_EVERY]
    );
    at_thousand[0].1.verify(&engine.operator_key()).unwrap();
    drop(engine);
    assert_eq!(
        kept(temp.path())
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>(),
        vec![CHECKPOINT_EVERY, CHECKPOINT_EVERY + 5]
    );
}
