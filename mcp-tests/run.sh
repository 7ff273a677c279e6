#!/usr/bin/env bash
# heso mcp-proxy with the MCP SDKs the main Python run does not cover:
#  1. the real @modelcontextprotocol/sdk (npm) as client and server, over stdio and
#     streamable HTTP (test/*.test.mjs, node --test), installed from package-lock.json with
#     `npm ci` when node_modules does not already hold exactly that lockfile's packages;
#  2. the `mcp` Python package 1.x (the main .venv has 2.x): heso-py/tests' MCP proxy tests,
#     run again in .venv-mcp1 (made once, kept), plus test_mcp_proxy_v1.py.
# Needs what scripts/python-env.sh makes: .venv (its heso, and mcp 2.x for the mixed
# sessions) and the wheel in target/wheels, installed into .venv-mcp1 on every run.
set -euo pipefail
cd "$(dirname "$0")"
REPO=$(cd .. && pwd)

stamp=node_modules/.heso-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error --prefer-offline
  echo "$want" > "$stamp"
fi
HESO_BIN=${HESO_BIN:-$REPO/.venv/bin/heso} npm test

MCP1_SPEC='mcp>=1.20,<2'
venv=.venv-mcp1
if [ "$(cat "$venv/.heso-spec" 2>/dev/null)" != "$MCP1_SPEC" ]; then
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install --quiet "$MCP1_SPEC" "pytest>=8" "httpx>=0.27"
  echo "$MCP1_SPEC" > "$venv/.heso-spec"
fi
"$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$REPO"/target/wheels/heso-*.whl
(cd "$REPO/heso-py/tests" && HESO_MCP2_PYTHON="$REPO/.venv/bin/python" \
  "$REPO/mcp-tests/$venv/bin/python" -m pytest -q -p no:cacheprovider \
  test_mcp_proxy.py test_mcp_proxy_http.py test_mcp_proxy_v1.py)
