"""Issue 19's target, the ratio of an allowed @heso.tool call to the Rust sign path, with
the two measured in alternation a few seconds apart, many times.

    .venv/bin/python heso-py/bench/sign_path_ratio.py [--rounds 12] [--calls 2000]

Each round runs the `receipt` Criterion bench's "sign path" (build + JCS + BLAKE3 + Ed25519 +
serialise of a 1,237-byte receipt; 1 s of measurement) and then times --calls allowed
@heso.tool calls (durability = "os", heso.toml settled) in this process, and prints both
and their ratio; the end gives the median of the rounds' ratios. This machine's speed
drifts over minutes (a bare Ed25519 signature took 16 us in one quarter hour and 22 us in
the next), so a ratio is only taken between measures made seconds apart.

Needs the release wheel in .venv (make demo, make test or scripts/python-env.sh) and cargo.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNITS = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}


def receipt_bench() -> str:
    """The `receipt` bench's executable, built if needed."""
    out = subprocess.run(
        ["cargo", "bench", "-p", "heso-receipt", "--bench", "receipt", "--no-run", "--message-format=json"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") and message["target"]["name"] == "receipt":
            return message["executable"]
    raise SystemExit("cargo built no `receipt` bench")


def criterion_us(binary: str, name: str) -> float:
    """Criterion's estimate (the middle of its interval) for the bench matching `name`."""
    out = subprocess.run(
        [binary, "--bench", name, "--measurement-time", "1", "--warm-up-time", "0.5", "--noplot"],
        check=True, capture_output=True, text=True,
    ).stdout
    found = re.search(r"time:\s+\[[^\]]*?\s([\d.]+) (ns|µs|us|ms)\s+[\d.]+ (?:ns|µs|us|ms)\]", out)
    if not found:
        raise SystemExit(f"no estimate in the bench's output:\n{out}")
    return float(found.group(1)) * UNITS[found.group(2)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    binary = receipt_bench()

    import heso

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        subprocess.run([str(Path(sys.executable).with_name("heso")), "init", str(root)], check=True, capture_output=True)
        toml = root / "heso.toml"
        toml.write_text(toml.read_text().replace('durability = "fsync"', 'durability = "os"'))
        heso.init(root)

        def bare(query: str) -> str:
            return query

        gated = heso.tool(bare)
        gated("warm-up")
        # Within 2 s of an edit, every call reads heso.toml again: not the steady state.
        time.sleep(max(0.0, 2.1 - (time.time() - toml.stat().st_ctime)))

        ratios = []
        print(f"{'round':>5} {'load':>5} {'sign path':>10} {'@heso.tool':>11} {'ratio':>6}")
        for round_ in range(1, args.rounds + 1):
            load = Path("/proc/loadavg").read_text().split()[0]
            sign_path = criterion_us(binary, "sign path")
            samples = []
            for _ in range(args.calls):
                start = time.perf_counter_ns()
                gated("pricing")
                samples.append(time.perf_counter_ns() - start)
            call = statistics.median(samples) / 1000
            ratios.append(call / sign_path)
            print(f"{round_:>5} {load:>5} {sign_path:>8.2f} µs {call:>8.2f} µs {call / sign_path:>5.2f}x")
        heso.shutdown()
    quartiles = statistics.quantiles(ratios, n=4)
    print(
        f"median ratio {statistics.median(ratios):.2f}x "
        f"(quartiles {quartiles[0]:.2f}x-{quartiles[2]:.2f}x, {len(ratios)} rounds)"
    )


if __name__ == "__main__":
    main()
