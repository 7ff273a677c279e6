#!/usr/bin/env bash
# Every test heso has, from a fresh machine. CI runs exactly this (.ci/run -> make test).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s (%ss)\n' "$*" "$SECONDS"; }

step "toolchain: rustfmt, clippy, wasm32 target"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target add wasm32-unknown-unknown

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo deny: licenses, bans, sources (advisories need the network)"
if ! command -v cargo-deny >/dev/null 2>&1; then
  cargo install cargo-deny --locked
fi
cargo deny check licenses bans sources

step "cargo test (unit, integration and doc tests)"
cargo test --workspace

step "heso-receipt and heso-tlog build for wasm32-unknown-unknown"
cargo build -p heso-receipt --target wasm32-unknown-unknown --release
cargo build -p heso-tlog --target wasm32-unknown-unknown --release

step "fleet store: a throwaway PostgreSQL server (scripts/postgres.sh), stopped on every exit"
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop' EXIT

step "fleet store: tests against it (heso-cli/tests/fleet.rs, a database each)"
cargo test -p heso-cli --test fleet -- --ignored

step "fleet store: heso push --follow through a server restart"
cargo test -p heso-cli --test fleet_restart -- --ignored

step "Python: build the wheel, install it in .venv"
bash scripts/python-env.sh

step "Python: pytest on the installed wheel"
(cd heso-py/tests && ../../.venv/bin/python -m pytest -q -p no:cacheprovider .)

step "Python: mypy --strict on a usage example, against the installed stubs"
(cd heso-py/tests && ../../.venv/bin/python -m mypy --strict --no-incremental typing_example.py)

step "Node: npm run build (addon for this machine + TypeScript), then npm test (node --test; uses .venv's Python)"
(cd heso-node && npm run build && npm test)

step "MCP: heso mcp-proxy with @modelcontextprotocol/sdk (node --test) and with the mcp Python package 1.x (pytest in mcp-tests/.venv-mcp1), stdio and streamable HTTP"
bash mcp-tests/run.sh

step "fleet store: fleet verify of 1M receipts and the fleet benchmarks (release)"
cargo test --release -p heso-cli --test fleet_million -- --ignored --nocapture

step "browser verifier: heso-wasm in headless Chromium against the CLI"
bash scripts/web.sh

step "done"
