#!/usr/bin/env bash
# The main job, from a fresh machine: build, then verify the reference vectors.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p heso-receipt --examples
cargo run --release -q -p heso-receipt --example verify_vectors -- heso-receipt/tests/data
