#!/usr/bin/env bash
# Every benchmark in docs/benchmarks.md, in one session, with the machine it ran on.
#
#   bash scripts/bench.sh [OUT]        (OUT defaults to target/bench/bench-<date>.txt)
#
# Builds everything first (the benches, the release `heso` binary, and the wheel in .venv
# through scripts/python-env.sh unless HESO_BENCH_SKIP_WHEEL=1), then runs each bench in
# turn. Before each one it waits for the machine to be idle (CPU at least 90% idle in each
# of 10 consecutive seconds), for at most HESO_BENCH_QUIET_MAX seconds (default 900; 0
# does not wait), and after it reports how much CPU other processes used meanwhile, as a
# share of all cores: the figure to judge how noisy that bench was.
# Bench sizes come from the benches' own variables (HESO_BENCH_APPENDS,
# HESO_BENCH_VERIFY_RECEIPTS); PY_CALLS (10000), PY_BIG_LOG (100000), CLI_RUNS (200) and
# CLI_BIG_LOG (100000) size the Python and CLI benches.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-target/bench/bench-$(date -u +%Y%m%dT%H%M%SZ).txt}
mkdir -p "$(dirname "$out")"
: >"$out"
say() { printf '%s\n' "$*" | tee -a "$out"; }

ticks=$(getconf CLK_TCK)
# busy and total jiffies of all cores
cpu_jiffies() { awk '/^cpu /{t=0; for (i = 2; i <= 9; i++) t += $i; print $2 + $3 + $4 + $7 + $8 + $9, t}' /proc/stat; }
# CPU seconds of this shell's finished children: the second line of `times`, which must
# run in this shell (in a $(...) subshell it would count the subshell's children).
times_file=$(mktemp)
trap 'rm -f "$times_file" "$times_file".*' EXIT
children_seconds() {
  times >"$times_file"
  tail -n 1 "$times_file" | awk '{t = 0; for (i = 1; i <= NF; i++) { v = $i; sub(/s$/, "", v); split(v, a, "m"); t += a[1] * 60 + a[2] } print t}'
}
idle_percent() {
  local before after
  before=$(cpu_jiffies)
  sleep 1
  after=$(cpu_jiffies)
  awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, " "); split(a, y, " "); t = y[2] - x[2]; if (t <= 0) t = 1; print int(100 * (1 - (y[1] - x[1]) / t)) }'
}
wait_quiet() {
  local max=${HESO_BENCH_QUIET_MAX:-900} streak=0 waited=0
  while [ "$streak" -lt 10 ] && [ "$waited" -lt "$max" ]; do
    if [ "$(idle_percent)" -ge 90 ]; then streak=$((streak + 1)); else streak=0; fi
    waited=$((waited + 1))
  done
  if [ "$streak" -ge 10 ]; then
    say "   (machine idle after ${waited} s of waiting)"
  elif [ "$max" -gt 0 ]; then
    say "   (machine still busy after ${waited} s of waiting: running anyway)"
  fi
}
# run NAME COMMAND...: wait for quiet, run, report the other processes' CPU share
run() {
  local name=$1
  shift
  say ""
  say "== $name: $*"
  wait_quiet
  local before child_before after child_after
  before=$(cpu_jiffies)
  children_seconds >"$times_file.before"
  # criterion's progress lines, comparisons with its previous run and outlier counts are
  # left out of the record
  "$@" 2>&1 | sed -E '/^Benchmarking |^ +change:|No change in performance|Change within noise|Performance has (improved|regressed)|^Found [0-9]+ outliers|^ +[0-9]+ \([0-9.]+%\) (high|low)|^$/d' | tee -a "$out"
  after=$(cpu_jiffies)
  children_seconds >"$times_file.after"
  child_before=$(cat "$times_file.before")
  child_after=$(cat "$times_file.after")
  awk -v b="$before" -v a="$after" -v cb="$child_before" -v ca="$child_after" -v hz="$ticks" 'BEGIN {
    split(b, x, " "); split(a, y, " ");
    total = (y[2] - x[2]) / hz; busy = (y[1] - x[1]) / hz; others = busy - (ca - cb);
    if (others < 0) others = 0;
    printf "   (other processes used %.0f%% of all cores during this bench, %.0f s)\n", 100 * others / total, total
  }' | tee -a "$out"
}

say "heso benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (with uncommitted changes)')"
say "machine: $(nproc) cores, $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(awk '/^MemTotal/{printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
say "$(rustc --version); $(.venv/bin/python --version 2>/dev/null || python3 --version)"

say "== building"
cargo bench -p heso-receipt -p heso-policy -p heso-keystore -p heso-chain --no-run 2>&1 | tail -n 1
cargo build --release -p heso-cli 2>&1 | tail -n 1
if [ "${HESO_BENCH_SKIP_WHEEL:-0}" != 1 ]; then
  bash scripts/python-env.sh
fi

run "receipt: sign path and verify" cargo bench -q -p heso-receipt --bench receipt
run "policy evaluation" cargo bench -q -p heso-policy --bench evaluate
run "keys: unlock" cargo bench -q -p heso-keystore --bench unlock
run "log: append and verify" cargo bench -q -p heso-chain --bench log
run "python: per-call overhead, import, init" \
  .venv/bin/python heso-py/bench/bench_gate.py --calls "${PY_CALLS:-10000}" --big-log "${PY_BIG_LOG:-100000}"
run "cli: heso verify wall time" \
  .venv/bin/python heso-py/bench/bench_cli.py --runs "${CLI_RUNS:-200}" --big-log "${CLI_BIG_LOG:-100000}"
say ""
say "written to $out"
