#!/usr/bin/env bash
# heso mcp-proxy between the real @modelcontextprotocol/sdk client and server (stdio and
# streamable HTTP). Installs the SDK from package-lock.json with `npm ci` when node_modules
# does not already hold exactly that lockfile's packages, then runs `node --test`.
# The heso CLI is .venv's (scripts/python-env.sh), or $HESO_BIN.
set -euo pipefail
cd "$(dirname "$0")"

stamp=node_modules/.heso-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error --prefer-offline
  echo "$want" > "$stamp"
fi
npm test
