//! Unlock time: what every `heso.init()` pays, for the dev passphrase (cheap KDF) and a
//! human passphrase (age's scrypt cost). Baseline: reading the public key (no KDF).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "bench code (criterion's macros generate undocumented items): a failure should stop it loudly"
)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use heso_keystore::{
    PassphraseSources, SecretString, create_operator, read_operator_public, unlock_operator,
};

fn unlock(c: &mut Criterion) {
    let root = tempfile::tempdir().unwrap();
    let dev_dir = root.path().join("dev");
    create_operator(&dev_dir, &PassphraseSources::default()).unwrap();
    let human_dir = root.path().join("human");
    let human = || PassphraseSources {
        key_passphrase: Some(SecretString::from("correct horse battery staple")),
        ..PassphraseSources::default()
    };
    create_operator(&human_dir, &human()).unwrap();

    let mut group = c.benchmark_group("unlock");
    group.bench_function("baseline_read_public", |b| {
        b.iter(|| read_operator_public(&dev_dir).unwrap())
    });
    group.bench_function("dev_passphrase", |b| {
        b.iter(|| unlock_operator(&dev_dir, &PassphraseSources::default()).unwrap())
    });
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("human_passphrase", |b| {
        let sources = human();
        b.iter(|| unlock_operator(&human_dir, &sources).unwrap())
    });
    group.finish();
}

criterion_group!(benches, unlock);
criterion_main!(benches);
