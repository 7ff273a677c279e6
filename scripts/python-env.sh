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
# The clients heso.wrap gates and the frameworks heso.integrations adapts, for their tests
# (about 100 MB; see docs/benchmarks.md for the time this step takes).
.venv/bin/python -m pip install --quiet "maturin>=1.7,<2" "pytest>=8" "mypy>=1.10" "mcp>=1.9" "httpx>=0.27" \
  "openai>=1.50" "anthropic>=0.40" "requests>=2.31" "openai-agents>=0.24" "langchain-core>=1.0" \
  "langgraph>=1.0" "pydantic-ai-slim>=2.0"
rm -rf target/wheels
.venv/bin/maturin build --release --manifest-path heso-py/Cargo.toml --out target/wheels --quiet
.venv/bin/python -m pip install --quiet --force-reinstall --no-deps target/wheels/heso-*.whl
