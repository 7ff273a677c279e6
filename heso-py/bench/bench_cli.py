"""Wall time of `heso verify`, against starting `true`, measured in the same run.

    .venv/bin/python heso-py/bench/bench_cli.py [--runs 200] [--big-log 100000]
        [--heso PATH]...

Each `--heso` is a `heso` program to time (default: `target/release/heso`, the binary
`cargo build --release -p heso-cli` makes, when it exists, and the wheel's console script
next to this Python). In a fresh project made with `heso init` and `heso demo` (two
receipts in the log) it times, as the median wall time of --runs starts each, run from
inside the project:

- `true` (the baseline: starting a process that does nothing);
- `heso verify receipt.json` (a receipt file, the one `heso show` prints);
- `heso verify <12-digit action_hash prefix>` (looked up in the log);
- the same prefix after the log has grown to --big-log receipts (0 skips it): the lookup
  reads the log from the start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def wall_ns(args: list[str], cwd: Path, runs: int) -> float:
    """Median wall time of `runs` starts of `args`, after one warm-up start."""
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples)


def default_programs() -> list[str]:
    programs = []
    native = REPO / "target" / "release" / "heso"
    if native.exists():
        programs.append(str(native))
    programs.append(str(Path(sys.executable).with_name("heso")))
    return programs


def grow_log(root: Path, receipts: int) -> None:
    """Gates `receipts` allowed calls into the project's log (durability os for speed)."""
    toml = root / "heso.toml"
    policy = toml.read_text()
    toml.write_text(policy.replace('durability = "fsync"', 'durability = "os"'))
    import heso

    heso.init(root)

    def filler(query: str) -> str:
        return query

    gated = heso.tool(filler)
    for _ in range(receipts):
        gated("filler")
    toml.write_text(policy)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--big-log", type=int, default=100_000)
    parser.add_argument("--heso", action="append", help="a heso program to time (repeatable)")
    args = parser.parse_args()
    programs = [str(Path(p).resolve()) for p in args.heso] if args.heso else default_programs()
    true = shutil.which("true") or "/bin/true"

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        heso = programs[0]
        subprocess.run([heso, "init"], cwd=root, check=True, capture_output=True)
        demo = subprocess.run(
            [heso, "demo"], cwd=root, check=True, capture_output=True, text=True
        ).stdout
        action_hash = next(
            line.split()[1] for line in demo.splitlines() if line.startswith("allow ")
        )
        prefix = action_hash[:12]
        receipt = root / "receipt.json"
        shown = subprocess.run(
            [heso, "show", prefix], cwd=root, check=True, capture_output=True
        ).stdout
        receipt.write_bytes(shown)

        baseline = wall_ns([true], root, args.runs)
        rows: list[tuple[str, float]] = []
        for program in programs:
            name = os.path.relpath(program, REPO) if program.startswith(str(REPO)) else program
            rows.append(
                (f"{name} verify receipt.json", wall_ns([program, "verify", "receipt.json"], root, args.runs))
            )
            rows.append(
                (f"{name} verify {prefix} (2 receipts in the log)", wall_ns([program, "verify", prefix], root, args.runs))
            )
        if args.big_log:
            grow_log(root, args.big_log)
            for program in programs:
                name = os.path.relpath(program, REPO) if program.startswith(str(REPO)) else program
                rows.append(
                    (
                        f"{name} verify {prefix} ({args.big_log + 2} receipts in the log)",
                        wall_ns([program, "verify", prefix], root, max(args.runs // 10, 5)),
                    )
                )

    print(f"{'baseline: true':<72} {baseline / 1e6:>9.2f} ms")
    for name, ns in rows:
        print(f"{name:<72} {ns / 1e6:>9.2f} ms  ({ns / baseline:.1f}x)")


if __name__ == "__main__":
    main()
