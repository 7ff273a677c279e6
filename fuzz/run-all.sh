#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 180) on the stable toolchain, then
# minimises its corpus into corpus/TARGET (committed, replayed by `cargo test`).
# Needs cargo-fuzz (`cargo install cargo-fuzz`; installed here when missing).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-180}
export RUSTC_BOOTSTRAP=1   # cargo-fuzz's sanitizer flags are nightly-only
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo fuzz build -O
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  rm -rf "work/$target" && mkdir -p "work/$target"
  cp -R "corpus/$target/." "work/$target/"
  echo "==> $target for ${SECONDS_EACH}s"
  # The fuzzer adds what it finds to work/ (which starts as the committed corpus).
  cargo fuzz run -O "$target" "work/$target" "seeds/$target" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 2>&1 | tail -n 12
  cargo fuzz cmin -O "$target" "work/$target" >/dev/null 2>&1
  # The minimised set replaces the committed corpus.
  rm -rf "corpus/$target" && mv "work/$target" "corpus/$target"
done
