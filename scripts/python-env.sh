#!/usr/bin/env bash
# Builds the heso wheel with maturin into target/wheels and installs it into .venv,
# with the tools the Python tests need. Sourced by test.sh and demo.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet "maturin>=1.7,<2" "pytest>=8" "mypy>=1.10" "mcp>=1.9" "httpx>=0.27"
rm -rf target/wheels
.venv/bin/maturin build --release --manifest-path heso-py/Cargo.toml --out target/wheels --quiet
.venv/bin/python -m pip install --quiet --force-reinstall --no-deps target/wheels/heso-*.whl
