#!/usr/bin/env bash
# The browser verifier: builds heso-wasm into web/pkg, the heso CLI in release (the page's
# speed is measured against `heso verify` as users run it) and heso-wasm's make_log example
# (the logs the tests verify), then tests the page in headless Chromium against the CLI.
# Installs what it needs when it is missing: the wasm32 target, wasm-bindgen-cli (the same
# version as the wasm-bindgen crate), Debian's chromium, and from npm playwright-core and
# binaryen (wasm-opt).
# Screenshots of every state the tests reach go to test-artifacts/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"$/\1/p' heso-wasm/Cargo.toml)
rustup target add wasm32-unknown-unknown >/dev/null
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium
fi

(cd web-tests && if [ -f package-lock.json ]; then npm ci --silent --no-audit --no-fund; else npm install --silent --no-audit --no-fund; fi)

# wasm-release: the release profile with whole-program LTO (workspace Cargo.toml). Then
# binaryen's wasm-opt (npm, pinned in web-tests/package-lock.json) -O3: about 2% less time
# in verification again, and a smaller file. The features are the ones rustc enables for
# wasm32 by default; every browser the page supports has them.
cargo build -p heso-wasm --target wasm32-unknown-unknown --profile wasm-release
wasm-bindgen --target web --no-typescript --out-dir web/pkg \
  target/wasm32-unknown-unknown/wasm-release/heso_wasm.wasm
web-tests/node_modules/.bin/wasm-opt -O3 --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
  web/pkg/heso_wasm_bg.wasm -o web/pkg/heso_wasm_bg.wasm
cargo build -p heso-cli --release
cargo build -p heso-wasm --example make_log --release

cd web-tests
rm -rf ../test-artifacts
# One file at a time: the speed test must not share the machine with the others.
HESO_BIN="$(pwd)/../target/release/heso" HESO_MAKE_LOG="$(pwd)/../target/release/examples/make_log" \
  node --test --test-concurrency=1 verifier.test.mjs bytes.test.mjs views.test.mjs checkpoints.test.mjs perf.test.mjs
