#!/usr/bin/env bash
# The main job from a fresh machine: build the wheel, install it into .venv, then in a
# scratch folder run `heso init`, `heso demo` and `heso verify` with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/python-env.sh
root=$(pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/heso-demo.XXXXXX")
cd "$scratch"
echo "==> heso init ($scratch)"
"$root/.venv/bin/heso" init
echo "==> heso demo"
"$root/.venv/bin/heso" demo | tee demo.out
hash=$(awk '$1 == "allow" {print $2}' demo.out)
hash=${hash%…}
echo "==> heso verify $hash"
"$root/.venv/bin/heso" verify "$hash"
echo "==> heso verify ./receipt.json"
"$root/.venv/bin/heso" verify ./receipt.json
echo "==> heso log verify"
"$root/.venv/bin/heso" log verify
echo
echo "the demo project is in $scratch"
